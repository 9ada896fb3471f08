"""Shared fixtures: the app on each test database, clients, users, SMTP capture, a live server.

Speed without weaker tests (issue 10):
- One app per database per test process (`_shared_app`), not one per test: its Jinja templates
  are compiled once, and a bytecode cache on disk serves every process and every other app a
  test makes. What a test changes on the app (its config, request/test-client classes, the
  shared rate limiter's state) is put back after the test (`AppState`).
- Tables are emptied once, after each test (reference data kept); and before a test only when
  something outside the `app` fixture may have written (a live server, a test's own app).
- SQLite test files skip fsync (`PRAGMA synchronous=OFF`): durability of a throwaway file is not
  under test, and it made every clean cost 30-60 ms.
- A form post takes its CSRF token from the client's session (as Flask-WTF makes it) instead of
  rendering the home page first; `token_from=` still reads it from a named page.
- pytest-xdist runs the suite in parallel (`make test`): each process has its own SQLite file
  and its own PostgreSQL schema.

Which database: every test runs on SQLite. Only the tests whose behaviour can differ between
SQLite and PostgreSQL run on PostgreSQL as well (when TEST_DATABASE_URL is set, as in CI): the
modules in BOTH_DATABASES below (SQL the services write, locking, concurrency, migrations,
query counts, bulk loading, the outbox's claims) and any test marked `both_databases`. Tests
marked `postgresql_only` (row locks, SKIP LOCKED) run on PostgreSQL alone.
"""
import copy
import sqlite3
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from jinja2 import FileSystemBytecodeCache
from sqlalchemy.engine import Engine

from kil_network.extensions import db, limiter
from tests.support.app import (
    DATABASES,
    PG_URL,
    AuthActions,
    KilClient,
    clean_tables,
    drop_postgres_schema,
    make_app,
    private_postgres_url,
)
from tests.support.live import CHROMIUM_ARGS, LIVE_MAIL_WORKERS, start_live_server, stop_live_server
from tests.support.mail import start_smtp_capture

# Fixture modules: `ids`/`listed` (rows for the route matrices' URL placeholders) and the
# state-changing matrix's `post_ids`/`signed_in`.
pytest_plugins = ["tests.support.ids", "tests.support.post_matrix"]

# Test modules run on both databases, and why their behaviour can differ between the two.
BOTH_DATABASES = {
    "test_migrations": "DDL: each migration on an empty database, upgrade and downgrade",
    "test_auth_services": "the services' SQL: lookups by normalised email, unique constraints",
    "test_member_services": "the services' SQL: directory filters and search, erasure",
    "test_workshop_services": "the services' SQL: capacity counts, waitlist order, region totals",
    "test_principle_services": "the services' SQL: tallies, groups, suppression, history",
    "test_evidence_services": "the services' SQL: calls, survey drafts, library filters",
    "test_journey_services": "the services' SQL: stage facts for many councils (GROUP BY, IN lists), peer suggestions",
    "test_query_counts": "the number of statements each page sends",
    "test_seed_bulk": "bulk inserts and the benchmark data set",
    "test_cli": "the commands' SQL (seed-demo, reminders, create-user)",
    "test_email_outbox": "the outbox's claims (row locks and SKIP LOCKED on PostgreSQL)",
    "test_hardening_email": "the mail worker's claims and crash recovery",
    "test_hardening_workshops": "row locks and UPDATE ... RETURNING on registration and check-in",
    "test_workshop_concurrency": "concurrent registrations: locking",
    "test_principle_concurrency": "concurrent votes: locking and tally upserts",
    "test_multi_instance": "two app instances on one database",
}

_JINJA_CACHE = Path(tempfile.gettempdir()) / "kil-network-test-jinja"
_SHARED_STATES: dict[str, "AppState"] = {}  # database URL -> the shared app's state
_DIRTY: dict[str, bool] = {}  # database name -> may hold rows no `app` fixture cleaned


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Register the markers used in this suite."""
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright")
    config.addinivalue_line("markers", "postgresql_only: needs PostgreSQL (row locks, SKIP LOCKED)")
    config.addinivalue_line("markers", "both_databases: behaviour can differ between SQLite and PostgreSQL")


def _databases_for(definition) -> list[str]:
    """The databases one test runs on (see the module docstring)."""
    if definition.get_closest_marker("postgresql_only"):
        return ["postgresql"] if PG_URL else ["sqlite"]  # on SQLite the test skips itself
    module = definition.module.__name__.rpartition(".")[2]
    if module in BOTH_DATABASES or definition.get_closest_marker("both_databases"):
        return DATABASES
    return ["sqlite"]


def pytest_generate_tests(metafunc):
    """Parametrise every test that uses a database with the databases it runs on."""
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", _databases_for(metafunc.definition), indirect=True, scope="session")


def pytest_runtest_setup(item):
    """A test with the database but not the `app` fixture may leave rows: the next `app` cleans first."""
    params = getattr(item, "callspec", None)
    name = params.params.get("database_url") if params else None
    if name and "app" not in item.fixturenames:
        _DIRTY[name] = True


@sa.event.listens_for(Engine, "connect")
def _sqlite_without_fsync(dbapi_connection, _record):
    """Test SQLite files skip fsync (see the module docstring)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=OFF")


def _app_for_tests(url: str, **overrides):
    """make_app with the shared Jinja bytecode cache and the browser-like test client."""
    app = make_app(url, **overrides)
    _JINJA_CACHE.mkdir(exist_ok=True)
    app.jinja_env.bytecode_cache = FileSystemBytecodeCache(str(_JINJA_CACHE))
    app.test_client_class = KilClient
    return app


class AppState:
    """What tests change on a shared app, kept so it can be put back after each test."""

    ATTRIBUTES = ("request_class", "response_class", "test_client_class", "test_cli_runner_class")

    def __init__(self, app):
        self.app = app
        self.config = copy.deepcopy(dict(app.config))
        self.attributes = {name: getattr(app, name) for name in self.ATTRIBUTES}
        self.limiter = dict(limiter.__dict__)  # Flask-Limiter keeps its settings on the one instance

    def restore(self):
        """Put the config, the classes and the limiter back as they were."""
        self.app.config.clear()
        self.app.config.update(copy.deepcopy(self.config))
        for name, value in self.attributes.items():
            setattr(self.app, name, value)
        self.apply_limiter()

    def apply_limiter(self):
        """The rate limiter's settings as this app set them (on or off)."""
        limiter.__dict__.clear()
        limiter.__dict__.update(self.limiter)


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    """A migrated database for this session: an SQLite file, or this process's PostgreSQL schema."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url, schema = private_postgres_url(PG_URL)
    app = make_app(url)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url
    if schema:
        drop_postgres_schema(PG_URL, schema)


@pytest.fixture(scope="session")
def _shared_app(database_url):
    """The one app of this process on this database, and its state to restore after each test."""
    app = _app_for_tests(database_url)
    state = _SHARED_STATES[database_url] = AppState(app)
    yield app, state
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_shared_app, database_url, request):
    """The app on this test's database, in an app context, its tables emptied after the test.

    The live server's mail worker shares the database: it runs only for tests that read the
    mail it sends (`live_smtp`), so it never claims the outbox rows an in-process test is
    delivering, and is not restarted (a new process importing the app) for every browser test."""
    shared, state = _shared_app
    name = request.node.callspec.params["database_url"]
    live = "live_server" in request.fixturenames
    worker = LIVE_MAIL_WORKERS.get(database_url)
    if worker:
        worker.start() if "live_smtp" in request.fixturenames else worker.stop()
    with shared.app_context():
        if _DIRTY.pop(name, False) or live:
            clean_tables()
        try:
            yield shared
        finally:
            db.session.remove()
            clean_tables()
            if live:
                _DIRTY[name] = True  # the browser may still be sending a request
    state.restore()


@pytest.fixture(scope="session")
def _limited_app(_shared_app, database_url):
    """A second app with rate limits switched on (the test config turns them off)."""
    limited = _app_for_tests(database_url, RATELIMIT_ENABLED=True)
    state = AppState(limited)
    _shared_app[1].apply_limiter()
    yield limited, state
    with limited.app_context():
        db.engine.dispose()


@pytest.fixture
def limited_app(app, _limited_app):
    """The rate-limited app, its counters reset; limits are off again after the test."""
    limited, state = _limited_app
    state.apply_limiter()
    limiter.reset()
    yield limited
    limiter.reset()
    state.restore()


@pytest.fixture
def fresh_app(app, database_url):
    """A new app of this test's own on its database: for a test that adds a route (the shared app
    has served requests, so Flask refuses new routes on it)."""
    fresh = _app_for_tests(database_url)
    yield fresh
    with fresh.app_context():
        db.engine.dispose()
    _SHARED_STATES[database_url].apply_limiter()


@pytest.fixture
def uploads_dir(app, tmp_path):
    """A fresh upload folder for this test."""
    folder = tmp_path / "uploads"
    app.config["UPLOAD_FOLDER"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def _thread_app(_shared_app, database_url):
    """A second app on the same database with a pool big enough for 20 threads at once."""
    options = {"pool_size": 20, "max_overflow": 5, "pool_timeout": 60}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 60}
    other = _app_for_tests(database_url, SQLALCHEMY_ENGINE_OPTIONS=options)
    state = AppState(other)
    _shared_app[1].apply_limiter()
    yield other, state
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def thread_app(app, _thread_app):
    """The app for race tests (each thread pushes its own app context on it)."""
    other, state = _thread_app
    yield other
    with other.app_context():
        db.engine.dispose()  # its 20 connections closed: two test processes must stay under PostgreSQL's limit
    state.restore()


@pytest.fixture
def client(app):
    """A test client (cookies kept between requests)."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for `flask` commands."""
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a member (confirmed and active unless told otherwise); returns the User."""
    from kil_network.auth.models import MemberType, Role
    from kil_network.members.models import LocalAuthority
    from kil_network.members.services import create_member

    counter = {"n": 0}

    def factory(email=None, password="correct horse battery", *, name=None, role="member",
                member_type="community_organisation", confirmed=True, gss_code="E06000023",
                organisation="Riverside Community Trust", show_in_directory=True, **kwargs):
        counter["n"] += 1
        la = (db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))
              if gss_code else None)
        user = create_member(
            name=name or f"Test Member {counter['n']}", email=email or f"member{counter['n']}@example.org",
            password=password, member_type=MemberType(member_type), organisation_name=organisation or "",
            local_authority=la, consent_privacy=True, show_in_directory=show_in_directory,
            role=Role(role), confirmed=confirmed, **kwargs,
        )
        db.session.commit()
        return user

    return factory


@pytest.fixture
def make_people(make_user):
    """make_people(n, member_type): n confirmed members of a type, new people on every call
    (voter1@example.org "Voter Person1", voter2@... across calls)."""
    made = {"n": 0}

    def factory(n, member_type="community_organisation"):
        people = []
        for _ in range(n):
            made["n"] += 1
            people.append(make_user(email=f"voter{made['n']}@example.org", name=f"Voter Person{made['n']}",
                                    member_type=member_type))
        return people

    return factory


@pytest.fixture
def auth(client):
    """Sign-in helper for the test client."""
    return AuthActions(client)


@pytest.fixture
def as_role(client, make_user, auth):
    """Sign the client in as 'anonymous', 'unconfirmed', 'member', 'staff' or 'admin'."""

    def sign_in(role: str):
        if role == "anonymous":
            return None
        user = make_user(
            email=f"{role}@example.org", role=role if role in ("staff", "admin") else "member",
            confirmed=role != "unconfirmed",
        )
        response = auth.login(f"{role}@example.org")
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    return sign_in


# --- SMTP capture ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def smtp_server():
    """The SMTP capture server for tests that drive the app in-process."""
    captured = start_smtp_capture()
    yield captured
    captured.controller.stop()


@pytest.fixture(scope="session")
def live_smtp():
    """A separate SMTP capture server for the live server's mail worker.

    Kept apart from `smtp_server` so that mail the worker delivers late can never be
    counted by an in-process test (and the other way round)."""
    captured = start_smtp_capture()
    yield captured
    captured.controller.stop()


@pytest.fixture
def mail(smtp_server, app):
    """The SMTP capture server, emptied, with the app configured to send to it."""
    smtp_server.clear()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    return smtp_server


# --- A live server for browser tests ----------------------------------------------------

@pytest.fixture(scope="session")
def live_server(database_url, live_smtp, tmp_path_factory):
    """gunicorn serving the app on the test database, plus the mail worker, on loopback."""
    base, server, worker = start_live_server(database_url, live_smtp.port, tmp_path_factory.mktemp("live"))
    LIVE_MAIL_WORKERS[database_url] = worker
    yield base
    LIVE_MAIL_WORKERS.pop(database_url, None)
    stop_live_server(server, worker)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never `playwright install`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, app):
    """A fresh browser context and page, with the live server's base URL set."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
