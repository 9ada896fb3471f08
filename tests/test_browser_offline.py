"""The check-in page through a Wi-Fi drop, in Chromium: two staff phones (375 px) lose the network,
each checks in a different person (the card says "waiting to send"), search still works on the
phone, a reload with the network cut still opens the page (the service worker's copy) with the tap
still waiting; back online, both taps reach the server with the times they were made, and the
lists and counters catch up (the offline page passes axe and reflows at 320 px); signing out
deletes the phone's copies. Screenshots (test-artifacts/): checkin-offline-375.png,
checkin-offline-reloaded-375.png, checkin-back-online-375.png.
"""
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.workshops import queries, services
from kil_network.workshops.models import CheckInMethod, Registration, WorkshopFormat
from tests.support.browser import PASSWORD, shot
from tests.support.reflow import PHONE, assert_reflows

pytestmark = pytest.mark.browser

OFFLINE = "You are offline. Check-ins are kept on this phone and sent when the connection is back."


def a_workshop_today(make_user):
    """A published workshop that started ten minutes ago, with three confirmed people."""
    organiser = make_user(email="organiser@example.org", name="Olu Organiser", role="staff")
    starts = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    workshop = services.create_workshop(organiser, {
        "title": "Door test", "description": "On the day.", "region": None, "format": WorkshopFormat.IN_PERSON,
        "venue": "Leeds Civic Hall", "address": "Calverley Street", "postcode": "LS1 1UR", "online_url": "",
        "starts_at": starts, "ends_at": starts + timedelta(hours=2),
        "registration_closes_at": starts - timedelta(days=1), "capacity": 10, "accessibility_info": "",
        "mix_max_percent": None})
    services.publish_workshop(organiser, workshop)
    regs = {name: services.register(workshop, make_user(email=f"{name.lower()}@example.org", name=f"{name} Person",
                                                        organisation=f"{name} Trust"))
            for name in ("Amara", "Ben", "Cara")}
    workshop.starts_at = (utcnow() - timedelta(minutes=10)).replace(microsecond=0)
    workshop.ends_at = workshop.starts_at + timedelta(hours=2)
    workshop.registration_closes_at = workshop.starts_at - timedelta(days=1)
    db.session.commit()
    return workshop, regs


def phones(browser, live_server, *emails):
    """Staff phones: each its own browser context (its own IndexedDB and service worker), signed in
    through the form (the sign-ins sent together, then waited for)."""
    pages = []
    for email in emails:
        context = browser.new_context(base_url=live_server, viewport={"width": 375, "height": 667})
        context.set_default_timeout(10000)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda exc, page=page: page.js_errors.append(str(exc)))
        page.goto("/auth/login")
        page.get_by_label("Email address", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        pages.append(page)
    for page in pages:
        page.get_by_role("button", name="Sign in").click(no_wait_after=True)
    for page in pages:
        expect(page).to_have_url(re.compile(r"/account/$"))
    return pages


def open_ready(page, url):
    """Open the check-in page and wait until the service worker controls it and keeps a copy of the
    page and of htmx, and the list is on the phone."""
    page.goto(url)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.wait_for_function("""async () => {
        const cache = await caches.open('kil-checkin-v1');
        return !!(await cache.match(location.origin + location.pathname)) && !!(await cache.match(
            new URL(document.querySelector('script[src*="htmx"]').src).href));
    }""")


def queued_taps(page) -> list[dict]:
    """The taps this phone keeps in IndexedDB, waiting to be sent."""
    return page.evaluate("""() => new Promise((resolve, reject) => {
        const open = indexedDB.open('kil-checkin', 1);
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
            const request = open.result.transaction('queue').objectStore('queue').getAll();
            request.onsuccess = () => resolve(request.result);
        };
    })""")


def card(page, name):
    """A person's card on the check-in list."""
    return page.locator("#checkin-rows [data-registration-id]", has=page.get_by_role("link", name=name))


def test_two_phones_check_in_offline_and_catch_up(browser, live_server, app, make_user):
    """Both phones offline → each checks in a different person → search and a reload work offline →
    online → both check-ins on the server with their tap times; the lists and counters catch up."""
    make_user(email="door1@example.org", name="Dora Door", role="staff")
    make_user(email="door2@example.org", name="Dev Door", role="staff")
    workshop, regs = a_workshop_today(make_user)
    url = f"/staff/workshops/{workshop.id}/attendance"
    one, two = phones(browser, live_server, "door1@example.org", "door2@example.org")
    try:
        for page in (one, two):
            open_ready(page, url)
            expect(page.locator("#offline-status")).to_be_hidden()

        # The network goes: each phone says so, and a tap is kept with its time.
        taps = {}
        for page, name in ((one, "Amara Person"), (two, "Ben Person")):
            page.context.set_offline(True)
            expect(page.locator("#offline-status")).to_have_text(re.compile(re.escape(OFFLINE)))
            page.get_by_label("Find a person by name or email").fill(name.split()[0].lower())
            expect(card(page, name)).to_be_visible()
            expect(page.locator("#checkin-rows [data-registration-id]:visible")).to_have_count(1)
            card(page, name).get_by_role("button", name=f"Check in {name}").click()
            expect(card(page, name)).to_contain_text("Checked in (waiting to send)")
            expect(page.locator("#offline-status")).to_contain_text("1 check-in is waiting to send")
            [taps[name]] = queued_taps(page)
            tapped = datetime.fromisoformat(taps[name]["at"])
            assert abs(tapped - utcnow()) < timedelta(seconds=5)
        shot(one, "checkin-offline-375")

        # Search on the phone, offline: nobody, then everyone again.
        search = one.get_by_label("Find a person by name or email")
        search.fill("zzz")
        expect(one.locator("#checkin-rows [data-registration-id]:visible")).to_have_count(0)
        expect(one.get_by_text("Nobody matches “zzz”.")).to_be_visible()
        # The server's rule (core.textsearch): each word typed starts a word of the name, email
        # or organisation, case and accents folded; the middle of a word finds nobody.
        for typed, found in (("CÁRA tru", 1), ("person", 3), ("cara@example", 1), ("ara", 0)):
            search.fill(typed)
            expect(one.locator("#checkin-rows [data-registration-id]:visible")).to_have_count(found)
            assert [row.person_name for row in queries.check_in_list(workshop, typed)] == (
                ["Cara Person"] if found == 1 else ["Amara Person", "Ben Person", "Cara Person"][:found])
        search.fill("")
        expect(one.locator("#checkin-rows [data-registration-id]:visible")).to_have_count(3)
        assert re.search(rf"{url}$", one.url)

        # A reload with the network cut: the service worker's copy (the title as it was when the
        # page was kept, not as the server has it now), the tap still waiting.
        workshop.title = "Door test, renamed meanwhile"
        db.session.commit()
        assert one.reload().from_service_worker
        expect(one.locator("h1")).to_have_text("Check-in: Door test")
        expect(one.locator("#offline-status")).to_contain_text(OFFLINE)
        expect(card(one, "Amara Person")).to_contain_text("Checked in (waiting to send)")
        shot(one, "checkin-offline-reloaded-375")
        one.set_viewport_size(PHONE)  # the offline state at 320 px: no sideways scroll, no axe violation
        assert_reflows(one, "checkin-offline")
        results = Axe().run(one)
        assert results.violations_count == 0, results.generate_report()
        one.set_viewport_size({"width": 375, "height": 667})
        one.get_by_label("Find a person by name or email").fill("cara")
        expect(one.locator("#checkin-rows [data-registration-id]:visible")).to_have_count(1)
        one.get_by_label("Find a person by name or email").fill("")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)
                                 .where(Registration.checked_in_at.is_not(None))) == 0

        # The network is back: each phone sends its queue; nothing is lost.
        back_online = utcnow()
        for page in (one, two):
            page.context.set_offline(False)
            expect(page.locator("#offline-status")).to_contain_text("1 check-in sent.")
            assert queued_taps(page) == []
        for page in (one, two):
            expect(page.locator("#attendance-count")).to_contain_text("2 attended / 3 registered")
        two.get_by_label("Find a person by name or email").fill("")
        expect(card(two, "Amara Person")).to_contain_text("Checked in")
        expect(card(two, "Ben Person")).to_contain_text("Checked in")
        expect(card(two, "Ben Person")).not_to_contain_text("waiting to send")
        # Phone one sent first: its cards catch up with phone two's tap when its counter does.
        expect(card(one, "Ben Person")).to_have_attribute("data-checked-in", "1")
        expect(card(one, "Ben Person")).to_contain_text("Checked in")
        shot(two, "checkin-back-online-375")
        for name, reg, staff in (("Amara Person", regs["Amara"], "door1@example.org"),
                                 ("Ben Person", regs["Ben"], "door2@example.org")):
            db.session.expire_all()
            saved = db.session.get(Registration, reg.id)
            tapped = datetime.fromisoformat(taps[name]["at"])
            assert abs(saved.checked_in_at - tapped) < timedelta(milliseconds=2), "the tap's time, not the send's"
            assert saved.checked_in_at < back_online
            assert saved.check_in_method == CheckInMethod.OFFLINE
            assert saved.checked_in_by_id == db.session.scalar(
                sa.text("SELECT id FROM users WHERE email = :e"), {"e": staff})
        assert db.session.get(Registration, regs["Cara"].id).checked_in_at is None
        assert one.js_errors == [] and two.js_errors == []

        # Signing out deletes the phone's copies of the list and of the page.
        one.get_by_role("button", name="Sign out").click()
        expect(one).not_to_have_url(re.compile("/attendance"))
        assert one.evaluate("() => caches.has('kil-checkin-v1')") is False
        assert one.evaluate("""() => new Promise((resolve) => {
            const open = indexedDB.open('kil-checkin', 1);
            open.onsuccess = () => {
                const request = open.result.transaction('lists').objectStore('lists').count();
                request.onsuccess = () => resolve(request.result);
            };
        })""") == 0
    finally:
        one.context.close()
        two.context.close()
