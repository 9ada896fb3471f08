"""Valid forms as a browser posts them, and the rows they need, for the tests of several areas."""
from datetime import date

import sqlalchemy as sa

from kil_network.core.timeutil import utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority, Region

NEXT_YEAR = utcnow().year + 1
BRISTOL, LEEDS, CARDIFF, HACKNEY = "E06000023", "E08000035", "W06000015", "E09000012"


def region_id(name: str) -> int:
    """A region's id by name."""
    return db.session.scalar(sa.select(Region.id).where(Region.name == name))


def la(gss: str) -> LocalAuthority:
    """A council by GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss))


def form_data(**overrides) -> dict:
    """A valid workshop form as a browser posts it (GOV.UK split date and time fields)."""
    data = {
        "title": "Commissioning locally in Bristol", "description": "Three hours on the principles.",
        "region": str(region_id("South West")), "format": "in_person", "venue": "M Shed",
        "address": "Princes Wharf, Bristol", "postcode": "bs1 4rn", "online_url": "",
        "starts_at-day": "15", "starts_at-month": "7", "starts_at-year": str(NEXT_YEAR), "starts_at-time": "18:30",
        "ends_at-day": "15", "ends_at-month": "7", "ends_at-year": str(NEXT_YEAR), "ends_at-time": "21:00",
        "registration_closes_at-day": "14", "registration_closes_at-month": "7",
        "registration_closes_at-year": str(NEXT_YEAR), "registration_closes_at-time": "12:00",
        "capacity": "30", "mix_max_percent": "", "accessibility_info": "Lift to all floors.",
    }
    data.update(overrides)
    return data


def pledge_form(**overrides) -> dict:
    """A valid pledge form."""
    data = {"signed_by": "leader_and_chief_executive",
            "signatories": "Cllr Jane Smith, Leader; Sam Jones, Chief Executive",
            "pledged_on-day": "27", "pledged_on-month": "3", "pledged_on-year": "2025",
            "champions": "Cllr Priya Patel"}
    data.update(overrides)
    return data


def make_pledge(user, gss=BRISTOL, status=PledgeStatus.PENDING, actor=None) -> Pledge:
    """A pledge through the service (verified or rejected by `actor` if asked), committed."""
    pledge = councils.submit_pledge(user, la(gss), signed_by=SignedBy.CABINET_DECISION,
                                    signatories="Cabinet decision 12/2025",
                                    pledged_on=date(2025, 2, 1), champions="Cllr Sam Jones")
    if status != PledgeStatus.PENDING:
        councils.review_pledge(actor, pledge, status)
    db.session.commit()
    return pledge
