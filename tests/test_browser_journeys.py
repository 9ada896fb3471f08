"""Whole journeys in Chromium, as a person would do them.

A member joins (with the type-ahead council picker), confirms by the email the real delivery
worker sent to the SMTP capture server, signs out and in, finds another member by typing into
the directory search (htmx: no page load, URL pushed), edits the profile, downloads their
data and deletes the account. Staff find, suspend and export a member; an admin reads the
audit log. An invalid join posted by htmx shows the error summary, focused, with no reload.

Screenshots of the key pages go to test-artifacts/ (gitignored) for a human to look at.
"""
import csv
import io
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import shot, sign_in
from tests.support.mail import first_link

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PASSWORD = "correct horse battery"


def flash(page):
    """The flashed message at the top of main."""
    return page.locator("main > .notice")


def sign_out(page) -> None:
    """Sign out with the header button (a POST)."""
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign in")).to_be_visible()


def test_member_joins_confirms_finds_edits_exports_and_deletes(page, make_user, live_smtp):
    """The member journey from the join form to a deleted account."""
    make_user(email="amara@example.org", name="Amara Okonkwo", organisation="Hackney Food Bank",
              show_in_directory=True)
    make_user(email="bart@example.org", name="Bartholomew Finch", organisation="Finch Associates",
              show_in_directory=True)
    live_smtp.clear()

    # Join, with the accessible type-ahead for the council.
    page.goto("/auth/join")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join the Keep it Local Network")
    page.get_by_label("Full name", exact=True).fill("Priya Shah")
    page.get_by_label("Email address", exact=True).fill("Priya.Shah@Example.org")
    page.get_by_label("Create a password", exact=True).fill("a long walk by the river")
    page.get_by_label("I am a", exact=True).select_option("community_organisation")
    page.get_by_label("Role or job title", exact=True).fill("Director")
    page.get_by_label("Organisation name", exact=True).fill("Leeds Neighbourhood Network")
    council = page.get_by_role("combobox", name="Council area")
    expect(council).to_be_visible()
    assert page.locator("select[data-autocomplete]").is_hidden()  # the select was enhanced
    council.press_sequentially("Leed", delay=30)
    option = page.get_by_role("option", name="Leeds", exact=True)
    expect(option).to_be_visible()
    shot(page, "join-autocomplete")
    option.click()
    expect(council).to_have_value("Leeds")
    expect(page.locator("select[data-autocomplete]")).to_have_value("E08000035")
    page.get_by_label("I have read the privacy notice").check()
    page.get_by_label("List me in the member directory").check()
    shot(page, "join-filled")
    page.get_by_role("button", name="Join the Network").click()

    expect(page).to_have_url(re.compile(r"/auth/check-email$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_text("priya.shah@example.org").first).to_be_visible()
    assert page.locator("html").count() == 1 and page.locator("main").count() == 1
    shot(page, "check-email")

    # The real worker sends the confirmation email to the capture server.
    message = live_smtp.wait_for(lambda m: "priya.shah@example.org" in m.envelope_to)
    link = first_link(message, "/auth/confirm/")
    page.goto(link)
    expect(flash(page)).to_contain_text("Your email address is confirmed")
    expect(page.get_by_role("region", name="Confirm your email address")).to_have_count(0)

    sign_out(page)
    sign_in(page, "priya.shah@example.org", "a long walk by the river")

    # Active search: typing updates the results in place and pushes the URL.
    page.get_by_role("link", name="Directory").click()
    expect(page).to_have_url(re.compile(r"/members/$"))
    results = page.locator("#directory-results")
    expect(results.get_by_role("link", name="Amara Okonkwo")).to_be_visible()
    expect(results.get_by_role("link", name="Bartholomew Finch")).to_be_visible()
    expect(results.get_by_role("link", name="Priya Shah")).to_be_visible()
    page.evaluate("window.__marker = 1")
    page.get_by_label("Search by name, organisation or council").press_sequentially("Hackney", delay=40)
    expect(results.get_by_role("link", name="Bartholomew Finch")).to_have_count(0)
    expect(results.get_by_role("link", name="Amara Okonkwo")).to_be_visible()
    expect(page.locator("#result-count")).to_contain_text("1 member")
    expect(page).to_have_url(re.compile(r"/members/\?q=Hackney"))
    assert page.evaluate("window.__marker") == 1, "the search reloaded the page"
    shot(page, "directory-search")
    results.get_by_role("link", name="Amara Okonkwo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Amara Okonkwo")
    expect(page.get_by_text("amara@example.org")).to_have_count(0)  # emails never shown
    shot(page, "member-page")

    # Edit the profile.
    page.get_by_role("link", name="Your account").click()
    expect(page.get_by_role("combobox", name="Council area")).to_have_value("Leeds")
    page.get_by_label("Role or job title", exact=True).fill("Chief executive")
    page.get_by_label("How would you like to be involved?").fill("Hosting a workshop in Leeds")
    page.get_by_role("button", name="Save your details").click()
    expect(flash(page)).to_contain_text("Your details have been saved")
    expect(page.get_by_label("Role or job title", exact=True)).to_have_value("Chief executive")
    shot(page, "account")

    # Download my data.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download your data").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".json")
    data = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert data["profile"]["email"] == "priya.shah@example.org"
    assert data["profile"]["job_title"] == "Chief executive"

    # Delete the account: a wrong password first, then the right one with the tick.
    page.get_by_role("link", name="Delete your account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete your account")
    page.get_by_label("Your password", exact=True).fill("a long walk by the river")
    page.get_by_label("I understand my account").check()
    shot(page, "delete-account")
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(flash(page)).to_contain_text("Your account has been deleted")
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)

    page.goto("/auth/login")
    page.get_by_label("Email address", exact=True).fill("priya.shah@example.org")
    page.get_by_label("Password", exact=True).fill("a long walk by the river")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page).to_have_url(re.compile(r"/auth/login"))
    assert page.js_errors == []


def test_staff_find_suspend_export_and_admin_reads_audit(page, make_user, browser, live_server):
    """Staff filter the members table in place, suspend a member, export CSV; an admin audits."""
    make_user(email="staff@example.org", name="Sam Staff", role="staff")
    make_user(email="admin@example.org", name="Ada Admin", role="admin")
    target = make_user(email="dora@example.org", name="Dora Marsh", organisation="Marsh Lane Trust")
    make_user(email="eddie@example.org", name="Eddie Wren", organisation="Wren Housing")

    sign_in(page, "staff@example.org")
    page.get_by_role("link", name="Staff", exact=True).click()
    page.get_by_role("link", name="Members", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/staff/members/$"))
    table = page.locator("#members-table")
    expect(table.get_by_role("link", name="Eddie Wren")).to_be_visible()
    page.evaluate("window.__marker = 1")
    page.get_by_label("Search name, email, organisation or council").press_sequentially("Dora", delay=40)
    expect(table.get_by_role("link", name="Eddie Wren")).to_have_count(0)
    expect(table.get_by_role("link", name="Dora Marsh")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/staff/members/\?q=Dora"))
    assert page.evaluate("window.__marker") == 1, "the filter reloaded the page"
    shot(page, "staff-members")

    # The CSV export of the current filtered list.
    with page.expect_download() as download_info:
        table.get_by_role("link", name=re.compile("as CSV")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    emails = {value for row in rows for value in row.values()}
    assert "dora@example.org" in emails
    assert "eddie@example.org" not in emails

    # Suspend with a reason.
    table.get_by_role("link", name="Dora Marsh").click()
    expect(page).to_have_url(re.compile(rf"/staff/members/{target.id}$"))
    expect(page.locator("#member-actions")).to_contain_text("Active")
    page.get_by_label("Reason").fill("Repeated spam in workshop comments")
    page.get_by_role("button", name="Suspend account").click()
    expect(flash(page)).to_contain_text("Dora Marsh has been suspended")
    expect(page.locator("#member-actions")).to_contain_text("Suspended")
    expect(page.get_by_role("button", name="Reactivate account")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Repeated spam in workshop comments")
    shot(page, "staff-member-suspended")

    # An admin sees the action in the audit log.
    admin_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        admin = admin_context.new_page()
        sign_in(admin, "admin@example.org")
        admin.goto("/staff/audit/")
        log = admin.locator("table")
        expect(log).to_contain_text("Sam Staff")
        expect(log).to_contain_text("Repeated spam in workshop comments")
        row = log.locator("tr", has_text="Repeated spam")
        expect(row.get_by_role("link", name=f"view member #{target.id}")).to_be_visible()
        shot(admin, "staff-audit")
    finally:
        admin_context.close()

    # The suspended member cannot sign in.
    suspended_context = browser.new_context(base_url=live_server)
    try:
        dora = suspended_context.new_page()
        dora.goto("/auth/login")
        dora.get_by_label("Email address", exact=True).fill("dora@example.org")
        dora.get_by_label("Password", exact=True).fill(PASSWORD)
        dora.get_by_role("button", name="Sign in").click()
        expect(dora.get_by_role("alert")).to_contain_text("suspended")
    finally:
        suspended_context.close()
    assert page.js_errors == []


def test_invalid_join_with_htmx_shows_focused_error_summary(page):
    """htmx swaps the form with errors in: summary focused, field messages, no page load."""
    page.goto("/auth/join")
    page.evaluate("window.__marker = 1")
    page.get_by_label("Email address", exact=True).fill("not-an-email")
    page.get_by_label("Create a password", exact=True).fill("short")
    with page.expect_response(lambda r: r.url.endswith("/auth/join") and r.request.method == "POST") as info:
        page.get_by_role("button", name="Join the Network").click()
    response = info.value
    assert response.status == 422
    assert response.request.headers.get("hx-request") == "true"

    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    expect(summary.get_by_role("link", name="Enter your full name")).to_be_visible()
    expect(summary.get_by_role("link", name=re.compile("correct format"))).to_be_visible()
    expect(summary.get_by_role("link", name="Agree to the privacy notice to join the Network")).to_be_visible()
    expect(page.locator("#name-error")).to_contain_text("Enter your full name")
    expect(page.locator("#email-error")).to_contain_text("Enter an email address in the correct format")
    expect(page.locator("#password-error")).to_contain_text("Password must be between 10 and 128 characters")
    expect(page.get_by_label("Full name", exact=True)).to_have_attribute("aria-describedby", re.compile("name-error"))
    # The values typed are kept (except the password), and the council type-ahead is back.
    expect(page.get_by_label("Email address", exact=True)).to_have_value("not-an-email")
    expect(page.get_by_role("combobox", name="Council area")).to_be_visible()
    assert page.evaluate("window.__marker") == 1, "the invalid join reloaded the page"
    assert page.locator("form#join-form").count() == 1
    shot(page, "join-errors")

    # The summary links move focus to the field.
    summary.get_by_role("link", name="Enter your full name").click()
    expect(page.get_by_label("Full name", exact=True)).to_be_focused()
    assert page.js_errors == []
