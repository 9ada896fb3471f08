"""Core models: the audit log and the email outbox."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class AuditLog(Model):
    """One staff (or system) action: who did what to which record, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(40))
    target_id: Mapped[int | None] = mapped_column(sa.Integer)
    summary: Mapped[str] = mapped_column(sa.String(500))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    actor = relationship("User", foreign_keys=[actor_id], lazy="joined")

    @property
    def member_id(self) -> int | None:
        """The member this entry is about, when its target is a member (a link on the audit page)."""
        return self.target_id if self.target_type == "user" and self.target_id else None


class OutboxEmail(Model):
    """An email written in the same transaction as the change that caused it.

    The delivery worker (`flask deliver-mail`) claims pending rows, sends them over SMTP,
    and retries failures with exponential back-off, so no request waits on SMTP and
    nothing is lost while the mail server is down.
    """

    __tablename__ = "outbox_emails"
    __table_args__ = (sa.Index("ix_outbox_emails_due", "status", "next_attempt_at"),)

    PENDING = "pending"
    SENDING = "sending"  # being handed to SMTP now; left so by a crash, the outcome is in doubt
    SENT = "sent"
    FAILED = "failed"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    to_address: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    # A list of {"filename", "content_type", "content" (base64)}.
    attachments: Mapped[list] = mapped_column(sa.JSON, default=list)
    kind: Mapped[str] = mapped_column(sa.String(40), default="general")
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Holds a sign-in, confirmation or reset link: its body is never shown on any page.
    secret: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Random per row: with the id it makes a Message-ID that stays the same on every try, so a
    # receiver can drop a resend, and that never repeats if ids are reused (a restored database).
    message_token: Mapped[str | None] = mapped_column(sa.String(32))
    # Extra headers for this email (List-Unsubscribe and List-Unsubscribe-Post on campaign emails).
    headers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The staff message (kil_network.messages) this is a recipient's copy of, if any.
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="SET NULL"), index=True)

    @property
    def waiting_to_retry(self) -> bool:
        """Waiting for another try after a failed one (the outbox shows when the next is due)."""
        return self.status == self.PENDING and self.attempts > 0
