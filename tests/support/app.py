"""The app under test: test databases, the app factory with overrides, a browser-like client."""
import contextvars
import hashlib
import os
import re
import socket
from pathlib import Path

import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from config import TestConfig
from kil_network import create_app
from kil_network.extensions import db

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_TABLES = {"regions", "local_authorities", "principles", "alembic_version"}
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
if PG_URL.startswith("postgresql://"):
    PG_URL = "postgresql+psycopg://" + PG_URL[len("postgresql://"):]
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def private_postgres_url(url: str) -> tuple[str, str]:
    """A URL for a schema of this test process's own in the PostgreSQL test database.

    Parallel test processes (pytest-xdist workers, two runs at once) on one server cannot disturb
    each other; the schema starts empty so the migrations run from nothing. Returns (url, schema).
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

    def csrf_token(self, url: str | None = None) -> str:
        """The CSRF token for this client's session: read from the page at `url` when one is
        named, else made as Flask-WTF's generate_csrf makes it (a page fetch only for a token
        costs a whole render)."""
        if url is None:
            return self._session_token()
        html = self.get(url).get_data(as_text=True)
        match = CSRF_RE.search(html)
        assert match, f"no CSRF token on {url}"
        return match.group(1) or match.group(2)

    def _session_token(self) -> str:
        """The signed form token for the raw token in this client's session (added if missing)."""
        app = self.application
        field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        with self.session_transaction() as session:
            if field not in session:
                session[field] = hashlib.sha1(os.urandom(64)).hexdigest()
            raw = session[field]
        secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
        return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)

    def post_form(self, url: str, data: dict | None = None, token_from: str | None = None, **kwargs):
        """POST like a browser form: with the session's CSRF token (from `token_from` if named)."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token(token_from))
        return self.post(url, data=data, **kwargs)


def signed_in(app, email: str | None, password: str = "correct horse battery") -> KilClient:
    """A new test client, signed in as `email` through the form (or anonymous for None)."""
    client = app.test_client()
    if email:
        response = client.post_form("/auth/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


class AuthActions:
    """Sign in and out through the real routes."""

    def __init__(self, client):
        self.client = client

    def login(self, email="member1@example.org", password="correct horse battery", **extra):
        """Sign in with the form."""
        return self.client.post_form("/auth/login", {"email": email, "password": password, **extra})

    def logout(self):
        """Sign out (POST with CSRF)."""
        return self.client.post_form("/auth/logout")
