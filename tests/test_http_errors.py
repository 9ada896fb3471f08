"""CSRF, friendly error pages (full and htmx), rate limits, the health check and security headers."""
import re

import pytest
import sqlalchemy as sa

from kil_network.auth.models import Status, User
from kil_network.extensions import db
from tests.support.app import make_app

PASSWORD = "correct horse battery"
CSRF_MESSAGE = "The form had expired or was sent from somewhere else"
# A form refused for its token comes back with what was typed and this message (core/csrf.py).
EXPIRED_MESSAGE = "Your session had expired. Check your answers and send again."
JOIN = {"name": "Ada Lovelace", "email": "ada@example.org", "password": "a long enough password",
        "member_type": "other", "local_authority": "E06000023", "consent_privacy": "y"}
PROFILE = {"name": "Changed Name", "member_type": "other", "local_authority": "E06000023"}


# Each case: (url, role signed in, form data, a check that nothing changed).
def _not_signed_in(client, ctx):
    """The client is still signed out."""
    return client.get("/account/").status_code == 302


def _no_account(client, ctx):
    """No account was created."""
    return db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email == "ada@example.org")) == 0


def _still_signed_in(client, ctx):
    """The client is still signed in."""
    return client.get("/account/").status_code == 200


def _profile_unchanged(client, ctx):
    """The member's name did not change."""
    return db.session.get(User, ctx["user"].id).name != "Changed Name"


def _target_active(client, ctx):
    """The member staff tried to suspend is still active."""
    return db.session.get(User, ctx["target"].id).status == Status.ACTIVE


CSRF_CASES = {
    "login": ("/auth/login", "anonymous", {"email": "target@example.org", "password": PASSWORD}, _not_signed_in),
    "join": ("/auth/join", "anonymous", JOIN, _no_account),
    "logout": ("/auth/logout", "member", {}, _still_signed_in),
    "profile": ("/account/", "member", PROFILE, _profile_unchanged),
    "suspend": ("/staff/members/{target}/suspend", "staff", {"reason": "x"}, _target_active),
}


@pytest.fixture
def target(make_user):
    """A member for the forms to act on (and to sign in as)."""
    return make_user(email="target@example.org", name="Target Person")


@pytest.mark.parametrize("case", CSRF_CASES)
@pytest.mark.parametrize("token", ["missing", "wrong", "other-session"])
def test_post_without_valid_csrf_token_refused(app, client, as_role, target, case, token):
    """A state-changing POST without a valid CSRF token gets the friendly 400 page and changes nothing."""
    url, role, data, unchanged = CSRF_CASES[case]
    url = url.format(target=target.id)
    user = as_role(role)
    data = dict(data)
    if token == "wrong":
        data["csrf_token"] = "not-a-real-token"
    elif token == "other-session":
        data["csrf_token"] = app.test_client().csrf_token("/auth/login")
    response = client.post(url, data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert (CSRF_MESSAGE in html or EXPIRED_MESSAGE in html) and "<html" in html
    assert unchanged(client, {"user": user, "target": target})


def test_csrf_failure_for_htmx_is_a_fragment(client, as_role):
    """An htmx post without a token gets the 400 message as a fragment."""
    as_role("member")
    response = client.post("/account/", data=PROFILE, headers={"HX-Request": "true"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert (CSRF_MESSAGE in html or EXPIRED_MESSAGE in html) and "<html" not in html


def test_csrf_header_accepted_for_htmx_profile(client, as_role):
    """The X-CSRFToken header (what the layout sets for htmx) is accepted instead of the form field."""
    user = as_role("member")
    token = client.csrf_token("/account/")
    assert "data-hx-headers='{\"X-CSRFToken\": \"" in client.get("/account/").get_data(as_text=True)
    response = client.post("/account/", data=PROFILE, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code in (200, 302)
    assert "HX-Redirect" in response.headers or response.status_code == 302
    assert db.session.get(User, user.id).name == "Changed Name"


def test_csrf_header_accepted_for_staff_action(client, as_role, target):
    """A staff action posted by htmx with the header token works."""
    as_role("staff")
    token = client.csrf_token("/staff/")
    response = client.post(f"/staff/members/{target.id}/suspend", data={"reason": ""},
                           headers={"X-CSRFToken": token})
    assert response.status_code in (200, 303)
    assert db.session.get(User, target.id).status == Status.SUSPENDED


def test_csrf_header_accepted_for_logout(client, as_role):
    """Signing out with the header token works."""
    as_role("member")
    token = client.csrf_token("/")
    client.post("/auth/logout", headers={"X-CSRFToken": token})
    assert client.get("/account/").status_code == 302


# --- Friendly error pages ---------------------------------------------------------------------------

def test_404_page(client):
    """An unknown address shows the friendly 404 page."""
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<html" in html and "Page not found" in html and "Go to the home page" in html


def test_404_fragment_for_htmx(client):
    """An htmx request for an unknown address gets the 404 message as a fragment."""
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'class="error-panel"' in html and "Page not found" in html


@pytest.mark.parametrize(("method", "url"), [("get", "/auth/logout"), ("put", "/auth/login"),
                                              ("delete", "/members/"), ("get", "/staff/outbox/1/retry")])
def test_405_page(client, method, url):
    """A method a route does not take shows the friendly 405 page."""
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert "That action is not allowed here" in response.get_data(as_text=True)
    assert "Allow" in response.headers


def test_405_fragment_for_htmx(client):
    """htmx gets the 405 message as a fragment."""
    response = client.get("/auth/logout", headers={"HX-Request": "true"})
    assert response.status_code == 405
    assert "<html" not in response.get_data(as_text=True)


def test_403_page(client, as_role):
    """A member opening a staff page gets the friendly 403 page, and a fragment for htmx."""
    as_role("member")
    response = client.get("/staff/")
    assert response.status_code == 403
    assert "You do not have permission to see this page" in response.get_data(as_text=True)
    fragment = client.get("/staff/", headers={"HX-Request": "true"})
    assert fragment.status_code == 403 and "<html" not in fragment.get_data(as_text=True)


@pytest.fixture
def broken_app(fresh_app):
    """An app with a route that writes to the database and then fails, with errors handled (not raised).

    A fresh app of its own: routes cannot be added to the shared one once it has served a request."""
    app = fresh_app

    @app.get("/test-boom")
    def boom():
        """Add a row, then fail before committing."""
        from kil_network.auth.models import MemberType
        from kil_network.members.services import create_member

        create_member(name="Should Vanish", email="vanish@example.org", password="a long password",
                      member_type=MemberType.OTHER, consent_privacy=True)
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_500_page(broken_app):
    """An unexpected error shows the friendly 500 page and the failed transaction is rolled back."""
    client = broken_app.test_client()
    response = client.get("/test-boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "<html" in html and "Sorry, there is a problem with the service" in html
    assert "RuntimeError" not in html and "Traceback" not in html
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0
    assert client.get("/healthz").status_code == 200


def test_500_fragment_for_htmx(broken_app):
    """htmx gets the 500 message as a fragment."""
    client = broken_app.test_client()
    response = client.get("/test-boom", headers={"HX-Request": "true"})
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Sorry, there is a problem with the service" in html


# --- Rate limits ----------------------------------------------------------------------------------

def test_login_rate_limited_after_ten_posts_a_minute(limited_app, make_user):
    """The 11th sign-in POST within a minute gets 429 with the friendly page."""
    make_user(email="member1@example.org")
    client = limited_app.test_client()
    token = client.csrf_token("/auth/login")
    for _ in range(10):
        response = client.post("/auth/login", data={"email": "member1@example.org", "password": "wrong password",
                                                    "csrf_token": token})
        assert response.status_code == 200
    response = client.post("/auth/login", data={"email": "member1@example.org", "password": PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 429
    html = response.get_data(as_text=True)
    assert "Too many attempts" in html and "<html" in html
    assert client.get("/account/").status_code == 302  # the right password did not get through
    assert client.get("/auth/login").status_code == 200  # reading the page is not limited
    fragment = client.post("/auth/login", data={"email": "member1@example.org", "csrf_token": token},
                           headers={"HX-Request": "true"})
    assert fragment.status_code == 429 and "<html" not in fragment.get_data(as_text=True)


def test_rate_limits_off_in_tests_config(client, make_user):
    """With RATELIMIT_ENABLED off (load tests), many sign-in posts are all answered."""
    make_user(email="member1@example.org")
    token = client.csrf_token("/auth/login")
    statuses = {client.post("/auth/login", data={"email": "member1@example.org", "password": "wrong password",
                                                 "csrf_token": token}).status_code for _ in range(12)}
    assert statuses == {200}


# --- Health check ---------------------------------------------------------------------------------

def test_healthz_ok(client):
    """The health check reports the database as reachable."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.is_json
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("url", ["postgresql+psycopg://postgres@127.0.0.1:1/none",
                                 "sqlite:////nonexistent-directory/kil/none.db"])
def test_healthz_database_unreachable(url):
    """With the database unreachable the health check answers 503."""
    broken = make_app(url)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
    with broken.app_context():
        db.engine.dispose()


# --- Security headers -----------------------------------------------------------------------------

def csp_directives(response):
    """The Content-Security-Policy as {directive: [sources]}."""
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.mark.parametrize("url", ["/", "/auth/join", "/healthz", "/no-such-page", "/vendor/htmx.min.js"])
def test_security_headers(client, url):
    """Every response carries CSP (no inline script, no framing), nosniff and a referrer policy."""
    response = client.get(url)
    csp = csp_directives(response)
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["script-src"][0] == "'self'"
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url", ["/", "/auth/join", "/auth/login", "/privacy"])
def test_no_inline_scripts(client, url):
    """Pages load scripts only from files, so the CSP can forbid inline script."""
    html = client.get(url).get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert not re.search(r"\son[a-z]+\s*=", html)


def test_cdn_htmx_allowed_by_csp(database_url):
    """When htmx comes from the CDN, its origin (and only that) is added to script-src with SRI."""
    from config import HTMX_CDN_SRI, HTMX_CDN_URL

    cdn = make_app(database_url, HTMX_URL=HTMX_CDN_URL, HTMX_SRI=HTMX_CDN_SRI)
    response = cdn.test_client().get("/privacy")
    assert csp_directives(response)["script-src"] == ["'self'", "https://cdn.jsdelivr.net"]
    html = response.get_data(as_text=True)
    assert f'src="{HTMX_CDN_URL}" integrity="{HTMX_CDN_SRI}" crossorigin="anonymous"' in html
    with cdn.app_context():
        db.engine.dispose()


def test_login_limit_counts_each_account_so_a_venue_can_sign_in(limited_app, make_user):
    """Many members signing in from one address (a venue's Wi-Fi) are not refused by one another's limit."""
    for i in range(12):
        make_user(email=f"venue{i}@example.org")
    client = limited_app.test_client()
    token = client.csrf_token("/auth/login")
    for i in range(12):
        phone = limited_app.test_client()
        phone_token = phone.csrf_token("/auth/login")
        response = phone.post("/auth/login", data={"email": f"venue{i}@example.org", "password": PASSWORD,
                                                   "csrf_token": phone_token})
        assert response.status_code == 302, i
    # One account guessed from the same address is still limited.
    codes = [client.post("/auth/login", data={"email": "guessed@example.org", "password": "wrong",
                                              "csrf_token": token}).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
