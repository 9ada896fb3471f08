"""Demo data for `flask seed-demo`: each area adds its own, idempotently."""
from kil_network.evidence.demo import seed_evidence
from kil_network.members.demo import DEMO_LOGINS, seed_members
from kil_network.principles.demo import seed_principles
from kil_network.workshops.demo import seed_workshops

__all__ = ["DEMO_LOGINS", "seed_demo"]


def seed_demo() -> int:
    """Load every area's demo data; returns how many records were added."""
    return seed_members() + seed_workshops() + seed_principles() + seed_evidence()
