"""On a phone (375×667): from the room code on the projector to a counted vote, timed.

A member signs in with the code emailed to them (read from the live server's captured mail),
a newcomer joins in the room and confirms with the same kind of code, and an expired room code
is refused with a way on. Each page of the way is checked with axe-core and for reflow."""
import re
import time

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kil_network.auth.models import User
from kil_network.extensions import db
from kil_network.principles.models import VoteTally
from kil_network.workshops.models import Registration
from tests.support.browser import PASSWORD, shot
from tests.support.mail import email_text
from tests.support.principles import card, open_round
from tests.support.principles import live_workshop as make_live_workshop
from tests.support.reflow import assert_reflows

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}


@pytest.fixture
def live_workshop(app, make_user):
    """An open round and a workshop happening now with live voting open; staff to read the room code."""
    staff = make_user(email="organiser@example.org", role="staff")
    round_ = open_round(staff)
    return make_live_workshop(round_)


def room_code(browser, live_server, workshop) -> str:
    """This minute's code, as the presenter screen shows it: the live server's staff JSON, read in a
    staff browser context of its own (the phone is not signed in)."""
    staff = browser.new_context(base_url=live_server)
    try:
        login = staff.request.get("/auth/login").text()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login).group(1)
        staff.request.post("/auth/login", form={"email": "organiser@example.org", "password": PASSWORD,
                                                "csrf_token": token})
        response = staff.request.get(f"/staff/workshops/{workshop.id}/room-code")
        assert response.status == 200, response.text()[:300]
        return response.json()["code"]
    finally:
        staff.close()


def check_page(page) -> None:
    """No axe-core violations and no sideways scrolling."""
    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"
    assert_reflows(page, "room " + page.url.split("/", 3)[-1])


def emailed_code(live_smtp, email: str) -> str:
    message = live_smtp.wait_for(lambda m: email in m.envelope_to and "sign-in code" in m["Subject"])
    return re.search(r"^\s+(\d{6})\s*$", email_text(message), re.M).group(1)


def workshop_support(workshop) -> int:
    db.session.expire_all()
    tally = db.session.scalar(sa.select(VoteTally).where(VoteTally.dimension == "workshop",
                                                         VoteTally.key == str(workshop.id)))
    return tally.support if tally else 0


def vote_support_on_principle_1(page) -> None:
    item = card(page, 1)
    item.get_by_label("Support", exact=True).check()
    item.get_by_role("button", name="Save my vote on principle 1").click()
    expect(item.locator(".principle-card__vote")).to_have_text("Your vote: Support")


def test_a_member_scans_the_room_code_and_votes_in_under_a_minute(browser, live_server, page, live_smtp, make_user,
                                                                  live_workshop):
    make_user(email="ada@example.org", name="Ada Member")
    code = room_code(browser, live_server, live_workshop)
    live_smtp.clear()
    page.set_viewport_size(PHONE)

    started = time.monotonic()
    page.goto(f"/w/{live_workshop.id}?code={code}")
    page.get_by_label("Your email address").fill("ada@example.org")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_text("Enter the 6-digit code we sent to")).to_be_visible()
    page.get_by_label("6-digit code").fill(emailed_code(live_smtp, "ada@example.org"))
    page.get_by_role("button", name="Sign in and vote").click()
    expect(page).to_have_url(re.compile(rf"/principles/\?workshop={live_workshop.id}$"))
    vote_support_on_principle_1(page)
    seconds = time.monotonic() - started
    print(f"\nmember: room code scanned to a counted vote in {seconds:.1f} s")
    assert seconds < 60
    assert workshop_support(live_workshop) == 1
    assert "code=" not in page.url
    expect(page.locator("main")).to_contain_text("You are checked in at Leeds principles workshop")
    shot(page, "room-member-voting-375")
    assert not page.js_errors


def test_a_newcomer_joins_in_the_room_and_votes_in_under_two_minutes(browser, live_server, page, live_smtp,
                                                                    live_workshop):
    code = room_code(browser, live_server, live_workshop)
    live_smtp.clear()
    page.set_viewport_size(PHONE)

    started = time.monotonic()
    page.goto(f"/w/{live_workshop.id}?code={code}")
    email_step = time.monotonic()
    check_page(page)
    paused = time.monotonic() - email_step
    page.get_by_label("Your email address").fill("nia@example.org")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_role("heading", name="Join the Network to vote")).to_be_visible()
    expect(page.get_by_label("Email address", exact=True)).to_have_value("nia@example.org")
    page.get_by_label("Full name").fill("Nia Newcomer")
    page.get_by_label("I am a").select_option(label="Community organisation")
    page.get_by_label("Organisation name").fill("Leeds Food Hub")
    expect(page.get_by_label("Send me campaign emails", exact=False)).not_to_be_checked()
    page.get_by_label("I have read the privacy notice", exact=False).check()
    page.get_by_role("button", name="Join and send me a code").click()
    expect(page.get_by_text("Enter the 6-digit code we sent to")).to_be_visible()
    page.get_by_label("6-digit code").fill(emailed_code(live_smtp, "nia@example.org"))
    page.get_by_role("button", name="Sign in and vote").click()
    expect(page).to_have_url(re.compile(rf"/principles/\?workshop={live_workshop.id}$"))
    vote_support_on_principle_1(page)
    seconds = time.monotonic() - started - paused
    print(f"\nnewcomer: room code scanned to joined, confirmed and a counted vote in {seconds:.1f} s")
    assert seconds < 120
    assert workshop_support(live_workshop) == 1
    db.session.expire_all()
    nia = db.session.scalar(sa.select(User).where(User.email == "nia@example.org"))
    assert nia.is_confirmed and nia.password_hash == ""
    reg = db.session.scalar(sa.select(Registration).where(Registration.user_id == nia.id))
    assert reg.workshop_id == live_workshop.id and reg.checked_in_at is not None
    assert not page.js_errors


def test_the_short_join_and_code_pages_pass_axe_with_errors(browser, live_server, page, live_workshop):
    """The join form with its errors and the code page after a wrong code, on the phone."""
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"/w/{live_workshop.id}?code={room_code(browser, live_server, live_workshop)}")
    page.get_by_label("Your email address").fill("cal@example.org")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("I am a").select_option(label="Councillor")
    page.get_by_role("button", name="Join and send me a code").click()
    expect(page.locator("[data-error-summary]")).to_contain_text("Select the council you work for or represent")
    check_page(page)
    shot(page, "room-join-errors-320")


def test_an_expired_room_code_is_refused_with_a_clear_way_on(browser, live_server, page, make_user, live_workshop):
    make_user(email="ada@example.org")
    old = "ACDEFG"  # not this minute's code nor the last one's (a six-letter code from the alphabet)
    page.set_viewport_size(PHONE)
    response = page.goto(f"/w/{live_workshop.id}?code={old}")
    assert response.status == 410
    expect(page.get_by_role("alert")).to_contain_text("This room code has expired")
    check_page(page)
    shot(page, "room-expired-375")
    current = room_code(browser, live_server, live_workshop)
    page.get_by_label("Type the room code shown on the screen").fill(current.lower())
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_label("Your email address")).to_be_visible()
    check_page(page)
    expect(page.get_by_role("link", name="Sign in with your password")).to_be_visible()
    # A wrong code: the error, how many tries are left, and the page still passes axe.
    page.get_by_label("Your email address").fill("ada@example.org")
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("6-digit code").fill("000000")
    page.get_by_role("button", name="Sign in and vote").click()
    expect(page.locator("[data-error-summary]")).to_contain_text("tries left")
    check_page(page)
