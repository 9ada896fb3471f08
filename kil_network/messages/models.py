"""A message staff write to an audience of members: a campaign update (news, invitations,
stories: only to members who consented to campaign emails) or a service message (about
something the recipients signed up for: sent regardless of that consent). Each recipient's copy
is an outbox email carrying the message's id (`OutboxEmail.message_id`)."""
import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class MessageKind(enum.StrEnum):
    """Campaign or service: kept apart in code and in law (PECR: consent for campaign emails)."""

    CAMPAIGN = "campaign"
    SERVICE = "service"

    @property
    def label(self) -> str:
        """Human name."""
        return {"campaign": "Campaign update (news, invitations, stories)",
                "service": "Service message (about something the recipients signed up for)"}[self.value]


class MessageStatus(enum.StrEnum):
    """Where a message is: written, waiting for its time, being queued and sent, sent, or cancelled."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """Human name."""
        return {"draft": "Draft", "scheduled": "Scheduled", "sending": "Sending", "sent": "Sent",
                "cancelled": "Cancelled"}[self.value]


class Message(Model):
    """One message: its words (Markdown), its kind, its audience (filters) and its sending."""

    __tablename__ = "messages"
    __table_args__ = (sa.Index("ix_messages_status_scheduled", "status", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")  # Markdown, rendered and sanitised when sent
    kind: Mapped[MessageKind] = mapped_column(value_enum(MessageKind, 16), default=MessageKind.CAMPAIGN)
    # The audience's filters as the compose form posted them (member type, region, council,
    # organisation, workshops and attendance, a round voted / not voted, evidence to a call).
    audience: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[MessageStatus] = mapped_column(value_enum(MessageStatus, 16), default=MessageStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipient_count: Mapped[int] = mapped_column(default=0)  # copies queued
    excluded_count: Mapped[int] = mapped_column(default=0)  # matched but left out (no consent, undeliverable)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_by = relationship("User", foreign_keys=[created_by_id])
