"""A council's Keep it Local pledge."""
import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class PledgeStatus(enum.StrEnum):
    """Pending until staff verify it; only verified pledges are public."""

    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        """Its name on the staff queue: 'Pending', 'Verified', 'Rejected'."""
        return self.value.capitalize()

    @property
    def tag_colour(self) -> str:
        """The colour of its status tag (a .tag--* class): verified is confirmed, rejected cancelled,
        pending waiting."""
        return {"verified": "confirmed", "rejected": "cancelled", "pending": "waitlisted"}[self.value]


class SignedBy(enum.StrEnum):
    """How the council made its commitment."""

    LEADER_AND_CHIEF_EXECUTIVE = "leader_and_chief_executive"
    CABINET_MEMBER_AND_CHIEF_EXECUTIVE = "cabinet_member_and_chief_executive"
    CABINET_DECISION = "cabinet_decision"

    @property
    def label(self) -> str:
        """Human description."""
        return {
            "leader_and_chief_executive": "Signed by the council leader and the chief executive",
            "cabinet_member_and_chief_executive": "Signed by a cabinet member and the chief executive",
            "cabinet_decision": "A cabinet decision",
        }[self.value]


class Pledge(Model):
    """A council's commitment to Keep it Local. One verified or pending pledge per council."""

    __tablename__ = "pledges"
    __table_args__ = (
        sa.Index("uq_pledges_live_council", "local_authority_id", unique=True,
                 postgresql_where=sa.text("status != 'rejected'"), sqlite_where=sa.text("status != 'rejected'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    signed_by: Mapped[SignedBy] = mapped_column(
        value_enum(SignedBy, 40))
    signatories: Mapped[str] = mapped_column(sa.String(300))
    pledged_on: Mapped[date] = mapped_column(sa.Date)
    champions: Mapped[str] = mapped_column(sa.Text, default="")
    statement: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[PledgeStatus] = mapped_column(
        value_enum(PledgeStatus, 16),
        default=PledgeStatus.PENDING, index=True)
    review_note: Mapped[str] = mapped_column(sa.Text, default="")
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    local_authority = relationship("LocalAuthority", lazy="joined")
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])

    @property
    def is_pending(self) -> bool:
        """Waiting for staff to verify or reject it."""
        return self.status == PledgeStatus.PENDING
