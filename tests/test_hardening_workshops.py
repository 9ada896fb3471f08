"""Issue 9, workshops: races with staff changes (6), double submissions (13), UK clock changes
and the live room tally (low). Concurrency is proved on PostgreSQL with real threads, each with
its own app context, session and connection (as in tests/test_workshop_concurrency.py)."""
import base64
import threading
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from kil_network.auth.models import MemberType, User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import format_london, utcnow
from kil_network.extensions import db
from kil_network.workshops import queries, services
from kil_network.workshops.models import (
    ACTIVE_STATES,
    Registration,
    RegistrationEvent,
    RegistrationState,
    Workshop,
    WorkshopFormat,
    WorkshopStatus,
)
from tests.support.forms import form_data

CONFIRMED = RegistrationState.CONFIRMED
HX = {"HX-Request": "true"}


# --- Helpers --------------------------------------------------------------------------------

@pytest.fixture
def staff(make_user):
    """A member of staff who runs workshops."""
    return make_user(email="organiser@example.org", name="Sam Staff", role="staff")


@pytest.fixture
def make_workshop(staff):
    """A published workshop (through the services), committed."""

    def factory(capacity=20, title="Commissioning locally in Leeds", publish=True, days=10):
        starts = (utcnow() + timedelta(days=days)).replace(second=0, microsecond=0)
        workshop = services.create_workshop(staff, {
            "title": title, "description": "Co-design.", "region": None, "format": WorkshopFormat.IN_PERSON,
            "venue": "Leeds Civic Hall", "address": "Calverley Street", "postcode": "LS1 1UR", "online_url": "",
            "starts_at": starts, "ends_at": starts + timedelta(hours=2),
            "registration_closes_at": starts - timedelta(hours=2), "capacity": capacity,
        })
        if publish:
            services.publish_workshop(staff, workshop)
        db.session.commit()
        return workshop

    return factory


@pytest.fixture
def people(make_user):
    """Twelve confirmed members (ids)."""
    return [make_user(email=f"rush{i}@example.org", name=f"Rush {i:02d}").id for i in range(12)]


def skip_unless_postgresql():
    """These tests are about PostgreSQL's row locks."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proved on PostgreSQL (set TEST_DATABASE_URL)")


def _worker(thread_app, job, workshop_id, user_id, start, errors, refused, hold=None):
    """Load the workshop and user (the state a request reads before it locks), wait, run, commit."""
    try:
        with thread_app.app_context():
            workshop = db.session.get(Workshop, workshop_id)
            user = db.session.get(User, user_id)
            _ = (workshop.status, workshop.starts_at, workshop.capacity, user.member_type)
            start()
            try:
                job(workshop, user)
                if hold is not None:
                    hold()
                db.session.commit()
            except RuleError as exc:
                db.session.rollback()
                refused.append(exc.message)
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
    except Exception as exc:  # reported to the test
        errors.append(exc)


def _join(threads, errors):
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == [], errors


def run_together(thread_app, jobs) -> list[str]:
    """Run each (job, workshop_id, user_id) in its own thread, released together by a barrier.
    Returns the messages of the jobs a rule refused."""
    barrier = threading.Barrier(len(jobs))
    errors, refused = [], []
    threads = [threading.Thread(target=_worker, args=(thread_app, job, wid, uid, lambda: barrier.wait(60),
                                                       errors, refused)) for job, wid, uid in jobs]
    for thread in threads:
        thread.start()
    _join(threads, errors)
    return refused


def staff_change_while_others_wait(thread_app, staff_job, staff_id, workshop_id, jobs) -> list[str]:
    """The staff change takes the workshop lock and holds it (uncommitted) while the other jobs,
    which read the workshop before, start and block; then it commits and they go on."""
    ready = threading.Barrier(len(jobs) + 1)
    locked, release = threading.Event(), threading.Event()
    errors, refused = [], []

    def hold():
        locked.set()
        release.wait(60)

    staff_thread = threading.Thread(target=_worker, args=(thread_app, staff_job, workshop_id, staff_id,
                                                           lambda: ready.wait(60), errors, refused, hold))
    others = [threading.Thread(target=_worker,
                               args=(thread_app, job, wid, uid, lambda: (ready.wait(60), locked.wait(60)),
                                                     errors, refused)) for job, wid, uid in jobs]
    for thread in [staff_thread, *others]:
        thread.start()
    assert locked.wait(60)
    time.sleep(0.7)  # the others are now waiting for the lock
    release.set()
    _join([staff_thread, *others], errors)
    return refused


def register_job(workshop, user):
    services.register(workshop, user)


def outbox(subject_start: str = "") -> list[OutboxEmail]:
    db.session.expire_all()
    stmt = sa.select(OutboxEmail).order_by(OutboxEmail.id)
    if subject_start:
        stmt = stmt.where(OutboxEmail.subject.startswith(subject_start))
    return list(db.session.scalars(stmt))


def ics_event(mail: OutboxEmail):
    """The VEVENT of an email's .ics attachment."""
    content = next(a for a in mail.attachments if a["filename"].endswith(".ics"))["content"]
    cal = Calendar.from_ical(base64.b64decode(content))
    return next(c for c in cal.walk() if c.name == "VEVENT")


def audit_count(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == action))


def active_regs(workshop_id) -> list[Registration]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Registration).where(
        Registration.workshop_id == workshop_id, Registration.state.in_(ACTIVE_STATES))))


def assert_nobody_left_confirmed_unawares(workshop_id):
    """After a cancel raced registrations: the workshop is cancelled; everyone still holding a place
    was emailed the cancellation after any confirmation; no confirmation came after a cancellation."""
    db.session.expire_all()
    assert db.session.get(Workshop, workshop_id).status == WorkshopStatus.CANCELLED
    mails = outbox()
    cancelled = {m.to_address: m.id for m in mails if m.subject.startswith("Workshop cancelled")}
    confirmed = {}
    for m in mails:
        if m.subject.startswith("Your place is confirmed"):
            confirmed.setdefault(m.to_address, []).append(m.id)
            assert ics_event(m)["STATUS"] == "CONFIRMED"
    for reg in active_regs(workshop_id):
        assert reg.user.email in cancelled, f"{reg.user.email} holds a place at a cancelled workshop, not told"
    for address, ids in confirmed.items():
        assert address in cancelled and max(ids) < cancelled[address], f"{address} confirmed after the cancel"
    assert audit_count("workshop.cancel") == 1


# --- Finding 6: registering races a staff cancel or time change --------------------------------

@pytest.mark.postgresql_only
def test_finding_06_registrations_waiting_behind_a_cancel_are_refused(app, thread_app, make_workshop, staff, people):
    """Staff cancel holds the lock while 7 members register (having read the workshop as published):
    once it commits, every one of them is refused; nobody is confirmed, no confirmation email."""
    skip_unless_postgresql()
    workshop = make_workshop()
    refused = staff_change_while_others_wait(
        thread_app, lambda w, u: services.cancel_workshop(u, w, "The venue flooded"), staff.id, workshop.id,
        [(register_job, workshop.id, uid) for uid in people[:7]])
    assert refused == ["This workshop has been cancelled."] * 7
    assert active_regs(workshop.id) == []
    assert outbox("Your place is confirmed") == [] and outbox("You are on the waitlist") == []
    assert_nobody_left_confirmed_unawares(workshop.id)


@pytest.mark.postgresql_only
def test_finding_06_cancel_fired_together_with_registrations(app, thread_app, make_workshop, staff, people):
    """Cancel and 7 registrations released together, three times: nobody is left confirmed at a
    cancelled workshop without the cancellation email, and no confirmation follows the cancel."""
    skip_unless_postgresql()
    for attempt in range(3):
        workshop = make_workshop(title=f"Race {attempt}")
        jobs = [(register_job, workshop.id, uid) for uid in people[:7]]
        jobs.insert(3, (lambda w, u: services.cancel_workshop(u, w, "The venue flooded"), workshop.id, staff.id))
        run_together(thread_app, jobs)
        assert_nobody_left_confirmed_unawares(workshop.id)
        db.session.execute(sa.delete(AuditLog))
        db.session.execute(sa.delete(OutboxEmail))
        db.session.commit()


@pytest.mark.postgresql_only
def test_finding_06_time_change_reaches_every_confirmation(app, thread_app, make_workshop, staff, people):
    """Staff move the workshop while 7 members register: every confirmation email and its .ics carry
    the new time (the registrations read the workshop again once they hold the lock)."""
    skip_unless_postgresql()
    workshop = make_workshop()
    old_start = workshop.starts_at
    new_start = old_start + timedelta(days=1, hours=1)

    def move(w, u):
        services.update_workshop(u, w, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=2),
                                        "registration_closes_at": new_start - timedelta(days=1)})

    refused = staff_change_while_others_wait(thread_app, move, staff.id, workshop.id,
                                             [(register_job, workshop.id, uid) for uid in people[:7]])
    assert refused == []
    mails = outbox("Your place is confirmed")
    assert len(mails) == 7
    for mail in mails:
        assert ics_event(mail)["DTSTART"].dt == new_start
        assert format_london(new_start) in mail.body_text and format_london(old_start) not in mail.body_text


@pytest.mark.postgresql_only
def test_finding_06_time_change_fired_together_with_registrations(app, thread_app, make_workshop, staff, people):
    """Released together: a confirmation with the old time is always followed by the change email."""
    skip_unless_postgresql()
    workshop = make_workshop()
    new_start = workshop.starts_at + timedelta(days=2)

    def move(w, u):
        services.update_workshop(u, w, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=2),
                                        "registration_closes_at": new_start - timedelta(days=1)})

    jobs = [(register_job, workshop.id, uid) for uid in people[:7]]
    jobs.insert(3, (move, workshop.id, staff.id))
    run_together(thread_app, jobs)
    changed = {m.to_address: m.id for m in outbox("Workshop changed")}
    for mail in outbox("Your place is confirmed"):
        if ics_event(mail)["DTSTART"].dt != new_start:
            assert changed.get(mail.to_address, 0) > mail.id, f"{mail.to_address} only has the old time"
        else:
            assert mail.to_address not in changed


def test_finding_06_services_reread_the_workshop_after_locking(app, make_workshop, staff, people):
    """A stale workshop object (read before another transaction cancelled it) is refreshed by the lock:
    registering, checking in and walking in are refused (on SQLite and PostgreSQL)."""
    workshop = make_workshop()
    member = db.session.get(User, people[0])
    reg = services.register(workshop, db.session.get(User, people[1]))
    db.session.commit()
    _ = workshop.status  # loaded in this session: PUBLISHED
    db.session.execute(sa.update(Workshop).where(Workshop.id == workshop.id)
                       .values(status=WorkshopStatus.CANCELLED).execution_options(synchronize_session=False))
    db.session.commit()
    for call in (lambda: services.register(workshop, member), lambda: services.check_in(staff, reg),
                 lambda: services.add_walk_in(staff, workshop, name="G", email="g@example.org",
                                              member_type=MemberType.ACADEMIC)):
        db.session.refresh(workshop)
        db.session.refresh(reg)
        workshop.__dict__["status"] = WorkshopStatus.PUBLISHED  # what a request read before the lock
        with pytest.raises(RuleError, match="cancelled"):
            call()
        db.session.rollback()
    assert outbox("Your place is confirmed")[-1].to_address != member.email


def test_finding_06_reminders_lock_the_workshop_and_read_it_fresh(app, make_workshop, staff, people):
    """A reminder carries the time the workshop has when it is sent, read under the workshop lock."""
    workshop = make_workshop(days=1)
    services.register(workshop, db.session.get(User, people[0]))
    db.session.commit()
    version = db.session.get(Workshop, workshop.id).seat_version
    assert services.send_reminders() == 1
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Workshop, workshop.id).seat_version == version + 1  # the lock was taken
    assert services.send_reminders() == 0


# --- Finding 13: double submissions ----------------------------------------------------------

def _checkin_setup(make_workshop, make_user):
    workshop = make_workshop()
    member = make_user(email="amara@example.org", name="Amara Okafor")
    reg = services.register(workshop, member)
    db.session.commit()
    return workshop, reg


def test_finding_13_second_tap_on_check_in_keeps_the_check_in(app, client, as_role, make_workshop, make_user):
    """Check in twice (plain and htmx): still checked in, one history entry, one audit row;
    undo is its own route and button, and undoing twice is one undo."""
    workshop, reg = _checkin_setup(make_workshop, make_user)
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{reg.id}"
    page = f"/staff/workshops/{workshop.id}/attendance"
    assert client.post_form(url, {}, token_from=page).status_code == 303
    first = db.session.get(Registration, reg.id).checked_in_at
    again = client.post_form(url, {}, token_from=page, headers=HX)
    assert again.status_code == 200 and "Checked in" in again.get_data(as_text=True)
    assert f'action="{url}/undo"' in again.get_data(as_text=True)
    saved = db.session.get(Registration, reg.id)
    assert saved.attended and saved.checked_in_at == first
    assert audit_count("attendance.check_in") == 1
    for _ in range(2):
        client.post_form(url + "/undo", {}, token_from=page)
    assert not db.session.get(Registration, reg.id).attended
    assert audit_count("attendance.undo") == 1
    events = db.session.scalars(sa.select(RegistrationEvent.action).where(
        RegistrationEvent.registration_id == reg.id).order_by(RegistrationEvent.id)).all()
    assert events == ["registered", "checked_in", "check_in_undone"]


def test_finding_13_double_click_cancel_workshop_emails_once(app, client, as_role, make_workshop, make_user):
    """Cancel workshop posted twice: cancelled once, one email per person, one audit row; the second
    post says it was already cancelled."""
    workshop = make_workshop()
    for i in range(4):
        services.register(workshop, make_user(email=f"p{i}@example.org"))
    db.session.commit()
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/cancel"
    assert client.post_form(url, {"reason": "Rain", "confirm": "1"}, token_from=url).status_code == 303
    second = client.post_form(url, {"reason": "Rain", "confirm": "1"}, token_from=f"/staff/workshops/{workshop.id}")
    assert second.status_code == 303
    assert "already cancelled" in client.get(second.headers["Location"]).get_data(as_text=True)
    mails = outbox("Workshop cancelled")
    assert sorted(m.to_address for m in mails) == [f"p{i}@example.org" for i in range(4)]
    assert audit_count("workshop.cancel") == 1


def test_finding_13_member_cancels_twice_one_email(app, client, auth, make_workshop, make_user):
    """A member's second cancel changes nothing and sends nothing."""
    workshop = make_workshop()
    member = make_user(email="member1@example.org")
    services.register(workshop, member)
    db.session.commit()
    auth.login()
    for _ in range(2):
        response = client.post_form(f"/workshops/{workshop.id}/cancel", {"confirm": "1"},
                                    token_from=f"/workshops/{workshop.id}")
        assert response.status_code == 303
    assert len(outbox("Registration cancelled")) == 1
    reg = db.session.scalar(sa.select(Registration).where(Registration.user_id == member.id))
    assert [e.action for e in reg.events] == ["registered", "cancelled"]


def test_finding_13_publish_twice_and_walk_in_twice(app, client, as_role, make_workshop, make_user):
    """Publishing twice is one publish; the same walk-in added twice is one registration, one
    invitation; a member walked in twice is checked in once."""
    workshop = make_workshop(publish=False)
    make_user(email="eve@example.org", name="Eve Evans")
    as_role("staff")
    for _ in range(2):
        client.post_form(f"/staff/workshops/{workshop.id}/publish", {}, token_from=f"/staff/workshops/{workshop.id}")
    assert audit_count("workshop.publish") == 1
    page = f"/staff/workshops/{workshop.id}/attendance"
    guest = {"name": "Gita Guest", "email": "Gita@Example.org", "member_type": "academic"}
    for form in (guest, guest, {"email": "eve@example.org"}, {"email": "eve@example.org"}):
        assert client.post_form(f"/staff/workshops/{workshop.id}/walk-in", form, token_from=page).status_code == 303
    regs = db.session.scalars(sa.select(Registration).where(Registration.workshop_id == workshop.id)).all()
    assert len(regs) == 2 and all(r.attended for r in regs)
    assert len(outbox("Thank you for coming")) == 1
    assert audit_count("attendance.walk_in") == 2


def _race_twice(thread_app, job, workshop_id, user_id):
    return run_together(thread_app, [(job, workshop_id, user_id), (job, workshop_id, user_id)])


@pytest.mark.postgresql_only
def test_finding_13_two_concurrent_cancel_workshop_posts(app, thread_app, make_workshop, make_user, staff):
    """Two cancel posts at the same moment: cancelled once, one email each, one audit row."""
    skip_unless_postgresql()
    workshop = make_workshop()
    for i in range(4):
        services.register(workshop, make_user(email=f"p{i}@example.org"))
    db.session.commit()
    for _ in range(3):
        _race_twice(thread_app, lambda w, u: services.cancel_workshop(u, w, "Rain"), workshop.id, staff.id)
    assert len(outbox("Workshop cancelled")) == 4 and audit_count("workshop.cancel") == 1
    assert db.session.get(Workshop, workshop.id).sequence == 1


@pytest.mark.postgresql_only
def test_finding_13_concurrent_double_taps(app, thread_app, make_workshop, make_user, staff):
    """Two simultaneous check-ins, member cancels, publishes and reminder runs each happen once."""
    skip_unless_postgresql()
    workshop = make_workshop(days=1)
    checked, leaving = make_user(email="in@example.org"), make_user(email="out@example.org")
    reg = services.register(workshop, checked)
    services.register(workshop, leaving)
    draft = make_workshop(publish=False, title="Draft")
    db.session.commit()
    checked_id = checked.id

    def check_in(w, u):
        services.check_in(u, db.session.scalar(sa.select(Registration).where(
            Registration.workshop_id == w.id, Registration.user_id == checked_id)))

    _race_twice(thread_app, check_in, workshop.id, staff.id)
    assert audit_count("attendance.check_in") == 1
    assert [e.action for e in db.session.get(Registration, reg.id).events] == ["registered", "checked_in"]
    _race_twice(thread_app, lambda w, u: services.cancel_registration(queries.registration_for(w, u), u),
                workshop.id, db.session.get(User, leaving.id).id)
    assert len(outbox("Registration cancelled")) == 1
    _race_twice(thread_app, lambda w, u: services.publish_workshop(u, w), draft.id, staff.id)
    assert audit_count("workshop.publish") == 2  # the fixture's first workshop, and the draft once
    _race_twice(thread_app, lambda w, u: services.send_reminders(), workshop.id, staff.id)
    assert len(outbox("Reminder")) == 1


# --- Low: UK clock changes on the workshop form ----------------------------------------------

def _on_day(day: str, month: str, year: str, start: str, end: str) -> dict:
    return form_data(**{
        "starts_at-day": day, "starts_at-month": month, "starts_at-year": year, "starts_at-time": start,
        "ends_at-day": day, "ends_at-month": month, "ends_at-year": year, "ends_at-time": end,
        "registration_closes_at-day": "1", "registration_closes_at-month": month,
        "registration_closes_at-year": year, "registration_closes_at-time": "12:00"})


def _workshop_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Workshop))


def test_finding_low_clock_change_nonexistent_time_refused_on_the_form(app, client, as_role):
    """01:30 on 28 March 2027 does not exist: the form says so, with the rule, and saves nothing."""
    as_role("staff")
    response = client.post_form("/staff/workshops/new", _on_day("28", "3", "2027", "01:30", "03:00"),
                                token_from="/staff/workshops/new")
    body = response.get_data(as_text=True)
    assert response.status_code in (200, 422)
    assert "01:30 on 28 March 2027 does not exist in the UK: the clocks go forward from 01:00 to 02:00" in body
    assert _workshop_count() == 0


def test_finding_low_clock_change_ambiguous_time_refused_with_the_rule(app, client, as_role):
    """01:30 on 31 October 2027 happens twice: refused with the rule (choose before 01:00 or from 02:00)."""
    as_role("staff")
    response = client.post_form("/staff/workshops/new", _on_day("31", "10", "2027", "01:30", "03:00"),
                                token_from="/staff/workshops/new")
    body = response.get_data(as_text=True)
    assert ("01:30 on 31 October 2027 happens twice in the UK: the clocks go back from 02:00 to 01:00. "
            "Choose a time before 01:00 or from 02:00") in body
    assert _workshop_count() == 0
    # Through the night of the change is fine with unambiguous times, and lasts what the clock says.
    response = client.post_form("/staff/workshops/new", _on_day("28", "3", "2027", "00:30", "03:00"),
                                token_from="/staff/workshops/new")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    workshop = db.session.scalars(sa.select(Workshop)).one()
    assert workshop.ends_at - workshop.starts_at == timedelta(hours=1, minutes=30)
    assert workshop.starts_at == datetime(2027, 3, 28, 0, 30, tzinfo=workshop.starts_at.tzinfo)


# --- Low: only attendees count in a workshop's live tally ---------------------------------------

def test_finding_low_live_tally_counts_only_checked_in_attendees(app, client, auth, make_user, staff):
    """A vote posted with workshop=<id> counts in that workshop's tally only for a member checked in
    there; a stranger's or a no-show's vote counts overall but not for the workshop."""
    from kil_network.principles import services as principles
    from kil_network.principles.models import Vote, VoteTally

    round_ = principles.create_round(staff, name="Round", opens_at=None, closes_at=utcnow() + timedelta(days=30),
                                     eligibility=principles.Eligibility.MEMBERS)
    principles.open_round_for_votes(staff, round_)
    starts = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    workshop = Workshop(title="Live in Leeds", format=WorkshopFormat.IN_PERSON, starts_at=starts,
                        ends_at=starts + timedelta(hours=2), registration_closes_at=starts - timedelta(days=1),
                        capacity=50, status=WorkshopStatus.PUBLISHED, round_id=round_.id, live_voting=True)
    db.session.add(workshop)
    db.session.commit()
    attendee, no_show = make_user(email="in@example.org"), make_user(email="noshow@example.org")
    make_user(email="stranger@example.org")
    for person, checked_in in ((attendee, True), (no_show, False)):
        db.session.add(Registration(workshop_id=workshop.id, user_id=person.id, member_type=person.member_type,
                                    state=CONFIRMED, checked_in_at=utcnow() if checked_in else None))
    db.session.commit()
    draft = principles.drafts_of(round_)[0]
    for email in ("in@example.org", "noshow@example.org", "stranger@example.org"):
        auth.login(email)
        response = client.post_form(f"/principles/drafts/{draft.id}/vote",
                                    {"stance": "support", "workshop": str(workshop.id)})
        assert response.status_code == 303
        auth.logout()
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == 3
    assert set(db.session.scalars(sa.select(Vote.workshop_id))) == {workshop.id, None}

    def tally(dimension, key):
        row = db.session.scalar(sa.select(VoteTally).where(
            VoteTally.draft_id == draft.id, VoteTally.dimension == dimension, VoteTally.key == key))
        return row.support if row else 0

    assert tally("all", "") == 3
    assert tally("workshop", str(workshop.id)) == 1


def test_finding_13_double_click_open_live_voting_stays_open(app, client, as_role, staff):
    """'Open live voting' clicked twice leaves it open (a set, not a toggle), with one audit row."""
    from kil_network.principles import services as principles

    round_ = principles.create_round(staff, name="Round", opens_at=None, closes_at=utcnow() + timedelta(days=30),
                                     eligibility=principles.Eligibility.MEMBERS)
    starts = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    workshop = Workshop(title="Live in Leeds", format=WorkshopFormat.IN_PERSON, starts_at=starts,
                        ends_at=starts + timedelta(hours=2), registration_closes_at=starts - timedelta(days=1),
                        capacity=50, status=WorkshopStatus.PUBLISHED, round_id=round_.id, live_voting=False)
    db.session.add(workshop)
    db.session.commit()
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/control"
    page = client.get(url).get_data(as_text=True)
    assert 'name="live" value="1"' in page
    for _ in range(2):
        assert client.post_form(url, {"live": "1"}, token_from=url).status_code == 303
    db.session.expire_all()
    assert db.session.get(Workshop, workshop.id).live_voting is True
    assert audit_count("workshop.live_voting") == 1


@pytest.mark.postgresql_only
def test_finding_06_reminders_racing_a_cancel_or_a_time_change(app, thread_app, make_workshop, staff, people):
    """A reminder run waiting behind a staff cancel sends nothing; behind a time change, the new time."""
    skip_unless_postgresql()
    cancelled, moved = make_workshop(days=1, title="Cancelled"), make_workshop(days=1, title="Moved")
    for workshop in (cancelled, moved):
        services.register(workshop, db.session.get(User, people[0]))
    db.session.commit()
    remind = lambda w, u: services.send_reminders()  # noqa: E731
    staff_change_while_others_wait(thread_app, lambda w, u: services.cancel_workshop(u, w, "Rain"), staff.id,
                                   cancelled.id, [(remind, cancelled.id, people[0])])
    assert [m.subject for m in outbox("Reminder")] == ["Reminder: Moved"]  # the other workshop's, sent then
    db.session.execute(sa.delete(OutboxEmail))
    db.session.execute(sa.update(Registration).values(reminder_sent_at=None))
    db.session.commit()
    new_start = moved.starts_at + timedelta(hours=3)

    def move(w, u):
        services.update_workshop(u, w, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=2)})

    staff_change_while_others_wait(thread_app, move, staff.id, moved.id, [(remind, moved.id, people[0])])
    (reminder,) = outbox("Reminder")
    assert ics_event(reminder)["DTSTART"].dt == new_start
