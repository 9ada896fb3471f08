"""The evidence library (issue 12): a page per published response, its document published only
with the submitter's consent and staff's approval (its metadata stripped), staff's redaction, and
full-text search (SQLite FTS5 and PostgreSQL tsvector behind evidence.search).

The search and services tests run on both databases (`both_databases`); the pages on SQLite.
"""
import io
import re
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from pypdf import PdfReader, PdfWriter
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import MemberType
from kil_network.core.audit import AuditLog
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.evidence import scrub, search, services, uploads
from kil_network.evidence.models import Call, Publication, ReviewStatus, Submission
from kil_network.evidence.personal_data import erase_evidence
from kil_network.extensions import db
from kil_network.principles.models import Principle
from tests.support.ids import real_pdf

both = pytest.mark.both_databases
SECRET = "Jane Secretauthor"


@pytest.fixture
def call(app):
    """An open call for evidence."""
    now = utcnow()
    call = Call(title="Commissioning after the Procurement Act", introduction="Tell us.",
                opens_at=now - timedelta(days=1), survey_closes_at=now + timedelta(days=10),
                written_closes_at=now + timedelta(days=20))
    db.session.add(call)
    db.session.commit()
    return call


@pytest.fixture
def staff(make_user):
    """A member of staff who reviews evidence."""
    return make_user(email="reviewer@example.org", name="Rae Reviewer", role="staff")


def add(call, *, status=ReviewStatus.REVIEWED, upload=None, **overrides) -> Submission:
    """Written evidence through the service, then (by default) reviewed; committed."""
    data = {"name": "Nia Named", "email": "nia@example.org", "organisation": "Eastgate Advice",
            "respondent_type": MemberType.COMMUNITY_ORGANISATION, "local_authority": None, "topics": ["trends"],
            "text": "Our contract was re-tendered at ten times the size.", "publication": Publication.NAMED}
    data.update(overrides)
    submission = services.submit_evidence(call, upload=upload, **data)
    submission.status = status
    db.session.commit()
    return submission


def found(q: str, **filters) -> list[int]:
    """Ids the library lists for this search, in order."""
    return [s.id for s in db.session.scalars(services.library(q=q, **filters)).unique()]


def pdf_with_metadata() -> bytes:
    """A PDF carrying an /Author, a /Creator and XMP metadata naming the author."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Author": SECRET, "/Creator": f"{SECRET}'s laptop", "/Producer": "Secret Writer 1.0",
                         "/Title": f"Report by {SECRET}"})
    writer.xmp_metadata = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
                           f'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
                           f'<dc:creator>{SECRET}</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_with_metadata() -> bytes:
    """A DOCX (made with zipfile) whose core and app properties name its author."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                                          'package/2006/content-types"/>')
        z.writestr("word/document.xml", "<w:document>The body of the report.</w:document>")
        z.writestr("docProps/core.xml", f'<cp:coreProperties xmlns:cp="x" xmlns:dc="y"><dc:creator>{SECRET}'
                                        f'</dc:creator><cp:lastModifiedBy>{SECRET}</cp:lastModifiedBy>'
                                        f'</cp:coreProperties>')
        z.writestr("docProps/app.xml", f"<Properties><Company>{SECRET} Ltd</Company></Properties>")
    return out.getvalue()


def odt_with_metadata() -> bytes:
    """An ODT: `mimetype` first and stored, meta.xml naming its author."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", "<office:document-content>Body.</office:document-content>",
                   compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("meta.xml", f'<office:document-meta office:version="1.3"><office:meta><meta:initial-creator>'
                               f'{SECRET}</meta:initial-creator></office:meta></office:document-meta>',
                   compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def upload(data: bytes, name: str) -> FileStorage:
    """An uploaded file."""
    return FileStorage(io.BytesIO(data), filename=name)


# --- Search (both databases) -------------------------------------------------------------

@both
def test_search_covers_the_published_wording_and_public_name_only(call, staff):
    """Published wording and named submitters' names are found (each word as the start of a word);
    private or unreviewed text, redacted words, anonymous names and email addresses never are."""
    named = add(call, text="Councils tendered the youth service as one contract.")
    anonymous = add(call, name="Ann Hiddenname", organisation="Hidden Trust", email="annmail@example.org",
                    publication=Publication.ANONYMOUS, text="A food bank fed two thousand families.")
    add(call, publication=Publication.PRIVATE, text="Private confidential wording.")
    add(call, status=ReviewStatus.NEW, text="Unreviewed pending wording.")
    redacted = add(call, text="The officer Bob Redactme said the lots were too big.")
    services.review(staff, redacted, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="",
                    published_text="An officer said the lots were too big.")
    db.session.commit()

    assert found("council") == [named.id]               # "Councils": every word matches the start of a word
    assert found("youth serv") == [named.id]            # a word half typed (searching as you type)
    assert found("families food") == [anonymous.id]
    assert set(found("eastgate")) == {named.id, redacted.id}  # a named submitter's organisation
    assert found("lots") == [redacted.id]
    for hidden in ("confidential", "pending", "redactme", "hiddenname", "annmail", "example"):
        assert found(hidden) == [], hidden


@both
def test_the_index_follows_publication_redaction_and_deletion(call, staff):
    """Triggers keep the index in step: unpublished, re-worded, deleted."""
    item = add(call, text="Commissioners split the contract into lots.")
    assert found("commissioners") == [item.id]
    services.review(staff, item, status=ReviewStatus.NEW, tags=[], principle_ids=[], notes="")
    db.session.commit()
    assert found("commissioners") == []
    services.review(staff, item, status=ReviewStatus.FEATURED, tags=[], principle_ids=[], notes="",
                    published_text="The council split it up.")
    db.session.commit()
    assert found("commissioners") == [] and found("split") == [item.id]
    item.publication = Publication.PRIVATE
    db.session.commit()
    assert found("split") == []
    item.publication = Publication.ANONYMOUS
    db.session.commit()
    assert found("split") == [item.id]
    db.session.delete(item)
    db.session.commit()
    assert found("split") == []


@both
@pytest.mark.parametrize("q", [
    '"', '"unbalanced', "*", "**", "OR", "AND OR NOT", "NEAR(contract lots)", "contract OR", "-contract",
    "name:contract", "body:contract", "(", ")", "^contract", "'", "\\", "contract:*", "a & b | !c", "<->",
    "\x00", "con\x00tract", "x" * 5000, "contract " * 1000, "🎉 contract", "e\u0301", "ﬁ", "_", "__init__",
    "{a}", "[a]", "%", "%%", "?", ";DROP TABLE submissions;--", "  ", "",
])
def test_malformed_queries_never_raise(call, q):
    """Whatever is typed is cut into words: no query-language error, on either database."""
    item = add(call, text="The contract was split into lots.")
    ids = found(q)
    assert ids in ([], [item.id])
    assert db.paginate(services.library(q=q), page=1, per_page=20, error_out=False, count=True).total == len(ids)


def test_words_are_letters_and_digits_only():
    """The sanitiser: operators, quotes and NUL are separators; the number and length of words are bounded."""
    assert search.words('"Council" OR near(x*) \x00 lots_2') == ["council", "or", "near", "x", "lots", "2"]
    assert len(search.words("word " * 100)) == search.MAX_WORDS
    assert search.words("y" * 5000) == ["y" * search.MAX_WORD]
    assert search.search_submissions(" * \" ") is None


@both
def test_library_filters_combine_with_search(call, staff):
    """Topic, principle and member type filter the search's results."""
    principle = db.session.scalar(sa.select(Principle).order_by(Principle.number))
    a = add(call, text="Housing contract evidence.", topics=["scale_fail"])
    b = add(call, text="Housing grants evidence.", respondent_type=MemberType.COUNCILLOR, topics=["trends"])
    services.review(staff, b, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[principle.id], notes="")
    db.session.commit()
    assert set(found("housing")) == {a.id, b.id}
    assert found("housing", topic="scale_fail") == [a.id]
    assert found("housing", principle_id=principle.id) == [b.id]
    assert found("housing", respondent_type="councillor") == [b.id]
    assert found("housing", respondent_type="not-a-type") == found("housing")
    assert found("", respondent_type="community_organisation") == [a.id]


# --- Publication rules (both databases) ----------------------------------------------------

@both
def test_redaction_keeps_the_original_and_is_audited(call, staff):
    """Staff's wording is published, the text as sent is kept, and the change is audited before/after;
    published_at is set the first time it becomes public and never moves."""
    item = add(call, status=ReviewStatus.NEW, text="Call Bob on 07700 900123 about the contract.")
    assert item.published_at is None
    services.review(staff, item, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="",
                    published_text="Call [name removed] about the contract.")
    db.session.commit()
    first = item.published_at
    assert first is not None and item.is_redacted
    assert item.text == "Call Bob on 07700 900123 about the contract."
    assert item.published_wording == "Call [name removed] about the contract."
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "evidence.redact"))
    assert entry.details == {"before": "Call Bob on 07700 900123 about the contract.",
                             "after": "Call [name removed] about the contract."}
    services.review(staff, item, status=ReviewStatus.FEATURED, tags=[], principle_ids=[], notes="",
                    published_text=item.text)  # back to the text as sent
    db.session.commit()
    assert item.published_text is None and item.published_at == first
    with pytest.raises(RuleError) as refused:
        services.set_published_wording(staff, item, "   ")
    assert refused.value.field == "published_text"


@both
def test_file_is_published_only_with_consent_and_approval(call, staff, uploads_dir):
    """Approval needs the submitter's consent; approving stores a stripped copy, withdrawing removes it."""
    refused = add(call, upload=upload(real_pdf(), "report.pdf"))
    assert refused.file_may_publish is False
    with pytest.raises(RuleError) as error:
        services.set_file_approval(staff, refused, True)
    assert error.value.field == "file_approved" and "did not agree" in error.value.message
    db.session.rollback()
    no_file = add(call, file_may_publish=True)
    assert no_file.file_may_publish is False  # consent is kept only with a document
    with pytest.raises(RuleError):
        services.set_file_approval(staff, no_file, True)
    db.session.rollback()

    item = add(call, upload=upload(pdf_with_metadata(), "jane-secretauthor.pdf"), file_may_publish=True)
    assert item.file_may_publish and not item.file_published and services.published_file(item) is None
    services.set_file_approval(staff, item, True)
    db.session.commit()
    path = services.published_file(item)
    assert item.file_published and path is not None and SECRET.encode() not in path.read_bytes()
    assert uploads.path_for(item.file_key).read_bytes() == pdf_with_metadata()  # the original is kept
    services.set_file_approval(staff, item, False)
    db.session.commit()
    assert services.published_file(item) is None and not path.exists()
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_id == item.id)).all()
    assert {"evidence.file_approve", "evidence.file_withdraw"} <= set(actions)


def test_pdf_metadata_is_stripped():
    """/Author, /Creator, /Producer, /Title and the XMP stream are gone; the page is kept."""
    original = pdf_with_metadata()
    assert PdfReader(io.BytesIO(original)).metadata["/Author"] == SECRET
    stripped = scrub.strip_metadata(original, "pdf")
    reader = PdfReader(io.BytesIO(stripped))
    assert len(reader.pages) == 1
    assert not reader.metadata or not {"/Author", "/Creator", "/Producer", "/Title"} & set(reader.metadata)
    assert reader.xmp_metadata is None
    assert SECRET.encode() not in stripped and b"Secret Writer" not in stripped


def test_docx_and_odt_metadata_is_stripped():
    """core.xml, app.xml (DOCX) and meta.xml (ODT) are replaced; the body is untouched; each is still its kind."""
    docx = scrub.strip_metadata(docx_with_metadata(), "docx")
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        assert SECRET not in z.read("docProps/core.xml").decode() and SECRET not in z.read("docProps/app.xml").decode()
        assert z.read("word/document.xml") == b"<w:document>The body of the report.</w:document>"
    assert SECRET.encode() not in docx and uploads.detect_kind(docx) == "docx"
    odt = scrub.strip_metadata(odt_with_metadata(), "odt")
    with zipfile.ZipFile(io.BytesIO(odt)) as z:
        first = z.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert b'office:version="1.3"' in z.read("meta.xml") and SECRET.encode() not in z.read("meta.xml")
    assert uploads.detect_kind(odt) == "odt"


def test_a_pdf_that_cannot_be_stripped_is_refused():
    """A damaged or encrypted PDF cannot be published (staff are told why)."""
    with pytest.raises(RuleError) as damaged:
        scrub.strip_metadata(b"%PDF-1.4 not really a pdf", "pdf")
    assert damaged.value.field == "file_approved"
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.encrypt("password")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(RuleError, match="password"):
        scrub.strip_metadata(out.getvalue(), "pdf")


# --- Pages ---------------------------------------------------------------------------------

def body(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["anonymous", "member", "staff"])
def test_a_page_per_published_response_for_each_consent(client, as_role, call, staff, role):
    """Full text with its paragraphs, topics, principles, the consent, the call and the date."""
    principle = db.session.scalar(sa.select(Principle).order_by(Principle.number))
    long_text = "First paragraph. " * 100 + "\n\nSecond paragraph,\nwith a line break. The very end."
    named = add(call, text=long_text, topics=["trends", "scale_fail"])
    services.review(staff, named, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[principle.id], notes="")
    anonymous = add(call, name="Ann Hiddenname", organisation="Hidden Trust", email="annmail@example.org",
                    publication=Publication.ANONYMOUS, text="Anonymous evidence.")
    db.session.commit()
    as_role(role)
    page = body(client.get(f"/evidence/library/{named.id}"))
    assert "Published with the submitter&#39;s name" in page and "Nia Named, Eastgate Advice" in page
    assert "The very end." in page and page.count('<p class="pre-line">') == 2
    assert "Second paragraph,\nwith a line break." in page
    assert "The latest trends shaping public services" in page and principle.short_name in page
    assert call.title in page and "nia@example.org" not in page
    page = body(client.get(f"/evidence/library/{anonymous.id}"))
    assert "Published anonymously" in page and "Evidence from Anonymous" in page
    for hidden in ("Ann Hiddenname", "Hidden Trust", "annmail"):
        assert hidden not in page
    listing = body(client.get("/evidence/library"))
    assert f'href="/evidence/library/{named.id}"' in listing and f'href="/evidence/library/{anonymous.id}"' in listing
    assert "The very end." not in listing  # cut, with a link to read the rest


def test_unpublished_and_odd_ids_are_404(client, call, uploads_dir):
    """Private, awaiting review, no such id, 20 digits, non-ASCII digits: 404 for the page and the file."""
    private = add(call, publication=Publication.PRIVATE, upload=upload(real_pdf(), "a.pdf"), file_may_publish=True)
    waiting = add(call, status=ReviewStatus.NEW)
    for ident in (private.id, waiting.id, 999999, "99999999999999999999", "١", "-1", "%00"):
        assert client.get(f"/evidence/library/{ident}").status_code == 404, ident
        assert client.get(f"/evidence/library/{ident}/file").status_code == 404, ident


def test_the_document_is_downloadable_only_with_consent_and_approval(client, call, staff, uploads_dir):
    """No consent: never offered. Consent, not approved: not offered. Both: a download without metadata."""
    unconsented = add(call, upload=upload(pdf_with_metadata(), "a.pdf"))
    consented = add(call, upload=upload(pdf_with_metadata(), "Jane Secretauthor report.pdf"), file_may_publish=True)
    for item in (unconsented, consented):
        assert "Download the document" not in body(client.get(f"/evidence/library/{item.id}"))
        assert client.get(f"/evidence/library/{item.id}/file").status_code == 404
    services.review(staff, consented, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="",
                    file_approved=True)
    db.session.commit()
    assert "Download the document" in body(client.get(f"/evidence/library/{consented.id}"))
    response = client.get(f"/evidence/library/{consented.id}/file")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f"attachment; filename=evidence-{consented.reference}.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    data = response.get_data()
    response.close()
    assert SECRET.encode() not in data
    assert not {"/Author", "/Creator", "/Title"} & set(PdfReader(io.BytesIO(data)).metadata or {})
    # Unpublished again: the document goes with it.
    services.review(staff, consented, status=ReviewStatus.NEW, tags=[], principle_ids=[], notes="")
    db.session.commit()
    assert client.get(f"/evidence/library/{consented.id}/file").status_code == 404


def test_a_docx_download_has_no_author(client, call, staff, uploads_dir):
    """A DOCX's core properties are stripped in the published copy."""
    item = add(call, upload=upload(docx_with_metadata(), "report.docx"), file_may_publish=True)
    services.set_file_approval(staff, item, True)
    db.session.commit()
    response = client.get(f"/evidence/library/{item.id}/file")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as z:
        assert SECRET not in z.read("docProps/core.xml").decode()
    response.close()


def _search_page(client, query: str, **headers) -> str:
    return body(client.get(f"/evidence/library?{query}", headers=headers))


@both
def test_library_search_over_http(client, call):
    """?q= searches; the count and "No results for ..."; htmx gets the list alone; filters stay in the
    page links; NUL is a 400 (as every query string); 5,000 characters are cut, never an error."""
    for i in range(23):
        add(call, text=f"Procurement story number {i}.", respondent_type=MemberType.COUNCILLOR)
    add(call, text="Something else entirely.")
    page = _search_page(client, "q=procurem&type=councillor")
    assert "23 pieces of evidence matching “procurem”" in page
    assert page.count('class="card evidence-item"') == 20
    assert re.search(r'href="/evidence/library\?[^"]*page=2[^"]*"', page)
    link = re.search(r'href="(/evidence/library\?[^"]*page=2[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "q=procurem" in link and "type=councillor" in link
    assert body(client.get(link)).count('class="card evidence-item"') == 3
    fragment = _search_page(client, "q=procurement", **{"HX-Request": "true"})
    assert "<html" not in fragment and 'id="library-list"' in fragment
    assert "No results for “zzyzx”" in _search_page(client, "q=zzyzx")
    assert "1 piece of evidence matching" in _search_page(client, "q=entirely")
    assert client.get("/evidence/library?q=%00").status_code == 400
    assert client.get("/evidence/library?q=" + "a" * 5000).status_code == 200
    assert client.get('/evidence/library?q=%22OR%20*%20NEAR(').status_code == 200
    assert client.get("/evidence/library?principle=99999999999999999999&topic=x&type=y").status_code == 200


# --- Forms ---------------------------------------------------------------------------------

def test_the_submit_form_asks_to_publish_the_file(client, call, uploads_dir):
    """The checkbox is shown with the file field, unticked; its answer is stored."""
    page = body(client.get(f"/evidence/calls/{call.id}/submit"))
    assert "You may publish my attached file with my evidence" in page
    assert re.search(r'<input[^>]*id="file_may_publish"[^>]*>', page).group(0).count("checked") == 0
    base = {"name": "Ada", "email": "ada@example.org", "respondent_type": "academic", "topics": "trends",
            "text": "Evidence.", "publication": "named"}
    for ticked in (True, False):
        data = {**base, "file": (io.BytesIO(real_pdf()), "r.pdf"), **({"file_may_publish": "y"} if ticked else {})}
        response = client.post_form(f"/evidence/calls/{call.id}/submit", data, content_type="multipart/form-data")
        assert response.status_code == 303, body(response)[:2000]
        newest = db.session.scalar(sa.select(Submission).order_by(Submission.id.desc()))
        assert newest.file_may_publish is ticked


def test_staff_redact_and_approve_through_the_review_form(client, as_role, call, uploads_dir):
    """The original is shown beside the wording to publish; a redaction is saved and published;
    approving a document without consent is refused on the form."""
    item = add(call, status=ReviewStatus.NEW, text="Ask Bob Redactme at Eastgate.",
               upload=upload(real_pdf(), "r.pdf"))
    as_role("staff")
    page = body(client.get(f"/staff/evidence/{item.id}"))
    assert "Evidence as sent" in page and 'name="published_text"' in page
    assert "did not agree to publishing their document" in page and 'name="file_approved"' not in page
    response = client.post_form(f"/staff/evidence/{item.id}", {
        "status": "reviewed", "published_text": "Ask [name removed] at Eastgate.", "file_approved": "y"})
    assert response.status_code == 303
    db.session.refresh(item)
    assert item.published_text == "Ask [name removed] at Eastgate." and item.text == "Ask Bob Redactme at Eastgate."
    assert not item.file_approved  # no consent: the box is not offered, and a forged tick is ignored
    public = body(client.get(f"/evidence/library/{item.id}"))
    assert "[name removed]" in public and "Redactme" not in public
    page = body(client.get(f"/staff/evidence/{item.id}"))
    assert "Ask Bob Redactme at Eastgate." in page and "Ask [name removed] at Eastgate." in page
    response = client.post_form(f"/staff/evidence/{item.id}", {"status": "reviewed", "published_text": ""})
    assert response.status_code == 200 and "Enter the wording to publish" in body(response)
    with pytest.raises(RuleError):
        services.set_file_approval(None, item, True)


def test_staff_approve_a_consented_document_through_the_form(client, as_role, call, uploads_dir):
    """With consent the box is offered; ticking it publishes the stripped copy."""
    item = add(call, upload=upload(pdf_with_metadata(), "r.pdf"), file_may_publish=True)
    as_role("staff")
    assert 'name="file_approved"' in body(client.get(f"/staff/evidence/{item.id}"))
    response = client.post_form(f"/staff/evidence/{item.id}", {
        "status": "reviewed", "published_text": item.text, "file_approved": "y"})
    assert response.status_code == 303
    db.session.refresh(item)
    assert item.file_approved and item.published_text is None
    assert client.get(f"/evidence/library/{item.id}/file").status_code == 200


# --- Browser ---------------------------------------------------------------------------------

@pytest.mark.browser
def test_browser_search_as_you_type_and_open_a_result(page, call):
    """Typing in the library's search box updates the list (htmx, the URL kept); a result opens its page."""
    add(call, name="Tom Tenders", text="The council re-tendered the youth contract.\n\nIt failed within a year.")
    add(call, name="Fay Foodbank", text="Our food bank fed two thousand families.")
    page.goto("/evidence/library")
    expect(page.locator("#result-count")).to_contain_text("2 pieces of evidence")
    page.get_by_label("Search the evidence").press_sequentially("youth contr")
    expect(page.locator("#result-count")).to_contain_text("1 piece of evidence matching “youth contr”")
    expect(page).to_have_url(re.compile(r"q=youth(\+|%20)contr"))
    page.get_by_role("link", name="Tom Tenders, Eastgate Advice", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Evidence from Tom Tenders")
    expect(page.locator("main")).to_contain_text("It failed within a year.")
    assert page.js_errors == []


def test_the_privacy_notice_says_how_evidence_and_documents_are_published(client):
    """What the library publishes, and that a document's author details are removed."""
    page = body(client.get("/privacy"))
    assert "evidence library" in page and "You may publish my attached file" in page and "metadata" in page


def test_deleting_the_account_removes_the_published_document(app, call, staff, make_user, uploads_dir):
    """The eraser deletes the document and its published copy; the evidence stays, anonymous, without it."""
    member = make_user(email="writer@example.org")
    item = add(call, upload=upload(real_pdf(SECRET), "r.pdf"), file_may_publish=True, user=member)
    services.set_file_approval(staff, item, True)
    db.session.commit()
    published = services.published_file(item)
    assert published is not None and published.exists()
    erase_evidence(member)
    db.session.commit()
    assert not published.exists() and not item.file_published and item.public_name == "Anonymous"


def test_the_text_as_sent_with_other_line_endings_is_no_redaction(call, staff):
    """Saving the review with the wording unchanged (the form's CRLF and trimmed edges) redacts nothing."""
    item = add(call, text="Line one.\nLine two.")
    services.set_published_wording(staff, item, "Line one.\r\nLine two.  ")
    assert item.published_text is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "evidence.redact")) == 0
