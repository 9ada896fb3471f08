"""Identity: password hashing, sign-in and sign-out, signed tokens, confirmation, password reset, email change.

Joining (a new member with their consents, council and organisation) is a member rule: members.services."""
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.security import check_password_hash, generate_password_hash

from kil_network.auth.deliverability import clear_undeliverable
from kil_network.auth.models import RevokedSignIn, SignInCode, Status, User, sign_in_issued_at
from kil_network.core.addresses import normalise_email
from kil_network.core.email import external_url, queue_email
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db


def new_session_token() -> str:
    """A random token that identifies the member's sessions."""
    return secrets.token_hex(32)


def hash_password(password: str) -> str:
    """Hash a password with the configured method (scrypt by default)."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(password, method=method)


def session_max_age() -> int:
    """Seconds a sign-in lasts at most (session or remember cookie), however active."""
    value = current_app.config.get("SESSION_MAX_AGE")
    return int(current_app.config["REMEMBER_COOKIE_DURATION"] if value is None else value)


# Built once: SQLAlchemy memoizes a statement's cache key, so every request reuses it instead of
# building the select and its key again (a third of the query's cost; bench/profile_reads.py).
_SIGNED_IN_USER = sa.select(User).where(
    User.session_token == sa.bindparam("session_token"),
    ~sa.select(RevokedSignIn.sign_in_id).where(RevokedSignIn.sign_in_id == sa.bindparam("sign_in_id")).exists())


def load_user(user_id: str) -> User | None:
    """Flask-Login user loader for "<session_token>:<sign-in id>" (session or remember cookie).

    Refused: an unknown or rotated session token (password changed, suspended, signed out
    everywhere), a sign-in id that was signed out or is older than SESSION_MAX_AGE, and
    inactive accounts. One query."""
    session_token, _, sign_in_id = (user_id or "").partition(":")
    issued = sign_in_issued_at(sign_in_id)
    if not session_token or issued is None or not 0 <= time.time() - issued <= session_max_age():
        return None
    user = db.session.scalar(_SIGNED_IN_USER, {"session_token": session_token, "sign_in_id": sign_in_id})
    if user is None or not user.is_active:
        return None
    user.sign_in_id = sign_in_id
    return user


def _best_effort_commit(what: str) -> bool:
    """Commit, or log and roll back: the request goes on without the write (disk full, read-only)."""
    try:
        db.session.commit()
        return True
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("Could not save %s; carrying on without it", what)
        return False


def sign_out(user: User) -> None:
    """End this sign-in on the server: its session and remember cookies stop working. Commits.

    Best effort: the browser's cookies are cleared by the caller whatever happens here."""
    sign_in_id = getattr(user, "sign_in_id", None)
    issued = sign_in_issued_at(sign_in_id)
    if issued is None:
        return
    now = utcnow()
    db.session.execute(sa.delete(RevokedSignIn).where(RevokedSignIn.expires_at < now))  # prune
    expires = datetime.fromtimestamp(issued + session_max_age() + 60, tz=UTC)
    db.session.add(RevokedSignIn(sign_in_id=sign_in_id, expires_at=expires))
    _best_effort_commit("a sign-out")


def sign_out_everywhere(user: User) -> None:
    """End every session and remembered device of the member (the caller commits)."""
    user.session_token = new_session_token()


def get_user_by_email(email: str) -> User | None:
    """Find an account by email, case-insensitively."""
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


# --- Signed tokens -------------------------------------------------------------------

def _serializer(purpose: str) -> URLSafeTimedSerializer:
    """A signer whose salt is the token's purpose, so tokens cannot be swapped."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"kil-{purpose}")


def _fingerprint(value: str) -> str:
    """A short hash that changes when the value changes (makes tokens single-use)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def make_confirm_token(user: User, email: str | None = None) -> str:
    """A token that confirms `email` (the current address, or a new one) for this user."""
    return _serializer("confirm").dumps({"id": user.id, "email": email or user.email})


def make_reset_token(user: User) -> str:
    """A password-reset token that stops working once the password changes."""
    return _serializer("reset").dumps({"id": user.id, "pw": _fingerprint(user.password_hash)})


def _load(purpose: str, token: str, max_age: int) -> dict:
    """Check a token's signature and age."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise RuleError("This link has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise RuleError("This link is not valid. Check you copied the whole link.") from exc


def confirm_email(token: str) -> User:
    """Confirm the address in a token: a first confirmation, or a change of address."""
    return confirm_email_link(token)[0]


def confirm_email_link(token: str) -> tuple[User, bool]:
    """Confirm the address in a token; also say whether this was the account's first confirmation.

    Joining no longer signs the new member in (that would tell a stranger the address was
    free): the first confirmation, which proves the inbox, signs them in instead."""
    data = _load("confirm", token, current_app.config["CONFIRM_TOKEN_MAX_AGE"])
    user = db.session.get(User, data.get("id"))
    if user is None or user.status == Status.DELETED:
        raise RuleError("This link is not valid. Check you copied the whole link.")
    email = data.get("email")
    if email == user.email:
        first = user.email_confirmed_at is None
        if first:
            user.email_confirmed_at = utcnow()
        return user, first
    if email and email == user.pending_email:
        if get_user_by_email(email) is not None:
            raise RuleError("Another account now uses that email address.")
        old_email = user.email
        user.email = email
        user.pending_email = None
        user.email_confirmed_at = utcnow()
        # A security email: always sent, to the old address (the one that may have been taken over).
        queue_email(old_email, "Your email address has been changed", "email_changed",
                    kind="security", user=user, user_obj=user, new_email=email)
        clear_undeliverable(user)  # a new address: no refusals yet
        return user, False
    raise RuleError("This link is for an email address that is no longer on your account.")


def send_confirmation(user: User) -> None:
    """Queue the 'confirm your email address' message."""
    url = external_url("auth.confirm", token=make_confirm_token(user))
    queue_email(user.email, "Confirm your email address", "confirm_email",
                kind="confirm", user=user, user_obj=user, url=url)


_DUMMY_HASHES: dict[str, str] = {}


def dummy_hash() -> str:
    """A hash made with the configured method and cost, checked when there is no account.

    Built once per method, on first use: an unknown address costs the same work as a real one."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_urlsafe(16), method=method)
    return _DUMMY_HASHES[method]


def hash_is_current(password_hash: str) -> bool:
    """Was this hash made with the configured method and cost (e.g. `scrypt:32768:8:1`)?"""
    return password_hash.split("$", 1)[0] == dummy_hash().split("$", 1)[0]


def authenticate(email: str, password: str) -> User | None:
    """Return the account if the password matches, else None (the same hash work either way).

    A matching password stored with an outdated method is rehashed with the configured one
    (saved with the caller's commit)."""
    user = get_user_by_email(email)
    if user is None or user.status == Status.DELETED or not user.password_hash:
        check_password_hash(dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    if not hash_is_current(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def record_login(user: User) -> None:
    """Note the time of a successful sign-in, best effort: sign-in never depends on this write.

    Commits (with a rehashed password, if any); on failure logs, rolls back and carries on."""
    user.last_login_at = utcnow()
    _best_effort_commit(f"the sign-in time of user {user.id}")


def request_password_reset(email: str) -> None:
    """Email a reset link if the address has an account; say nothing either way.

    The same work is done either way (token, link, message, an outbox row written), so the
    answer's timing does not tell whether the address has an account."""
    user = get_user_by_email(email)
    real = user is not None and user.status == Status.ACTIVE
    if user is None or not real:
        user = User(id=0, name="", email="", password_hash=dummy_hash())
    url = external_url("auth.reset_password", token=make_reset_token(user))
    mail = queue_email(user.email if real else "", "Reset your password", "reset_password",
                       kind="reset", user=user if real else None, user_obj=user, url=url)
    # The same statements either way: the row is inserted, then deleted again in the same
    # transaction when there is no account (never committed, never sent); id 0 matches nothing.
    db.session.flush()
    if not real:
        db.session.expunge(mail)
    db.session.execute(sa.delete(type(mail)).where(type(mail).id == (0 if real else mail.id)))


def user_from_reset_token(token: str) -> User:
    """The account a valid, unused reset token belongs to."""
    data = _load("reset", token, current_app.config["RESET_TOKEN_MAX_AGE"])
    user = db.session.get(User, data.get("id"))
    if user is None or user.status != Status.ACTIVE or data.get("pw") != _fingerprint(user.password_hash):
        raise RuleError("This link has already been used or is not valid. Ask for a new one.")
    return user


def check_password(user: User, password: str, field: str = "password",
                   message: str = "Your password is not correct") -> None:
    """The member's own password, asked again before a change that needs it (refused on `field`).

    The same check as signing in (an outdated hash is rehashed with the caller's commit)."""
    if authenticate(user.email, password) is None:
        raise RuleError(message, field)


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the password, knowing the current one; every other session ends."""
    check_password(user, current_password, "current_password", "Your current password is not correct")
    set_password(user, new_password)


def set_password(user: User, password: str) -> None:
    """Change the password and sign the member out of every other session; tell them by email
    (a security email: always sent, whatever their preferences)."""
    user.password_hash = hash_password(password)
    user.session_token = new_session_token()
    queue_email(user.email, "Your password has been changed", "password_changed",
                kind="security", user=user, user_obj=user, reset_url=external_url("auth.reset_request"))


def complete_reset(user: User, password: str) -> None:
    """Set the new password from a reset link; the link reached the inbox, so the address is proven."""
    set_password(user, password)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()


def request_email_change(user: User, new_email: str, password: str) -> None:
    """Ask the member to confirm a new address before it replaces the old one."""
    new_email = normalise_email(new_email)
    if not check_password_hash(user.password_hash, password or ""):
        raise RuleError("Your password is not correct", "password")
    if new_email == user.email:
        raise RuleError("That is already your email address", "email")
    if get_user_by_email(new_email) is not None:
        raise RuleError("An account already uses this email address", "email")
    user.pending_email = new_email
    url = external_url("auth.confirm", token=make_confirm_token(user, new_email))
    queue_email(new_email, "Confirm your new email address", "confirm_new_email",
                kind="confirm", user=user, user_obj=user, url=url)
    queue_email(user.email, "Your email address is changing", "email_change_notice",
                kind="notice", user=user, user_obj=user, new_email=new_email)


# --- One-time sign-in codes (the workshop live page: no password needed) ----------------

SIGN_IN_CODE_MINUTES = 15
SIGN_IN_CODE_TRIES = 5


def _code_hmac(kind: str, value: str) -> str:
    """An HMAC of a code or link token under the app's key: the table alone gives nothing away."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"sign-in-{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def normalise_sign_in_code(code: str | None) -> str:
    """A typed code's digits (spaces and dashes dropped), at most 12."""
    return "".join(ch for ch in (code or "")[:40] if ch.isdigit())[:12]


def issue_sign_in_code(user: User, purpose: str = "sign_in", workshop_id: int | None = None) -> tuple[str, str]:
    """A new one-time code (six digits) and link token for the member; returns (code, token).

    Only their hashes are kept. Valid SIGN_IN_CODE_MINUTES, used once; any older unused code of
    the member stops working (the newest email is the one that counts). The caller emails them
    (`send_sign_in_code`) and commits."""
    if user.status != Status.ACTIVE:
        raise RuleError("This account is suspended. Speak to a member of the campaign team here.", "email")
    now = utcnow()
    db.session.execute(sa.update(SignInCode).where(SignInCode.user_id == user.id, SignInCode.used_at.is_(None))
                       .values(used_at=now, attempts=SIGN_IN_CODE_TRIES + 1))  # superseded
    db.session.execute(sa.delete(SignInCode).where(SignInCode.expires_at < now - timedelta(days=1)))  # prune
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = secrets.token_urlsafe(24)
    db.session.add(SignInCode(user_id=user.id, purpose=purpose, workshop_id=workshop_id,
                              code_hash=_code_hmac("code", f"{user.id}:{code}"), link_hash=_code_hmac("link", token),
                              attempts=0, created_at=now, expires_at=now + timedelta(minutes=SIGN_IN_CODE_MINUTES)))
    db.session.flush()
    return code, token


def send_sign_in_code(user: User, code: str, url: str, workshop_title: str = "") -> None:
    """Queue the email with the code and the link (a secret email: the outbox never shows it)."""
    queue_email(user.email, f"Your sign-in code: {code}", "sign_in_code", kind="sign_in", user=user,
                user_obj=user, code=code, url=url, workshop_title=workshop_title,
                minutes=SIGN_IN_CODE_MINUTES)


def _finish_redemption(user: User, row: SignInCode) -> SignInCode:
    """Use the code once; the code reached the inbox, so the address is proven."""
    row.used_at = utcnow()
    if user.email_confirmed_at is None:
        user.email_confirmed_at = row.used_at
    return row


def _latest_code(user_id: int) -> SignInCode | None:
    return db.session.scalar(sa.select(SignInCode).where(SignInCode.user_id == user_id)
                             .order_by(SignInCode.id.desc()).limit(1).with_for_update())


def redeem_sign_in_code(email: str, code: str) -> tuple[User, SignInCode]:
    """The member a typed code signs in, and the code row (its workshop), the code now used.

    Refused with RuleError (field "code"): no code for this address, expired, already used or
    superseded, or wrong (each wrong code counts; the fifth burns it). The caller commits
    whether or not it was refused, so the wrong tries are kept."""
    user = get_user_by_email(email)
    row = _latest_code(user.id) if user is not None else None
    if user is None or row is None:
        raise RuleError("There is no sign-in code for this email address. Ask for a new one.", "code")
    if row.used_at is not None:
        if row.attempts >= SIGN_IN_CODE_TRIES:
            raise RuleError("That code has stopped working after too many wrong tries. Ask for a new one.", "code")
        raise RuleError("That code has already been used. Ask for a new one.", "code")
    if row.expires_at <= utcnow():
        raise RuleError("That code has expired (codes last 15 minutes). Ask for a new one.", "code")
    if user.status != Status.ACTIVE:
        raise RuleError("This account is suspended. Speak to a member of the campaign team here.", "code")
    typed = normalise_sign_in_code(code)
    if not hmac.compare_digest(row.code_hash, _code_hmac("code", f"{user.id}:{typed}")):
        row.attempts += 1
        left = SIGN_IN_CODE_TRIES - row.attempts
        if left <= 0:
            row.used_at = utcnow()
            raise RuleError("That code is not right, and it has now stopped working after 5 wrong tries. "
                            "Ask for a new one.", "code")
        raise RuleError(f"That code is not right. Check the email and try again "
                        f"({left} {'try' if left == 1 else 'tries'} left).", "code")
    return user, _finish_redemption(user, row)


def redeem_sign_in_link(token: str) -> tuple[User, SignInCode]:
    """The member an emailed sign-in link signs in, and its code row, now used (RuleError if not valid)."""
    row = db.session.scalar(sa.select(SignInCode).where(SignInCode.link_hash == _code_hmac("link", token or ""))
                            .with_for_update())
    if row is None:
        raise RuleError("This sign-in link is not valid. Check you opened the whole link, or ask for a new code.")
    if row.used_at is not None:
        raise RuleError("This sign-in link has already been used or a newer one was sent. Ask for a new code.")
    if row.expires_at <= utcnow():
        raise RuleError("This sign-in link has expired (links last 15 minutes). Ask for a new code.")
    user = db.session.get(User, row.user_id)
    if user is None or user.status != Status.ACTIVE:
        raise RuleError("This account cannot sign in. Speak to a member of the campaign team.")
    return user, _finish_redemption(user, row)
