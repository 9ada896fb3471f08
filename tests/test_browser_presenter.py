"""The presenter screen on a projector and its control on a staff phone, in Chromium.

The screen (1920x1080, then 1280x720) fits with no scrollbars, its QR code is at least a third
of the screen's height and the six principles are all on screen, one with a long text clamped;
the tallies are hidden (how many voted, not how) until staff reveal them from a phone (a second
browser context, 375 px wide); the screen follows within 2 seconds without reloading, and then
shows one principle when the phone picks it, and no QR code once live voting is closed.
Screenshots go to test-artifacts/ (gitignored).
"""
import time

import pytest
from playwright.sync_api import expect

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import services as principles
from kil_network.principles.models import Stance
from kil_network.workshops.models import Registration, RegistrationState
from tests.support.browser import shot, sign_in
from tests.support.principles import ROUND_1, live_workshop, open_round

pytestmark = pytest.mark.browser

LONG_TEXT = ("Services should be coordinated at the neighbourhood level, with the council, the health service, "
             "schools, housing associations and the voluntary sector agreeing one plan for each neighbourhood, "
             "pooling budgets where they can, sharing what they know about the people they serve and answering "
             "together to the residents for what changes, year after year, in every ward of the borough.")
WORDING = {**ROUND_1, 2: ("Coordinate services locally, neighbourhood by neighbourhood, with every partner", LONG_TEXT)}

FITS = """() => ({scrollHeight: document.documentElement.scrollHeight, innerHeight: window.innerHeight,
                 scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})"""


def assert_fits(page, width, height):
    """No scrollbars at this size; the QR code at least a third of the height; every card on screen."""
    page.set_viewport_size({"width": width, "height": height})
    size = page.evaluate(FITS)
    assert size["scrollHeight"] <= size["innerHeight"] and size["scrollWidth"] <= size["innerWidth"], size
    cards = page.locator(".present-card")
    for i in range(cards.count()):
        box = cards.nth(i).bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= height and box["x"] + box["width"] <= width
    return size



def _shows_the_current_code(locator, request, workshop_id) -> None:
    """The element shows the server's current room code (read from the staff JSON: the live server
    has its own key). A new minute may begin between reading it and the page showing it, so the
    page gets its refresh period (the control refreshes every 10 s) and, should the minute turn
    meanwhile, one more try with the newer code."""
    url = f"/staff/workshops/{workshop_id}/room-code"
    try:
        expect(locator).to_have_text(request.get(url).json()["code"], timeout=12000)
    except AssertionError:
        expect(locator).to_have_text(request.get(url).json()["code"], timeout=12000)

def test_presenter_fits_and_follows_the_phone(page, browser, live_server, make_user):
    staff = make_user(email="staff@example.org", name="Sam Staff", role="staff")
    round_ = open_round(staff, wording=WORDING)
    workshop = live_workshop(round_, started_minutes_ago=20, hours=3, capacity=80,
                             title="Cardiff principles workshop", venue="Temple of Peace", postcode="CF10 3AP")
    first = principles.drafts_of(round_)[0]
    # 4 support, 2 oppose: a split the disclosure rules let the room see (5 or more, not all but one)
    for i, stance in enumerate(["support", "support", "oppose", "support", "oppose", "support"]):
        person = make_user(email=f"voter{i}@example.org", name=f"Voter Person{i}")
        db.session.add(Registration(workshop_id=workshop.id, user_id=person.id, member_type=person.member_type,
                                    state=RegistrationState.CONFIRMED, checked_in_at=utcnow()))
        db.session.flush()
        principles.cast_vote(person, first, Stance(stance), "", workshop.id)
    db.session.commit()

    # The projector: staff sign in on the room's laptop and open the screen.
    sign_in(page, "staff@example.org")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"/staff/workshops/{workshop.id}/present")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cardiff principles workshop")
    expect(page.locator(".present-card")).to_have_count(6)
    expect(page.locator(".site-header, .site-nav, .site-footer")).to_have_count(0)
    _shows_the_current_code(page.locator(".present__code"), page.request, workshop.id)
    expect(page.locator('[data-votes="1"]')).to_have_text("6")
    expect(page.locator("[data-count]")).to_have_count(0)  # hidden: how many voted, not how
    for width, height in ((1920, 1080), (1280, 720)):
        assert_fits(page, width, height)
        qr = page.locator(".present__qr svg").bounding_box()
        assert qr and qr["height"] >= height / 3 and qr["width"] >= height / 3, qr
        shot(page, f"presenter-{width}x{height}-hidden")
    page.evaluate("window.__marker = 1")
    # Two polls answered with a server error (a restart): the screen keeps polling.
    failed = []

    def fail_twice(route):
        if len(failed) < 2:
            failed.append(route.request.url)
            route.fulfill(status=500, body="<h1>Server error</h1>")
        else:
            route.continue_()

    page.route("**/present/poll?*", fail_twice)
    for _ in range(2):
        with page.expect_response(lambda r: "/present/poll" in r.url and r.status == 500):
            pass
    expect(page.locator("#present-poll")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("Server error")

    # The phone: staff open the control and reveal the tallies.
    phone_context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 667})
    try:
        phone = phone_context.new_page()
        sign_in(phone, "staff@example.org")
        phone.goto(f"/staff/workshops/{workshop.id}/control")
        _shows_the_current_code(phone.locator(".control__code"), phone.request, workshop.id)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375
        shot(phone, "presenter-control-375")
        started = time.monotonic()
        phone.get_by_role("button", name="Reveal the tallies").click()
        expect(phone.get_by_role("status")).to_have_text("The tallies are shown, and move as votes come in.")
        expect(page.locator('[data-count="support-1"]')).to_have_text("4 (67%)", timeout=2000)
        followed = time.monotonic() - started
        assert followed < 2.0, followed
        expect(page.locator('[data-count="oppose-1"]')).to_have_text("2 (33%)")
        expect(page.locator(".present-bars")).to_have_count(1)  # the others: no votes yet
        expect(page.locator(".present-card__hidden-note").first).to_have_text("Results appear from 5 votes")
        for width, height in ((1280, 720), (1920, 1080)):
            assert_fits(page, width, height)
            shot(page, f"presenter-{width}x{height}-revealed")

        # One principle at a time.
        phone.get_by_role("button", name="Principle 2: Coordinate services locally").click()
        expect(phone.get_by_role("status")).to_have_text("The screen shows principle 2.")
        expect(page.locator(".present-card")).to_have_count(1, timeout=2000)
        expect(page.locator(".present-card")).to_have_attribute("data-principle", "2")
        expect(page.locator(".present-card__number")).to_have_text("2 of 6")
        for width, height in ((1920, 1080), (1280, 720)):
            assert_fits(page, width, height)
        shot(page, "presenter-1280x720-one")
        shot(phone, "presenter-control-375-one")
        assert phone.evaluate("document.documentElement.scrollWidth") <= 375

        # Closing live voting takes the QR code and the room code off the screen.
        phone.get_by_role("button", name="Close live voting").click()
        expect(phone.get_by_role("status")).to_have_text("Live voting is closed.")
        expect(page.locator(".present__closed")).to_have_text("Live voting is closed", timeout=2000)
        expect(page.locator(".present__qr, .present__code")).to_have_count(0)
        assert_fits(page, 1280, 720)
        shot(page, "presenter-1280x720-closed")
    finally:
        phone_context.close()
    assert page.evaluate("window.__marker") == 1, "the presenter screen reloaded"
    assert page.js_errors == []
