"""Two app instances (two gunicorns) on one PostgreSQL database and one Redis, as in production behind
a load balancer: a session made on one is valid on the other, votes cast through either both count,
rate limits are counted across both, and a small live workshop split across them loses nothing.

PostgreSQL only: SQLite is a file for one machine, and these tests are about more than one process.
"""
import os
import re

import pytest
import sqlalchemy as sa

from bench import live_workshop as live
from kil_network.auth.models import User
from kil_network.extensions import db
from kil_network.principles.models import Vote
from kil_network.workshops import services as workshops
from kil_network.workshops.models import Registration, Workshop

# This file's own Redis database (9, 10, ... one per pytest-xdist process), flushed before each test.
_PROCESS = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
REDIS_URL = f"redis://127.0.0.1:6379/{9 + _PROCESS % 7}"
SECRET_KEY = "two-instances-one-secret"
COUNT_RE = re.compile(r'data-count="(support|amend|oppose)-(\d)">(\d+) \(')


def postgresql_only(database_url: str) -> None:
    """Skip unless the test database is PostgreSQL."""
    if not database_url.startswith("postgresql"):
        pytest.skip("two instances share a PostgreSQL database")


def flush_limits() -> None:
    """Empty this file's Redis database (the rate-limit counters); skip if there is no Redis."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.ConnectionError:
        pytest.skip("shared rate limits need Redis at 127.0.0.1:6379")


def start_pair(database_url: str, folder, *, ratelimit: bool) -> list:
    """Instances A and B: same database and SECRET_KEY; rate limits in the shared Redis when enabled."""
    env = {"SECRET_KEY": SECRET_KEY, "HTMX_URL": "local", "RATELIMIT_ENABLED": "true" if ratelimit else "false",
           "RATELIMIT_STORAGE_URI": REDIS_URL if ratelimit else "memory://"}
    started = []
    try:
        for name in ("a", "b"):
            # One process per instance (what is shared is the database and Redis, not a process's
            # memory): half the app imports at start, which on a loaded 2-core machine took 40 s.
            started.append(live.start_gunicorn(database_url, folder / f"{name}.log", workers=1, threads=8,
                                               extra_env=env, timeout=90))
    except Exception:
        for process, _ in started:
            live.stop(process)
        raise
    return started


@pytest.fixture(scope="module")
def pair(database_url, tmp_path_factory):
    """Base URLs of instances A and B with rate limits on, shared through Redis."""
    postgresql_only(database_url)
    flush_limits()
    started = start_pair(database_url, tmp_path_factory.mktemp("pair"), ratelimit=True)
    yield [base for _, base in started]
    for process, _ in started:
        live.stop(process)
    flush_limits()


@pytest.fixture
def two(pair, app):
    """A and B, with empty tables and no rate-limit counts left by an earlier test."""
    flush_limits()
    return pair


@pytest.mark.postgresql_only
def test_a_session_made_on_a_is_valid_on_b(two, make_user):
    """Signing in on A gives a cookie that B accepts for a signed-in page (and B needs it)."""
    a, b = two
    make_user(email="both@example.org", name="Bola Both")
    browser = live.Browser(a)
    status, headers, _ = browser.request("GET", "/account/", base=b)
    assert status == 302 and "/auth/login" in headers["Location"]
    browser.sign_in("both@example.org", "correct horse battery", base=a)
    status, _, body = browser.request("GET", "/account/", base=b)
    assert status == 200
    assert "both@example.org" in body and "Bola Both" in body
    status, _, body = browser.request("GET", "/account/workshops", base=b)
    assert status == 200


@pytest.mark.postgresql_only
def test_votes_cast_on_a_and_on_b_both_count(two, app):
    """Votes through A, through B, and signed in on A but posted to B, all count; either instance shows them."""
    a, b = two
    scene = live.setup_scene(6, staff=1)  # six voters: 2 of each stance, a split the projector may show
    wid, drafts = scene["workshop"], scene["drafts"]
    # Only attendees checked in at the door count in the workshop's tally (issue 9).
    organiser = db.session.scalar(sa.select(User).where(User.email == scene["staff"][0]))
    for reg_id in scene["registrations"]:
        workshops.check_in(organiser, db.session.get(Registration, reg_id))
    db.session.commit()
    stances = {i: ("support", "oppose", "amend")[i % 3] for i in range(6)}
    routes = {i: ((a, a), (b, b), (a, b))[i % 3] for i in range(6)}  # (sign in on, vote on)
    for i, (sign_in_on, vote_on) in routes.items():
        browser = live.Browser(sign_in_on)
        browser.sign_in(scene["members"][i], base=sign_in_on)
        token = browser.csrf(f"/principles/?workshop={wid}", base=sign_in_on)
        for draft in drafts:
            status, _, body = browser.request(
                "POST", f"/principles/drafts/{draft}/vote",
                {"stance": stances[i], "comment": "", "workshop": str(wid), "csrf_token": token},
                headers={"HX-Request": "true"}, base=vote_on)
            assert status == 200 and "Vote saved." in body, (i, status)
    db.session.execute(sa.update(Workshop).where(Workshop.id == wid).values(tallies_shown=True))
    db.session.commit()
    staff = live.Browser(a)
    staff.sign_in(scene["staff"][0], base=a)
    expected = {(stance, n): 2 for stance in ("support", "amend", "oppose") for n in range(1, 7)}
    for base in (a, b):
        status, _, body = staff.request("GET", f"/staff/workshops/{wid}/present/poll", headers={"HX-Request": "true"},
                                        base=base)
        assert status == 200
        shown = {(stance, int(n)): int(v) for stance, n, v in COUNT_RE.findall(body)}
        assert shown == expected, base
    state = live.verify(scene)
    assert state["votes"] == state["tally_all"] == state["tally_workshop"] == {d: 6 for d in drafts}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == 36


@pytest.mark.postgresql_only
def test_rate_limits_are_counted_across_both_instances(two, make_user):
    """Sign-in attempts alternating between A and B meet the limit (10 a minute) in total, not per instance."""
    a, b = two
    make_user(email="target@example.org")
    browser = live.Browser(a)
    token = browser.csrf("/auth/login", base=a)
    answers = []
    for attempt in range(12):
        status, headers, _ = browser.request(
            "POST", "/auth/login", {"email": "target@example.org", "password": f"wrong {attempt}", "csrf_token": token},
            base=(a, b)[attempt % 2])
        answers.append((status, headers.get("X-RateLimit-Remaining")))
    assert [s for s, _ in answers] == [200] * 10 + [429] * 2
    # Each instance reports the shared count: remaining goes down by one whichever instance answers.
    assert [r for _, r in answers[:10]] == [str(n) for n in range(9, -1, -1)]


@pytest.mark.postgresql_only
def test_a_small_live_workshop_split_across_two_instances(database_url, app, tmp_path):
    """24 members (half on A, half on B) sign in and vote, 6 projectors poll, 5 staff check everyone in:
    no errors, every vote in the tallies and on the projectors, every check-in recorded. (The
    load at full size is bench/live_workshop.py; here the point is that nothing is lost between
    two instances, so the scene is kept small for the suite's time.)

    These instances run without rate limits, so that only the instances are under test (the room's
    limits have their own tests in tests/test_room_code.py)."""
    postgresql_only(database_url)
    scene = live.setup_scene(24)
    db.session.remove()
    started = start_pair(database_url, tmp_path, ratelimit=False)
    try:
        result = live.run_load([base for _, base in started], scene, seconds=10, projectors=6)
    finally:
        for process, _ in started:
            live.stop(process)
    state = live.verify(scene)
    problems = live.checks(scene, result, state, on_time=False)
    assert problems == [], live.report(scene, result, state, problems)
    assert sum(state["votes"].values()) == 144 == result["votes_cast"]
    assert state["checked_in"] == 24
    assert len(result["projector"]) == 6
