"""The call for evidence and council pledges in Chromium.

(a) A visitor takes the survey one question per page, reaches "check your answers", changes one
    answer through its change link and comes back, submits, and gets a KIL-S- reference.
(b) A member sends written evidence with a small PDF; the real mail worker delivers the
    acknowledgement with the reference to the SMTP capture server.
(c) Staff review it: tags and principle 2; it then appears on principle 2's page, anonymised
    as asked (a named submission shows its name; one not for publication never shows).
(d) A council officer submits their council's pledge; staff verify it; it is then listed on
    /councils/.

Screenshots go to test-artifacts/ (gitignored).
"""
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from kil_network.auth.models import MemberType, User
from kil_network.core.timeutil import utcnow
from kil_network.evidence import services, uploads
from kil_network.evidence.models import Call, Publication, ReviewStatus, Submission, SurveyResponse
from kil_network.extensions import db
from tests.support.browser import shot, sign_in
from tests.support.mail import email_text

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PASSWORD = "correct horse battery"
BRISTOL = "E06000023"
# A minimal but well-formed one-page PDF.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


def flash(page):
    """The flashed message at the top of main."""
    return page.locator("main > .notice")


def make_call():
    """A call whose survey and written evidence are both open."""
    now = utcnow()
    call = Call(title="How are public services commissioned where you are?",
                introduction="Tell us how commissioning works in your area.", asks="Evidence on the four topics.",
                opens_at=now - timedelta(days=3), survey_closes_at=now + timedelta(days=14),
                written_closes_at=now + timedelta(days=28))
    db.session.add(call)
    db.session.commit()
    return call


def answer(page, question: str, *choices: str, text: str | None = None, select: str | None = None) -> None:
    """Answer the question on this page (checking its heading) and press Continue."""
    expect(page.get_by_role("heading", level=1)).to_have_text(question)
    for choice in choices:
        page.get_by_label(choice, exact=True).check()
    if text is not None:
        page.get_by_label(question).fill(text)
    if select is not None:
        page.get_by_label(question).select_option(label=select)
    page.get_by_role("button", name="Continue").click()


def check_row(page, question: str):
    """The row of 'check your answers' for a question."""
    return page.locator(".summary-list__row", has=page.locator("dt", has_text=question))


def test_visitor_completes_the_survey_with_a_change(page, app):
    """Question by question to check your answers; one change link and back; a KIL-S- reference."""
    call = make_call()
    page.goto(f"/evidence/calls/{call.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(call.title)
    page.get_by_role("link", name="Start the survey").click()
    page.get_by_role("link", name="Start now").click()

    answer(page, "Are you a community organisation that delivers public service contracts?", "Yes")
    # The back link returns to the question before, with the answer kept.
    page.get_by_role("link", name="Back").click()
    expect(page.get_by_label("Yes", exact=True)).to_be_checked()
    page.get_by_role("button", name="Continue").click()
    # Continuing without a choice shows the GOV.UK error summary.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Do you work in commissioning or procurement, or are you an elected councillor?")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("[data-error-summary]")).to_contain_text("Select an option")
    shot(page, "survey-error")
    answer(page, "Do you work in commissioning or procurement, or are you an elected councillor?", "Neither")
    answer(page, "What is the annual value of the largest public service contract you hold?", "£100,000 to £500,000")
    answer(page, "How long is that contract?", "1 to 3 years")
    answer(page, "Which barriers have you met when bidding for public service contracts?",
           "Contracts too large for us", "Payment by results")
    answer(page, "What has been your experience of large contracts in your area?",
           text="A prime contractor passed us the hardest cases at half the price.")
    answer(page, "What would help councils commission more from local community organisations?",
           text="Smaller lots and grants that last three years.")
    answer(page, "Which region do you mostly work in?", select="North West")

    # Check your answers, then change one answer and come straight back.
    expect(page).to_have_url(re.compile(rf"/evidence/calls/{call.id}/survey/check$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before you submit")
    size = "What is the annual value of the largest public service contract you hold?"
    expect(check_row(page, size).locator("dd").first).to_have_text("£100,000 to £500,000")
    expect(check_row(page, "Which barriers have you met")).to_contain_text(
        "Contracts too large for us, Payment by results")
    expect(check_row(page, "Which region do you mostly work in?")).to_contain_text("North West")
    shot(page, "survey-check")
    check_row(page, size).get_by_role("link", name=re.compile(r"^Change")).click()
    expect(page).to_have_url(re.compile(r"/survey/contract_size\?change=1$"))
    expect(page.get_by_label("£100,000 to £500,000", exact=True)).to_be_checked()
    answer(page, size, "Over £1 million")
    expect(page).to_have_url(re.compile(rf"/evidence/calls/{call.id}/survey/check$"))
    expect(check_row(page, size).locator("dd").first).to_have_text("Over £1 million")
    expect(check_row(page, "How long is that contract?").locator("dd").first).to_have_text("1 to 3 years")

    page.get_by_role("button", name="Submit your answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Survey submitted")
    reference = page.locator(".reference").inner_text().strip()
    assert re.fullmatch(r"KIL-S-[A-Z2-9]{6}", reference), reference
    shot(page, "survey-done")

    db.session.expire_all()
    response = db.session.scalar(sa.select(SurveyResponse).where(SurveyResponse.reference == reference))
    assert response is not None and response.status == "submitted" and response.user_id is None
    assert response.answers["contract_size"] == "over_1m"
    assert response.answers["barriers"] == ["size", "payment_by_results"]
    assert response.respondent_type == "delivers_contracts"
    # The answers were cleared from the browser: starting again starts afresh.
    page.goto(f"/evidence/calls/{call.id}/survey")
    expect(page.get_by_role("link", name="Start now")).to_be_visible()
    assert page.js_errors == []


def test_written_evidence_with_file_acknowledged_reviewed_and_on_principle_page(page, browser, live_server,
                                                                                make_user, live_smtp):
    """A member sends evidence with a PDF, is emailed the reference; staff link it to principle 2."""
    call = make_call()
    make_user(email="staff@example.org", name="Sam Staff", role="staff")
    rosa = make_user(email="rosa@example.org", name="Rosa Lindqvist", organisation="Avon Advice Network")
    live_smtp.clear()

    # Two other submissions linked to principle 2: one named, one not for publication.
    named = services.submit_evidence(
        call, name="Dev Patel", email="dev@example.org", organisation="Northern Think Tank",
        respondent_type=MemberType.THINK_TANK, local_authority=None, topics=["trends"],
        text="Named evidence: neighbourhood teams cut repeat visits by a third.", publication=Publication.NAMED)
    private = services.submit_evidence(
        call, name="Pat Quiet", email="pat@example.org", organisation="Quiet Trust",
        respondent_type=MemberType.COMMUNITY_ORGANISATION, local_authority=None, topics=["trends"],
        text="Private evidence that must never be shown.", publication=Publication.PRIVATE)

    staff_user = db.session.scalar(sa.select(User).where(User.email == "staff@example.org"))
    for item in (named, private):  # reviewed: the library lists only what staff have reviewed
        services.review(staff_user, item, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[2], notes="")
    db.session.commit()

    # --- The member sends written evidence with a PDF -----------------------------------------
    sign_in(page, "rosa@example.org")
    page.goto(f"/evidence/calls/{call.id}")
    page.get_by_role("link", name="Submit evidence").click()
    expect(page).to_have_url(re.compile(rf"/evidence/calls/{call.id}/submit$"))
    # The member's details are filled in.
    expect(page.get_by_label("Your name", exact=True)).to_have_value("Rosa Lindqvist")
    expect(page.get_by_label("Email address", exact=True)).to_have_value("rosa@example.org")
    expect(page.get_by_label("Organisation (optional)", exact=True)).to_have_value("Avon Advice Network")
    council = page.get_by_role("combobox", name="Council area (optional)")  # the type-ahead enhancement
    expect(council).to_have_value("Bristol, City of")
    expect(page.locator("select[data-autocomplete]")).to_have_value(BRISTOL)
    page.get_by_label("Examples of ‘scale fail’", exact=False).check()
    page.get_by_label("The role of community organisations", exact=False).check()
    evidence_text = ("When the advice contract was let as one county-wide lot, the local advice centres lost it. "
                     "Waiting times doubled within a year.")
    page.get_by_label("Your evidence", exact=True).fill(evidence_text)
    page.get_by_label("Attach a document (optional)").set_input_files(
        {"name": "advice-evidence.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.get_by_label("Publish it anonymously", exact=True).check()
    shot(page, "evidence-form")
    page.get_by_role("button", name="Send your evidence").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Evidence received")
    reference = page.locator(".reference").inner_text().strip()
    assert re.fullmatch(r"KIL-E-[A-Z2-9]{6}", reference), reference
    shot(page, "evidence-received")

    message = live_smtp.wait_for(lambda m: "rosa@example.org" in m.envelope_to)
    assert reference in str(message["Subject"])
    body = email_text(message)
    assert reference in body
    assert "Attached document: advice-evidence.pdf" in body
    assert "publish it anonymously" in body

    db.session.expire_all()
    submission = db.session.scalar(sa.select(Submission).where(Submission.reference == reference))
    assert submission.file_kind == "pdf" and submission.file_size == len(PDF)
    assert submission.user_id == rosa.id
    stored = uploads.path_for(submission.file_key)
    try:
        assert stored.read_bytes() == PDF

        # --- Staff review it: tags and principle 2 ----------------------------------------------
        staff_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
        try:
            staff = staff_context.new_page()
            errors = []
            staff.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(staff, "staff@example.org")
            staff.goto("/staff/evidence/")
            staff.get_by_role("link", name=reference).click()
            expect(staff).to_have_url(re.compile(rf"/staff/evidence/{submission.id}$"))
            expect(staff.get_by_role("heading", level=1)).to_have_text(f"Evidence {reference}")
            expect(staff.locator("main")).to_contain_text("Rosa Lindqvist")  # staff see who sent it
            expect(staff.get_by_role("link", name="Download advice-evidence.pdf")).to_be_visible()
            expect(staff.locator("main")).to_contain_text(f"(PDF, {len(PDF)} Bytes)")
            staff.get_by_label("Reviewed", exact=True).check()
            staff.get_by_label("Tags (separated by commas)").fill("Advice, scale fail")
            staff.get_by_role("group", name="Principles this evidence supports").get_by_label(
                re.compile(r"^2\. ")).check()
            staff.get_by_label("Notes (staff only)").fill("Strong example for the Bristol case study.")
            staff.get_by_role("button", name="Save the review").click()
            expect(flash(staff)).to_contain_text(f"Review of {reference} saved")
            expect(staff.get_by_label("Tags (separated by commas)")).to_have_value("advice, scale fail")
            expect(staff.get_by_role("group", name="Principles this evidence supports").get_by_label(
                re.compile(r"^2\. "))).to_be_checked()
            shot(staff, "evidence-staff-review")
            assert errors == []
        finally:
            staff_context.close()

        # --- It appears on principle 2's page, anonymised as asked ------------------------------
        page.goto("/principles/2/history")
        section = page.get_by_role("region", name="Evidence that supports this principle")
        items = section.locator("article")
        expect(items).to_have_count(2)
        ours = items.filter(has_text="Waiting times doubled")
        expect(ours.get_by_role("heading")).to_have_text("Anonymous")
        expect(section).not_to_contain_text("Rosa Lindqvist")
        expect(section).not_to_contain_text("Avon Advice Network")
        expect(items.filter(has_text="neighbourhood teams").get_by_role("heading")).to_have_text(
            "Dev Patel, Northern Think Tank")
        expect(section).not_to_contain_text("Private evidence")
        shot(page, "principle-2-evidence")
        # Principle 1 has none of it.
        page.goto("/principles/1/history")
        supporting = page.get_by_role("region", name="Evidence that supports this principle")
        expect(supporting.locator("article")).to_have_count(0)
        assert page.js_errors == []
    finally:
        stored.unlink(missing_ok=True)
        for other in (named, private):
            if other.file_key:
                uploads.path_for(other.file_key).unlink(missing_ok=True)


def test_council_officer_pledges_and_staff_verify(page, browser, live_server, make_user):
    """A council officer of Bristol submits its pledge; staff verify it; /councils/ lists it."""
    make_user(email="staff@example.org", name="Sam Staff", role="staff")
    make_user(email="olu@example.org", name="Olu Adeyemi", member_type="council_officer", gss_code=BRISTOL,
              organisation="", job_title="Head of Commissioning")

    # Nobody has pledged yet.
    page.goto("/councils/")
    expect(page.locator("main")).not_to_contain_text("City of Bristol")

    sign_in(page, "olu@example.org")
    page.goto(f"/councils/{BRISTOL}")
    expect(page.get_by_role("heading", level=1)).to_have_text("City of Bristol")
    expect(page.locator("main")).to_contain_text("has not pledged to Keep it Local yet")
    page.get_by_role("link", name="Submit your council's pledge").click()
    expect(page).to_have_url(re.compile(rf"/councils/{BRISTOL}/pledge$"))
    page.get_by_label("Signed by the council leader and the chief executive", exact=True).check()
    page.get_by_label("Names and roles of who signed, or the decision reference").fill(
        "Cllr Tony Dyer, Leader; Stephen Peacock, Chief Executive")
    pledged = date.today() - timedelta(days=10)
    group = page.get_by_role("group", name="Date of the pledge")
    group.get_by_label("Day", exact=True).fill(str(pledged.day))
    group.get_by_label("Month", exact=True).fill(str(pledged.month))
    group.get_by_label("Year", exact=True).fill(str(pledged.year))
    page.get_by_label("The council's Keep it Local champions").fill("Cllr Heather Mack\nOlu Adeyemi")
    shot(page, "pledge-form")
    page.get_by_role("button", name="Submit the pledge").click()
    expect(page).to_have_url(re.compile(rf"/councils/{BRISTOL}$"))
    expect(flash(page)).to_contain_text("Campaign staff will check the pledge")
    # Not public until staff verify it.
    expect(page.locator("main")).to_contain_text("has not pledged to Keep it Local yet")
    expect(page.get_by_role("link", name="Submit your council's pledge")).to_have_count(0)
    page.goto("/councils/")
    expect(page.locator("main")).not_to_contain_text("City of Bristol")

    # Staff verify it.
    staff_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        staff = staff_context.new_page()
        sign_in(staff, "staff@example.org")
        staff.goto("/staff/pledges/")
        card = staff.get_by_role("region", name=re.compile("City of Bristol"))
        expect(card).to_contain_text("Pending")
        expect(card).to_contain_text("Cllr Tony Dyer, Leader")
        expect(card).to_contain_text("Olu Adeyemi")
        card.get_by_label("Verify and publish", exact=True).check()
        card.get_by_label("Note (kept in the audit log)").fill("Checked against the cabinet minutes.")
        card.get_by_role("button", name="Save decision on City of Bristol").click()
        expect(flash(staff)).to_contain_text("The pledge of City of Bristol is verified")
        expect(staff.get_by_role("region", name=re.compile("City of Bristol"))).to_contain_text("Verified")
        shot(staff, "pledge-staff-verified")
    finally:
        staff_context.close()

    # Now it is public: listed under its region, and on the council's page.
    page.goto("/councils/")
    expect(page.locator("main > .lead, main .lead").first).to_contain_text("1 council in England and Wales has pledged")
    south_west = page.get_by_role("region", name="South West (1)")
    expect(south_west.get_by_role("link", name="City of Bristol")).to_be_visible()
    expect(south_west).to_contain_text(f"pledged {pledged.day} {pledged.strftime('%B %Y')}")
    shot(page, "councils-pledged")
    south_west.get_by_role("link", name="City of Bristol").click()
    expect(page.locator("main")).to_contain_text("Keep it Local pledge")
    expect(page.locator("main")).to_contain_text("Signed by the council leader and the chief executive")
    expect(page.locator("main")).to_contain_text("Cllr Heather Mack")
    assert page.js_errors == []
