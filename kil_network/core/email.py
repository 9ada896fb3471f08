"""Email: written to the outbox with the change that causes it, delivered by a worker.

`queue_email` only adds a row to the current transaction; it never talks to SMTP.
`deliver_due` (run by `flask deliver-mail`) claims due rows, sends them and records
the outcome, retrying with exponential back-off until MAIL_MAX_ATTEMPTS.
"""
import base64
import smtplib
import sys
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from flask import current_app, has_request_context, render_template, url_for
from jinja2 import TemplateNotFound

from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for emails, inside or outside a request."""
    if has_request_context() or current_app.config.get("SERVER_NAME"):
        return url_for(endpoint, _external=True, **values)
    with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
        return url_for(endpoint, _external=True, **values)


def queue_email(to: str, subject: str, template: str, *, kind: str = "general",
                user=None, attachments=None, **context) -> OutboxEmail:
    """Render `templates/email/<template>.txt` (and `.html` if present) into the outbox."""
    context.setdefault("subject", subject)
    body_text = render_template(f"email/{template}.txt", **context)
    try:
        body_html = render_template(f"email/{template}.html", **context)
    except TemplateNotFound:  # the HTML part is optional
        body_html = None
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
    )
    db.session.add(mail)
    return mail


def build_message(mail: OutboxEmail) -> EmailMessage:
    """Turn an outbox row into a MIME message."""
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    msg["To"] = mail.to_address
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(idstring=f"outbox-{mail.id}", domain="keepitlocal.invalid")
    msg.set_content(mail.body_text)
    if mail.body_html:
        msg.add_alternative(mail.body_html, subtype="html")
    for item in mail.attachments or []:
        maintype, _, subtype = item["content_type"].partition("/")
        msg.add_attachment(
            base64.b64decode(item["content"]), maintype=maintype,
            subtype=subtype.split(";")[0] or "octet-stream", filename=item["filename"],
        )
    return msg


def _send_smtp(messages: list[EmailMessage]) -> None:
    """Send messages over one SMTP connection."""
    cfg = current_app.config
    smtp_cls = smtplib.SMTP_SSL if cfg["MAIL_USE_SSL"] else smtplib.SMTP
    with smtp_cls(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=20) as smtp:
        if cfg["MAIL_USE_TLS"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        for message in messages:
            smtp.send_message(message)


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


def deliver_due(limit: int = 50) -> dict:
    """Send one batch of due emails; commit the outcome. Returns counts."""
    mails = claim_due(limit)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    if not mails:
        db.session.commit()
        return counts
    console = not current_app.config["MAIL_SERVER"]
    for mail in mails:
        message = build_message(mail)
        try:
            if console:
                _print_to_console(message)
            else:
                _send_smtp([message])
        except (OSError, smtplib.SMTPException) as exc:
            mail.attempts += 1
            mail.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if mail.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
                mail.status = OutboxEmail.FAILED
                counts["failed"] += 1
            else:
                mail.next_attempt_at = utcnow() + backoff(mail.attempts)
                counts["retry"] += 1
        else:
            mail.attempts += 1
            mail.status = OutboxEmail.SENT
            mail.sent_at = utcnow()
            mail.last_error = None
            counts["sent"] += 1
    db.session.commit()
    return counts


def retry_now(mail: OutboxEmail) -> None:
    """Put a failed or waiting email back at the front of the queue."""
    mail.status = OutboxEmail.PENDING
    mail.next_attempt_at = utcnow()


def _erase_outbox(user) -> None:
    """Remove the member's emails from the outbox when their account is deleted."""
    db.session.execute(sa.delete(OutboxEmail).where(OutboxEmail.user_id == user.id))


def _register_eraser():
    """Register the outbox eraser with the personal-data registry."""
    from kil_network.core.personal_data import eraser

    eraser(_erase_outbox)


_register_eraser()
