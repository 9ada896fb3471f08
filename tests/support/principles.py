"""Principles scenes for browser tests: a round of six drafts open for votes, a principle's card."""
import re
from datetime import timedelta

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import services as principles
from kil_network.workshops.models import Workshop, WorkshopFormat, WorkshopStatus

ROUND_1 = {
    1: ("Think about the whole system",
        "Councils should look at the whole system wherever possible, not at services one by one."),
    2: ("Coordinate services locally", "Services should be coordinated at the neighbourhood level."),
    3: ("Spend locally", "Increase the share of spending that stays in the local economy."),
    4: ("Intervene early", "Focus on early intervention now to save costs tomorrow."),
    5: ("Commission for social value", "Commission for social value, not only price."),
    6: ("Share power with communities", "Share power with communities in designing services."),
}


def set_wording(staff, round_, wording: dict) -> None:
    """Give a draft round's six drafts their titles and texts (through the service)."""
    drafts = {d.number: d.id for d in principles.drafts_of(round_)}
    principles.update_round(staff, round_, name=round_.name, introduction=round_.introduction,
                            opens_at=round_.opens_at, closes_at=round_.closes_at, eligibility=round_.eligibility,
                            drafts={drafts[n]: {"title": t, "text": x, "what_changed": ""}
                                        for n, (t, x) in wording.items()})


def open_round(staff, name: str = "Round 1: first drafts", wording=ROUND_1):
    """A round of six drafts, open for votes for a week."""
    round_ = principles.create_round(staff, name=name, introduction="Tell us what you think of each draft.",
                                     closes_at=utcnow() + timedelta(days=7))
    set_wording(staff, round_, wording)
    principles.open_round_for_votes(staff, round_)
    db.session.commit()
    return round_


def live_workshop(round_, *, started_minutes_ago: int = 60, hours: int = 2, capacity: int = 50, **overrides):
    """A published in-person workshop happening now that feeds `round_`, live voting open (committed)."""
    starts = (utcnow() - timedelta(minutes=started_minutes_ago)).replace(microsecond=0)
    fields = {"title": "Leeds principles workshop", "venue": "Leeds Civic Hall", "postcode": "LS1 1UR", **overrides}
    workshop = Workshop(format=WorkshopFormat.IN_PERSON, starts_at=starts, ends_at=starts + timedelta(hours=hours),
                        registration_closes_at=starts - timedelta(days=1), capacity=capacity,
                        status=WorkshopStatus.PUBLISHED, round_id=round_.id, live_voting=True, **fields)
    db.session.add(workshop)
    db.session.commit()
    return workshop


def card(page, number: int):
    """The card of principle `number` on /principles/."""
    return page.locator("li.principle-card",
                        has=page.get_by_role("heading", name=re.compile(rf"^Principle {number}\b")))
