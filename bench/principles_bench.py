"""Benchmark: results page and projector refresh with 1,000,000 votes (not a test).

Builds a fresh database (an SQLite file by default, or PostgreSQL with --database-url), runs the
real migrations, adds 4 rounds x 6 drafts, bulk-inserts the votes with SQLAlchemy Core in batches
of 10,000, rebuilds the tallies, then times requests through the Flask test client signed in as
staff: GET /principles/rounds/<id>/results and the presenter screen's poll when its board changed
(GET /staff/workshops/<id>/present/poll with HX-Request; bench/presenter_poll.py times it in
detail). For comparison it also times the aggregate GROUP BY over the votes table that the
results page would need without the tally table.

    .venv/bin/python bench/principles_bench.py
    .venv/bin/python bench/principles_bench.py --database-url postgresql://postgres@127.0.0.1:5432/kil_bench

PostgreSQL: the database is created if missing and the benchmark works in its own schema
(`bench`), dropped and recreated on each run.
"""
import argparse
import random
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.dbutil import fresh_postgres_schema  # noqa: E402
from config import TestConfig  # noqa: E402
from kil_network import create_app  # noqa: E402
from kil_network.extensions import db  # noqa: E402

BATCH = 10_000
STAFF_EMAIL = "bench-staff@example.org"
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def prepare_url(url: str | None, sqlite_path: Path) -> str:
    """A URL for an empty database: a new SQLite file, or a fresh `bench` schema in PostgreSQL."""
    if not url:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{sqlite_path}"
    return fresh_postgres_schema(url, "bench")


def make_bench_app(url: str):
    """The app on the benchmark database (test config: fast password hashing, no rate limits)."""

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        TESTING = False

    return create_app(BenchConfig)


def step(label: str):
    """Print a progress line and return a function that prints the elapsed time."""
    start = time.perf_counter()
    print(f"  {label} ...", end="", flush=True)
    return lambda: print(f" {time.perf_counter() - start:.1f} s", flush=True)


def build(votes_wanted: int, seed: int) -> dict:
    """Migrate, add staff, rounds, workshops, members and votes; rebuild tallies. Returns ids.

    The bulk steps are shared with `flask seed-bulk` (kil_network/devdata/bulk.py).
    """
    from flask_migrate import upgrade

    from kil_network.auth.models import MemberType, Role
    from kil_network.auth.services import hash_password
    from kil_network.core.timeutil import utcnow
    from kil_network.devdata import bulk
    from kil_network.members.models import Region
    from kil_network.members.services import create_member
    from kil_network.workshops.models import Workshop, WorkshopFormat, WorkshopStatus

    rng = random.Random(seed)
    done = step("migrations")
    upgrade(directory=str(ROOT / "migrations"))
    done()

    staff = create_member(name="Bench Staff", email=STAFF_EMAIL, password=PASSWORD, member_type=MemberType.OTHER,
                          consent_privacy=True, role=Role.STAFF, confirmed=True)
    db.session.commit()

    done = step(f"{bulk.ROUNDS} rounds x 6 drafts, workshops")
    draft_ids, round_ids = bulk.create_rounds(staff)
    regions = list(db.session.scalars(sa.select(Region.id).order_by(Region.id)))
    workshops = []
    for i in range(6):
        starts = utcnow() - timedelta(hours=1)
        workshop = Workshop(title=f"Bench workshop {i + 1}", format=WorkshopFormat.IN_PERSON, starts_at=starts,
                            ends_at=starts + timedelta(hours=2), registration_closes_at=starts - timedelta(days=1),
                            capacity=500, status=WorkshopStatus.PUBLISHED, round_id=round_ids[-1],
                            live_voting=i == 0, region_id=regions[i % len(regions)])
        db.session.add(workshop)
        workshops.append(workshop)
    db.session.commit()
    live_ids = [w.id for w in workshops]
    done()

    drafts = sum(len(ids) for ids in draft_ids)
    members = -(-votes_wanted // drafts)
    done = step(f"{members:,} members (bulk insert)")
    with db.engine.begin() as conn:
        bulk.insert_rows(conn, db.metadata.tables["users"], bulk.member_rows(
            rng, members, hash_password(PASSWORD), email="bench{}@example.org", regions=regions))
        people = bulk.load_people(conn, "bench%@example.org")
    done()

    done = step(f"{votes_wanted:,} votes (Core executemany, batches of {BATCH:,})")
    with db.engine.begin() as conn:
        inserted = bulk.insert_rows(conn, db.metadata.tables["votes"],
                                    bulk.vote_rows(rng, draft_ids, people, votes_wanted, live_ids), BATCH)
    done()
    assert inserted == votes_wanted, inserted

    done = step("rebuild_tallies, ANALYZE")
    bulk.rebuild_tallies_and_analyze()
    done()
    return {"round": round_ids[-1], "closed_round": round_ids[0], "workshop": workshops[0].id,
            "drafts": draft_ids[-1]}


def sign_in(client) -> None:
    """Sign the test client in as the staff member, through the real form."""
    html = client.get("/auth/login").get_data(as_text=True)
    match = CSRF_RE.search(html)
    token = match.group(1) or match.group(2)
    response = client.post("/auth/login", data={"email": STAFF_EMAIL, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def timed(fn, repeat: int, warmup: int = 3) -> list[float]:
    """Milliseconds for each of `repeat` calls after a few untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(samples: list[float]) -> tuple[float, float]:
    """(median, p95) in ms."""
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def main() -> None:
    """Build, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: an SQLite file)")
    parser.add_argument("--sqlite-path", default="/tmp/kil_principles_bench.db", type=Path)
    parser.add_argument("--votes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args()

    url = prepare_url(args.database_url, args.sqlite_path)
    app = make_bench_app(url)
    with app.app_context():
        dialect = db.engine.dialect.name
        print(f"Building the {dialect} database at {make_url(url).render_as_string(hide_password=True)}")
        ids = build(args.votes, args.seed)
        from kil_network.principles.models import Vote, VoteTally

        total_votes = db.session.scalar(sa.select(sa.func.count()).select_from(Vote))
        tally_rows = db.session.scalar(sa.select(sa.func.count()).select_from(VoteTally))
        db.session.remove()

        client = app.test_client()
        sign_in(client)

        def results():
            response = client.get(f"/principles/rounds/{ids['round']}/results")
            assert response.status_code == 200, response.status_code

        def closed_results():
            response = client.get(f"/principles/rounds/{ids['closed_round']}/results")
            assert response.status_code == 200, response.status_code

        def projector():
            response = client.get(f"/staff/workshops/{ids['workshop']}/present/poll", headers={"HX-Request": "true"})
            assert response.status_code == 200 and b'id="present-board"' in response.data

        def group_by():
            """The aggregate the results page would need without tallies (4 GROUP BYs on indexed votes)."""
            with db.engine.connect() as conn:
                for column in ("", "member_type", "region_id", "workshop_id"):
                    group = f"draft_id, {column}, stance" if column else "draft_id, stance"
                    conn.execute(sa.text(
                        f"SELECT {group}, COUNT(*) FROM votes "
                        f"WHERE draft_id IN ({', '.join(str(d) for d in ids['drafts'])}) "
                        f"GROUP BY {group}")).all()

        rows = [
            ("GET /principles/rounds/<open>/results (staff)", timed(results, args.requests)),
            ("GET /principles/rounds/<closed>/results (staff)", timed(closed_results, args.requests)),
            ("GET /staff/workshops/<id>/present/poll (board changed)", timed(projector, args.requests)),
            ("for comparison: GROUP BY over votes, one round", timed(group_by, 5, warmup=1)),
        ]
        db.engine.dispose()

    print()
    print(f"{dialect}: {total_votes:,} votes, {tally_rows:,} tally rows, "
          f"{args.requests} timed requests each (test client, in-process server time)")
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  {'median':>9}  {'p95':>9}  {'n':>3}")
    for label, samples in rows:
        median, p95 = summary(samples)
        print(f"{label:{width}}  {median:7.1f}ms  {p95:7.1f}ms  {len(samples):>3}")


if __name__ == "__main__":
    main()
