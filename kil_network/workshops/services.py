"""Workshop rules: scheduling, registration and waitlist, check-in, reminders, statistics.

Seat allocation is serialised per workshop by `_lock_seats`, an UPDATE of the workshop row
taken before any seat is counted: PostgreSQL holds that row lock until the transaction
ends, and SQLite takes its single writer lock, so two people can never both take the last
seat. Every other change to a workshop or its registrations takes the same lock first and
reads the workshop (and registration) again under it, so a staff cancel or time change and a
registration never see each other half-done; state changes are sets, so a repeated request
changes nothing. Functions add and flush; the caller (a route or command) commits once.
"""
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import EllipsisType
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from kil_network.auth.models import MemberType, Status, User
from kil_network.auth.services import get_user_by_email
from kil_network.core.addresses import normalise_email
from kil_network.core.audit import record
from kil_network.core.email import external_url
from kil_network.core.forms import UK_POSTCODE, is_http_url
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import format_london, utcnow
from kil_network.extensions import db
from kil_network.members import notifications as member_notifications
from kil_network.workshops import notifications
from kil_network.workshops.models import (
    ACTIVE_STATES,
    CheckInMethod,
    Registration,
    RegistrationEvent,
    RegistrationState,
    Workshop,
    WorkshopStatus,
)
from kil_network.workshops.queries import active_registrations, registration_for, waitlist_position

REMINDER_WINDOW = timedelta(hours=48)
CHANGE_FIELDS = ("starts_at", "ends_at", "format", "venue", "address", "postcode", "online_url")


# --- Seats ------------------------------------------------------------------------------

@dataclass
class Seats:
    """Booked seats (confirmed places, walk-ins not counted) overall and per member type, the
    waitlist length, and walk-ins apart.

    Capacity and the mix target are rules about booked places: a walk-in added at the door takes
    no booked seat, never stops the waitlist moving up, and never stops staff editing the workshop.
    """

    confirmed: int = 0
    waitlisted: int = 0
    by_type: dict = field(default_factory=dict)
    walk_ins: int = 0

    def add(self, state: RegistrationState, member_type: MemberType, walk_in: bool, count: int) -> None:
        """Count `count` registrations of this state, member type and kind (walk-in or booked)."""
        if state == RegistrationState.CONFIRMED and walk_in:
            self.walk_ins += count
        elif state == RegistrationState.CONFIRMED:
            self.confirmed += count
            self.by_type[member_type] = self.by_type.get(member_type, 0) + count
        else:
            self.waitlisted += count

    def free(self, workshop: Workshop) -> int:
        """Booked places still free (never below 0)."""
        return max(0, workshop.capacity - self.confirmed)

    def is_full(self, workshop: Workshop) -> bool:
        """Every booked place is taken."""
        return self.confirmed >= workshop.capacity

    def fits(self, workshop: Workshop, member_type: MemberType) -> bool:
        """Is there a seat for one more person of this type (capacity and mix target)?"""
        if self.confirmed >= workshop.capacity:
            return False
        limit = workshop.mix_limit
        return limit is None or self.by_type.get(member_type, 0) < limit

    def take(self, member_type: MemberType) -> None:
        """Count one more confirmed seat."""
        self.confirmed += 1
        self.by_type[member_type] = self.by_type.get(member_type, 0) + 1


_WORKSHOPS = cast(sa.Table, Workshop.__table__)  # a mapped class's table (typed FromClause)
_LOCK_SEATS = sa.select(Workshop).from_statement(  # built once: its cache key is memoized (binds only the id)
    sa.update(_WORKSHOPS).where(_WORKSHOPS.c.id == sa.bindparam("workshop_id"))
    .values(seat_version=_WORKSHOPS.c.seat_version + 1).returning(*_WORKSHOPS.c)
)  # a Core UPDATE whose RETURNING the ORM reads as the Workshop: a third of an ORM-enabled UPDATE's CPU


def _holds_seat_lock(workshop_id: int) -> bool:
    """Has this transaction already taken the workshop's seat lock (`_lock_seats`)?"""
    held = db.session.info.get("seat_locks")
    return held is not None and held[0] is db.session().get_transaction() and workshop_id in held[1]


def lock_workshop(workshop_id: int) -> Workshop | None:
    """Take a workshop's seat lock by its id and read it as locked, or None if there is none.

    What a member's register and cancel do first, so the workshop is read once, by the lock
    (`_lock_seats`); the lock is held until the transaction ends, and taking it again in the
    same transaction reads nothing more."""
    if _holds_seat_lock(workshop_id):
        return db.session.get(Workshop, workshop_id)  # from the identity map: read as locked
    locked = db.session.scalar(_LOCK_SEATS, {"workshop_id": workshop_id}, execution_options={"populate_existing": True})
    if locked is not None:
        transaction = db.session().get_transaction()  # begun by the UPDATE if none was open
        held = db.session.info.get("seat_locks")
        if held is None or held[0] is not transaction:
            locked_ids: set[int] = set()
            held = db.session.info["seat_locks"] = (transaction, locked_ids)
        held[1].add(workshop_id)
    return locked


def _lock_seats(workshop: Workshop) -> Workshop:
    """Serialise every change to this workshop and its registrations until the transaction ends.

    The UPDATE takes the row lock (PostgreSQL) or the writer lock (SQLite) and, in the same
    statement, reads the workshop back as locked (RETURNING, populate_existing): its status,
    times, venue and capacity are then the latest committed ones, never what was read before
    the lock. Every path that reads a workshop and then writes it or its registrations (or
    emails about it) calls this first: register, cancel, promote, check-in, walk-in, edit,
    publish, cancel workshop, reminders. Taken once per transaction (`lock_workshop`).
    """
    locked = lock_workshop(workshop.id)
    if locked is None:
        raise RuleError("This workshop no longer exists.")
    return locked


def _lock_registration(reg: Registration) -> Workshop:
    """Lock the registration's workshop, then re-read the registration as it is now. When this
    transaction already held the lock, the registration was read under it (a path that takes the
    lock first reads its rows after it, as they are now: populate_existing or refresh), so it is
    not read again (the check-in tap: `queries.registration_to_check_in`)."""
    held = _holds_seat_lock(reg.workshop_id)
    workshop = _lock_seats(reg.workshop)
    if not held:
        db.session.refresh(reg)
    return workshop


def seats(workshop: Workshop) -> Seats:
    """Count the workshop's confirmed seats (by member type) and waitlist, from the database."""
    rows = db.session.execute(
        sa.select(Registration.state, Registration.member_type, Registration.walk_in, sa.func.count())
        .where(Registration.workshop_id == workshop.id, Registration.state.in_(ACTIVE_STATES))
        .group_by(Registration.state, Registration.member_type, Registration.walk_in)
    ).all()
    result = Seats()
    for state, mtype, walk_in, count in rows:
        result.add(state, mtype, walk_in, count)
    return result


@dataclass(frozen=True)
class Mine:
    """The member's own registration at a workshop as `seats_and_mine` read it: enough to decide a
    register or cancel without loading the row (the write's RETURNING loads it)."""

    id: int
    state: RegistrationState
    member_type: MemberType
    walk_in: bool
    changes: int  # events in the place's history (the calendar entry's SEQUENCE counts them)


_SEATS_AND_MINE = sa.union_all(  # built once (memoized cache key); one statement after the lock
    sa.select(sa.false().label("mine"), Registration.state, Registration.member_type, Registration.walk_in,
              sa.func.count().label("n"), sa.null().label("id"))
    .where(Registration.workshop_id == sa.bindparam("workshop_id"), Registration.state.in_(ACTIVE_STATES))
    .group_by(Registration.state, Registration.member_type, Registration.walk_in),
    sa.select(sa.true(), Registration.state, Registration.member_type, Registration.walk_in,
              sa.select(sa.func.count()).where(RegistrationEvent.registration_id == Registration.id)
              .scalar_subquery(), Registration.id)
    .where(Registration.workshop_id == sa.bindparam("workshop_id"), Registration.user_id == sa.bindparam("user_id")),
)


def seats_and_mine(workshop: Workshop, user: User) -> tuple[Seats, Mine | None]:
    """The workshop's seats (as `seats`) and the member's own registration, in one statement.

    Read after the seat lock, so both are as the last committed change left them and stay so
    until this transaction ends."""
    result, mine = Seats(), None
    for is_mine, state, mtype, walk_in, count, reg_id in db.session.execute(
            _SEATS_AND_MINE, {"workshop_id": workshop.id, "user_id": user.id}):
        state, mtype = RegistrationState(state), MemberType(mtype)
        if is_mine:
            mine = Mine(id=reg_id, state=state, member_type=mtype, walk_in=bool(walk_in), changes=count)
        else:
            result.add(state, mtype, walk_in, count)
    return result, mine


# A member type in the plural, for "the places for councillors are taken".
MEMBER_TYPE_PLURALS = {
    MemberType.COUNCILLOR: "councillors", MemberType.COMMISSIONER: "commissioners",
    MemberType.COUNCIL_OFFICER: "council officers", MemberType.COMMUNITY_ORGANISATION: "community organisations",
    MemberType.THINK_TANK: "think tanks", MemberType.ACADEMIC: "academics",
    MemberType.OTHER: "members of other types",
}


def _places(count: int) -> str:
    """'1 place', '18 places'."""
    return f"{count} place" if count == 1 else f"{count} places"


@dataclass(frozen=True)
class WaitlistReason:
    """Why someone of `member_type` goes (or is) on the waitlist: every booked place is taken
    (`full`), or the places one member type may hold under the mix target are taken, while `free`
    places are left for members of other types. `message` is what the panel and the email say."""

    member_type: MemberType
    full: bool
    free: int
    capacity: int
    limit: int | None

    @property
    def message(self) -> str:
        """The reason in words, and what is still free."""
        if self.full:
            return ("The workshop is full: the only place is taken." if self.capacity == 1
                    else f"The workshop is full: all {self.capacity} places are taken.")
        left = f"{_places(self.free)} {'is' if self.free == 1 else 'are'} left for other members."
        return (f"The places for {MEMBER_TYPE_PLURALS[self.member_type]} are taken: so that the room is a mix, "
                f"no more than {self.limit} of the {self.capacity} places go to any one member type. {left}")


def waitlist_reason(workshop: Workshop, member_type: MemberType, current: Seats | None = None) -> WaitlistReason | None:
    """Why a member of this type would be waitlisted at this workshop now, or None if a booked
    place fits them (`Seats.fits`). `current`: the seats already counted, if the caller has them."""
    current = current if current is not None else seats(workshop)
    if current.fits(workshop, member_type):
        return None
    return WaitlistReason(member_type=member_type, full=current.is_full(workshop), free=current.free(workshop),
                          capacity=workshop.capacity, limit=workshop.mix_limit)


def _log(reg: Registration, action: str, from_state, to_state, actor=None, note: str = "") -> None:
    """Keep the registration's history (added by id when the history is not loaded: appending to
    it would read the whole history first)."""
    event = RegistrationEvent(
        action=action, from_state=getattr(from_state, "value", from_state),
        to_state=getattr(to_state, "value", to_state), actor_id=getattr(actor, "id", None),
        note=note[:300], created_at=utcnow(),
    )
    if reg.id is not None and "events" in sa.inspect(reg).unloaded:
        event.registration_id = reg.id
        db.session.add(event)  # a later read of reg.events flushes it first, so it is there
    else:
        reg.events.append(event)


# --- Registration -------------------------------------------------------------------------

def closed_reason(workshop: Workshop, now: datetime | None = None) -> str | None:
    """Why nobody can register for this workshop now, or None if registration is open."""
    now = now or utcnow()
    if workshop.status == WorkshopStatus.DRAFT:
        return "This workshop is not open for registration yet."
    if workshop.status == WorkshopStatus.CANCELLED:
        return "This workshop has been cancelled."
    if workshop.starts_at <= now:
        return "This workshop has already taken place."
    if workshop.registration_closes_at <= now:
        return f"Registration closed on {format_london(workshop.registration_closes_at)}."
    return None


def check_can_register(workshop: Workshop, user: User, now: datetime | None = None) -> None:
    """Raise RuleError with a clear reason if this member cannot register now."""
    if not user.is_confirmed:
        raise RuleError("Confirm your email address before you register for a workshop.")
    reason = closed_reason(workshop, now)
    if reason:
        raise RuleError(reason)


@dataclass
class PlaceChange:
    """What a member's register or cancel did, for the panel shown after it with no reads: the
    registration as written, the seats as they are now, the waitlist position and the reason for
    the waitlist (if waitlisted), and the people promoted into a freed seat."""

    reg: Registration
    seats: Seats
    position: int | None = None
    reason: WaitlistReason | None = None
    promoted: list[Registration] = field(default_factory=list)


_REGISTRATION_COLUMNS = ("member_type", "state", "walk_in", "queued_at", "access_needs", "checked_in_at",
                         "reminder_sent_at")
# A member's own register and cancel, built once (memoized cache keys): each binds its values.
# Core UPDATEs whose RETURNING the ORM reads as the Registration (as `_LOCK_SEATS`).
_REGISTRATIONS = cast(sa.Table, Registration.__table__)
_BOOK_AGAIN = sa.select(Registration).from_statement(
    sa.update(_REGISTRATIONS).where(_REGISTRATIONS.c.id == sa.bindparam("reg_id"))
    .values({column: sa.bindparam(f"new_{column}", type_=_REGISTRATIONS.c[column].type)
             for column in _REGISTRATION_COLUMNS}).returning(*_REGISTRATIONS.c)
)
_CANCEL = sa.select(Registration).from_statement(
    sa.update(_REGISTRATIONS).where(_REGISTRATIONS.c.id == sa.bindparam("reg_id"))
    .values(state=sa.bindparam("new_state", type_=_REGISTRATIONS.c.state.type)).returning(*_REGISTRATIONS.c)
)
# Core: no unit of work for a row nothing reads back
_ADD_EVENT = sa.insert(cast(sa.Table, RegistrationEvent.__table__))
_ORM_WRITE = {"populate_existing": True}


def _add_event(reg: Registration, action: str, from_state, to_state, actor: User | None) -> None:
    """`_log` for the member's own register and cancel: one INSERT sent now, never loading the history."""
    db.session.execute(_ADD_EVENT, {
        "registration_id": reg.id, "action": action, "from_state": getattr(from_state, "value", from_state),
        "to_state": getattr(to_state, "value", to_state), "actor_id": getattr(actor, "id", None), "note": "",
        "created_at": utcnow()})
    if "events" not in sa.inspect(reg).unloaded:
        db.session.expire(reg, ["events"])  # read again, with this one, if anything asks


def register(workshop: Workshop, user: User, access_needs: str = "", now: datetime | None = None) -> Registration:
    """Register a member: a confirmed seat if one fits, otherwise the waitlist (`register_place`)."""
    return register_place(workshop, user, access_needs, now).reg


def register_place(workshop: Workshop, user: User, access_needs: str = "", now: datetime | None = None) -> PlaceChange:
    """Register a member: a confirmed seat if one fits, otherwise the waitlist.

    The rules are checked again once the workshop is locked and re-read: a cancel or a new
    time committed by staff while this request waited is what the member gets. After the lock:
    one statement reads the seats and the member's own row (`seats_and_mine`), one writes the
    row (an INSERT, or an UPDATE ... RETURNING of the cancelled row booked again), then the
    history event and the email."""
    if not _holds_seat_lock(workshop.id):
        check_can_register(workshop, user, now)  # refuse early without taking the lock
        _lock_seats(workshop)
    check_can_register(workshop, user, now)
    current, mine = seats_and_mine(workshop, user)
    if mine is not None and mine.state == RegistrationState.CONFIRMED:
        raise RuleError("You are already registered for this workshop.")
    if mine is not None and mine.state == RegistrationState.WAITLISTED:
        raise RuleError("You are already on the waitlist for this workshop.")
    state = RegistrationState.CONFIRMED if current.fits(workshop, user.member_type) else RegistrationState.WAITLISTED
    # walk_in False: booked now (a walk-in who cancelled and books again holds a booked place)
    values = dict(zip(_REGISTRATION_COLUMNS, (user.member_type, state, False, utcnow(), access_needs.strip(),
                                              None, None), strict=True))
    if mine is None:
        reg = Registration(workshop_id=workshop.id, user_id=user.id, **values)
        db.session.add(reg)
        db.session.flush()  # its id, for the history; reg.workshop and reg.user come from the identity map
    else:
        reg = db.session.scalar(_BOOK_AGAIN, {"reg_id": mine.id, **{f"new_{k}": v for k, v in values.items()}},
                                execution_options=_ORM_WRITE)
    _add_event(reg, "registered" if state == RegistrationState.CONFIRMED else "waitlisted",
               mine.state if mine else None, state, user)
    changes = (mine.changes if mine else 0) + 1
    if state == RegistrationState.CONFIRMED:
        current.take(reg.member_type)
        notifications.confirmed(reg, changes)
        return PlaceChange(reg, current)
    reason = waitlist_reason(workshop, reg.member_type, current)
    current.waitlisted += 1
    position = waitlist_position(reg)
    notifications.waitlisted(reg, position, reason.message if reason else "")
    return PlaceChange(reg, current, position, reason)


def cancel_place(workshop: Workshop, user: User) -> PlaceChange | None:
    """The member cancels their own place or leaves the waitlist (`cancel_registration`'s rules,
    for the member's own button): None if they never registered; an already cancelled place
    stays as it is (a second tap), with nobody emailed again.

    After the lock: one statement reads the seats and the member's row, one UPDATE ... RETURNING
    cancels it, then the history event and the email (and the waitlist moves up if a seat freed)."""
    _lock_seats(workshop)
    current, mine = seats_and_mine(workshop, user)
    if mine is None:
        return None
    if mine.state == RegistrationState.CANCELLED:
        return PlaceChange(db.session.get_one(Registration, mine.id), current)
    if workshop.starts_at <= utcnow():
        raise RuleError("This workshop has already taken place.")
    reg = db.session.scalar(_CANCEL, {"reg_id": mine.id, "new_state": RegistrationState.CANCELLED},
                            execution_options=_ORM_WRITE)
    if mine.state == RegistrationState.WAITLISTED:
        current.waitlisted -= 1
    elif mine.walk_in:
        current.walk_ins -= 1
    else:
        current.confirmed -= 1
        current.by_type[mine.member_type] = current.by_type.get(mine.member_type, 0) - 1
    _add_event(reg, "cancelled", mine.state, reg.state, user)
    notifications.registration_cancelled(reg, was_confirmed=mine.state == RegistrationState.CONFIRMED,
                                         changes=mine.changes + 1)
    promoted = []
    if mine.state == RegistrationState.CONFIRMED and workshop.status == WorkshopStatus.PUBLISHED:
        promoted = promote_waitlist(workshop, current=current)
    return PlaceChange(reg, current, promoted=promoted)


def cancel_registration(reg: Registration, actor: User | None, note: str = "", *,
                        notify: bool = True) -> list[Registration]:
    """Cancel a registration; a freed seat goes to the waitlist in order. Returns those promoted.

    The one way a place is given up: the member's "cancel my place", staff, and the
    personal-data eraser (`actor` None, `notify=False`: a member deleting their account is not
    emailed about it; the people promoted still are). Staff cancelling someone else's place is
    audited. Idempotent: a registration that is already cancelled (a second tap, or two tabs)
    stays as it is, and nobody is emailed again. Refused once the workshop has started."""
    workshop = _lock_registration(reg)
    if reg.state == RegistrationState.CANCELLED:
        return []
    if workshop.starts_at <= utcnow():
        raise RuleError("This workshop has already taken place.")
    previous = reg.state
    reg.state = RegistrationState.CANCELLED
    _log(reg, "cancelled", previous, reg.state, actor, note)
    db.session.flush()
    if actor is not None and actor.id != reg.user_id:
        record(actor, "registration.cancel", reg, f"Cancelled registration #{reg.id} for workshop #{workshop.id}")
    if notify:
        notifications.registration_cancelled(reg)
    if previous == RegistrationState.CONFIRMED and workshop.status == WorkshopStatus.PUBLISHED:
        return promote_waitlist(workshop)
    return []


@dataclass(frozen=True)
class PlaceCancelEffects:
    """What cancelling a member's own place does, for its confirmation page: whether someone on
    the waitlist is given the seat, and the place in the queue given up."""

    was_confirmed: bool
    seat_goes_to_waitlist: bool
    position: int | None


def place_cancel_effects(reg: Registration) -> PlaceCancelEffects:
    """What cancelling this registration now would do (nobody is named: only whether the first
    person on the waitlist who fits the mix target gets the seat, as `promote_waitlist` would)."""
    workshop = reg.workshop
    current = seats(workshop)
    booked = reg.is_confirmed and not reg.walk_in
    after = Seats(confirmed=current.confirmed - booked, waitlisted=current.waitlisted,
                  by_type={**current.by_type}, walk_ins=current.walk_ins)
    if booked:
        after.by_type[reg.member_type] = after.by_type.get(reg.member_type, 0) - 1
    gives = False
    if booked and workshop.status == WorkshopStatus.PUBLISHED and not after.is_full(workshop):
        waiting = db.session.scalars(
            sa.select(Registration.member_type)
            .where(Registration.workshop_id == workshop.id, Registration.state == RegistrationState.WAITLISTED)
            .order_by(Registration.queued_at, Registration.id)).all()
        gives = any(after.fits(workshop, member_type) for member_type in waiting)
    return PlaceCancelEffects(was_confirmed=reg.is_confirmed, seat_goes_to_waitlist=gives,
                              position=waitlist_position(reg))


@dataclass(frozen=True)
class WorkshopCancelEffects:
    """Who is emailed when staff cancel a workshop: people with a booked place, walk-ins and the
    waitlist (nobody if it was never published)."""

    confirmed: int
    walk_ins: int
    waitlisted: int
    published: bool

    @property
    def emailed(self) -> int:
        """How many people are emailed."""
        return self.confirmed + self.walk_ins + self.waitlisted if self.published else 0


def workshop_cancel_effects(workshop: Workshop) -> WorkshopCancelEffects:
    """What cancelling this workshop now would do, for its confirmation page."""
    current = seats(workshop)
    return WorkshopCancelEffects(confirmed=current.confirmed, walk_ins=current.walk_ins,
                                 waitlisted=current.waitlisted, published=workshop.status == WorkshopStatus.PUBLISHED)


def promote_waitlist(workshop: Workshop, actor: User | None = None, *,
                     current: Seats | None = None) -> list[Registration]:
    """Fill free seats from the waitlist in order, skipping people whose type is at its share.
    `current`: the seats as the caller counted them under the lock (updated here), else counted."""
    current = current if current is not None else seats(workshop)
    if current.waitlisted == 0 or current.confirmed >= workshop.capacity:
        return []
    waiting = db.session.scalars(
        sa.select(Registration).options(joinedload(Registration.user))
        .where(Registration.workshop_id == workshop.id, Registration.state == RegistrationState.WAITLISTED)
        .order_by(Registration.queued_at, Registration.id)
    ).all()
    promoted = []
    for reg in waiting:
        if current.confirmed >= workshop.capacity:
            break
        if not current.fits(workshop, reg.member_type):
            continue
        reg.state = RegistrationState.CONFIRMED
        current.take(reg.member_type)
        current.waitlisted -= 1
        _log(reg, "promoted", RegistrationState.WAITLISTED, RegistrationState.CONFIRMED, actor)
        promoted.append(reg)
    db.session.flush()
    for reg in promoted:
        notifications.promoted(reg)
    return promoted


# --- Scheduling (staff) -------------------------------------------------------------------

WORKSHOP_FIELDS = ("title", "description", "region", "format", "venue", "address", "postcode",
                   "online_url", "starts_at", "ends_at", "registration_closes_at", "capacity",
                   "accessibility_info", "mix_max_percent", "round")


def _apply(workshop: Workshop, data: dict) -> None:
    """Copy form data onto the workshop; clear the fields its format does not use."""
    for name in WORKSHOP_FIELDS:
        if name in data:
            setattr(workshop, name, data[name])
    if not workshop.format.has_venue:
        workshop.venue = workshop.address = workshop.postcode = ""
    if not workshop.format.has_link:
        workshop.online_url = ""


SCHEDULE_FIELDS = ("format", "venue", "address", "postcode", "online_url", "starts_at", "ends_at",
                   "registration_closes_at")


def schedule_problems(values: Mapping) -> list[RuleError]:
    """Every scheduling rule these workshop values break, in form order, each naming its field.

    In-person and hybrid workshops need a venue name, an address and a postcode; online and hybrid
    ones a joining link. A postcode given must be a real UK postcode and a joining link an http(s)
    address (whatever the format). The end comes after the start, and registration closes no
    later than the start. A value that is None or missing (the form could not read it) is not
    judged: the form has already said what is wrong with it. The staff form shows every problem
    at once from here; `create_workshop` and `update_workshop` refuse the first."""
    problems = []
    fmt = values.get("format")
    has_venue = fmt is not None and fmt.has_venue
    has_link = fmt is not None and fmt.has_link
    if has_venue and not values.get("venue"):
        problems.append(RuleError("Enter the venue name", "venue"))
    if has_venue and not values.get("address"):
        problems.append(RuleError("Enter the venue address", "address"))
    postcode = values.get("postcode") or ""
    if has_venue and not postcode:
        problems.append(RuleError("Enter the venue postcode", "postcode"))
    elif postcode and not UK_POSTCODE.match(postcode):
        problems.append(RuleError("Enter a real postcode, like SW1A 1AA", "postcode"))
    online_url = values.get("online_url") or ""
    if has_link and not online_url:
        problems.append(RuleError("Enter the joining link", "online_url"))
    elif online_url and not is_http_url(online_url):
        problems.append(RuleError("Enter a joining link that starts with https:// or http://", "online_url"))
    starts, ends, closes = (values.get(name) for name in ("starts_at", "ends_at", "registration_closes_at"))
    if starts and ends and ends <= starts:
        problems.append(RuleError("End must be after the start", "ends_at"))
    if starts and closes and closes > starts:
        problems.append(RuleError("Registration must close before the workshop starts", "registration_closes_at"))
    return problems


def _check_schedule(workshop: Workshop) -> None:
    """Refuse a workshop (as it would be saved) that breaks a scheduling rule."""
    problems = schedule_problems({name: getattr(workshop, name) for name in SCHEDULE_FIELDS})
    if problems:
        raise problems[0]


def check_editable(workshop: Workshop) -> None:
    """A cancelled workshop cannot be changed (its registrations were told it is off)."""
    if workshop.status == WorkshopStatus.CANCELLED:
        raise RuleError("A cancelled workshop cannot be changed.")


def create_workshop(actor: User, data: dict) -> Workshop:
    """A new draft workshop. Refuses one that breaks a scheduling rule (`schedule_problems`)."""
    workshop = Workshop(status=WorkshopStatus.DRAFT, created_by_id=actor.id, sequence=0, seat_version=0)
    _apply(workshop, data)
    _check_schedule(workshop)
    db.session.add(workshop)
    db.session.flush()
    record(actor, "workshop.create", workshop, f"Created draft workshop #{workshop.id}: {workshop.title}")
    return workshop


def update_workshop(actor: User, workshop: Workshop, data: dict) -> dict:
    """Save changes. A new time or place bumps SEQUENCE and emails everyone registered;
    more seats (or a lifted mix target) promote from the waitlist. Returns what happened.

    Refuses a cancelled workshop, a capacity below the confirmed seats, and a result that breaks
    a scheduling rule (`schedule_problems`); the caller then rolls back (the workshop may hold
    the refused values until it does)."""
    _lock_seats(workshop)  # before reading it: a registration in flight sees all or none of this
    check_editable(workshop)
    current = seats(workshop)
    capacity = data.get("capacity")
    # Booked places only (walk-ins are counted apart), and only when the capacity goes down: keeping
    # the capacity as it is never blocks an edit, even if check-ins from the waitlist at the door
    # went over it.
    if capacity is not None and capacity < current.confirmed and capacity < workshop.capacity:
        raise RuleError(
            f"{current.confirmed} people already have a confirmed seat. Capacity cannot be less than "
            f"{current.confirmed}; cancel registrations first if the room is smaller. "
            "Walk-ins are not counted.", "capacity")
    before = {name: getattr(workshop, name) for name in CHANGE_FIELDS}
    _apply(workshop, data)
    _check_schedule(workshop)
    changed = [name for name in CHANGE_FIELDS if getattr(workshop, name) != before[name]]
    result: dict[str, Any] = {"changed": changed, "notified": 0, "promoted": []}
    if "starts_at" in changed and workshop.starts_at > utcnow() + REMINDER_WINDOW:
        # Postponed beyond the reminder window: remind people again before the new date.
        db.session.execute(sa.update(Registration).where(
            Registration.workshop_id == workshop.id, Registration.reminder_sent_at.is_not(None)
        ).values(reminder_sent_at=None))
    if changed and workshop.status == WorkshopStatus.PUBLISHED:
        workshop.sequence += 1
        db.session.flush()
        result["notified"] = notifications.changed(workshop, active_registrations(workshop), changed)
    db.session.flush()
    if workshop.status == WorkshopStatus.PUBLISHED:
        result["promoted"] = promote_waitlist(workshop, actor)
    record(actor, "workshop.update", workshop, f"Edited workshop #{workshop.id}",
           changed=changed, promoted=len(result["promoted"]))
    return result


def publish_workshop(actor: User, workshop: Workshop) -> bool:
    """Make a draft visible and open for registration. Publishing a published workshop again
    changes nothing (False); a cancelled one cannot be published."""
    _lock_seats(workshop)
    if workshop.status == WorkshopStatus.PUBLISHED:
        return False
    if workshop.status != WorkshopStatus.DRAFT:
        raise RuleError("A cancelled workshop cannot be published.")
    workshop.status = WorkshopStatus.PUBLISHED
    workshop.published_at = utcnow()
    record(actor, "workshop.publish", workshop, f"Published workshop #{workshop.id}")
    _announce(workshop)
    return True


def _announce(workshop: Workshop) -> int:
    """Tell the members who want it about a newly published workshop: those of its region, or every
    member when it can be joined online (one query and one bulk insert, whatever the audience)."""
    audience = sa.select(User.id)
    if not workshop.format.has_link:
        if workshop.region_id is None:
            return 0
        audience = audience.where(User.region_id == workshop.region_id)
    return member_notifications.notify(
        audience, "workshop_in_region", f"New workshop: {workshop.title}", "notify_workshop_published",
        workshop=workshop, workshop_url=external_url("workshops.detail", workshop_id=workshop.id))


def cancel_workshop(actor: User, workshop: Workshop, reason: str) -> int | None:
    """Cancel a workshop and email everyone registered or waiting, with the reason.
    Registrations keep their state and history. Returns how many were emailed, or None if
    the workshop was already cancelled (a second click or a second tab: nothing is done,
    nobody is emailed twice, no second audit entry)."""
    if not reason.strip():
        raise RuleError("Enter the reason for cancelling, so attendees know why", "reason")
    _lock_seats(workshop)
    if workshop.status == WorkshopStatus.CANCELLED:
        return None
    was_published = workshop.status == WorkshopStatus.PUBLISHED
    workshop.status = WorkshopStatus.CANCELLED
    workshop.cancel_reason = reason.strip()
    workshop.sequence += 1
    db.session.flush()
    notified = notifications.cancelled(workshop, active_registrations(workshop)) if was_published else 0
    record(actor, "workshop.cancel", workshop, f"Cancelled workshop #{workshop.id}", reason=reason.strip(),
           notified=notified)
    return notified


def set_live_voting(actor: User, workshop: Workshop, open_: bool) -> bool:
    """Open or close live voting (a set, not a toggle: a second click changes nothing and writes
    no second audit entry). Returns whether anything changed."""
    _lock_seats(workshop)
    if workshop.round_id is None:
        raise RuleError("Link this workshop to a principles round first (edit the workshop).")
    if workshop.live_voting == open_:
        return False
    workshop.live_voting = open_
    record(actor, "workshop.live_voting", workshop,
           f"{'Opened' if open_ else 'Closed'} live voting for workshop #{workshop.id}")
    return True


def set_presenter(actor: User, workshop: Workshop, *, drafts_count: int,
                  number: int | None | EllipsisType = ..., tallies_shown: bool | None = None) -> bool:
    """Set what the presenter screen shows: one principle (`number`, 1..drafts_count, the round's
    drafts as counted by the caller) or all of them (None; `...` keeps it), and whether the
    tallies are shown (None keeps it). A set, not a toggle: the same choice again changes nothing
    and writes no audit entry. A change bumps `present_version`, which the screen's poll reads.
    Returns whether anything changed."""
    if workshop.round_id is None:
        raise RuleError("Link this workshop to a principles round first (edit the workshop).")
    if isinstance(number, int) and not 1 <= number <= drafts_count:
        raise RuleError(f"There is no principle {number} in this round (it has {drafts_count}).", "show")
    workshop = _lock_seats(workshop)
    changes: dict[str, Any] = {}
    if not isinstance(number, EllipsisType) and number != workshop.present_number:
        changes["present_number"] = number
    if tallies_shown is not None and tallies_shown != workshop.tallies_shown:
        changes["tallies_shown"] = tallies_shown
    if not changes:
        return False
    for name, value in changes.items():
        setattr(workshop, name, value)
    workshop.present_version += 1
    shown = ("all principles" if workshop.present_number is None else f"principle {workshop.present_number}")
    record(actor, "workshop.presenter", workshop,
           f"Presenter screen of workshop #{workshop.id}: {shown}, tallies "
           f"{'shown' if workshop.tallies_shown else 'hidden'}", **changes)
    return True


# --- Attendance ---------------------------------------------------------------------------

def _check_attendance_open(workshop: Workshop) -> None:
    """Attendance is taken at published workshops only."""
    if workshop.status != WorkshopStatus.PUBLISHED:
        raise RuleError("This workshop has been cancelled." if workshop.status == WorkshopStatus.CANCELLED
                            else "This workshop is not published.")


class WaitlistedNeedsConfirmation(RuleError):
    """Staff tapped Check in (or scanned the ticket) of someone on the waitlist: checking them in
    gives them a place, so staff confirm that first (`confirm_waitlisted=True`)."""


# Check-ins that give a waitlisted person their place without asking: the person proved they are
# in the room themselves (room code), staff added them at the door on purpose (walk-in), or an
# offline tap is sent later (the phone could not ask then; the person was there, and refusing the
# queued tap would lose the check-in: the card showed "On the waitlist" when it was tapped).
_PROMOTES_WITHOUT_ASKING = (CheckInMethod.ROOM_CODE, CheckInMethod.WALK_IN, CheckInMethod.OFFLINE)


def check_in(actor: User, reg: Registration, *, method: CheckInMethod = CheckInMethod.STAFF,
             at: datetime | None = None, confirm_waitlisted: bool = False) -> bool:
    """Check a person in (a set, never a toggle: a second tap changes nothing and returns False).

    Checking in someone from the waitlist gives them a seat: a staff tap or scan raises
    `WaitlistedNeedsConfirmation` unless `confirm_waitlisted` (the second, explicit tap); room-code,
    walk-in and offline check-ins give the seat without asking (see `_PROMOTES_WITHOUT_ASKING`).

    `method` records how (a tap, a scanned ticket, an offline tap sent later); `at` is when the
    check-in happened if that was earlier than now (a tap queued offline): never in the future,
    and a check-in already recorded keeps the earlier of the two times."""
    workshop = _lock_registration(reg)
    if reg.state == RegistrationState.CANCELLED:
        raise RuleError("This registration was cancelled. Add the person as a walk-in instead.")
    now = utcnow()
    when = min(at, now) if at is not None else now
    if reg.checked_in_at is not None:
        if when < reg.checked_in_at:  # an offline tap that happened before the one recorded
            reg.checked_in_at = when
            db.session.flush()
        return False
    _check_attendance_open(workshop)
    if reg.state == RegistrationState.WAITLISTED and not (confirm_waitlisted or method in _PROMOTES_WITHOUT_ASKING):
        raise WaitlistedNeedsConfirmation("On the waitlist — Confirm a place and check in?")
    if reg.state == RegistrationState.WAITLISTED:
        reg.state = RegistrationState.CONFIRMED
        _log(reg, "promoted", RegistrationState.WAITLISTED, RegistrationState.CONFIRMED, actor, "on the day")
    reg.checked_in_at = when
    reg.checked_in_by_id = actor.id
    reg.check_in_method = method.value
    _log(reg, "checked_in", reg.state, reg.state, actor, method.label)
    record(actor, "attendance.check_in", reg, f"Checked in registration #{reg.id} ({method.label})")
    db.session.flush()
    return True


def self_check_in(user: User, workshop: Workshop) -> Registration:
    """A member who opened the live page with a valid room code checks themselves in.

    The caller has checked the room code (`kil_network.workshops.room.is_valid`): it proves the
    person is in the room. A confirmed or waitlisted place is checked in (the waitlist gets the
    seat: they are here); a member with no registration is added as a walk-in. A registration
    the member cancelled, or a suspended or deleted account, is refused. Already checked in:
    nothing changes."""
    if not user.is_active:
        raise RuleError("Your account is suspended, so you cannot check in. "
                        "Speak to a member of the campaign team here.")
    _lock_seats(workshop)
    _check_attendance_open(workshop)
    reg = registration_for(workshop, user)
    if reg is not None:
        db.session.refresh(reg)
        if reg.state == RegistrationState.CANCELLED:
            raise RuleError("Your place at this workshop was cancelled, so you cannot check in with the "
                            "room code. Speak to a member of the campaign team here: they can add you.")
        check_in(user, reg, method=CheckInMethod.ROOM_CODE)
        return reg
    now = utcnow()
    reg = Registration(workshop=workshop, user=user, member_type=user.member_type,
                       state=RegistrationState.CONFIRMED, walk_in=True, queued_at=now, checked_in_at=now,
                       checked_in_by_id=user.id, check_in_method=CheckInMethod.ROOM_CODE.value)
    db.session.add(reg)
    _log(reg, "checked_in", None, RegistrationState.CONFIRMED, user, CheckInMethod.ROOM_CODE.label)
    db.session.flush()
    record(user, "attendance.check_in", reg,
           f"Self check-in by room code: registration #{reg.id} at workshop #{workshop.id}")
    return reg


def undo_check_in(actor: User, reg: Registration) -> bool:
    """Undo a check-in (its own action, kept in the history and the audit log). Undoing a
    check-in that is not there changes nothing and returns False."""
    _lock_registration(reg)
    if reg.checked_in_at is None:
        return False
    reg.checked_in_at = None
    reg.checked_in_by_id = None
    reg.check_in_method = None
    _log(reg, "check_in_undone", reg.state, reg.state, actor)
    record(actor, "attendance.undo", reg, f"Undid check-in of registration #{reg.id}")
    db.session.flush()
    return True


def checked_in_phrase(reg: Registration) -> str:
    """"checked in at 10:02 by Alex Staff" (or "by themselves with the room code"): what staff are
    told when someone already checked in is scanned or added again."""
    when = format_london(reg.checked_in_at, "%H:%M") if reg.checked_in_at else ""
    if reg.check_in_method == CheckInMethod.ROOM_CODE:
        return f"checked in at {when} by themselves with the room code"
    by = db.session.get(User, reg.checked_in_by_id) if reg.checked_in_by_id else None
    return f"checked in at {when}" + (f" by {by.display_name}" if by else "")


@dataclass
class WalkInOutcome:
    """What adding a walk-in did (`message` is what staff are told)."""

    reg: Registration
    message: str


def add_walk_in(actor: User, workshop: Workshop, *, member: User | None = None, name: str = "",
                email: str = "", member_type: MemberType | None = None) -> Registration:
    """Record someone who came without a seat: an existing member, or a guest invited to join."""
    return admit_walk_in(actor, workshop, member=member, name=name, email=email, member_type=member_type).reg


def admit_walk_in(actor: User, workshop: Workshop, *, member: User | None = None, name: str = "",
                  email: str = "", member_type: MemberType | None = None) -> WalkInOutcome:
    """`add_walk_in`, saying what happened: someone already registered is checked in (a waitlisted
    place is confirmed: staff added them on purpose), someone already checked in is left as they
    are, the same guest added twice is one row."""
    _lock_seats(workshop)
    _check_attendance_open(workshop)
    if member is None and email:
        member = get_user_by_email(email)
        if member is not None and member.status == Status.DELETED:
            member = None
    if member is None and email.strip():
        # The same guest added twice (a double submit, or two staff at the door): one row.
        same = db.session.scalar(sa.select(Registration).where(
            Registration.workshop_id == workshop.id, Registration.user_id.is_(None),
            Registration.guest_email == normalise_email(email), Registration.state != RegistrationState.CANCELLED)
            .execution_options(populate_existing=True))  # as it is now, under the lock
        if same is not None:
            if same.attended:
                return WalkInOutcome(same, f"{same.person_name} was already added: {checked_in_phrase(same)}.")
            check_in(actor, same, confirm_waitlisted=True)
            return WalkInOutcome(same, f"{same.person_name} was already on the list: checked in now.")
    if member is not None:
        reg = registration_for(workshop, member)
        if reg is not None:
            db.session.refresh(reg)
        if reg is not None and reg.state != RegistrationState.CANCELLED:
            if reg.attended:
                return WalkInOutcome(reg, f"{reg.person_name} was already registered and {checked_in_phrase(reg)}.")
            waitlisted = reg.is_waitlisted
            check_in(actor, reg, confirm_waitlisted=True)
            return WalkInOutcome(reg, f"{reg.person_name} was on the waitlist: given a place and checked in now."
                                 if waitlisted else f"{reg.person_name} was already registered: checked in now.")
        previous = reg.state if reg else None
        if reg is None:
            reg = Registration(workshop=workshop, user=member)
            db.session.add(reg)
        reg.member_type = member.member_type
    else:
        if not name.strip() or not email.strip() or member_type is None:
            raise RuleError("Enter the walk-in's name, email address and member type", "name")
        previous = None
        reg = Registration(workshop=workshop, guest_name=name.strip(), guest_email=normalise_email(email),
                           member_type=member_type)
        db.session.add(reg)
    reg.state = RegistrationState.CONFIRMED
    reg.walk_in = True
    reg.queued_at = utcnow()
    reg.checked_in_at = utcnow()
    reg.checked_in_by_id = actor.id
    reg.check_in_method = CheckInMethod.WALK_IN.value
    _log(reg, "walk_in", previous, RegistrationState.CONFIRMED, actor)
    db.session.flush()
    record(actor, "attendance.walk_in", reg, f"Added walk-in registration #{reg.id} to workshop #{workshop.id}")
    if member is None:
        notifications.walk_in_invite(reg)
        return WalkInOutcome(reg, f"{reg.person_name} added and checked in. "
                                  "We have emailed them an invitation to join the Network.")
    if previous == RegistrationState.CANCELLED:
        return WalkInOutcome(reg, f"{reg.person_name} had cancelled their place: added back as a walk-in "
                                  "and checked in.")
    return WalkInOutcome(reg, f"{reg.person_name} added and checked in.")


# --- Scanning tickets at the door ----------------------------------------------------------

class ScanKind(StrEnum):
    """What scanning (or typing) a ticket code at the door found."""

    CHECKED_IN = "checked_in"  # ✓ checked in now
    READY = "ready"  # a staff member opened the ticket link: not checked in yet, one tap to do it
    ALREADY = "already"  # already checked in (when and by whom)
    WAITLISTED = "waitlisted"  # on the waitlist: confirm a place first
    CANCELLED = "cancelled"  # the registration was cancelled
    OTHER_WORKSHOP = "other_workshop"  # a ticket for another workshop
    UNKNOWN = "unknown"  # not a ticket code of this site
    REFUSED = "refused"  # the workshop takes no check-ins (cancelled, not published)

    @property
    def label(self) -> str:
        """The result's headline, in big letters on the staff phone."""
        return {"checked_in": "Checked in", "ready": "Not checked in yet", "already": "Already checked in",
                "waitlisted": "On the waitlist", "cancelled": "Registration cancelled",
                "other_workshop": "Another workshop's ticket", "unknown": "Not a ticket",
                "refused": "Check-in refused"}[self.value]

    @property
    def tone(self) -> str:
        """good (green: checked in now), warn (amber: staff look again; a ticket already used may be a
        copy) or bad (red: not on this ticket)."""
        if self == ScanKind.CHECKED_IN:
            return "good"
        return "warn" if self in (ScanKind.READY, ScanKind.ALREADY, ScanKind.WAITLISTED) else "bad"

    @property
    def icon(self) -> str:
        """A mark to read at arm's length: ✓, ! or ✗."""
        return {"good": "✓", "warn": "!", "bad": "✗"}[self.tone]


@dataclass
class ScanResult:
    """A scan's outcome: the kind, the registration it names (None if unknown), what to tell staff
    (`message`) and a warning that does not stop the check-in (`warning`: not this workshop's day)."""

    kind: ScanKind
    reg: Registration | None
    message: str
    warning: str = ""
    code: str = ""


_TICKET_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what secrets.token_urlsafe writes


def ticket_code(text: str) -> str:
    """The code of a ticket from what was scanned or typed: the ticket URL (…/t/<code>) or the
    code itself, without spaces; "" for anything a ticket code cannot be (so no NUL or other junk
    reaches a query)."""
    text = (text or "").strip()
    if "/t/" in text:
        text = text.rsplit("/t/", 1)[1]
    code = text.split("?", 1)[0].split("#", 1)[0].strip("/ ")
    return code if _TICKET_CODE.fullmatch(code) else ""


def registration_by_ticket(code: str) -> Registration | None:
    """The registration whose ticket carries this code, or None."""
    code = ticket_code(code)
    if not code:
        return None
    return db.session.scalar(sa.select(Registration).options(joinedload(Registration.user))
                             .where(Registration.check_in_code == code))


def _other_day(workshop: Workshop, now: datetime) -> str:
    """A warning if today (in London) is not the workshop's day."""
    if format_london(workshop.starts_at, "%Y-%m-%d") == format_london(now, "%Y-%m-%d"):
        return ""
    return f"Not this workshop's day: it is on {format_london(workshop.starts_at, '%A %-d %B %Y')}."


def scan_ticket(actor: User, workshop: Workshop, code: str, *, confirm: bool = False, check_in_now: bool = True,
                now: datetime | None = None) -> ScanResult:
    """Staff scanned (or typed) a ticket code at `workshop`'s door: check the person in (method
    scan) and say what happened, or say why not. A waitlisted person is checked in only with
    `confirm`; a check-in on another day than the workshop's is allowed with a warning.
    `check_in_now=False` only looks (a staff member opened the ticket link: the page offers the tap)."""
    now = now or utcnow()
    code = ticket_code(code)
    reg = registration_by_ticket(code)
    if reg is None:
        return ScanResult(ScanKind.UNKNOWN, None, "Not a ticket for any workshop: check the code.", code=code)
    if reg.workshop_id != workshop.id:
        other = reg.workshop
        return ScanResult(ScanKind.OTHER_WORKSHOP, reg, f"This code is for another workshop: {other.title}, "
                          f"{format_london(other.starts_at, '%-d %B %Y')} ({reg.person_name}'s ticket).", code=code)
    if reg.is_cancelled:
        return ScanResult(ScanKind.CANCELLED, reg, "This registration was cancelled. Add them as a walk-in "
                          "if there is room.", code=code)
    warning = _other_day(workshop, now)
    if reg.attended:
        return ScanResult(ScanKind.ALREADY, reg, f"Already {checked_in_phrase(reg)}.", warning, code)
    if reg.is_waitlisted and not confirm:
        return ScanResult(ScanKind.WAITLISTED, reg, "On the waitlist: confirm a place and check in?", warning, code)
    if not check_in_now:
        return ScanResult(ScanKind.READY, reg, "Not checked in yet: tap Check in to check them in.", warning, code)
    check_in(actor, reg, method=CheckInMethod.SCAN, confirm_waitlisted=confirm)
    phrase = checked_in_phrase(reg)
    return ScanResult(ScanKind.CHECKED_IN, reg, f"{phrase[:1].upper()}{phrase[1:]}.", warning, code)


# --- Check-ins queued offline, sent later ---------------------------------------------------

OFFLINE_BATCH_MAX = 500  # taps in one sync request (a phone sends its queue in batches of 50)
OFFLINE_EARLIEST = timedelta(days=1)  # a tap's time may be at most this long before the workshop starts
_TAP_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_DB_ID_MAX = 2**31 - 1  # the largest id the registrations table can hold (an integer column)


@dataclass(frozen=True)
class OfflineTap:
    """A Check in tap a staff phone queued while offline: the registration, when the tap happened
    (ISO 8601 with a zone, as the phone recorded it) and the phone's own id for the tap (a UUID)."""

    registration_id: int
    at: str
    tap_id: str


def offline_taps(payload: Any) -> list[OfflineTap]:
    """The taps of a sync request's JSON body `{"check_ins": [{"registration_id", "at", "id"}]}`.
    A body of any other shape is refused whole (RuleError): it is not from the check-in page.
    Values that are well-formed but wrong (an unknown id, a time that is not a time) are judged
    per tap by `sync_check_ins`, so one bad tap never blocks the rest of a phone's queue."""
    items = payload.get("check_ins") if isinstance(payload, dict) else None
    if not isinstance(items, list) or len(items) > OFFLINE_BATCH_MAX:
        raise RuleError(f'Send {{"check_ins": [...]}} with at most {OFFLINE_BATCH_MAX} check-ins.')
    taps = []
    for item in items:
        reg_id = item.get("registration_id") if isinstance(item, dict) else None
        at, tap_id = (item.get("at"), item.get("id")) if isinstance(item, dict) else (None, None)
        if (not isinstance(reg_id, int) or isinstance(reg_id, bool) or not isinstance(at, str) or len(at) > 40
                or not isinstance(tap_id, str) or not _TAP_ID.fullmatch(tap_id)):
            raise RuleError('Each check-in needs a whole-number "registration_id", an "at" time and an "id".')
        taps.append(OfflineTap(reg_id, at, tap_id))
    return taps


def _tap_time(workshop: Workshop, text: str) -> datetime:
    """When an offline tap happened, in UTC; refused if it is not a time with a zone, or is more
    than a day before the workshop starts (a phone whose clock is wrong). A time in the future is
    left to `check_in`, which takes now instead."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise RuleError("The time of the tap is not a date and time.") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise RuleError("The time of the tap has no time zone.")
    if when < workshop.starts_at - OFFLINE_EARLIEST:
        raise RuleError("The time of the tap is more than a day before the workshop: check the phone's clock.")
    return when.astimezone(UTC)


def sync_check_ins(actor: User, workshop: Workshop, taps: list[OfflineTap]) -> list[dict]:
    """Apply check-ins a staff phone queued while offline, each with the time of its tap
    (method "offline"): the earlier time wins over one already recorded, a time in the future
    becomes now, and sending the same queue again changes nothing. Two phones' queues are
    independent: each tap stands alone. Someone on the waitlist is given their place (as
    `check_in` does for offline taps: the phone could not ask, the person was at the door).

    Returns, per tap in order: its `id`, `registration_id`, `result` ("done": checked in now;
    "already": was checked in, possibly now with the earlier time; "refused": not applied, with a
    `reason` staff can read: not this workshop's registration, cancelled, a time that is not a
    time) and `checked_in_at` as recorded. Adds and flushes only: the caller commits once."""
    _lock_seats(workshop)
    wanted = {tap.registration_id for tap in taps if 0 < tap.registration_id <= _DB_ID_MAX}
    regs = {reg.id: reg for reg in db.session.scalars(
        sa.select(Registration).where(Registration.workshop_id == workshop.id, Registration.id.in_(wanted))
        .execution_options(populate_existing=True))  # read under the lock: as they are now
    } if wanted else {}
    now = utcnow()
    results = []
    for tap in taps:
        reg = regs.get(tap.registration_id)
        result = {"id": tap.tap_id, "registration_id": tap.registration_id, "result": "refused", "reason": "",
                  "checked_in_at": None}
        try:
            if reg is None:
                raise RuleError("Not someone registered for this workshop.")
            when = _tap_time(workshop, tap.at)
            waitlisted = reg.is_waitlisted
            if reg.is_active and reg.checked_in_at is not None and min(when, now) >= reg.checked_in_at:
                done = False  # a queue sent again, or a later tap: nothing to change, no lock per tap
            else:
                done = check_in(actor, reg, method=CheckInMethod.OFFLINE, at=when)
            result["result"] = "done" if done else "already"
            if done and waitlisted:
                result["reason"] = "Was on the waitlist: given a place."
        except RuleError as refused:
            result["reason"] = refused.message
        if reg is not None and reg.checked_in_at is not None:
            result["checked_in_at"] = reg.checked_in_at.astimezone(UTC).isoformat()
        results.append(result)
    return results


# --- Calendar feed -------------------------------------------------------------------------

def reset_calendar_token(user: User) -> str:
    """Give the member a new secret calendar feed address; any old address stops working."""
    user.calendar_token = secrets.token_urlsafe(32)
    db.session.flush()
    return user.calendar_token


# --- Reminders ----------------------------------------------------------------------------

def send_reminders(now: datetime | None = None) -> int:
    """Email confirmed attendees of workshops starting within 48 hours, once each.

    Safe to run from cron every hour, and from two hosts at once: each workshop is locked
    (as every change to it is) before its rows are read, and rows are marked in the same
    transaction as the email is queued, so a second run finds them marked."""
    now = now or utcnow()

    def due(stmt):
        return stmt.where(
            Registration.state == RegistrationState.CONFIRMED,
            Registration.reminder_sent_at.is_(None),
            Registration.user_id.is_not(None),
            Workshop.status == WorkshopStatus.PUBLISHED,
            Workshop.starts_at > now,
            Workshop.starts_at <= now + REMINDER_WINDOW,
        )

    workshop_ids = db.session.scalars(due(
        sa.select(Workshop.id).distinct().select_from(Registration).join(Registration.workshop)
    ).order_by(Workshop.id)).all()
    sent = 0
    for workshop_id in workshop_ids:  # in id order, so two runs never lock in opposite orders
        # Lock the workshop first (re-read as locked): a cancel or a new time committed by
        # staff a moment ago is what the reminder says, or there is no reminder.
        workshop = db.session.get(Workshop, workshop_id)
        if workshop is None:  # deleted since the list was read: nobody to remind
            continue
        _lock_seats(workshop)
        regs = db.session.scalars(
            due(sa.select(Registration).join(Registration.workshop).where(Workshop.id == workshop_id))
            .order_by(Registration.id)
            .execution_options(populate_existing=True)
            .with_for_update(skip_locked=True, of=Registration)
        ).all()
        for reg in regs:
            reg.reminder_sent_at = now
            notifications.reminder(reg)
        sent += len(regs)
    db.session.flush()
    return sent
