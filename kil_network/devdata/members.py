"""Demo members: about 60 fictional people across member types and regions."""
import random

import sqlalchemy as sa

from kil_network.auth.models import MemberType, Role, User
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority
from kil_network.members.services import create_member

FIRST = ["Aisha", "Ben", "Catrin", "Dev", "Ellie", "Femi", "Gareth", "Hannah", "Imran", "Jess",
         "Kwame", "Lowri", "Maya", "Niall", "Olu", "Priya", "Rhys", "Sana", "Tom", "Una",
         "Vikram", "Wendy", "Yusuf", "Zoe", "Amir", "Bethan", "Chloe", "Dafydd", "Esther", "Farah"]
LAST = ["Ahmed", "Bennett", "Clarke", "Davies", "Evans", "Fletcher", "Green", "Hughes", "Iqbal",
        "Jones", "Khan", "Lewis", "Morgan", "Nwosu", "O'Brien", "Patel", "Quinn", "Roberts",
        "Shah", "Thomas", "Usman", "Walker", "Williams", "Young"]
ORGS = ["Riverside Community Trust", "Northside Neighbourhood Action", "Valleys Family Centre",
        "Eastgate Advice Partnership", "Harbour Youth Project", "Greenway Wellbeing Co-op",
        "St Mark's Community Hub", "Moorland Carers Network", "Canal Street Food Alliance",
        "Old Mill Development Trust", "Hillside Mental Health Collective", "Ashfield Older People's Forum"]
THINK_TANKS = ["Centre for Local Futures", "New Commissioning Institute"]
UNIVERSITIES = ["University of Northam, Institute for Public Services", "Wessex Policy Lab"]
JOBS = {
    MemberType.COUNCILLOR: ["Cabinet member for communities", "Ward councillor", "Leader of the council"],
    MemberType.COMMISSIONER: ["Head of commissioning", "Procurement manager", "Senior commissioner, adult social care"],
    MemberType.COUNCIL_OFFICER: ["Community development officer", "Policy officer", "Social value lead"],
    MemberType.COMMUNITY_ORGANISATION: ["Chief executive", "Director", "Services manager", "Chair of trustees"],
    MemberType.THINK_TANK: ["Senior researcher", "Head of policy"],
    MemberType.ACADEMIC: ["Lecturer in public policy", "Research fellow"],
    MemberType.OTHER: ["Community activist", "Consultant"],
}
TYPE_WEIGHTS = [
    (MemberType.COUNCILLOR, 12), (MemberType.COMMISSIONER, 10), (MemberType.COUNCIL_OFFICER, 8),
    (MemberType.COMMUNITY_ORGANISATION, 22), (MemberType.THINK_TANK, 3), (MemberType.ACADEMIC, 3),
    (MemberType.OTHER, 2),
]
DEMO_PASSWORD = "keep-it-local-member"
STAFF_PASSWORD = "keep-it-local-staff"
DEMO_LOGINS = {
    "staff (admin)": ("staff@example.org", STAFF_PASSWORD),
    "member": ("member@example.org", DEMO_PASSWORD),
}


def seed_members() -> int:
    """Create the demo staff, demo member and about 60 fictional members, once."""
    if db.session.scalar(sa.select(User.id).where(User.email == "staff@example.org")):
        return 0
    rng = random.Random(2018)
    councils = db.session.scalars(sa.select(LocalAuthority).order_by(LocalAuthority.gss_code)).all()
    # Spread members over every region: pick councils round-robin by region.
    by_region: dict[int, list[LocalAuthority]] = {}
    for la in councils:
        by_region.setdefault(la.region_id, []).append(la)
    region_ids = sorted(by_region)
    create_member(
        name="Sam Organiser", email="staff@example.org", password=STAFF_PASSWORD,
        member_type=MemberType.OTHER, local_authority=by_region[region_ids[0]][0],
        job_title="Network coordinator", consent_privacy=True, role=Role.ADMIN, confirmed=True,
        source="demo",
    )
    create_member(
        name="Morgan Member", email="member@example.org", password=DEMO_PASSWORD,
        member_type=MemberType.COMMUNITY_ORGANISATION, organisation_name=ORGS[0],
        local_authority=by_region[region_ids[1]][0], job_title="Chief executive",
        consent_privacy=True, consent_marketing=True, show_in_directory=True, confirmed=True,
        source="demo",
    )
    created = 2
    types = [t for t, weight in TYPE_WEIGHTS for _ in range(weight)]
    for i, mtype in enumerate(types):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        council = rng.choice(by_region[region_ids[i % len(region_ids)]])
        org = ""
        if mtype == MemberType.COMMUNITY_ORGANISATION:
            org = rng.choice(ORGS)
        elif mtype == MemberType.THINK_TANK:
            org = rng.choice(THINK_TANKS)
        elif mtype == MemberType.ACADEMIC:
            org = rng.choice(UNIVERSITIES)
        create_member(
            name=f"{first} {last}", email=f"{first}.{last}.{i}@example.org".lower().replace("'", ""),
            password=DEMO_PASSWORD, member_type=mtype, organisation_name=org,
            local_authority=council, job_title=rng.choice(JOBS[mtype]),
            involvement=rng.choice(["", "Happy to host a workshop.", "Interested in social value.",
                                    "Want to learn from other councils."]),
            consent_privacy=True, consent_marketing=rng.random() < 0.6,
            show_in_directory=rng.random() < 0.85, confirmed=rng.random() < 0.95, source="demo",
        )
        created += 1
    return created
