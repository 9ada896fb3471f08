"""Email: written to the outbox with the change that causes it, delivered by a worker.

`queue_email` only adds a row to the current transaction; it never talks to SMTP.
`deliver_due` (run by `flask deliver-mail`) claims due rows one at a time, sends them over
one SMTP connection and commits each outcome as soon as the server answers, retrying with
exponential back-off until MAIL_MAX_ATTEMPTS (README, Architecture). Every link in an email
comes from `external_url`, which uses BASE_URL and never the request.
"""
import base64
import secrets
import smtplib
import sys
import time
from datetime import UTC, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import cast
from urllib.parse import quote, urlsplit

import sqlalchemy as sa
from flask import current_app, render_template
from jinja2 import TemplateNotFound

from kil_network.core.delivery import FAILED, REFUSED, RETRY, SENT, notify_delivery, read_refusal
from kil_network.core.email_layout import html_from_text
from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db


class SecretURL(str):
    """A link that carries a token (sign-in, confirmation, reset): an email holding one is secret."""


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for emails, calendar files and QR codes, built from BASE_URL alone.

    Never from the request: its Host header is chosen by whoever sends it, and a reset link
    built from it would carry a valid token to the attacker's site. A link whose values include
    a `token` comes back as a SecretURL, so the email it goes into is marked secret."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    anchor = values.pop("_anchor", None)
    current_app.inject_url_defaults(endpoint, values)
    url = adapter.build(endpoint, values, force_external=True)
    if anchor is not None:
        url += "#" + quote(anchor, safe="%!#$&'()*+,/:;=?@")
    return SecretURL(url) if "token" in values else url


# Kinds of email that carry a sign-in, confirmation or reset link: always secret.
SECRET_KINDS = frozenset({"confirm", "reset", "sign_in", "signin", "login_link", "magic_link"})


def preferences_url() -> str:
    """Where every email's footer sends the member to choose their emails (their account page
    until the notification preferences page exists)."""
    for endpoint in ("notifications.preferences", "members.notifications", "account.profile"):
        if endpoint in current_app.view_functions:
            return external_url(endpoint)
    return current_app.config["BASE_URL"]


def render_bodies(template: str, **context) -> tuple[str, str]:
    """The plain text and HTML bodies of an email, written once as `email/<template>.txt`.

    The HTML part is made from the text (core/email_layout.py, templates/email/_layout.html)
    unless the email has its own `.html` (a staff message's rendered Markdown)."""
    context.setdefault("preferences_url", preferences_url())
    body_text = render_template(f"email/{template}.txt", **context)
    try:
        body_html = render_template(f"email/{template}.html", **context)
    except TemplateNotFound:  # the usual case: the HTML part is the text part, laid out
        body_html = html_from_text(body_text, context.get("subject", ""))
    return body_text, body_html


def queue_email(to: str, subject: str, template: str, *, kind: str = "general",
                user=None, attachments=None, secret: bool | None = None, headers: dict | None = None,
                **context) -> OutboxEmail:
    """Render `templates/email/<template>.txt` (and `.html` if present) into the outbox.

    `secret` (default: the kind is in SECRET_KINDS, or a context value is a token link from
    external_url) marks an email whose body must never be shown: the staff outbox page lists
    only its recipient, subject and status. `headers` are added to the message as they are
    (List-Unsubscribe and List-Unsubscribe-Post on campaign emails)."""
    if secret is None:
        secret = kind in SECRET_KINDS or any(isinstance(v, SecretURL) for v in context.values())
    context.setdefault("subject", subject)
    body_text, body_html = render_bodies(template, **context)
    encoded = [
        {
            "filename": a["filename"],
            "content_type": a["content_type"],
            "content": base64.b64encode(a["content"]).decode("ascii"),
        }
        for a in (attachments or [])
    ]
    mail = OutboxEmail(
        to_address=to, subject=subject, body_text=body_text, body_html=body_html,
        attachments=encoded, kind=kind, user_id=getattr(user, "id", None),
        status=OutboxEmail.PENDING, attempts=0, next_attempt_at=utcnow(),
        secret=bool(secret), message_token=secrets.token_hex(8), headers=dict(headers or {}),
    )
    db.session.add(mail)
    return mail


def queue_bulk(rows: list[dict]) -> int:
    """Queue many already-rendered emails in one INSERT (executemany), never one ORM object each.

    Each row has `to_address`, `subject`, `body_text` and optionally `body_html`, `kind`,
    `user_id`, `headers`, `message_id`; the rest (status, Message-ID token, times) is filled
    here. Runs in the caller's transaction. Returns how many were queued."""
    if not rows:
        return 0
    now = utcnow()
    values = [{
        "body_html": None, "kind": "general", "user_id": None, "headers": {}, "message_id": None,
        **row,
        "attachments": [], "status": OutboxEmail.PENDING, "attempts": 0, "next_attempt_at": now,
        "created_at": now, "secret": False, "message_token": secrets.token_hex(8),
    } for row in rows]
    db.session.execute(sa.insert(OutboxEmail), values)
    return len(values)


def message_id(mail: OutboxEmail) -> str:
    """The email's Message-ID: the same on every try (receivers can drop a resend), unique per row."""
    domain = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1].rpartition("@")[2] or "keepitlocal.invalid"
    token = f".{mail.message_token}" if mail.message_token else ""
    return f"<outbox-{mail.id}{token}@{domain}>"


def build_message(mail: OutboxEmail) -> EmailMessage:
    """Turn an outbox row into a MIME message (with Date and a stable Message-ID)."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    # In angle brackets: a bare address beside an HTML part and an image is a spam signal (SpamAssassin's
    # TO_NO_BRKTS_HTML_IMG); readers still see the plain address.
    msg["To"] = f"<{mail.to_address}>" if mail.to_address else mail.to_address
    msg["Subject"] = mail.subject
    created = mail.created_at or utcnow()
    msg["Date"] = format_datetime(created if created.tzinfo else created.replace(tzinfo=UTC))
    msg["Message-ID"] = message_id(mail)
    for name, value in (mail.headers or {}).items():  # List-Unsubscribe(-Post) on campaign emails
        msg[name] = value
    # Quoted-printable, never base64, for the readable parts (filters distrust base64 text).
    msg.set_content(mail.body_text, cte="quoted-printable")
    if mail.body_html:
        msg.add_alternative(mail.body_html, subtype="html", cte="quoted-printable")
    for item in mail.attachments or []:
        _attach(msg, item)
    return msg


def _attach(msg: EmailMessage, item: dict) -> None:
    """Add one attachment, keeping its content type's parameters: a calendar entry goes as
    `text/calendar; method=REQUEST; charset=UTF-8` (RFC 6047), which mail clients need to offer
    it as an invitation, an update or a cancellation."""
    content_type, *raw_params = (p.strip() for p in item["content_type"].split(";"))
    maintype, _, subtype = content_type.partition("/")
    params = dict(p.split("=", 1) for p in raw_params if "=" in p)
    # As bytes (base64), so a calendar file keeps its CRLF line ends exactly (RFC 5545).
    msg.add_attachment(base64.b64decode(item["content"], validate=True), maintype=maintype,
                       subtype=subtype or "octet-stream", params=params, filename=item["filename"])


class SMTPConnection:
    """One SMTP connection for a batch: opened for the first email, reused, reopened after a failure."""

    def __init__(self):
        self.smtp = None
        self.connect_failed = False

    def _connect(self):
        cfg = current_app.config
        smtp_cls = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
        smtp = smtp_cls(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=20)
        try:
            if cfg["MAIL_USE_TLS"]:
                smtp.starttls()
            if cfg["MAIL_USERNAME"]:
                smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; returns once the server has accepted it."""
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except (OSError, smtplib.SMTPException):
                self.connect_failed = True
                raise
        try:
            self.smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            # The server answered and smtplib sent RSET, so the connection is still good, unless
            # the answer was 421 (closing): then smtplib has closed it and the next email reconnects.
            if self.smtp.sock is None:
                self.smtp = None
            raise
        except BaseException:
            self.close()  # disconnected or timed out: the next email opens a new connection
            raise

    def close(self) -> None:
        """Say goodbye (or just drop the socket if the server has gone)."""
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None


def _print_to_console(message: EmailMessage) -> None:
    """Development without SMTP: print the email so a newcomer can follow its links."""
    body = message.get_body(preferencelist=("plain",))
    print(
        f"\n----- email to {message['To']}: {message['Subject']} -----\n"
        f"{body.get_content() if body else ''}\n----- end of email -----",
        file=sys.stderr, flush=True,
    )


def backoff(attempts: int) -> timedelta:
    """Delay before the next try: 30 s, 1 min, 2 min, ... capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def claim_due(limit: int = 50) -> list[OutboxEmail]:
    """Lock due pending rows for this worker (SKIP LOCKED where the database supports it)."""
    stmt = (
        sa.select(OutboxEmail)
        .where(OutboxEmail.status == OutboxEmail.PENDING, OutboxEmail.next_attempt_at <= utcnow())
        .order_by(OutboxEmail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(db.session.scalars(stmt))


UNCERTAIN = ("Delivery uncertain: the mail worker stopped while handing this email to the mail server, "
             "so it may have arrived. It was not sent again; use Retry now if the recipient did not get it "
             "(a resend has the same Message-ID, so their mail system can drop a copy).")

# Outcomes the SMTP server accepted but that could not be written yet (the database was away):
# written first by the next batch of this process, so they are never sent again.
_unrecorded: dict[int, dict] = {}


# Pauses between tries to write an outcome through a database blip (about 8 s in all).
OUTCOME_RETRY_DELAYS = (0.25, 0.5, 1, 2, 4)


def _write_outcome(mail_id: int, values: dict) -> None:
    """Record one email's outcome in its own transaction, retrying through a database blip.

    If the database stays away, the outcome is kept in `_unrecorded` and the error raised: the
    next batch of this process writes it before it claims anything."""
    _unrecorded[mail_id] = values
    for delay in (*OUTCOME_RETRY_DELAYS, None):
        try:
            db.session.execute(sa.update(OutboxEmail).where(OutboxEmail.id == mail_id,
                                                            OutboxEmail.status != OutboxEmail.SENT)
                               .values(**values))
            db.session.commit()
        except sa.exc.DBAPIError:
            db.session.rollback()
            if delay is None:
                raise
            time.sleep(delay)
        else:
            _unrecorded.pop(mail_id, None)
            return


def _flush_unrecorded() -> None:
    """Write outcomes a database blip kept this process from writing."""
    for mail_id, values in list(_unrecorded.items()):
        _write_outcome(mail_id, values)


def _rows_updated(statement: sa.Update) -> int:
    """Run an UPDATE in the session; how many rows it changed. (Session.execute returns a
    CursorResult for one, which has the count, but is typed as returning any Result.)"""
    return cast(sa.CursorResult, db.session.execute(statement)).rowcount or 0


def release_uncertain() -> int:
    """Emails left "sending" by a worker that stopped mid-send: failed, for staff to check (not re-sent)."""
    changed = _rows_updated(
        sa.update(OutboxEmail)
        .where(OutboxEmail.status == OutboxEmail.SENDING, OutboxEmail.next_attempt_at <= utcnow())
        .values(status=OutboxEmail.FAILED, last_error=UNCERTAIN)
    )
    db.session.commit()
    return changed


def _failure(mail_id: int, attempts: int, exc: Exception) -> tuple[str, dict, int | None]:
    """The outcome of a refused or failed try, with the server's answer and its SMTP code: failed at
    once when refused permanently (5xx, core.delivery.read_refusal), else back off, and fail after
    MAIL_MAX_ATTEMPTS."""
    refusal = read_refusal(exc)
    values = {"last_error": refusal.answer[:1000]}
    if refusal.permanent:
        return (REFUSED if refusal.about_address else FAILED), {**values, "status": OutboxEmail.FAILED}, refusal.code
    if attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        return FAILED, {**values, "status": OutboxEmail.FAILED}, refusal.code
    return RETRY, {**values, "status": OutboxEmail.PENDING,
                   "next_attempt_at": utcnow() + backoff(attempts)}, refusal.code


def deliver_due(limit: int = 50, stop=None) -> dict:
    """Send up to `limit` due emails, one at a time, recording each outcome as it happens.

    Each email is claimed (row lock, SKIP LOCKED), built, marked "sending" (committed), handed to
    SMTP over the batch's one connection, and marked sent (committed) as soon as the server
    accepts it. So a crash or a database blip can leave at most one email in doubt per worker:
    it stays "sending", and once MAIL_SENDING_TIMEOUT has passed it is marked failed as
    "delivery uncertain" rather than sent twice. A row that cannot be built is marked failed with
    its error; the rest go. `stop()` returning true ends the batch between emails. Returns counts.
    """
    counts = {"sent": 0, "retry": 0, "failed": 0}
    _flush_unrecorded()
    counts["failed"] += release_uncertain()
    console = not current_app.config["MAIL_SERVER"]
    connection = SMTPConnection()
    try:
        for _ in range(limit):
            if stop is not None and stop():
                break
            claimed = claim_due(1)
            if not claimed:
                db.session.commit()
                break
            mail = claimed[0]
            mail_id, attempts = mail.id, mail.attempts + 1
            try:
                message = build_message(mail)
            except Exception as exc:  # noqa: BLE001 - a row that cannot be built must not stop the queue
                mail.attempts = attempts
                mail.status = OutboxEmail.FAILED
                mail.last_error = f"Could not build the email: {type(exc).__name__}: {exc}"[:1000]
                db.session.commit()
                notify_delivery(mail, FAILED, None)
                counts["failed"] += 1
                continue
            lease = timedelta(seconds=current_app.config["MAIL_SENDING_TIMEOUT"])
            # Compare-and-set, so that even without row locks (SQLite) one worker alone sends it.
            marked = _rows_updated(
                sa.update(OutboxEmail)
                .where(OutboxEmail.id == mail_id, OutboxEmail.status == OutboxEmail.PENDING)
                .values(status=OutboxEmail.SENDING, attempts=attempts, next_attempt_at=utcnow() + lease)
            )
            db.session.commit()
            if marked != 1:
                continue  # another worker took it first
            try:
                if console:
                    _print_to_console(message)
                else:
                    connection.send(message)
            except Exception as exc:  # noqa: BLE001 - refused, unreachable, or not sendable: back off
                outcome, values, code = _failure(mail_id, attempts, exc)
                _write_outcome(mail_id, values)
                notify_delivery(mail, outcome, code)
                counts[FAILED if outcome == REFUSED else outcome] += 1
                if connection.connect_failed:
                    break  # the server cannot be reached: leave the rest for the next batch
                continue
            _write_outcome(mail_id, {"status": OutboxEmail.SENT, "sent_at": utcnow(), "last_error": None})
            notify_delivery(mail, SENT, None)
            counts["sent"] += 1
    finally:
        connection.close()
    return counts


def retry_now(mail: OutboxEmail) -> None:
    """Put a failed or waiting email back at the front of the queue."""
    mail.status = OutboxEmail.PENDING
    mail.next_attempt_at = utcnow()
