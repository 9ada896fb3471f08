"""Workshop reads: lists, counts, region totals, check-in lists, a member's workshops, calendar feeds.

Nothing here changes anything or decides whether something may happen (the rules and the
writes are in `services.py`); routes, services and templates read through these functions.
"""
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from kil_network.auth.models import MEMBER_TYPE_LABELS, Status, User
from kil_network.core import textsearch
from kil_network.core.params import int_arg, parse_month
from kil_network.core.timeutil import format_london, london_to_utc, utcnow
from kil_network.extensions import db
from kil_network.members.models import Organisation, Region
from kil_network.workshops.models import (
    ACTIVE_STATES,
    CheckInMethod,
    Registration,
    RegistrationEvent,
    RegistrationState,
    Workshop,
    WorkshopFormat,
    WorkshopStatus,
)

STAFF_PAST_LIMIT = 50  # past workshops on the staff dashboard
CALENDAR_NAME = "Keep it Local workshops"


# --- One workshop -------------------------------------------------------------------------

# Built once (SQLAlchemy memoizes their cache keys; Session.get and lazy loads build a statement per
# call): the workshop page's workshop with its round, and a member's registration.
_WORKSHOP_PAGE = (sa.select(Workshop).options(joinedload(Workshop.round))
                  .where(Workshop.id == sa.bindparam("workshop_id")))
_REGISTRATION_FOR = sa.select(Registration).where(Registration.workshop_id == sa.bindparam("workshop_id"),
                                                  Registration.user_id == sa.bindparam("user_id"))


def workshop_page(workshop_id: int) -> Workshop | None:
    """The workshop with its region and round (what its public page shows), in one query."""
    return db.session.scalar(_WORKSHOP_PAGE, {"workshop_id": workshop_id})


def registration_for(workshop: Workshop, user: User) -> Registration | None:
    """The member's registration row for this workshop, in any state."""
    return db.session.scalar(_REGISTRATION_FOR, {"workshop_id": workshop.id, "user_id": user.id})


def waitlist_position(reg: Registration) -> int | None:
    """1 for the first person waiting, or None if not on the waitlist."""
    if reg.state != RegistrationState.WAITLISTED:
        return None
    ahead = db.session.scalar(
        sa.select(sa.func.count()).select_from(Registration).where(
            Registration.workshop_id == reg.workshop_id,
            Registration.state == RegistrationState.WAITLISTED,
            sa.or_(Registration.queued_at < reg.queued_at,
                   sa.and_(Registration.queued_at == reg.queued_at, Registration.id < reg.id)),
        )
    )
    return (ahead or 0) + 1


def waitlist_positions(regs: list[Registration]) -> dict[int, int]:
    """Waitlist position for each given registration, in one windowed query."""
    if not regs:
        return {}
    position = sa.func.row_number().over(
        partition_by=Registration.workshop_id, order_by=(Registration.queued_at, Registration.id)
    ).label("position")
    queue = (
        sa.select(Registration.id.label("id"), position)
        .where(Registration.workshop_id.in_({r.workshop_id for r in regs}),
               Registration.state == RegistrationState.WAITLISTED)
        .subquery()
    )
    wanted = [r.id for r in regs]
    rows = db.session.execute(sa.select(queue.c.id, queue.c.position).where(queue.c.id.in_(wanted))).all()
    return {reg_id: pos for reg_id, pos in rows}


def active_registrations(workshop: Workshop) -> Sequence[Registration]:
    """Confirmed and waitlisted registrations, with their members loaded."""
    return db.session.scalars(
        sa.select(Registration).options(joinedload(Registration.user))
        .where(Registration.workshop_id == workshop.id, Registration.state.in_(ACTIVE_STATES))
        .order_by(Registration.id)
    ).all()


def attendance_counts(workshop: Workshop) -> dict:
    """The live check-in counter: attended, registered (confirmed places, walk-ins included) and
    walk-ins, in one query (every staff phone polls it every few seconds)."""
    row = db.session.execute(
        sa.select(sa.func.count(Registration.checked_in_at), sa.func.count(Registration.id),
                  sa.func.count(Registration.id).filter(Registration.walk_in.is_(True)))
        .where(Registration.workshop_id == workshop.id, Registration.state == RegistrationState.CONFIRMED)
    ).one()
    return {"attended": row[0], "registered": row[1], "walk_ins": row[2]}


class CheckInRow(NamedTuple):
    """One card of the check-in list: only what the card shows and what its search matches."""

    id: int
    person_name: str  # "Former member" once the account is deleted
    person_email: str
    organisation: str  # the member's organisation, or ""
    member_type: str  # the member type's name ("Councillor")
    state: str  # a RegistrationState value
    state_label: str
    walk_in: bool
    checked_in_at: datetime | None
    check_in_method: str | None  # as stored (None for check-ins made before it was recorded)
    how: str  # "Checked in by staff" (when checked in)
    time: str  # "10:02", Europe/London (when checked in)
    search: str  # lower-case name, email and organisation: the card's data-search

    @property
    def attended(self) -> bool:
        """Checked in on the day."""
        return self.checked_in_at is not None

    @property
    def is_confirmed(self) -> bool:
        """Holds a seat."""
        return self.state == RegistrationState.CONFIRMED


_STATE_VALUES = {state: state.value for state in RegistrationState}
_CONFIRMED = RegistrationState.CONFIRMED.value
_STATE_LABELS = {state: state.label for state in RegistrationState}
_TYPE_LABELS = {str(member_type): label for member_type, label in MEMBER_TYPE_LABELS.items()}
_METHOD_LABELS = {method.value: method.label for method in CheckInMethod}
_HOW = {method.value: method.label.capitalize() for method in CheckInMethod}
_CHECK_IN_NAME = sa.case((User.status == Status.DELETED, sa.literal("Former member")),
                         else_=sa.func.coalesce(User.name, Registration.guest_name))
_CHECK_IN_COLUMNS = sa.select(
    Registration.id, _CHECK_IN_NAME.label("name"),
    sa.func.coalesce(User.email, Registration.guest_email).label("email"),
    Organisation.name.label("organisation"), Registration.member_type, Registration.state,
    Registration.walk_in, Registration.checked_in_at, Registration.check_in_method,
).select_from(Registration).outerjoin(User, User.id == Registration.user_id).outerjoin(
    Organisation, Organisation.id == User.organisation_id)


def check_in_matches(row: CheckInRow, terms: Sequence[str]) -> bool:
    """The check-in list's search, the member directory's (core.textsearch): every word the start
    of a word of the name, email or organisation, accents and case folded ("jose" finds José).
    Run on the loaded list, one workshop's people, so its cost never grows with the membership."""
    return textsearch.matches(terms, row.person_name, row.person_email, row.organisation)


def check_in_list(workshop: Workshop, q: str = "") -> list[CheckInRow]:
    """Confirmed and waitlisted registrations for the check-in page (confirmed first, then by
    name), searchable by name, email or organisation (`check_in_matches`). One query of only the
    columns the cards show, no ORM objects: the list is 300 people on the day."""
    stmt = _CHECK_IN_COLUMNS.where(Registration.workshop_id == workshop.id, Registration.state.in_(ACTIVE_STATES))
    order_name = sa.func.lower(sa.func.coalesce(User.name, Registration.guest_name))
    rows = _check_in_rows(stmt.order_by(Registration.state, order_name, Registration.id))
    terms = textsearch.words(q)
    if not terms:  # blank: everyone; typed but no letter or digit ("%"): nobody, as the directory
        return [] if (q or "").strip() else rows
    return [row for row in rows if check_in_matches(row, terms)]


def check_in_page(workshop: Workshop, q: str = "") -> dict:
    """The check-in page's list (`regs`, searched by `q`) and its counter (`counts`): counted from
    the list itself when it is the whole list, so the page is the one list query."""
    regs = check_in_list(workshop, q)
    return {"regs": regs, "counts": attendance_counts(workshop) if (q or "").strip() else list_counts(regs)}


def list_counts(regs: list[CheckInRow]) -> dict:
    """`attendance_counts` from a workshop's whole check-in list: attended, registered (confirmed
    places, walk-ins included) and walk-ins."""
    confirmed = [reg for reg in regs if reg.state == _CONFIRMED]
    return {"attended": sum(reg.checked_in_at is not None for reg in confirmed), "registered": len(confirmed),
            "walk_ins": sum(reg.walk_in for reg in confirmed)}


def registration_to_check_in(workshop: Workshop, registration_id: int) -> Registration | None:
    """A registration of this workshop with its member and organisation, in one statement, read as
    it is now (populate_existing: the caller holds the workshop's seat lock), or None."""
    return db.session.scalar(
        sa.select(Registration).options(joinedload(Registration.user).joinedload(User.organisation))
        .where(Registration.id == registration_id, Registration.workshop_id == workshop.id)
        .execution_options(populate_existing=True))


def check_in_card(reg: Registration) -> CheckInRow:
    """A registration (its member and organisation loaded: `registration_to_check_in`) as the
    check-in list shows it: the card htmx swaps in after a tap, without another query."""
    org = reg.user.organisation if reg.user is not None else None
    return _check_in_row(reg.id, reg.person_name, reg.person_email, org.name if org is not None else "",
                         reg.member_type, reg.state, reg.walk_in, reg.checked_in_at, reg.check_in_method)


def _check_in_rows(stmt) -> list[CheckInRow]:
    """CheckInRows of a select of `_CHECK_IN_COLUMNS`, run as Core on the session's connection (it
    selects columns, not entities: the ORM's execution layer has nothing to add for 300 rows)."""
    return [_check_in_row(*row) for row in db.session.connection().execute(stmt)]


def _check_in_row(rid, name, email, org, member_type, state, walk_in, at, method) -> CheckInRow:
    """One CheckInRow from its columns."""
    name, email, org = name or "", email or "", org or ""
    return CheckInRow(
        rid, name, email, org, _TYPE_LABELS.get(member_type, member_type), _STATE_VALUES[state],
        _STATE_LABELS[state], walk_in, at, method,
        _HOW.get(method or CheckInMethod.STAFF, "") if at else "", format_london(at, "%H:%M") if at else "",
        f"{name} {email} {org}".lower())


def registrations(workshop: Workshop) -> Sequence[Registration]:
    """Every registration of the workshop (any state) for its staff page: by state, then queue order."""
    return db.session.scalars(
        sa.select(Registration).options(joinedload(Registration.user))
        .where(Registration.workshop_id == workshop.id)
        .order_by(Registration.state, Registration.queued_at, Registration.id)
    ).all()


def registrations_for_export(workshop: Workshop) -> Sequence[Registration]:
    """Every registration of the workshop (any state) in the order they were made, for the CSV."""
    return db.session.scalars(
        sa.select(Registration).options(joinedload(Registration.user))
        .where(Registration.workshop_id == workshop.id).order_by(Registration.id)
    ).all()


def registration_history(reg: Registration) -> Sequence[RegistrationEvent]:
    """A registration's history, oldest first."""
    return db.session.scalars(
        sa.select(RegistrationEvent).where(RegistrationEvent.registration_id == reg.id).order_by(RegistrationEvent.id)
    ).all()


def sign_in_sheet(workshop: Workshop) -> list[CheckInRow]:
    """Confirmed places for the printable sign-in sheet, in check-in list order."""
    return [reg for reg in check_in_list(workshop) if reg.is_confirmed]


# --- Lists --------------------------------------------------------------------------------

def staff_dashboard() -> dict:
    """Upcoming workshops (all of them, soonest first) and the latest past ones, drafts included."""
    now = utcnow()
    upcoming = db.session.scalars(
        sa.select(Workshop).where(Workshop.starts_at > now).order_by(Workshop.starts_at)).all()
    past = db.session.scalars(
        sa.select(Workshop).where(Workshop.starts_at <= now).order_by(Workshop.starts_at.desc())
        .limit(STAFF_PAST_LIMIT)).all()
    return {"upcoming": upcoming, "past": past}


def no_show_rates(workshops: list[Workshop], stats: dict[int, dict]) -> dict[int, int | None]:
    """Per workshop, the percentage of confirmed places not attended (rounded), or None when nobody
    had a confirmed place or the workshop was cancelled. `stats` is `registration_stats`' answer."""
    rates: dict[int, int | None] = {}
    for workshop in workshops:  # booked places (walk-ins always attend: they are not counted)
        confirmed, attended = stats[workshop.id]["confirmed"], stats[workshop.id]["attended_booked"]
        rates[workshop.id] = (round((confirmed - attended) * 100 / confirmed)
                              if confirmed and not workshop.is_cancelled else None)
    return rates


def regions() -> Sequence[Region]:
    """Every region by name (the list's filter)."""
    return db.session.scalars(sa.select(Region).order_by(Region.name)).all()


def registration_stats(workshop_ids: list[int]) -> dict[int, dict]:
    """Per workshop, in one grouped query: booked places ("confirmed": walk-ins not counted, as
    capacity is about booked places), walk-ins, the waitlist, everyone attended, and booked
    places attended ("attended_booked", for the no-show rate)."""
    stats = {wid: {"confirmed": 0, "waitlisted": 0, "walk_ins": 0, "attended": 0, "attended_booked": 0}
             for wid in workshop_ids}
    if not workshop_ids:
        return stats
    rows = db.session.execute(
        sa.select(Registration.workshop_id, Registration.state, Registration.walk_in, sa.func.count(),
                  sa.func.count(Registration.checked_in_at))
        .where(Registration.workshop_id.in_(workshop_ids), Registration.state.in_(ACTIVE_STATES))
        .group_by(Registration.workshop_id, Registration.state, Registration.walk_in)
    ).all()
    for wid, state, walk_in, count, attended in rows:
        if state == RegistrationState.CONFIRMED and walk_in:
            stats[wid]["walk_ins"] += count
        else:
            stats[wid][state.value] += count
            stats[wid]["attended_booked"] += attended
        stats[wid]["attended"] += attended
    return stats


def public_workshops(*, region: str = "", fmt: str = "", month: str = "", when: str = "upcoming",
                     include_drafts: bool = False):
    """A SELECT of workshops for the list, filtered by region, format, month (YYYY-MM) and when."""
    now = utcnow()
    stmt = sa.select(Workshop)
    if not include_drafts:
        stmt = stmt.where(Workshop.status != WorkshopStatus.DRAFT)
    if when == "past":
        stmt = stmt.where(Workshop.starts_at <= now).order_by(Workshop.starts_at.desc())
    else:
        stmt = stmt.where(Workshop.starts_at > now).order_by(Workshop.starts_at)
    if int_arg(region) is not None:
        stmt = stmt.where(Workshop.region_id == int_arg(region))
    if fmt in {f.value for f in WorkshopFormat}:
        stmt = stmt.where(Workshop.format == WorkshopFormat(fmt))
    start = month_start(month)
    if start is not None:
        # The next London month, counted from the month asked for: in summer time a London month
        # starts at 23:00 UTC on the last day of the month before.
        year, mon = (int(p) for p in month.split("-"))
        end = month_start(f"{year + mon // 12}-{mon % 12 + 1:02d}")
        stmt = stmt.where(Workshop.starts_at >= start)
        if end is not None:
            stmt = stmt.where(Workshop.starts_at < end)
    return stmt


def month_start(month: str) -> datetime | None:
    """The UTC instant a London calendar month (YYYY-MM) begins, or None if malformed or out of range."""
    parsed = parse_month(month)
    return london_to_utc(datetime(*parsed, 1)) if parsed else None


def member_workshops(user: User) -> dict:
    """The member's registrations: upcoming (confirmed or waitlisted, with position) and past."""
    now = utcnow()
    regs = db.session.scalars(
        sa.select(Registration).join(Registration.workshop)
        .options(joinedload(Registration.workshop))
        .where(Registration.user_id == user.id, Registration.state != RegistrationState.CANCELLED)
        .order_by(Workshop.starts_at)
    ).all()
    upcoming = [r for r in regs if r.workshop.starts_at > now]
    past = [r for r in regs if r.workshop.starts_at <= now][::-1]
    positions = waitlist_positions([r for r in upcoming if r.is_waitlisted])
    return {"upcoming": upcoming, "past": past, "positions": positions}


def region_totals() -> Sequence[sa.Row]:
    """Per region: workshops held or planned, confirmed registrations and attendance."""
    reg_counts = (
        sa.select(Registration.workshop_id,
                  sa.func.count().label("confirmed"),
                  sa.func.count(Registration.checked_in_at).label("attended"))
        .where(Registration.state == RegistrationState.CONFIRMED)
        .group_by(Registration.workshop_id).subquery()
    )
    return db.session.execute(
        sa.select(Region.name,
                  sa.func.count(Workshop.id),
                  sa.func.coalesce(sa.func.sum(reg_counts.c.confirmed), 0),
                  sa.func.coalesce(sa.func.sum(reg_counts.c.attended), 0))
        .select_from(Region)
        .outerjoin(Workshop, sa.and_(Workshop.region_id == Region.id, Workshop.status != WorkshopStatus.CANCELLED))
        .outerjoin(reg_counts, reg_counts.c.workshop_id == Workshop.id)
        .group_by(Region.name).order_by(Region.name)
    ).all()


# --- Calendar feeds -------------------------------------------------------------------------

def calendar_feed_owner(token: str) -> User | None:
    """The active member whose secret calendar address this is, or None (a malformed token is
    not looked up)."""
    valid = 20 <= len(token) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in token)
    user = db.session.scalar(sa.select(User).where(User.calendar_token == token)) if valid else None
    return user if user is not None and user.is_active else None


def calendar_feed(user: User) -> tuple[list[Workshop], set[int]]:
    """The member's published and cancelled workshops with a confirmed or waitlisted place, soonest
    first, and the ids of those where the place is confirmed (they carry the joining link)."""
    rows = db.session.execute(
        sa.select(Workshop, Registration.state).join(Registration).where(
            Registration.user_id == user.id, Registration.state.in_(ACTIVE_STATES),
            Workshop.status != WorkshopStatus.DRAFT)
        .order_by(Workshop.starts_at)
    ).all()
    confirmed = {workshop.id for workshop, state in rows if state == RegistrationState.CONFIRMED}
    return [workshop for workshop, _ in rows], confirmed


# --- The check-in list on the phone (offline copy) ---------------------------------------

def offline_check_in_list(workshop: Workshop) -> dict:
    """The check-in page's list as data, for the copy a staff phone keeps to work through a Wi-Fi
    drop: confirmed and waitlisted registrations in the page's order, with only what the page
    shows (name, organisation or member type, place, check-in time and how) and the text the
    on-device search matches; the counter's figures come from the same rows. The page's one
    query (`check_in_list`)."""
    regs = check_in_list(workshop)
    people = []
    for row in regs:
        label = row.organisation or row.member_type
        method = row.check_in_method if row.check_in_method in _METHOD_LABELS else None
        people.append({
            "id": row.id, "name": row.person_name, "organisation": label, "walk_in": row.walk_in,
            "state": row.state, "state_label": row.state_label,
            "checked_in_at": row.checked_in_at.isoformat() if row.checked_in_at else None,
            "method": method, "method_label": _METHOD_LABELS[method] if method else None,
            "search": f"{row.person_name} {row.person_email} {label}".lower(),
        })
    return {"registrations": people, "counts": list_counts(regs), "server_time": utcnow().isoformat()}
