"""axe-core finds no violations on any page, for the role that sees it, and every page reflows at
320 CSS px wide (WCAG 2.2, 1.4.10): each page is loaded at 320x640, axe runs at that width, and
the document must be no wider than the window (tests/support/reflow.py names the element that
sticks out). The members, organisations, outbox and audit pages show long unbroken strings (a
long organisation name and email address, 300-character URLs) that must wrap.

Each page is its own test: public pages anonymous, member pages signed in as a confirmed
member (and one as an unconfirmed member, with the banner), staff pages as an admin. Error
states are checked too: the join and profile forms with errors (after an htmx post, and the
join form posted as a plain form with scripts blocked), a 404, a 403 and failed links. Pages are loaded in Chromium
from the live server, so htmx and the accessible autocomplete have enhanced them first.
"""
import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from tests.support.browser import resume_session
from tests.support.mail import email_text, first_link
from tests.support.reflow import LONG_EMAIL, LONG_ORG, LONG_URL, LONG_WORD, PHONE, assert_reflows
from tests.support.worlds import shared_world

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"

PUBLIC = ["/", "/privacy", "/accessibility", "/contact", "/auth/join", "/auth/login", "/auth/reset",
          "reset-password-from-email", "/no-such-page", "/auth/confirm/not-a-real-token",
          "/auth/reset/not-a-real-token",
          "join-errors-htmx", "join-errors-no-js", "reset-sent"]
MEMBER = ["/members/", "/members/?q=Okonkwo", "/members/{other}", "/organisations/", "/organisations/{long_org}",
          "/organisations/{org}/edit", "/account/", "/account/password", "/account/email",
          "/account/delete", "/auth/check-email", "/staff/", "account-errors-htmx"]
UNCONFIRMED = ["/account/"]
ADMIN = ["/staff/", "/staff/members/", "/staff/members/?q=Okonkwo", "/staff/members/{other}",
         "/staff/members/{suspended}", "/staff/members/?email=undeliverable", "/staff/audit/", "/staff/outbox/",
         "/staff/organisations/"]
EXPECTED_STATUS = {("anonymous", "/no-such-page"): 404, ("anonymous", "/auth/confirm/not-a-real-token"): 400,
                   ("anonymous", "/auth/reset/not-a-real-token"): 400, ("member", "/staff/"): 403}
PAGES = ([("anonymous", p) for p in PUBLIC] + [("member", p) for p in MEMBER]
         + [("unconfirmed", p) for p in UNCONFIRMED] + [("admin", p) for p in ADMIN])


@pytest.fixture
def site(app, make_user, tmp_path, tmp_path_factory):
    """The site's data (made once per process, copied back for each test)."""
    return shared_world(app, "site", lambda uploads: build_site(make_user), tmp_path, tmp_path_factory)


def build_site(make_user):
    """Members, an organisation, a suspended account, audit entries and emails to show (some with long
    unbroken strings: an organisation name, an email address, URLs, for the reflow check)."""
    from kil_network.staff.services import suspend

    admin = make_user(email="admin@example.org", name="Ada Admin", role="admin", member_type="other",
                      organisation="")  # the member creates (and edits) the organisation
    member = make_user(email="member@example.org", name="Morgan Member", organisation="Riverside Community Trust")
    make_user(email="unconfirmed@example.org", name="Una Confirmed", confirmed=False)
    other = make_user(email="amara@example.org", name="Amara Okonkwo", organisation=LONG_ORG,
                      job_title="Director", involvement=f"Running a workshop\nin Hackney: {LONG_URL}")
    make_user(email=LONG_EMAIL, name=f"Lowri {LONG_WORD}", organisation=LONG_ORG)  # long unbroken strings
    make_user(email="councillor@example.org", name="Cllr Chris Boyd", member_type="councillor",
              organisation=None, gss_code="E08000035")
    suspended = make_user(email="sid@example.org", name="Sid Suspended", show_in_directory=False)
    suspend(admin, suspended, f"Posting spam links: {LONG_URL}")
    now = utcnow()
    other.email_bounce_count, other.email_undeliverable_at = 3, now  # the staff page's undeliverable notice
    db.session.add_all([
        OutboxEmail(to_address="amara@example.org", subject="Confirm your email address", body_text="Hello",
                    status=OutboxEmail.FAILED, attempts=8, last_error="550 mailbox unavailable", user_id=other.id),
        OutboxEmail(to_address="sid@example.org", subject="Reset your password", body_text="Hello",
                    status=OutboxEmail.PENDING, attempts=2, next_attempt_at=now + timedelta(days=1),
                    last_error="Connection refused"),
        OutboxEmail(to_address="member@example.org", subject="Welcome", body_text="Hello",
                    status=OutboxEmail.SENT, attempts=1),
        OutboxEmail(to_address=LONG_EMAIL, subject=f"Your place at {LONG_WORD}", body_text=LONG_URL,
                    status=OutboxEmail.FAILED, attempts=8, last_error=f"554 rejected: see {LONG_URL}"),
    ])
    db.session.commit()
    return {"other": other.id, "suspended": suspended.id, "org": member.organisation_id,
            "long_org": other.organisation_id}


def open_state(page, live_smtp, name: str):
    """Bring about a named state that is not a plain GET; returns the page to check."""
    if name == "join-errors-htmx":
        page.goto("/auth/join")
        page.get_by_label("Email address", exact=True).fill("not-an-email")
        page.get_by_role("button", name="Join the Network").click()
        expect(page.locator("[data-error-summary]")).to_be_focused()
        return page
    if name == "join-errors-no-js":
        # As if JavaScript failed to load: the form posts as a plain form and the whole page
        # comes back with the errors. (axe itself needs JavaScript, so scripts are blocked
        # rather than switched off.)
        page.route("**/*.js", lambda route: route.abort())
        page.goto("/auth/join")
        page.get_by_label("Email address", exact=True).fill("not-an-email")
        with page.expect_navigation():
            page.get_by_role("button", name="Join the Network").click()
        expect(page.locator("[data-error-summary]")).to_be_visible()
        expect(page).to_have_title(re.compile("^Error: "))
        assert page.evaluate("typeof window.htmx") == "undefined"
        return page
    if name == "reset-sent":
        page.goto("/auth/reset")
        page.get_by_label("Email address", exact=True).fill("nobody@example.org")
        page.get_by_role("button", name="Send the link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
        return page
    if name == "reset-password-from-email":
        live_smtp.clear()
        page.goto("/auth/reset")
        page.get_by_label("Email address", exact=True).fill("member@example.org")
        page.get_by_role("button", name="Send the link").click()
        message = live_smtp.wait_for(
            lambda m: "member@example.org" in m.envelope_to and "/auth/reset/" in email_text(m))
        page.goto(first_link(message, "/auth/reset/"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
        return page
    if name == "account-errors-htmx":
        page.goto("/account/")
        page.get_by_label("Full name", exact=True).fill("")
        page.get_by_role("button", name="Save your details").click()
        expect(page.locator("[data-error-summary]")).to_be_focused()
        return page
    raise AssertionError(f"unknown state {name}")


@pytest.mark.parametrize(("role", "path"), PAGES, ids=[f"{r}:{p}" for r, p in PAGES])
def test_page_has_no_axe_violations(page, live_smtp, site, role, path):
    """axe-core reports no violations on this page, 320 CSS px wide, and it reflows: no horizontal scroll."""
    page.set_viewport_size(PHONE)
    if role != "anonymous":
        resume_session(page, f"{role}@example.org")
    if path.startswith("/"):
        response = page.goto(path.format(**site))
        assert response.status == EXPECTED_STATUS.get((role, path), 200), path
    else:
        page = open_state(page, live_smtp, path)
    if role == "unconfirmed":
        expect(page.get_by_role("region", name="Confirm your email address")).to_be_visible()
    assert_reflows(page, f"{role}-{path}")
    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"
    assert page.js_errors == []
