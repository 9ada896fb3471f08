"""The council journey in a member's data export and account deletion (see kil_network/core/personal_data.py).

A member's champion roles, the interest they declared for their council and the introductions
they asked for are theirs. Deleting the account keeps each role on the council's record as a
"former champion" (no user, no name, no job title, `erased_at` set) and the interest and
introduction requests with nobody behind them: the council's journey does not go back a stage
because someone left, but nothing says who they were.
"""
import sqlalchemy as sa
from sqlalchemy.orm import aliased

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.journey.models import Champion, CouncilInterest, PeerIntroduction
from kil_network.members.models import LocalAuthority


def _iso(value):
    """ISO 8601 text for a date or datetime, or None."""
    return value.isoformat() if value else None


def export_champion_roles(user) -> list:
    """Each champion role the member was invited to or holds, with its council and dates."""
    rows = db.session.execute(
        sa.select(Champion, LocalAuthority).join(LocalAuthority, LocalAuthority.id == Champion.local_authority_id)
        .where(Champion.user_id == user.id).order_by(Champion.created_at, Champion.id)).all()
    return [{"council": council.display_name, "gss_code": council.gss_code, "role": champion.role.label,
             "name": champion.name, "job_title": champion.job_title, "invited_at": _iso(champion.invited_at),
             "accepted_at": _iso(champion.accepted_at), "ended_at": _iso(champion.ended_at),
             "recorded_at": _iso(champion.created_at)}
            for champion, council in rows]


def export_interests(user) -> list:
    """Each time the member said their council is working towards Keep it Local."""
    rows = db.session.execute(
        sa.select(CouncilInterest, LocalAuthority)
        .join(LocalAuthority, LocalAuthority.id == CouncilInterest.local_authority_id)
        .where(CouncilInterest.user_id == user.id).order_by(CouncilInterest.created_at)).all()
    return [{"council": council.display_name, "gss_code": council.gss_code, "note": interest.note,
             "at": _iso(interest.created_at)} for interest, council in rows]


def export_introductions(user) -> list:
    """Each introduction to a peer council the member asked the campaign for, and whether it was made."""
    source, target = aliased(LocalAuthority), aliased(LocalAuthority)
    rows = db.session.execute(
        sa.select(PeerIntroduction, source, target)
        .join(source, source.id == PeerIntroduction.from_local_authority_id)
        .join(target, target.id == PeerIntroduction.to_local_authority_id)
        .where(PeerIntroduction.requested_by_id == user.id).order_by(PeerIntroduction.created_at)).all()
    return [{"from_council": here.display_name, "to_council": there.display_name,
             "principle": intro.principle_number, "message": intro.message, "asked_at": _iso(intro.created_at),
             "introduced_at": _iso(intro.handled_at)} for intro, here, there in rows]


def erase_journey(user) -> None:
    """The member's champion roles become former champions; their interest and introduction
    requests stay without them."""
    now = utcnow()
    db.session.execute(
        sa.update(Champion).where(Champion.user_id == user.id, Champion.ended_at.is_(None)).values(ended_at=now))
    db.session.execute(
        sa.update(Champion).where(Champion.user_id == user.id)
        .values(user_id=None, name="", job_title="", erased_at=now))
    db.session.execute(sa.update(CouncilInterest).where(CouncilInterest.user_id == user.id).values(user_id=None))
    db.session.execute(
        sa.update(PeerIntroduction).where(PeerIntroduction.requested_by_id == user.id).values(requested_by_id=None))
