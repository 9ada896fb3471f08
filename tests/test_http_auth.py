"""Joining, confirming, signing in and out, password reset and resending confirmation, over HTTP."""
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from kil_network.auth import services
from kil_network.auth.models import Status, User
from kil_network.core.email import deliver_due
from kil_network.core.models import OutboxEmail
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, Region
from tests.support.mail import first_link

VALID_JOIN = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "password": "a long enough password",
    "member_type": "community_organisation",
    "organisation": "Analytical Engines CIC",
    "local_authority": "E06000023",
    "job_title": "Director",
    "involvement": "Workshops in Bristol",
    "consent_privacy": "y",
}
PASSWORD = "correct horse battery"


def join_data(**changes):
    """The valid join form with some fields changed; None removes a field."""
    data = {**VALID_JOIN, **changes}
    return {key: value for key, value in data.items() if value is not None}


def users_with_email(email):
    """How many accounts use this address (stored lower-case)."""
    return db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email == email.lower()))


def user_count():
    """How many accounts exist."""
    return db.session.scalar(sa.select(sa.func.count(User.id)))


def outbox_to(address, kind=None):
    """Queued emails to an address (optionally of one kind)."""
    stmt = sa.select(OutboxEmail).where(OutboxEmail.to_address == address)
    if kind:
        stmt = stmt.where(OutboxEmail.kind == kind)
    return db.session.scalars(stmt).all()


def without_tokens(html, email):
    """The page with the typed email and the CSRF tokens (signed with the time) blanked out."""
    html = html.replace(email, "EMAIL")
    html = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1TOKEN", html)
    return re.sub(r'("X-CSRFToken": ")[^"]+', r"\1TOKEN", html)


def assert_field_error(html, field_id, message):
    """GOV.UK pattern: the message in the error summary linking to the field, and beside the field."""
    assert 'class="error-summary"' in html
    assert "There is a problem" in html
    assert f'<a href="#{field_id}">{message}</a>' in html
    assert (f'<p class="error-message" id="{field_id}-error"><span class="visually-hidden">Error:</span> '
            f"{message}</p>") in html


# --- Join --------------------------------------------------------------------------------

def test_join_creates_account_signs_in_and_queues_confirmation(client):
    """A valid join creates the member and queues a confirmation email (the link signs them in)."""
    response = client.post_form("/auth/join", join_data(email="Ada@Example.org"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/check-email"
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user is not None
    assert user.name == "Ada Lovelace"
    assert user.email_confirmed_at is None
    assert user.organisation.name == "Analytical Engines CIC"
    assert user.local_authority.gss_code == "E06000023"
    assert user.region_id == user.local_authority.region_id
    assert user.consent_privacy_at is not None
    assert not user.consent_marketing and not user.show_in_directory
    kinds = {(c.kind, c.granted) for c in user.consents}
    assert kinds == {("privacy", True), ("marketing", False), ("directory", False)}
    mails = outbox_to("ada@example.org", "confirm")
    assert len(mails) == 1 and "/auth/confirm/" in mails[0].body_text
    page = client.get("/auth/check-email")
    assert page.status_code == 200
    assert "ada@example.org" in page.get_data(as_text=True)


def test_join_records_optional_consents(client):
    """Ticking the optional consents stores them, each with a timestamped record."""
    client.post_form("/auth/join", join_data(consent_marketing="y", show_in_directory="y"))
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user.consent_marketing and user.show_in_directory
    records = db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.user_id == user.id)).all()
    assert {(r.kind, r.granted) for r in records} == {("privacy", True), ("marketing", True), ("directory", True)}
    assert all(r.created_at is not None for r in records)


def test_join_duplicate_email_in_other_case_refused(client, make_user):
    """An address already in use (any case): no second account, no sign-in, the same "check your
    email" answer as a new address, and an email to the address's owner (issue 9, finding 8)."""
    make_user(email="ada@example.org")
    response = client.post_form("/auth/join", join_data(email="ADA@Example.ORG"))
    assert response.status_code == 302 and response.headers["Location"] == "/auth/check-email"
    assert users_with_email("ada@example.org") == 1
    assert not outbox_to("ada@example.org", "confirm")
    (notice,) = outbox_to("ada@example.org", "notice")
    assert "Someone tried to join" in notice.subject and "/auth/reset" in notice.body_text
    assert client.get("/account/").status_code == 302  # not signed in


@pytest.mark.parametrize(("field", "message"), [
    ("name", "Enter your full name"),
    ("email", "Enter your email address"),
    ("password", "Enter a password"),
    ("member_type", "Select what kind of member you are"),
    ("consent_privacy", "Agree to the privacy notice to join the Network"),
])
def test_join_required_field_errors(client, field, message):
    """Each missing required field: error summary and message beside the field; nobody joins."""
    response = client.post_form("/auth/join", join_data(**{field: None}))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert_field_error(html, field, message)
    assert "<title>Error: Join the Network" in html
    assert user_count() == 0


@pytest.mark.parametrize("member_type", ["community_organisation", "think_tank", "academic"])
def test_join_organisation_required_for_organisations(client, member_type):
    """Community organisations, think tanks and academics must name their organisation."""
    response = client.post_form("/auth/join", join_data(member_type=member_type, organisation=""))
    assert_field_error(response.get_data(as_text=True), "organisation", "Enter the name of your organisation")
    assert user_count() == 0


@pytest.mark.parametrize("member_type", ["councillor", "commissioner", "council_officer"])
def test_join_council_required_for_council_people(client, member_type):
    """Councillors, commissioners and council officers must pick their council."""
    response = client.post_form("/auth/join", join_data(member_type=member_type, local_authority="", region="1"))
    assert_field_error(response.get_data(as_text=True), "local_authority",
                       "Select the council you work for or represent")
    assert user_count() == 0


@pytest.mark.parametrize("member_type", ["councillor", "other"])
def test_join_without_organisation_when_not_needed(client, member_type):
    """Councillors and others may join without naming an organisation."""
    response = client.post_form("/auth/join", join_data(member_type=member_type, organisation=""))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user.organisation is None


def test_join_with_only_required_fields(client):
    """Optional fields left out of the post entirely (not just empty) are stored as empty text."""
    response = client.post("/auth/join", data={
        "name": "Min Imal", "email": "min@example.org", "password": "a long enough password",
        "member_type": "other", "local_authority": "W06000015", "consent_privacy": "y",
        "csrf_token": client.csrf_token("/auth/join"),
    })
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "min@example.org"))
    assert (user.job_title, user.involvement, user.organisation) == ("", "", None)


def test_join_region_needed_without_council(client):
    """With no council the member must choose a region, and it is stored."""
    response = client.post_form("/auth/join", join_data(member_type="other", local_authority=""))
    assert_field_error(response.get_data(as_text=True), "region", "Select your region, or choose a council above")
    wales = db.session.scalar(sa.select(Region).where(Region.name == "Wales"))
    response = client.post_form("/auth/join", join_data(member_type="other", local_authority="", region=str(wales.id)))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user.region_id == wales.id and user.local_authority is None


@pytest.mark.parametrize("code", ["E99999999", "not a code", "E06000023' OR '1'='1"])
def test_join_invalid_gss_code_refused(client, code):
    """A council code that is not in the list is refused."""
    response = client.post_form("/auth/join", join_data(local_authority=code))
    assert response.status_code == 200
    assert_field_error(response.get_data(as_text=True), "local_authority", "Select a council from the list")
    assert user_count() == 0


def test_join_invalid_email_format(client):
    """An address without an @ is refused with the GOV.UK message."""
    response = client.post_form("/auth/join", join_data(email="ada.example.org"))
    assert_field_error(response.get_data(as_text=True), "email",
                       "Enter an email address in the correct format, like name@example.org")
    assert user_count() == 0


def test_join_short_password(client):
    """A password under 10 characters is refused."""
    response = client.post_form("/auth/join", join_data(password="short"))
    assert_field_error(response.get_data(as_text=True), "password", "Password must be between 10 and 128 characters")
    assert user_count() == 0


def test_join_htmx_invalid_returns_422_form_partial(client):
    """An invalid htmx post gets only the form partial with status 422."""
    token = client.csrf_token("/auth/join")
    response = client.post("/auth/join", data=join_data(name=None, csrf_token=token),
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith("<form")
    assert 'id="join-form"' in html
    assert_field_error(html, "name", "Enter your full name")
    assert "HX-Request" in response.headers["Vary"]
    assert user_count() == 0


def test_join_htmx_valid_redirects(client):
    """A valid htmx join sends the browser to the check-email page (HX-Redirect, or a plain redirect)."""
    token = client.csrf_token("/auth/join")
    response = client.post("/auth/join", data=join_data(), headers={"HX-Request": "true", "X-CSRFToken": token})
    if "HX-Redirect" in response.headers:
        assert response.status_code == 200
        assert response.headers["HX-Redirect"] == "/auth/check-email"
        assert "Location" not in response.headers
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == "/auth/check-email"
    assert users_with_email("ada@example.org") == 1
    assert client.get("/auth/check-email").status_code == 200


def test_join_name_length_limit(client):
    """A 121-character name is refused; 120 characters is accepted."""
    response = client.post_form("/auth/join", join_data(name="a" * 121))
    assert response.status_code == 200
    assert_field_error(response.get_data(as_text=True), "name", "Full name must be 120 characters or fewer")
    assert user_count() == 0
    response = client.post_form("/auth/join", join_data(name="a" * 120))
    assert response.status_code == 302
    assert db.session.scalar(sa.select(User.name)) == "a" * 120


def test_join_control_characters_stripped(client):
    """Control and bidi-override characters are removed before the name is stored."""
    response = client.post_form("/auth/join", join_data(
        name="Ada\x00Love\x07lace\u202e", job_title="Chief\x1b[31m Officer",
        involvement="Line one\r\nLine\x00 two",
    ))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user.name == "Ada Love lace"
    assert user.job_title == "Chief [31m Officer"
    assert user.involvement == "Line one\nLine two"


def test_join_html_and_emoji_stored_and_shown_escaped(client):
    """HTML is stored as typed and shown escaped; emoji survive the round trip."""
    response = client.post_form("/auth/join", join_data(
        name="<script>alert(1)</script> Zoë 🌳", organisation="<b>Bold</b> & Co 🌱",
        consent_privacy="y",
    ))
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user.name == "<script>alert(1)</script> Zoë 🌳"
    assert user.organisation.name == "<b>Bold</b> & Co 🌱"
    client.get(f"/auth/confirm/{services.make_confirm_token(user)}")  # the link signs the new member in
    html = client.get("/account/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "<b>Bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Zoë 🌳" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co 🌱" in html


NASTY = ["x" * 10000, "\x00", "<script>alert('x')</script>", "🌳" * 300, "Robert'); DROP TABLE users;--",
         "\u202e\u2066", "²", "99999999999999999999999"]


@pytest.mark.parametrize("field", ["name", "email", "password", "member_type", "organisation",
                                   "local_authority", "region", "job_title", "involvement"])
@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_join_bad_input_never_500(client, field, value):
    """Overlong, control, HTML, emoji and numeric-looking input in any join field never breaks the page."""
    response = client.post_form("/auth/join", join_data(**{field: value}))
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    assert "<script>alert('x')</script>" not in response.get_data(as_text=True)
    if response.status_code == 302:
        user = db.session.scalar(sa.select(User))
        assert "\x00" not in user.name + user.email + user.job_title + user.involvement


# --- Confirming the email address -------------------------------------------------------------

def test_confirm_link_from_email_confirms(client, mail):
    """The link in the confirmation email, delivered over SMTP, confirms the address."""
    client.post_form("/auth/join", join_data())
    assert deliver_due()["sent"] == 1
    message = mail.wait_for(lambda m: m["To"] == "ada@example.org")
    assert message["Subject"] == "Confirm your email address"
    link = first_link(message, "/auth/confirm/")
    response = client.get(urlsplit(link).path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    user = db.session.scalar(sa.select(User).where(User.email == "ada@example.org"))
    assert user.email_confirmed_at is not None
    assert client.get("/members/").status_code == 200
    page = client.get("/account/").get_data(as_text=True)
    assert "(confirmed)" in page


def test_confirm_link_signed_out_goes_to_sign_in(client, make_user):
    """Following the link while signed out confirms and signs the member in, the first time only
    (joining no longer signs in: the link proves the inbox); again, it sends them to sign in."""
    user = make_user(email="ada@example.org", confirmed=False)
    token = services.make_confirm_token(user)
    response = client.get(f"/auth/confirm/{token}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    db.session.refresh(user)
    assert user.is_confirmed
    assert client.get("/account/").status_code == 200
    other = client.application.test_client()
    again = other.get(f"/auth/confirm/{token}")
    assert again.status_code == 302 and again.headers["Location"] == "/auth/login"
    assert other.get("/account/").status_code == 302


@pytest.mark.parametrize("token", ["nonsense", "eyJpZCI6MX0.bad.signature"])
def test_confirm_bad_token(client, token):
    """A bad token shows the friendly 400 page."""
    response = client.get(f"/auth/confirm/{token}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "That link did not work" in html
    assert "This link is not valid" in html


def test_confirm_tampered_and_expired_tokens(app, client, make_user):
    """A token with a changed signature, or past its age, confirms nothing."""
    user = make_user(email="ada@example.org", confirmed=False)
    token = services.make_confirm_token(user)
    payload, _, signature = token.rpartition(".")
    tampered = f"{payload}.{signature[:5]}{'B' if signature[5] == 'A' else 'A'}{signature[6:]}"
    assert client.get(f"/auth/confirm/{tampered}").status_code == 400
    app.config["CONFIRM_TOKEN_MAX_AGE"] = -1
    response = client.get(f"/auth/confirm/{token}")
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.is_confirmed


def test_resend_confirmation(client, as_role):
    """An unconfirmed member can ask for the link again; it is queued once per request."""
    user = as_role("unconfirmed")
    assert "Send the link again" in client.get("/account/").get_data(as_text=True)
    response = client.post_form("/auth/confirm/resend")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    assert len(outbox_to(user.email, "confirm")) == 1
    assert "We have sent a new confirmation link" in client.get("/account/").get_data(as_text=True)


def test_resend_confirmation_when_already_confirmed(client, as_role):
    """A confirmed member asking again is told so, and no email is queued."""
    user = as_role("member")
    response = client.post_form("/auth/confirm/resend", follow_redirects=True)
    assert "Your email address is already confirmed" in response.get_data(as_text=True)
    assert not outbox_to(user.email)


def test_resend_confirmation_needs_sign_in(client):
    """A visitor cannot ask for a confirmation email."""
    response = client.post_form("/auth/confirm/resend")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/auth/login"
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id))) == 0


# --- Signing in and out ------------------------------------------------------------------------

def test_sign_in_success(client, auth, make_user):
    """Correct details sign in (email in any case) and record the time."""
    user = make_user(email="member1@example.org")
    response = auth.login("MEMBER1@Example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    db.session.refresh(user)
    assert user.last_login_at is not None
    assert client.get("/account/").status_code == 200


def test_wrong_password_does_not_reveal_whether_email_exists(client, auth, make_user):
    """A wrong password and an unknown address get the same page and message."""
    make_user(email="member1@example.org")
    known = auth.login("member1@example.org", "wrong password!")
    unknown = auth.login("nobody@example.org", "wrong password!")
    assert known.status_code == unknown.status_code == 200
    message = "Enter the email address and password for your account"
    known_html = known.get_data(as_text=True)
    assert message in known_html
    assert (without_tokens(known_html, "member1@example.org")
            == without_tokens(unknown.get_data(as_text=True), "nobody@example.org"))
    assert client.get("/account/").status_code == 302


def test_sign_in_errors_for_empty_form(client):
    """An empty sign-in form shows both required-field messages."""
    response = client.post_form("/auth/login", {"email": "", "password": ""})
    html = response.get_data(as_text=True)
    assert_field_error(html, "email", "Enter your email address")
    assert_field_error(html, "password", "Enter your password")


def test_suspended_account_refused(client, auth, make_user):
    """A suspended member cannot sign in."""
    user = make_user(email="member1@example.org")
    user.status = Status.SUSPENDED
    db.session.commit()
    response = auth.login()
    assert response.status_code == 200
    assert "This account is suspended" in response.get_data(as_text=True)
    assert client.get("/account/").status_code == 302


def test_deleted_account_cannot_sign_in(client, auth, make_user):
    """A deleted account is treated like an unknown address."""
    user = make_user(email="member1@example.org")
    user.status = Status.DELETED
    db.session.commit()
    response = auth.login()
    assert "Enter the email address and password for your account" in response.get_data(as_text=True)


def test_next_followed_to_local_path(client, make_user):
    """?next=/members/ is followed after sign-in."""
    make_user(email="member1@example.org")
    response = client.post_form("/auth/login?next=/members/",
                                {"email": "member1@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/members/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "///evil.example",
                                    "/\\evil.example", "javascript:alert(1)", "evil.example"])
def test_next_off_site_not_followed(client, make_user, target):
    """Off-site, protocol-relative and scheme targets in next are ignored."""
    make_user(email="member1@example.org")
    response = client.post_form("/auth/login", {"email": "member1@example.org", "password": PASSWORD},
                                query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"


def test_remember_me_sets_cookie(client, auth, make_user):
    """Ticking remember sets a long-lived remember cookie; not ticking does not."""
    make_user(email="member1@example.org")
    auth.login()
    assert client.get_cookie("remember_token") is None
    auth.logout()
    response = auth.login(remember="y")
    assert response.status_code == 302
    cookie = client.get_cookie("remember_token")
    assert cookie is not None and cookie.http_only
    assert cookie.expires is not None


def test_remember_cookie_restores_session(app, make_user, auth, client):
    """A remembered member is still signed in when the session cookie is gone."""
    make_user(email="member1@example.org")
    auth.login(remember="y")
    remember = client.get_cookie("remember_token").value
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember)
    assert fresh.get("/account/").status_code == 200


def test_sign_out_get_not_allowed(client, as_role):
    """GET /auth/logout is 405 and signs nobody out."""
    as_role("member")
    response = client.get("/auth/logout")
    assert response.status_code == 405
    assert client.get("/account/").status_code == 200


def test_sign_out_needs_csrf(client, as_role):
    """POST /auth/logout without the token is refused and the member stays signed in."""
    as_role("member")
    response = client.post("/auth/logout")
    assert response.status_code == 400
    assert client.get("/account/").status_code == 200


def test_sign_out(client, as_role, auth):
    """POST /auth/logout with the token signs out and goes home."""
    as_role("member")
    response = auth.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/account/").status_code == 302
    assert "You have signed out." in client.get("/").get_data(as_text=True)


# --- Password reset ----------------------------------------------------------------------------

def test_reset_request_same_page_for_known_and_unknown(client, make_user):
    """The reset request says the same for any address; only a real account gets an email."""
    make_user(email="member1@example.org")
    known = client.post_form("/auth/reset", {"email": "Member1@example.org"})
    unknown = client.post_form("/auth/reset", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    known_html = known.get_data(as_text=True)
    assert "If <strong>Member1@example.org</strong> belongs to an account" in known_html
    assert (without_tokens(known_html, "Member1@example.org")
            == without_tokens(unknown.get_data(as_text=True), "nobody@example.org"))
    assert len(outbox_to("member1@example.org", "reset")) == 1
    assert not outbox_to("nobody@example.org")


def test_reset_request_suspended_account_gets_no_email(client, make_user):
    """A suspended account is not sent a reset link (but the page is the same)."""
    user = make_user(email="member1@example.org")
    user.status = Status.SUSPENDED
    db.session.commit()
    response = client.post_form("/auth/reset", {"email": "member1@example.org"})
    assert response.status_code == 200
    assert "belongs to an account" in response.get_data(as_text=True)
    assert not outbox_to("member1@example.org")


def test_reset_request_validation(client):
    """A malformed address gets the GOV.UK error pattern."""
    response = client.post_form("/auth/reset", {"email": "not-an-email"})
    assert_field_error(response.get_data(as_text=True), "email",
                       "Enter an email address in the correct format, like name@example.org")


def test_reset_link_works_once(client, make_user, mail, auth):
    """The emailed reset link sets a new password once; then it is refused."""
    user = make_user(email="member1@example.org")
    client.post_form("/auth/reset", {"email": "member1@example.org"})
    deliver_due()
    message = mail.wait_for(lambda m: m["To"] == "member1@example.org")
    path = urlsplit(first_link(message, "/auth/reset/")).path
    assert client.get(path).status_code == 200
    response = client.post_form(path, {"password": "short"}, token_from=path)
    assert_field_error(response.get_data(as_text=True), "password", "Password must be between 10 and 128 characters")
    response = client.post_form(path, {"password": "a brand new password"}, token_from=path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    again = client.get(path)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    assert auth.login("member1@example.org", PASSWORD).status_code == 200
    assert auth.login("member1@example.org", "a brand new password").status_code == 302
    db.session.refresh(user)
    assert user.is_confirmed


def test_reset_signs_out_other_sessions(app, client, make_user, auth):
    """Resetting the password ends sessions elsewhere."""
    user = make_user(email="member1@example.org")
    other = app.test_client()
    AuthHelper = type(auth)
    AuthHelper(other).login()
    assert other.get("/account/").status_code == 200
    token = services.make_reset_token(user)
    client.post_form(f"/auth/reset/{token}", {"password": "a brand new password"}, token_from=f"/auth/reset/{token}")
    assert other.get("/account/").status_code == 302


def test_reset_bad_token(client):
    """A nonsense reset token shows the friendly 400 page and no form."""
    response = client.get("/auth/reset/nonsense")
    assert response.status_code == 400
    assert 'name="password"' not in response.get_data(as_text=True)
