"""Shared fixtures: the app on each test database, clients, users, SMTP capture, a live server.

Every test that uses `app` runs once per database: SQLite always, and PostgreSQL as well when
TEST_DATABASE_URL is set (CI sets it). The schema is built by the real Alembic migrations once
per database per session; each test starts from empty tables (reference data kept).
"""
import contextvars
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient

from config import TestConfig
from kil_network import create_app
from kil_network.extensions import db

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_TABLES = {"regions", "local_authorities", "principles", "alembic_version"}
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
if PG_URL.startswith("postgresql://"):
    PG_URL = "postgresql+psycopg://" + PG_URL[len("postgresql://"):]
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def pytest_configure(config):
    """Register the markers used in this suite."""
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright")
    config.addinivalue_line("markers", "postgresql_only: needs PostgreSQL (row locks, SKIP LOCKED)")


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_postgres_url(url: str) -> tuple[str, str]:
    """A URL for a schema of this test process's own in the PostgreSQL test database.

    Parallel test runs on one server cannot disturb each other; the schema starts empty so
    the migrations run from nothing. Returns (url, schema).
    """
    schema = f"kil_test_{os.getpid()}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}", schema


def drop_postgres_schema(url: str, schema: str) -> None:
    """Remove this process's schema at the end of the session."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def make_app(url: str, **overrides):
    """An app bound to `url` with the test config and any overrides."""
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    for key, value in overrides.items():
        setattr(Config, key, value)
    return create_app(Config)


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request, tmp_path_factory):
    """A migrated database for this session: an SQLite file, or the PostgreSQL test database."""
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


def clean_tables() -> None:
    """Delete every row except the reference data, children first."""
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in REFERENCE_TABLES:
                conn.execute(table.delete())


class KilClient(FlaskClient):
    """A test client that can fetch a CSRF token and post forms like a browser.

    Each request runs in a fresh context, as in production: its own app context, `g`
    (Flask-Login's current user, Flask-WTF's token) and database session, even though the
    test itself holds an app context. The test's session is expired afterwards, so reads
    after a request see what the request committed.
    """

    def open(self, *args, **kwargs):
        """Send the request from an empty context; then expire the test's ORM state."""
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response

    def csrf_token(self, url: str = "/") -> str:
        """The CSRF token for this client's session, read from a page."""
        html = self.get(url).get_data(as_text=True)
        match = CSRF_RE.search(html)
        assert match, f"no CSRF token on {url}"
        return match.group(1) or match.group(2)

    def post_form(self, url: str, data: dict | None = None, token_from: str = "/", **kwargs):
        """POST like a browser form: with the session's CSRF token."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token(token_from))
        return self.post(url, data=data, **kwargs)


@pytest.fixture
def app(database_url, request):
    """A fresh app on the session's database, with empty tables.

    The live server's mail worker shares the database: it runs only for tests that use the
    live server, so it never claims the outbox rows an in-process test is delivering."""
    worker = LIVE_MAIL_WORKERS.get(database_url)
    if worker:
        worker.start() if "live_server" in request.fixturenames else worker.stop()
    app = make_app(database_url)
    app.test_client_class = KilClient
    with app.app_context():
        clean_tables()
        yield app
        db.session.remove()
        clean_tables()
        db.engine.dispose()


@pytest.fixture
def limited_app(app, database_url):
    """An app with rate limits switched on (the test config turns them off), counters reset."""
    from kil_network.extensions import limiter

    limited = make_app(database_url, RATELIMIT_ENABLED=True)
    limited.test_client_class = KilClient
    limiter.reset()
    yield limited
    limiter.reset()
    with limited.app_context():
        db.engine.dispose()


@pytest.fixture
def uploads_dir(app, tmp_path):
    """A fresh upload folder for this test."""
    folder = tmp_path / "uploads"
    app.config["UPLOAD_FOLDER"] = str(folder)
    return folder


@pytest.fixture
def thread_app(app, database_url):
    """A second app on the same database with a pool big enough for 20 threads at once (race tests)."""
    options = {"pool_size": 20, "max_overflow": 5, "pool_timeout": 60}
    if database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 60}
    other = make_app(database_url, SQLALCHEMY_ENGINE_OPTIONS=options)
    yield other
    with other.app_context():
        db.engine.dispose()


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
    from kil_network.members.services import create_member
    from kil_network.members.models import LocalAuthority

    counter = {"n": 0}

    def factory(email=None, password="correct horse battery", *, name=None, role="member",
                member_type="community_organisation", confirmed=True, gss_code="E06000023",
                organisation="Riverside Community Trust", show_in_directory=True, **kwargs):
        counter["n"] += 1
        la = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code)) if gss_code else None
        user = create_member(
            name=name or f"Test Member {counter['n']}", email=email or f"member{counter['n']}@example.org",
            password=password, member_type=MemberType(member_type), organisation_name=organisation or "",
            local_authority=la, consent_privacy=True, show_in_directory=show_in_directory,
            role=Role(role), confirmed=confirmed, **kwargs,
        )
        db.session.commit()
        return user

    return factory


class AuthActions:
    """Sign in and out through the real routes."""

    def __init__(self, client):
        self.client = client

    def login(self, email="member1@example.org", password="correct horse battery", **extra):
        """Sign in with the form."""
        return self.client.post_form("/auth/login", {"email": email, "password": password, **extra})

    def logout(self):
        """Sign out (POST with CSRF)."""
        return self.client.post_form("/auth/logout", token_from="/")


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

class CapturedMail:
    """Messages received by the capture server."""

    def __init__(self):
        self.messages = []

    def clear(self):
        """Forget what was received."""
        self.messages.clear()

    def wait_for(self, predicate, timeout: float = 15.0):
        """Wait until a message matching predicate arrives; return it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for message in list(self.messages):
                if predicate(message):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no matching email within {timeout}s; got {[m['Subject'] for m in self.messages]}")


def start_smtp_capture() -> CapturedMail:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    captured = CapturedMail()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            message.envelope_to = list(envelope.rcpt_tos)
            captured.messages.append(message)
            return "250 Message accepted for delivery"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    captured.port = port
    captured.controller = controller
    return captured


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


def email_text(message) -> str:
    """The plain-text body of a captured email."""
    return message.get_body(preferencelist=("plain",)).get_content()


def first_link(message, contains: str) -> str:
    """The first URL in an email's text that contains `contains`."""
    for url in re.findall(r"https?://\S+", email_text(message)):
        if contains in url:
            return url
    raise AssertionError(f"no link containing {contains!r} in email")


# --- A live server for browser tests ----------------------------------------------------

class LiveMailWorker:
    """`flask deliver-mail` for the live server; stopped (SIGTERM, it finishes its batch)
    while in-process tests use the same database, started again for browser tests."""

    def __init__(self, command, env, log):
        self.command, self.env, self.log = command, env, log
        self.process = None

    def start(self):
        """Run the worker unless it is running."""
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env,
                                            stdout=open(self.log, "a"), stderr=subprocess.STDOUT)

    def stop(self):
        """Stop the worker and wait until it has."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


LIVE_MAIL_WORKERS: dict[str, LiveMailWorker] = {}


@pytest.fixture(scope="session")
def live_server(database_url, live_smtp, tmp_path_factory):
    """gunicorn serving the app on the test database, plus the mail worker, on loopback."""
    port = free_port()
    env = {
        **os.environ,
        "KIL_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "browser-test-secret",
        "HTMX_URL": "local",
        "RATELIMIT_ENABLED": "false",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(live_smtp.port),
        "MAIL_POLL_SECONDS": "0.3",
        "BASE_URL": f"http://127.0.0.1:{port}",
    }
    logs = tmp_path_factory.mktemp("live")
    bindir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bindir / "gunicorn"), "--no-control-socket", "-b", f"127.0.0.1:{port}", "-w", "2",
         "--threads", "4", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT,
    )
    worker = LiveMailWorker([str(bindir / "flask"), "--app", "wsgi", "deliver-mail"], env, logs / "worker.log")
    worker.start()
    LIVE_MAIL_WORKERS[database_url] = worker
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                worker.stop()
                raise RuntimeError((logs / "server.log").read_text())
            time.sleep(0.2)
    yield base
    LIVE_MAIL_WORKERS.pop(database_url, None)
    worker.stop()
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


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
