"""Workshops, registrations (one per person per workshop) and their state history."""
import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.auth.models import MemberType
from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class WorkshopFormat(enum.StrEnum):
    """How people attend."""

    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"

    @property
    def label(self) -> str:
        """Human name."""
        return {"in_person": "In person", "online": "Online", "hybrid": "Hybrid (in person and online)"}[self.value]

    @property
    def has_venue(self) -> bool:
        """In-person and hybrid workshops have a venue."""
        return self != WorkshopFormat.ONLINE

    @property
    def has_link(self) -> bool:
        """Online and hybrid workshops have a joining link."""
        return self != WorkshopFormat.IN_PERSON

    @property
    def is_online(self) -> bool:
        """Online only (no venue)."""
        return self == WorkshopFormat.ONLINE

    @property
    def is_hybrid(self) -> bool:
        """In person and online."""
        return self == WorkshopFormat.HYBRID


class WorkshopStatus(enum.StrEnum):
    """Draft (staff only), published, or cancelled."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class Workshop(Model):
    """A regional workshop. Times are UTC; capacity counts confirmed seats."""

    __tablename__ = "workshops"
    __table_args__ = (
        sa.Index("ix_workshops_status_starts_at", "status", "starts_at"),
        sa.CheckConstraint("capacity >= 0", name="capacity_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(160))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"), index=True)
    format: Mapped[WorkshopFormat] = mapped_column(value_enum(WorkshopFormat))
    venue: Mapped[str] = mapped_column(sa.String(160), default="")
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    postcode: Mapped[str] = mapped_column(sa.String(10), default="")
    online_url: Mapped[str] = mapped_column(sa.String(500), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registration_closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column()
    accessibility_info: Mapped[str] = mapped_column(sa.Text, default="")
    # At most this percentage of seats for any one member type (None: no mix target).
    mix_max_percent: Mapped[int | None] = mapped_column()
    # The principles round this workshop feeds, and whether its live voting is open.
    round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rounds.id", ondelete="SET NULL"), index=True)
    live_voting: Mapped[bool] = mapped_column(default=False)
    # The presenter screen, as staff set it from the control page: which principle it shows
    # (its number; None: all of them in a grid) and whether the tallies are shown. Tallies stay
    # hidden until staff reveal them, so that the room's votes do not sway each other.
    present_number: Mapped[int | None] = mapped_column()
    tallies_shown: Mapped[bool] = mapped_column(default=False)
    # Bumped by every change staff make to the presenter screen from the control page, so its poll
    # can answer "nothing new" cheaply (votes do not touch this row: the poll reads the tallies).
    present_version: Mapped[int] = mapped_column(default=0)
    status: Mapped[WorkshopStatus] = mapped_column(value_enum(WorkshopStatus), default=WorkshopStatus.DRAFT)
    cancel_reason: Mapped[str] = mapped_column(sa.Text, default="")
    # iCalendar SEQUENCE: bumped whenever the time or place changes, or on cancellation.
    sequence: Mapped[int] = mapped_column(default=0)
    # Bumped by every registration change: the row lock that serialises seat allocation.
    seat_version: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    region = relationship("Region", lazy="joined")
    round = relationship("Round", back_populates="workshops")
    registrations = relationship("Registration", back_populates="workshop", lazy="dynamic")

    @property
    def place(self) -> str:
        """Where it happens, in a few words."""
        if self.format == WorkshopFormat.ONLINE:
            return "Online"
        where = ", ".join(p for p in (self.venue, self.postcode) if p)
        return f"{where} and online" if self.format == WorkshopFormat.HYBRID else where

    @property
    def is_draft(self) -> bool:
        """Not published yet: only staff see it."""
        return self.status == WorkshopStatus.DRAFT

    @property
    def is_published(self) -> bool:
        """Published and not cancelled."""
        return self.status == WorkshopStatus.PUBLISHED

    @property
    def is_cancelled(self) -> bool:
        """Cancelled by staff (it keeps its registrations and their history)."""
        return self.status == WorkshopStatus.CANCELLED

    @property
    def status_label(self) -> str:
        """The status in words: Draft, Published, Cancelled."""
        return self.status.value.capitalize()

    @property
    def is_past(self) -> bool:
        """Has it started already?"""
        return self.starts_at <= utcnow()

    @property
    def mix_limit(self) -> int | None:
        """Most confirmed seats any one member type may hold, or None."""
        if self.mix_max_percent is None:
            return None
        return max(1, self.capacity * self.mix_max_percent // 100)


class RegistrationState(enum.StrEnum):
    """Where a registration stands."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """Human name."""
        return {"confirmed": "Confirmed", "waitlisted": "On the waitlist", "cancelled": "Cancelled"}[self.value]


class CheckInMethod(enum.StrEnum):
    """How someone was checked in."""

    STAFF = "staff"  # a tap on the check-in list
    SCAN = "scan"  # staff scanned the attendee's QR code
    ROOM_CODE = "room_code"  # the attendee opened the live page with the room code: self check-in
    WALK_IN = "walk_in"  # added at the door by staff
    OFFLINE = "offline"  # a tap queued while the staff phone was offline, sent later with its time

    @property
    def label(self) -> str:
        """Human name (the check-in list and the registration history)."""
        return {"staff": "checked in by staff", "scan": "ticket scanned by staff",
                "room_code": "self check-in via room code", "walk_in": "walk-in added by staff",
                "offline": "checked in by staff (sent after being offline)"}[self.value]


# The states that hold a place or a place in the queue.
ACTIVE_STATES = (RegistrationState.CONFIRMED, RegistrationState.WAITLISTED)


class Registration(Model):
    """One person's place at one workshop: confirmed, waitlisted or cancelled.

    A member has at most one registration per workshop (a unique constraint); cancelling
    and registering again moves the same row, and every move is kept in RegistrationEvent.
    Walk-ins who are not yet members have a guest name, email and member type instead.
    """

    __tablename__ = "registrations"
    __table_args__ = (
        sa.UniqueConstraint("workshop_id", "user_id", name="uq_registrations_workshop_user"),
        sa.Index("ix_registrations_workshop_state", "workshop_id", "state", "queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(sa.ForeignKey("workshops.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    guest_name: Mapped[str] = mapped_column(sa.String(120), default="")
    guest_email: Mapped[str] = mapped_column(sa.String(320), default="")
    member_type: Mapped[MemberType] = mapped_column(value_enum(MemberType, 32))
    state: Mapped[RegistrationState] = mapped_column(value_enum(RegistrationState))
    # Waitlist order: when the registration (re)joined the queue.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    access_needs: Mapped[str] = mapped_column(sa.Text, default="")
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # How the check-in was made (CheckInMethod); None for check-ins made before it was recorded (staff).
    check_in_method: Mapped[str | None] = mapped_column(sa.String(16))
    walk_in: Mapped[bool] = mapped_column(default=False)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_in_code: Mapped[str] = mapped_column(sa.String(32), unique=True, default=lambda: secrets.token_urlsafe(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    workshop = relationship("Workshop", back_populates="registrations")
    user = relationship("User", foreign_keys=[user_id])
    events = relationship("RegistrationEvent", back_populates="registration",
                          order_by="RegistrationEvent.id", cascade="all, delete-orphan")

    @property
    def is_confirmed(self) -> bool:
        """Holds a seat."""
        return self.state == RegistrationState.CONFIRMED

    @property
    def is_waitlisted(self) -> bool:
        """Waiting for a seat."""
        return self.state == RegistrationState.WAITLISTED

    @property
    def is_cancelled(self) -> bool:
        """Given up (by the member, staff, or account deletion)."""
        return self.state == RegistrationState.CANCELLED

    @property
    def is_active(self) -> bool:
        """Confirmed or waitlisted."""
        return self.state in ACTIVE_STATES

    @property
    def attended(self) -> bool:
        """Checked in on the day."""
        return self.checked_in_at is not None

    @property
    def check_in_label(self) -> str:
        """How the check-in was made, in words ("self check-in via room code"); check-ins made
        before the method was recorded were staff taps."""
        return CheckInMethod(self.check_in_method or CheckInMethod.STAFF).label

    @property
    def person_name(self) -> str:
        """The attendee's name (member or walk-in guest)."""
        return self.user.display_name if self.user else self.guest_name

    @property
    def person_email(self) -> str:
        """Where to email the attendee."""
        return self.user.email if self.user else self.guest_email


class RegistrationEvent(Model):
    """A registration's history: each state change (or check-in) with time and who."""

    __tablename__ = "registration_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(30))  # registered, waitlisted, promoted, cancelled, checked_in, ...
    from_state: Mapped[str | None] = mapped_column(sa.String(16))
    to_state: Mapped[str | None] = mapped_column(sa.String(16))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    registration = relationship("Registration", back_populates="events")
