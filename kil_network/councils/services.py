"""Pledge rules: who may submit, one live pledge per council, staff verification."""
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from kil_network.auth.models import Status, User
from kil_network.core.audit import record
from kil_network.core.email import external_url
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.members import notifications
from kil_network.members.models import LocalAuthority, Region


def get_council(gss_code: str) -> LocalAuthority | None:
    """The local authority with this GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


def live_pledge(council: LocalAuthority) -> Pledge | None:
    """The council's pending or verified pledge."""
    return db.session.scalar(sa.select(Pledge).where(Pledge.local_authority_id == council.id,
                                                     Pledge.status != PledgeStatus.REJECTED))


def pledge_error(user: User, council: LocalAuthority) -> str | None:
    """Why this member cannot submit a pledge for this council, or None."""
    if not user.is_confirmed:
        return "Confirm your email address first."
    if user.local_authority_id != council.id or not user.member_type.needs_council:
        return (f"Only councillors, commissioners and council officers of {council.display_name} can submit its "
                "pledge. If you work there, set your council and member type on your account page.")
    existing = live_pledge(council)
    if existing is not None:
        return ("This council's pledge is already listed." if existing.status == PledgeStatus.VERIFIED
                else "A pledge for this council is waiting for staff to check it.")
    return None


def submit_pledge(user: User, council: LocalAuthority, *, signed_by: SignedBy, signatories: str, pledged_on,
                  champions: str, statement: str = "") -> Pledge:
    """Submit a council's pledge for staff to verify."""
    reason = pledge_error(user, council)
    if reason:
        raise RuleError(reason)
    if pledged_on > utcnow().date():
        raise RuleError("The pledge date cannot be in the future", "pledged_on")
    pledge = Pledge(local_authority_id=council.id, submitted_by_id=user.id, signed_by=signed_by,
                    signatories=signatories, pledged_on=pledged_on, champions=champions, statement=statement,
                    status=PledgeStatus.PENDING)
    try:
        with db.session.begin_nested():
            db.session.add(pledge)
            db.session.flush()
    except IntegrityError as exc:
        raise RuleError("A pledge for this council has just been submitted.") from exc
    # A member's change to a record others will see: in the audit log, like staff changes.
    record(user, "pledge.submit", pledge, f"Member #{user.id} submitted the pledge of {council.gss_code}")
    return pledge


def review_pledge(actor: User, pledge: Pledge, status: PledgeStatus, note: str = "") -> None:
    """Staff verify (publish) or reject a pledge."""
    if status == PledgeStatus.PENDING:
        raise RuleError("Choose verify or reject.")
    if pledge.status == PledgeStatus.REJECTED and status != PledgeStatus.REJECTED:
        # Verifying a rejected pledge makes it live again: only if the council has no other live one.
        other = live_pledge(pledge.local_authority)
        if other is not None and other.id != pledge.id:
            raise RuleError(f"{pledge.local_authority.display_name} has a newer pledge that is "
                              f"{other.status.value}. Review that one instead.")
    previous = pledge.status
    try:
        with db.session.begin_nested():  # a newer pledge submitted at this moment still wins
            pledge.status = status
            db.session.flush()
    except IntegrityError as exc:
        db.session.refresh(pledge)
        raise RuleError(f"{pledge.local_authority.display_name} has just had a newer pledge submitted. "
                          "Review that one instead.") from exc
    decided = pledge.verified_at is None or pledge.review_note != note or status != previous
    pledge.review_note = note
    pledge.verified_by_id = actor.id
    pledge.verified_at = utcnow()
    record(actor, f"pledge.{status.value}", pledge,
           f"{status.value.capitalize()} the pledge of {pledge.local_authority.gss_code}", note=note)
    if decided:
        _tell_council(pledge, status, note)


def _tell_council(pledge: Pledge, status: PledgeStatus, note: str) -> int:
    """Tell the pledge's submitter and the council's members that it was verified or rejected."""
    council = pledge.local_authority
    audience = sa.select(User.id).where(sa.or_(User.id == pledge.submitted_by_id,
                                               User.local_authority_id == council.id))
    verified = status == PledgeStatus.VERIFIED
    return notifications.notify(
        audience, "pledge_decided",
        f"{council.display_name}'s pledge has been {'verified' if verified else 'rejected'}",
        "notify_pledge_decided", verified=verified, council=council.display_name, note=note,
        council_url=external_url("journey.council", gss_code=council.gss_code))


def pledged_by_region() -> list[dict]:
    """Verified pledges grouped by region, with counts (every region listed)."""
    regions = db.session.scalars(sa.select(Region).order_by(Region.name)).all()
    pledges = db.session.scalars(
        sa.select(Pledge).join(Pledge.local_authority).where(Pledge.status == PledgeStatus.VERIFIED)
        .order_by(LocalAuthority.name)
    ).all()
    totals = dict(db.session.execute(
        sa.select(LocalAuthority.region_id, sa.func.count()).group_by(LocalAuthority.region_id)).tuples().all())
    grouped: dict[int, list[Pledge]] = {r.id: [] for r in regions}
    for p in pledges:
        grouped[p.local_authority.region_id].append(p)
    return [{"region": r, "pledges": grouped[r.id], "councils": totals.get(r.id, 0)} for r in regions]


# A council page lists at most this many of its members (by name); the count is of them all.
MEMBERS_SHOWN = 50


def council_members(council: LocalAuthority, limit: int | None = None) -> tuple[Sequence[sa.Row], int]:
    """The first `limit` (MEMBERS_SHOWN) Network members from this council listed in the directory, by
    name, with the count of them all, in one statement (a window count is taken before the LIMIT):
    only the columns the council page shows, so its cost follows the page, not the council's size."""
    rows = db.session.execute(
        sa.select(User.id, User.name, User.member_type, User.job_title, sa.func.count().over().label("listed"))
        .where(User.local_authority_id == council.id, User.status == Status.ACTIVE,
               User.show_in_directory.is_(True), User.email_confirmed_at.is_not(None))
        .order_by(User.name, User.id).limit(limit or MEMBERS_SHOWN)
    ).all()
    return rows, rows[0].listed if rows else 0


def published_pledge(council: LocalAuthority) -> Pledge | None:
    """The council's pledge as the public sees it: only once staff have verified it."""
    pledge = live_pledge(council)
    return pledge if pledge is not None and pledge.status == PledgeStatus.VERIFIED else None


def council_page(council: LocalAuthority, viewer: User) -> dict:
    """What a council's page shows this viewer: its verified pledge, how many listed members it has,
    the first MEMBERS_SHOWN of them (only to confirmed members, like the directory) and whether the
    viewer may pledge."""
    signed_in = viewer.is_authenticated
    listed, count = council_members(council)
    shown = listed if signed_in and viewer.is_confirmed else []
    return {
        "pledge": published_pledge(council),
        "members": shown,
        "member_count": count,
        "more_members": count - len(shown) if shown else 0,  # listed beyond the first MEMBERS_SHOWN
        "can_pledge": signed_in and pledge_error(viewer, council) is None,
    }


def pledges_for_staff(status: str = ""):
    """Pledges for the staff queue, pending first."""
    stmt = sa.select(Pledge).options(joinedload(Pledge.submitted_by)).order_by(Pledge.status, Pledge.created_at.desc())
    if status in {s.value for s in PledgeStatus}:
        stmt = stmt.where(Pledge.status == PledgeStatus(status))
    return db.session.scalars(stmt).all()
