"""What a member is told by email: the optional notifications they choose, the ones always sent,
and the one-click unsubscribe from campaign emails (RFC 8058).

`notify()` is how every area sends an automatic notification: it reads the preferences of the
whole audience in one query and queues the emails in one bulk INSERT (core.email.queue_bulk), in
the transaction of the change that caused them. It lives in the members layer so every area above
can use it.
"""
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from markupsafe import escape

from kil_network.auth.models import Status, User
from kil_network.core.email import external_url, queue_bulk, render_bodies
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, NotificationPreference

# Stands for the recipient's name in a notification rendered once for its whole audience.
_NAME_SLOT = "KilRecipientName0x5f3a"


@dataclass(frozen=True)
class Kind:
    """One optional kind of notification: its key, what it is, and whether it is on by default."""

    key: str
    label: str
    default: bool = True


KINDS = {k.key: k for k in (
    Kind("workshop_in_region", "A workshop is published in your region or online"),
    Kind("round_open", "A round of the principles opens that you can take part in"),
    Kind("suggestion_answered", "Staff answer your suggestion"),
    Kind("pledge_decided", "Your council's pledge is verified or rejected"),
    Kind("evidence_published", "Your evidence is published"),
)}

# Sent whatever the preferences say, and why (shown on the preferences page).
ALWAYS_SENT = (
    ("Security", "Your password was changed, or your email address is changing",
     "So that you can act at once if it was not you."),
    ("Workshops you registered for", "Registration, confirmation, waitlist places, changes and cancellation",
     "They are about something you signed up for, and you need them to attend."),
    ("Evidence you sent", "Confirmation that your evidence was received",
     "So that you know it reached us."),
)


def _kind(kind: str) -> Kind:
    """The optional kind, or a clear error for a typo in the calling code."""
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"Unknown notification kind {kind!r}") from None


def preferences(user: User) -> dict[str, bool]:
    """Every optional kind with the member's choice (its default where they have not chosen)."""
    chosen = dict(db.session.execute(
        sa.select(NotificationPreference.kind, NotificationPreference.enabled)
        .where(NotificationPreference.user_id == user.id)).tuples().all())
    return {key: chosen.get(key, k.default) for key, k in KINDS.items()}


def wants(user: User, kind: str) -> bool:
    """Does the member get this optional notification? Never when suspended or deleted."""
    default = _kind(kind).default
    if user.status != Status.ACTIVE:
        return False
    enabled = db.session.scalar(sa.select(NotificationPreference.enabled).where(
        NotificationPreference.user_id == user.id, NotificationPreference.kind == kind))
    return default if enabled is None else enabled


def set_preferences(user: User, choices: dict[str, bool]) -> list[str]:
    """Save the member's choices; each change is kept in their consent history (kind
    "notify:<kind>", source "notification preferences"). Returns the kinds that changed."""
    current = preferences(user)
    existing = {p.kind: p for p in db.session.scalars(
        sa.select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    changed = []
    now = utcnow()
    for key, enabled in choices.items():
        _kind(key)
        enabled = bool(enabled)
        row = existing.get(key)
        if row is None:
            db.session.add(NotificationPreference(user_id=user.id, kind=key, enabled=enabled, updated_at=now))
        elif row.enabled != enabled:
            row.enabled, row.updated_at = enabled, now
        if current[key] != enabled:
            changed.append(key)
            user.consents.append(ConsentRecord(kind=f"notify:{key}", granted=enabled,
                                               source="notification preferences", created_at=now))
    return changed


def _audience_ids(users) -> sa.ColumnElement[bool]:
    """A WHERE clause for the users of a SELECT (of User or of user ids) or of a list of Users."""
    if isinstance(users, sa.Select):
        sub = users.subquery()
        return User.id.in_(sa.select(sub.c[next(iter(sub.c.keys()))]))
    return User.id.in_([u.id for u in users])


def notify(users: sa.Select | Iterable[User], kind: str, subject: str, template: str, **context) -> int:
    """Queue an optional notification to those of `users` who want it; returns how many.

    One query reads the audience with their preference for `kind` (a LEFT JOIN), skipping
    members who are suspended, deleted, unconfirmed or whose address is undeliverable; one bulk
    INSERT queues the emails. The template gets `name` (the recipient's), `why` (the footer's
    "You are getting this email because ...") and `preferences_url`, plus `context`."""
    kind_ = _kind(kind)
    wanted = sa.func.coalesce(NotificationPreference.enabled, kind_.default)
    rows = db.session.execute(
        sa.select(User.id, User.email, User.name)
        .outerjoin(NotificationPreference, sa.and_(NotificationPreference.user_id == User.id,
                                                   NotificationPreference.kind == kind))
        .where(_audience_ids(users), User.status == Status.ACTIVE, User.email_confirmed_at.is_not(None),
               User.email_undeliverable_at.is_(None), wanted.is_(True))
        .order_by(User.id)).all()
    if not rows:
        return 0
    context.setdefault("subject", subject)
    context.update(why=f"you asked to hear when {kind_.label[0].lower()}{kind_.label[1:]}",
                   preferences_url=external_url("notifications.preferences"))
    # Rendered once for the whole audience, the recipient's name put in after (escaped in the HTML):
    # thousands of recipients cost thousands of string replacements, not thousands of renders.
    body_text, body_html = render_bodies(template, name=_NAME_SLOT, **context)
    emails = [{"to_address": email, "subject": subject, "body_text": body_text.replace(_NAME_SLOT, name),
               "body_html": body_html.replace(_NAME_SLOT, str(escape(name))) if body_html else None,
               "kind": f"notify_{kind}", "user_id": user_id}
              for user_id, email, name in rows]
    return queue_bulk(emails)


# --- Campaign emails: one-click unsubscribe (RFC 8058) ---------------------------------------

def _serializer() -> URLSafeSerializer:
    """Signs unsubscribe tokens (no expiry: an old campaign email's link keeps working)."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")


def _fingerprint(email: str) -> str:
    """A short hash of the address: a token dies when the address changes."""
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def unsubscribe_token(user: User) -> str:
    """The signed token of the member's unsubscribe link: their id and their address's fingerprint."""
    return _serializer().dumps({"id": user.id, "e": _fingerprint(user.email)})


def user_from_unsubscribe_token(token: str) -> User | None:
    """The member a token belongs to, or None if it is forged, malformed, or for an old address."""
    if not token or len(token) > 200 or not token.isascii() or not token.isprintable():
        return None
    try:
        data = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or type(data.get("id")) is not int or not 0 < data["id"] < 2 ** 31:
        return None
    user = db.session.get(User, data["id"])
    if user is None or user.status == Status.DELETED or data.get("e") != _fingerprint(user.email):
        return None
    return user


def unsubscribe_url(user: User) -> str:
    """The absolute unsubscribe link (from BASE_URL)."""
    return str(external_url("notifications.unsubscribe", token=unsubscribe_token(user)))


def unsubscribe_headers(user: User) -> dict[str, str]:
    """The headers every campaign email carries (RFC 2369 and RFC 8058 one-click)."""
    return {"List-Unsubscribe": f"<{unsubscribe_url(user)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def unsubscribe(user: User) -> bool:
    """Withdraw consent to campaign emails, recorded with "unsubscribe link". Idempotent:
    a second POST (a mail client and the member both) changes nothing. Returns whether it did."""
    if not user.consent_marketing:
        return False
    user.consent_marketing = False
    user.consents.append(ConsentRecord(kind="marketing", granted=False, source="unsubscribe link",
                                       created_at=utcnow()))
    return True


def set_campaign_consent(user: User, granted: bool) -> bool:
    """Give or withdraw consent to campaign emails from the preferences page (recorded)."""
    if user.consent_marketing == granted:
        return False
    user.consent_marketing = granted
    user.consents.append(ConsentRecord(kind="marketing", granted=granted, source="notification preferences",
                                       created_at=utcnow()))
    return True


# --- Personal data ----------------------------------------------------------------------------

def export_preferences(user: User) -> dict[str, bool]:
    """The member's notification choices (with defaults)."""
    return preferences(user)


def erase_preferences(user: User) -> None:
    """Remove the member's notification choices when their account is deleted."""
    db.session.execute(sa.delete(NotificationPreference).where(NotificationPreference.user_id == user.id))
