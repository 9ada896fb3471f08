"""Demo workshops: twelve across the regions, past and upcoming, some full with a waitlist."""
import random
from datetime import timedelta

import sqlalchemy as sa

from kil_network.auth.models import Role, Status, User
from kil_network.core.timeutil import LONDON, utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.workshops.models import (
    Registration,
    RegistrationEvent,
    RegistrationState,
    Workshop,
    WorkshopFormat,
    WorkshopStatus,
)

# (title, region name, format, venue, address, postcode, days from today, capacity, fill)
WORKSHOPS = [
    ("Commissioning for social value", "North East", "in_person", "Tyneside Community Hall",
     "12 Quayside Road, Newcastle upon Tyne", "NE1 3DX", -120, 30, 0.8),
    ("Keeping money in the local economy", "North West", "in_person", "Oldham Old Library", "Union Street, Oldham",
     "OL1 1DN", -90, 25, 1.0),
    ("Early intervention that saves money", "Yorkshire and The Humber", "hybrid", "Halifax Square Chapel",
     "Square Road, Halifax", "HX1 1QG", -60, 40, 0.7),
    ("Neighbourhood-level services", "London", "in_person", "Hackney Town Hall, Council Chamber", "Mare Street, London",
     "E8 1EA", -30, 35, 0.9),
    ("Co-designing the principles: online session", None, "online", "", "", "", -14, 100, 0.5),
    ("Moving beyond competitive tendering", "West Midlands", "in_person", "Digbeth Community Centre",
     "Bradford Street, Birmingham", "B12 0NS", 10, 20, 1.3),
    ("Whole-system thinking for commissioners", "South West", "hybrid", "Bristol Pierian Centre",
     "27 Portland Square, Bristol", "BS2 8SA", 17, 30, 0.6),
    ("Grants, not contracts?", "Wales", "in_person", "Cardiff Temple of Peace", "King Edward VII Avenue, Cardiff",
     "CF10 3AP", 24, 25, 1.2),
    ("Local charities and the procurement bill", "East Midlands", "online", "", "", "", 31, 80, 0.3),
    ("Building trust between councils and communities", "East of England", "in_person", "Norwich Community Hub",
     "Sackville Place, Norwich", "NR3 1JU", 45, 30, 0.2),
    ("Keep it Local in county areas", "South East", "in_person", "Maidstone Hall", "High Street, Maidstone", "ME14 1HJ",
     60, 30, 0.0),
    ("Draft: Keep it Local for health partnerships", "North West", "hybrid", "Liverpool Quaker Meeting House",
     "22 School Lane, Liverpool", "L1 3BT", 75, 40, 0.0),
]


def seed_workshops() -> int:
    """Create the demo workshops and registrations once."""
    if db.session.scalar(sa.select(sa.func.count(Workshop.id))):
        return 0
    rng = random.Random(2019)
    regions = {r.name: r for r in db.session.scalars(sa.select(Region))}
    members = db.session.scalars(
        sa.select(User).where(User.status == Status.ACTIVE, User.role == Role.MEMBER,
                              User.email_confirmed_at.is_not(None)).order_by(User.id)
    ).all()
    staff = db.session.scalar(sa.select(User).where(User.role == Role.ADMIN).order_by(User.id))
    today = utcnow().astimezone(LONDON).replace(hour=10, minute=0, second=0, microsecond=0)
    created = 0
    for i, (title, region, fmt, venue, address, postcode, days, capacity, fill) in enumerate(WORKSHOPS):
        starts = (today + timedelta(days=days)).replace(hour=10 if i % 2 else 14)
        draft = title.startswith("Draft: ")
        workshop = Workshop(
            title=title.removeprefix("Draft: "),
            description=("A half-day workshop for councillors, commissioners, council officers and community "
                         "organisations. We will share what is working locally, hear from a council that "
                         "has chosen to Keep it Local, and vote and comment on the draft principles."),
            region=regions.get(region) if region else None, format=WorkshopFormat(fmt), venue=venue, address=address,
            postcode=postcode, online_url="https://meet.example.org/kil-" + str(i + 1) if fmt != "in_person" else "",
            starts_at=starts, ends_at=starts + timedelta(hours=3),
            registration_closes_at=starts - timedelta(days=1), capacity=capacity,
            accessibility_info="Step-free access, hearing loop and a quiet room. Tell us about anything else you need.",
            mix_max_percent=50 if i == 7 else None,
            status=WorkshopStatus.DRAFT if draft else WorkshopStatus.PUBLISHED,
            published_at=None if draft else starts - timedelta(days=40), created_by_id=staff.id if staff else None,
            sequence=0, seat_version=0,
        )
        db.session.add(workshop)
        created += 1
        wanted = min(int(capacity * fill), len(members))
        people = rng.sample(members, wanted)
        for n, member in enumerate(people):
            state = RegistrationState.CONFIRMED if n < capacity else RegistrationState.WAITLISTED
            queued = starts - timedelta(days=30, minutes=-n)
            reg = Registration(workshop=workshop, user=member, member_type=member.member_type, state=state,
                               queued_at=queued, created_at=queued,
                               access_needs="Step-free access please" if n % 9 == 0 else "")
            if days < 0 and state == RegistrationState.CONFIRMED and rng.random() < 0.8:
                reg.checked_in_at = starts + timedelta(minutes=rng.randint(-20, 15))
                reg.checked_in_by_id = staff.id if staff else None
            action = "registered" if state == RegistrationState.CONFIRMED else "waitlisted"
            reg.events.append(RegistrationEvent(action=action,
                                                to_state=state.value, actor_id=member.id, created_at=queued))
            db.session.add(reg)
            created += 1
    db.session.flush()
    return created
