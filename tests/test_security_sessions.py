"""Security headers on every page, production cookies and HSTS, a new session on sign-in,
no open redirect through `next`, and friendly rate-limit answers on join and reset."""
import json
import re
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

import pytest
import sqlalchemy as sa

from config import ProductionConfig
from kil_network import create_app
from kil_network.auth.models import User
from kil_network.core.models import OutboxEmail
from kil_network.extensions import db, limiter
from tests.support.app import AuthActions, KilClient
from tests.support.get_matrix import EXPECTED as GET_EXPECTED

PASSWORD = "correct horse battery"
CSRF_MESSAGE = "The form had expired or was sent from somewhere else"
EXPIRED_MESSAGE = "Your session had expired. Check your answers and send again."  # the form again (finding 11)
JOIN = {"name": "Ada Lovelace", "email": "ada@example.org", "password": "a long enough password",
        "member_type": "other", "local_authority": "E06000023", "consent_privacy": "y"}


def csp_directives(response) -> dict:
    """The Content-Security-Policy as {directive: [sources]}."""
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def set_cookies(response) -> dict:
    """The cookies a response sets, as {name: Morsel}."""
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookies.update(SimpleCookie(header))
    return cookies


# --- Headers on every GET route -----------------------------------------------------------------------

def test_security_headers_on_every_get_route(client, as_role, ids):
    """Every GET route of the access matrix, fetched by staff, carries the CSP and the other headers."""
    as_role("staff")
    seen = 0
    for rule, (url, _outcomes) in GET_EXPECTED.items():
        response = client.get(url.format(**ids))
        where = f"{rule} ({response.status_code})"
        csp = csp_directives(response)
        assert csp["script-src"] == ["'self'"], where  # no 'unsafe-inline', no 'unsafe-eval', no other origin
        assert csp["style-src"] == ["'self'"], where
        assert csp["frame-ancestors"] == ["'none'"], where
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"], where
        assert csp["form-action"] == ["'self'"], where
        assert response.headers["X-Content-Type-Options"] == "nosniff", where
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", where
        assert response.headers["X-Frame-Options"] == "DENY", where
        assert "Strict-Transport-Security" not in response.headers, f"{where}: HSTS outside production"
        if response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            # What the CSP would block: inline script, event-handler attributes, inline styles.
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), where
            assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), where
            assert not re.search(r"<style\b|<[^>]+\sstyle\s*=", html), where
        seen += 1
    assert seen == len(GET_EXPECTED) > 50


def test_htmx_configured_to_work_under_the_csp(client):
    """The layout tells htmx not to eval, not to run script tags and not to inject its indicator styles."""
    html = client.get("/").get_data(as_text=True)
    match = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html)
    assert match, "the layout configures htmx with a meta tag"
    config = json.loads(match.group(1))
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False  # an inline <style> would break style-src 'self'
    assert html.index('name="htmx-config"') < html.index('src="/vendor/htmx.min.js"')  # read before htmx loads


# --- Production: HSTS and cookie flags ------------------------------------------------------------------

def make_production_app(database_url, monkeypatch, **overrides):
    """An app with the production config (a real SECRET_KEY in the environment) on the test database."""
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-tests")
    settings = {"SECRET_KEY": "a-production-secret-for-tests", "SQLALCHEMY_DATABASE_URI": database_url,
                "RATELIMIT_ENABLED": False, "HTMX_URL": "local", "HTMX_SRI": "", "MAIL_SERVER": "",
                "MAIL_PRINT_TO_CONSOLE": True, "BASE_URL": "https://localhost", **overrides}
    production = create_app(type("Config", (ProductionConfig,), settings))
    production.test_client_class = KilClient
    return production


@pytest.fixture
def production_app(app, database_url, monkeypatch):
    """The production config (a real SECRET_KEY in the environment) on the test database."""
    production = make_production_app(database_url, monkeypatch)
    yield production
    with production.app_context():
        db.engine.dispose()


def test_production_refuses_to_start_without_secret_key(database_url, monkeypatch):
    """KIL_ENV=production without SECRET_KEY in the environment does not start."""
    monkeypatch.delenv("SECRET_KEY", raising=False)

    class Config(ProductionConfig):
        SQLALCHEMY_DATABASE_URI = database_url

    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app(Config)


def test_hsts_only_in_production_over_https(production_app, client):
    """HSTS is sent by production over HTTPS; not over plain HTTP, and never by the test config."""
    secure = production_app.test_client().get("/privacy", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    plain = production_app.test_client().get("/privacy", base_url="http://localhost")  # (https is the default)
    assert "Strict-Transport-Security" not in plain.headers
    assert "Strict-Transport-Security" not in client.get("/privacy", base_url="https://localhost").headers


def test_hsts_behind_the_tls_proxy(production_app):
    """Behind the TLS-terminating proxy (plain HTTP with X-Forwarded-Proto: https) production still sends HSTS."""
    client = production_app.test_client()
    response = client.get("/privacy", base_url="http://localhost", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in client.get("/privacy", base_url="http://localhost").headers


def test_forwarded_headers_ignored_without_a_proxy(client):
    """With PROXY_COUNT 0 (development, tests) a client cannot choose its address or scheme by header."""
    response = client.get("/privacy", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert response.request.remote_addr == "127.0.0.1" and response.request.scheme == "http"


def test_production_cookies_secure_httponly_lax(production_app, make_user):
    """In production the session and remember-me cookies are Secure, HttpOnly and SameSite=Lax."""
    make_user(email="member1@example.org")
    client = production_app.test_client()
    token = client.csrf_token("/auth/login")  # production's test client uses https://localhost
    form = {"email": "member1@example.org", "password": PASSWORD, "remember": "y", "csrf_token": token}
    # Over HTTPS the CSRF check also wants a same-origin Referer (what browsers send for a form on the site).
    refused = client.post("/auth/login", data=form, headers={"Referer": "https://evil.example/login"})
    assert refused.status_code == 400 and EXPIRED_MESSAGE in refused.get_data(as_text=True)
    assert client.post("/auth/login", data=form).status_code == 400  # no Referer at all
    response = client.post("/auth/login", data=form, headers={"Referer": "https://localhost/auth/login"})
    assert response.status_code == 302
    cookies = set_cookies(response)
    assert {"session", "remember_token"} <= cookies.keys()
    for name in ("session", "remember_token"):
        assert cookies[name]["secure"] is True, name
        assert cookies[name]["httponly"] is True, name
        assert cookies[name]["samesite"] == "Lax", name
    assert cookies["session"]["expires"] == ""  # a browser-session cookie; only remember_token persists


def test_test_config_cookies_httponly_lax(client, make_user, auth):
    """Outside production the cookies are still HttpOnly and SameSite=Lax (Secure needs HTTPS)."""
    make_user(email="member1@example.org")
    response = auth.login("member1@example.org", remember="y")
    cookies = set_cookies(response)
    for name in ("session", "remember_token"):
        assert cookies[name]["httponly"] is True and cookies[name]["samesite"] == "Lax", name


# --- A new session on sign-in ---------------------------------------------------------------------------

def _session_cookie(client) -> str:
    """The value of the client's session cookie."""
    cookie = client.get_cookie("session")
    return cookie.value if cookie else ""


@pytest.mark.parametrize("how", ["login", "join"])
def test_sign_in_starts_a_new_session(client, make_user, how):
    """Data planted in the session before signing in (or joining) is gone after, and so is the old CSRF token."""
    make_user(email="member1@example.org")
    old_token = client.csrf_token("/auth/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["_fresh"] = False
    before = _session_cookie(client)
    if how == "login":
        response = client.post("/auth/login", data={"email": "member1@example.org", "password": PASSWORD,
                                                    "csrf_token": old_token})
    else:
        response = client.post("/auth/join", data={**JOIN, "csrf_token": old_token})
    assert response.status_code == 302
    assert _session_cookie(client) != before
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "csrf_token" not in session  # a new token is made on the next form
        if how == "join":  # joining signs nobody in (the confirmation link does): issue 9, finding 8
            assert "_user_id" not in session
            return
        assert session["_user_id"] and session["_fresh"] is True
    # The token from before signing in no longer works.
    refused = client.post("/account/", data={"name": "Changed", "member_type": "other", "csrf_token": old_token})
    assert refused.status_code == 400 and EXPIRED_MESSAGE in refused.get_data(as_text=True)
    assert client.get("/account/").status_code == 200  # still signed in


def test_sign_out_clears_the_session(client, make_user, auth):
    """Signing out removes everything from the session, not just the user id."""
    make_user(email="member1@example.org")
    auth.login("member1@example.org")
    with client.session_transaction() as session:
        session["left-behind"] = "x"
    auth.logout()
    with client.session_transaction() as session:
        assert "left-behind" not in session and "_user_id" not in session


def test_password_change_ends_remembered_devices(app, client, make_user, auth):
    """A remember-me cookie (a stolen one, say) stops working once the password is changed elsewhere."""
    make_user(email="member1@example.org")
    remembered = app.test_client()
    AuthActions(remembered).login("member1@example.org", remember="y")
    remember_cookie = remembered.get_cookie("remember_token").value
    auth.login("member1@example.org")
    response = client.post_form("/account/password", {"current_password": PASSWORD,
                                                      "new_password": "a new long password"},
                                token_from="/account/password")
    assert response.status_code == 302
    thief = app.test_client()
    thief.set_cookie("remember_token", remember_cookie)
    assert thief.get("/account/").status_code == 302
    assert client.get("/account/").status_code == 200  # the session that changed it continues


def test_demoted_staff_lose_staff_pages_at_once(app, client, make_user, auth):
    """When an admin takes away staff rights, the member's open session no longer reaches staff pages."""
    staff = make_user(email="staff@example.org", role="staff")
    make_user(email="admin@example.org", role="admin")
    staff_client = app.test_client()
    AuthActions(staff_client).login("staff@example.org")
    assert staff_client.get("/staff/").status_code == 200
    auth.login("admin@example.org")
    response = client.post_form(f"/staff/members/{staff.id}/role", {"role": "member"}, token_from="/staff/")
    assert response.status_code in (302, 303)
    assert db.session.get(User, staff.id).role.value == "member"
    response = staff_client.get("/staff/")
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/auth/login"


# --- `next` never leaves the site -----------------------------------------------------------------------

OFF_SITE = ["//evil.example", "https://evil.example", "http://evil.example/account/", "/\\evil.example",
            "\\/evil.example", "\\\\evil.example", "javascript:alert(1)", "JavaScript:alert(1)",
            "%2F%2Fevil.example", "/%2F/evil.example", "/\t/evil.example", "/\n/evil.example", " //evil.example",
            "///evil.example", "https:evil.example", "data:text/html,hi", "//evil.example/%2F..", "/%5Cevil.example",
            "evil.example", "@evil.example", "/@evil.example"]
# Query strings as an attacker would write them in a link (decoded by the app before the check).
RAW_QUERIES = ["next=%2F%2Fevil.example", "next=//evil.example", "next=%2F%5Cevil.example", "next=/%09/evil.example",
               "next=%5C%5Cevil.example", "next=https:%2F%2Fevil.example", "next=%2F%2F%65vil.example",
               "next=/account/&next=//evil.example", "next=//evil.example&next=/account/"]
NEXT_QUERIES = ["next=" + quote(target, safe="") for target in OFF_SITE] + RAW_QUERIES


def _stays_on_site(location: str) -> bool:
    """How a browser would read the Location: a path on this site (tabs and newlines are dropped)."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip()
    parts = urlsplit(cleaned)
    return (not parts.scheme and not parts.netloc and cleaned.startswith("/")
            and not cleaned.startswith("//") and "\\" not in cleaned)


def test_sign_in_next_cannot_leave_the_site(client, make_user, auth):
    """After signing in, `next` pointing off-site (however disguised) leads to a path on this site.

    One test signing in and out again for each query (not one test each: that would build an app
    per query on both databases)."""
    make_user(email="member1@example.org")
    off_site = {}
    for query in NEXT_QUERIES:
        token = client.csrf_token("/auth/login")
        response = client.post(f"/auth/login?{query}",
                               data={"email": "member1@example.org", "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, query
        if not _stays_on_site(response.headers["Location"]):
            off_site[query] = response.headers["Location"]
        auth.logout()
    assert off_site == {}


def test_sign_in_next_on_site_is_followed(client, make_user):
    """A `next` on this site (with its query string) is where signing in leads."""
    make_user(email="member1@example.org")
    token = client.csrf_token("/auth/login")
    response = client.post("/auth/login?next=" + quote("/workshops/?region=3", safe=""),
                           data={"email": "member1@example.org", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/workshops/?region=3"


def test_login_form_keeps_next_escaped(client):
    """The sign-in form posts back to itself with `next` URL-encoded, never as markup."""
    html = client.get("/auth/login?next=" + quote('/x"><script>alert(1)</script>', safe="")).get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert re.search(r'<form method="post" action="/auth/login\?next=[^"<>]*"', html)


# --- Rate limits on join and reset ----------------------------------------------------------------------

def _count(model) -> int:
    """Rows in a table."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_join_rate_limited_after_ten_posts_an_hour(limited_app):
    """The 11th join POST within the hour gets the friendly 429 page (a fragment for htmx); no account is made."""
    client = limited_app.test_client()
    token = client.csrf_token("/auth/join")
    for _ in range(10):
        response = client.post("/auth/join", data={**JOIN, "password": "short", "csrf_token": token})
        assert response.status_code == 200  # the form again, with the error
    response = client.post("/auth/join", data={**JOIN, "csrf_token": token})
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many attempts" in html and "<html" in html
    assert _count(User) == 0
    assert client.get("/auth/join").status_code == 200  # reading the page is not limited
    fragment = client.post("/auth/join", data={**JOIN, "csrf_token": token}, headers={"HX-Request": "true"})
    assert fragment.status_code == 429
    assert "Too many attempts" in fragment.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    assert _count(User) == 0


def test_reset_rate_limited_after_five_posts_a_minute(limited_app, make_user):
    """The 6th reset request within a minute gets the friendly 429 page (a fragment for htmx); no email is queued."""
    make_user(email="member1@example.org")
    client = limited_app.test_client()
    token = client.csrf_token("/auth/reset")
    for _ in range(5):
        response = client.post("/auth/reset", data={"email": "member1@example.org", "csrf_token": token})
        assert response.status_code == 200
    queued = _count(OutboxEmail)
    assert queued >= 5
    response = client.post("/auth/reset", data={"email": "member1@example.org", "csrf_token": token})
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many attempts" in html and "<html" in html
    fragment = client.post("/auth/reset", data={"email": "member1@example.org", "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 429 and "<html" not in fragment.get_data(as_text=True)
    assert _count(OutboxEmail) == queued
    assert client.get("/auth/reset").status_code == 200


def test_rate_limits_count_each_visitor_behind_the_proxy(database_url, app, make_user, monkeypatch):
    """In production behind the proxy, one visitor's sign-in attempts do not lock out another visitor.

    Every request reaches gunicorn from the proxy's address; the limit must count the client
    address the proxy forwards, or ten bad passwords a minute would stop everyone signing in."""
    make_user(email="member1@example.org")
    production = make_production_app(database_url, monkeypatch, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    limiter.reset()
    try:
        def attempt(client, address, password="wrong password"):
            """A sign-in POST arriving through the proxy from `address`."""
            headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https", "Referer": "https://localhost/auth/login"}
            token = client.csrf_token("/auth/login")
            return client.post("/auth/login", headers=headers, data={
                "email": "member1@example.org", "password": password, "csrf_token": token})

        attacker, member = production.test_client(), production.test_client()
        assert [attempt(attacker, "203.0.113.7").status_code for _ in range(10)] == [200] * 10
        assert attempt(attacker, "203.0.113.7").status_code == 429
        assert attempt(member, "198.51.100.20", PASSWORD).status_code == 302  # signed in
    finally:
        limiter.reset()
        with production.app_context():
            db.engine.dispose()
