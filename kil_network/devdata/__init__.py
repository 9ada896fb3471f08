"""Development data: the demo data for `flask seed-demo` and the benchmark data for `flask seed-bulk`.

Not a runtime layer: nothing in an area imports it. Each area's demo data is a module here
(members, workshops, principles, evidence), added idempotently through the areas' own services
and models; `bulk.py` builds the large benchmark set with Core bulk inserts.
"""
from kil_network.devdata.evidence import seed_evidence
from kil_network.devdata.journey import seed_journey
from kil_network.devdata.members import DEMO_LOGINS, seed_members
from kil_network.devdata.principles import seed_principles
from kil_network.devdata.workshops import seed_workshops

__all__ = ["DEMO_LOGINS", "seed_demo"]


def seed_demo() -> int:
    """Load every area's demo data; returns how many records were added."""
    return seed_members() + seed_workshops() + seed_principles() + seed_evidence() + seed_journey()
