"""A workshop from scheduling to check-in, in Chromium, as staff and two members would do it.

Staff schedule a workshop with the GOV.UK date inputs and publish it; member A takes the only
seat and member B joins the waitlist (the registration panel is swapped in place by htmx);
A cancels, B is promoted and the real mail worker delivers "A place is now yours" with a
calendar file that parses back with `icalendar`; on the day staff type B's name into the
check-in search (rows filter in place) and tap "Check in": the row and the live
"attended / registered" count change without a page load.

Screenshots go to test-artifacts/ (gitignored).
"""
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from kil_network.core.timeutil import LONDON, london_to_utc, utcnow
from kil_network.extensions import db
from tests.support.browser import shot, sign_in
from tests.support.mail import email_text

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PASSWORD = "correct horse battery"
TITLE = "Keep it Local in Yorkshire: co-designing the principles"


def fill_date_time(page, legend: str, when: datetime) -> None:
    """Fill one GOV.UK date-and-time group (day, month, year, time) found by its legend."""
    group = page.get_by_role("group", name=legend, exact=True)
    group.get_by_label("Day", exact=True).fill(str(when.day))
    group.get_by_label("Month", exact=True).fill(str(when.month))
    group.get_by_label("Year", exact=True).fill(str(when.year))
    group.get_by_label(re.compile(r"^Time")).fill(when.strftime("%H:%M"))


def subject(message) -> str:
    """The Subject, unfolded (the stdlib parser keeps the space when a long Subject folds at once)."""
    return str(message["Subject"]).strip()


def ics_attachment(message) -> Calendar:
    """The .ics attachment of an email, parsed with icalendar."""
    for part in message.iter_attachments():
        if part.get_filename() == "workshop.ics" or part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_payload(decode=True))
    raise AssertionError("no .ics attachment")


def test_schedule_register_waitlist_promote_and_check_in(page, browser, live_server, make_user, live_smtp):
    """Staff create and publish → A registers → B waitlisted → A cancels → B promoted and emailed → B checked in."""
    make_user(email="sam.staff@example.org", name="Sam Staff", role="staff")
    make_user(email="ayesha@example.org", name="Ayesha Khan", organisation="Calder Valley Trust")
    make_user(email="bea@example.org", name="Beatrice Waller", organisation="Waller Youth Project")
    carl = make_user(email="carl@example.org", name="Carl Dunmore", organisation="Dunmore Food Co-op")
    live_smtp.clear()

    # --- Staff schedule the workshop (a draft), with the split date and time inputs ------------
    day = (utcnow().astimezone(LONDON) + timedelta(days=40)).date()
    starts = datetime(day.year, day.month, day.day, 10, 0)
    ends = starts.replace(hour=13, minute=0)
    closes = starts - timedelta(days=2)
    sign_in(page, "sam.staff@example.org")
    page.get_by_role("link", name="Staff", exact=True).click()
    page.get_by_role("navigation", name="Staff").get_by_role("link", name="Workshops").click()
    expect(page).to_have_url(re.compile(r"/staff/workshops/$"))
    page.goto("/staff/workshops/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule a workshop")
    page.get_by_label("Title", exact=True).fill(TITLE)
    page.get_by_label("Description", exact=True).fill("Councillors, commissioners and community organisations "
                                                       "work through the six draft principles together.")
    page.get_by_label("Region", exact=True).select_option(label="Yorkshire and The Humber")
    page.get_by_label("Format", exact=True).select_option("in_person")
    page.get_by_label("Venue name", exact=True).fill("Leeds Civic Hall")
    page.get_by_label("Address", exact=True).fill("Calverley Street, Leeds")
    page.get_by_label("Postcode", exact=True).fill("ls1 1ur")
    fill_date_time(page, "Start", starts)
    fill_date_time(page, "End", ends)
    fill_date_time(page, "Registration closes", closes)
    page.get_by_label("Capacity (seats)", exact=True).fill("1")
    shot(page, "workshop-new-filled")
    page.get_by_role("button", name="Save as draft").click()

    expect(page).to_have_url(re.compile(r"/staff/workshops/\d+$"))
    workshop_id = int(re.search(r"/staff/workshops/(\d+)$", page.url).group(1))
    expect(page.locator("main > .notice")).to_contain_text("saved as a draft")
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.locator("main")).to_contain_text(starts.strftime("%A %-d %B %Y") + ", 10:00am")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("main > .notice")).to_contain_text("published and open for registration")
    expect(page.get_by_role("button", name="Publish")).to_have_count(0)
    shot(page, "workshop-staff-published")

    # --- Member A takes the only seat; the panel is swapped in place ------------------------
    context_a = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context_b = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    try:
        ayesha, bea = context_a.new_page(), context_b.new_page()
        errors = []
        for member_page in (ayesha, bea):
            member_page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(ayesha, "ayesha@example.org")
        ayesha.goto(f"/workshops/{workshop_id}")
        expect(ayesha.get_by_role("heading", level=1)).to_have_text(TITLE)
        panel_a = ayesha.locator("#registration")
        expect(panel_a).to_contain_text("1 of 1 places left")
        ayesha.evaluate("window.__marker = 1")
        with ayesha.expect_response(lambda r: r.url.endswith(f"/workshops/{workshop_id}/register")) as info:
            panel_a.get_by_role("button", name="Register").click()
        assert info.value.request.headers.get("hx-request") == "true"
        expect(panel_a).to_contain_text("Your place is confirmed")
        expect(panel_a.locator(".tag")).to_have_text("Confirmed")
        expect(panel_a).to_contain_text("The only place is taken")
        expect(panel_a.get_by_role("button", name="Cancel my place")).to_be_visible()
        assert ayesha.evaluate("window.__marker") == 1, "registering reloaded the page"
        shot(ayesha, "workshop-registered")

        # --- Member B (on a phone-sized screen) joins the waitlist at position 1 --------------
        sign_in(bea, "bea@example.org")
        bea.goto(f"/workshops/{workshop_id}")
        panel_b = bea.locator("#registration")
        expect(panel_b).to_contain_text("The only place is taken. You can join the waitlist.")
        bea.evaluate("window.__marker = 1")
        panel_b.get_by_label("Access needs (optional)").fill("Step-free access, please")
        panel_b.get_by_role("button", name="Join the waitlist").click()
        expect(panel_b).to_contain_text("You are number 1 on the waitlist")
        expect(panel_b.locator(".seats")).to_have_text("The only place is taken; 1 on the waitlist.")
        expect(panel_b.locator(".tag")).to_have_text("Waitlist")
        expect(panel_b.get_by_role("button", name="Leave the waitlist")).to_be_visible()
        assert bea.evaluate("window.__marker") == 1, "joining the waitlist reloaded the page"
        shot(bea, "workshop-waitlisted-phone")

        # --- A cancels from the workshop page; B is promoted ---------------------------------
        panel_a.get_by_role("button", name="Cancel my place").click()  # the panel asks first, saying who gets it
        expect(panel_a).to_contain_text("Your place goes straight to the next person on the waitlist")
        panel_a.get_by_role("button", name="Yes, cancel my place").click()
        expect(panel_a).to_contain_text("Your registration has been cancelled")
        expect(panel_a.get_by_role("button", name="Register")).to_have_count(0)  # the seat went to B
        expect(panel_a.get_by_role("button", name="Join the waitlist")).to_be_visible()
        assert ayesha.evaluate("window.__marker") == 1, "cancelling reloaded the page"

        bea.reload()
        expect(panel_b.locator(".tag")).to_have_text("Confirmed")
        expect(panel_b).to_contain_text("You have a place at this workshop")
        assert errors == []
    finally:
        context_a.close()
        context_b.close()

    # The real worker delivered the promotion email, with the calendar entry.
    message = live_smtp.wait_for(
        lambda m: "bea@example.org" in m.envelope_to and subject(m).startswith("A place is now yours"))
    assert TITLE in subject(message)
    body = email_text(message)
    assert f"/workshops/{workshop_id}" in body
    calendar = ics_attachment(message)
    assert str(calendar["METHOD"]) == "REQUEST"  # iTIP: an invitation to B's calendar
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert str(event["SUMMARY"]) == TITLE
    assert str(event["UID"]) == f"workshop-{workshop_id}@keepitlocal.network"
    assert event.decoded("DTSTART") == london_to_utc(starts)
    assert event.decoded("DTEND") == london_to_utc(ends)
    assert "Leeds Civic Hall" in str(event["LOCATION"]) and "LS1 1UR" in str(event["LOCATION"])
    # The workshop never changed (0), plus B's own two changes (waitlisted, then promoted).
    assert int(event["SEQUENCE"]) == 2
    assert str(event["ATTENDEE"]) == "mailto:bea@example.org" and str(event["STATUS"]) == "CONFIRMED"
    # A's confirmation and cancellation, and B's waitlist email, went out too.
    live_smtp.wait_for(lambda m: "ayesha@example.org" in m.envelope_to
                           and subject(m).startswith("Your place is confirmed"))
    live_smtp.wait_for(lambda m: "bea@example.org" in m.envelope_to
                           and subject(m).startswith("You are on the waitlist"))

    # A third member waits too, so the check-in search has someone to filter out.
    from kil_network.workshops import services
    from kil_network.workshops.models import Workshop

    db.session.expire_all()
    services.register(db.session.get(Workshop, workshop_id), carl)
    db.session.commit()

    # --- On the day: staff type B's name and check her in, all in place ---------------------
    page.goto(f"/staff/workshops/{workshop_id}")
    page.get_by_role("link", name="Check-in", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/staff/workshops/{workshop_id}/attendance$"))
    rows = page.locator("#checkin-rows")
    count = page.locator("#attendance-count")
    expect(count).to_have_text(re.compile(r"^\s*0 attended / 1 registered · 0 walk-ins\s*$"))
    expect(rows.get_by_role("link", name="Beatrice Waller")).to_be_visible()
    expect(rows.get_by_role("link", name="Carl Dunmore")).to_be_visible()
    page.evaluate("window.__marker = 1")
    page.get_by_label("Find a person by name or email").press_sequentially("Beatr", delay=50)
    expect(rows.get_by_role("link", name="Carl Dunmore")).to_have_count(0)
    expect(rows.get_by_role("link", name="Beatrice Waller")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/attendance\?q=Beatr"))
    row = rows.locator("li", has=page.get_by_role("link", name="Beatrice Waller"))
    expect(row).to_contain_text("Not checked in yet")
    shot(page, "checkin-search")
    with page.expect_response(lambda r: "/attendance/count" in r.url):
        row.get_by_role("button", name="Check in Beatrice Waller").click()
    expect(row).to_contain_text("Checked in")
    expect(row).to_have_class(re.compile("checkin-card--in"))
    expect(row.get_by_role("button", name="Undo check-in of Beatrice Waller")).to_be_visible()
    expect(count).to_have_text(re.compile(r"^\s*1 attended / 1 registered · 0 walk-ins\s*$"))
    assert page.evaluate("window.__marker") == 1, "checking in reloaded the page"
    # Undo is its own button (its own route): the row and the counter go back.
    with page.expect_response(lambda r: "/attendance/count" in r.url):
        row.get_by_role("button", name="Undo check-in of Beatrice Waller").click()
    expect(row).to_contain_text("Not checked in yet")
    expect(count).to_have_text(re.compile(r"^\s*0 attended / 1 registered · 0 walk-ins\s*$"))
    # A double tap on Check in checks her in, once: the second tap never lands on Undo.
    button = row.get_by_role("button", name="Check in Beatrice Waller")
    box = button.bounding_box()
    with page.expect_response(lambda r: "/attendance/count" in r.url):
        button.click()
    expect(row).to_contain_text("Checked in")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    expect(row).to_contain_text("Checked in")
    expect(count).to_have_text(re.compile(r"^\s*1 attended / 1 registered · 0 walk-ins\s*$"))
    shot(page, "checkin-done")

    # The check-in is stored: a fresh load shows it.
    page.reload()
    expect(count).to_have_text(re.compile(r"^\s*1 attended / 1 registered · 0 walk-ins\s*$"))
    assert page.js_errors == []
