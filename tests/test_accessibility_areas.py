"""axe-core finds no violations on any page of the workshops, principles, call-for-evidence
and councils areas, for the role that sees it, and every page reflows at 320 CSS px wide (WCAG
2.2, 1.4.10): each page is loaded at 320x640, axe runs at that width, and the document must be
no wider than the window (tests/support/reflow.py names the element that sticks out). The data
holds long unbroken strings where pages show what people typed (survey answers, evidence,
suggestions, organisation names, email addresses).

The data comes from `build_site` (tests/support/site_data.py), made through the services.
Each page is its own test, loaded in Chromium from the live server so htmx has enhanced it:
public pages anonymous, member pages as a confirmed member (and the pledge form as a council
officer), staff pages as an admin. States that are not a plain GET are brought about in the
browser: every kind of survey question page with and without an error, check your answers,
forms posted with errors (htmx and plain), written evidence sent just after its deadline, a
vote cast on a card and a check-in made with htmx (checked after the swap), and the
principles page once a round has been adopted. Every <details> is opened before axe runs, so
the breakdown tables and individual survey answers inside them are checked as well.
"""
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.support.browser import resume_session
from tests.support.reflow import PHONE, assert_reflows
from tests.support.site_data import SURVEY_PATH, adopt_open_round, build_site, close_written_evidence
from tests.support.worlds import shared_world

pytestmark = pytest.mark.browser

PUBLIC = [
    "/workshops/", "/workshops/?when=past", "/workshops/?region={yorkshire}&format=in_person&month={month}",
    "/workshops/?format=online&region={wales}", "/workshops/{w_live}", "/workshops/{w_full}",
    "/workshops/{w_cancelled}",
    "/workshops/{w_past}",
    "/principles/", "principles-adopted", "/principles/drafts/{d_open}", "/principles/rounds/{r_closed}/results",
    "/principles/rounds/{r_open}/results", "/principles/1/history", "/principles/rounds/{r_closed}/responses",
    "/principles/rounds/{r_open}/responses",
    "/evidence/", "/evidence/calls/{c_open}", "/evidence/calls/{c_closed}", "/evidence/calls/{c_open}/survey",
    "/evidence/calls/{c_closed}/survey", "/evidence/calls/{c_closed}/survey/delivers",
    "survey-radio", "survey-radio-error", "survey-text", "survey-text-error", "survey-checkbox",
    "survey-checkbox-error", "survey-select", "survey-select-error", "survey-check", "survey-not-for-you",
    "/evidence/calls/{c_open}/survey/done/{survey_ref}",
    "/evidence/calls/{c_open}/submit", "submit-errors", "submit-after-deadline", "/evidence/calls/{c_closed}/submit",
    "/evidence/calls/{c_open}/received/{e_ref}", "/evidence/library", "/evidence/library?topic=doing_differently",
    "/evidence/library?q=food+bank", "/evidence/library?q=zzyzx&type=councillor", "/evidence/library/{e_named}",
    "/evidence/library/{e_anon}",
    "/councils/", "/councils/E08000033", "/councils/E08000035",
    "/councils/E08000033/journey", "/councils/E08000033/assessments/{a_published}",
]
MEMBER = [
    "/account/workshops", "/workshops/{w_live}", "/workshops/{w_full}", "waitlist-leave-htmx",
    "/workshops/{w_live}/cancel", "/workshops/{w_full}/cancel", "cancel-place-htmx", "/principles/",
    "vote-htmx", "/principles/drafts/{d_open}", "/councils/E06000023/pledge", "/councils/E08000033",
    "/evidence/calls/{c_open}/submit", "/updates/", "/updates/{m_sent}", "/account/notifications",
    "/unsubscribe/{unsubscribe_live}",
]
OFFICER = ["/councils/E08000035/pledge", "pledge-errors", "/councils/E08000035/journey",
           "/councils/E08000035/assessments/new", "/councils/E08000035/assessments/{a_draft}",
           "/councils/E08000035/assessments/{a_draft}/check", "assessment-errors",
           "/councils/champions/accept/{invite_token_live}"]  # a valid invitation (Leeds' senior manager)
ADMIN = [
    "/staff/workshops/", "/staff/workshops/new", "workshop-new-errors-htmx", "/staff/workshops/{w_live}",
    "/staff/workshops/{w_draft}", "/staff/workshops/{w_cancelled}", "/staff/workshops/{w_full}",
    "/staff/workshops/{w_full}/attendance", "/staff/workshops/{w_live}/edit",
    "/staff/workshops/{w_live}/cancel", "workshop-cancel-errors", "workshop-cancel-confirm",
    "/staff/workshops/{w_live}/attendance",
    "attendance-check-in-htmx", "/staff/workshops/{w_live}/attendance/{reg_member}",
    "/staff/workshops/{w_past}/attendance/{reg_past}", "/staff/workshops/{w_live}/sheet",
    "/staff/workshops/{w_live}/control", "/staff/workshops/{w_live}/present",
    "/staff/rounds/", "/staff/rounds/new", "/staff/rounds/{r_draft}/edit", "/staff/rounds/{r_open}/edit",
    "/staff/rounds/{r_closed}/edit", "/staff/rounds/{r_open}/close", "/staff/rounds/{r_closed}/adopt",
    "/staff/suggestions/{s_open}/respond", "respond-errors", "/principles/rounds/{r_open}/results",
    "/staff/evidence/", "/staff/evidence/{e_named}", "/staff/evidence/{e_private}", "/staff/evidence/calls/",
    "/staff/moderation", "/staff/moderation?status=approved", "/staff/moderation/suggestion/{s_open}/redact",
    "moderation-hide-errors-htmx", "moderation-approve-htmx",
    "/staff/evidence/calls/new", "call-new-errors", "/staff/evidence/calls/{c_open}/edit",
    "/staff/evidence/calls/{c_open}/survey-results", "/staff/pledges/",
    "/staff/messages/", "/staff/messages/new", "/staff/messages/{m_draft}", "/staff/messages/{m_draft}/preview",
    "/staff/messages/{m_scheduled}", "/staff/messages/{m_sent}", "/staff/messages/count?kind=campaign",
    "/staff/councils/", "/staff/councils/?stage=assessed&region={yorkshire}", "/staff/councils/?q=zzyzx",
    "/staff/councils/E08000033", "/staff/councils/E08000034", "/staff/councils/E09000012", "staff-councils-search-htmx",
    "staff-review-errors",
]
EXPECTED_STATUS = {("anonymous", "/principles/rounds/{r_open}/results"): 403}
PAGES = ([("anonymous", p) for p in PUBLIC] + [("member", p) for p in MEMBER]
         + [("officer", p) for p in OFFICER] + [("admin", p) for p in ADMIN])
# An invalid answer for each kind of survey page (nothing chosen, an empty text, a clash).
SURVEY_ERROR_ANSWERS = {"radio": None, "text": "", "checkbox": ["none", "size"], "select": ""}
SURVEY_KINDS = {"radio": "delivers", "text": "why_stopped", "checkbox": "barriers", "select": "region"}


@pytest.fixture
def site(app, make_user, tmp_path, tmp_path_factory):
    """The four areas' data, made through the services (once per process, copied back for each test)."""
    return shared_world(app, "areas", lambda uploads: build_site(make_user, uploads), tmp_path, tmp_path_factory)


def answer_survey(page, value) -> None:
    """Answer the question on this page (None leaves it unanswered) and press Continue."""
    kind = page.locator("#answer").evaluate("el => el.type || el.tagName.toLowerCase()")
    if kind in ("radio", "checkbox"):
        for choice in ([value] if isinstance(value, str) else value or []):
            page.locator(f"input[name=answer][value='{choice}']").check()
    elif kind.startswith("select"):
        if value is None:
            page.locator("#answer").select_option(index=1)
        else:
            page.locator("#answer").select_option(value)
    else:
        page.locator("#answer").fill(value or "")
    page.get_by_role("button", name="Continue").click()


def survey_until(page, site, question: str) -> None:
    """Answer the survey from its first page until `question` is showing."""
    page.goto(f"/evidence/calls/{site['c_open']}/survey/delivers")
    for qid, value in SURVEY_PATH:
        if qid == question:
            expect(page).to_have_url(re.compile(f"/survey/{question}$"))
            return
        answer_survey(page, value)
        expect(page).not_to_have_url(re.compile(f"/survey/{qid}$"))
    expect(page).to_have_url(re.compile("/survey/check$"))


def expect_errors(page) -> None:
    """The page came back with the error summary (and 'Error:' in its title)."""
    expect(page.locator("[data-error-summary]")).to_be_visible()
    expect(page).to_have_title(re.compile("^Error: "))


def open_state(page, site, name: str):
    """Bring about a named state that is not a plain GET; returns the page to check."""
    if name == "principles-adopted":
        adopt_open_round(site)
        page.goto("/principles/")
        expect(page.get_by_role("heading", level=1)).to_have_text("The six Keep it Local principles")
    elif name.startswith("survey-") and name.removeprefix("survey-").removesuffix("-error") in SURVEY_KINDS:
        kind = name.removeprefix("survey-").removesuffix("-error")
        survey_until(page, site, SURVEY_KINDS[kind])
        if name.endswith("-error"):
            answer_survey(page, SURVEY_ERROR_ANSWERS[kind])
            expect_errors(page)
    elif name == "survey-check":
        survey_until(page, site, "check")
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before you submit")
    elif name == "survey-not-for-you":
        page.goto(f"/evidence/calls/{site['c_open']}/survey/delivers")
        for value in ("no", "no", "no", "neither"):
            answer_survey(page, value)
        expect(page.get_by_role("heading", level=1)).to_have_text("This survey is not for you")
    elif name == "submit-errors":
        page.goto(f"/evidence/calls/{site['c_open']}/submit")
        page.get_by_role("button", name="Send your evidence").click()
        expect_errors(page)
    elif name == "submit-after-deadline":
        page.goto(f"/evidence/calls/{site['c_open']}/submit")
        page.get_by_label("Your name").fill("Late Person")
        page.get_by_label("Email address").fill("late@example.org")
        page.get_by_label("You are responding as").select_option("academic")
        page.get_by_label("The latest trends shaping public services").check()
        page.get_by_label("Your evidence").fill("Written while the deadline passed.")
        page.get_by_label("Publish it anonymously").check()
        close_written_evidence(site)
        page.get_by_role("button", name="Send your evidence").click()
        expect(page.locator("[data-error-summary]")).to_contain_text("The deadline for responses has now passed")
        expect(page.get_by_label("Your evidence")).to_have_value("Written while the deadline passed.")
    elif name == "waitlist-leave-htmx":
        page.goto(f"/workshops/{site['w_full']}")
        page.get_by_role("button", name="Leave the waitlist").click()
        page.get_by_role("button", name="Yes, leave the waitlist").click()  # the panel asks first
        expect(page.locator("#registration [role=status]")).to_contain_text("Your registration has been cancelled")
        expect(page.get_by_role("button", name="Join the waitlist")).to_be_visible()
    elif name == "vote-htmx":
        page.goto("/principles/")
        card = page.locator(f"#draft-{site['d_open_unvoted']}")
        card.get_by_label("Support", exact=True).check()
        card.get_by_role("button", name="Save my vote").click()
        expect(page.locator(f"#draft-{site['d_open_unvoted']}")).to_contain_text("Vote saved.")
        expect(page.locator("#progress")).to_contain_text("4 of 6")
    elif name == "pledge-errors":
        page.goto("/councils/E08000035/pledge")
        page.get_by_role("button", name="Submit the pledge").click()
        expect_errors(page)
    elif name == "assessment-errors":
        page.goto(f"/councils/E08000035/assessments/{site['a_draft']}")
        page.get_by_label("Evidence for principle 2").fill("e" * 4001)
        page.get_by_role("button", name="Save as draft").click()
        expect_errors(page)
    elif name == "staff-councils-search-htmx":
        page.goto("/staff/councils/")
        page.get_by_label("Search council name or GSS code").fill("kirk")
        expect(page.locator("#councils-table")).to_contain_text("1 of 339 councils")
    elif name == "staff-review-errors":
        page.goto("/staff/councils/E08000034")
        page.get_by_label("Return it to the council for changes").check()
        page.get_by_role("button", name="Save the decision").click()
        expect_errors(page)
        expect(page.locator("[data-error-summary]")).to_contain_text("Enter comments")
    elif name == "workshop-new-errors-htmx":
        page.goto("/staff/workshops/new")
        page.get_by_label("Postcode").fill("not a postcode")
        page.get_by_role("button", name="Save as draft").click()
        expect(page.locator("[data-error-summary]")).to_be_focused()
    elif name == "workshop-cancel-errors":
        page.goto(f"/staff/workshops/{site['w_live']}/cancel")
        page.get_by_role("button", name="Continue").click()
        expect_errors(page)
    elif name == "workshop-cancel-confirm":
        page.goto(f"/staff/workshops/{site['w_live']}/cancel")
        page.get_by_label("Reason for cancelling").fill("The venue flooded.\nWe will arrange a new date.")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Are you sure you want to cancel")
    elif name == "cancel-place-htmx":
        page.goto(f"/workshops/{site['w_live']}")
        page.get_by_role("button", name="Cancel my place").click()
        expect(page.locator("#registration-heading")).to_have_text("Are you sure you want to cancel your place?")
    elif name == "attendance-check-in-htmx":
        page.goto(f"/staff/workshops/{site['w_live']}/attendance")
        count = page.locator("[data-attended]")
        before = int(count.inner_text())
        page.get_by_role("button", name="Check in Morgan Member").click()
        expect(page.get_by_role("button", name="Undo check-in of Morgan Member")).to_be_visible()
        expect(page.locator("[data-attended]")).to_have_text(str(before + 1))
    elif name == "respond-errors":
        page.goto(f"/staff/suggestions/{site['s_waiting']}/respond")
        page.get_by_role("button", name="Save the response").click()
        expect_errors(page)
    elif name == "moderation-hide-errors-htmx":
        page.goto("/staff/moderation")
        item = page.locator(f"#item-comment-{site['v_pending']}")
        item.locator("summary").click()
        item.get_by_role("button", name=re.compile("^Hide it")).click()
        expect(page.locator(f"#item-comment-{site['v_pending']} [data-error-summary]")).to_be_visible()
    elif name == "moderation-approve-htmx":
        page.goto("/staff/moderation")
        waiting = int(re.search(r"(\d+) waiting for a decision", page.locator("#moderation-counts").inner_text())[1])
        item = page.locator(f"#item-comment-{site['v_pending']}")
        item.get_by_role("button", name=re.compile("^Approve as it is")).click()
        expect(page.locator(f"#item-comment-{site['v_pending']} [role=status]")).to_contain_text(
            "Approved: it is published with the results.")
        expect(page.locator("#moderation-counts")).to_contain_text(f"{waiting - 1} waiting for a decision")
    elif name == "call-new-errors":
        page.goto("/staff/evidence/calls/new")
        page.get_by_role("button", name="Create the call").click()
        expect_errors(page)
    else:
        raise AssertionError(f"unknown state {name}")
    return page


@pytest.mark.parametrize(("role", "path"), PAGES, ids=[f"{r}:{p}" for r, p in PAGES])
def test_area_page_has_no_axe_violations(page, site, role, path):
    """axe-core reports no violations on this page, 320 CSS px wide, and it reflows: no horizontal scroll."""
    page.set_viewport_size(PHONE)
    if role != "anonymous":
        resume_session(page, f"{role}@example.org")
    if path.startswith("/"):
        response = page.goto(path.format(**site))
        assert response.status == EXPECTED_STATUS.get((role, path), 200), path
    else:
        page = open_state(page, site, path)
    # Open every <details> (result breakdowns, survey answers) so axe checks what is inside too.
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    assert_reflows(page, f"{role}-{path}")
    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"
    assert page.js_errors == []
