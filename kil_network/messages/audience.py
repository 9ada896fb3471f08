"""A message's audience: members chosen by filters that combine (AND across filters, OR within one).

Filters (a dict, as `Message.audience` stores it; every key optional, an empty value means "any"):
`member_types` (values), `regions`, `councils`, `organisations` (ids), `workshops` (ids) with
`attendance` (registered / attended / waitlisted / no_show: at any of the chosen workshops),
`round` (id) with `voted` ("voted" or "not_voted"), `calls` (ids: submitted written evidence to
one). Everything is one SQL statement: subqueries (EXISTS), never a loop over members.

Who may receive at all: active, confirmed members only (never suspended, deleted or unconfirmed).
A campaign update goes only to those who consented to campaign emails and whose address is not
marked undeliverable; a service message goes regardless of that consent.
"""
from collections.abc import Mapping

import sqlalchemy as sa

from kil_network.auth.models import MemberType, Status, User
from kil_network.core.timeutil import format_london, utcnow
from kil_network.evidence.models import Call, Submission
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority, Organisation, Region
from kil_network.messages.models import MessageKind
from kil_network.principles.models import Draft, Round, Vote
from kil_network.workshops.models import Registration, RegistrationState, Workshop

ATTENDANCE = {"registered": "Registered (a confirmed place)", "attended": "Attended (checked in)",
              "waitlisted": "On the waitlist", "no_show": "No-show (a confirmed place, not checked in)"}
VOTED = {"voted": "Voted in the round", "not_voted": "Not yet voted in the round"}
ID_KEYS = ("regions", "councils", "organisations", "workshops", "calls")
MAX_CHOICES = 500  # per filter: far more than any form offers


def _ids(values) -> list[int]:
    """Positive database ids from a list (anything else dropped)."""
    out = []
    for v in values or []:
        try:
            n = int(v)
        except (TypeError, ValueError):
            continue
        if 0 < n < 2**31:
            out.append(n)
    return sorted(set(out))[:MAX_CHOICES]


def clean(raw: Mapping | None) -> dict:
    """The filters with only known keys and valid values (what is stored and queried)."""
    raw = raw or {}
    out: dict = {key: _ids(raw.get(key)) for key in ID_KEYS}
    types = {t.value for t in MemberType}
    out["member_types"] = sorted({str(v) for v in raw.get("member_types") or [] if str(v) in types})
    out["attendance"] = sorted({str(v) for v in raw.get("attendance") or [] if str(v) in ATTENDANCE})
    round_ids = _ids([raw.get("round")] if raw.get("round") not in (None, "") else [])
    out["round"] = round_ids[0] if round_ids else None
    out["voted"] = raw.get("voted") if raw.get("voted") in VOTED and out["round"] else ""
    return {k: v for k, v in out.items() if v}


def _attendance_condition(states: list[str]):
    """A registration in one of the chosen attendance states (OR)."""
    conditions = []
    if "registered" in states:
        conditions.append(Registration.state == RegistrationState.CONFIRMED)
    if "waitlisted" in states:
        conditions.append(Registration.state == RegistrationState.WAITLISTED)
    if "attended" in states:
        conditions.append(Registration.checked_in_at.is_not(None))
    if "no_show" in states:
        conditions.append(sa.and_(Registration.state == RegistrationState.CONFIRMED,
                                  Registration.checked_in_at.is_(None), Workshop.starts_at <= utcnow()))
    return sa.or_(*conditions)


def matching(filters: Mapping) -> list:
    """The WHERE conditions on User for these filters (eligibility and kind not included)."""
    f = clean(filters)
    where: list = []
    if f.get("member_types"):
        where.append(User.member_type.in_([MemberType(t) for t in f["member_types"]]))
    if f.get("regions"):
        where.append(User.region_id.in_(f["regions"]))
    if f.get("councils"):
        where.append(User.local_authority_id.in_(f["councils"]))
    if f.get("organisations"):
        where.append(User.organisation_id.in_(f["organisations"]))
    if f.get("workshops"):
        states = f.get("attendance") or ["registered"]
        where.append(sa.exists().where(
            Registration.user_id == User.id, Registration.workshop_id.in_(f["workshops"]),
            Workshop.id == Registration.workshop_id, _attendance_condition(states)))
    if f.get("round"):
        voted = sa.exists().where(Vote.user_id == User.id, Draft.id == Vote.draft_id, Draft.round_id == f["round"])
        where.append(~voted if f.get("voted") == "not_voted" else voted)
    if f.get("calls"):
        where.append(sa.exists().where(Submission.user_id == User.id, Submission.call_id.in_(f["calls"])))
    return where


def _eligible() -> list:
    """Who may receive any message: active and confirmed (never suspended, deleted or unconfirmed)."""
    return [User.status == Status.ACTIVE, User.email_confirmed_at.is_not(None), User.deleted_at.is_(None)]


def _kind_conditions(kind: MessageKind) -> list:
    """A campaign update: consented and deliverable. A service message: no further condition."""
    if MessageKind(kind) == MessageKind.CAMPAIGN:
        return [User.consent_marketing.is_(True), User.email_undeliverable_at.is_(None)]
    return []


def recipients_select(filters: Mapping, kind: MessageKind, *columns) -> sa.Select:
    """SELECT `columns` (default User.id) of the recipients, in id order."""
    cols = columns or (User.id,)
    return (sa.select(*cols).where(*_eligible(), *matching(filters), *_kind_conditions(kind))
            .order_by(User.id))


def recipient_ids(filters: Mapping, kind: MessageKind) -> list[int]:
    """The recipients' ids: one statement."""
    return list(db.session.scalars(recipients_select(filters, kind)))


def count(filters: Mapping, kind: MessageKind) -> tuple[int, int, int]:
    """(recipients, excluded for no consent, excluded as undeliverable): one statement.

    Only a campaign update excludes anyone; an undeliverable address without consent is counted
    once, as no consent."""
    campaign = MessageKind(kind) == MessageKind.CAMPAIGN
    consented = User.consent_marketing.is_(True)
    deliverable = User.email_undeliverable_at.is_(None)

    def total(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    if campaign:
        stmt = sa.select(total(sa.and_(consented, deliverable)), total(~consented),
                         total(sa.and_(consented, ~deliverable)))
    else:
        stmt = sa.select(sa.func.count(User.id), sa.literal(0), sa.literal(0))
    row = db.session.execute(stmt.where(*_eligible(), *matching(filters))).one()
    return int(row[0]), int(row[1]), int(row[2])


def options() -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices for each filter of the compose form (a few small statements)."""
    def pairs(stmt):
        return [(str(i), str(label)) for i, label in db.session.execute(stmt).all()]

    workshops = db.session.execute(sa.select(Workshop.id, Workshop.title, Workshop.starts_at)
                                   .order_by(Workshop.starts_at.desc()).limit(MAX_CHOICES)).all()
    return {
        "regions": pairs(sa.select(Region.id, Region.name).order_by(Region.name)),
        "councils": pairs(sa.select(LocalAuthority.id, LocalAuthority.name).order_by(LocalAuthority.name)),
        "organisations": pairs(sa.select(Organisation.id, Organisation.name).order_by(Organisation.name)
                               .limit(MAX_CHOICES)),
        "workshops": [(str(i), f"{title} ({format_london(at, '%-d %B %Y')})") for i, title, at in workshops],
        "rounds": pairs(sa.select(Round.id, Round.name).order_by(Round.id.desc())),
        "calls": pairs(sa.select(Call.id, Call.title).order_by(Call.id.desc())),
    }
