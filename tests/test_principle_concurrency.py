"""Exact tallies under concurrency on PostgreSQL: many members voting and changing votes at once.

Each thread has its own app context (so its own session and connection) and all are released
together by a barrier. Afterwards every tally row must equal a GROUP BY recount of the votes
table, and there must be exactly one vote per member per draft.
"""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth.models import User
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import services
from kil_network.principles.models import Draft, Stance, Vote, VoteTally
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat, WorkshopStatus
from tests.support.app import make_app

MEMBERS = 40
SAME_MEMBER_CHANGES = 8
THREADS_MAX = 60  # connections in the threads' pool: every job holds one while it waits at the barrier
STANCES = [Stance.SUPPORT, Stance.AMEND, Stance.OPPOSE]
TYPES = ["councillor", "commissioner", "community_organisation", "academic"]
CODES = ["E06000023", "E08000035", "W06000015", None]

RECOUNT = {
    "all": "SELECT draft_id, '', stance, COUNT(*) FROM votes GROUP BY draft_id, stance",
    "type": "SELECT draft_id, member_type, stance, COUNT(*) FROM votes GROUP BY draft_id, member_type, stance",
    "region": "SELECT draft_id, region_id, stance, COUNT(*) FROM votes WHERE region_id IS NOT NULL "
              "GROUP BY draft_id, region_id, stance",
    "workshop": "SELECT draft_id, workshop_id, stance, COUNT(*) FROM votes WHERE workshop_id IS NOT NULL "
                "GROUP BY draft_id, workshop_id, stance",
}


@pytest.fixture(autouse=True)
def postgresql_only(app):
    """These tests are about PostgreSQL's row locks and unique indexes under real concurrency."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proved on PostgreSQL (set TEST_DATABASE_URL)")


@pytest.fixture
def thread_app(app, database_url):
    """A second app on the same database with a pool big enough for every thread at once."""
    other = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS_MAX, "max_overflow": 0,
                                                              "pool_timeout": 60})
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def scene(app, make_user):
    """An open round, a live workshop linked to it, and MEMBERS confirmed members of mixed types and regions."""
    staff = make_user(email="staff@example.org", role="staff")
    round_ = services.create_round(staff, name="Busy round", closes_at=utcnow() + timedelta(days=3))
    services.open_round_for_votes(staff, round_)
    starts = utcnow() - timedelta(hours=1)
    workshop = Workshop(title="Crowded room", format=WorkshopFormat.IN_PERSON, starts_at=starts,
                        ends_at=starts + timedelta(hours=2), registration_closes_at=starts - timedelta(days=1),
                        capacity=100, status=WorkshopStatus.PUBLISHED, round_id=round_.id, live_voting=True)
    db.session.add(workshop)
    db.session.commit()
    people = [make_user(email=f"crowd{i}@example.org", member_type=TYPES[i % 4], gss_code=CODES[i % 4]).id
              for i in range(MEMBERS)]
    for uid in people:  # all in the room, checked in: only attendees count in the workshop's tally
        db.session.add(Registration(workshop_id=workshop.id, user_id=uid, member_type=TYPES[0],
                                    state=RegistrationState.CONFIRMED, checked_in_at=utcnow()))
    db.session.commit()
    return {"draft": services.drafts_of(round_)[0].id, "drafts": [d.id for d in services.drafts_of(round_)],
            "workshop": workshop.id, "people": people}


def run_together(thread_app, jobs):
    """Run each (user_id, draft_id, stance, workshop_id) vote in its own thread and app context, all released at
    once."""
    assert len(jobs) <= THREADS_MAX
    barrier = threading.Barrier(len(jobs))
    errors = []

    def worker(user_id, draft_id, stance, workshop_id):
        try:
            with thread_app.app_context():
                user = db.session.get(User, user_id)
                draft = db.session.get(Draft, draft_id)
                _ = (user.member_type, user.region_id, draft.round.state)  # loaded before the race
                barrier.wait(timeout=60)
                try:
                    services.cast_vote(user, draft, stance, f"{stance.value} from {user_id}", workshop_id)
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    raise
                finally:
                    db.session.remove()
        except Exception as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == [], errors


def stored_tallies() -> dict:
    """Non-empty tally rows as {(draft_id, dimension, key): (support, amend, oppose)}."""
    db.session.expire_all()
    rows = db.session.execute(sa.select(VoteTally.draft_id, VoteTally.dimension, VoteTally.key,
                                        VoteTally.support, VoteTally.amend, VoteTally.oppose)).all()
    assert all(min(s, a, o) >= 0 for *_, s, a, o in rows), "a tally went negative"
    return {(d, dim, key): (s, a, o) for d, dim, key, s, a, o in rows if s or a or o}


def recount() -> dict:
    """The tallies implied by the votes table, by plain SQL GROUP BY."""
    out = {}
    for dimension, sql in RECOUNT.items():
        for draft_id, key, stance, n in db.session.execute(sa.text(sql)):
            cell = out.setdefault((draft_id, dimension, str(key)), {"support": 0, "amend": 0, "oppose": 0})
            cell[stance] += n
    return {k: (c["support"], c["amend"], c["oppose"]) for k, c in out.items()}


def assert_exact(expected_votes: int) -> dict:
    """Tallies equal the recount; one vote per member per draft; returns the tallies."""
    tallies = stored_tallies()
    assert tallies == recount()
    duplicates = db.session.execute(sa.text(
        "SELECT draft_id, user_id, COUNT(*) FROM votes GROUP BY draft_id, user_id HAVING COUNT(*) > 1")).all()
    assert duplicates == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == expected_votes
    return tallies


@pytest.mark.postgresql_only
def test_forty_members_vote_then_change_at_once(thread_app, scene):
    """40 first votes at once, then 40 changes at once (half through the live workshop): tallies stay exact."""
    draft, people, workshop = scene["draft"], scene["people"], scene["workshop"]
    run_together(thread_app, [(uid, draft, STANCES[i % 3], None) for i, uid in enumerate(people)])
    tallies = assert_exact(MEMBERS)
    assert tallies[(draft, "all", "")] == (14, 13, 13)

    run_together(thread_app, [(uid, draft, STANCES[(i + 1) % 3], workshop if i % 2 else None)
                              for i, uid in enumerate(people)])
    tallies = assert_exact(MEMBERS)
    assert tallies[(draft, "all", "")] == (13, 14, 13)
    assert sum(tallies[(draft, "workshop", str(workshop))]) == MEMBERS // 2
    assert sum(sum(v) for k, v in tallies.items() if k[1] == "type") == MEMBERS


@pytest.mark.postgresql_only
def test_one_member_changes_their_own_vote_many_times_at_once(thread_app, scene):
    """Several concurrent changes of one member's vote leave one vote, counted once, at the stance that won."""
    draft, me = scene["draft"], scene["people"][0]
    run_together(thread_app, [(me, draft, STANCES[i % 3], None) for i in range(SAME_MEMBER_CHANGES)])
    tallies = assert_exact(1)
    final = db.session.scalar(sa.select(Vote.stance).where(Vote.user_id == me))
    assert tallies[(draft, "all", "")] == tuple(int(final == s) for s in STANCES)

    run_together(thread_app, [(me, draft, STANCES[(i + 1) % 3], scene["workshop"] if i % 2 else None)
                              for i in range(SAME_MEMBER_CHANGES)])
    tallies = assert_exact(1)
    final = db.session.scalar(sa.select(Vote.stance).where(Vote.user_id == me))
    assert tallies[(draft, "all", "")] == tuple(int(final == s) for s in STANCES)


@pytest.mark.postgresql_only
def test_crowd_and_repeated_changes_mixed_across_drafts(thread_app, scene):
    """Everyone votes on two drafts while one member hammers their own vote, all at once: still exact."""
    first, second = scene["drafts"][:2]
    me, *others = scene["people"]
    jobs = [(uid, first, STANCES[i % 3], scene["workshop"] if i % 3 == 0 else None) for i, uid in enumerate(others)]
    jobs += [(uid, second, STANCES[(i * 2) % 3], None) for i, uid in enumerate(others[:10])]
    jobs += [(me, first, STANCES[i % 3], scene["workshop"] if i % 2 else None) for i in range(SAME_MEMBER_CHANGES)]
    run_together(thread_app, jobs)
    tallies = assert_exact(len(others) + 10 + 1)
    assert sum(tallies[(first, "all", "")]) == MEMBERS
    assert sum(tallies[(second, "all", "")]) == 10
