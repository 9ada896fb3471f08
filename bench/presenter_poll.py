"""Benchmark: the presenter screen's poll, CPU per request (not a test).

The projector polls GET /staff/workshops/<id>/present/poll every second for as long as the
workshop lasts; it must cost under 5 ms of server CPU. This builds a workshop of 300 attendees
(checked in) who have all voted on the six principles (1,800 votes, through the services, so the
tallies are the app's own), then times polls in-process through the Flask test client signed in
as staff, with time.process_time() (this process's CPU: the server's work plus the test client's
small share of building the request and reading the response, so an upper bound):

- unchanged: the answer to almost every poll, 204 (the user, the workshop, its tallies: 3 queries);
- a vote in between: each poll follows one more vote (tallies hidden: the board re-renders with the
  new count; only the poll is timed, not the vote);
- revealed, board changed: the board with the bars (5 queries: also the round and its drafts);
- new room code: the join panel with a QR code not made yet (the first poll of each minute in each
  process; the QR cache emptied before each one), the worst case;
- the full screen (GET /present, once when the projector opens it).

    .venv/bin/python bench/presenter_poll.py
    .venv/bin/python bench/presenter_poll.py --database-url postgresql://postgres@127.0.0.1:5432/kil_bench
    .venv/bin/python bench/presenter_poll.py --profile      # cProfile (CPU time) of the unchanged poll
"""
import argparse
import re
import statistics
import sys
import time
from datetime import timedelta
from html import unescape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.principles_bench import PASSWORD, STAFF_EMAIL, make_bench_app, prepare_url, sign_in  # noqa: E402
from kil_network.extensions import db  # noqa: E402

ATTENDEES = 300
LATE = 110  # arrive late and vote while the screen polls
HX = {"HX-Request": "true"}
POLL_RE = re.compile(r'id="present-poll"[^>]*data-hx-get="([^"]+)"')
STANCES = ("support", "amend", "oppose")


def build(attendees: int) -> dict:
    """Migrate; staff, an open round, a workshop happening now with live voting open, `attendees`
    members checked in, each voting on every principle through the workshop."""
    from flask_migrate import upgrade

    from kil_network.auth.models import MemberType, Role, User
    from kil_network.core.timeutil import utcnow
    from kil_network.members.services import create_member
    from kil_network.principles import services as principles
    from kil_network.principles.models import Stance
    from kil_network.workshops.models import (
        Registration,
        RegistrationState,
        Workshop,
        WorkshopFormat,
        WorkshopStatus,
    )

    upgrade(directory=str(ROOT / "migrations"))
    staff = create_member(name="Bench Staff", email=STAFF_EMAIL, password=PASSWORD, member_type=MemberType.OTHER,
                          consent_privacy=True, role=Role.STAFF, confirmed=True)
    db.session.flush()
    round_ = principles.create_round(staff, name="Presenter bench round", closes_at=utcnow() + timedelta(days=7))
    principles.open_round_for_votes(staff, round_)
    starts = (utcnow() - timedelta(minutes=30)).replace(microsecond=0)
    workshop = Workshop(title="Presenter bench workshop", format=WorkshopFormat.IN_PERSON, starts_at=starts,
                        ends_at=starts + timedelta(hours=3), registration_closes_at=starts - timedelta(days=1),
                        capacity=attendees + 10, status=WorkshopStatus.PUBLISHED, round_id=round_.id,
                        live_voting=True)
    db.session.add(workshop)
    db.session.commit()
    drafts = principles.drafts_of(round_)
    people = []
    for i in range(attendees):
        people.append(create_member(name=f"Bench Attendee {i:03d}", email=f"attendee{i}@example.org",
                                    password=PASSWORD, member_type=MemberType.OTHER, consent_privacy=True,
                                    confirmed=True))
    db.session.flush()
    db.session.add_all(Registration(workshop_id=workshop.id, user_id=p.id, member_type=p.member_type,
                                    state=RegistrationState.CONFIRMED, checked_in_at=utcnow()) for p in people)
    db.session.commit()
    for i, person in enumerate(people):
        for j, draft in enumerate(drafts):
            principles.cast_vote(person, draft, Stance(STANCES[(i + j) % 3]), "", workshop.id)
        if i % 50 == 49:
            db.session.commit()
    db.session.commit()
    late = [create_member(name=f"Late Voter {i}", email=f"late{i}@example.org", password=PASSWORD,
                          member_type=MemberType.OTHER, consent_privacy=True, confirmed=True) for i in range(LATE)]
    db.session.flush()
    db.session.add_all(Registration(workshop_id=workshop.id, user_id=p.id, member_type=p.member_type,
                                    state=RegistrationState.CONFIRMED, checked_in_at=utcnow()) for p in late)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == attendees + 1 + LATE
    return {"workshop": workshop.id, "drafts": [d.id for d in drafts], "late": [p.id for p in late]}


def timed(fn, repeat: int, warmup: int = 3, before=None) -> list[float]:
    """CPU milliseconds (process_time) of each of `repeat` calls after a few untimed ones;
    `before` runs untimed before each call."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    out = []
    for _ in range(repeat):
        if before:
            before()
        start = time.process_time()
        fn()
        out.append((time.process_time() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (default: an SQLite file)")
    parser.add_argument("--sqlite-path", default="/tmp/kil_presenter_bench.db", type=Path)
    parser.add_argument("--attendees", type=int, default=ATTENDEES)
    parser.add_argument("--polls", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="print a cProfile (CPU time) of unchanged polls")
    args = parser.parse_args()

    url = prepare_url(args.database_url, args.sqlite_path)
    app = make_bench_app(url)
    with app.app_context():
        dialect = db.engine.dialect.name
        started = time.perf_counter()
        ids = build(args.attendees)
        print(f"{dialect}: {args.attendees} attendees, {args.attendees * 6:,} votes "
              f"(built in {time.perf_counter() - started:.0f} s)")
        db.session.remove()

    from kil_network.auth.models import User
    from kil_network.core.timeutil import utcnow
    from kil_network.principles import services as principles
    from kil_network.principles.models import Draft, Stance
    from kil_network.workshops import qr, room
    from kil_network.workshops.models import Workshop

    # One minute on the clock for the whole run: the code changes once a minute in real life
    # (1 poll in 60), timed on its own below ("new room code"), never by chance mid-series.
    frozen = utcnow()
    room.utcnow = lambda: frozen  # type: ignore[attr-defined]
    wid = ids["workshop"]
    # Requests run outside any app context of ours, as in the server: each has its own session
    # (an outer context would be shared, and its identity map would answer the poll's queries).
    client = app.test_client()
    sign_in(client)
    screen = f"/staff/workshops/{wid}/present"
    state = {"url": unescape(POLL_RE.search(client.get(screen).get_data(as_text=True)).group(1))}

    def poll(expect: int):
        def run():
            response = client.get(state["url"], headers=HX)
            assert response.status_code == expect, (response.status_code, expect)
            if expect == 200:
                state["url"] = unescape(POLL_RE.search(response.get_data(as_text=True)).group(1))
        return run

    def stale_board():
        state["url"] = re.sub(r"board=[^&]*", "board=stale", state["url"])

    def stale_code():
        qr.qr_svg.cache_clear()
        state["url"] = re.sub(r"join=[^&]*", "join=stale", state["url"])

    late = iter(ids["late"])

    def one_more_vote():
        """One more person in the room votes on principle 1: its total moves."""
        with app.app_context():
            principles.cast_vote(db.session.get(User, next(late)), db.session.get(Draft, ids["drafts"][0]),
                                 Stance.SUPPORT, "", wid)
            db.session.commit()

    def full_screen():
        assert client.get(screen).status_code == 200

    def set_tallies(shown: bool):
        with app.app_context():
            db.session.execute(sa.update(Workshop).where(Workshop.id == wid).values(
                tallies_shown=shown, present_version=Workshop.present_version + 1))
            db.session.commit()

    if args.profile:  # function-level: the profilers are only for this option
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(timed, poll(204), args.polls)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(70)

    def health():
        assert client.get("/healthz").status_code == 200

    rows = [("unchanged (204)", timed(poll(204), args.polls))]
    rows.append(("a vote in between (tallies hidden)", timed(poll(200), min(args.polls, LATE - 10),
                                                              before=one_more_vote)))
    set_tallies(True)
    rows.append(("revealed, board changed", timed(poll(200), args.polls, before=stale_board)))
    rows.append(("new room code (QR made)", timed(poll(200), min(args.polls, 100), before=stale_code)))
    rows.append(("full screen GET /present", timed(full_screen, min(args.polls, 100))))
    set_tallies(False)
    timed(poll(200), 1, warmup=0, before=stale_board)
    rows.append(("unchanged (204), again at the end", timed(poll(204), args.polls)))
    rows.append(("for comparison: GET /healthz", timed(health, args.polls)))
    with app.app_context():
        db.engine.dispose()

    print(f"CPU per request (time.process_time, in-process test client), {dialect}:")
    width = max(len(label) for label, _ in rows)
    print(f"{'':{width}}  {'median':>8}  {'p95':>8}  {'n':>4}")
    for label, samples in rows:
        p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
        print(f"{label:{width}}  {statistics.median(samples):6.2f}ms  {p95:6.2f}ms  {len(samples):>4}")


if __name__ == "__main__":
    main()
