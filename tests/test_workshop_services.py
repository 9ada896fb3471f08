"""Workshop rules (kil_network/workshops/services.py), calendar files and personal data, without HTTP."""
import base64
import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from kil_network.auth.models import MemberType
from kil_network.core.email import deliver_due
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import london_to_utc, utcnow
from kil_network.extensions import db
from kil_network.members import services as member_services
from kil_network.members.models import Region
from kil_network.workshops import queries, services
from kil_network.workshops.calendar import workshop_ics
from kil_network.workshops.models import (
    Registration,
    RegistrationEvent,
    RegistrationState,
    Workshop,
    WorkshopFormat,
    WorkshopStatus,
)
from kil_network.workshops.notifications import check_in_url
from kil_network.workshops.qr import qr_png
from tests.support.mail import email_text

CONFIRMED = RegistrationState.CONFIRMED
WAITLISTED = RegistrationState.WAITLISTED
CANCELLED = RegistrationState.CANCELLED
JOIN_URL = "https://meet.example.org/kil-workshop-123"


def soon(**delta):
    """A whole-minute UTC time relative to now (iCalendar keeps no microseconds)."""
    return (utcnow() + timedelta(**delta)).replace(second=0, microsecond=0)


def region(name: str) -> Region:
    """A region by name."""
    return db.session.scalar(sa.select(Region).where(Region.name == name))


@pytest.fixture
def staff(make_user):
    """A member of staff who runs workshops."""
    return make_user(email="staff@example.org", name="Sam Staff", role="staff")


@pytest.fixture
def make_workshop(staff):
    """Create a workshop through the services (published unless told otherwise) and commit."""

    def factory(*, title="Commissioning locally in Leeds", capacity=10, starts_in=timedelta(days=7),
                hours=2, closes_before=timedelta(hours=1), publish=True, fmt=WorkshopFormat.IN_PERSON,
                region_name="Yorkshire and The Humber", **extra):
        starts = soon(seconds=starts_in.total_seconds())
        data = {
            "title": title, "description": "Co-design the principles.", "region": region(region_name),
            "format": fmt, "venue": "Leeds Civic Hall", "address": "Calverley Street, Leeds",
            "postcode": "LS1 1UR", "online_url": JOIN_URL, "starts_at": starts,
            "ends_at": starts + timedelta(hours=hours), "registration_closes_at": starts - closes_before,
            "capacity": capacity, "accessibility_info": "Step-free access.", "mix_max_percent": None,
        }
        data.update(extra)
        workshop = services.create_workshop(staff, data)
        if publish:
            services.publish_workshop(staff, workshop)
        db.session.commit()
        return workshop

    return factory


@pytest.fixture
def members(make_user):
    """Create n confirmed members of a type; returns the list."""

    def factory(n, member_type="community_organisation", prefix="person"):
        start = factory.count
        factory.count += n
        return [make_user(email=f"{prefix}{i}@example.org", name=f"{prefix.title()} {i:02d}",
                          member_type=member_type) for i in range(start, start + n)]

    factory.count = 0
    return factory


def register(workshop, user, **kwargs) -> Registration:
    """Register and commit, as a request would."""
    reg = services.register(workshop, user, **kwargs)
    db.session.commit()
    return reg


def cancel(reg, actor) -> list:
    """Cancel a registration and commit."""
    promoted = services.cancel_registration(reg, actor)
    db.session.commit()
    return promoted


def outbox(subject_start: str = "") -> list[OutboxEmail]:
    """Queued emails whose subject starts with the given text, oldest first."""
    stmt = sa.select(OutboxEmail).order_by(OutboxEmail.id)
    if subject_start:
        stmt = stmt.where(OutboxEmail.subject.startswith(subject_start))
    return list(db.session.scalars(stmt))


def recipients(subject_start: str) -> set[str]:
    """Addresses of queued emails whose subject starts with the given text."""
    return {mail.to_address for mail in outbox(subject_start)}


def states(workshop) -> dict[str, str]:
    """Each registration's state, by email address."""
    regs = db.session.scalars(sa.select(Registration).where(Registration.workshop_id == workshop.id))
    return {reg.person_email: reg.state.value for reg in regs}


def actions(reg) -> list[str]:
    """The registration's history, as action names in order."""
    return list(db.session.scalars(
        sa.select(RegistrationEvent.action).where(RegistrationEvent.registration_id == reg.id)
        .order_by(RegistrationEvent.id)))


def parse(ics: bytes):
    """An .ics file parsed back: (calendar, its one event)."""
    cal = Calendar.from_ical(ics)
    events = [c for c in cal.walk() if c.name == "VEVENT"]
    assert len(events) == 1
    return cal, events[0]


# --- Registering ---------------------------------------------------------------------------

def test_register_confirms_while_seats_are_free_then_waitlists_in_order(make_workshop, members):
    """Seats go to the first `capacity` people; the rest join the waitlist at positions 1, 2, ..."""
    workshop = make_workshop(capacity=2)
    people = members(5)
    regs = [register(workshop, person) for person in people]
    assert [r.state for r in regs] == [CONFIRMED, CONFIRMED, WAITLISTED, WAITLISTED, WAITLISTED]
    assert [queries.waitlist_position(r) for r in regs] == [None, None, 1, 2, 3]
    assert services.seats(workshop).confirmed == 2 and services.seats(workshop).waitlisted == 3
    assert actions(regs[0]) == ["registered"] and actions(regs[2]) == ["waitlisted"]


def test_register_queues_confirmation_and_waitlist_emails(make_workshop, members):
    """A confirmed person gets the confirmation; a waitlisted one is told their position."""
    workshop = make_workshop(capacity=1)
    first, second = members(2)
    register(workshop, first)
    register(workshop, second)
    assert recipients("Your place is confirmed") == {first.email}
    waitlist_mail = outbox("You are on the waitlist")
    assert [m.to_address for m in waitlist_mail] == [second.email]
    assert "at position 1" in waitlist_mail[0].body_text


def test_register_keeps_access_needs(make_workshop, members):
    """The optional access needs note is stored (trimmed) on the registration."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person, access_needs="  Wheelchair user; BSL interpreter  ")
    assert db.session.get(Registration, reg.id).access_needs == "Wheelchair user; BSL interpreter"


@pytest.mark.parametrize("case, message", [
    ("draft", "not open for registration yet"),
    ("cancelled", "has been cancelled"),
    ("past", "already taken place"),
    ("closed", "Registration closed on"),
])
def test_register_refused_when_workshop_not_open(make_workshop, members, staff, case, message):
    """Drafts, cancelled and past workshops, and those whose registration has closed, refuse registration."""
    if case == "draft":
        workshop = make_workshop(publish=False)
    elif case == "cancelled":
        workshop = make_workshop()
        services.cancel_workshop(staff, workshop, "Venue flooded")
        db.session.commit()
    elif case == "past":
        workshop = make_workshop(starts_in=timedelta(hours=-2), closes_before=timedelta(hours=1))
    else:
        workshop = make_workshop(starts_in=timedelta(days=2), closes_before=timedelta(days=3))
    (person,) = members(1)
    with pytest.raises(RuleError, match=message):
        services.register(workshop, person)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == 0
    assert outbox("Your place") == []


def test_register_refused_for_unconfirmed_member(make_workshop, make_user):
    """A member who has not confirmed their email address is told to confirm it first."""
    workshop = make_workshop()
    person = make_user(email="new@example.org", confirmed=False)
    with pytest.raises(RuleError, match="Confirm your email address"):
        services.register(workshop, person)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == 0


@pytest.mark.parametrize("capacity, message", [
    (1, "already registered for this workshop"),
    (0, "already on the waitlist"),
])
def test_register_twice_refused(make_workshop, members, capacity, message):
    """Registering again while confirmed or waitlisted is refused; still one row."""
    workshop = make_workshop(capacity=max(capacity, 1))
    if capacity == 0:
        (filler,) = members(1, prefix="filler")
        register(workshop, filler)
    (person,) = members(1)
    register(workshop, person)
    with pytest.raises(RuleError, match=message):
        services.register(workshop, person)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)
                             .where(Registration.user_id == person.id)) == 1


def test_unique_constraint_one_row_per_member_per_workshop(make_workshop, members):
    """The database itself refuses a second registration row for the same member and workshop."""
    workshop = make_workshop()
    (person,) = members(1)
    register(workshop, person)
    db.session.add(Registration(workshop_id=workshop.id, user_id=person.id, member_type=person.member_type,
                                state=WAITLISTED))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


# --- Cancelling and the waitlist ---------------------------------------------------------------

def test_cancel_confirmed_promotes_first_waitlisted_and_emails_them(make_workshop, members):
    """A freed seat goes to the first person waiting, who is emailed; the rest move up."""
    workshop = make_workshop(capacity=1)
    first, second, third = members(3)
    reg1, reg2, reg3 = (register(workshop, p) for p in (first, second, third))
    promoted = cancel(reg1, first)
    assert [r.id for r in promoted] == [reg2.id]
    assert states(workshop) == {first.email: "cancelled", second.email: "confirmed", third.email: "waitlisted"}
    assert queries.waitlist_position(db.session.get(Registration, reg3.id)) == 1
    assert recipients("A place is now yours") == {second.email}
    assert recipients("Registration cancelled") == {first.email}
    assert actions(reg2) == ["waitlisted", "promoted"]
    assert actions(reg1) == ["registered", "cancelled"]


def test_cancel_waitlisted_promotes_nobody(make_workshop, members):
    """Leaving the waitlist frees no seat, so nobody is promoted."""
    workshop = make_workshop(capacity=1)
    first, second, third = members(3)
    register(workshop, first)
    reg2 = register(workshop, second)
    reg3 = register(workshop, third)
    assert cancel(reg2, second) == []
    assert states(workshop) == {first.email: "confirmed", second.email: "cancelled", third.email: "waitlisted"}
    assert queries.waitlist_position(db.session.get(Registration, reg3.id)) == 1
    assert outbox("A place is now yours") == []


def test_cancel_twice_changes_nothing(make_workshop, members):
    """Cancelling a cancelled registration again does nothing and emails nobody."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person)
    cancel(reg, person)
    assert services.cancel_registration(reg, person) == []
    db.session.commit()
    assert len(outbox("Registration cancelled")) == 1
    assert actions(reg) == ["registered", "cancelled"]


def test_cancel_after_start_refused(make_workshop, members):
    """Once the workshop has started, a registration can no longer be cancelled."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person)
    workshop.starts_at = soon(hours=-1)
    db.session.commit()
    with pytest.raises(RuleError, match="already taken place"):
        services.cancel_registration(reg, person)


def test_reregistering_reuses_the_row_and_goes_to_the_back_of_the_queue(make_workshop, members):
    """Cancel then register again: the same row (unique constraint), now behind everyone waiting."""
    workshop = make_workshop(capacity=1)
    first, second, third = members(3)
    register(workshop, first)
    reg2 = register(workshop, second)
    reg3 = register(workshop, third)
    cancel(reg2, second)
    again = register(workshop, second)
    assert again.id == reg2.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)
                             .where(Registration.user_id == second.id)) == 1
    assert again.state == WAITLISTED
    assert queries.waitlist_position(db.session.get(Registration, reg3.id)) == 1
    assert queries.waitlist_position(again) == 2
    assert actions(again) == ["waitlisted", "cancelled", "waitlisted"]


def test_reregistering_when_a_seat_is_free_confirms(make_workshop, members):
    """Someone who cancelled and comes back while seats are free gets a seat again."""
    workshop = make_workshop(capacity=2)
    (person,) = members(1)
    reg = register(workshop, person)
    cancel(reg, person)
    again = register(workshop, person)
    assert again.id == reg.id and again.state == CONFIRMED
    assert actions(again) == ["registered", "cancelled", "registered"]


def test_mix_target_waitlists_a_type_beyond_its_share_and_lifting_it_promotes(make_workshop, members, staff):
    """At most half the seats per type: the 3rd councillor waits while an organisation gets a seat."""
    workshop = make_workshop(capacity=4, mix_max_percent=50)
    c1, c2, c3 = members(3, member_type="councillor", prefix="councillor")
    (org,) = members(1, member_type="community_organisation", prefix="org")
    regs = [register(workshop, p) for p in (c1, c2, c3, org)]
    assert [r.state for r in regs] == [CONFIRMED, CONFIRMED, WAITLISTED, CONFIRMED]
    assert services.seats(workshop).confirmed == 3
    result = services.update_workshop(staff, workshop, {"mix_max_percent": None})
    db.session.commit()
    assert [r.id for r in result["promoted"]] == [regs[2].id]
    assert states(workshop)[c3.email] == "confirmed"
    assert recipients("A place is now yours") == {c3.email}


def test_mix_target_promotion_skips_a_type_at_its_share(make_workshop, members):
    """A freed seat goes to the first waiting person whose type is below its share."""
    workshop = make_workshop(capacity=4, mix_max_percent=50)
    c1, c2, c3 = members(3, member_type="councillor", prefix="councillor")
    o1, o2, o3 = members(3, member_type="community_organisation", prefix="org")
    regs = {p.email: register(workshop, p) for p in (c1, c2, o1, o2, c3, o3)}
    assert regs[c3.email].state == WAITLISTED and regs[o3.email].state == WAITLISTED
    promoted = cancel(regs[o1.email], o1)
    assert [r.id for r in promoted] == [regs[o3.email].id]
    assert states(workshop)[c3.email] == "waitlisted"


# --- Scheduling ------------------------------------------------------------------------------

def test_create_workshop_is_a_draft(staff):
    """A new workshop starts as a draft with sequence 0, created by the member of staff."""
    starts = soon(days=5)
    workshop = services.create_workshop(staff, {
        "title": "Online: what good commissioning looks like", "description": "An hour online.",
        "region": None, "format": WorkshopFormat.ONLINE, "venue": "Ignored", "address": "Ignored",
        "postcode": "LS1 1UR", "online_url": JOIN_URL, "starts_at": starts, "ends_at": starts + timedelta(hours=1),
        "registration_closes_at": starts - timedelta(hours=2), "capacity": 50, "accessibility_info": "",
        "mix_max_percent": None,
    })
    db.session.commit()
    saved = db.session.get(Workshop, workshop.id)
    assert saved.status == WorkshopStatus.DRAFT and saved.sequence == 0 and saved.created_by_id == staff.id
    assert saved.starts_at == starts and saved.starts_at.utcoffset() == timedelta(0)
    assert (saved.venue, saved.address, saved.postcode) == ("", "", "")  # an online workshop has no venue


def test_update_capacity_below_confirmed_refused_and_nothing_changes(make_workshop, members, staff):
    """Capacity below the confirmed count raises on field `capacity`, explains, and drops nobody."""
    workshop = make_workshop(capacity=3)
    people = members(4)
    for person in people:
        register(workshop, person)
    before = outbox()
    with pytest.raises(RuleError) as excinfo:
        services.update_workshop(staff, workshop, {"capacity": 2, "title": "Smaller room"})
    assert excinfo.value.field == "capacity"
    assert "3 people already have a confirmed seat" in excinfo.value.message
    assert workshop.capacity == 3 and workshop.title == "Commissioning locally in Leeds"
    db.session.rollback()
    saved = db.session.get(Workshop, workshop.id)
    assert saved.capacity == 3 and saved.title == "Commissioning locally in Leeds"
    assert sorted(states(workshop).values()) == ["confirmed"] * 3 + ["waitlisted"]
    assert len(outbox()) == len(before)


def test_raising_capacity_promotes_in_order(make_workshop, members, staff):
    """More seats are filled from the waitlist in queue order."""
    workshop = make_workshop(capacity=1)
    people = members(4)
    regs = [register(workshop, p) for p in people]
    result = services.update_workshop(staff, workshop, {"capacity": 3})
    db.session.commit()
    assert [r.id for r in result["promoted"]] == [regs[1].id, regs[2].id]
    assert states(workshop)[people[3].email] == "waitlisted"
    assert queries.waitlist_position(db.session.get(Registration, regs[3].id)) == 1
    assert recipients("A place is now yours") == {people[1].email, people[2].email}


def test_time_change_of_published_workshop_bumps_sequence_and_emails_registered(make_workshop, members, staff):
    """A new time: SEQUENCE + 1 and 'Workshop changed' to confirmed and waitlisted, not cancelled people."""
    workshop = make_workshop(capacity=1)
    confirmed, waiting, gone = members(3)
    register(workshop, confirmed)
    register(workshop, waiting)
    cancel(register(workshop, gone), gone)
    new_start = workshop.starts_at + timedelta(hours=1)
    result = services.update_workshop(staff, workshop,
                                      {"starts_at": new_start, "ends_at": new_start + timedelta(hours=2),
                                                        "registration_closes_at": new_start - timedelta(hours=1)})
    db.session.commit()
    assert result["changed"] == ["starts_at", "ends_at"] and result["notified"] == 2
    assert db.session.get(Workshop, workshop.id).sequence == 1
    changed = outbox("Workshop changed")
    assert {m.to_address for m in changed} == {confirmed.email, waiting.email}
    attachments = {m.to_address: m.attachments for m in changed}
    assert attachments[confirmed.email][0]["content_type"] == "text/calendar; method=REQUEST; charset=UTF-8"
    assert attachments[waiting.email] == []  # no REQUEST for a place the member does not have


def test_changed_email_calendar_gives_joining_link_to_confirmed_only(make_workshop, members, staff):
    """The calendar file in 'Workshop changed' (confirmed people only) carries the joining link; the
    waitlist's email has neither."""
    workshop = make_workshop(capacity=1, fmt=WorkshopFormat.ONLINE)
    confirmed, waiting = members(2)
    register(workshop, confirmed)
    register(workshop, waiting)
    services.update_workshop(staff, workshop, {"starts_at": workshop.starts_at + timedelta(hours=1),
                                               "ends_at": workshop.ends_at + timedelta(hours=1)})
    db.session.commit()
    ics = {m.to_address: [base64.b64decode(a["content"]) for a in m.attachments] for m in outbox("Workshop changed")}
    assert JOIN_URL.encode() in ics[confirmed.email][0]
    assert ics[waiting.email] == []  # the waitlist gets no calendar entry, so no joining link
    assert JOIN_URL not in outbox("Workshop changed")[1].body_text


def test_postponed_workshop_is_reminded_again(make_workshop, members, staff):
    """Reminders sent before a workshop is moved are sent again before its new date, once."""
    workshop = make_workshop(starts_in=timedelta(hours=30))
    (person,) = members(1)
    register(workshop, person)
    assert services.send_reminders() == 1
    db.session.commit()
    new_start = workshop.starts_at + timedelta(days=14)
    services.update_workshop(staff, workshop, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=2)})
    db.session.commit()
    assert services.send_reminders() == 0
    assert services.send_reminders(now=new_start - timedelta(hours=40)) == 1
    db.session.commit()
    assert len(outbox("Reminder:")) == 2
    assert services.send_reminders(now=new_start - timedelta(hours=39)) == 0


def test_small_time_change_within_48_hours_does_not_repeat_the_reminder(make_workshop, members, staff):
    """Moved by an hour inside the reminder window: the 'changed' email is enough, no second reminder."""
    workshop = make_workshop(starts_in=timedelta(hours=30))
    (person,) = members(1)
    register(workshop, person)
    assert services.send_reminders() == 1
    services.update_workshop(staff, workshop, {"starts_at": workshop.starts_at + timedelta(hours=1),
                                               "ends_at": workshop.ends_at + timedelta(hours=1)})
    db.session.commit()
    assert services.send_reminders() == 0
    assert recipients("Workshop changed") == {person.email}


def test_venue_change_of_published_workshop_emails_registered(make_workshop, members, staff):
    """A new venue also counts as a change that everyone registered is told about."""
    workshop = make_workshop()
    (person,) = members(1)
    register(workshop, person)
    result = services.update_workshop(staff, workshop, {"venue": "Leeds Central Library"})
    db.session.commit()
    assert result["changed"] == ["venue"]
    assert recipients("Workshop changed") == {person.email}
    assert "Leeds Central Library" in outbox("Workshop changed")[0].body_text


def test_title_only_change_does_not_bump_sequence_or_email(make_workshop, members, staff):
    """Changing only the title is not a time or place change: no new sequence, no email."""
    workshop = make_workshop()
    (person,) = members(1)
    register(workshop, person)
    result = services.update_workshop(staff, workshop, {"title": "Commissioning locally in Leeds (round 2)"})
    db.session.commit()
    assert result["changed"] == [] and result["notified"] == 0
    saved = db.session.get(Workshop, workshop.id)
    assert saved.sequence == 0 and saved.title == "Commissioning locally in Leeds (round 2)"
    assert outbox("Workshop changed") == []


def test_time_change_of_draft_emails_nobody(make_workshop, staff):
    """A draft has nobody registered and nothing published: no sequence bump."""
    workshop = make_workshop(publish=False)
    services.update_workshop(staff, workshop, {"starts_at": workshop.starts_at + timedelta(days=1),
                                               "ends_at": workshop.ends_at + timedelta(days=1)})
    db.session.commit()
    assert db.session.get(Workshop, workshop.id).sequence == 0
    assert outbox("Workshop changed") == []


def test_cancelled_workshop_cannot_be_edited(make_workshop, staff):
    """Editing a cancelled workshop is refused."""
    workshop = make_workshop()
    services.cancel_workshop(staff, workshop, "Speaker unwell")
    db.session.commit()
    with pytest.raises(RuleError, match="cannot be changed"):
        services.update_workshop(staff, workshop, {"title": "Back on"})


def workshop_data(**overrides) -> dict:
    """Valid data for `create_workshop` (an in-person workshop next week), with some values replaced."""
    starts = soon(days=7)
    data = {
        "title": "Commissioning locally in Leeds", "description": "Co-design the principles.", "region": None,
        "format": WorkshopFormat.IN_PERSON, "venue": "Leeds Civic Hall", "address": "Calverley Street, Leeds",
        "postcode": "LS1 1UR", "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
        "registration_closes_at": starts - timedelta(hours=1), "capacity": 10, "accessibility_info": "",
        "mix_max_percent": None,
    }
    data.update(overrides)
    return data


SCHEDULE_RULES = [
    ({"venue": ""}, "venue", "Enter the venue name"),
    ({"format": WorkshopFormat.HYBRID, "address": "", "online_url": JOIN_URL}, "address", "Enter the venue address"),
    ({"postcode": ""}, "postcode", "Enter the venue postcode"),
    ({"postcode": "NOT A CODE"}, "postcode", "Enter a real postcode, like SW1A 1AA"),
    ({"format": WorkshopFormat.ONLINE}, "online_url", "Enter the joining link"),
    ({"format": WorkshopFormat.HYBRID, "online_url": "javascript:alert(1)"}, "online_url",
     "Enter a joining link that starts with https:// or http://"),
    ({"ends_at": -timedelta(minutes=30)}, "ends_at", "End must be after the start"),
    ({"registration_closes_at": timedelta(minutes=1)}, "registration_closes_at",
     "Registration must close before the workshop starts"),
]  # a timedelta is counted from the start


def from_start(overrides: dict, starts: datetime) -> dict:
    """The overrides with each timedelta made a time counted from `starts`."""
    return {name: starts + value if isinstance(value, timedelta) else value for name, value in overrides.items()}


@pytest.mark.parametrize("overrides, field, message", SCHEDULE_RULES)
def test_create_workshop_itself_refuses_a_broken_schedule(staff, overrides, field, message):
    """The scheduling rules live in the service: called directly (as the CLI or demo data would),
    `create_workshop` raises on the field, and nothing is stored."""
    with pytest.raises(RuleError) as excinfo:
        data = workshop_data()
        services.create_workshop(staff, {**data, **from_start(overrides, data["starts_at"])})
    assert (excinfo.value.field, excinfo.value.message) == (field, message)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Workshop)) == 0


@pytest.mark.parametrize("overrides, field, message", SCHEDULE_RULES)
def test_update_workshop_itself_refuses_a_broken_schedule(make_workshop, staff, overrides, field, message):
    """`update_workshop` judges the workshop as it would be saved: a change that breaks a rule is
    refused on its field, and after the rollback the workshop is as it was."""
    workshop = make_workshop(publish=False)
    before = {name: getattr(workshop, name) for name in services.SCHEDULE_FIELDS}
    with pytest.raises(RuleError) as excinfo:
        services.update_workshop(staff, workshop, from_start(overrides, workshop.starts_at))
    assert (excinfo.value.field, excinfo.value.message) == (field, message)
    db.session.rollback()
    saved = db.session.get(Workshop, workshop.id)
    assert {name: getattr(saved, name) for name in services.SCHEDULE_FIELDS} == before


def test_online_workshop_may_have_no_venue_and_in_person_no_link(staff):
    """The venue rules bind in-person and hybrid workshops only, the link rules online and hybrid."""
    online = services.create_workshop(staff, workshop_data(format=WorkshopFormat.ONLINE, venue="", address="",
                                                           postcode="", online_url=JOIN_URL))
    in_person = services.create_workshop(staff, workshop_data(online_url=""))
    assert online.id and in_person.id


def test_check_editable_refuses_a_cancelled_workshop(make_workshop, staff):
    """The rule the edit page asks before it shows the form: a cancelled workshop cannot be changed."""
    workshop = make_workshop()
    services.check_editable(workshop)  # published: may be changed
    services.cancel_workshop(staff, workshop, "Speaker unwell")
    db.session.commit()
    with pytest.raises(RuleError, match="A cancelled workshop cannot be changed."):
        services.check_editable(workshop)


def test_live_voting_needs_a_round_and_is_a_set(make_workshop, staff):
    """`set_live_voting` refuses a workshop with no principles round; opening twice changes nothing."""
    workshop = make_workshop()
    with pytest.raises(RuleError, match="Link this workshop to a principles round first"):
        services.set_live_voting(staff, workshop, True)
    db.session.rollback()
    assert db.session.get(Workshop, workshop.id).live_voting is False


def test_reset_calendar_token_replaces_the_secret(members):
    """A new calendar token each time: long, URL-safe, and different from the last."""
    (person,) = members(1)
    first = services.reset_calendar_token(person)
    second = services.reset_calendar_token(person)
    db.session.commit()
    assert len(first) >= 40 and first != second
    assert db.session.get(type(person), person.id).calendar_token == second


def test_status_and_state_predicates(make_workshop, members, staff):
    """What templates ask instead of comparing values: a workshop's status, a place's state."""
    workshop = make_workshop(publish=False)
    assert (workshop.is_draft, workshop.is_published, workshop.is_cancelled, workshop.status_label) == (
        True, False, False, "Draft")
    services.publish_workshop(staff, workshop)
    assert workshop.is_published and workshop.status_label == "Published"
    first, second = members(2)
    workshop.capacity = 1
    confirmed, waiting = register(workshop, first), register(workshop, second)
    assert (confirmed.is_confirmed, confirmed.is_waitlisted, confirmed.is_active) == (True, False, True)
    assert (waiting.is_confirmed, waiting.is_waitlisted, waiting.is_active) == (False, True, True)
    cancel(waiting, second)
    assert waiting.is_cancelled and not waiting.is_active
    services.cancel_workshop(staff, workshop, "Venue flooded")
    assert workshop.is_cancelled and not workshop.is_published and workshop.status_label == "Cancelled"
    assert WorkshopFormat.ONLINE.is_online and WorkshopFormat.HYBRID.is_hybrid
    assert not WorkshopFormat.IN_PERSON.is_online and not WorkshopFormat.ONLINE.is_hybrid


def test_no_show_rates(make_workshop, members, staff):
    """Confirmed places not attended, in per cent (rounded); None with nobody confirmed or once cancelled."""
    busy, empty, off = make_workshop(title="Busy"), make_workshop(title="Empty"), make_workshop(title="Off")
    people = members(3)
    regs = [register(busy, person) for person in people]
    register(off, people[0])
    services.check_in(staff, regs[0])
    services.cancel_workshop(staff, off, "Merged")
    db.session.commit()
    stats = queries.registration_stats([busy.id, empty.id, off.id])
    assert queries.no_show_rates([busy, empty, off], stats) == {busy.id: 67, empty.id: None, off.id: None}


def test_publish_only_from_draft(make_workshop, staff):
    """Publishing sets published_at once; publishing again changes nothing; a cancelled one is refused."""
    workshop = make_workshop(publish=False)
    services.publish_workshop(staff, workshop)
    db.session.commit()
    saved = db.session.get(Workshop, workshop.id)
    assert saved.status == WorkshopStatus.PUBLISHED and saved.published_at is not None
    published_at = saved.published_at
    assert services.publish_workshop(staff, saved) is False  # again: nothing changes
    db.session.commit()
    assert db.session.get(Workshop, workshop.id).published_at == published_at
    services.cancel_workshop(staff, saved, "Moved online")
    db.session.commit()
    with pytest.raises(RuleError, match="cancelled workshop cannot be published"):
        services.publish_workshop(staff, saved)


@pytest.mark.parametrize("reason", ["", "   "])
def test_cancel_workshop_requires_a_reason(make_workshop, staff, reason):
    """Cancelling without a reason is refused on field `reason`; the workshop stays published."""
    workshop = make_workshop()
    with pytest.raises(RuleError) as excinfo:
        services.cancel_workshop(staff, workshop, reason)
    assert excinfo.value.field == "reason"
    db.session.rollback()
    assert db.session.get(Workshop, workshop.id).status == WorkshopStatus.PUBLISHED


def test_cancel_workshop_emails_everyone_with_reason_and_keeps_history(make_workshop, members, staff):
    """Cancelling bumps SEQUENCE, emails confirmed and waitlisted people the reason, and keeps every row."""
    workshop = make_workshop(capacity=1)
    confirmed, waiting, gone = members(3)
    reg1 = register(workshop, confirmed)
    reg2 = register(workshop, waiting)
    cancel(register(workshop, gone), gone)
    notified = services.cancel_workshop(staff, workshop, "  The venue has flooded.  ")
    db.session.commit()
    assert notified == 2
    saved = db.session.get(Workshop, workshop.id)
    assert saved.status == WorkshopStatus.CANCELLED and saved.sequence == 1
    assert saved.cancel_reason == "The venue has flooded."
    mails = outbox("Workshop cancelled")
    assert {m.to_address for m in mails} == {confirmed.email, waiting.email}
    assert all("Reason: The venue has flooded." in m.body_text for m in mails)
    # iTIP: the confirmed place is cancelled in the calendar; the waitlist was never sent an entry.
    attachments = {m.to_address: m.attachments for m in mails}
    assert "method=CANCEL" in attachments[confirmed.email][0]["content_type"]
    assert attachments[waiting.email] == []
    assert states(workshop) == {confirmed.email: "confirmed", waiting.email: "waitlisted", gone.email: "cancelled"}
    assert actions(reg1) == ["registered"] and actions(reg2) == ["waitlisted"]
    assert services.cancel_workshop(staff, saved, "Again") is None  # nothing done, nobody emailed again
    db.session.commit()
    assert len(outbox("Workshop cancelled")) == 2


def test_cancelling_a_draft_emails_nobody(make_workshop, staff):
    """A draft can be cancelled; nobody was registered, so nobody is emailed."""
    workshop = make_workshop(publish=False)
    assert services.cancel_workshop(staff, workshop, "Not needed") == 0
    db.session.commit()
    assert db.session.get(Workshop, workshop.id).status == WorkshopStatus.CANCELLED
    assert outbox("Workshop cancelled") == []


# --- Attendance ---------------------------------------------------------------------------

def test_check_in_and_undo(make_workshop, members, staff):
    """Check-in records time and who; undo clears it; both are in the history and the counts."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person)
    services.check_in(staff, reg)
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    assert saved.attended and saved.checked_in_by_id == staff.id
    assert queries.attendance_counts(workshop) == {"attended": 1, "registered": 1, "walk_ins": 0}
    services.undo_check_in(staff, saved)
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    assert not saved.attended and saved.checked_in_by_id is None
    assert queries.attendance_counts(workshop) == {"attended": 0, "registered": 1, "walk_ins": 0}
    assert actions(reg) == ["registered", "checked_in", "check_in_undone"]


def test_checking_in_a_waitlisted_person_confirms_them(make_workshop, members, staff):
    """Someone from the waitlist who turns up is given a place when staff confirm it (a plain tap asks)."""
    workshop = make_workshop(capacity=1)
    first, second = members(2)
    register(workshop, first)
    reg = register(workshop, second)
    with pytest.raises(services.WaitlistedNeedsConfirmation):
        services.check_in(staff, reg)
    db.session.rollback()
    services.check_in(staff, reg, confirm_waitlisted=True)
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    assert saved.state == CONFIRMED and saved.attended
    assert actions(reg) == ["waitlisted", "promoted", "checked_in"]


def test_checking_in_a_cancelled_registration_refused(make_workshop, members, staff):
    """A cancelled registration cannot be checked in (add a walk-in instead)."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person)
    cancel(reg, person)
    with pytest.raises(RuleError, match="walk-in"):
        services.check_in(staff, reg)


def test_walk_in_for_existing_member_links_to_the_member(make_workshop, members, staff):
    """A walk-in with a member's email (any case) is recorded against that member, checked in."""
    workshop = make_workshop(capacity=1)
    filler, person = members(2)
    register(workshop, filler)
    reg = services.add_walk_in(staff, workshop, email=person.email.upper(), name="Ignored")
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    assert saved.user_id == person.id and saved.guest_email == "" and saved.walk_in
    assert saved.state == CONFIRMED and saved.attended and saved.member_type == person.member_type
    assert outbox("Thank you for coming") == []


def test_walk_in_for_registered_member_just_checks_them_in(make_workshop, members, staff):
    """A walk-in for someone already registered checks in their existing registration."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person)
    again = services.add_walk_in(staff, workshop, email=person.email)
    db.session.commit()
    assert again.id == reg.id and again.attended and not again.walk_in


def test_walk_in_for_new_email_creates_guest_and_invites_them(make_workshop, staff):
    """Someone not in the Network becomes a guest registration and is emailed an invitation to join."""
    workshop = make_workshop()
    reg = services.add_walk_in(staff, workshop, name="  Priya Patel ", email="Priya@Example.org",
                               member_type=MemberType.COUNCILLOR)
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    assert saved.user_id is None and saved.guest_name == "Priya Patel" and saved.guest_email == "priya@example.org"
    assert saved.member_type == MemberType.COUNCILLOR and saved.state == CONFIRMED and saved.attended
    invites = outbox("Thank you for coming")
    assert [m.to_address for m in invites] == ["priya@example.org"]
    assert "/auth/join" in invites[0].body_text


def test_walk_in_guest_needs_name_and_member_type(make_workshop, staff):
    """A guest walk-in without a name or member type is refused with a clear message."""
    workshop = make_workshop()
    with pytest.raises(RuleError, match="name, email address and member type"):
        services.add_walk_in(staff, workshop, email="someone@example.org", name="", member_type=MemberType.OTHER)
    with pytest.raises(RuleError, match="member type"):
        services.add_walk_in(staff, workshop, email="someone@example.org", name="Someone")


def test_check_in_list_search(make_workshop, make_user, staff):
    """The check-in list finds people by part of their name, email or organisation, and guests too; never
    cancelled ones."""
    workshop = make_workshop()
    amara = make_user(email="amara@example.org", name="Amara Okafor", organisation="Hackney Food Hub")
    ben = make_user(email="ben@riverside.org", name="Ben Hughes", organisation="Leeds Trust")
    gone = make_user(email="gone@example.org", name="Amara Gone", organisation="Hackney Gone")
    register(workshop, amara)
    register(workshop, ben)
    cancel(register(workshop, gone), gone)
    services.add_walk_in(staff, workshop, name="Amy Walker", email="amy@example.org", member_type=MemberType.OTHER)
    db.session.commit()
    names = lambda q: [r.person_name for r in queries.check_in_list(workshop, q)]  # noqa: E731
    assert names("") == ["Amara Okafor", "Amy Walker", "Ben Hughes"]
    assert names("am") == ["Amara Okafor", "Amy Walker"]
    assert names("RIVERSIDE") == ["Ben Hughes"]
    assert names("hackney") == ["Amara Okafor"]
    assert names("100%_") == []


# --- Reminders ------------------------------------------------------------------------------

def test_send_reminders_once_for_confirmed_within_48_hours(make_workshop, members, staff):
    """Only confirmed people at published workshops starting within 48 hours get a reminder, once."""
    soon_ws = make_workshop(title="Soon", capacity=1, starts_in=timedelta(hours=30))
    later_ws = make_workshop(title="Later", starts_in=timedelta(hours=50))
    past_ws = make_workshop(title="Past")
    cancelled_ws = make_workshop(title="Called off", starts_in=timedelta(hours=20))
    a, b, c, d, e = members(5)
    register(soon_ws, a)
    register(soon_ws, b)  # waitlisted
    register(later_ws, c)
    register(past_ws, d)
    register(cancelled_ws, e)
    past_ws.starts_at = soon(hours=-1)
    services.cancel_workshop(staff, cancelled_ws, "No venue")
    db.session.commit()
    assert services.send_reminders() == 1
    db.session.commit()
    assert recipients("Reminder:") == {a.email}
    assert db.session.scalar(sa.select(Registration.reminder_sent_at).where(Registration.user_id == a.id)) is not None
    assert services.send_reminders() == 0
    db.session.commit()
    assert len(outbox("Reminder:")) == 1


def test_send_reminders_catches_workshops_entering_the_window(make_workshop, members):
    """Run from cron: a workshop 50 hours away is reminded once it is within 48 hours."""
    workshop = make_workshop(starts_in=timedelta(hours=50))
    (person,) = members(1)
    register(workshop, person)
    assert services.send_reminders() == 0
    assert services.send_reminders(now=utcnow() + timedelta(hours=3)) == 1
    db.session.commit()
    assert recipients("Reminder:") == {person.email}


def test_send_reminders_command(make_workshop, members, runner):
    """`flask send-reminders` queues and commits the reminders, and is idempotent."""
    workshop = make_workshop(starts_in=timedelta(hours=24))
    (person,) = members(1)
    register(workshop, person)
    result = runner.invoke(args=["send-reminders"])
    assert result.exit_code == 0 and "Queued 1 workshop reminders" in result.output
    assert runner.invoke(args=["send-reminders"]).output.strip() == "Queued 0 workshop reminders."
    db.session.expire_all()
    assert recipients("Reminder:") == {person.email}


# --- Statistics and My workshops ------------------------------------------------------------

def test_registration_stats_counts(make_workshop, members, staff):
    """Confirmed, waitlisted and attended per workshop, zeros for an empty one; cancelled never counted."""
    busy = make_workshop(capacity=2)
    empty = make_workshop(title="Empty")
    a, b, c, d = members(4)
    reg_a = register(busy, a)
    register(busy, b)
    register(busy, c)
    cancel(register(busy, d), d)
    services.check_in(staff, reg_a)
    db.session.commit()
    stats = queries.registration_stats([busy.id, empty.id])
    assert stats[busy.id] == {"confirmed": 2, "waitlisted": 1, "attended": 1, "walk_ins": 0, "attended_booked": 1}
    assert stats[empty.id] == {"confirmed": 0, "waitlisted": 0, "attended": 0, "walk_ins": 0, "attended_booked": 0}
    assert queries.registration_stats([]) == {}


def test_region_totals(make_workshop, members, staff):
    """Per region: workshops (not cancelled), confirmed places and attendance; every region listed."""
    leeds1 = make_workshop(region_name="Yorkshire and The Humber")
    leeds2 = make_workshop(region_name="Yorkshire and The Humber", capacity=1)
    make_workshop(region_name="Wales", publish=False)
    cardiff_off = make_workshop(region_name="Wales")
    a, b, c, d, e = members(5)
    reg_a = register(leeds1, a)
    register(leeds1, b)
    register(leeds2, c)
    register(leeds2, d)  # waitlisted: not counted
    register(cardiff_off, e)
    services.check_in(staff, reg_a)
    services.cancel_workshop(staff, cardiff_off, "Merged with Leeds")
    db.session.commit()
    totals = {name: (workshops, confirmed, attended)
                  for name, workshops, confirmed, attended in queries.region_totals()}
    assert len(totals) == 10
    assert totals["Yorkshire and The Humber"] == (2, 3, 1)
    assert totals["Wales"] == (1, 0, 0)
    assert totals["London"] == (0, 0, 0)


@pytest.mark.parametrize("month, day, hour", [(1, 15, 10), (4, 1, 0), (7, 15, 18), (10, 31, 23), (12, 31, 23)])
def test_month_filter_uses_london_months(make_workshop, month, day, hour):
    """A workshop is found under its London calendar month, in summer time (BST) as in winter."""
    year = utcnow().year + 1
    starts = london_to_utc(datetime(year, month, day, hour, 30))
    workshop = make_workshop(starts_in=starts - utcnow())
    workshop.starts_at = starts
    db.session.commit()
    found = lambda m: db.session.scalars(queries.public_workshops(month=m)).all()  # noqa: E731
    assert [w.id for w in found(f"{year}-{month:02d}")] == [workshop.id]
    before = f"{year}-{month - 1:02d}" if month > 1 else f"{year - 1}-12"
    after = f"{year}-{month + 1:02d}" if month < 12 else f"{year + 1}-01"
    assert found(before) == [] and found(after) == []


def test_member_workshops_upcoming_past_and_positions(make_workshop, members, staff):
    """Upcoming confirmed and waitlisted (with position) soonest first; past newest first; no cancelled."""
    (person,) = members(1)
    fillers = members(2, prefix="filler")
    next_week = make_workshop(title="Next week", starts_in=timedelta(days=7))
    full = make_workshop(title="Full", capacity=1, starts_in=timedelta(days=3))
    attended = make_workshop(title="Attended", starts_in=timedelta(days=2))
    missed = make_workshop(title="Missed", starts_in=timedelta(days=1))
    dropped = make_workshop(title="Dropped", starts_in=timedelta(days=4))
    register(next_week, person)
    register(full, fillers[0])
    register(full, fillers[1])
    waiting = register(full, person)
    reg_attended = register(attended, person)
    register(missed, person)
    cancel(register(dropped, person), person)
    services.check_in(staff, reg_attended)
    attended.starts_at = soon(days=-10)
    missed.starts_at = soon(days=-3)
    db.session.commit()
    data = queries.member_workshops(person)
    assert [r.workshop.title for r in data["upcoming"]] == ["Full", "Next week"]
    assert [r.workshop.title for r in data["past"]] == ["Missed", "Attended"]
    assert [r.attended for r in data["past"]] == [False, True]
    assert data["positions"] == {waiting.id: 2}


def test_waitlist_positions_in_one_query_match_each_position(make_workshop, members):
    """The windowed query agrees with the one-by-one position for every person waiting."""
    workshop = make_workshop(capacity=1)
    regs = [register(workshop, p) for p in members(6)]
    cancel(regs[3], regs[3].user)
    waiting = [db.session.get(Registration, r.id) for r in regs if r.id != regs[3].id][1:]
    positions = queries.waitlist_positions(waiting)
    assert sorted(positions.values()) == [1, 2, 3, 4]
    assert positions == {r.id: queries.waitlist_position(r) for r in waiting}


# --- Audit log -----------------------------------------------------------------------------

def test_staff_actions_are_audited(make_workshop, members, staff):
    """Create, update, publish, cancel, check-in (and undo) and walk-in each write an audit row."""
    workshop = make_workshop(publish=False)
    services.publish_workshop(staff, workshop)
    db.session.commit()
    (person,) = members(1)
    reg = register(workshop, person)
    services.update_workshop(staff, workshop, {"title": "Renamed"})
    services.check_in(staff, reg)
    services.undo_check_in(staff, reg)
    walk_in = services.add_walk_in(staff, workshop, name="Guest", email="guest@example.org",
                                   member_type=MemberType.ACADEMIC)
    services.cancel_workshop(staff, workshop, "Rain")
    db.session.commit()
    rows = list(db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)))
    assert [(r.action, r.target_type, r.target_id) for r in rows] == [
        ("workshop.create", "workshop", workshop.id),
        ("workshop.publish", "workshop", workshop.id),
        ("workshop.update", "workshop", workshop.id),
        ("attendance.check_in", "registration", reg.id),
        ("attendance.undo", "registration", reg.id),
        ("attendance.walk_in", "registration", walk_in.id),
        ("workshop.cancel", "workshop", workshop.id),
    ]
    assert {r.actor_id for r in rows} == {staff.id}
    assert rows[-1].details["reason"] == "Rain"


def test_member_cancelling_own_place_is_not_a_staff_audit_entry(make_workshop, members, staff):
    """A member cancelling their own place is not audited; staff cancelling it for them is."""
    workshop = make_workshop()
    one, two = members(2)
    cancel(register(workshop, one), one)
    reg_two = register(workshop, two)
    cancel(reg_two, staff)
    rows = list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "registration.cancel")))
    assert [(r.target_id, r.actor_id) for r in rows] == [(reg_two.id, staff.id)]


# --- Calendar -----------------------------------------------------------------------------

def test_ics_uid_stable_and_sequence_bumped_on_time_change(make_workshop, staff):
    """The UID never changes; a time change bumps SEQUENCE; DTSTART/DTEND are the stored UTC times."""
    workshop = make_workshop()
    _, before = parse(workshop_ics(workshop))
    assert str(before["UID"]) == f"workshop-{workshop.id}@keepitlocal.network"
    assert int(before["SEQUENCE"]) == 0
    assert before.decoded("DTSTART") == workshop.starts_at and before.decoded("DTEND") == workshop.ends_at
    services.update_workshop(staff, workshop, {"title": "Renamed"})
    db.session.commit()
    _, renamed = parse(workshop_ics(workshop))
    assert str(renamed["UID"]) == str(before["UID"]) and int(renamed["SEQUENCE"]) == 0
    assert str(renamed["SUMMARY"]) == "Renamed"
    new_start = workshop.starts_at + timedelta(days=1, minutes=30)
    services.update_workshop(staff, workshop, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=3)})
    db.session.commit()
    saved = db.session.get(Workshop, workshop.id)
    cal, after = parse(workshop_ics(saved))
    assert str(after["UID"]) == str(before["UID"])
    assert int(after["SEQUENCE"]) == 1
    assert after.decoded("DTSTART") == new_start and after.decoded("DTEND") == new_start + timedelta(hours=3)
    assert after.decoded("DTSTART").utcoffset() == timedelta(0)
    assert b"DTSTART:" in workshop_ics(saved) and str(cal["METHOD"]) == "PUBLISH"
    assert str(after["STATUS"]) == "CONFIRMED"
    assert "Leeds Civic Hall" in str(after["LOCATION"])


def test_ics_after_cancellation_is_cancelled(make_workshop, staff):
    """A cancelled workshop's downloaded .ics is published as STATUS:CANCELLED with a higher SEQUENCE
    (the iTIP METHOD:CANCEL goes to attendees by email: tests/test_calendar_itip.py)."""
    workshop = make_workshop()
    services.cancel_workshop(staff, workshop, "Speaker unwell")
    db.session.commit()
    cal, event = parse(workshop_ics(db.session.get(Workshop, workshop.id)))
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1
    assert str(event["UID"]) == f"workshop-{workshop.id}@keepitlocal.network"


@pytest.mark.parametrize("fmt", [WorkshopFormat.ONLINE, WorkshopFormat.HYBRID])
def test_ics_joining_link_only_with_include_link(make_workshop, fmt):
    """The joining link is in the file only when asked for (confirmed attendees), never in the public one."""
    workshop = make_workshop(fmt=fmt)
    public = workshop_ics(workshop)
    private = workshop_ics(workshop, include_link=True)
    assert JOIN_URL.encode() not in public
    _, event = parse(private)
    assert JOIN_URL in str(event["DESCRIPTION"])
    _, public_event = parse(public)
    assert JOIN_URL not in str(public_event["DESCRIPTION"]) and JOIN_URL not in str(public_event["LOCATION"])


def test_confirmation_email_has_calendar_and_qr_attachments(make_workshop, members, mail):
    """Delivered to the SMTP server: a text/calendar attachment of this workshop and a PNG QR code."""
    workshop = make_workshop(fmt=WorkshopFormat.HYBRID)
    (person,) = members(1)
    reg = register(workshop, person)
    assert deliver_due()["sent"] == 2  # the confirmation, and "New workshop" to staff (hybrid: announced to all)
    message = mail.wait_for(lambda m: m["To"] == person.email and m["Subject"].startswith("Your place is confirmed"))
    attachments = {part.get_content_type(): part for part in message.iter_attachments()}
    assert set(attachments) == {"text/calendar", "image/png"}
    ics = attachments["text/calendar"].get_content()
    _, event = parse(ics.encode() if isinstance(ics, str) else ics)
    assert str(event["UID"]) == f"workshop-{workshop.id}@keepitlocal.network"
    assert event.decoded("DTSTART") == workshop.starts_at
    assert JOIN_URL in str(event["DESCRIPTION"])  # confirmed: the joining link is included
    png = attachments["image/png"].get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == qr_png(check_in_url(reg))
    assert check_in_url(reg).endswith(f"/t/{reg.check_in_code}")  # the ticket's code, not a database id
    assert "Your place is confirmed." in email_text(message)


# --- Personal data ---------------------------------------------------------------------------

def test_data_export_includes_workshop_registrations(make_workshop, members, staff):
    """The member's data download lists each registration with workshop, state, needs, attendance, history."""
    first = make_workshop(title="First", starts_in=timedelta(days=2))
    second = make_workshop(title="Second", starts_in=timedelta(days=5))
    (person,) = members(1)
    reg1 = register(first, person, access_needs="Hearing loop")
    cancel(register(second, person), person)
    services.check_in(staff, reg1)
    db.session.commit()
    data = member_services.export_member(person)
    rows = data["workshop_registrations"]
    assert [r["workshop"] for r in rows] == ["First", "Second"]
    assert rows[0]["state"] == "confirmed" and rows[0]["access_needs"] == "Hearing loop" and rows[0]["attended"] is True
    assert rows[0]["starts_at"] == first.starts_at.isoformat()
    assert [h["action"] for h in rows[0]["history"]] == ["registered", "checked_in"]
    assert rows[1]["state"] == "cancelled" and rows[1]["attended"] is False
    assert [(h["from_state"], h["to_state"]) for h in rows[1]["history"]] == [
        (None, "confirmed"), ("confirmed", "cancelled")]
    json.dumps(data)  # the download is JSON


def test_account_deletion_clears_workshop_personal_data_but_keeps_counts(make_workshop, members, staff):
    """Deleting an account clears access needs, keeps past attendance counted, and frees upcoming seats."""
    past = make_workshop(title="Past")
    upcoming = make_workshop(title="Upcoming", capacity=1)
    person, waiting = members(2)
    reg_past = register(past, person, access_needs="Step-free access")
    reg_up = register(upcoming, person, access_needs="Quiet room")
    register(upcoming, waiting)
    services.check_in(staff, reg_past)
    past.starts_at = soon(days=-1)
    person.calendar_token = "secret-calendar-token-for-this-member"
    db.session.commit()
    member_services.delete_account(person)
    db.session.commit()
    saved_past = db.session.get(Registration, reg_past.id)
    saved_up = db.session.get(Registration, reg_up.id)
    assert saved_past.access_needs == "" and saved_up.access_needs == ""
    assert saved_past.user_id == person.id and saved_past.attended and saved_past.state == CONFIRMED
    assert queries.registration_stats([past.id])[past.id] == {"confirmed": 1, "waitlisted": 0, "attended": 1,
                                                              "walk_ins": 0, "attended_booked": 1}
    assert saved_up.state == CANCELLED
    assert states(upcoming)[waiting.email] == "confirmed"
    assert recipients("A place is now yours") == {waiting.email}
    assert db.session.get(type(person), person.id).calendar_token is None
    assert member_services.export_member(person)["workshop_registrations"][0]["access_needs"] == ""


def test_account_deletion_gives_up_places_through_cancel_registration(make_workshop, members, staff):
    """The eraser gives a place up the way the member's "cancel my place" does (one service,
    `cancel_registration`): history "cancelled" with the note "account deleted", no actor, no
    audit, no email to the leaver; the waitlist moves up and the person promoted is emailed."""
    upcoming = make_workshop(title="Upcoming", capacity=1)
    leaver, waiting = members(2)
    reg = register(upcoming, leaver)
    register(upcoming, waiting)
    db.session.commit()
    member_services.delete_account(leaver)
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    last = saved.events[-1]
    assert (last.action, last.from_state, last.to_state, last.actor_id, last.note) == (
        "cancelled", "confirmed", "cancelled", None, "account deleted")
    assert outbox("Registration cancelled") == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "registration.cancel")) == 0
    assert states(upcoming)[waiting.email] == "confirmed" and recipients("A place is now yours") == {waiting.email}


def test_cancel_registration_without_notify_emails_nobody_cancelled(make_workshop, members):
    """`notify=False` (the eraser's call) cancels and promotes but sends no 'Registration cancelled'."""
    workshop = make_workshop(capacity=1)
    first, second = members(2)
    reg = register(workshop, first)
    register(workshop, second)
    promoted = services.cancel_registration(reg, None, "account deleted", notify=False)
    db.session.commit()
    assert [p.user_id for p in promoted] == [second.id]
    assert outbox("Registration cancelled") == []


def test_account_deletion_clears_guest_fields(make_workshop, members, staff):
    """Guest name and email on a member's registration are cleared when the member deletes their account."""
    workshop = make_workshop()
    (person,) = members(1)
    reg = register(workshop, person)
    reg.guest_name, reg.guest_email = "Old Name", "old@example.org"
    db.session.commit()
    member_services.delete_account(person)
    db.session.commit()
    saved = db.session.get(Registration, reg.id)
    assert (saved.guest_name, saved.guest_email) == ("", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == 1
