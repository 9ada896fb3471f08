"""Check-in at the door (issue 11): the waitlist asks first, walk-ins say what happened, the
attendee's ticket URL (/t/<code>) for staff, the attendee and anyone else, scanning a ticket (every
outcome), the live counter, idempotent taps and a check-in page whose queries do not grow."""
import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth.models import MemberType, User
from kil_network.core.timeutil import LONDON, utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.workshops import queries, services
from kil_network.workshops.models import CheckInMethod, Registration, RegistrationEvent, WorkshopFormat
from kil_network.workshops.notifications import check_in_url
from kil_network.workshops.services import ScanKind
from tests.support.app import signed_in
from tests.support.db import queries_for
from tests.support.vnu import check_with_vnu, needs_java

HX = {"HX-Request": "true"}


def text(response) -> str:
    """The response body as text with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def words(response) -> str:
    """The body's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(response)))


def fresh(reg: Registration) -> Registration:
    """The registration read again from the database."""
    db.session.expire_all()
    return db.session.get(Registration, reg.id)


@pytest.fixture
def sam(make_user):
    """The member of staff at the door."""
    return make_user(email="sam.staff@example.org", name="Sam Staff", role="staff")


@pytest.fixture
def make_workshop(sam):
    """A published workshop a week away, made through the services."""

    def factory(title="Check-in day in Leeds", capacity=2):
        starts = (utcnow() + timedelta(days=7)).replace(second=0, microsecond=0)
        workshop = services.create_workshop(sam, {
            "title": title, "description": "Co-design the principles.",
            "region": db.session.scalar(sa.select(Region).where(Region.name == "Yorkshire and The Humber")),
            "format": WorkshopFormat.IN_PERSON,
            "venue": "Leeds Civic Hall", "address": "Calverley Street, Leeds", "postcode": "LS1 1UR",
            "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
            "registration_closes_at": starts - timedelta(hours=1), "capacity": capacity,
            "accessibility_info": "", "mix_max_percent": None,
        })
        services.publish_workshop(sam, workshop)
        db.session.commit()
        return workshop

    return factory


@pytest.fixture
def door(make_workshop, make_user):
    """A workshop with two confirmed places (Amara, Ben), Cara on the waitlist and Dan cancelled."""
    workshop = make_workshop()
    people = {
        name: make_user(email=f"{name}@example.org", name=full, organisation=org)
        for name, full, org in [("amara", "Amara Okafor", "Hackney Food Hub"), ("ben", "Ben Hughes", "Leeds Trust"),
                                ("cara", "Cara Cole", "Cardiff Circle"), ("dan", "Dan Gone", "Gone Org")]
    }
    regs = {name: services.register(workshop, user) for name, user in people.items()}
    services.cancel_registration(regs["dan"], people["dan"])
    db.session.commit()
    assert regs["cara"].is_waitlisted
    return workshop, people, regs


# --- The waitlist asks first ---------------------------------------------------------------

def test_a_staff_tap_on_the_waitlist_asks_and_confirming_gives_the_place(door, sam):
    """check_in refuses to promote silently; confirm_waitlisted does; the history says so."""
    workshop, _, regs = door
    with pytest.raises(services.WaitlistedNeedsConfirmation, match="On the waitlist — Confirm a place"):
        services.check_in(sam, regs["cara"], method=CheckInMethod.SCAN)
    db.session.rollback()
    assert not fresh(regs["cara"]).attended and fresh(regs["cara"]).is_waitlisted
    assert services.check_in(sam, fresh(regs["cara"]), confirm_waitlisted=True) is True
    db.session.commit()
    reg = fresh(regs["cara"])
    assert reg.is_confirmed and reg.attended and reg.check_in_method == "staff"
    actions = db.session.scalars(sa.select(RegistrationEvent.action).where(
        RegistrationEvent.registration_id == reg.id).order_by(RegistrationEvent.id)).all()
    assert actions[-2:] == ["promoted", "checked_in"]


def test_an_offline_tap_on_the_waitlist_gives_the_place_without_asking(door, sam):
    """The phone could not ask while offline: the queued tap is kept, with its time."""
    _, _, regs = door
    tapped = utcnow() - timedelta(minutes=3)
    assert services.check_in(sam, regs["cara"], method=CheckInMethod.OFFLINE, at=tapped) is True
    db.session.commit()
    reg = fresh(regs["cara"])
    assert reg.is_confirmed and reg.check_in_method == "offline"
    assert abs(reg.checked_in_at - tapped) < timedelta(seconds=1)


def test_waitlisted_card_asks_then_confirm_checks_in(client, as_role, door):
    """Over htmx: the first tap returns the card asking, nothing changes and the counter is not told;
    the confirm button posts confirm=1 from another place on the card."""
    workshop, _, regs = door
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{regs['cara'].id}"
    asked = client.post_form(url, {}, headers=HX)
    body = text(asked)
    assert asked.status_code == 200 and "HX-Trigger" not in asked.headers
    assert "On the waitlist — Confirm a place and check in?" in body and 'name="confirm" value="1"' in body
    assert "data-check-in-form" not in body  # the spot of the Check in button now holds the question
    assert not fresh(regs["cara"]).attended
    done = client.post_form(url, {"confirm": "1"}, headers=HX)
    assert done.headers["HX-Trigger"] == "attendance-changed" and 'data-checked-in="1"' in text(done)
    assert fresh(regs["cara"]).is_confirmed


def test_waitlisted_tap_without_js_goes_to_the_registration_page_that_confirms(client, as_role, door):
    """Without htmx the tap lands on the person's page, whose button confirms a place."""
    workshop, _, regs = door
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{regs['cara'].id}"
    response = client.post_form(url, {})
    assert response.status_code == 303 and response.headers["Location"] == url
    page = text(client.get(url))
    assert "Cara Cole is on the waitlist. Confirm a place and check in?" in page
    assert "Confirm a place and check in</button>" in page and 'name="confirm" value="1"' in page
    client.post_form(url, {"confirm": "1", "back": "registration"})
    assert fresh(regs["cara"]).attended


# --- Idempotent taps, undo apart --------------------------------------------------------------

def test_two_taps_leave_them_checked_in_and_undo_is_its_own_action(client, as_role, door):
    """A double tap checks in once (one history entry); Undo check-in is a separate route."""
    workshop, _, regs = door
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{regs['amara'].id}"
    first, second = client.post_form(url, {}, headers=HX), client.post_form(url, {}, headers=HX)
    assert 'data-checked-in="1"' in text(first) and 'data-checked-in="1"' in text(second)
    assert "Undo check-in" in text(second) and "data-check-in-form" not in text(second)
    checked = db.session.scalars(sa.select(RegistrationEvent).where(
        RegistrationEvent.registration_id == regs["amara"].id, RegistrationEvent.action == "checked_in")).all()
    assert len(checked) == 1 and fresh(regs["amara"]).attended
    client.post_form(url + "/undo", {}, headers=HX)
    assert not fresh(regs["amara"]).attended


# --- Walk-ins say what happened ---------------------------------------------------------------

def test_walk_in_outcomes_say_what_happened(door, sam, make_user):
    """A new member, someone already registered, someone already checked in, the waitlist, a guest twice."""
    workshop, people, regs = door
    eve = make_user(email="eve@example.org", name="Eve Evans")
    assert services.admit_walk_in(sam, workshop, email=eve.email).message == "Eve Evans added and checked in."
    outcome = services.admit_walk_in(sam, workshop, email="AMARA@example.org")
    assert outcome.message == "Amara Okafor was already registered: checked in now."
    assert outcome.reg.id == regs["amara"].id and not outcome.reg.walk_in and outcome.reg.attended
    db.session.commit()
    at = fresh(regs["amara"]).checked_in_at.astimezone(LONDON)
    again = services.admit_walk_in(make_user(email="alex@example.org", name="Alex", role="staff"), workshop,
                                   email=people["amara"].email)
    assert again.message == f"Amara Okafor was already registered and checked in at {at:%H:%M} by Sam Staff."
    waiting = services.admit_walk_in(sam, workshop, email=people["cara"].email)
    assert waiting.message == "Cara Cole was on the waitlist: given a place and checked in now."
    assert waiting.reg.is_confirmed
    guest = services.admit_walk_in(sam, workshop, name="Gita Guest", email="gita@example.org",
                                   member_type=MemberType.COUNCILLOR)
    assert guest.message.endswith("We have emailed them an invitation to join the Network.")
    twice = services.admit_walk_in(sam, workshop, name="Gita Guest", email="Gita@example.org",
                                   member_type=MemberType.COUNCILLOR)
    assert twice.reg.id == guest.reg.id and twice.message.startswith("Gita Guest was already added: checked in at ")
    back = services.admit_walk_in(sam, workshop, email=people["dan"].email)
    assert back.message == "Dan Gone had cancelled their place: added back as a walk-in and checked in."


def test_walk_in_form_flashes_the_outcome(client, as_role, door):
    """The walk-in form shows the service's message."""
    workshop, _, _ = door
    as_role("staff")
    response = client.post_form(f"/staff/workshops/{workshop.id}/walk-in",
                                {"email": "ben@example.org", "name": "", "member_type": ""})
    assert "Ben Hughes was already registered: checked in now." in text(client.get(response.headers["Location"]))


# --- The attendee's ticket: /t/<code> -----------------------------------------------------------

def test_the_qr_code_carries_the_ticket_url_not_a_database_id(door):
    """check_in_url is /t/<check_in_code> (the email's and My workshops' QR code)."""
    _, _, regs = door
    url = check_in_url(regs["amara"])
    assert url.endswith(f"/t/{regs['amara'].check_in_code}") and "/staff/" not in url
    assert len(regs["amara"].check_in_code) >= 20


def test_ticket_for_staff_shows_the_door_result_without_checking_in(client, as_role, door):
    """Staff opening the link get the result and a one-tap Check in; a GET changes nothing."""
    workshop, _, regs = door
    as_role("staff")
    body = text(client.get(f"/t/{regs['amara'].check_in_code}"))
    assert 'data-scan-kind="ready"' in body and "Amara Okafor" in body and "Hackney Food Hub" in body
    assert f'action="/staff/workshops/{workshop.id}/scan"' in body and regs["amara"].check_in_code in body
    assert not fresh(regs["amara"]).attended
    services.check_in(db.session.get(User, regs["ben"].user_id), regs["amara"])
    db.session.commit()
    assert 'data-scan-kind="already"' in text(client.get(f"/t/{regs['amara'].check_in_code}"))


def test_ticket_for_the_attendee_is_their_ticket(client, auth, door):
    """The attendee signed in sees the workshop, time, place, their state and their QR code."""
    workshop, people, regs = door
    auth.login(people["amara"].email)
    body = text(client.get(f"/t/{regs['amara'].check_in_code}"))
    assert f"Your ticket: {workshop.title}" in body and "Leeds Civic Hall" in body and "Confirmed" in body
    assert 'class="qr"' in body and "Not yet" in body
    waiting = text(client.get(f"/t/{regs['cara'].check_in_code}"))  # someone else's: no personal data
    assert "Cara" not in waiting and f"A ticket for {workshop.title}" in waiting


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_ticket_for_anyone_else_has_no_personal_data(client, as_role, door, who):
    """Anyone else: whose workshop this ticket is for and to show it at the door; no name or email."""
    workshop, _, regs = door
    as_role(who)
    response = client.get(f"/t/{regs['amara'].check_in_code}")
    body = text(response)
    assert response.status_code == 200 and f"A ticket for {workshop.title}" in body
    assert "Show it to staff at the door" in body
    assert "Amara" not in body and "amara@" not in body and "Hackney" not in body and 'class="qr"' not in body


@pytest.mark.both_databases
def test_unknown_ticket_code_is_404(client, as_role, door):
    """A code that is no ticket: 404, for staff too; junk (a NUL, which PostgreSQL refuses) never
    reaches a query: 404, and "not a ticket" from the scan endpoint."""
    workshop, _, _ = door
    as_role("staff")
    assert client.get("/t/not-a-real-ticket-code").status_code == 404
    assert client.get("/t/abc%00def").status_code == 404
    body = text(client.post_form(f"/staff/workshops/{workshop.id}/scan", {"code": "https://x/t/abc\x00def"},
                                 headers=HX))
    assert 'data-scan-kind="unknown"' in body


# --- Scanning: every outcome ----------------------------------------------------------------------

def test_scan_outcomes(door, sam, make_workshop, make_user):
    """Checked in (method scan), already (when and by whom), waitlisted (asks, then confirm), cancelled,
    another workshop, unknown, and another day (warned, still checked in)."""
    workshop, _, regs = door
    day = workshop.starts_at
    scan = lambda code, **kw: services.scan_ticket(sam, workshop, code, now=day, **kw)  # noqa: E731
    result = scan(check_in_url(regs["amara"]))
    assert (result.kind, result.reg.id, result.warning) == (ScanKind.CHECKED_IN, regs["amara"].id, "")
    assert re.fullmatch(r"Checked in at \d\d:\d\d by Sam Staff\.", result.message)
    assert fresh(regs["amara"]).check_in_method == "scan"
    db.session.commit()
    again = scan(regs["amara"].check_in_code)
    assert again.kind == ScanKind.ALREADY and again.reg.id == regs["amara"].id
    assert re.fullmatch(r"Already checked in at \d\d:\d\d by Sam Staff\.", again.message)
    waiting = scan(regs["cara"].check_in_code)
    assert waiting.kind == ScanKind.WAITLISTED and not fresh(regs["cara"]).attended
    assert waiting.message == "On the waitlist: confirm a place and check in?" and waiting.reg.id == regs["cara"].id
    confirmed = scan(regs["cara"].check_in_code, confirm=True)
    assert confirmed.kind == ScanKind.CHECKED_IN and fresh(regs["cara"]).is_confirmed
    assert scan(regs["dan"].check_in_code).kind == ScanKind.CANCELLED and not fresh(regs["dan"]).attended
    other = make_workshop("Another one in Bristol")
    elsewhere = services.register(other, make_user(email="olly@example.org", name="Olly Other"))
    result = scan(elsewhere.check_in_code)
    assert result.kind == ScanKind.OTHER_WORKSHOP and "Another one in Bristol" in result.message
    assert not fresh(elsewhere).attended
    assert scan("https://example.org/t/nope").kind == ScanKind.UNKNOWN and scan("").kind == ScanKind.UNKNOWN
    early = services.scan_ticket(sam, workshop, regs["ben"].check_in_code, now=day - timedelta(days=2))
    assert early.kind == ScanKind.CHECKED_IN and early.warning.startswith("Not this workshop's day: it is on ")
    assert fresh(regs["ben"]).attended


def test_ticket_code_from_what_was_scanned():
    """The code from a ticket URL (with a query or trailing slash) or as typed."""
    assert services.ticket_code("https://kil.example/t/AbC-12_x?utm=1") == "AbC-12_x"
    assert services.ticket_code(" AbC-12_x/ ") == "AbC-12_x"
    assert services.ticket_code("") == "" and services.ticket_code("abc\x00def") == ""
    assert services.ticket_code("https://kil.example/t/" + "x" * 65) == ""


def test_scan_endpoint_answers_the_result_and_tells_the_counter(client, as_role, door):
    """htmx gets the result alone (big, with its kind); a check-in triggers the counter; the scan page
    (only) allows the camera."""
    workshop, _, regs = door
    as_role("staff")
    page = client.get(f"/staff/workshops/{workshop.id}/scan")
    assert page.status_code == 200 and page.headers["Permissions-Policy"].startswith("camera=(self)")
    assert "/vendor/jsQR.js" in text(page) and "/static/js/scan.js" in text(page) and 'id="scan-code"' in text(page)
    assert "camera=()" in client.get(f"/staff/workshops/{workshop.id}/attendance").headers["Permissions-Policy"]
    url = f"/staff/workshops/{workshop.id}/scan"
    response = client.post_form(url, {"code": check_in_url(regs["ben"])}, headers=HX)
    body = text(response)
    assert body.lstrip().startswith('<div class="scan-result scan-result--good" data-scan-kind="checked_in"')
    assert "Ben Hughes" in body and "Leeds Trust" in body and response.headers["HX-Trigger"] == "attendance-changed"
    assert fresh(regs["ben"]).check_in_method == "scan"
    waiting = text(client.post_form(url, {"code": regs["cara"].check_in_code}, headers=HX))
    assert 'data-scan-kind="waitlisted"' in waiting and "Confirm a place and check in" in waiting
    assert 'data-scan-kind="cancelled"' in text(client.post_form(url, {"code": regs["dan"].check_in_code}, headers=HX))
    assert 'data-scan-kind="unknown"' in text(client.post_form(url, {"code": "zzz"}, headers=HX))
    plain = client.post_form(url, {"code": regs["amara"].check_in_code})  # no JS: the whole page with the result
    assert plain.status_code == 200 and 'data-scan-kind="checked_in"' in text(plain) and "<html" in text(plain)


def test_scan_at_a_cancelled_workshop_is_refused(client, as_role, door, sam):
    """The workshop takes no check-ins: the result says so and nothing changes."""
    workshop, _, regs = door
    services.cancel_workshop(sam, workshop, "The venue flooded.")
    db.session.commit()
    as_role("staff")
    body = text(client.post_form(f"/staff/workshops/{workshop.id}/scan", {"code": regs["ben"].check_in_code},
                                 headers=HX))
    assert 'data-scan-kind="refused"' in body and "This workshop has been cancelled." in body
    assert not fresh(regs["ben"]).attended


def test_scan_pages_are_staff_only(client, as_role, door):
    """Members get 403 on the scan page and endpoint."""
    workshop, _, regs = door
    as_role("member")
    assert client.get(f"/staff/workshops/{workshop.id}/scan").status_code == 403
    assert client.post_form(f"/staff/workshops/{workshop.id}/scan", {"code": regs["ben"].check_in_code}
                            ).status_code == 403
    assert not fresh(regs["ben"]).attended


# --- The check-in page: contract, method shown, counter, queries ---------------------------------

def test_check_in_page_keeps_the_offline_contract_and_shows_how(client, as_role, door, sam):
    """Cards with data-registration-id/data-search/data-checked-in, forms marked data-check-in-form, the
    offline status and script; each check-in shows its method and time (also on the registration page)."""
    workshop, _, regs = door
    services.self_check_in(db.session.get(User, regs["ben"].user_id), workshop)
    db.session.commit()
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}/attendance"))
    assert '<ul id="checkin-rows"' in body
    assert '<p id="offline-status" class="offline-status" role="status" hidden>' in body
    assert "/static/js/checkin-offline.js" in body and "/static/css/checkin.css" in body
    assert f'data-registration-id="{regs["amara"].id}"' in body
    assert 'data-search="amara okafor amara@example.org hackney food hub"' in body
    assert body.count('data-checked-in="1"') == 1 and body.count("data-check-in-form") == 2  # Amara, Cara
    assert "Scan tickets" in body and "Self check-in via room code at " in body
    page = text(client.get(f"/staff/workshops/{workshop.id}/attendance/{regs['ben'].id}"))
    assert "Self check-in via room code at " in page


def test_search_finds_by_organisation_too(client, as_role, door):
    """The server's search matches what the cards' data-search holds: name, email or organisation."""
    workshop, _, _ = door
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}/attendance?q=cardiff circle", headers=HX))
    assert "Cara Cole" in body and "Amara Okafor" not in body
    assert "Ben Hughes" in text(client.get(f"/staff/workshops/{workshop.id}/attendance?q=ben@", headers=HX))


def test_counter_counts_walk_ins_and_polls(client, as_role, door, sam):
    """attended / registered / walk-ins from one query; the partial polls every 3 s and on each change."""
    workshop, _, regs = door
    services.check_in(sam, regs["amara"])
    services.add_walk_in(sam, workshop, name="Gita Guest", email="gita@example.org", member_type=MemberType.OTHER)
    db.session.commit()
    assert queries.attendance_counts(workshop) == {"attended": 2, "registered": 3, "walk_ins": 1}
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/count"
    response = client.get(url, headers=HX)
    assert "2 attended / 3 registered · 1 walk-in" in words(response)
    assert 'data-hx-trigger="attendance-changed from:body, every 3s"' in text(response)
    assert queries_for(client, url) <= 4  # the user, the workshop, the counts (one query)


def test_check_in_page_queries_do_not_grow_with_the_list(client, as_role, make_workshop, make_user, sam):
    """10 people or 50: the same number of statements (one list query, members and organisations joined)."""
    workshop = make_workshop("Big day", capacity=100)
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance"

    def grow_to(n):
        have = len(queries.check_in_list(workshop))
        for i in range(have, n):
            reg = services.register(workshop, make_user(email=f"p{i}@example.org", name=f"Person {i:02d}",
                                                        organisation=f"Org {i}"))
            if i % 3 == 0:
                services.check_in(sam, reg, method=CheckInMethod.SCAN)
        db.session.commit()

    grow_to(10)
    ten = queries_for(client, url)
    grow_to(50)
    assert queries_for(client, url) == ten


@needs_java
def test_new_pages_are_valid_html(app, door, sam, tmp_path):
    """The Nu HTML Checker finds no errors on the scan page, a scan result without JS, the ticket for
    staff, the attendee and anyone else, and the check-in list with every kind of card."""
    workshop, people, regs = door
    services.check_in(sam, regs["amara"], method=CheckInMethod.SCAN)
    services.add_walk_in(sam, workshop, name="Gita Guest", email="gita@example.org", member_type=MemberType.OTHER)
    db.session.commit()
    staff, attendee, anon = signed_in(app, sam.email), signed_in(app, people["ben"].email), signed_in(app, None)
    pages = {}
    for client, label, url in [
        (staff, "staff", f"/staff/workshops/{workshop.id}/scan"),
        (staff, "staff", f"/staff/workshops/{workshop.id}/attendance"),
        (staff, "staff", f"/staff/workshops/{workshop.id}/attendance/{regs['cara'].id}"),
        (staff, "staff", f"/staff/workshops/{workshop.id}/attendance/{regs['amara'].id}"),
        (staff, "staff", f"/t/{regs['ben'].check_in_code}"),
        (attendee, "attendee", f"/t/{regs['ben'].check_in_code}"),
        (attendee, "member", f"/t/{regs['cara'].check_in_code}"),
        (anon, "anonymous", f"/t/{regs['ben'].check_in_code}"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[f"{label} GET {url}"] = response.get_data(as_text=True)
    for code in (regs["cara"].check_in_code, regs["dan"].check_in_code, regs["amara"].check_in_code, "nope"):
        response = staff.post_form(f"/staff/workshops/{workshop.id}/scan", {"code": code})
        pages[f"staff POST scan {code}"] = response.get_data(as_text=True)
    errors, _ = check_with_vnu(pages, tmp_path)
    assert errors == [], "\n".join(errors)
