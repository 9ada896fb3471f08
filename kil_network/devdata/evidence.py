"""Demo calls for evidence (one closed, one open) with survey responses and written evidence;
demo pledges from the councils named as early signatories in campaign material."""
import random
from datetime import date, timedelta

import sqlalchemy as sa

from kil_network.auth.models import MemberType, Role, User
from kil_network.core.timeutil import utcnow
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.evidence import survey
from kil_network.evidence.models import (
    Call,
    Publication,
    ReviewStatus,
    Submission,
    SubmissionTag,
    SubmissionTopic,
    SurveyResponse,
)
from kil_network.evidence.services import new_reference
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority, Region
from kil_network.principles.models import Principle

PLEDGED = ["Bristol, City of", "Bradford", "Calderdale", "Hackney", "Kirklees", "Lewisham",
           "Newcastle upon Tyne", "Oldham", "Rotherham", "South Gloucestershire", "Wirral"]
EVIDENCE = [
    ("scale_fail",
     "Our borough's integrated wellbeing contract went to a national provider. Referrals to local groups fell by a "
     "third in the first year, and the subcontracts offered were too small to cover our costs."),
    ("community_role",
     "Our advice centre has run the same drop-in for 25 years. People come to us because they know us; our evaluation "
     "shows 70% of clients avoid a crisis within a year."),
    ("doing_differently",
     "The council replaced a five-year tender with a three-year grant programme co-designed with residents. Twenty "
     "local groups now deliver what one contractor did before."),
    ("trends",
     "Commissioners are under pressure to aggregate contracts to save procurement costs, but the savings are lost in "
     "contract management and failure demand."),
]


def seed_evidence() -> int:
    """Calls, responses, submissions and pledges, once."""
    if db.session.scalar(sa.select(sa.func.count(Call.id))):
        return 0
    rng = random.Random(2018)
    now = utcnow()
    closed = Call(title="Keep it Local: call for evidence 2018",
                  introduction="We want to hear the latest thinking and practice shaping public services, to build an "
                               "accurate picture of today's public service landscape.",
                  asks="A short survey for community organisations, commissioners and councillors, and written "
                       "evidence from anyone involved in designing, commissioning or delivering services.",
                  opens_at=now - timedelta(days=200), survey_closes_at=now - timedelta(days=130),
                  written_closes_at=now - timedelta(days=116))
    current = Call(title="Commissioning after the Procurement Act: call for evidence",
                   introduction="The new procurement rules give councils more room to commission locally. Tell us "
                                "whether that is happening where you are.",
                   asks="Take the survey and send us examples, good and bad.",
                   opens_at=now - timedelta(days=10), survey_closes_at=now + timedelta(days=30),
                   written_closes_at=now + timedelta(days=44))
    db.session.add_all([closed, current])
    db.session.flush()
    regions = db.session.scalars(sa.select(Region.id)).all()
    created = 2
    for call, n in ((closed, 40), (current, 12)):
        for _ in range(n):
            answers: dict = {"delivers": rng.choice(["yes", "no"])}  # JSON: text, lists for checkboxes
            if answers["delivers"] == "no":
                answers["delivered_before"] = rng.choice(["yes", "no"])
                if answers["delivered_before"] == "no":
                    answers["would_like"] = "yes"
            answers["council_role"] = rng.choice(["neither", "neither", "commissioning", "councillor"])
            for q in survey.visible(answers):
                if q.id in answers:
                    continue
                if q.kind == "radio":
                    answers[q.id] = rng.choice(q.options)[0]
                elif q.kind == "checkbox":
                    answers[q.id] = rng.sample([v for v, _ in q.options if v != "none"], rng.randint(1, 3))
                elif q.kind == "select":
                    answers[q.id] = str(rng.choice(regions))
                else:
                    answers[q.id] = rng.choice(["More grants and fewer tenders.", "Longer contracts.",
                                                "Commissioners who know the area.", ""]) or "Simpler forms."
            db.session.add(SurveyResponse(call_id=call.id, status="submitted", reference=new_reference("S"),
                                          answers=answers, respondent_type=survey.respondent_type(answers),
                                          region_id=int(answers["region"]),
                                          submitted_at=call.opens_at + timedelta(days=rng.randint(1, 40))))
            created += 1
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    councils = db.session.scalars(sa.select(LocalAuthority).order_by(LocalAuthority.gss_code)).all()
    for i in range(14):
        topic, text = EVIDENCE[i % len(EVIDENCE)]
        publication = [Publication.NAMED, Publication.ANONYMOUS, Publication.PRIVATE][i % 3]
        s = Submission(call_id=closed.id if i < 10 else current.id, reference=new_reference("E"),
                       name=f"Demo Respondent {i + 1}", email=f"respondent{i + 1}@example.org",
                       organisation=["Riverside Community Trust", "Centre for Local Futures",
                                     "Eastgate Advice Partnership", ""][i % 4],
                       respondent_type=[MemberType.COMMUNITY_ORGANISATION, MemberType.THINK_TANK,
                                        MemberType.COUNCIL_OFFICER, MemberType.ACADEMIC][i % 4],
                       local_authority=rng.choice(councils), text=text, publication=publication,
                       status=[ReviewStatus.REVIEWED, ReviewStatus.FEATURED, ReviewStatus.NEW][i % 3],
                       topic_rows=[SubmissionTopic(topic=topic)]
                           + ([SubmissionTopic(topic="trends")] if topic != "trends" and i % 2 else []),
                       tag_rows=[SubmissionTag(tag=t) for t in (["case study"] if i % 2 else ["data", "procurement"])],
                       created_at=closed.opens_at + timedelta(days=i * 5))
        s.principles = [principles[i % 6], principles[(i + 2) % 6]] if s.status != ReviewStatus.NEW else []
        s.published_at = s.created_at + timedelta(days=2) if s.is_published else None
        db.session.add(s)
        created += 1
    staff = db.session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
    for i, name in enumerate(PLEDGED):
        council = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.name == name))
        if council is None:
            continue
        db.session.add(Pledge(local_authority_id=council.id, signed_by=list(SignedBy)[i % 3],
                              signatories="Council leader and chief executive",
                              pledged_on=date(2020, 3, 1) + timedelta(days=i * 9),
                              champions="Cabinet member for communities\nHead of commissioning",
                              status=PledgeStatus.VERIFIED, verified_by_id=staff.id if staff else None,
                              verified_at=now))
        created += 1
    db.session.flush()
    return created
