"""Sign in and out, confirm email, reset password. Routes stay thin. (Joining: members.routes.)"""
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from kil_network.auth import services
from kil_network.auth.forms import LoginForm, ResetPasswordForm, ResetRequestForm
from kil_network.core.errors import render_error
from kil_network.core.htmx import render, render_form
from kil_network.core.params import text_arg
from kil_network.core.rules import RuleError
from kil_network.extensions import db, limiter

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, default: str) -> str:
    """Only follow `next` to a path on this site (never off-site, never //host)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def form_email() -> str:
    """The posted email address in its one normal form (so variants share a limit)."""
    return services.normalise_email((request.form.get("email") or "")[:1000])[:320]


def _login_key() -> str:
    """Sign-in limit key: the client address and the account tried.

    At a workshop every phone on the venue's Wi-Fi shares one address, so a limit on the
    address alone would refuse the room; guessing one account's password is still limited,
    and the address-wide limit below caps trying many accounts from one place."""
    return f"login:{get_remote_address()}:{form_email()}"


def _account_key() -> str:
    """Sign-in limit key: the account alone, whatever the address (a rotated X-Forwarded-For,
    a botnet). Only failed attempts count, so members signing in are never the ones refused."""
    return f"login-account:{form_email()}"


# Session keys a sign-in keeps when it starts a new session: the room code's proof of presence
# (a workshop's live page, principles.routes) must survive signing in there.
CARRIED_ON_SIGN_IN = ("room_presence", "room_email")
TOO_MANY = ("Too many attempts: wait a few minutes, then send this again. "
            "What you typed is kept here.")


def fresh_session() -> None:
    """A new session on sign-in (nothing of the old one but CARRIED_ON_SIGN_IN)."""
    kept = {key: session[key] for key in CARRIED_ON_SIGN_IN if key in session}
    session.clear()
    session.update(kept)


def too_many_on(form, field: str) -> None:
    """A rate limit refused this post: say so on the form, which keeps what was typed."""
    getattr(form, field).errors = [TOO_MANY]


@bp.errorhandler(429)
def _too_many(error):
    """A limit on sign-in bit: the form again with what was typed (never the password), status 429."""
    if request.endpoint == "auth.login":
        form = LoginForm()
        too_many_on(form, "email")
        return render("auth/login.html", "auth/_login_form.html", form=form, status_code=429,
                      next=text_arg("next", 2000, lenient=True))
    if request.endpoint == "auth.reset_request":
        form = ResetRequestForm()
        too_many_on(form, "email")
        return render("auth/reset_request.html", "auth/_reset_request_form.html", form=form, status_code=429)
    return render_error(429)


def _failed(response) -> bool:
    """A sign-in that did not succeed (success is a redirect)."""
    return response.status_code not in (302, 303)


@bp.get("/check-email")
def check_email():
    """After joining: "check your email" (the same page whether or not the address was new)."""
    email = session.get("check_email") or (current_user.email if current_user.is_authenticated else "")
    return render("auth/check_email.html", email=email)


@bp.get("/confirm/<token>")
def confirm(token):
    """Follow the link in a confirmation email."""
    try:
        user, first = services.confirm_email_link(token)
    except RuleError as exc:
        db.session.rollback()
        return render("auth/confirm_failed.html", message=exc.message, status_code=400)
    db.session.commit()
    if first and not current_user.is_authenticated and user.is_active:
        fresh_session()  # a new session on sign-in
        login_user(user)
    flash("Your email address is confirmed. Welcome to the Keep it Local Network.", "success")
    if current_user.is_authenticated and current_user.id == user.id:
        return redirect(url_for("account.profile"))
    return redirect(url_for("auth.login"))


@bp.post("/confirm/resend")
@login_required
@limiter.limit("5 per hour")
def resend_confirmation():
    """Send the confirmation email again."""
    if current_user.is_confirmed:
        flash("Your email address is already confirmed.", "info")
    else:
        services.send_confirmation(current_user)
        db.session.commit()
        flash(f"We have sent a new confirmation link to {current_user.email}.", "success")
    return redirect(url_for("account.profile"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"], key_func=_login_key)
@limiter.limit("20 per hour; 100 per day", methods=["POST"], key_func=_account_key, deduct_when=_failed)
@limiter.limit("1000 per hour", methods=["POST"])  # a room on one venue's Wi-Fi, signing in at once
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("account.profile"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            form.email.errors.append("Enter the email address and password for your account")
        elif not user.is_active:
            form.email.errors.append(
                "This account is suspended. Contact the campaign team if you think this is a mistake.")
        else:
            services.record_login(user)  # best effort: commits, or logs and carries on
            fresh_session()  # a new session on sign-in
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(text_arg("next", 2000, lenient=True), url_for("account.profile")))
    return render_form("auth/login.html", "auth/_login_form.html", form, next=text_arg("next", 2000, lenient=True))


@bp.post("/logout")
def logout():
    """Sign out (POST, with the CSRF token): this session and its remember cookie end on the server."""
    if current_user.is_authenticated:
        services.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You have signed out.", "info")
    return redirect(url_for("site.home"))


@bp.post("/logout-everywhere")
def logout_everywhere():
    """Sign out on every device: every session and remember cookie of the member ends
    (signed out already, like sign-out, it does nothing)."""
    signed_in = current_user.is_authenticated
    if signed_in:
        services.sign_out_everywhere(current_user._get_current_object())
        db.session.commit()
    logout_user()
    session.clear()
    if signed_in:
        flash("You have signed out on every device.", "info")
    return redirect(url_for("site.home"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit("5 per minute; 20 per hour", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=lambda: f"reset-email:{form_email()}")
def reset_request():
    """Ask for a password reset link (never reveals whether an address is registered)."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        db.session.commit()
        return render("auth/reset_sent.html", email=form.email.data)
    return render_form("auth/reset_request.html", "auth/_reset_request_form.html", form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def reset_password(token):
    """Choose a new password from a reset link."""
    try:
        user = services.user_from_reset_token(token)
    except RuleError as exc:
        return render("auth/confirm_failed.html", message=exc.message, status_code=400)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        services.complete_reset(user, form.password.data)
        db.session.commit()
        logout_user()
        session.clear()
        flash("Your password has been changed. Sign in with your new password.", "success")
        return redirect(url_for("auth.login"))
    return render_form("auth/reset_password.html", "auth/_reset_password_form.html", form, token=token)
