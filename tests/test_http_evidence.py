"""Call for evidence and council pledges over HTTP, per role: the calls list and call page, the survey
one question per page (back links, errors, answers kept, check your answers, reference, deadline),
written evidence with files and the acknowledgement email, the library, the staff screens (queue,
review, files, CSV, calls, survey results), councils and pledges, access rules and query counts."""
import csv
import html
import io
import re
import zipfile
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import MemberType
from kil_network.core.email import deliver_due
from kil_network.core.models import AuditLog
from kil_network.core.timeutil import london_to_utc, utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.evidence import services, uploads
from kil_network.evidence.models import Call, Publication, ReviewStatus, Submission, SurveyResponse
from kil_network.evidence.services import save_visitor_answers, visitor_draft
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority, Region
from kil_network.principles.models import Principle
from tests.support.db import count, queries_for
from tests.support.forms import la, make_pledge, pledge_form, region_id
from tests.support.mail import email_text, first_link

ROLES = ["anonymous", "unconfirmed", "member", "staff", "admin"]
HX = {"HX-Request": "true"}
BRISTOL, LEEDS, CARDIFF, HACKNEY = "E06000023", "E08000035", "W06000015", "E09000012"
DEADLINE = "The deadline for responses has now passed"
EXECUTABLE = (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
              + b"This program cannot be run in DOS mode.")
NEXT_YEAR = utcnow().year + 1


# --- Helpers ------------------------------------------------------------------------------

def text(response) -> str:
    """The response body as text with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def pdf_bytes() -> bytes:
    """A small but real PDF."""
    return (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] "
            b"/Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def plain_zip() -> bytes:
    """An ordinary ZIP archive (not a document)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buf.getvalue()


def back_link(body: str) -> str:
    """Where the page's back link goes."""
    match = re.search(r'<a class="back-link" href="([^"]+)"', body)
    assert match, "no back link"
    return html.unescape(match.group(1))


def checked_values(body: str) -> set[str]:
    """Values of the checked radios or checkboxes named 'answer'."""
    return set(re.findall(r'name="answer" value="([^"]+)" id="[^"]+" checked', body))


def files_in(folder) -> list:
    """Files stored in the upload folder."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def make_call(app):
    """Create a call (open now by default, with a survey and written evidence) and commit."""

    def factory(title="Commissioning after the Procurement Act", *, opens=timedelta(days=-1),
                survey=timedelta(days=10), written=timedelta(days=20)):
        now = utcnow()
        call = Call(title=title, introduction="Tell us what is happening where you are.", asks="Examples.",
                    opens_at=now + opens, survey_closes_at=now + survey if survey is not None else None,
                    written_closes_at=now + written if written is not None else None)
        db.session.add(call)
        db.session.commit()
        return call

    return factory


@pytest.fixture
def reviewer(make_user):
    """A member of staff (not the one signed in) who reviews things."""
    return make_user(email="reviewer@example.org", name="Rae Reviewer", role="staff")


def close_survey(call):
    """The survey deadline passes."""
    call.survey_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()


def close_written(call):
    """The written-evidence deadline passes."""
    call.written_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()


def add_evidence(call, **overrides) -> Submission:
    """Written evidence through the service, committed."""
    data = {"name": "Ada Lovelace", "email": "ada@example.org", "organisation": "Riverside Community Trust",
            "respondent_type": MemberType.COMMUNITY_ORGANISATION, "local_authority": None, "topics": ["trends"],
            "text": "Our contract was re-tendered at ten times the size.", "publication": Publication.NAMED}
    status = overrides.pop("status", None)
    data.update(overrides)
    submission = services.submit_evidence(call, **data)
    if status is not None:
        submission.status = status
    db.session.commit()
    return submission


def full_answers(region: str, **overrides) -> dict:
    """Complete answers for a community organisation delivering contracts."""
    answers = {"delivers": "yes", "council_role": "neither", "contract_size": "under_100k", "contract_length": "1_3",
               "barriers": ["size", "price"], "large_contracts": "A prime contractor took it.",
               "what_would_help": "Grants.", "region": region}
    answers.update(overrides)
    return answers


def set_session_answers(client, call, answers: dict) -> None:
    """Give this browser saved survey answers, as earlier pages would have (kept on the server by key)."""
    with client.session_transaction() as sess:
        sess[f"survey-{call.id}"] = save_visitor_answers(call, sess.get(f"survey-{call.id}"), answers)
    db.session.commit()


def session_answers(client, call) -> dict:
    """This browser's saved survey answers (the draft its session's key finds)."""
    with client.session_transaction() as sess:
        key = sess.get(f"survey-{call.id}")
    db.session.expire_all()
    draft = visitor_draft(call, key)
    return dict(draft.answers) if draft is not None else {}


def evidence_form(**overrides) -> dict:
    """A valid written-evidence form as a browser posts it."""
    data = {"name": "Ada Lovelace", "email": "Ada@Example.org", "organisation": "Riverside Community Trust",
            "respondent_type": "community_organisation", "local_authority": BRISTOL,
            "topics": ["scale_fail", "trends"], "text": "Referrals to local groups fell by a third.",
            "publication": "named"}
    data.update(overrides)
    return data


# --- Calls: list and page ---------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_calls_list_open_forthcoming_and_closed(client, as_role, make_call, role):
    """Each call is listed under Open now, Coming soon or Closed, for everyone."""
    make_call("The open call")
    make_call("The coming call", opens=timedelta(days=5), survey=timedelta(days=30), written=None)
    make_call("The closed call", opens=timedelta(days=-60), survey=timedelta(days=-20), written=timedelta(days=-5))
    as_role(role)
    response = client.get("/evidence/")
    assert response.status_code == 200
    body = text(response)
    order = [body.index(s) for s in ("Open now", "The open call", "Coming soon", "The coming call", "Closed",
                                     "The closed call")]
    assert order == sorted(order)
    assert body.count("The open call") == 1


@pytest.mark.parametrize("role", ROLES)
def test_call_page_links_to_open_parts_and_says_when_closed(client, as_role, make_call, role):
    """An open call links to the survey and the form; after the survey deadline only the form remains."""
    call = make_call()
    as_role(role)
    body = text(client.get(f"/evidence/calls/{call.id}"))
    assert call.title in body and f'href="/evidence/calls/{call.id}/survey"' in body
    assert f'href="/evidence/calls/{call.id}/submit"' in body and DEADLINE not in body
    close_survey(call)
    body = text(client.get(f"/evidence/calls/{call.id}"))
    assert f'href="/evidence/calls/{call.id}/survey"' not in body and DEADLINE in body
    assert f'href="/evidence/calls/{call.id}/submit"' in body
    assert client.get("/evidence/calls/999999").status_code == 404


# --- The survey ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_survey_one_question_per_page_through_to_a_reference(client, as_role, make_call, role):
    """Every question page has its back link; answering moves on; check your answers; submit gives a reference."""
    call = make_call()
    user = as_role(role)
    base = f"/evidence/calls/{call.id}/survey"
    london = str(region_id("London"))
    start = text(client.get(base))
    assert f'href="{base}/delivers"' in start and "Start now" in start
    path = [("delivers", "yes", None, "Are you a community organisation"),
            ("council_role", "neither", "delivers", "Do you work in commissioning"),
            ("contract_size", "under_100k", "council_role", "What is the annual value"),
            ("contract_length", "1_3", "contract_size", "How long is that contract?"),
            ("barriers", ["size", "price"], "contract_length", "Which barriers have you met"),
            ("large_contracts", "A prime contractor took it.", "barriers", "What has been your experience"),
            ("what_would_help", "", "large_contracts", "What would help councils"),
            ("region", london, "what_would_help", "Which region do you mostly work in?")]
    for i, (qid, value, previous, heading) in enumerate(path):
        page = client.get(f"{base}/{qid}")
        assert page.status_code == 200, qid
        body = text(page)
        assert re.search(r'<h1 class="heading-l">(<label for="answer">)?' + re.escape(heading), body), qid
        assert back_link(body) == (f"{base}/{previous}" if previous else base)
        answered = client.post_form(f"{base}/{qid}", {"answer": value})
        assert answered.status_code == 302, (qid, text(answered)[:300])
        following = f"{base}/{path[i + 1][0]}" if i + 1 < len(path) else f"{base}/check"
        assert answered.headers["Location"] == following
    check = text(client.get(f"{base}/check"))
    for label in ("Under £100,000", "1 to 3 years", "Contracts too large for us, Competition mainly on price",
                  "A prime contractor took it.", "London", "Not answered"):
        assert label in check
    done = client.post_form(f"{base}/check", {})
    assert done.status_code == 303
    reference = done.headers["Location"].rsplit("/", 1)[1]
    assert done.headers["Location"] == f"{base}/done/{reference}"
    assert re.fullmatch(r"KIL-S-[A-Z2-9]{6}", reference)
    assert reference in text(client.get(done.headers["Location"]))
    stored = db.session.scalar(sa.select(SurveyResponse).where(SurveyResponse.reference == reference))
    assert stored.status == "submitted" and stored.respondent_type == "delivers_contracts"
    assert stored.user_id == (user.id if user else None) and stored.region_id == int(london)
    assert stored.answers["barriers"] == ["size", "price"] and count(SurveyResponse) == 1
    # The answers are gone from the browser and the database draft: a new response starts afresh.
    assert client.get(f"{base}/check").headers["Location"] == f"{base}/delivers"


@pytest.mark.parametrize("qid, before, data, message", [
    ("delivers", {}, {}, "Select an option"),
    ("delivers", {}, {"answer": "maybe"}, "Select an option"),
    ("barriers", {"delivers": "yes", "council_role": "neither"}, {}, "Select at least one option"),
    ("barriers", {"delivers": "yes", "council_role": "neither"}, {"answer": ["none", "size"]},
     "Select ‘None of these’ on its own, or the barriers you met"),
    ("why_stopped", {"delivers": "no", "delivered_before": "yes", "council_role": "neither"}, {"answer": "   "},
     "Enter your answer"),
    ("region", {"delivers": "yes", "council_role": "neither"}, {"answer": "999999"}, "Select your region"),
], ids=["radio-empty", "radio-unknown", "checkbox-empty", "none-with-others", "text-empty", "region-unknown"])
def test_survey_answer_errors_are_422_with_an_error_summary(client, make_call, qid, before, data, message):
    """An invalid answer re-shows the page with 422, an error summary linking to the field, and stores nothing."""
    call = make_call()
    set_session_answers(client, call, before)
    response = client.post_form(f"/evidence/calls/{call.id}/survey/{qid}", data)
    assert response.status_code == 422
    body = text(response)
    assert "<title>Error:" in body and "There is a problem" in body
    assert f'<a href="#answer">{message}</a>' in body
    assert f'<span class="visually-hidden">Error:</span> {message}' in body
    assert session_answers(client, call) == before
    if qid == "barriers" and data:
        assert checked_values(body) == {"none", "size"}  # what was chosen is shown again


def test_survey_post_without_csrf_is_refused(client, make_call):
    """A question page POST without the CSRF token is a 400 and stores nothing."""
    call = make_call()
    response = client.post(f"/evidence/calls/{call.id}/survey/delivers", data={"answer": "yes"})
    assert response.status_code == 400
    assert session_answers(client, call) == {}


def test_anonymous_answers_are_kept_between_pages_in_the_session(client, app, make_call):
    """Going back shows the earlier answer; another browser sees nothing; nothing is submitted.

    The answers are kept on the server as an in-progress response that only this browser's
    session key finds (a cookie would drop long answers past 4KB)."""
    call = make_call()
    base = f"/evidence/calls/{call.id}/survey"
    client.post_form(f"{base}/delivers", {"answer": "no"})
    client.post_form(f"{base}/delivered_before", {"answer": "yes"})
    assert session_answers(client, call) == {"delivers": "no", "delivered_before": "yes"}
    assert checked_values(text(client.get(f"{base}/delivers"))) == {"no"}
    assert checked_values(text(client.get(f"{base}/delivered_before"))) == {"yes"}
    assert back_link(text(client.get(f"{base}/council_role"))) == f"{base}/delivered_before"
    other = app.test_client()
    assert checked_values(text(other.get(f"{base}/delivers"))) == set()
    assert other.get(f"{base}/why_stopped").headers["Location"] == base  # not reachable without the answers
    assert client.get(f"{base}/why_stopped").status_code == 200
    assert count(SurveyResponse, SurveyResponse.status == "submitted") == 0
    [draft] = db.session.scalars(sa.select(SurveyResponse)).all()
    assert draft.status == "in_progress" and draft.user_id is None and len(draft.draft_key) >= 40


def test_member_answers_are_kept_in_the_database_across_sign_ins(client, as_role, auth, make_call):
    """A member who signs out and in again carries on where they left off, with their answers shown."""
    call = make_call()
    member = as_role("member")
    base = f"/evidence/calls/{call.id}/survey"
    client.post_form(f"{base}/delivers", {"answer": "yes"})
    client.post_form(f"{base}/council_role", {"answer": "councillor"})
    draft = db.session.scalar(sa.select(SurveyResponse).where(SurveyResponse.user_id == member.id))
    assert draft.status == "in_progress" and draft.answers == {"delivers": "yes", "council_role": "councillor"}
    auth.logout()
    assert checked_values(text(client.get(f"{base}/delivers"))) == set()
    assert "Start now" in text(client.get(base))
    auth.login("member@example.org")
    start = text(client.get(base))
    assert "Continue where you left off" in start and f'href="{base}/contract_size"' in start
    assert checked_values(text(client.get(f"{base}/delivers"))) == {"yes"}
    assert checked_values(text(client.get(f"{base}/council_role"))) == {"councillor"}
    assert count(SurveyResponse) == 1


def test_check_your_answers_change_links_return_to_check(client, make_call):
    """Each answer has a change link; after changing, the next page is check your answers (or a new follow-up)."""
    call = make_call()
    base = f"/evidence/calls/{call.id}/survey"
    set_session_answers(client, call, full_answers(str(region_id("Wales"))))
    check = text(client.get(f"{base}/check"))
    for qid in ("delivers", "council_role", "contract_size", "contract_length", "barriers", "large_contracts",
                "what_would_help", "region"):
        assert f'href="{base}/{qid}?change=1"' in check, qid
    assert "Under £100,000" in check
    page = text(client.get(f"{base}/contract_size?change=1"))
    assert checked_values(page) == {"under_100k"} and f'action="{base}/contract_size?change=1"' in page
    changed = client.post_form(f"{base}/contract_size?change=1", {"answer": "over_1m"})
    assert changed.headers["Location"] == f"{base}/check"
    check = text(client.get(f"{base}/check"))
    assert "Over £1 million" in check and "Under £100,000" not in check
    # Changing a screening answer asks the new follow-up questions, then returns to check.
    response = client.post_form(f"{base}/delivers?change=1", {"answer": "no"})
    assert response.headers["Location"] == f"{base}/delivered_before?change=1"
    response = client.post_form(f"{base}/delivered_before?change=1", {"answer": "yes"})
    assert response.headers["Location"] == f"{base}/why_stopped?change=1"
    response = client.post_form(f"{base}/why_stopped?change=1", {"answer": "The contract was merged."})
    # While 'delivers' was no and 'delivered_before' unanswered the survey was out of scope, so the later
    # answers were cleared: they are asked again, each page returning to check once all are answered.
    for qid, value, following in (("barriers", ["size", "price"], "large_contracts?change=1"),
                                  ("large_contracts", "", "what_would_help?change=1"),
                                  ("what_would_help", "Grants.", "region?change=1"),
                                  ("region", str(region_id("Wales")), "check")):
        assert response.headers["Location"] == f"{base}/{qid}?change=1"
        response = client.post_form(f"{base}/{qid}?change=1", {"answer": value})
        assert response.headers["Location"] == f"{base}/{following}"
    check = text(client.get(f"{base}/check"))
    assert "The contract was merged." in check and "What is the annual value" not in check
    assert "Contracts too large for us, Competition mainly on price" in check  # still applies, kept
    done = client.post_form(f"{base}/check", {})
    assert done.status_code == 303
    stored = db.session.scalar(sa.select(SurveyResponse))
    assert stored.respondent_type == "delivered_before" and "contract_size" not in stored.answers


def test_out_of_scope_answers_lead_to_not_for_you_and_cannot_be_submitted(client, make_call):
    """No to every screening question points to written evidence; a forced submit is refused."""
    call = make_call()
    base = f"/evidence/calls/{call.id}/survey"
    for qid, value in (("delivers", "no"), ("delivered_before", "no"), ("would_like", "no")):
        client.post_form(f"{base}/{qid}", {"answer": value})
    response = client.post_form(f"{base}/council_role", {"answer": "neither"})
    assert response.headers["Location"] == f"{base}/not-for-you"
    assert f'href="/evidence/calls/{call.id}"' in text(client.get(response.headers["Location"]))
    refused = client.post_form(f"{base}/check", {})
    assert refused.status_code == 422 and "This survey is for community organisations" in text(refused)
    assert count(SurveyResponse, SurveyResponse.status == "submitted") == 0


@pytest.mark.parametrize("role", ["anonymous", "member"])
def test_after_the_survey_deadline_pages_say_so_and_posts_store_nothing(client, as_role, make_call, role):
    """Once the deadline passes, question pages show the message instead of Continue and a POST keeps nothing."""
    call = make_call()
    user = as_role(role)
    base = f"/evidence/calls/{call.id}/survey"
    client.post_form(f"{base}/delivers", {"answer": "yes"})
    close_survey(call)
    page = client.get(f"{base}/council_role")
    assert page.status_code == 200
    body = text(page)
    assert DEADLINE in body and ">Continue</button>" not in body
    response = client.post_form(f"{base}/council_role", {"answer": "councillor"})
    assert response.status_code == 422 and DEADLINE in text(response)
    if user:
        draft = db.session.scalar(sa.select(SurveyResponse).where(SurveyResponse.user_id == user.id))
        assert draft.answers == {"delivers": "yes"} and draft.status == "in_progress"
    else:
        assert session_answers(client, call) == {"delivers": "yes"}
    assert DEADLINE in text(client.get(base))
    assert count(SurveyResponse, SurveyResponse.status == "submitted") == 0


def test_check_page_submit_after_the_deadline_is_refused(client, make_call):
    """Answers complete when the deadline passes: check shows the message; the submit is refused with 422."""
    call = make_call()
    base = f"/evidence/calls/{call.id}/survey"
    set_session_answers(client, call, full_answers(str(region_id("London"))))
    assert ">Submit your answers</button>" in text(client.get(f"{base}/check"))
    close_survey(call)
    page = text(client.get(f"{base}/check"))
    assert DEADLINE in page and ">Submit your answers</button>" not in page
    refused = client.post_form(f"{base}/check", {})
    assert refused.status_code == 422 and DEADLINE in text(refused)
    assert count(SurveyResponse, SurveyResponse.status == "submitted") == 0
    assert session_answers(client, call)["delivers"] == "yes"  # nothing typed is lost


# --- Written evidence ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_submit_written_evidence_with_a_pdf(client, as_role, make_call, uploads_dir, role):
    """A valid submission with a PDF redirects to the reference page; the row, topics and file are stored."""
    call = make_call()
    user = as_role(role)
    url = f"/evidence/calls/{call.id}/submit"
    form_page = text(client.get(url))
    assert 'enctype="multipart/form-data"' in form_page
    if user:
        assert f'value="{role}@example.org"' in form_page  # the signed-in member's details are filled in
    data = pdf_bytes()
    response = client.post_form(url, evidence_form(file=(io.BytesIO(data), "our evidence.pdf")))
    assert response.status_code == 303, text(response)[:500]
    submission = db.session.scalar(sa.select(Submission))
    assert response.headers["Location"] == f"/evidence/calls/{call.id}/received/{submission.reference}"
    assert submission.reference in text(client.get(response.headers["Location"]))
    assert submission.email == "ada@example.org" and submission.topics == ["scale_fail", "trends"]
    assert submission.local_authority.gss_code == BRISTOL and submission.publication == Publication.NAMED
    assert submission.user_id == (user.id if user else None)
    assert submission.file_kind == "pdf" and submission.file_name == "our evidence.pdf"
    assert files_in(uploads_dir) == [submission.file_key]
    assert (uploads_dir / submission.file_key).read_bytes() == data


def test_acknowledgement_email_reaches_the_smtp_server(client, make_call, uploads_dir, mail):
    """The submitter confirms their address from a first email, then receives one with the reference,
    through the real SMTP capture server."""
    call = make_call()
    response = client.post_form(f"/evidence/calls/{call.id}/submit",
                                evidence_form(file=(io.BytesIO(pdf_bytes()), "evidence.pdf")))
    reference = response.headers["Location"].rsplit("/", 1)[1]
    deliver_due()
    confirm = mail.wait_for(lambda m: m["Subject"] == "Confirm your evidence to the Keep it Local Network")
    path = "/" + first_link(confirm, "/evidence/confirm/").split("/", 3)[3]
    assert client.post_form(path, token_from=path).status_code == 303
    deliver_due()
    message = mail.wait_for(lambda m: reference in m["Subject"])
    assert message.envelope_to == ["ada@example.org"]
    body = email_text(message)
    assert f"Your reference number is {reference}" in body and call.title in body
    assert "Attached document: evidence.pdf" in body


@pytest.mark.parametrize("data, name, message", [
    (EXECUTABLE, "report.pdf", "The selected file must be a PDF, DOCX or ODT document"),
    (b"plain text, not a PDF", "report.pdf", "The selected file must be a PDF, DOCX or ODT document"),
    (None, "report.pdf", "The selected file must be a PDF, DOCX or ODT document"),
    (b"", "report.pdf", "The selected file is empty"),
    (pdf_bytes() + b"0" * (10 * 1024 * 1024), "big.pdf", "The selected file must be smaller than 10MB"),
    # Twice the limit: still read, so the refusal is the form's, with the text kept (not a 413 page).
    (pdf_bytes() + b"0" * (20 * 1024 * 1024), "huge.pdf", "The selected file must be smaller than 10MB"),
], ids=["executable", "text", "zip", "empty", "too-big", "twice-the-limit"])
def test_bad_files_are_refused_with_the_field_message_and_nothing_stored(client, make_call, uploads_dir, data, name,
                                                                         message):
    """A disguised, empty or oversized file: the message beside the file field, the text kept, nothing stored."""
    call = make_call()
    data = plain_zip() if data is None else data
    response = client.post_form(f"/evidence/calls/{call.id}/submit",
                                evidence_form(text="My carefully typed evidence.", file=(io.BytesIO(data), name)))
    assert response.status_code == 200
    body = text(response)
    assert f'<p class="error-message" id="file-error"><span class="visually-hidden">Error:</span> {message}</p>' in body
    assert f'<a href="#file">{message}</a>' in body
    assert "My carefully typed evidence." in body
    assert count(Submission) == 0 and files_in(uploads_dir) == []


def test_bad_file_htmx_post_gets_the_form_partial_with_422(client, make_call, uploads_dir):
    """The same refusal for htmx is the form fragment with 422."""
    call = make_call()
    response = client.post_form(f"/evidence/calls/{call.id}/submit",
                                evidence_form(file=(io.BytesIO(EXECUTABLE), "setup.pdf")), headers=HX)
    assert response.status_code == 422
    body = text(response)
    assert body.lstrip().startswith('<form') and 'id="evidence-form"' in body and "<html" not in body
    assert "The selected file must be a PDF, DOCX or ODT document" in body
    assert count(Submission) == 0 and files_in(uploads_dir) == []


@pytest.mark.parametrize("overrides, field, message", [
    ({"topics": ["bogus"]}, "topics", "Select topics from the list"),
    ({"topics": []}, "topics", "Select at least one topic your evidence covers"),
    ({"text": "   "}, "text", "Enter your evidence"),
    ({"publication": "everywhere"}, "publication", "Not a valid choice"),
    ({"email": "not-an-email"}, "email", "Enter an email address in the correct format"),
    ({"local_authority": "E99999999"}, "local_authority", "Select a council from the list"),
])
def test_invalid_written_evidence_is_refused(client, make_call, uploads_dir, overrides, field, message):
    """A topic outside the list, empty evidence or other bad input: an error on the field, nothing stored."""
    call = make_call()
    response = client.post_form(f"/evidence/calls/{call.id}/submit", evidence_form(**overrides))
    body = text(response)
    assert "There is a problem" in body and f'<a href="#{field}">{message}' in body
    assert count(Submission) == 0


def test_after_the_written_deadline_the_form_is_replaced_and_a_post_refused(client, make_call, uploads_dir):
    """After the deadline the page says so; a response written before it is refused, its text kept in the form."""
    call = make_call()
    url = f"/evidence/calls/{call.id}/submit"
    assert 'id="evidence-form"' in text(client.get(url))
    token = client.csrf_token(url)
    close_written(call)
    page = text(client.get(url))
    assert DEADLINE in page and 'id="evidence-form"' not in page
    response = client.post(url, data=evidence_form(text="Everything I typed before the deadline.", csrf_token=token,
                                                   file=(io.BytesIO(pdf_bytes()), "evidence.pdf")))
    body = text(response)
    assert DEADLINE in body and "Your evidence has not been sent" in body
    assert "Everything I typed before the deadline.</textarea>" in body and 'value="Ada Lovelace"' in body
    assert count(Submission) == 0 and files_in(uploads_dir) == []


def test_written_evidence_post_without_csrf_is_400(client, make_call, uploads_dir):
    """Missing the CSRF token: 400 and nothing stored."""
    call = make_call()
    response = client.post(f"/evidence/calls/{call.id}/submit", data=evidence_form())
    assert response.status_code == 400
    assert count(Submission) == 0


# --- The library ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_library_shows_only_consented_evidence_anonymised_where_asked(client, as_role, make_call, uploads_dir, role):
    """Named evidence shows its author, anonymous shows 'Anonymous' and never the name; private is never shown."""
    call = make_call()
    reviewed = ReviewStatus.REVIEWED
    add_evidence(call, name="Nia Named", organisation="Eastgate Advice", text="Named evidence text.", status=reviewed)
    add_evidence(call, name="Ann Onymous", organisation="Hidden Trust", email="ann@example.org", status=reviewed,
                 publication=Publication.ANONYMOUS, text="Anonymous evidence text.", topics=["scale_fail"])
    add_evidence(call, name="Pat Private", publication=Publication.PRIVATE, text="Private evidence text.",
                 status=reviewed)
    add_evidence(call, name="Nat New", text="Evidence awaiting review.")
    as_role(role)
    body = text(client.get("/evidence/library"))
    assert "Nia Named, Eastgate Advice" in body and "Named evidence text." in body
    assert "Anonymous evidence text." in body and "Anonymous</a></h2>" in body
    for hidden in ("Ann Onymous", "Hidden Trust", "ann@example.org", "Pat Private", "Private evidence text.",
                   "Evidence awaiting review."):
        assert hidden not in body
    assert "2 pieces of evidence" in body


def test_library_topic_filter_and_htmx_partial(client, make_call, uploads_dir):
    """The topic filter narrows the list; htmx gets just the list fragment."""
    call = make_call()
    add_evidence(call, text="About trends.", topics=["trends"], status=ReviewStatus.REVIEWED)
    add_evidence(call, text="About scale fail.", topics=["scale_fail"], status=ReviewStatus.REVIEWED)
    body = text(client.get("/evidence/library?topic=scale_fail"))
    assert "About scale fail." in body and "About trends." not in body and "1 piece of evidence" in body
    fragment = client.get("/evidence/library?topic=trends", headers=HX)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    part = text(fragment)
    assert part.lstrip().startswith('<div id="library-list"') and "<html" not in part
    assert "About trends." in part and "About scale fail." not in part


def test_principle_history_shows_the_evidence_linked_to_it(client, make_call, uploads_dir, reviewer):
    """The history page's evidence section comes from evidence (registered by the factory: principles
    does not import evidence): reviewed evidence linked to the principle, none for another."""
    call = make_call()
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    linked = add_evidence(call, text="Evidence for principle two.")
    services.review(reviewer, linked, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[principles[1].id], notes="")
    db.session.commit()
    two = text(client.get("/principles/2/history"))
    assert "Evidence that supports this principle" in two and "Evidence for principle two." in two
    one = text(client.get("/principles/1/history"))
    assert "Evidence for principle two." not in one and "No published evidence is linked to this principle yet." in one


def test_upload_accept_list_comes_from_the_uploads_module(client, make_call):
    """The file field's accept= is the uploads module's allowed types, not a list written in the template."""
    call = make_call()
    page = text(client.get(f"/evidence/calls/{call.id}/submit"))
    assert f'accept="{uploads.ACCEPT}"' in page
    assert uploads.ACCEPT.split(",") == [f".{kind}" for kind in uploads.KINDS] + list(uploads.KINDS.values())


def test_submission_status_predicates():
    """What the library and the review queue ask a submission instead of comparing its status's value."""
    assert Submission(status=ReviewStatus.FEATURED).is_featured
    assert not Submission(status=ReviewStatus.REVIEWED).is_featured
    assert Submission(status=ReviewStatus.NEW).awaiting_review
    assert not Submission(status=ReviewStatus.REVIEWED).awaiting_review


# --- Staff: the review queue, a submission, files, CSV -------------------------------------------

def test_staff_queue_filters_and_htmx_partial(client, as_role, make_call, uploads_dir, reviewer):
    """Staff see every submission (private ones too) and can filter; htmx gets the table fragment."""
    call = make_call()
    a = add_evidence(call, name="Ada Lovelace", topics=["trends"], publication=Publication.PRIVATE)
    b = add_evidence(call, name="Bob Babbage", topics=["scale_fail"])
    services.review(reviewer, b, status=ReviewStatus.FEATURED, tags=["case study"], principle_ids=[], notes="")
    db.session.commit()
    as_role("staff")
    body = text(client.get("/staff/evidence/"))
    assert a.reference in body and b.reference in body and "2 submissions" in body
    assert b.reference not in text(client.get("/staff/evidence/?status=new"))
    filtered = text(client.get("/staff/evidence/?topic=scale_fail"))
    assert b.reference in filtered and a.reference not in filtered
    assert a.reference in text(client.get("/staff/evidence/?q=lovelace")) and \
        b.reference not in text(client.get("/staff/evidence/?q=lovelace"))
    assert b.reference in text(client.get("/staff/evidence/?tag=case+study"))
    fragment = client.get("/staff/evidence/?q=babbage", headers=HX)
    part = text(fragment)
    assert part.lstrip().startswith('<div id="evidence-table"') and "<html" not in part
    assert b.reference in part and a.reference not in part and "1 submission" in part


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_review_saves_status_tags_principles_and_audits(client, as_role, make_call, uploads_dir, role):
    """The review form saves status, tags, principles and notes, audits it, and the library shows the links."""
    call = make_call()
    submission = add_evidence(call)
    staff = as_role(role)
    page = text(client.get(f"/staff/evidence/{submission.id}"))
    assert submission.text in page and "ada@example.org" in page
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    response = client.post_form(f"/staff/evidence/{submission.id}", {
        "status": "featured", "tags": "Case study, data", "principles": [str(principles[1].id), str(principles[4].id)],
        "notes": "Use in the report."})
    assert response.status_code == 303 and response.headers["Location"] == f"/staff/evidence/{submission.id}"
    stored = db.session.get(Submission, submission.id)
    assert stored.status == ReviewStatus.FEATURED and stored.tags == ["case study", "data"]
    assert [p.number for p in stored.principles] == [2, 5] and stored.notes == "Use in the report."
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "evidence.review"))
    assert entry.actor_id == staff.id and entry.target_id == submission.id
    library = text(client.get("/evidence/library"))
    assert "Featured" in library and f"{principles[1].number}. {principles[1].short_name}" in library
    invalid = client.post_form(f"/staff/evidence/{submission.id}", {"status": "binned"})
    assert "There is a problem" in text(invalid)
    assert db.session.get(Submission, submission.id).status == ReviewStatus.FEATURED


@pytest.mark.parametrize("role, expected", [("anonymous", 302), ("unconfirmed", 403), ("member", 403),
                                            ("staff", 200), ("admin", 200)])
def test_file_download_is_for_staff_only_and_always_an_attachment(client, as_role, make_call, uploads_dir, role,
                                                                  expected):
    """Staff download the document as an attachment; members are refused; anonymous visitors sign in first."""
    call = make_call()
    data = pdf_bytes()
    submission = add_evidence(call, upload=FileStorage(io.BytesIO(data), filename="evidence.pdf"))
    as_role(role)
    response = client.get(f"/staff/evidence/{submission.id}/file")
    assert response.status_code == expected
    if expected == 200:
        assert response.headers["Content-Disposition"] == f"attachment; filename={submission.reference}.pdf"
        assert response.mimetype == "application/pdf" and response.data == data
    elif expected == 302:
        assert response.headers["Location"].startswith("/auth/login")
    else:
        assert response.data != data


def test_file_download_of_a_submission_without_a_file_is_404(client, as_role, make_call, uploads_dir):
    """No file, no download."""
    submission = add_evidence(make_call())
    as_role("staff")
    assert client.get(f"/staff/evidence/{submission.id}/file").status_code == 404
    assert client.get("/staff/evidence/999999/file").status_code == 404


def test_staff_evidence_csv_is_filtered_and_audited(client, as_role, make_call, uploads_dir):
    """The CSV holds the filtered submissions and its download is written to the audit log."""
    call = make_call()
    add_evidence(call, name="Trend Person", topics=["trends"])
    add_evidence(call, name="Scale Person", topics=["scale_fail"])
    staff = as_role("staff")
    response = client.get("/staff/evidence.csv?topic=trends")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=evidence-")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["name"] for r in rows] == ["Trend Person"] and rows[0]["topics"] == "trends"
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "evidence.export"))
    assert entry.actor_id == staff.id


# --- Staff: calls and survey results ----------------------------------------------------------

def call_form(**overrides) -> dict:
    """A valid call form with London wall-clock times (a July deadline: British Summer Time)."""
    data = {"title": "Keep it Local 2030", "introduction": "Tell us.", "asks": "Evidence.",
            "opens_at-day": "1", "opens_at-month": "7", "opens_at-year": str(NEXT_YEAR), "opens_at-time": "09:00",
            "survey_closes_at-day": "17", "survey_closes_at-month": "7", "survey_closes_at-year": str(NEXT_YEAR),
            "survey_closes_at-time": "23:59",
            "written_closes_at-day": "31", "written_closes_at-month": "7", "written_closes_at-year": str(NEXT_YEAR),
            "written_closes_at-time": "23:59"}
    data.update(overrides)
    return data


def test_staff_create_a_call_in_london_time(client, as_role):
    """A new call's times are read as Europe/London and stored in UTC; the creation is audited."""
    staff = as_role("staff")
    assert "Create a call for evidence" in text(client.get("/staff/evidence/calls/new"))
    response = client.post_form("/staff/evidence/calls/new", call_form())
    assert response.status_code == 303 and response.headers["Location"] == "/staff/evidence/calls/"
    call = db.session.scalar(sa.select(Call))
    assert call.survey_closes_at == london_to_utc(datetime(NEXT_YEAR, 7, 17, 23, 59))
    assert (call.survey_closes_at.hour, call.survey_closes_at.minute) == (22, 59)
    assert call.written_closes_at == london_to_utc(datetime(NEXT_YEAR, 7, 31, 23, 59))
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "call.create")).actor_id == staff.id
    listing = text(client.get("/staff/evidence/calls/"))
    assert "Keep it Local 2030" in listing and f"17 July {NEXT_YEAR}, 11:59pm" in listing


@pytest.mark.parametrize("overrides, message", [
    ({"survey_closes_at-day": "30", "survey_closes_at-month": "6"}, "The survey deadline must be after the call opens"),
    ({"written_closes_at-day": "1", "written_closes_at-time": "08:00"},
     "The written evidence deadline must be after the call opens"),
    ({**{f"survey_closes_at-{p}": "" for p in ("day", "month", "year", "time")},
      **{f"written_closes_at-{p}": "" for p in ("day", "month", "year", "time")}},
     "Give a deadline for the survey, the written evidence, or both"),
    ({"opens_at-day": "", "opens_at-month": "", "opens_at-year": "", "opens_at-time": ""}, "Enter when the call opens"),
], ids=["survey-before-opening", "written-before-opening", "no-deadline", "no-opening"])
def test_staff_call_validation(client, as_role, overrides, message):
    """A deadline before the opening, or neither deadline, is refused and nothing stored."""
    as_role("staff")
    response = client.post_form("/staff/evidence/calls/new", call_form(**overrides))
    body = text(response)
    assert "There is a problem" in body and message in body
    assert count(Call) == 0


def test_staff_call_shows_every_deadline_problem_at_once(client, as_role):
    """Both deadlines before the opening: both messages on the one page, as the form always showed."""
    as_role("staff")
    response = client.post_form("/staff/evidence/calls/new", call_form(
        **{"survey_closes_at-day": "30", "survey_closes_at-month": "6",
           "written_closes_at-day": "1", "written_closes_at-time": "08:00"}))
    body = text(response)
    assert "The survey deadline must be after the call opens" in body
    assert "The written evidence deadline must be after the call opens" in body
    assert count(Call) == 0


def test_staff_edit_a_call(client, as_role, make_call):
    """Editing shows the current London times, saves changes, audits them, and refuses a bad deadline."""
    call = make_call("Old title")
    as_role("staff")
    page = text(client.get(f"/staff/evidence/calls/{call.id}/edit"))
    assert 'value="Old title"' in page
    response = client.post_form(f"/staff/evidence/calls/{call.id}/edit", call_form(title="New title"))
    assert response.status_code == 303
    db.session.expire_all()
    stored = db.session.get(Call, call.id)
    assert stored.title == "New title" and stored.opens_at == london_to_utc(datetime(NEXT_YEAR, 7, 1, 9, 0))
    assert count(AuditLog, AuditLog.action == "call.update") == 1
    bad = client.post_form(f"/staff/evidence/calls/{call.id}/edit",
                           call_form(title="Bad", **{"survey_closes_at-month": "6"}))
    assert "The survey deadline must be after the call opens" in text(bad)
    db.session.expire_all()
    assert db.session.get(Call, call.id).title == "New title"


def test_staff_calls_list_counts_responses(client, as_role, make_call, uploads_dir):
    """The calls list shows each call with its survey and written counts and a results link."""
    call = make_call()
    services.submit_survey(call, full_answers(str(region_id("London"))))
    add_evidence(call)
    add_evidence(call)
    db.session.commit()
    as_role("staff")
    body = text(client.get("/staff/evidence/calls/"))
    assert f'href="/staff/evidence/calls/{call.id}/survey-results">1<' in body
    assert '<td data-label="Written submissions">2</td>' in body


def test_survey_results_filters_htmx_and_csv(client, as_role, make_call):
    """Results count every submitted response; type and region filters narrow them; the CSV lists them."""
    call = make_call()
    london, wales = str(region_id("London")), str(region_id("Wales"))
    first = services.submit_survey(call, full_answers(london))
    services.submit_survey(call, full_answers(wales, contract_size="over_1m"))
    services.submit_survey(call, {"delivers": "no", "delivered_before": "no", "would_like": "no",
                                  "council_role": "councillor", "commissioning_practice": "large",
                                  "what_would_help": "Trust.", "region": wales})
    db.session.commit()
    as_role("staff")
    url = f"/staff/evidence/calls/{call.id}/survey-results"
    body = text(client.get(url))
    assert "3 responses" in body and first.reference in body
    assert re.search(r"<th scope=\"row\">Under £100,000</th>\s*<td>1</td>", body)
    councillors = text(client.get(f"{url}?type=councillor"))
    assert "1 response<" in councillors and first.reference not in councillors
    in_wales = text(client.get(f"{url}?region={wales}"))
    assert "2 responses" in in_wales and first.reference not in in_wales
    assert re.search(r"<th scope=\"row\">Over £1 million</th>\s*<td>1</td>", in_wales)
    fragment = text(client.get(f"{url}?region={london}", headers=HX))
    assert fragment.lstrip().startswith('<div id="survey-results"') and "1 response<" in fragment
    exported = client.get(f"/staff/evidence/calls/{call.id}/survey.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert len(rows) == 3 and {r["respondent_type"] for r in rows} == {"delivers_contracts", "councillor"}
    assert rows[0]["barriers"] == "size;price"


# --- Councils and pledges ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_councils_page_groups_verified_pledges_by_region_with_counts(client, as_role, make_user, reviewer, role):
    """Only verified pledges are listed, grouped by region with counts; pending ones are not shown."""
    for gss in (BRISTOL, LEEDS, CARDIFF):
        make_pledge(make_user(email=f"cllr-{gss}@example.org", member_type="councillor", gss_code=gss), gss,
                    PledgeStatus.VERIFIED, reviewer)
    make_pledge(make_user(email="cllr-hackney@example.org", member_type="councillor", gss_code=HACKNEY), HACKNEY)
    as_role(role)
    body = text(client.get("/councils/"))
    assert "3 councils in England and Wales have pledged" in body
    for heading in ("South West (1)", "Yorkshire and The Humber (1)", "Wales (1)"):
        assert heading in body
    assert "City of Bristol" in body and "Leeds" in body and "Cardiff" in body
    assert "Hackney" not in body and "London (" not in body
    wales_total = count(LocalAuthority, LocalAuthority.region_id == region_id("Wales"))
    assert f"1 of {wales_total} councils" in body
    # Each region's bar is its share of the region's councils (1 of 22 is 5%, not a full bar).
    bars = re.findall(r'bars__bar--support" width="(\d+)"', body)
    assert str(round(100 / wales_total)) in bars and "100" not in bars


@pytest.mark.parametrize("role", ROLES)
def test_council_page_shows_pledge_only_when_verified_and_members_to_members(client, as_role, make_user, reviewer,
                                                                             role):
    """The pledge appears once verified; listed members from the council are named to signed-in members only."""
    cllr = make_user(email="cllr@example.org", name="Cllr Jane Smith", member_type="councillor", gss_code=BRISTOL)
    make_user(email="hidden@example.org", name="Unlisted Person", gss_code=BRISTOL, show_in_directory=False)
    make_user(email="leeds@example.org", name="Leeds Person", gss_code=LEEDS)
    pledge = make_pledge(cllr)
    as_role(role)
    body = text(client.get(f"/councils/{BRISTOL}"))
    assert "City of Bristol has not pledged to Keep it Local yet." in body and "Cabinet decision 12/2025" not in body
    councils.review_pledge(reviewer, pledge, PledgeStatus.VERIFIED)
    db.session.commit()
    body = text(client.get(f"/councils/{BRISTOL}"))
    assert "Pledged" in body and "Cabinet decision 12/2025" in body and "1 February 2025" in body
    assert "Unlisted Person" not in body and "Leeds Person" not in body
    if role in ("member", "staff", "admin"):
        assert "Cllr Jane Smith" in body and "Rae Reviewer" in body
    else:  # the councillor and the reviewer are listed; an unconfirmed member is not
        assert "Cllr Jane Smith" not in body and "2 members listed in the directory" in body
    assert client.get("/councils/E99999999").status_code == 404


def test_pledge_page_requires_a_confirmed_sign_in(client, as_role):
    """Anonymous visitors are sent to sign in; unconfirmed members are told to confirm first."""
    response = client.get(f"/councils/{BRISTOL}/pledge")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    as_role("unconfirmed")
    response = client.get(f"/councils/{BRISTOL}/pledge")
    assert response.status_code == 302 and response.headers["Location"] == "/account/"


@pytest.mark.parametrize("member_type, gss", [("councillor", LEEDS), ("community_organisation", BRISTOL),
                                              ("academic", BRISTOL)],
                                              ids=["other-council", "community-org", "academic"])
def test_pledge_refused_for_the_wrong_council_or_member_type(client, auth, make_user, member_type, gss):
    """The page explains who can pledge and shows no form; a POST anyway stores nothing."""
    make_user(email="someone@example.org", member_type=member_type, gss_code=gss)
    auth.login("someone@example.org")
    page = text(client.get(f"/councils/{BRISTOL}/pledge"))
    assert "Only councillors, commissioners and council officers of City of Bristol can submit its pledge" in page
    assert f'action="/councils/{BRISTOL}/pledge"' not in page
    response = client.post_form(f"/councils/{BRISTOL}/pledge", pledge_form())
    assert "Only councillors, commissioners and council officers" in text(response)
    assert count(Pledge) == 0


def test_valid_pledge_is_pending_until_staff_verify_it(client, auth, make_user, reviewer):
    """A councillor's pledge is stored pending, not public; once verified it is listed."""
    cllr = make_user(email="cllr@example.org", member_type="councillor", gss_code=BRISTOL)
    auth.login("cllr@example.org")
    council_page = text(client.get(f"/councils/{BRISTOL}"))
    assert f'href="/councils/{BRISTOL}/pledge"' in council_page
    assert f'action="/councils/{BRISTOL}/pledge"' in text(client.get(f"/councils/{BRISTOL}/pledge"))
    response = client.post_form(f"/councils/{BRISTOL}/pledge", pledge_form())
    assert response.status_code == 303 and response.headers["Location"] == f"/councils/{BRISTOL}"
    pledge = db.session.scalar(sa.select(Pledge))
    assert pledge.status == PledgeStatus.PENDING and pledge.submitted_by_id == cllr.id
    assert pledge.pledged_on == date(2025, 3, 27) and pledge.signed_by == SignedBy.LEADER_AND_CHIEF_EXECUTIVE
    assert "Sam Jones, Chief Executive" not in text(client.get(f"/councils/{BRISTOL}"))
    assert "City of Bristol" not in text(client.get("/councils/"))
    again = text(client.get(f"/councils/{BRISTOL}/pledge"))
    assert "waiting for staff" in again and f'action="/councils/{BRISTOL}/pledge"' not in again
    councils.review_pledge(reviewer, pledge, PledgeStatus.VERIFIED)
    db.session.commit()
    assert "Sam Jones, Chief Executive" in text(client.get(f"/councils/{BRISTOL}"))
    assert "City of Bristol" in text(client.get("/councils/"))


@pytest.mark.parametrize("overrides, message", [
    ({"pledged_on-year": str(NEXT_YEAR)}, "The pledge date cannot be in the future"),
    ({"signatories": ""}, "Enter who signed the pledge, or the cabinet decision"),
    ({"champions": ""}, "Name at least one Keep it Local champion"),
    ({"pledged_on-day": "31", "pledged_on-month": "2"}, "Date of the pledge must be a real date"),
])
def test_invalid_pledge_is_refused(client, auth, make_user, overrides, message):
    """A future date or missing details: an error beside the field, nothing stored."""
    make_user(email="cllr@example.org", member_type="council_officer", gss_code=BRISTOL)
    auth.login("cllr@example.org")
    body = text(client.post_form(f"/councils/{BRISTOL}/pledge", pledge_form(**overrides)))
    assert "There is a problem" in body and message in body
    assert count(Pledge) == 0


@pytest.mark.parametrize("decision", ["verified", "rejected"])
def test_staff_verify_or_reject_pledges(client, as_role, make_user, decision):
    """Staff see pending pledges, decide, and the decision is audited and shown (or not) publicly."""
    cllr = make_user(email="cllr@example.org", name="Cllr Jane Smith", member_type="councillor", gss_code=BRISTOL)
    pledge = make_pledge(cllr)
    staff = as_role("staff")
    queue = text(client.get("/staff/pledges/?status=pending"))
    assert "City of Bristol" in queue and f'action="/staff/pledges/{pledge.id}"' in queue
    response = client.post_form(f"/staff/pledges/{pledge.id}", {"decision": decision, "note": "Rang the council."})
    assert response.status_code == 303 and response.headers["Location"] == "/staff/pledges/"
    stored = db.session.get(Pledge, pledge.id)
    assert stored.status == PledgeStatus(decision) and stored.verified_by_id == staff.id
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == f"pledge.{decision}"))
    assert entry.actor_id == staff.id and entry.details["note"] == "Rang the council."
    assert f'action="/staff/pledges/{pledge.id}"' not in text(client.get("/staff/pledges/"))  # shows the flash
    public = text(client.get("/councils/"))
    assert ("City of Bristol" in public) is (decision == "verified")
    if decision == "rejected":
        assert councils.pledge_error(cllr, la(BRISTOL)) is None  # they may submit again


def test_staff_pledge_decision_must_be_verify_or_reject(client, as_role, make_user):
    """A POST without a valid decision changes nothing."""
    pledge = make_pledge(make_user(email="cllr@example.org", member_type="councillor", gss_code=BRISTOL))
    as_role("staff")
    for data in ({}, {"decision": "pending"}):
        response = client.post_form(f"/staff/pledges/{pledge.id}", data)
        assert response.status_code == 422  # the queue again, the note kept (issue 12)
    assert db.session.get(Pledge, pledge.id).status == PledgeStatus.PENDING
    assert [e.action for e in db.session.scalars(sa.select(AuditLog))] == ["pledge.submit"]  # no decision


# --- Access: members never reach staff routes -----------------------------------------------------

@pytest.mark.parametrize("role", ["anonymous", "unconfirmed", "member"])
def test_staff_routes_are_refused_to_everyone_but_staff(client, as_role, make_call, make_user, uploads_dir, role):
    """Members get 403 on every staff GET and POST, anonymous visitors are sent to sign in; nothing changes."""
    call = make_call("Original")
    submission = add_evidence(call)
    pledge = make_pledge(make_user(email="cllr@example.org", member_type="councillor", gss_code=BRISTOL))
    as_role(role)
    gets = ["/staff/evidence/", f"/staff/evidence/{submission.id}", f"/staff/evidence/{submission.id}/file",
            "/staff/evidence.csv", "/staff/evidence/calls/", "/staff/evidence/calls/new",
            f"/staff/evidence/calls/{call.id}/edit", f"/staff/evidence/calls/{call.id}/survey-results",
            f"/staff/evidence/calls/{call.id}/survey.csv", "/staff/pledges/"]
    posts = [(f"/staff/evidence/{submission.id}", {"status": "featured", "tags": "x"}),
             ("/staff/evidence/calls/new", call_form()),
             (f"/staff/evidence/calls/{call.id}/edit", call_form(title="Hijacked")),
             (f"/staff/pledges/{pledge.id}", {"decision": "verified"})]
    for url in gets:
        response = client.get(url)
        if role == "anonymous":
            assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login"), url
        else:
            assert response.status_code == 403, url
    for url, data in posts:
        response = client.post_form(url, data)
        assert response.status_code == (302 if role == "anonymous" else 403), url
    db.session.expire_all()
    assert db.session.get(Submission, submission.id).status == ReviewStatus.NEW
    assert db.session.get(Call, call.id).title == "Original" and count(Call) == 1
    assert db.session.get(Pledge, pledge.id).status == PledgeStatus.PENDING
    assert [e.action for e in db.session.scalars(sa.select(AuditLog))] == ["pledge.submit"]  # only the member's


# --- No N+1 -------------------------------------------------------------------------------------

def test_query_count_does_not_grow_with_data(client, as_role, make_call, make_user, uploads_dir, reviewer):
    """The library, the staff queue, the councils page and the survey results issue as many queries for 4N rows as N."""
    as_role("staff")
    call = make_call()
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    region_ids = db.session.scalars(sa.select(Region.id).order_by(Region.id)).all()
    councils_list = db.session.scalars(sa.select(LocalAuthority).order_by(LocalAuthority.gss_code)).all()
    made = {"n": 0}

    def add(n):
        """n more submissions (reviewed, tagged, linked to principles), survey responses and verified pledges."""
        for _ in range(n):
            i = made["n"]
            made["n"] += 1
            submission = add_evidence(call, name=f"Person {i}", topics=["trends", "scale_fail"][: 1 + i % 2],
                                      publication=[Publication.NAMED, Publication.ANONYMOUS][i % 2],
                                      local_authority=councils_list[i])
            services.review(reviewer, submission, status=ReviewStatus.REVIEWED, tags=[f"tag {i}", "common"],
                            principle_ids=[principles[i % 6].id, principles[(i + 1) % 6].id], notes="")
            services.submit_survey(call, full_answers(str(region_ids[i % len(region_ids)])))
            council = councils_list[i * 7]
            cllr = make_user(email=f"cllr{i}@example.org", member_type="councillor", gss_code=council.gss_code)
            make_pledge(cllr, council.gss_code, PledgeStatus.VERIFIED, reviewer)
        db.session.commit()

    urls = ["/evidence/library", "/staff/evidence/", "/councils/", f"/staff/evidence/calls/{call.id}/survey-results",
            f"/councils/{councils_list[0].gss_code}"]
    add(2)
    small = {url: queries_for(client, url) for url in urls}
    add(6)
    large = {url: queries_for(client, url) for url in urls}
    assert count(Submission) == 8 and count(SurveyResponse) == 8 and count(Pledge) == 8
    assert "8 pieces of evidence" in text(client.get("/evidence/library"))
    assert "8 councils in England and Wales" in text(client.get("/councils/"))
    assert large == small
