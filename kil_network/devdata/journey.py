"""Demo council journeys: councils at every stage, a peer at established or leading in each region,
one council with two published years, and the demo member as a councillor (and cabinet champion) of
a council with a verified pledge, so the journey can be walked from the endorsement to publishing.

The principles' demo data has no adopted round: rounds 1 and 2 are adopted here (round 1's wording
is what the older assessments answered, round 2's what an assessment started now answers).
"""
from datetime import date, timedelta

import sqlalchemy as sa

from kil_network.auth.models import MemberType, Role, User
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
)
from kil_network.members.models import LocalAuthority
from kil_network.principles.models import Draft, Round, RoundState
from kil_network.workshops.models import Workshop, WorkshopStatus

DEMO_MEMBER = "member@example.org"

# One peer per region, at established or leading on most principles (principle: level).
PEERS = {
    "Newcastle upon Tyne": {1: 3, 2: 4, 3: 3, 4: 3, 5: 4, 6: 3},
    "Wirral": {1: 4, 2: 3, 3: 3, 4: 4, 5: 3, 6: 2},
    "Calderdale": {1: 3, 2: 3, 3: 4, 4: 3, 5: 4, 6: 4},
    "Nottingham": {1: 3, 2: 4, 3: 2, 4: 4, 5: 3, 6: 3},
    "Birmingham": {1: 4, 2: 3, 3: 3, 4: 3, 5: 3, 6: 4},
    "Cambridge": {1: 3, 2: 3, 3: 4, 4: 2, 5: 4, 6: 3},
    "Hackney": {1: 4, 2: 4, 3: 3, 4: 4, 5: 4, 6: 3},
    "Brighton and Hove": {1: 3, 2: 4, 3: 4, 4: 3, 5: 3, 6: 3},
    "Bristol, City of": {1: 4, 2: 3, 3: 4, 4: 4, 5: 4, 6: 4},  # also re-assessed (two published years)
    "Cardiff": {1: 3, 2: 3, 3: 3, 4: 4, 5: 4, 6: 3},
}
BRISTOL_EARLIER = {1: 2, 2: 3, 3: 3, 4: 3, 5: 4, 6: 2}
EVIDENCE = {
    1: "Our health and care partnership commissions early help, housing support and mental health together, "
       "with one outcomes framework: https://example.org/{slug}/partnership",
    2: "Six neighbourhood teams bring council, health and voluntary sector workers into shared hubs, each with a "
       "local budget agreed with residents.",
    3: "{pct}% of our third-party spend now goes to suppliers based in the area, published quarterly: "
       "https://example.org/{slug}/local-spend",
    4: "A protected prevention fund pays for community organisations' early help; referrals to crisis services "
       "fell by a fifth in two years.",
    5: "Three-year grants for local organisations, a community asset transfer programme and a monthly forum with "
       "the voluntary sector.",
    6: "Community services under £250,000 go through a short grant process co-designed with local providers.",
}
ACTIONS = {
    1: "Extend the outcomes framework to children's services.",
    2: "Give every neighbourhood team a devolved budget.",
    3: "Ask our anchor partners to publish their local spend too.",
    4: "Move a further 2% of the acute budget into prevention.",
    5: "Co-design the next voluntary sector strategy with local organisations.",
    6: "Split the next large contract into local lots.",
}
CABINET = ["Cllr Aisha Khan", "Cllr Tom Roberts", "Cllr Maya Evans", "Cllr Imran Shah", "Cllr Lowri Jones"]
SENIOR = ["Director of Communities", "Head of Commissioning", "Assistant Chief Executive"]


def _council(name: str) -> LocalAuthority | None:
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.name == name))


def _verified_pledge(council: LocalAuthority, staff: User | None, now, index: int) -> Pledge:
    """The council's live pledge, verified (added when it has none)."""
    pledge = db.session.scalar(sa.select(Pledge).where(Pledge.local_authority_id == council.id,
                                                       Pledge.status != PledgeStatus.REJECTED))
    if pledge is None:
        pledge = Pledge(local_authority_id=council.id, signed_by=list(SignedBy)[index % 3],
                        signatories="Council leader and chief executive",
                        pledged_on=date(2024, 6, 1) + timedelta(days=index * 11),
                        champions="", status=PledgeStatus.PENDING)
        db.session.add(pledge)
    pledge.status = PledgeStatus.VERIFIED
    pledge.verified_by_id = staff.id if staff else None
    pledge.verified_at = pledge.verified_at or now
    db.session.flush()
    return pledge


def _endorse(pledge: Pledge, council: LocalAuthority, now) -> None:
    slug = council.gss_code.lower()
    db.session.add(CouncilEndorsement(pledge_id=pledge.id, updated_at=now,
                                      link_url=f"https://example.org/{slug}/cabinet/keep-it-local-decision"))


def _champions(council: LocalAuthority, now, index: int) -> None:
    db.session.add(Champion(local_authority_id=council.id, role=ChampionRole.CABINET,
                            name=CABINET[index % len(CABINET)], job_title="Cabinet member for communities",
                            created_at=now))
    db.session.add(Champion(local_authority_id=council.id, role=ChampionRole.SENIOR_MANAGEMENT,
                            name=f"{['Jo', 'Sam', 'Priya', 'Gareth'][index % 4]} "
                                 f"{['Hughes', 'Patel', 'Nwosu'][index % 3]}",
                            job_title=SENIOR[index % len(SENIOR)], created_at=now))


def _conversation(council: LocalAuthority, held_on: date) -> None:
    workshop = db.session.scalar(sa.select(Workshop).where(
        Workshop.region_id == council.region_id, Workshop.status == WorkshopStatus.PUBLISHED,
        Workshop.starts_at < utcnow()).order_by(Workshop.starts_at.desc()).limit(1))
    if workshop is not None:
        db.session.add(CommunityConversation(local_authority_id=council.id, workshop_id=workshop.id,
                                             title=workshop.title[:200], held_on=workshop.starts_at.date()))
    else:
        db.session.add(CommunityConversation(
            local_authority_id=council.id, title=f"Keep it Local {council.display_name}", held_on=held_on,
            summary="Residents, community organisations and council staff talked about which services should be "
                    "designed and run locally, and what gets in the way."))


def _assessment(council: LocalAuthority, round_: Round, year: int, levels: dict[int, int], *,
                status=AssessmentStatus.ACCEPTED, accepted_days_ago: int | None = None, published: bool = True,
                staff: User | None = None, comments: str = "") -> Assessment:
    now = utcnow()
    drafts = db.session.scalars(sa.select(Draft).where(Draft.round_id == round_.id).order_by(Draft.number)).all()
    slug = council.gss_code.lower()
    accepted_at = now - timedelta(days=accepted_days_ago) if accepted_days_ago is not None else None
    a = Assessment(
        local_authority_id=council.id, round_id=round_.id, year=year, status=status,
        created_at=(accepted_at or now) - timedelta(days=30), updated_at=accepted_at or now,
        submitted_at=(accepted_at or now) - timedelta(days=7) if status != AssessmentStatus.DRAFT else None,
        reviewed_by_id=staff.id if staff and accepted_at else None, reviewed_at=accepted_at,
        review_comments=comments, accepted_at=accepted_at if status == AssessmentStatus.ACCEPTED else None,
        published_at=(accepted_at + timedelta(days=3)) if published and accepted_at else None,
        answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=levels.get(d.number),
                                  evidence=EVIDENCE[d.number].format(slug=slug, pct=20 + 5 * levels.get(d.number, 1)),
                                  action=ACTIONS[d.number]) for d in drafts])
    db.session.add(a)
    return a


def _adopt_rounds() -> tuple[Round, Round] | None:
    """Rounds 1 and 2 adopted (when the principles' demo data has no adopted round)."""
    closed = db.session.scalars(sa.select(Round).where(Round.state == RoundState.CLOSED).order_by(Round.id)).all()
    if not closed:
        return None
    first, second = closed[0], closed[-1]
    for round_ in (first, second):
        if round_.adopted_at is None:
            round_.adopted_at = round_.closes_at or utcnow()
    db.session.flush()
    return first, second


def seed_journey() -> int:
    """Councils at each stage of the journey, once."""
    if db.session.scalar(sa.select(sa.func.count(Assessment.id))) or db.session.scalar(
            sa.select(sa.func.count(Champion.id))):
        return 0
    adopted = _adopt_rounds()
    if adopted is None:
        return 0
    old_round, new_round = adopted
    staff = db.session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
    now = utcnow()
    this_year = now.year
    created = 2

    # Peers: every stage up to assessed, a published assessment last year (Bristol also the year before).
    for index, (name, levels) in enumerate(PEERS.items()):
        council = _council(name)
        if council is None:
            continue
        pledge = _verified_pledge(council, staff, now, index)
        _endorse(pledge, council, now)
        _champions(council, now, index)
        _conversation(council, date(this_year - 1, 3, 1) + timedelta(days=index * 7))
        # Accepted 200 to 380 days ago: some councils' re-assessment is due, one is overdue.
        days = {0: 370, 1: 340}.get(index, 200 + index * 10)
        if name.startswith("Bristol"):
            _assessment(council, old_round, this_year - 2, BRISTOL_EARLIER, accepted_days_ago=days + 365,
                        staff=staff)
            days = 340
        _assessment(council, new_round, this_year - 1, levels,
                    accepted_days_ago=days, staff=staff, comments="Thank you: clear evidence throughout.")
        created += 6

    # Councils at the earlier stages.
    stages = [("Leeds", "interest"), ("Lewisham", "pledge"), ("South Gloucestershire", "pledge"),
              ("Rotherham", "endorsed"), ("Oldham", "champions"), ("Kirklees", "submitted")]
    for index, (name, stage) in enumerate(stages, start=len(PEERS)):
        council = _council(name)
        if council is None:
            continue
        db.session.add(CouncilInterest(local_authority_id=council.id, note="We are preparing a cabinet report.",
                                       created_at=now - timedelta(days=60)))
        created += 1
        if stage == "interest":
            continue
        pledge = _verified_pledge(council, staff, now, index)
        if stage == "pledge":
            continue
        _endorse(pledge, council, now)
        if stage == "endorsed":
            continue
        _champions(council, now, index)
        if stage == "champions":
            continue
        _conversation(council, now.date() - timedelta(days=40))
        _assessment(council, new_round, this_year, {1: 2, 2: 3, 3: 1, 4: 2, 5: 3, 6: 2},
                    status=AssessmentStatus.SUBMITTED, published=False)
        created += 4

    # The demo member: a councillor and the cabinet champion of their council, whose pledge is verified.
    member = db.session.scalar(sa.select(User).where(User.email == DEMO_MEMBER))
    if member is not None and member.local_authority_id is not None:
        council = db.session.get_one(LocalAuthority, member.local_authority_id)
        member.member_type = MemberType.COUNCILLOR
        member.job_title = "Cabinet member for communities"
        _verified_pledge(council, staff, now, 0)
        db.session.add(CouncilInterest(local_authority_id=council.id, user_id=member.id,
                                       note="Our cabinet endorsed the principles in the spring."))
        db.session.add(Champion(local_authority_id=council.id, role=ChampionRole.CABINET, user_id=member.id,
                                appointed_by_id=member.id, invited_at=now - timedelta(days=20),
                                accepted_at=now - timedelta(days=19)))
        created += 3
    db.session.flush()
    return created
