"""Issue 9, the evidence area: zip bombs, upload names, uploads that never leave orphans, the written-evidence
limits and confirmation, account deletion of documents, and a visitor's survey carried over at sign-in.

Each test is named after the finding it proves, and attacks the way an outsider would: over HTTP,
anonymously, with files built here."""
import bz2
import errno
import io
import random
import re
import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import MemberType
from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.evidence import services, uploads
from kil_network.evidence.models import Call, Publication, Submission, SurveyResponse
from kil_network.extensions import db
from kil_network.members.models import Region
from tests.support.db import count
from tests.support.vnu import VNU_JAR, check_with_vnu, needs_java

GB = 1 << 30
ODT = b"application/vnd.oasis.opendocument.text"
REFUSED = "The selected file must be a PDF, DOCX or ODT document"


# --- Helpers --------------------------------------------------------------------------------

@pytest.fixture
def make_call(app):
    """An open call (survey and written evidence), committed."""

    def factory(title="Commissioning after the Procurement Act"):
        now = utcnow()
        call = Call(title=title, introduction="Tell us.", asks="Examples.", opens_at=now - timedelta(days=1),
                    survey_closes_at=now + timedelta(days=10), written_closes_at=now + timedelta(days=20))
        db.session.add(call)
        db.session.commit()
        return call

    return factory


def files_in(folder) -> list:
    """Every file in the upload folder (part files too)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def evidence_form(**overrides) -> dict:
    """A valid written-evidence form."""
    data = {"name": "Ada Lovelace", "email": "ada@example.org", "organisation": "",
            "respondent_type": "community_organisation", "local_authority": "", "topics": ["trends"],
            "text": "Referrals to local groups fell by a third.", "publication": "named"}
    data.update(overrides)
    return data


def pdf_bytes() -> bytes:
    """A small real PDF."""
    return b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def odt_bytes(**extra: bytes) -> bytes:
    """A minimal ODT: a stored `mimetype` first, then content."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODT)
        archive.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
        for name, data in extra.items():
            archive.writestr(name, data)
    return buf.getvalue()


def docx_bytes() -> bytes:
    """A minimal DOCX."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>" * 50)
    return buf.getvalue()


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip written by hand: (name, compressed bytes, method, declared compressed, declared size) per
    member, so sizes can lie and methods can be anything."""
    out, directory = io.BytesIO(), io.BytesIO()
    for name, payload, method, csize, usize in members:
        offset = out.tell()
        encoded = name.encode()
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0, 0, csize, usize, len(encoded), 0)
        out.write(header + encoded + payload)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0, 0, csize, usize,
                                    len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start, body = out.tell(), directory.getvalue()
    out.write(body)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(body), start, 0))
    return out.getvalue()


def deflate_zeros(size: int) -> bytes:
    """Raw DEFLATE of `size` zero bytes, built from one compressed 16MB block repeated (fast to build)."""
    chunk = 16 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(b"\0" * chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(b"\0" * chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert first == again  # a full flush resets the state, so every block is the same
    return first * (size // chunk) + compressor.flush()


@pytest.fixture(scope="session")
def bzip2_bomb() -> bytes:
    """One BZIP2 stream that inflates to 1.06GB of zeros (818 bytes, but 6 s to build: kept in /tmp)."""
    cached = Path(tempfile.gettempdir()) / "kil-test-bzip2-bomb-1088m.bz2"
    if cached.exists() and 0 < cached.stat().st_size < 4096:
        return cached.read_bytes()
    compressor = bz2.BZ2Compressor(9)
    chunk = b"\0" * (64 << 20)
    data = b"".join(compressor.compress(chunk) for _ in range(17)) + compressor.flush()
    cached.write_bytes(data)
    return data


def bombs(bzip2_bomb) -> dict:
    """Every hostile archive the tests throw at the upload check."""
    deflated = deflate_zeros(GB + (16 << 20))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODT)
        for i in range(5000):
            archive.writestr(f"p/{i}", b"")
    nested = odt_bytes(**{"Pictures/inner.zip": odt_bytes()})
    hidden = odt_bytes(**{"Pictures/photo.png": odt_bytes()})  # an archive under another name
    truncated = odt_bytes()
    encrypted = bytearray(odt_bytes())
    for flags_at in (6, encrypted.index(b"PK\x01\x02") + 8):  # the local and central "encrypted" flag
        encrypted[flags_at] |= 0x1
    return {
        # the mimetype member inflates past 1GB; its header says so
        "deflate-1g": raw_zip([("mimetype", deflated, 8, len(deflated), 0xFFFFFFFE)]),
        # ... and the same, lying that it is 39 bytes
        "deflate-1g-lying": raw_zip([("mimetype", deflated, 8, len(deflated), len(ODT))]),
        "bzip2-1g": raw_zip([("mimetype", bzip2_bomb, 12, len(bzip2_bomb), len(ODT))]),
        "lzma": raw_zip([("mimetype", b"\x00" * 64, 14, 64, len(ODT))]),
        "encrypted": bytes(encrypted),
        "declared-2g-total": raw_zip([("mimetype", ODT, 0, len(ODT), len(ODT))]
                                     + [(f"p{i}.xml", b"x", 8, 1, 60 << 20) for i in range(40)]),
        "too-many-members": many.getvalue(),
        "lying-member-count": odt_bytes()[:-22] + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 65535, 65535,
                                                              0xFFFFFFFF, 0, 0),
        "nested-zip": nested,
        "nested-zip-renamed": hidden,
        "truncated": truncated[: len(truncated) // 2],
        "truncated-directory": truncated[:-10],
        "junk-after-pk": b"PK\x03\x04" + bytes(range(256)) * 40,
    }


def measure(fn):
    """(result, seconds, peak bytes allocated) of a call."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = fn()
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, elapsed, peak


# --- Finding 1: compressed uploads cannot exhaust memory ----------------------------------------

def test_finding_01_zip_bombs_are_refused_fast_in_bounded_memory(app, bzip2_bomb):
    """DEFLATE and BZIP2 `mimetype` members inflating past 1GB, lying sizes, huge member counts, nested and
    truncated archives: each refused in well under a second with a peak of a few MB over its own size."""
    for name, data in bombs(bzip2_bomb).items():
        kind, elapsed, peak = measure(lambda data=data: uploads.detect_kind(data))
        assert kind is None, name
        assert elapsed < 1.0, (name, elapsed)
        assert peak < 4 * 1024 * 1024, (name, peak)


def test_finding_01_real_documents_are_still_recognised(app):
    """PDF, DOCX and ODT are accepted quickly; junk and ordinary zips are not."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    like_libreoffice = odt_bytes(**{"Thumbnails/thumbnail.png": png, "Configurations2/toolbar/": b"",
                                    "styles.xml": b"<style/>" * 20000, "META-INF/manifest.xml": b"<manifest/>"})
    like_word = io.BytesIO()
    with zipfile.ZipFile(like_word, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in [("[Content_Types].xml", b"<Types/>"), ("_rels/.rels", b"<Relationships/>"),
                           ("word/document.xml", b"<w:p><w:r><w:t>Evidence</w:t></w:r></w:p>" * 5000),
                           ("word/media/image1.png", png),
                           ("word/embeddings/oleObject1.bin", b"\xd0\xcf\x11\xe0" * 100),
                           ("docProps/core.xml", b"<cp:coreProperties/>")]:
            archive.writestr(name, data)
    for data, expected in [(pdf_bytes(), "pdf"), (docx_bytes(), "docx"), (odt_bytes(), "odt"),
                           (like_libreoffice, "odt"), (like_word.getvalue(), "docx"),
                           (b"junk" * 1000, None), (b"", None)]:
        kind, elapsed, peak = measure(lambda data=data: uploads.detect_kind(data))
        assert kind == expected and elapsed < 1.0 and peak < 4 * 1024 * 1024


def test_finding_01_anonymous_http_upload_of_a_bomb_is_refused(client, make_call, uploads_dir, bzip2_bomb):
    """Uploading each bomb anonymously: the file field's error within a second, nothing stored."""
    call = make_call()
    url = f"/evidence/calls/{call.id}/submit"
    for name, data in bombs(bzip2_bomb).items():
        if len(data) > 10 * 1024 * 1024:
            continue
        token = client.csrf_token(url)
        started = time.perf_counter()
        response = client.post(url, data=evidence_form(csrf_token=token, file=(io.BytesIO(data), "evidence.odt")))
        assert time.perf_counter() - started < 1.0, name
        assert response.status_code == 200 and REFUSED in response.get_data(as_text=True), name
    assert count(Submission) == 0 and files_in(uploads_dir) == []


# --- Finding 12 (evidence part): uploaded file names ---------------------------------------------

@pytest.mark.parametrize("name, stored", [
    ("report\x00.pdf", "report.pdf"),
    ("../../../etc/passwd.pdf", "passwd.pdf"),
    ("a" * 300 + ".pdf", "a" * 196 + ".pdf"),
    ("invoice\u202efdp.exe.pdf", "invoicefdp.exe.pdf"),
    ("\u200b\x07\x1b[31m.pdf", "[31m.pdf"),
    ("\x00", "evidence.pdf"),
], ids=["nul", "dotdot", "300-chars", "rtl-override", "controls", "only-nul"])
def test_finding_12_evidence_file_names_are_cleaned(client, make_call, uploads_dir, name, stored):
    """A hostile file name: the submission is stored (no 500) with a clean name, and exactly one file on disk."""
    call = make_call()
    response = client.post_form(f"/evidence/calls/{call.id}/submit",
                                evidence_form(file=(io.BytesIO(pdf_bytes()), name)))
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    submission = db.session.scalar(sa.select(Submission))
    assert submission.file_name == stored
    assert files_in(uploads_dir) == [submission.file_key]


def test_finding_12_clean_filename_keeps_ordinary_names(app):
    """Ordinary names (accents, spaces, joined scripts) pass unchanged."""
    for name in ["Our evidence 2025.pdf", "résumé.odt", "گزارش\u200cها.docx", "👩\u200d👩\u200d👧 report.pdf"]:
        assert uploads.clean_filename(name, "pdf") == name
    assert uploads.clean_filename("C:\\Users\\ada\\evil.pdf", "pdf") == "evil.pdf"
    assert uploads.clean_filename(" . ", "odt") == "evidence.odt"


# --- Low: disk full leaves no orphan, a failed commit leaves no file -----------------------------

def test_finding_low_disk_full_upload_leaves_no_orphan(client, make_call, uploads_dir, monkeypatch):
    """The write raises ENOSPC: the form says the document could not be saved, keeps the text, no row, no file."""
    call = make_call()
    real_fdopen = uploads.os.fdopen

    class FullDisk:
        def __init__(self, fd, mode):
            self.handle = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads.os, "fdopen", FullDisk)
    response = client.post_form(f"/evidence/calls/{call.id}/submit",
                                evidence_form(text="Typed before the disk filled.",
                                              file=(io.BytesIO(pdf_bytes()), "evidence.pdf")))
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "The document could not be saved just now" in body
    assert "Typed before the disk filled." in body
    assert count(Submission) == 0 and files_in(uploads_dir) == []


def test_finding_low_failed_commit_removes_the_upload(client, app, make_call, uploads_dir):
    """The database refuses the commit: the part file is removed, nothing is left behind."""
    call = make_call()

    def refuse(session, context, objects):
        if any(isinstance(o, Submission) for o in session.new):
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is read-only"))

    sa.event.listen(sa.orm.Session, "before_flush", refuse)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = client.post_form(f"/evidence/calls/{call.id}/submit",
                                    evidence_form(file=(io.BytesIO(pdf_bytes()), "evidence.pdf")))
    finally:
        sa.event.remove(sa.orm.Session, "before_flush", refuse)
    assert response.status_code == 500
    assert count(Submission) == 0 and files_in(uploads_dir) == []


def test_finding_low_upload_becomes_its_real_name_only_on_commit(app, make_call, uploads_dir):
    """Before the commit only `<key>.part` exists; after it only `<key>`."""
    call = make_call()
    submission = services.submit_evidence(
        call, name="Ada", email="ada@example.org", organisation="", respondent_type=MemberType.COMMUNITY_ORGANISATION,
        local_authority=None, topics=["trends"], text="Evidence.", publication=Publication.PRIVATE,
        upload=FileStorage(io.BytesIO(pdf_bytes()), "evidence.pdf"))
    assert files_in(uploads_dir) == [submission.file_key + ".part"]
    db.session.commit()
    assert files_in(uploads_dir) == [submission.file_key]


# --- Finding 4: written evidence is limited and no use as a spam relay ---------------------------

def outbox(to: str | None = None) -> list:
    """Queued emails (to one address, if given), oldest first."""
    db.session.expire_all()
    stmt = sa.select(OutboxEmail).order_by(OutboxEmail.id)
    if to:
        stmt = stmt.where(OutboxEmail.to_address == to)
    return db.session.scalars(stmt).all()


def confirm_path(mail) -> str:
    """The path of the confirmation link in a queued email."""
    match = re.search(r"https?://[^/\s]+(/evidence/confirm/\S+)", mail.body_text)
    assert match, mail.body_text
    return match.group(1)


@pytest.fixture
def limited(limited_app, uploads_dir):
    """A client of the app with rate limits on, storing uploads in this test's folder."""
    limited_app.config["UPLOAD_FOLDER"] = str(uploads_dir)
    return limited_app.test_client()


def post_evidence(client, call, address="203.0.113.7", **overrides):
    """One anonymous post of written evidence from a client address."""
    url = f"/evidence/calls/{call.id}/submit"
    token = client.csrf_token(url)
    return client.post(url, data=evidence_form(csrf_token=token, **overrides),
                       environ_base={"REMOTE_ADDR": address})


def test_finding_04_anonymous_submissions_are_limited_per_address(limited, make_call, uploads_dir):
    """30 posts from one address: 5 accepted, then 429; another address is not affected."""
    call = make_call()
    codes = [post_evidence(limited, call, email=f"victim{i}@example.org").status_code for i in range(30)]
    assert codes[:5] == [303] * 5 and set(codes[5:]) == {429}
    assert post_evidence(limited, call, address="198.51.100.9", email="other@example.org").status_code == 303
    assert count(Submission) == 6


def test_finding_04_confirmation_emails_are_limited_per_recipient(limited, make_call, uploads_dir):
    """One victim address from many addresses, with case, spaces and +tags varied: 3 emails, then 429."""
    call = make_call()
    variants = ["victim@example.org", "VICTIM@example.org", "victim+1@example.org", " victim+spam@Example.org",
                "victim+2@example.org", "victim@example.org"]
    codes = [post_evidence(limited, call, address=f"192.0.2.{i}", email=email).status_code
             for i, email in enumerate(variants, start=1)]
    assert codes == [303, 303, 303, 429, 429, 429]
    assert len(outbox()) == 3


def test_finding_04_upload_bytes_are_capped_per_address(limited, make_call, uploads_dir):
    """Refused posts with 9MB files still cost their bytes: about 50MB an hour per address, then 429."""
    call = make_call()
    big = pdf_bytes() + b"0" * (9 * 1024 * 1024)
    codes = [post_evidence(limited, call, text="", file=(io.BytesIO(big), "big.pdf")).status_code
             for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[6] == 429  # text missing: refused, but the bytes were sent
    assert files_in(uploads_dir) == []


def test_finding_04_anonymous_acknowledgement_is_no_spam_relay(client, make_call, uploads_dir):
    """An anonymous post gets one fixed-text email: nothing the sender typed, the campaign's words first,
    and no acknowledgement until the address is confirmed; a fetched link confirms nothing."""
    call = make_call()
    spam = "BUY CHEAP PILLS at spam.example"
    response = client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form(
        name=spam, organisation=spam, text=spam, email="victim@example.org",
        file=(io.BytesIO(pdf_bytes()), f"{spam}.pdf")))
    assert response.status_code == 303
    assert "Check your email" in client.get(response.headers["Location"]).get_data(as_text=True)
    [mail] = outbox()
    assert mail.to_address == "victim@example.org"
    assert mail.subject == "Confirm your evidence to the Keep it Local Network"
    assert "spam" not in (mail.body_text + (mail.body_html or "")).lower()
    assert mail.body_text.startswith("The Keep it Local Network")
    submission = db.session.scalar(sa.select(Submission))
    assert submission.confirmed_at is None

    path = confirm_path(mail)
    page = client.get(path)  # a mail scanner following the link
    assert page.status_code == 200 and "Confirm and send my evidence" in page.get_data(as_text=True)
    db.session.expire_all()
    assert submission.confirmed_at is None and len(outbox()) == 1

    response = client.post_form(path, token_from=path)
    assert response.status_code == 303
    db.session.expire_all()
    assert submission.confirmed_at is not None
    acknowledgement = outbox()[-1]
    assert submission.reference in acknowledgement.subject
    assert acknowledgement.body_text.startswith("Thank you for your evidence to")
    assert client.post_form(path).status_code == 303 and len(outbox()) == 2  # once only


def test_finding_04_bad_confirmation_links_are_refused(client, make_call, uploads_dir):
    """A tampered link, one for another submission's address, or an expired one: 400, nothing confirmed."""
    call = make_call()
    client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form())
    path = confirm_path(outbox()[0])
    assert client.get(path[:-3] + "abc").status_code == 400
    submission = db.session.scalar(sa.select(Submission))
    submission.email = "someone-else@example.org"  # the token names the address it was sent to
    db.session.commit()
    assert client.get(path).status_code == 400
    db.session.expire_all()
    assert submission.confirmed_at is None
    submission.email = "ada@example.org"
    db.session.commit()

    with pytest.MonkeyPatch.context() as patch:  # a link sent 8 days ago
        eight_days_ago = time.time() - 8 * 24 * 3600
        patch.setattr(time, "time", lambda: eight_days_ago)
        old = URLSafeTimedSerializer(client.application.config["SECRET_KEY"], salt="kil-evidence-confirm").dumps(
            {"s": submission.id, "f": services._fingerprint(submission)})
    response = client.get(f"/evidence/confirm/{old}")
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert client.get(path).status_code == 200  # the real one still works


def test_finding_04_signed_in_member_from_own_address_is_acknowledged_at_once(client, as_role, make_call,
                                                                             uploads_dir):
    """A confirmed member sending from their own address: acknowledged at once; from another address: confirm first."""
    call = make_call()
    as_role("member")
    client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form(email="Member@Example.org"))
    assert outbox()[-1].subject.startswith("We have received your evidence")
    client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form(email="elsewhere@example.org"))
    assert outbox()[-1].subject == "Confirm your evidence to the Keep it Local Network"
    confirmed = db.session.scalars(sa.select(Submission.confirmed_at).order_by(Submission.id)).all()
    assert confirmed[0] is not None and confirmed[1] is None


# --- Low: a visitor's survey in progress survives signing in ------------------------------------

def survey_answers(client, call, answers: dict) -> None:
    """Answer survey pages one by one, as a browser would."""
    base = f"/evidence/calls/{call.id}/survey"
    for question, answer in answers.items():
        response = client.post_form(f"{base}/{question}", {"answer": answer}, token_from=f"{base}/{question}")
        assert response.status_code == 302, (question, response.status_code)


def in_progress(user) -> list:
    """The member's in-progress survey responses."""
    db.session.expire_all()
    return db.session.scalars(sa.select(SurveyResponse).where(
        SurveyResponse.user_id == user.id, SurveyResponse.status == "in_progress")).all()


def test_finding_low_visitor_survey_is_carried_over_at_sign_in(client, auth, make_user, make_call):
    """A visitor answers two questions, signs in: the answers are now the member's, the visitor draft gone."""
    call = make_call()
    member = make_user(email="member1@example.org")
    survey_answers(client, call, {"delivers": "yes", "council_role": "neither"})
    assert auth.login().status_code == 302
    [draft] = in_progress(member)
    assert draft.answers == {"delivers": "yes", "council_role": "neither"} and draft.draft_key is None
    assert count(SurveyResponse) == 1
    start = client.get(f"/evidence/calls/{call.id}/survey").get_data(as_text=True)
    assert "Continue where you left off" in start and f"/evidence/calls/{call.id}/survey/contract_size" in start


def test_finding_low_visitor_survey_merges_with_members_own(client, auth, make_user, make_call):
    """The member had answers in progress too: the visitor's (newer) win, the member's fill the gaps."""
    call = make_call()
    member = make_user(email="member1@example.org")
    services.save_member_answers(call, member, {"delivers": "yes", "council_role": "neither",
                                                "contract_size": "over_1m"})
    db.session.commit()
    survey_answers(client, call, {"delivers": "yes", "council_role": "councillor"})
    assert auth.login().status_code == 302
    [draft] = in_progress(member)
    assert draft.answers == {"delivers": "yes", "council_role": "councillor", "contract_size": "over_1m"}


# --- Low: account deletion erases the evidence document and its name -----------------------------

def test_finding_low_account_deletion_erases_the_document_and_its_name(client, as_role, make_call, uploads_dir):
    """A member sends evidence with a document, then deletes their account: the file is gone from disk,
    its name from the row; the evidence itself stays, anonymous. Another sender's file is untouched."""
    call = make_call()
    client.application.test_client().post_form(f"/evidence/calls/{call.id}/submit", evidence_form(
        email="someone@example.org", file=(io.BytesIO(pdf_bytes()), "someone.pdf")))
    member = as_role("member")
    response = client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form(
        name="Morgan Member", email="member@example.org", file=(io.BytesIO(pdf_bytes()), "Morgan's CV and report.pdf")))
    assert response.status_code == 303
    mine = db.session.scalar(sa.select(Submission).where(Submission.user_id == member.id))
    theirs = db.session.scalar(sa.select(Submission).where(Submission.user_id.is_(None)))
    assert sorted(files_in(uploads_dir)) == sorted([mine.file_key, theirs.file_key])
    response = client.post_form("/account/delete", {"password": "correct horse battery", "confirm": "y"},
                                token_from="/account/delete")
    assert response.status_code == 302
    db.session.expire_all()
    assert mine.user_id is None and mine.name == "Former member" and mine.email == ""
    assert mine.file_key == "" and mine.file_name == "" and mine.file_size == 0
    assert mine.text == "Referrals to local groups fell by a third."  # the evidence stays, anonymous
    assert files_in(uploads_dir) == [theirs.file_key]
    assert "any document you attached, and its name, are deleted" in client.get("/privacy").get_data(as_text=True)


@needs_java
def test_finding_04_new_pages_are_valid_html(client, make_call, uploads_dir, tmp_path):
    """The confirmation page, its refusal and the "check your email" page pass vnu."""
    if not VNU_JAR.exists():
        pytest.skip("vnu.jar is missing: run `npm ci`")
    call = make_call()
    received = client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form()).headers["Location"]
    path = confirm_path(outbox()[0])
    pages = {name: client.get(url).get_data(as_text=True) for name, url in
             [("received-pending", received), ("confirm", path), ("confirm-invalid", path + "x")]}
    (tmp_path / "pages").mkdir()
    errors, _ = check_with_vnu(pages, tmp_path / "pages")
    assert not errors, errors


def test_finding_04_anonymous_survey_submissions_are_limited_too(limited_app, make_call):
    """The same class of problem on the survey: one address cannot stuff the results (10 an hour, then 429)."""
    call = make_call()
    answers = {"delivers": "yes", "council_role": "neither", "contract_size": "under_100k", "contract_length": "1_3",
               "barriers": "size", "large_contracts": "", "what_would_help": "", "region": None}

    answers["region"] = str(db.session.scalar(sa.select(Region.id).order_by(Region.id).limit(1)))
    codes = []
    for _ in range(11):
        visitor = limited_app.test_client()  # a fresh browser each time
        visitor.environ_base["REMOTE_ADDR"] = "203.0.113.50"
        survey_answers(visitor, call, answers)
        check = f"/evidence/calls/{call.id}/survey/check"
        codes.append(visitor.post_form(check, token_from=check).status_code)
    assert codes == [303] * 10 + [429]


def test_finding_01_mutated_documents_never_raise(app):
    """3,000 randomly damaged DOCX and ODT files (bytes flipped, cut short): each is judged without an
    exception, in bounded time."""
    rng = random.Random(9)
    originals = [docx_bytes(), odt_bytes(**{"Pictures/a.png": b"\x89PNG" + bytes(200)})]
    slowest = 0.0
    for i in range(3000):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if i % 3 == 0:
            data = data[: rng.randrange(4, len(data))]
        started = time.perf_counter()
        assert uploads.detect_kind(bytes(data)) in (None, "docx", "odt")
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 1.0, slowest  # a member inflated past its limit takes seconds; 1 s is safe on a loaded machine
