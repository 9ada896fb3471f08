#!/usr/bin/env python3
"""Where a write's time goes: the vote POST and register/cancel, in-process, on a bench database.

    .venv/bin/python bench/profile_writes.py                        # PostgreSQL kil_bench, both writes
    .venv/bin/python bench/profile_writes.py --only vote --repeat 200 --profile
    .venv/bin/python bench/profile_writes.py --db sqlite --explain  # SQLite instance/kil_bench.db

For each write it signs a bulk member in through the real login form (Flask test client, the app
as `bench/run` configures it: KIL_ENV=production, rate limits off), makes one warm-up request and
then `--repeat` htmx POSTs with the X-CSRFToken header, as wrk does: votes cycle through the open
round's drafts and stances; registrations alternate register and cancel (confirm=1) on the bulk
registration workshop. It prints the SQL statements of one request in order (with the time each
took, from before/after_cursor_execute), the mean statements, app CPU ms (process time) and
wall ms per request; `--explain` adds EXPLAIN (ANALYZE, BUFFERS) of each distinct statement of
that request, run in a transaction that is rolled back; `--profile` a pyinstrument profile of
all the requests. The votes go through the app, so the tallies stay exact (`bench/run` checks).
"""
import argparse
import cProfile
import importlib
import os
import pstats
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
sys.path.insert(0, str(ROOT))

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/kil_bench"
SQLITE_DEFAULT = f"sqlite:///{ROOT / 'instance' / 'kil_bench.db'}"


def main() -> None:
    """Parse the options, build the app, measure each write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--database-url")
    parser.add_argument("--only", default="vote,register", help="vote, register or both (comma-separated)")
    parser.add_argument("--repeat", type=int, default=50, help="requests per write after the warm-up")
    parser.add_argument("--member", default="bulk0@example.org", help="the bulk member who writes")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of the requests")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each statement of one request")
    parser.add_argument("--cprofile", type=int, metavar="N", help="print the N functions with the most CPU time "
                        "(cProfile timed by process_time: CPU, not wall, so a busy machine does not distort it)")
    parser.add_argument("--time", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="also report the CPU ms per request spent in this function (repeatable), e.g. "
                             "kil_network.workshops.notifications:_send (the module's attribute is wrapped: "
                             "callers that imported the function by name elsewhere are not seen)")
    args = parser.parse_args()
    url = args.database_url or (PG_DEFAULT if args.db == "postgresql" else SQLITE_DEFAULT)
    os.environ.update({"DATABASE_URL": url, "KIL_ENV": "production", "SECRET_KEY": "bench-only-secret-key",
                       "RATELIMIT_ENABLED": "false", "HTMX_URL": "local", "MAIL_SERVER": "",
                       "MAIL_PRINT_TO_CONSOLE": "true", "BASE_URL": "http://127.0.0.1", "TRUSTED_HOSTS": "localhost"})

    import sqlalchemy as sa  # after the environment: config.py reads it once, on import

    from config import config_from_env
    from kil_network import create_app
    from kil_network.devdata.bulk import BULK_PASSWORD, REGISTRATION_TITLE
    from kil_network.extensions import db

    app = create_app(config_from_env())
    app.config.update(SESSION_COOKIE_SECURE=False, PREFERRED_URL_SCHEME="http")
    with app.app_context():
        engine = db.engine
        workshop_id = db.session.scalar(sa.text("SELECT id FROM workshops WHERE title = :t"), {"t": REGISTRATION_TITLE})
        drafts = list(db.session.scalars(sa.text(
            "SELECT d.id FROM drafts d JOIN rounds r ON r.id = d.round_id WHERE r.state = 'open' ORDER BY d.number")))
        db.session.remove()

    log: list[list] = []  # [statement, parameters, seconds, " [not cached]" or ""]
    started: dict = {}

    def before(conn, cursor, statement, parameters, context, executemany):
        started[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        cache = getattr(context, "cache_hit", None)
        uncached = f" [not from the compiled cache: {cache.name}]" if cache is not None and cache not in (
            context.dialect.CACHE_HIT, context.dialect.NO_DIALECT_SUPPORT) and getattr(context, "compiled", None) \
            else ""
        log.append([statement, parameters, time.perf_counter() - started.pop(id(cursor), time.perf_counter()),
                    uncached])

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)

    spent: dict[str, float] = {}
    for target in args.time:  # wrap each function to add up its CPU time (nested calls count once)
        module_name, _, name = target.partition(":")
        module = importlib.import_module(module_name)

        inner = getattr(module, name)

        def timed(*a, _inner=inner, _target=target, **kw):
            start = time.process_time()
            try:
                return _inner(*a, **kw)
            finally:
                spent[_target] = spent.get(_target, 0.0) + time.process_time() - start

        setattr(module, name, timed)

    client = app.test_client()
    token = CSRF_RE.search(client.get("/auth/login").get_data(as_text=True))
    response = client.post("/auth/login", data={"email": args.member, "password": BULK_PASSWORD,
                                                "csrf_token": token.group(1) or token.group(2)})
    assert response.status_code == 302, f"sign-in failed: {response.status_code}"
    token = CSRF_RE.search(client.get("/principles/").get_data(as_text=True))
    headers = {"X-CSRFToken": token.group(1) or token.group(2), "HX-Request": "true"}

    def post(path, data):
        response = client.post(path, data=data, headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:500])

    base = f"/workshops/{workshop_id}"
    calls = {
        "vote": lambda i: post(f"/principles/drafts/{drafts[i % len(drafts)]}/vote",
                               {"stance": ("support", "amend", "oppose")[(i // len(drafts)) % 3]}),
        # Request 0 (the warm-up) registers: the member starts unregistered (cancelled first).
        "register": lambda i: post(f"{base}/register", {"access_needs": ""}) if i % 2 == 0
        else post(f"{base}/cancel", {"confirm": "1"}),
    }
    profiler = None
    if args.profile:
        from pyinstrument import Profiler  # bench-only dependency (in the venv's dev requirements)

        profiler = Profiler(interval=0.001)
    def healthz_cpu_ms(count=200) -> float:
        """App CPU of GET /healthz in this process now: the yardstick for a machine under other load."""
        client.get("/healthz")
        start = time.process_time()
        for _ in range(count):
            client.get("/healthz")
        return (time.process_time() - start) * 1000 / count

    for key in args.only.split(","):
        call = calls[key]
        if key == "register":
            client.post(f"{base}/cancel", data={"confirm": "1"}, headers=headers)  # start unregistered
        call(0)
        log.clear()
        call(1)
        print(f"\n## {key}: the statements of one request ({'cancel' if key == 'register' else 'vote'})")
        one = list(log)
        for statement, _parameters, seconds, uncached in one:
            print(f"  {seconds * 1000:6.2f} ms  {' '.join(statement.split())[:220]}{uncached}")
        if key == "register":  # the other half: a register
            log.clear()
            call(2)
            print("\n## register: the statements of one request (register)")
            for statement, _parameters, seconds, uncached in log:
                print(f"  {seconds * 1000:6.2f} ms  {' '.join(statement.split())[:220]}{uncached}")
            one += log
        log.clear()
        if profiler:
            profiler.start()
        if args.cprofile:
            cpu_profiler = cProfile.Profile(time.process_time)
            cpu_profiler.enable()
        cpu, wall, each = time.process_time(), time.perf_counter(), []
        spent.clear()
        for i in range(3, 3 + args.repeat):
            one_cpu = time.process_time()
            call(i)
            each.append(time.process_time() - one_cpu)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        each.sort()
        if profiler:
            profiler.stop()
        if args.cprofile:
            cpu_profiler.disable()
        sql_ms = sum(entry[2] for entry in log) * 1000 / args.repeat
        run = list(log)
        yardstick = healthz_cpu_ms()  # its SELECT 1s are not the write's: counted from `run`
        print(f"\n{key}: {len(run) / args.repeat:.2f} SQL statements, {cpu * 1000 / args.repeat:.2f} ms app CPU "
              f"(median {each[len(each) // 2] * 1000:.2f}, fastest tenth {each[len(each) // 10] * 1000:.2f}), "
              f"{wall * 1000 / args.repeat:.2f} ms wall ({sql_ms:.2f} ms in the driver and database) per request, "
              f"over {args.repeat} requests; {sum(1 for entry in run if entry[3])} statements compiled afresh; "
              f"GET /healthz {yardstick:.2f} ms app CPU just after (the write costs "
              f"{cpu * 1000 / args.repeat / yardstick:.1f}"
              " times that)")
        for target, seconds in spent.items():
            print(f"  {seconds * 1000 / args.repeat:.2f} ms app CPU per request in {target}")
        kinds: dict[str, int] = {}
        for entry in run:
            kinds[" ".join(entry[0].split())[:90]] = kinds.get(" ".join(entry[0].split())[:90], 0) + 1
        print("  statements over the run, by kind:")
        for text, count in sorted(kinds.items(), key=lambda item: -item[1]):
            print(f"    {count / args.repeat:5.2f} per request  {text}")
        if args.explain:
            explain(engine, one)
        if args.cprofile:
            stats = pstats.Stats(cpu_profiler)
            by_package: dict[str, list[float]] = {}
            for (filename, _, _), (_, ncalls, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
                parts = filename.split("site-packages/")
                package = parts[1].split("/")[0] if len(parts) > 1 else ("kil_network" if "kil_network" in filename
                                                                          else "templates" if "templates" in filename
                                                                          else "other")
                total = by_package.setdefault(package, [0, 0.0])
                total[0] += ncalls
                total[1] += own
            print("  own CPU time and calls by package (cProfile, per request):")
            for package, (ncalls, own) in sorted(by_package.items(), key=lambda item: -item[1][1])[:12]:
                print(f"    {own * 1000 / args.repeat:7.2f} ms  {ncalls / args.repeat:7.0f} calls  {package}")
            stats.sort_stats("cumulative").print_stats(args.cprofile)
        if profiler:
            print(profiler.output_text(unicode=False, color=False, show_all=False))
            profiler.reset()
    if args.only.split(",")[-1] == "register" and args.repeat % 2 == 0:
        client.post(f"{base}/cancel", data={"confirm": "1"}, headers=headers)  # leave the member unregistered


def explain(engine, statements) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each distinct statement, in a transaction rolled back."""
    seen = set()
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        for statement, parameters, *_ in statements:
            if statement in seen or statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                continue
            seen.add(statement)
            transaction = conn.begin()
            try:
                rows = conn.exec_driver_sql(prefix + statement, parameters).fetchall()
            except Exception as exc:  # noqa: BLE001 - a plan we cannot get is reported, not fatal
                rows = [(f"(no plan: {exc.__class__.__name__}: {str(exc).splitlines()[0]})",)]
            finally:
                transaction.rollback()
            print(f"\n{' '.join(statement.split())[:300]}")
            for row in rows:
                print("    " + " | ".join(str(c) for c in row))


if __name__ == "__main__":
    main()
