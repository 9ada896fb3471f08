"""bench/run's own logic, without a benchmark database: per-scale database names, the scale list,
the verdicts against issue 14's targets, the growth ratio, and that every benchmarked request is a
route of the app."""
import argparse
import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_loader = SourceFileLoader("bench_run", str(ROOT / "bench" / "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)

IDS = {"checkin": 11, "register": 12, "open": 3, "closed": 2, "drafts": [21, 22, 23], "tap": [31, 32],
       "council": "E06000001"}


def test_scale_one_keeps_the_default_databases_and_other_scales_get_their_own():
    """Scale 1 is instance/kil_bench.db and kil_bench, as before; 0.1 and 10 never share a database with it."""
    assert bench.database_url("sqlite", None, 1) == f"sqlite:///{ROOT / 'instance' / 'kil_bench.db'}"
    assert bench.database_url("sqlite", None, 0.1) == f"sqlite:///{ROOT / 'instance' / 'kil_bench_s0_1.db'}"
    assert bench.database_url("postgresql", None, 1) == bench.PG_DEFAULT
    assert bench.database_url("postgresql", None, 0.1) == "postgresql+psycopg://postgres@127.0.0.1:5432/kil_bench_s0_1"
    assert bench.database_url("postgresql", None, 10).endswith("/kil_bench_s10")
    assert bench.database_url("postgresql", None, 0.01).endswith("/kil_bench_s0_01")
    names = {bench.database_url(kind, None, scale) for kind in ("sqlite", "postgresql") for scale in (0.01, 0.1, 1, 10)}
    assert len(names) == 8


def test_an_explicit_url_gets_the_suffix_on_its_database_name_only():
    """The query string, user and password stay; plain postgresql:// uses the psycopg driver."""
    url = bench.database_url("postgresql", "postgresql://bob:pw@db:5433/perf?sslmode=disable", 0.1)
    assert url == "postgresql+psycopg://bob:pw@db:5433/perf_s0_1?sslmode=disable"
    assert bench.database_url("postgresql", "postgresql://bob:pw@db/perf", 1) == "postgresql+psycopg://bob:pw@db/perf"
    assert bench.database_url("sqlite", "sqlite:////tmp/x.db", 0.5) == "sqlite:////tmp/x_s0_5.db"


def test_scales_are_a_sorted_list_above_zero():
    """'1,0.1' runs 0.1 then 1 (the growth ratio is largest over smallest); nonsense is refused."""
    assert bench.parse_scales("1,0.1") == [0.1, 1.0]
    assert bench.parse_scales("1") == [1.0]
    assert bench.parse_scales("0.1, 1, 0.1") == [0.1, 1.0]
    for bad in ("0,1", "-1", "one", ","):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_scales(bad)


def test_verdicts_follow_the_issue_targets():
    """Reads <= 3 ms CPU, check-in page <= 8, tap <= 3, searches <= 4 ms and p95 <= 50 ms,
    register/cancel <= 6 SQL and >= 200/s, vote >= 300/s on PostgreSQL."""
    v = bench.verdict
    assert v("home", "sqlite", cpu=3.0) == "ok"
    assert v("home", "sqlite", cpu=3.1) == "miss: CPU 3.1 > 3 ms"
    assert v("council", "postgresql", cpu=2.0, p95=400) == "ok"  # no latency target for reads
    assert v("checkin", "sqlite", cpu=7.9) == "ok"
    assert v("checkin", "sqlite", cpu=8.2) == "miss: CPU 8.2 > 8 ms"
    assert v("tap", "postgresql", cpu=3.4) == "miss: CPU 3.4 > 3 ms"
    assert v("directory_accent", "postgresql", cpu=3.9, p95=49) == "ok"
    assert v("staff_members", "postgresql", cpu=4.5, p95=51) == "miss: CPU 4.5 > 4 ms, p95 51 > 50 ms"
    assert v("register", "postgresql", sql=6, rps=200) == "ok"
    assert v("register", "postgresql", sql=7, rps=150) == "miss: SQL 7 > 6, 150 < 200/s"
    assert v("vote", "postgresql", rps=299) == "miss: 299 < 300/s"
    assert v("vote", "sqlite", rps=100) == "ok (the 300/s target is for PostgreSQL)"
    assert v("vote", "postgresql", rps=400, errors=3) == "miss: 3 errors"
    assert v("ceiling", "postgresql", cpu=9) == "—"
    assert v("home", "sqlite") == "ok"  # nothing measured is nothing judged


def test_growth_is_the_cpu_ratio_of_the_largest_scale_with_equal_sql():
    """<= 1.3 and the same SQL count at every scale."""
    assert bench.growth([2.0, 2.6], [4, 4]) == (1.3, "ok")
    ratio, judged = bench.growth([2.0, 3.0], [4, 4])
    assert ratio == 1.5 and judged == "miss: CPU × 1.50 > 1.3"
    assert bench.growth([2.0, 2.0], [4, 5])[1] == "miss: SQL 4 → 5"
    assert bench.growth([1.0, 0.5], [3, 3]) == (0.5, "ok")
    assert bench.growth([0.0, 1.0], [3, 3])[1].startswith("miss")


def test_every_target_belongs_to_a_benchmarked_endpoint():
    """A renamed endpoint cannot silently drop its target; keys are unique; the ceiling is first."""
    endpoints = bench.endpoints(IDS)
    keys = [e.key for e in endpoints]
    assert keys[0] == "ceiling" and len(keys) == len(set(keys))
    assert set(bench.TARGETS) <= set(keys)
    for key in ("library", "library_search", "council", "tap", "staff_members", "directory_prefix",
                "directory_accent", "checkin", "vote", "register"):
        assert key in keys


def test_post_cycles_start_by_putting_the_state_back():
    """The in-process warm-up is the undo or the confirmed cancel, and the cycle alternates after it,
    so every measured request does real work whatever state an earlier run left."""
    by_key = {e.key: e for e in bench.endpoints(IDS)}
    assert by_key["tap"].calls == [("/staff/workshops/11/attendance/31/undo", {}),
                                   ("/staff/workshops/11/attendance/31", {})]
    assert by_key["register"].calls == [("/workshops/12/cancel", {"confirm": "1"}), ("/workshops/12/register", {})]
    assert 'return "/workshops/12/cancel", "confirm=1"' in by_key["register"].lua
    votes = by_key["vote"].calls
    assert {path for path, _ in votes} == {f"/principles/drafts/{d}/vote" for d in IDS["drafts"]}
    assert {data["stance"] for _, data in votes} == {"support", "amend", "oppose"}
    assert by_key["directory_accent"].path == "/members/?q=jos%C3%A9"


def test_every_benchmarked_request_is_a_route(app):
    """Each GET path and each POST of a cycle matches a route of the app with that method."""
    adapter = app.url_map.bind("localhost")
    for endpoint in bench.endpoints(IDS):
        if endpoint.kind == "get":
            adapter.match(endpoint.path.split("?", 1)[0], method="GET")
        else:
            for path, _ in endpoint.calls:
                adapter.match(path, method="POST")


def test_a_migration_edited_after_it_was_applied_is_found():
    """A reused benchmark database whose applied migration file changed (or vanished) since is reported;
    a migration added since is not (the upgrade applies it)."""
    recorded = {"0017_a.py": "aaa", "0018_b.py": "bbb", "0019_c.py": "ccc"}
    assert bench.changed_migrations(recorded, {**recorded, "0020_d.py": "ddd"}) == []
    assert bench.changed_migrations(recorded, {"0017_a.py": "aaa", "0018_b.py": "BBB"}) == ["0018_b.py", "0019_c.py"]
    assert bench.changed_migrations({}, {"0017_a.py": "aaa"}) == []
    assert set(bench.migration_hashes()) == {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
