"""Demo principles: two closed rounds and an open third that lead to the published wording."""
import csv
import random
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from kil_network.auth.models import Role, Status, User
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles.models import (
    Draft,
    Eligibility,
    Endorsement,
    Moderation,
    Principle,
    ResponseStatus,
    Round,
    RoundState,
    Stance,
    Suggestion,
    Vote,
)
from kil_network.principles.tallies import rebuild_tallies
from kil_network.workshops.models import Workshop

DATA = Path(__file__).resolve().parents[1] / "data" / "principles.csv"

ROUND_1 = [
    "Look at services as a whole system",
    "Organise services around neighbourhoods",
    "Spend locally where possible",
    "Invest in prevention",
    "Support local organisations",
    "Make commissioning simpler",
]
ROUND_2 = [
    "Think about the whole system, not service silos",
    "Coordinate services at neighbourhood level",
    "Increase local spend to invest in the local economy",
    "Focus on early intervention to save costs later",
    "Commit to your community and support local organisations",
    "Commission services simply and collaboratively",
]
EXPLAIN = [
    "Outcomes for people depend on many services working together, so commission across the whole system rather than "
    "service by service.",
    "People live in neighbourhoods, not in service lines: bring services together where people are.",
    "Every pound spent with a local organisation goes round the local economy again.",
    "Preventing a crisis costs less than responding to one; fund the early help that community organisations give.",
    "Be on the side of your local voluntary and community sector, and help it to grow.",
    "Proportionate, collaborative processes let local organisations take part, so services are local by default.",
]
COMMENTS = ["This matches what we see in our area.", "Needs to say more about small charities.",
            "The wording is too vague for commissioners to act on.", "Strongly agree.",
            "Procurement rules make this hard in practice.", ""]


def seed_principles() -> int:
    """Three rounds with drafts, votes, suggestions and responses, once."""
    if db.session.scalar(sa.select(sa.func.count(Round.id))):
        return 0
    rng = random.Random(2020)
    with open(DATA, encoding="utf-8") as rows:
        final = [row["text"] for row in csv.DictReader(rows)]
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    members = db.session.scalars(
        sa.select(User).where(User.status == Status.ACTIVE, User.role == Role.MEMBER,
                              User.email_confirmed_at.is_not(None)).order_by(User.id)).all()
    staff = db.session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
    now = utcnow()
    rounds_spec = [
        ("Round 1: first drafts", ROUND_1, now - timedelta(days=150), now - timedelta(days=100), RoundState.CLOSED,
         (0.55, 0.30, 0.15)),
        ("Round 2: revised drafts", ROUND_2, now - timedelta(days=80), now - timedelta(days=10), RoundState.CLOSED,
         (0.65, 0.27, 0.08)),
        ("Round 3: final wording", final, now - timedelta(days=5), now + timedelta(days=40), RoundState.OPEN,
         (0.78, 0.18, 0.04)),
    ]
    created, previous = 0, None
    workshops = db.session.scalars(sa.select(Workshop).order_by(Workshop.starts_at)).all()
    for index, (name, titles, opens, closes, state, weights) in enumerate(rounds_spec):
        round_ = Round(name=name, opens_at=opens, closes_at=closes, state=state, eligibility=Eligibility.MEMBERS,
                       previous_round_id=previous.id if previous else None,
                       introduction="Tell us whether each draft principle works for your council or organisation.")
        db.session.add(round_)
        db.session.flush()
        drafts = []
        for p, title, explain in zip(principles, titles, EXPLAIN, strict=True):  # six of each
            changed = "" if index == 0 else "Reworded after the suggestions from the last round."
            draft = Draft(round_id=round_.id, principle_id=p.id, number=p.number, title=title,
                          text=f"{title}. {explain}" if index else f"{title}.", what_changed=changed)
            db.session.add(draft)
            drafts.append(draft)
        db.session.flush()
        # Workshops feed rounds in date order: the earliest third to round 1, and so on.
        for w in workshops[index * len(workshops) // 3:(index + 1) * len(workshops) // 3]:
            w.round_id = round_.id
        round_workshops = [w.id for w in workshops if w.round_id == round_.id and w.starts_at < now]
        voters = rng.sample(members, int(len(members) * (0.8 if index < 2 else 0.5)))
        for draft in drafts:
            for member in voters:
                stance = rng.choices([Stance.SUPPORT, Stance.AMEND, Stance.OPPOSE], weights=weights)[0]
                comment = rng.choice(COMMENTS)  # (the random draws in the order they always were)
                at_workshop = round_workshops and rng.random() < 0.6
                # Moderation: a closed round's comments were all checked; the open round's one in three waits.
                checked = state == RoundState.CLOSED or created % 3
                db.session.add(Vote(draft_id=draft.id, user_id=member.id, stance=stance,
                                    comment=comment, member_type=member.member_type,
                                    comment_status=Moderation.APPROVED if checked else Moderation.PENDING,
                                    comment_moderated_by_id=staff.id if staff and checked else None,
                                    comment_moderated_at=opens + timedelta(days=2) if checked else None,
                                    region_id=member.region_id,
                                    workshop_id=rng.choice(round_workshops) if at_workshop else None,
                                    created_at=opens + timedelta(days=1), updated_at=opens + timedelta(days=1)))
                created += 1
            for n in range(2):
                author = rng.choice(voters)
                suggestion = Suggestion(draft_id=draft.id, user_id=author.id,
                                        text=f"{draft.title}, with "
                                             f"{rng.choice(['small charities', 'residents', 'social enterprises'])} "
                                             "named explicitly",
                                        reason="So that commissioners know who we mean.",
                                        endorsement_count=0, created_at=opens + timedelta(days=2))
                # The open round's second suggestion on each draft awaits moderation (so, no endorsements).
                published = state == RoundState.CLOSED or n == 0
                suggestion.moderation = Moderation.APPROVED if published else Moderation.PENDING
                if published:
                    suggestion.moderated_by_id, suggestion.moderated_at = (staff.id if staff else None,
                                                                           opens + timedelta(days=3))
                db.session.add(suggestion)
                db.session.flush()
                backers = rng.sample([m for m in voters if m.id != author.id], rng.randint(0, 6))
                backers = backers if published else []
                for backer in backers:
                    db.session.add(Endorsement(suggestion_id=suggestion.id, user_id=backer.id))
                suggestion.endorsement_count = len(backers)
                if state == RoundState.CLOSED:
                    suggestion.response_status = [ResponseStatus.ACCEPTED, ResponseStatus.PARTLY,
                                                  ResponseStatus.NOT_TAKEN][(draft.number + n) % 3]
                    suggestion.response_text = ("We discussed this at the workshops and reflected it in the next draft "
                                                "where the group agreed.")
                    suggestion.responded_by_id = staff.id if staff else None
                    suggestion.responded_at = closes
                created += 1
        db.session.flush()
        rebuild_tallies([d.id for d in drafts])
        previous = round_
        created += 1
    db.session.flush()
    return created
