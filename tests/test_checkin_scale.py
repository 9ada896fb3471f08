"""The check-in page at the size of the day (issue 14): 30 people or 300, the page, its htmx list and
the phone's copy send the same statements (one list query of only the columns shown); a tap and
its undo stay at six statements; the cards' addresses, built from the list's own address once, are
the routes' own; every kind of card (member, guest walk-in, former member, waitlisted, checked in
by each method) shows what it did when it was rendered from ORM objects."""
import html
import re
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import url_for

from kil_network.auth.models import MemberType, Status, User
from kil_network.core.timeutil import format_london, utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.workshops import queries, services
from kil_network.workshops.models import CheckInMethod, Registration, RegistrationState, WorkshopFormat
from tests.support.db import count, counting_queries, queries_for

pytestmark = pytest.mark.both_databases  # the statements each database is sent

HX = {"HX-Request": "true"}
METHODS = [None, *CheckInMethod]


@pytest.fixture
def big_day(sam_staff, make_user):
    """A published workshop, a few members with organisations (their ids to reuse), and grow(n)
    that brings its list to n people: members of every type (some waitlisted, some checked in by
    each method, one deleted) and guest walk-ins."""
    starts = (utcnow() + timedelta(days=7)).replace(second=0, microsecond=0)
    workshop = services.create_workshop(sam_staff, {
        "title": "A big day in Leeds", "description": "Co-design the principles.",
        "region": db.session.scalar(sa.select(Region).where(Region.name == "Yorkshire and The Humber")),
        "format": WorkshopFormat.IN_PERSON, "venue": "Leeds Civic Hall", "address": "Calverley Street, Leeds",
        "postcode": "LS1 1UR", "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
        "registration_closes_at": starts - timedelta(hours=1), "capacity": 400, "accessibility_info": "",
        "mix_max_percent": None,
    })
    services.publish_workshop(sam_staff, workshop)
    orgs = [make_user(email=f"org{i}@example.org", organisation=f"Org {i} Trust").organisation_id for i in range(3)]
    types = list(MemberType)

    def grow(n):
        have = count(Registration, Registration.workshop_id == workshop.id)
        now = utcnow()
        for i in range(have, n):
            checked_in = now - timedelta(minutes=i) if i % 3 == 0 else None
            method = METHODS[i % len(METHODS)] if checked_in else None
            state = RegistrationState.WAITLISTED if i % 7 == 6 and not checked_in else RegistrationState.CONFIRMED
            reg = Registration(workshop_id=workshop.id, state=state, queued_at=now, checked_in_at=checked_in,
                               check_in_method=method.value if method else None, member_type=types[i % len(types)])
            if i % 5 == 4:
                reg.guest_name, reg.guest_email, reg.walk_in = f"Guest Élise {i:03d}", f"guest{i}@example.org", True
            else:
                user = User(email=f"person{i}@example.org", name=f"Person {i:03d}", member_type=reg.member_type,
                            organisation_id=orgs[i % 3] if i % 2 else None, session_token=secrets.token_hex(16),
                            status=Status.DELETED if i == 8 else Status.ACTIVE)
                db.session.add(user)
                reg.user = user
            db.session.add(reg)
        db.session.commit()

    return workshop, grow


@pytest.fixture
def sam_staff(make_user):
    """The member of staff at the door."""
    return make_user(email="sam.staff@example.org", name="Sam Staff", role="staff")


def signed_in_staff(client):
    """Sign the client in as Sam."""
    assert client.post_form("/auth/login", {"email": "sam.staff@example.org",
                                            "password": "correct horse battery"}).status_code == 302


def test_the_page_sends_the_same_statements_for_30_and_300_people(client, big_day):
    """The page, its htmx list and attendance.json: one list query whatever the size; the page is
    the user, the workshop and the list (the counter is counted from the list)."""
    workshop, grow = big_day
    signed_in_staff(client)
    base = f"/staff/workshops/{workshop.id}/attendance"
    sizes = {}
    for n in (30, 300):
        grow(n)
        sizes[n] = (queries_for(client, base), _hx_queries(client, base), queries_for(client, base + ".json"))
        body = client.get(base).get_data(as_text=True)
        assert body.count("data-registration-id=") == n
    assert sizes[30] == sizes[300], sizes
    assert sizes[300][0] <= 3 and sizes[300][1] <= 3, sizes


def _hx_queries(client, url):
    """Statements of one htmx GET of `url` (after a warm-up)."""
    client.get(url, headers=HX)
    with counting_queries() as statements:
        assert client.get(url, headers=HX).status_code == 200
    return len(statements)


def test_a_tap_and_its_undo_are_six_statements_at_300(client, big_day):
    """Check in, then undo, one person of 300: at most six statements each (the user, the seat lock
    that reads the workshop, the registration with member and organisation, the audit entry, the
    row and its history); the card comes back from what was read."""
    workshop, grow = big_day
    grow(300)
    signed_in_staff(client)
    reg_id = db.session.scalar(sa.select(sa.func.min(Registration.id)).where(
        Registration.workshop_id == workshop.id, Registration.checked_in_at.is_(None),
        Registration.state == RegistrationState.CONFIRMED, Registration.user_id.is_not(None)))
    token_from = f"/staff/workshops/{workshop.id}/attendance"
    url = f"{token_from}/{reg_id}"
    token = client.csrf_token(token_from)
    for path, done in ((url, "Undo check-in"), (url + "/undo", "Not checked in yet")):
        with counting_queries() as statements:
            response = client.post(path, data={"csrf_token": token}, headers=HX)
        assert response.status_code == 200 and done in response.get_data(as_text=True)
        assert len(statements) <= 6, statements
    assert db.session.get(Registration, reg_id).checked_in_at is None


def test_cards_from_rows_match_the_registrations(app, client, big_day):
    """Every card's name, organisation or member type, place, walk-in tag, how and when it was
    checked in, its search text and its three addresses are what the registration (ORM) says."""
    workshop, grow = big_day
    grow(40)
    signed_in_staff(client)
    body = html.unescape(client.get(f"/staff/workshops/{workshop.id}/attendance").get_data(as_text=True))
    cards = dict(re.findall(r'<li class="checkin-card[^"]*" data-registration-id="(\d+)"(.*?)</li>', body, re.S))
    regs = db.session.scalars(sa.select(Registration).where(Registration.workshop_id == workshop.id)).all()
    assert len(cards) == len(regs) == 40
    with app.test_request_context():
        for reg in regs:
            card = cards[str(reg.id)]
            org = reg.user.organisation.name if reg.user and reg.user.organisation else ""
            assert f'data-search="{(reg.person_name + " " + reg.person_email + " " + org).lower()}"' in card
            assert f">{reg.person_name}</a>" in card
            assert f'<span class="checkin-card__org">{org or reg.member_type.label}</span>' in card
            assert f'<span class="tag tag--{reg.state.value}">{reg.state.label}</span>' in card
            assert ('<span class="tag tag--grey">Walk-in</span>' in card) == reg.walk_in
            page = url_for("staff_workshops.registration", workshop_id=workshop.id, registration_id=reg.id)
            assert f'href="{page}"' in card
            if reg.attended:
                undo = url_for("staff_workshops.undo_check_in", workshop_id=workshop.id, registration_id=reg.id)
                assert f'action="{undo}" data-hx-post="{undo}"' in card
                assert (f"{reg.check_in_label.capitalize()} at {format_london(reg.checked_in_at, '%H:%M')}"
                        in card)
            else:
                tap = url_for("staff_workshops.check_in", workshop_id=workshop.id, registration_id=reg.id)
                assert f'action="{tap}" data-hx-post="{tap}"' in card and "Not checked in yet" in card
            assert f'<span class="visually-hidden"> {"of " if reg.attended else ""}{reg.person_name}</span>' in card
    assert "Former member" in body and "Guest Élise 004" in body


def test_the_counter_counted_from_the_list_is_the_counter(client, big_day):
    """The page's counter (from the list) and the polled counter (its own query) agree, and the phone's
    copy says the same."""
    workshop, grow = big_day
    grow(60)
    signed_in_staff(client)
    base = f"/staff/workshops/{workshop.id}/attendance"
    counts = queries.attendance_counts(workshop)
    assert queries.check_in_page(workshop)["counts"] == counts == client.get(base + ".json").get_json()["counts"]
    assert counts["walk_ins"] and counts["attended"] and counts["registered"] < 60  # some are waitlisted
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", client.get(base).get_data(as_text=True)))
    assert f"{counts['attended']} attended / {counts['registered']} registered" in page
