"""Staff messages: drafts, rendering (Markdown, sanitised), tests, scheduling and sending in bulk.

Sending never builds one ORM object per email: the audience's ids and addresses come from one
statement, the rendered bodies are made once per message, and one outbox row per recipient is
written with a single core `insert(OutboxEmail)` over a list of dicts. Each state change is a
conditional UPDATE (status = expected), so two send-scheduled runs, or a double click on "Send
now", never send a message twice. The caller commits.
"""
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import nh3
import sqlalchemy as sa
from flask import render_template
from markdown_it import MarkdownIt

from kil_network.auth.models import User
from kil_network.core.audit import record
from kil_network.core.email import external_url, preferences_url
from kil_network.core.models import OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import format_london, utcnow
from kil_network.extensions import db
from kil_network.members.notifications import unsubscribe_headers
from kil_network.messages import audience
from kil_network.messages.models import Message, MessageKind, MessageStatus

SUBJECT_MAX = 200
BODY_MAX = 20_000
UNSUBSCRIBE_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
INSERT_BATCH = 2000

# The HTML a message body may contain after sanitising: what commonmark produces, nothing else.
ALLOWED_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "a", "ul", "ol",
                "li", "blockquote", "code", "pre", "img"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}

_markdown = MarkdownIt("commonmark", {"html": False})


def render_html(body: str) -> str:
    """The body's Markdown as HTML: raw HTML is not parsed (shown as text), then sanitised by nh3."""
    return nh3.clean(_markdown.render(body or ""), tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer")


_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*(?:"[^"]*"|'[^']*')""")


def render_text(body: str) -> str:
    """The plain-text part: the Markdown lightly cleaned (links as "text (address)", no heading
    marks or bold markers), paragraphs kept whole, never wrapped mid-sentence."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1) != m.group(2) else m.group(2), text)
    text = _HEADING.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


@dataclass
class Rendered:
    """A message as every recipient's copy has it (the unsubscribe link filled in per recipient)."""

    subject: str
    text: str
    html: str


def _why(kind: MessageKind) -> str:
    """The footer's reason for the email."""
    if kind == MessageKind.CAMPAIGN:
        return ("You are getting this email because you agreed to receive updates from the Keep it Local Network. "
                "You can stop them at any time.")
    return ("You are getting this email because of something you signed up for in the Keep it Local "
            "Network (a workshop, a round or the call for evidence). Service messages are sent whatever your "
            "choice about campaign updates.")


def render_copy(message: Message, *, test: bool = False) -> Rendered:
    """The email templates filled in once for the message (text and HTML)."""
    context = dict(subject=message.subject, body_text=render_text(message.body), body_html=render_html(message.body),
                   campaign=message.kind == MessageKind.CAMPAIGN, why=_why(message.kind), test=test,
                   unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, preferences_url=preferences_url())
    subject = ("[Test] " if test else "") + message.subject
    return Rendered(subject, render_template("email/message.txt", **context),
                    render_template("email/message.html", **context))


def _link_of(headers: dict) -> str:
    """The HTTPS link inside a List-Unsubscribe header."""
    return (headers.get("List-Unsubscribe") or "").strip("<>")


# --- drafts ---------------------------------------------------------------------------------

def _check(data: Mapping) -> None:
    """Subject and body within their limits; a known kind."""
    subject = (data.get("subject") or "").strip()
    if not subject:
        raise RuleError("Enter a subject", "subject")
    if len(subject) > SUBJECT_MAX:
        raise RuleError(f"Subject must be {SUBJECT_MAX} characters or fewer", "subject")
    if len(data.get("body") or "") > BODY_MAX:
        raise RuleError(f"Message must be {BODY_MAX:,} characters or fewer", "body")
    if data.get("kind") not in {k.value for k in MessageKind}:
        raise RuleError("Select the kind of message", "kind")


def create_draft(actor: User, data: Mapping) -> Message:
    """A new draft from the compose form's data (subject, body, kind, audience)."""
    _check(data)
    message = Message(subject=data["subject"].strip(), body=data.get("body") or "", kind=MessageKind(data["kind"]),
                      audience=audience.clean(data.get("audience")), status=MessageStatus.DRAFT,
                      created_by_id=actor.id)
    db.session.add(message)
    db.session.flush()
    record(actor, "message.draft", message, f"Drafted message '{message.subject}'")
    return message


def check_editable(message: Message) -> None:
    """Only a draft can be changed."""
    if message.status != MessageStatus.DRAFT:
        raise RuleError(f"This message is {message.status.label.lower()}: it can no longer be changed.")


def update_draft(actor: User, message: Message, data: Mapping) -> Message:
    """Change a draft's words, kind or audience."""
    check_editable(message)
    _check(data)
    message.subject = data["subject"].strip()
    message.body = data.get("body") or ""
    message.kind = MessageKind(data["kind"])
    message.audience = audience.clean(data.get("audience"))
    message.updated_at = utcnow()
    record(actor, "message.edit", message, f"Edited message '{message.subject}'")
    return message


def preview(message: Message) -> Rendered:
    """The message as a recipient would get it (HTML and plain text)."""
    rendered = render_copy(message)
    link = external_url("updates.index_updates")  # stands for the recipient's own unsubscribe link
    # The page's CSP (style-src 'self') also governs a srcdoc frame, so the email layout's inline
    # styles would be blocked there anyway: they are left out of the preview, the words kept.
    html = _STYLE_ATTRIBUTE.sub("", rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, link))
    return Rendered(rendered.subject, rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, link), html)


def _row(message: Message, rendered: Rendered, user, *, test: bool = False) -> dict:
    """One outbox row (a dict for a bulk insert) for this recipient."""
    headers = unsubscribe_headers(user) if message.kind == MessageKind.CAMPAIGN else {}
    link = _link_of(headers) or external_url("account.profile")
    now = utcnow()
    return {"created_at": now, "to_address": user.email, "subject": rendered.subject,
            "body_text": rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, link),
            "body_html": rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, link),
            "attachments": [], "kind": "message_test" if test else message.kind.value, "user_id": user.id,
            "status": OutboxEmail.PENDING, "attempts": 0, "next_attempt_at": now, "secret": False,
            "message_token": secrets.token_hex(8), "headers": headers,
            "message_id": None if test else message.id}


def send_test(actor: User, message: Message) -> None:
    """Queue one copy, marked as a test, to the staff member themselves (not counted as sent)."""
    db.session.execute(sa.insert(OutboxEmail), [_row(message, render_copy(message, test=True), actor, test=True)])
    record(actor, "message.test", message, f"Sent a test of message '{message.subject}' to themselves")


def count(message: Message) -> tuple[int, int, int]:
    """(recipients, excluded for no consent, excluded as undeliverable) for the message now."""
    return audience.count(message.audience, message.kind)


# --- scheduling and sending -----------------------------------------------------------------

def _move(message: Message, from_states: tuple[MessageStatus, ...], to: MessageStatus, **values) -> bool:
    """Conditional UPDATE: the message goes to `to` only if it is still in one of `from_states`
    (on PostgreSQL the row lock makes a concurrent run wait, then find it moved). True if it moved."""
    result = db.session.execute(sa.update(Message).where(Message.id == message.id, Message.status.in_(from_states))
                                .values(status=to, updated_at=utcnow(), **values)
                                .execution_options(synchronize_session=False))
    moved = (cast(sa.CursorResult, result).rowcount or 0) == 1
    if moved:
        db.session.refresh(message)
    return moved


def schedule(actor: User, message: Message, when: datetime | None) -> None:
    """Send the draft at `when` (UTC; the form reads it in Europe/London); never in the past."""
    if when is None:
        raise RuleError("Enter the date and time to send it", "send_at")
    if when <= utcnow():
        raise RuleError("The time to send it must be in the future", "send_at")
    _check_sendable(message)
    if not _move(message, (MessageStatus.DRAFT,), MessageStatus.SCHEDULED, scheduled_at=when):
        raise RuleError("Only a draft can be scheduled.")
    record(actor, "message.schedule", message, f"Scheduled message '{message.subject}' for {format_london(when)}",
           audience=message.audience, kind=message.kind.value)


def cancel(actor: User, message: Message) -> None:
    """A scheduled message is not sent."""
    if not _move(message, (MessageStatus.SCHEDULED,), MessageStatus.CANCELLED):
        raise RuleError("Only a scheduled message can be cancelled.")
    record(actor, "message.cancel", message, f"Cancelled scheduled message '{message.subject}'")


def _check_sendable(message: Message) -> None:
    """A message needs a body and at least one recipient."""
    if not (message.body or "").strip():
        raise RuleError("Write the message before sending it", "body")
    if count(message)[0] == 0:
        raise RuleError("No one matches this audience: change the filters before sending.")


def send_now(actor: User, message: Message) -> int:
    """Queue a draft (or a scheduled message) to its audience now; how many copies were queued."""
    _check_sendable(message)
    if not _move(message, (MessageStatus.DRAFT, MessageStatus.SCHEDULED), MessageStatus.SENDING,
                 queued_at=utcnow()):
        raise RuleError("This message has already been sent or cancelled.")
    return _queue(actor, message)


def _queue(actor: User | None, message: Message) -> int:
    """Write one outbox row per recipient in bulk; the message is SENT (queued: the worker delivers)."""
    recipients, no_consent, undeliverable = count(message)
    rendered = render_copy(message)
    rows = db.session.execute(audience.recipients_select(message.audience, message.kind, User.id, User.email)).all()
    queued = 0
    for start in range(0, len(rows), INSERT_BATCH):
        batch = [_row(message, rendered, r) for r in rows[start:start + INSERT_BATCH]]
        db.session.execute(sa.insert(OutboxEmail), batch)
        queued += len(batch)
    db.session.execute(sa.update(Message).where(Message.id == message.id).values(
        status=MessageStatus.SENT, sent_at=utcnow(), recipient_count=queued,
        excluded_count=no_consent + undeliverable).execution_options(synchronize_session=False))
    db.session.refresh(message)
    who = actor.display_name if actor is not None else "send-scheduled"
    record(actor, "message.send", message,
           f"{who} sent message '{message.subject}' ({message.kind.value}) to {queued:,} members",
           kind=message.kind.value, audience=message.audience, recipients=queued,
           excluded_no_consent=no_consent, excluded_undeliverable=undeliverable)
    return queued


def send_scheduled() -> list[tuple[int, int]]:
    """Send every scheduled message now due, each in its own transaction (claimed by a conditional
    UPDATE, so a concurrent run never sends one twice). Returns (message id, copies) for each."""
    due = list(db.session.scalars(sa.select(Message.id).where(
        Message.status == MessageStatus.SCHEDULED, Message.scheduled_at <= utcnow()).order_by(Message.scheduled_at)))
    db.session.commit()
    sent = []
    for message_id in due:
        message = db.session.get(Message, message_id)
        if message is None or not _move(message, (MessageStatus.SCHEDULED,), MessageStatus.SENDING,
                                        queued_at=utcnow()):
            db.session.rollback()
            continue
        actor = db.session.get(User, message.created_by_id) if message.created_by_id else None
        sent.append((message_id, _queue(actor, message)))
        db.session.commit()
    return sent


@dataclass
class Progress:
    """A sent message's copies: waiting or being handed over, sent, failed (from the outbox)."""

    total: int
    queued: int
    sent: int
    failed: int

    @property
    def done(self) -> int:
        """Copies with an outcome."""
        return self.sent + self.failed

    @property
    def percent(self) -> int:
        """How far delivery has got (100 when every copy has an outcome)."""
        return 100 if self.total == 0 else min(100, self.done * 100 // self.total)

    @property
    def complete(self) -> bool:
        """Every copy has an outcome."""
        return self.queued == 0


def progress(message: Message) -> Progress:
    """Count the message's outbox rows by status (one statement)."""
    rows = db.session.execute(sa.select(OutboxEmail.status, sa.func.count()).where(
        OutboxEmail.message_id == message.id).group_by(OutboxEmail.status)).all()
    by = {status: n for status, n in rows}
    sent, failed = by.get(OutboxEmail.SENT, 0), by.get(OutboxEmail.FAILED, 0)
    queued = by.get(OutboxEmail.PENDING, 0) + by.get(OutboxEmail.SENDING, 0)
    return Progress(total=sent + failed + queued, queued=queued, sent=sent, failed=failed)


def list_counts() -> dict[MessageStatus, int]:
    """How many messages are in each state."""
    rows = db.session.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status)).all()
    found: dict[MessageStatus, int] = {status: n for status, n in rows}
    return {status: found.get(status, 0) for status in MessageStatus}


def messages_query(status: str = "") -> sa.Select:
    """Messages, newest first, optionally in one state."""
    stmt = sa.select(Message).order_by(Message.created_at.desc(), Message.id.desc())
    if status:
        stmt = stmt.where(Message.status == MessageStatus(status))
    return stmt


# --- members' updates pages ------------------------------------------------------------------

def updates_for(user: User) -> sa.Select:
    """The campaign updates this member was sent (an outbox copy for them), newest first."""
    sent_to_them = sa.exists().where(OutboxEmail.message_id == Message.id, OutboxEmail.user_id == user.id)
    return (sa.select(Message).where(Message.kind == MessageKind.CAMPAIGN, Message.status == MessageStatus.SENT,
                                     sent_to_them)
            .order_by(Message.sent_at.desc(), Message.id.desc()))


def update_for(user: User, message_id: int) -> Message | None:
    """One campaign update, only if this member was sent it."""
    return db.session.scalar(updates_for(user).where(Message.id == message_id))


def export_messages(user: User) -> list[dict]:
    """Personal data: the staff messages (campaign and service) sent to this member."""
    rows = db.session.execute(sa.select(Message.subject, Message.kind, OutboxEmail.created_at, OutboxEmail.status,
                                        OutboxEmail.body_text)
                              .join(OutboxEmail, OutboxEmail.message_id == Message.id)
                              .where(OutboxEmail.user_id == user.id).order_by(OutboxEmail.id)).all()
    return [{"subject": r.subject, "kind": r.kind.value, "queued_at": r.created_at.isoformat(),
             "status": r.status, "text": r.body_text} for r in rows]
