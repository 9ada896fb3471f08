"""The check-in page's offline layer over HTTP: the list as data (GET …/attendance.json) and the
queue a phone sends when the network is back (POST …/attendance/sync).

The sync applies each tap with the time it happened (method "offline"), is idempotent when a
phone sends its queue again, keeps the earliest time, never records a time in the future,
refuses other workshops' registrations and cancelled places per tap, and answers bodies that
are not its JSON (too big, not JSON, wrong shape) with 400/413 while applying nothing.
"""
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.workshops import services
from kil_network.workshops.models import CheckInMethod, Registration, RegistrationState, WorkshopFormat
from tests.support.db import counting_queries, queries_for


@pytest.fixture
def day(make_user):
    """A workshop that started ten minutes ago: Amara and Ben confirmed, Cara waitlisted, Dan
    cancelled; and another workshop with Eve. Returns (workshop, other, {name: registration})."""
    organiser = make_user(email="organiser@example.org", name="Olu Organiser", role="staff")

    def workshop(title, capacity):
        starts = (utcnow() + timedelta(days=3)).replace(microsecond=0)
        made = services.create_workshop(organiser, {
            "title": title, "description": "We co-design the six principles.", "region": None,
            "format": WorkshopFormat.IN_PERSON, "venue": "Leeds Civic Hall", "address": "Calverley Street",
            "postcode": "LS1 1UR", "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
            "registration_closes_at": starts - timedelta(days=1), "capacity": capacity,
            "accessibility_info": "", "mix_max_percent": None})
        services.publish_workshop(organiser, made)
        return made

    main, other = workshop("Check-in day", 2), workshop("Another day", 5)
    people = {name: make_user(email=f"{name}@example.org", name=f"{name.title()} Person",
                              organisation=f"{name.title()} Trust") for name in ("amara", "ben", "cara", "dan", "eve")}
    regs = {name: services.register(main, people[name]) for name in ("amara", "ben", "cara", "dan")}
    regs["eve"] = services.register(other, people["eve"])
    services.cancel_registration(regs["dan"], people["dan"])
    for w in (main, other):  # the day has come
        w.starts_at = (utcnow() - timedelta(minutes=10)).replace(microsecond=0)
        w.ends_at = w.starts_at + timedelta(hours=2)
        w.registration_closes_at = w.starts_at - timedelta(days=1)
    db.session.commit()
    assert regs["cara"].state == RegistrationState.WAITLISTED
    return main, other, regs


def iso(when: datetime) -> str:
    """How the phone writes a time (Date.toISOString: UTC, milliseconds, Z)."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tap(reg_id, at, tap_id=None) -> dict:
    """One queued tap as the phone sends it."""
    return {"registration_id": reg_id, "at": at, "id": tap_id or str(uuid.uuid4())}


def sync(client, workshop, body, *, raw=None, headers=None):
    """POST the queue as the page does: JSON body, the session's token in X-CSRFToken."""
    data = raw if raw is not None else json.dumps(body)
    return client.post(f"/staff/workshops/{workshop.id}/attendance/sync", data=data,
                       content_type="application/json",
                       headers={"X-CSRFToken": client.csrf_token(), **(headers or {})})


def fresh(reg) -> Registration:
    """The registration as the database has it now."""
    db.session.expire_all()
    return db.session.get(Registration, reg.id)


@pytest.mark.both_databases  # the CASE and outer joins of the one query
def test_list_as_data_has_what_the_page_shows(client, as_role, day):
    """Staff get the active registrations (not the cancelled one, not another workshop's), each
    with only what the page shows, plus counts, the server time and a token."""
    main, _, regs = day
    services.check_in(as_role("staff"), fresh(regs["ben"]))
    db.session.commit()
    response = client.get(f"/staff/workshops/{main.id}/attendance.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    people = {p["name"]: p for p in data["registrations"]}
    assert set(people) == {"Amara Person", "Ben Person", "Cara Person"}
    assert [p["name"] for p in data["registrations"]] == ["Amara Person", "Ben Person", "Cara Person"]
    ben = people["Ben Person"]
    assert set(ben) == {"id", "name", "organisation", "walk_in", "state", "state_label", "checked_in_at",
                        "method", "method_label", "search"}
    assert ben["id"] == regs["ben"].id and ben["organisation"] == "Ben Trust" and ben["state"] == "confirmed"
    assert datetime.fromisoformat(ben["checked_in_at"]) == fresh(regs["ben"]).checked_in_at
    assert ben["method"] == "staff" and ben["search"] == "ben person ben@example.org ben trust"
    assert people["Cara Person"]["state"] == "waitlisted" and people["Amara Person"]["checked_in_at"] is None
    assert data["counts"] == {"attended": 1, "registered": 2, "walk_ins": 0}
    assert abs(datetime.fromisoformat(data["server_time"]) - utcnow()) < timedelta(seconds=5)
    assert data["csrf_token"] and data["workshop"] == {"id": main.id, "title": "Check-in day"}


@pytest.mark.parametrize("role", ["anonymous", "member"])
def test_list_and_sync_are_staff_only(client, as_role, day, role):
    """A member gets 403 for both; someone signed out is sent to sign in; nothing is applied."""
    main, _, regs = day
    as_role(role)
    listed = client.get(f"/staff/workshops/{main.id}/attendance.json")
    sent = sync(client, main, {"check_ins": [tap(regs["amara"].id, iso(utcnow()))]})
    if role == "member":
        assert listed.status_code == 403 and sent.status_code == 403
    else:
        assert listed.status_code == 302 and sent.status_code == 302
        assert listed.headers["Location"].startswith("/auth/login")
    assert fresh(regs["amara"]).checked_in_at is None


def test_sync_applies_taps_with_their_own_times_and_is_idempotent(client, as_role, day):
    """Two taps made offline minutes ago are recorded at those times (method offline); sending
    the same queue again (the phone did not hear the answer) changes nothing."""
    main, _, regs = day
    staff = as_role("staff")
    amara_at, cara_at = utcnow() - timedelta(minutes=7), utcnow() - timedelta(minutes=3)
    body = {"check_ins": [tap(regs["amara"].id, iso(amara_at)), tap(regs["cara"].id, iso(cara_at))]}
    first = sync(client, main, body)
    assert first.status_code == 200, first.get_data(as_text=True)
    results = first.get_json()["results"]
    assert [r["result"] for r in results] == ["done", "done"]
    assert [r["id"] for r in results] == [t["id"] for t in body["check_ins"]]
    assert "waitlist" in results[1]["reason"]  # Cara was given her place (the phone could not ask)
    amara, cara = fresh(regs["amara"]), fresh(regs["cara"])
    assert abs(amara.checked_in_at - amara_at) < timedelta(milliseconds=2)
    assert abs(cara.checked_in_at - cara_at) < timedelta(milliseconds=2)
    assert amara.check_in_method == CheckInMethod.OFFLINE and amara.checked_in_by_id == staff.id
    assert cara.state == RegistrationState.CONFIRMED
    assert first.get_json()["counts"]["attended"] == 2
    again = sync(client, main, body)
    assert [r["result"] for r in again.get_json()["results"]] == ["already", "already"]
    assert fresh(regs["amara"]).checked_in_at == amara.checked_in_at


@pytest.mark.both_databases  # times with milliseconds, stored and compared
def test_earlier_tap_wins_and_future_is_clamped(client, as_role, day):
    """Two phones tapped the same person: the earlier time is kept whichever arrives last. A tap
    stamped in the future (a phone's clock ahead) is recorded as now, not then."""
    main, _, regs = day
    as_role("staff")
    early, late = utcnow() - timedelta(minutes=8), utcnow() - timedelta(minutes=2)
    sync(client, main, {"check_ins": [tap(regs["amara"].id, iso(late))]})
    answer = sync(client, main, {"check_ins": [tap(regs["amara"].id, iso(early))]}).get_json()["results"][0]
    assert answer["result"] == "already"
    assert abs(fresh(regs["amara"]).checked_in_at - early) < timedelta(milliseconds=2)
    assert abs(datetime.fromisoformat(answer["checked_in_at"]) - early) < timedelta(milliseconds=2)
    sync(client, main, {"check_ins": [tap(regs["amara"].id, iso(late))]})  # the later one again: no change
    assert abs(fresh(regs["amara"]).checked_in_at - early) < timedelta(milliseconds=2)
    before = utcnow()
    sync(client, main, {"check_ins": [tap(regs["ben"].id, iso(utcnow() + timedelta(days=2)))]})
    assert before <= fresh(regs["ben"]).checked_in_at <= utcnow()


@pytest.mark.both_databases  # ids beyond an integer column, never sent to PostgreSQL
def test_sync_refuses_per_tap_what_it_cannot_apply(client, as_role, day):
    """Each bad tap is refused with a reason and the good ones still apply: another workshop's
    registration, a cancelled one, an id no table holds (20 digits), times that are not times,
    a time with no zone, a time long before the workshop. Duplicates in one batch: once."""
    main, _, regs = day
    as_role("staff")
    now = iso(utcnow())
    taps = [
        tap(regs["eve"].id, now),  # another workshop's
        tap(regs["dan"].id, now),  # cancelled
        tap(10**19 + 7, now),  # 20 digits
        tap(-3, now),
        tap(regs["ben"].id, "2026-02-30T10:00:00Z"),  # no such day
        tap(regs["ben"].id, "10:00\u0000"),  # a NUL byte
        tap(regs["ben"].id, "2026-12-03T10:00:00"),  # no zone
        tap(regs["ben"].id, iso(main.starts_at - timedelta(days=2))),  # the phone's clock is wrong
        tap(regs["amara"].id, now, "same-tap"),
        tap(regs["amara"].id, now, "same-tap"),
    ]
    response = sync(client, main, {"check_ins": taps})
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert [r["result"] for r in results] == ["refused"] * 8 + ["done", "already"]
    assert all(r["reason"] for r in results[:8])
    assert "not someone registered" in results[0]["reason"].lower()
    assert "cancelled" in results[1]["reason"]
    assert "more than a day before" in results[7]["reason"]
    assert fresh(regs["eve"]).checked_in_at is None and fresh(regs["dan"]).checked_in_at is None
    assert fresh(regs["ben"]).checked_in_at is None and fresh(regs["amara"]).checked_in_at is not None


GARBAGE = [  # (body, status); "REG" is replaced by a real registration id of the workshop
    ("not json", 400),
    ("{\"check_ins\": [", 400),
    ("[" * 100_000, 413),
    ("[" * 50_000, 400),
    ("{\"check_ins\": {}}", 400),
    ("{\"check_ins\": [{\"registration_id\": \"REG\", \"at\": \"x\", \"id\": \"a\"}]}", 400),
    ("{\"check_ins\": [{\"registration_id\": true, \"at\": \"x\", \"id\": \"a\"}]}", 400),
    ("{\"check_ins\": [{\"registration_id\": 1.5, \"at\": \"x\", \"id\": \"a\"}]}", 400),
    ("{\"check_ins\": [{\"registration_id\": REG, \"at\": \"x\", \"id\": \"a\\u0000b\"}]}", 400),
    ("{\"check_ins\": [{\"registration_id\": REG, \"at\": \"" + "9" * 41 + "\", \"id\": \"a\"}]}", 400),
    ("{\"check_ins\": [{\"registration_id\": 1" + "0" * 5000 + ", \"at\": \"x\", \"id\": \"a\"}]}", 400),
    ("{\"check_ins\": [1, 2]}", 400),
    ("\"check_ins\"\u0000", 400),
    # A good tap, then one of the wrong shape: the whole batch is refused, the good one too.
    ("{\"check_ins\": [{\"registration_id\": REG, \"at\": \"NOW\", \"id\": \"good\"}, {\"id\": \"bad\"}]}", 400),
]


def test_sync_garbage_is_400_and_applies_nothing(client, as_role, day):
    """Not JSON, the wrong shape, the wrong types, NUL bytes, a body too big: 400 (413 for the
    size) with an error, and nothing applied."""
    main, _, regs = day
    as_role("staff")
    for raw, status in GARBAGE:
        raw = raw.replace("REG", str(regs["amara"].id)).replace("NOW", iso(utcnow()))
        response = sync(client, main, None, raw=raw)
        assert response.status_code == status, (raw[:80], response.get_data(as_text=True)[:300])
        assert "error" in response.get_json()
        assert fresh(regs["amara"]).checked_in_at is None, raw[:80]


def test_sync_batch_limit_and_token(client, as_role, day):
    """More than 500 taps at once is refused whole; a wrong token is refused and applies nothing."""
    main, _, regs = day
    as_role("staff")
    many = {"check_ins": [tap(regs["amara"].id, iso(utcnow())) for _ in range(501)]}
    assert sync(client, main, many).status_code in (400, 413)
    refused = sync(client, main, {"check_ins": [tap(regs["amara"].id, iso(utcnow()))]},
                   headers={"X-CSRFToken": "not-a-token"})
    assert refused.status_code == 400
    assert fresh(regs["amara"]).checked_in_at is None


def test_list_query_count_is_flat(client, as_role, day, make_user):
    """The list as data costs the same number of statements for 3 people as for 23."""
    main, _, _ = day
    staff = as_role("staff")
    url = f"/staff/workshops/{main.id}/attendance.json"
    few = queries_for(client, url)
    main.capacity = 50
    for n in range(20):
        reg = services.register(main, make_user(email=f"many{n}@example.org", organisation=f"Org {n}"),
                                now=main.registration_closes_at - timedelta(hours=1))
        if n % 2:
            services.check_in(staff, reg)
    db.session.commit()
    assert queries_for(client, url) == few
    with counting_queries() as statements:
        client.get(url)
    assert sum("registrations" in s.lower() for s in statements) == 1


def test_sync_statements_do_not_grow_with_the_list(client, as_role, day):
    """A sync reads only the registrations it was sent (one SELECT for the batch)."""
    main, _, regs = day
    as_role("staff")
    with counting_queries() as statements:
        sync(client, main, {"check_ins": [tap(regs["amara"].id, iso(utcnow())), tap(regs["ben"].id, iso(utcnow()))]})
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM registrations" in s
               and "IN (" in s.upper()]
    assert len(selects) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)
                             .where(Registration.check_in_method == "offline")) == 2


def test_service_worker_is_served_for_the_staff_workshops_scope(client):
    """The worker script is JavaScript from /staff/workshops/ (its default scope), never cached stale."""
    response = client.get("/staff/workshops/checkin-sw.js")
    assert response.status_code == 200 and response.mimetype in ("text/javascript", "application/javascript")
    assert response.headers["Cache-Control"] in ("no-cache", "no-store")
    assert b"addEventListener(\"fetch\"" in response.data
