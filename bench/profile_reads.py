#!/usr/bin/env python3
"""App CPU ms and SQL statements per request of the main read pages, in-process (no gunicorn).

    .venv/bin/python bench/profile_reads.py                       # SQLite instance/kil_bench.db
    .venv/bin/python bench/profile_reads.py --db postgresql       # PostgreSQL kil_bench
    .venv/bin/python bench/profile_reads.py --only home,workshops --profile --repeat 50

Runs against a database `bench/run` has already built (it never seeds or migrates). Each page is
requested once to warm up, then N times; the figure is process CPU time per request, as in
bench/run's in-process pass. With --profile it also prints a pyinstrument profile of each page.
"""
import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/kil_bench"


def page_paths(url: str) -> dict:
    """(session role, path, headers) of each read page, with ids read from the bench database."""
    import sqlalchemy as sa

    from kil_network.devdata.bulk import CHECKIN_TITLE, REGISTRATION_TITLE

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        one = lambda sql, **p: conn.scalar(sa.text(sql), p)  # noqa: E731
        checkin = one("SELECT id FROM workshops WHERE title = :t", t=CHECKIN_TITLE)
        register = one("SELECT id FROM workshops WHERE title = :t", t=REGISTRATION_TITLE)
        closed = one("SELECT max(id) FROM rounds WHERE state = 'closed'")
        council = one("SELECT la.gss_code FROM local_authorities la ORDER BY la.gss_code LIMIT 1")
        item = one("SELECT min(id) FROM submissions WHERE publication != 'private' "
                   "AND status IN ('reviewed', 'featured')")
    engine.dispose()
    pages = {
        "ceiling": (None, "/healthz", {}),
        "privacy": (None, "/privacy", {}),
        "privacy_member": ("member", "/privacy", {}),
        "home": (None, "/", {}),
        "home_member": ("member", "/", {}),
        "workshops": (None, "/workshops/", {}),
        "workshops_member": ("member", "/workshops/", {}),
        "workshop": ("member", f"/workshops/{register}", {}),
        "principles": ("member", "/principles/", {}),
        "results": ("member", f"/principles/rounds/{closed}/results", {}),
        "projector": ("staff", f"/staff/workshops/{checkin}/present/poll", {"HX-Request": "true"}),
        "library": (None, "/evidence/library", {}),
        "library_member": ("member", "/evidence/library", {}),
        "councils": (None, "/councils/", {}),
        "council": ("member", f"/councils/{council}", {}),
    }
    if item:
        pages["library_item"] = (None, f"/evidence/library/{item}", {})
    return pages


def main() -> None:
    """Measure (and optionally profile) each chosen page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url")
    parser.add_argument("--only", help="comma-separated page keys")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--batches", type=int, default=5, help="best-of batches before the measured run")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of each page")
    parser.add_argument("--cprofile", type=int, metavar="N", help="print cProfile's top N functions by own time")
    parser.add_argument("--no-ping", action="store_true", help="engine without pool_pre_ping (an experiment)")
    parser.add_argument("--calls", action="store_true", help="also count Python function calls per request")
    parser.add_argument("--sql", action="store_true", help="print each page's SQL statements once")
    args = parser.parse_args()
    url = args.database_url or (PG_DEFAULT if args.db == "postgresql"
                                else f"sqlite:///{ROOT / 'instance' / 'kil_bench.db'}")
    os.environ.update({"DATABASE_URL": url, "KIL_ENV": "production", "SECRET_KEY": "bench-profile-secret",
                       "RATELIMIT_ENABLED": "false", "HTMX_URL": "local", "MAIL_SERVER": "",
                       "MAIL_PRINT_TO_CONSOLE": "true", "BASE_URL": "http://127.0.0.1",
                       "TRUSTED_HOSTS": "localhost", "PROXY_COUNT": "0"})
    import flask.templating  # the template's share of each request (--split)
    import sqlalchemy as sa

    from config import config_from_env
    from kil_network import create_app
    from kil_network.devdata.bulk import BULK_PASSWORD, BULK_STAFF_EMAIL
    from kil_network.extensions import db

    render_cpu = [0.0]
    real_render = flask.templating._render

    def timed_render(*a, **k):
        start = time.process_time()
        try:
            return real_render(*a, **k)
        finally:
            render_cpu[0] += time.process_time() - start

    flask.templating._render = timed_render
    pages = page_paths(url)
    chosen = args.only.split(",") if args.only else list(pages)
    config = config_from_env()
    if args.no_ping:
        config = type("NoPing", (config,), {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False}})
    app = create_app(config)
    app.config.update(SESSION_COOKIE_SECURE=False, PREFERRED_URL_SCHEME="http")
    with app.app_context():
        engine = db.engine
    statements, started = [], []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: (statements.append([a[2], 0.0]),
                                                                 started.append(time.perf_counter())))
    sa.event.listen(engine, "after_cursor_execute",
                    lambda *a: statements[-1].__setitem__(1, statements[-1][1] + time.perf_counter() - started[-1]))
    clients = {}
    for role, email in (("member", "bulk0@example.org"), ("staff", BULK_STAFF_EMAIL), (None, None)):
        client = app.test_client()
        if email:
            token = CSRF_RE.search(client.get("/auth/login").get_data(as_text=True))
            response = client.post("/auth/login", data={"email": email, "password": BULK_PASSWORD,
                                                        "csrf_token": token.group(1) or token.group(2)})
            assert response.status_code == 302, response.status_code
            client.get("/principles/")  # the CSRF secret joins the session
        clients[role] = client
    print(f"{'page':18} {'CPU ms':>7} {'best':>6} {'wall ms':>8} {'SQL':>5} {'SQL ms':>6} {'tmpl ms':>7} "
          f"{'KB':>6}{' calls' if args.calls else ''}  path")
    for key in chosen:
        if key not in pages:
            print(f"{key:18} (no such page in this database)")
            continue
        role, path, headers = pages[key]
        client = clients[role]

        def get(client=client, path=path, headers=headers):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            return response

        size = len(get().get_data()) / 1024
        get()
        batches = []  # the best of several batches: the steadiest figure on a shared machine
        for _ in range(args.batches):
            cpu = time.process_time()
            for _ in range(max(args.repeat // args.batches, 1)):
                get()
            batches.append((time.process_time() - cpu) * 1000 / max(args.repeat // args.batches, 1))
        statements.clear()
        render_cpu[0] = 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        profiler = None
        if args.profile:
            from pyinstrument import Profiler  # function-level: an optional dev tool

            profiler = Profiler(interval=0.001)
            profiler.start()
        for _ in range(args.repeat):
            get()
        if profiler:
            profiler.stop()
        cpu_ms = (time.process_time() - cpu) * 1000 / args.repeat
        wall_ms = (time.perf_counter() - wall) * 1000 / args.repeat
        sql = len(statements) / args.repeat
        sql_ms = sum(t for _, t in statements) * 1000 / args.repeat
        template_ms = render_cpu[0] * 1000 / args.repeat
        measured = list(statements)
        calls = ""
        if args.calls:  # Python function calls per request: a count the machine's load cannot move
            import cProfile  # function-level: an optional dev tool
            import pstats  # function-level: an optional dev tool

            with cProfile.Profile() as cprof:
                for _ in range(5):
                    get()
            calls = f" {pstats.Stats(cprof).total_calls // 5:7d}"
        if args.cprofile:
            import cProfile  # function-level: an optional dev tool
            import pstats  # function-level: an optional dev tool

            with cProfile.Profile() as cprof:
                for _ in range(args.repeat):
                    get()
            pstats.Stats(cprof).sort_stats("tottime").print_stats(args.cprofile)
            pstats.Stats(cprof).sort_stats("cumulative").print_stats(args.cprofile)
        print(f"{key:18} {cpu_ms:7.2f} {min(batches):6.2f} {wall_ms:8.2f} {sql:5g} {sql_ms:6.2f} {template_ms:7.2f} "
              f"{size:6.1f}{calls}  {path}", flush=True)
        if args.sql:
            n = max(int(sql), 1)
            for i, (statement, _) in enumerate(measured[:n]):
                ms = sum(measured[j][1] for j in range(i, len(measured), n)) * 1000 / args.repeat
                print(f"    SQL {ms:6.2f} ms:", " ".join(statement.split())[:250])
        if profiler:
            print(profiler.output_text(unicode=False, color=False, show_all=False))
    engine.dispose()


if __name__ == "__main__":
    main()
