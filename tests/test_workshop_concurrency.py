"""No overbooking under concurrency: many people registering (and cancelling) at the same moment.

Each thread has its own app context, so its own database session and connection, and all of
them are released together by a barrier. On PostgreSQL the workshop row lock taken by
`services._lock_seats` serialises seat allocation; SQLite serialises writers itself (a busy
timeout lets the others wait their turn).
"""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth.models import User
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.workshops import queries, services
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat
from tests.support.app import make_app

THREADS = 30
CAPACITY = 5


@pytest.fixture
def thread_app(app, database_url):
    """A second app on the same database with a pool big enough for every thread at once."""
    options = {"pool_size": THREADS + 5, "max_overflow": 5, "pool_timeout": 60}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 60}  # busy timeout: wait for the writer lock
    other = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS=options)
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def workshop(app, make_user):
    """A published workshop with CAPACITY seats."""
    staff = make_user(email="staff@example.org", role="staff")
    starts = utcnow() + timedelta(days=10)
    workshop = services.create_workshop(staff, {
        "title": "Last seats in Manchester", "description": "Busy.", "region": None,
        "format": WorkshopFormat.IN_PERSON, "venue": "Town Hall", "address": "Albert Square",
        "postcode": "M2 5DB", "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
        "registration_closes_at": starts - timedelta(days=1), "capacity": CAPACITY,
    })
    services.publish_workshop(staff, workshop)
    db.session.commit()
    return workshop


@pytest.fixture
def people(make_user):
    """THREADS + 15 confirmed members (ids)."""
    return [make_user(email=f"rush{i}@example.org", name=f"Rush {i:02d}").id for i in range(THREADS + 15)]


def run_together(thread_app, jobs):
    """Run each job(workshop, user) in its own thread and app context, released together; commit each."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def worker(job, workshop_id, user_id):
        try:
            with thread_app.app_context():
                workshop = db.session.get(Workshop, workshop_id)
                user = db.session.get(User, user_id)
                _ = (workshop.capacity, user.member_type)  # loaded before the race starts
                barrier.wait(timeout=60)
                try:
                    job(workshop, user)
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


def register_job(workshop, user):
    """Register this member."""
    services.register(workshop, user)


def cancel_job(workshop, user):
    """Cancel this member's registration."""
    services.cancel_registration(queries.registration_for(workshop, user), user)


def queue(workshop_id):
    """(confirmed count, waitlist positions in queue order) read fresh from the database."""
    db.session.expire_all()
    confirmed = db.session.scalar(sa.select(sa.func.count()).select_from(Registration).where(
        Registration.workshop_id == workshop_id, Registration.state == RegistrationState.CONFIRMED))
    waiting = list(db.session.scalars(sa.select(Registration).where(
        Registration.workshop_id == workshop_id, Registration.state == RegistrationState.WAITLISTED)
        .order_by(Registration.queued_at, Registration.id)))
    positions = queries.waitlist_positions(waiting)
    return confirmed, [positions[r.id] for r in waiting], [queries.waitlist_position(r) for r in waiting]


def skip_unless_postgresql():
    """These tests are about PostgreSQL's row lock."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proved on PostgreSQL (set TEST_DATABASE_URL)")


def race_thirty(thread_app, workshop, people):
    """30 simultaneous registrations for 5 seats: exactly 5 confirmed, 25 waitlisted at positions 1..25."""
    run_together(thread_app, [(register_job, workshop.id, uid) for uid in people[:THREADS]])
    confirmed, positions, one_by_one = queue(workshop.id)
    assert confirmed == CAPACITY
    assert positions == list(range(1, THREADS - CAPACITY + 1))
    assert one_by_one == positions
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == THREADS
    # Every registration took the lock once (and publishing took it once before the race).
    assert db.session.scalar(sa.select(Workshop.seat_version).where(Workshop.id == workshop.id)) == THREADS + 1


@pytest.mark.postgresql_only
def test_thirty_people_racing_for_five_seats(app, thread_app, workshop, people):
    """30 threads register at the same moment on PostgreSQL: exactly 5 confirmed, waitlist 1..25."""
    skip_unless_postgresql()
    race_thirty(thread_app, workshop, people)


@pytest.mark.postgresql_only
def test_cancellations_and_registrations_racing_never_overbook(app, thread_app, workshop, people):
    """5 confirmed cancel while 10 wait and 20 more register, all at once: never more than 5 confirmed."""
    skip_unless_postgresql()
    for uid in people[:15]:
        services.register(workshop, db.session.get(User, uid))
        db.session.commit()
    confirmed, positions, _ = queue(workshop.id)
    assert confirmed == CAPACITY and positions == list(range(1, 11))
    jobs = [(cancel_job, workshop.id, uid) for uid in people[:CAPACITY]]
    jobs += [(register_job, workshop.id, uid) for uid in people[15:35]]
    run_together(thread_app, jobs)
    confirmed, positions, one_by_one = queue(workshop.id)
    assert confirmed == CAPACITY  # seats freed were all refilled from the waitlist, never beyond
    assert positions == list(range(1, 26)) and one_by_one == positions
    first_waiting = [db.session.get(User, uid).email for uid in people[CAPACITY:2 * CAPACITY]]
    confirmed_emails = set(db.session.scalars(
        sa.select(User.email).join(Registration, Registration.user_id == User.id)
        .where(Registration.state == RegistrationState.CONFIRMED)))
    # The five freed seats can only go to people already queued or registering in the race; the
    # five who were first in the queue before the race always get them (they are ahead of everyone).
    assert confirmed_emails == set(first_waiting)


def test_thirty_people_racing_on_sqlite(app, thread_app, workshop, people):
    """The same race on SQLite, which serialises writers (busy timeout): exactly 5 confirmed, waitlist 1..25."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the PostgreSQL run is test_thirty_people_racing_for_five_seats")
    race_thirty(thread_app, workshop, people)
