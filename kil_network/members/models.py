"""Regions, local authorities, organisations and consent records."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class Region(Model):
    """One of the nine English regions, or Wales (ONS codes)."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(9), unique=True)
    name: Mapped[str] = mapped_column(sa.String(60), unique=True)
    itl1_code: Mapped[str] = mapped_column(sa.String(3))

    local_authorities = relationship(
        "LocalAuthority", back_populates="region", order_by="LocalAuthority.name"
    )


def council_display_name(name: str) -> str:
    """A council's name as people say it: 'Bristol, City of' reads as 'City of Bristol'."""
    if ", " in name:
        place, _, prefix = name.partition(", ")
        return f"{prefix} {place}"
    return name


class LocalAuthority(Model):
    """A principal local authority of England or Wales (ONS GSS code)."""

    __tablename__ = "local_authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    gss_code: Mapped[str] = mapped_column(sa.String(9), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), index=True)
    tier: Mapped[str] = mapped_column(sa.String(30))
    region_id: Mapped[int] = mapped_column(sa.ForeignKey("regions.id"), index=True)

    region = relationship("Region", back_populates="local_authorities", lazy="joined")

    @property
    def display_name(self) -> str:
        """'Bristol, City of' reads as 'City of Bristol'."""
        return council_display_name(self.name)


ORGANISATION_TYPES = {
    "charity": "Registered charity or CIO",
    "cic": "Community interest company",
    "community_benefit_society": "Community benefit society or co-operative",
    "community_group": "Community group (unincorporated)",
    "social_enterprise": "Social enterprise",
    "think_tank": "Think tank",
    "university": "University or research institute",
    "other": "Other",
}


class Organisation(Model):
    """A community organisation, think tank or institution that members belong to."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(160))
    # The name folded for matching ("Hackney CVS" and "hackney  cvs" are one record).
    name_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    org_type: Mapped[str] = mapped_column(sa.String(40), default="other")
    charity_number: Mapped[str] = mapped_column(sa.String(20), default="")
    company_number: Mapped[str] = mapped_column(sa.String(20), default="")
    local_authority_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("local_authorities.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    local_authority = relationship("LocalAuthority")
    members = relationship("User", back_populates="organisation", order_by="User.name")
    editors = relationship("OrganisationEditor", back_populates="organisation", cascade="all, delete-orphan",
                           order_by="OrganisationEditor.requested_at")

    @property
    def type_label(self) -> str:
        """Human name of the organisation type."""
        return ORGANISATION_TYPES.get(self.org_type, "Other")


class OrganisationEditor(Model):
    """A member who may edit an organisation's record (approved), or has asked to (pending).

    The member who creates the record is its first editor; others of its members ask, and an
    editor or staff approve. A refused request or a removed editor is deleted (the audit log
    keeps who decided). Leaving the organisation or deleting the account ends the right.
    """

    __tablename__ = "organisation_editors"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "user_id", name="uq_organisation_editors_org_user"),)

    PENDING = "pending"
    APPROVED = "approved"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=PENDING)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    organisation = relationship("Organisation", back_populates="editors")
    user = relationship("User", foreign_keys=[user_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    @property
    def approved(self) -> bool:
        """Whether this member may edit the record (not just asking to)."""
        return self.status == self.APPROVED


class ConsentRecord(Model):
    """Each consent given or withdrawn, with when and how, kept as evidence (UK GDPR)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))  # privacy | marketing | directory
    granted: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(40), default="join")

    user = relationship("User", back_populates="consents")


class NotificationPreference(Model):
    """A member's choice for one optional kind of notification (members.notifications.KINDS);
    no row means the kind's default."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentWithdrawalCount(Model):
    """Consent withdrawals of deleted accounts, kept only as anonymised counts (UK GDPR: evidence of
    how consent is withdrawn, with no one in it): per kind, how it was withdrawn, and month (UTC)."""

    __tablename__ = "consent_withdrawal_counts"
    __table_args__ = (sa.UniqueConstraint("kind", "source", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30))  # as ConsentRecord.kind
    source: Mapped[str] = mapped_column(sa.String(40))  # as ConsentRecord.source: "profile", "unsubscribe link"...
    month: Mapped[str] = mapped_column(sa.String(7))  # "2026-12"
    withdrawals: Mapped[int] = mapped_column(default=0)
