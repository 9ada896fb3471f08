"""Council-journey rows for the staff-side tests (staff pages, reminders, personal data, query counts):
an adopted round made through the principles services, and champions, assessments, reminders and
introductions written as the journey services leave them (with chosen dates, which the services
would stamp with today)."""
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from kil_network.core.timeutil import utcnow
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.journey.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentStatus,
    Champion,
    ChampionRole,
    CommunityConversation,
    CouncilEndorsement,
    CouncilInterest,
    PeerIntroduction,
)
from kil_network.members.models import LocalAuthority
from kil_network.principles import services as principles
from kil_network.principles.models import Round


def council(gss_code: str) -> LocalAuthority:
    """The council with this GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


def adopted_round(staff) -> Round:
    """A round of the six drafts, opened, closed and adopted through the principles services."""
    round_ = principles.create_round(staff, name="Adopted round", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(staff, round_)
    principles.close_round(staff, round_)
    principles.adopt_round(staff, round_)
    db.session.flush()
    return round_


def verified_pledge(la: LocalAuthority, staff, *, link: str = "https://example.org/cabinet-decision") -> Pledge:
    """A verified pledge with its endorsement link (the council is endorsed)."""
    pledge = Pledge(local_authority_id=la.id, signed_by=SignedBy.CABINET_DECISION, signatories="The cabinet",
                    pledged_on=date(2026, 3, 1), status=PledgeStatus.VERIFIED, verified_by_id=staff.id,
                    verified_at=utcnow())
    db.session.add(pledge)
    db.session.flush()
    if link:
        db.session.add(CouncilEndorsement(pledge_id=pledge.id, link_url=link))
    return pledge


def member_champion(la: LocalAuthority, user, role: ChampionRole = ChampionRole.CABINET) -> Champion:
    """A member champion who accepted."""
    champion = Champion(local_authority_id=la.id, role=role, user_id=user.id, invited_at=utcnow(),
                        accepted_at=utcnow())
    db.session.add(champion)
    db.session.flush()
    return champion


def named_champion(la: LocalAuthority, name: str, job_title: str = "Head of Procurement",
                   role: ChampionRole = ChampionRole.SENIOR_MANAGEMENT) -> Champion:
    """A named person (not a member): counts at once."""
    champion = Champion(local_authority_id=la.id, role=role, name=name, job_title=job_title)
    db.session.add(champion)
    db.session.flush()
    return champion


def assessment(la: LocalAuthority, round_: Round, *, year: int, status=AssessmentStatus.ACCEPTED,
               accepted_at: datetime | None = None, published: bool = True, level: int = 2,
               evidence: str = "We commissioned three local groups.") -> Assessment:
    """An assessment with an answer to each of the round's drafts."""
    now = utcnow()
    accepted = status == AssessmentStatus.ACCEPTED
    row = Assessment(local_authority_id=la.id, round_id=round_.id, year=year, status=status,
                     submitted_at=now if status != AssessmentStatus.DRAFT else None,
                     accepted_at=(accepted_at or now) if accepted else None,
                     published_at=(accepted_at or now) if accepted and published else None)
    db.session.add(row)
    db.session.flush()
    for draft in principles.drafts_of(round_):
        db.session.add(AssessmentAnswer(assessment_id=row.id, draft_id=draft.id, number=draft.number, level=level,
                                        evidence=evidence, action=f"Action on principle {draft.number}"))
    db.session.flush()
    return row


def conversation(la: LocalAuthority, *, held_on: date | None = None, summary: str = "A town hall meeting.") \
        -> CommunityConversation:
    """A recorded community conversation."""
    row = CommunityConversation(local_authority_id=la.id, title="Keeping it local in our town",
                                held_on=held_on or date.today() - timedelta(days=20), summary=summary)
    db.session.add(row)
    db.session.flush()
    return row


def interest(la: LocalAuthority, user, note: str = "We are working on it.") -> CouncilInterest:
    """A member's declared interest."""
    row = CouncilInterest(local_authority_id=la.id, user_id=user.id, note=note)
    db.session.add(row)
    db.session.flush()
    return row


def introduction(source: LocalAuthority, target: LocalAuthority, user, *, number: int = 2,
                 message: str = "How did you split the care contract?") -> PeerIntroduction:
    """A request to be introduced to a peer council's champion."""
    row = PeerIntroduction(requested_by_id=user.id, from_local_authority_id=source.id,
                           to_local_authority_id=target.id, principle_number=number, message=message)
    db.session.add(row)
    db.session.flush()
    return row
