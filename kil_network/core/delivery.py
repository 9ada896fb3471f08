"""What became of each email: the SMTP server's answer read once, listeners told of every outcome,
and a member's emails in their data export and erasure.

Core knows no member. The layer that keeps state about an address (auth: an address the server
keeps refusing is undeliverable) registers a listener in the app factory:

    register_delivery_listener(app, deliverability.record_delivery)

`core.email.deliver_due` calls `notify_delivery` after each outcome is committed; every listener
gets (outbox row, outcome, SMTP code) and `notify_delivery` commits what they changed. A listener
that fails is logged and rolled back: it never stops the queue, nor undoes the outcome.

Outcomes: SENT; RETRY (a temporary refusal, 4xx, or no answer: backed off); FAILED (gave up after
MAIL_MAX_ATTEMPTS, could not be built, or refused permanently for a reason that is not the address);
REFUSED (the server refused the recipient permanently, 5xx: failed at once, never retried).
"""
import logging
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from kil_network.core.models import OutboxEmail
from kil_network.extensions import db

log = logging.getLogger(__name__)

SENT, RETRY, FAILED, REFUSED = "sent", "retry", "failed", "refused"

# An enhanced status code (RFC 3463) about the address or its mailbox: 5.1.x, 5.2.x.
_ADDRESS_STATUS = re.compile(r"^5\.[12]\.\d{1,3}\b")


@dataclass(frozen=True)
class Refusal:
    """The server's answer to one try, as the outbox keeps it."""

    code: int | None  # the SMTP reply code; None when the server never answered (unreachable, timed out)
    answer: str  # for last_error
    permanent: bool  # 5xx for this message: trying again cannot help
    about_address: bool  # the recipient was refused (counted against the address)


def _text(message) -> str:
    """The server's reply text (smtplib keeps bytes)."""
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    return " ".join(str(message).split())


def read_refusal(exc: Exception) -> Refusal:
    """What the server said when a try failed.

    Permanent: a 5xx refusal of the recipient (RCPT TO), or a 5xx answer to the message itself (after
    DATA). It counts against the address when it came at RCPT TO, or after DATA with an enhanced
    status about the address or mailbox (5.1.x, 5.2.x; a 5.7.x content rejection does not). A refusal
    of our sender (MAIL FROM) is the site's own set-up, not this message: it stays a retry, as 4xx
    answers and connection failures do."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        address, (code, message) = next(iter(exc.recipients.items()))
        answer = f"The mail server refused {address}: {code} {_text(message)}"
        permanent = 500 <= int(code) < 600
        return Refusal(int(code), answer, permanent, permanent)
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPSenderRefused):
        code, text = int(exc.smtp_code), _text(exc.smtp_error)
        permanent = 500 <= code < 600
        return Refusal(code, f"The mail server refused the email: {code} {text}", permanent,
                       permanent and bool(_ADDRESS_STATUS.match(text)))
    answered = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else None
    return Refusal(answered, f"{type(exc).__name__}: {exc}", False, False)


def register_delivery_listener(app, fn: Callable) -> None:
    """Add `fn(mail, outcome, code)`, called after each delivery outcome is committed."""
    app.extensions.setdefault("delivery_listeners", []).append(fn)


def notify_delivery(mail: OutboxEmail, outcome: str, code: int | None = None) -> None:
    """Tell every listener of one committed outcome, and commit what they changed."""
    for fn in current_app.extensions.get("delivery_listeners", []):
        try:
            fn(mail, outcome, code)
            db.session.commit()
        except Exception:  # noqa: BLE001 - a listener must never stop the queue
            db.session.rollback()
            log.exception("Delivery listener %s failed for outbox email %s", getattr(fn, "__name__", fn),
                          sa.inspect(mail).identity)


# --- A member's emails in "download my data" and "delete my account" ------------------------

ERASED_NOT_SENT = "Not sent: the member deleted their account."


def _theirs(user):
    """The member's copies: queued for them, or sent to their address with no member named."""
    return sa.or_(OutboxEmail.user_id == user.id,
                  sa.and_(OutboxEmail.user_id.is_(None), OutboxEmail.to_address == user.email))


def export_outbox(user) -> list:
    """The emails sent (or being sent) to the member: subject, kind, status and times. Bodies are
    left out (a sign-in, confirmation or reset email's link must never leave the outbox; the
    updates a member was sent are on their /updates/ pages)."""
    rows = db.session.execute(
        sa.select(OutboxEmail.subject, OutboxEmail.kind, OutboxEmail.status, OutboxEmail.to_address,
                  OutboxEmail.created_at, OutboxEmail.sent_at, OutboxEmail.message_id)
        .where(_theirs(user)).order_by(OutboxEmail.id))
    return [{"subject": r.subject, "kind": r.kind, "status": r.status, "to": r.to_address,
             "queued_at": r.created_at.isoformat() if r.created_at else None,
             "sent_at": r.sent_at.isoformat() if r.sent_at else None,
             "staff_message_id": r.message_id} for r in rows]


def erase_outbox(user) -> None:
    """Remove the member's emails when their account is deleted (registered by the factory).

    A copy of a staff message keeps its row, emptied of the address, body, headers and server
    answer, so the message's sent and failed counts stay true; one still waiting is never sent.
    Every other email to the member is deleted."""
    copy = sa.and_(_theirs(user), OutboxEmail.message_id.is_not(None))
    waiting = (OutboxEmail.PENDING, OutboxEmail.SENDING)
    db.session.execute(sa.update(OutboxEmail).where(copy, OutboxEmail.status.in_(waiting))
                       .values(status=OutboxEmail.FAILED, last_error=ERASED_NOT_SENT))
    db.session.execute(sa.update(OutboxEmail).where(copy).values(
        to_address="", body_text="", body_html=None, attachments=[], headers={}, user_id=None,
        last_error=sa.case((OutboxEmail.last_error == ERASED_NOT_SENT, ERASED_NOT_SENT), else_=None)))
    db.session.execute(sa.delete(OutboxEmail).where(_theirs(user), OutboxEmail.message_id.is_(None)))
