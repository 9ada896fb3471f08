"""The User: a member of the Network, or a member of staff."""
import enum
import secrets
import time
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class MemberType(enum.StrEnum):
    """Who a member is, in the Network's terms."""

    COUNCILLOR = "councillor"
    COMMISSIONER = "commissioner"
    COUNCIL_OFFICER = "council_officer"
    COMMUNITY_ORGANISATION = "community_organisation"
    THINK_TANK = "think_tank"
    ACADEMIC = "academic"
    OTHER = "other"

    @property
    def label(self) -> str:
        """Human name of the type."""
        return MEMBER_TYPE_LABELS[self]

    @property
    def needs_organisation(self) -> bool:
        """Community organisations, think tanks and academics name their organisation."""
        return self in {MemberType.COMMUNITY_ORGANISATION, MemberType.THINK_TANK, MemberType.ACADEMIC}

    @property
    def needs_council(self) -> bool:
        """Councillors, commissioners and council officers pick their council."""
        return self in {MemberType.COUNCILLOR, MemberType.COMMISSIONER, MemberType.COUNCIL_OFFICER}


MEMBER_TYPE_LABELS = {
    MemberType.COUNCILLOR: "Councillor",
    MemberType.COMMISSIONER: "Commissioner (commissioning or procurement)",
    MemberType.COUNCIL_OFFICER: "Council officer",
    MemberType.COMMUNITY_ORGANISATION: "Community organisation",
    MemberType.THINK_TANK: "Think tank",
    MemberType.ACADEMIC: "Academic",
    MemberType.OTHER: "Other",
}


class Role(enum.StrEnum):
    """What a person may do in the app."""

    MEMBER = "member"
    STAFF = "staff"
    ADMIN = "admin"


class Status(enum.StrEnum):
    """Account state: active, suspended by staff, or deleted (anonymised) by the member."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


def new_sign_in_id() -> str:
    """A random id for one sign-in, prefixed by its issue time (hex seconds) so it can expire."""
    return f"{int(time.time()):x}.{secrets.token_urlsafe(16)}"


def sign_in_issued_at(sign_in_id: str | None) -> int | None:
    """The issue time (Unix seconds) of a sign-in id, or None if it is not one."""
    issued, _, rest = (sign_in_id or "").partition(".")
    if not rest or not 0 < len(issued) <= 12:
        return None
    try:
        return int(issued, 16)
    except ValueError:
        return None


class RevokedSignIn(Model):
    """A signed-out sign-in: its session and remember cookies no longer sign anyone in.

    Kept until `expires_at`, when the sign-in id would have expired anyway (SESSION_MAX_AGE)."""

    __tablename__ = "revoked_sign_ins"

    sign_in_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SignInCode(Model):
    """A one-time sign-in code (six digits, typed) and link (emailed), valid 15 minutes, used once.

    Sent to a member who asked to sign in without a password (the workshop live page), or to a
    newcomer who just joined there (using it confirms their email address). Only hashes are kept.
    `workshop_id` is the live workshop the request came from (the room code proved the person was
    in the room): using the code checks them in there. `attempts` counts wrong codes typed."""

    __tablename__ = "sign_in_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(16))  # "sign_in" or "join"
    code_hash: Mapped[str] = mapped_column(sa.String(128))
    link_hash: Mapped[str] = mapped_column(sa.String(128), unique=True)
    workshop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workshops.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(UserMixin, Model):
    """A person with an account. Email is stored lower-case and is unique."""

    __tablename__ = "users"
    __table_args__ = (
        # The directory in name order, and its search and count without reading the table rows.
        sa.Index("ix_users_directory_search", "status", "show_in_directory", "name", "email_confirmed_at",
                 "organisation_id", "local_authority_id"),
        # The home page's member count.
        sa.Index("ix_users_stats", "status", "email_confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255), default="")
    name: Mapped[str] = mapped_column(sa.String(120), index=True)
    member_type: Mapped[MemberType] = mapped_column(
        value_enum(MemberType, 32),
        index=True,
    )
    role: Mapped[Role] = mapped_column(
        value_enum(Role, 16),
        default=Role.MEMBER,
    )
    status: Mapped[Status] = mapped_column(
        value_enum(Status, 16),
        default=Status.ACTIVE,
    )
    job_title: Mapped[str] = mapped_column(sa.String(120), default="")
    involvement: Mapped[str] = mapped_column(sa.Text, default="")
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    local_authority_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("local_authorities.id"), index=True
    )
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"), index=True)

    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_email: Mapped[str | None] = mapped_column(sa.String(320))
    consent_privacy_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_marketing: Mapped[bool] = mapped_column(default=False)
    show_in_directory: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Changing this signs the member out everywhere (Flask-Login uses it as the session id).
    session_token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Secret in the URL of the member's private calendar feed; the member can reset it.
    calendar_token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # Permanent refusals (SMTP 5xx) of the address in a row; at MAIL_UNDELIVERABLE_AFTER the address
    # is marked undeliverable (campaign sends skip it; staff see it) until it changes or succeeds.
    email_bounce_count: Mapped[int] = mapped_column(default=0, server_default="0")
    email_undeliverable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation = relationship("Organisation", back_populates="members")
    local_authority = relationship("LocalAuthority")
    region = relationship("Region")
    consents = relationship(
        "ConsentRecord", back_populates="user", order_by="ConsentRecord.id",
        cascade="all, delete-orphan",
    )

    def get_id(self) -> str:
        """Flask-Login's id: "<session_token>:<sign-in id>", kept in the session and remember cookie.

        The session token rotates on password change, suspension and "sign out everywhere" (every
        session of the member ends); the sign-in id is new at each sign-in and is revoked by signing
        out (that one session and its remember cookie end). See auth.services.load_user."""
        if not getattr(self, "sign_in_id", None):
            self.sign_in_id = new_sign_in_id()
        return f"{self.session_token}:{self.sign_in_id}"

    @property
    def is_active(self) -> bool:
        """Suspended and deleted accounts cannot sign in."""
        return self.status == Status.ACTIVE

    @property
    def is_confirmed(self) -> bool:
        """Has the member confirmed their email address?"""
        return self.email_confirmed_at is not None

    @property
    def is_staff(self) -> bool:
        """Staff and admins."""
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        """Admins only."""
        return self.role == Role.ADMIN

    @property
    def display_name(self) -> str:
        """The name to show, or 'Former member' once the account is deleted."""
        return "Former member" if self.status == Status.DELETED else self.name

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"
