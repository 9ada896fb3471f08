"""A council's Keep it Local journey after (and before) its pledge: interest, the endorsement
document, champions, the community conversation, yearly self-assessments against the adopted
principles, re-assessment reminders and requests to be introduced to a peer council.

The journey's stage is never stored: `journey.services.stages` derives it from these records and
the verified pledge (councils.models.Pledge).
"""
import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class CouncilInterest(Model):
    """A member from the council has said the council is working towards Keep it Local."""

    __tablename__ = "council_interests"
    __table_args__ = (sa.UniqueConstraint("local_authority_id", "user_id", name="uq_council_interests_member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"), index=True)
    # SET NULL on erasure: the council stays "interested", the member is forgotten.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CouncilEndorsement(Model):
    """The signed endorsement behind a pledge: an uploaded document (stored like evidence files,
    outside the web root, by key) or a link to the published cabinet decision, or both."""

    __tablename__ = "council_endorsements"

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(sa.ForeignKey("pledges.id", ondelete="CASCADE"), unique=True)
    link_url: Mapped[str] = mapped_column(sa.String(500), default="")
    file_key: Mapped[str] = mapped_column(sa.String(100), default="")
    file_name: Mapped[str] = mapped_column(sa.String(200), default="")
    file_kind: Mapped[str] = mapped_column(sa.String(10), default="")
    file_size: Mapped[int] = mapped_column(default=0)
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    pledge = relationship("Pledge")


class ChampionRole(enum.StrEnum):
    """The two champions a council appoints."""

    CABINET = "cabinet"
    SENIOR_MANAGEMENT = "senior_management"

    @property
    def label(self) -> str:
        """Human name of the role."""
        return {"cabinet": "Cabinet champion", "senior_management": "Senior management champion"}[self.value]


class Champion(Model):
    """A council's champion: a member account (who accepts by email) or a named person.

    Current while `ended_at` is null. A member champion counts once `accepted_at` is set; a named
    person counts when recorded. Erasing the member's account (or staff removing a named person
    on request) blanks `name` and `job_title`, clears `user_id` and sets `erased_at`: the role
    stays on the record as "former champion"."""

    __tablename__ = "champions"

    id: Mapped[int] = mapped_column(primary_key=True)
    local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"), index=True)
    role: Mapped[ChampionRole] = mapped_column(value_enum(ChampionRole, 20))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    job_title: Mapped[str] = mapped_column(sa.String(200), default="")
    appointed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User", foreign_keys=[user_id])


class CommunityConversation(Model):
    """The council's conversation with its local community about what keeping it local means
    there: a workshop in the council's area linked as its conversation, or a recorded event."""

    __tablename__ = "community_conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"), index=True)
    workshop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workshops.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    held_on: Mapped[date] = mapped_column(sa.Date)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    workshop = relationship("Workshop")


class AssessmentStatus(enum.StrEnum):
    """Draft (edited by the council) → submitted (by a champion) → returned (to the council, with
    comments) or accepted (by staff). Publication is a separate choice of the council."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"

    @property
    def label(self) -> str:
        """Its name on tags and lists."""
        return {"draft": "Draft", "submitted": "Submitted", "returned": "Returned for changes",
                "accepted": "Accepted"}[self.value]


class Assessment(Model):
    """A council's self-assessment for one year against one adopted round's wording."""

    __tablename__ = "assessments"
    __table_args__ = (sa.UniqueConstraint("local_authority_id", "year", name="uq_assessments_council_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"), index=True)
    # The adopted round whose drafts (wording) this assessment answers.
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("rounds.id"))
    year: Mapped[int] = mapped_column()
    status: Mapped[AssessmentStatus] = mapped_column(value_enum(AssessmentStatus), default=AssessmentStatus.DRAFT,
                                                     index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comments: Mapped[str] = mapped_column(sa.Text, default="")
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    round = relationship("Round")
    answers = relationship("AssessmentAnswer", back_populates="assessment", order_by="AssessmentAnswer.number",
                           cascade="all, delete-orphan")


class AssessmentAnswer(Model):
    """One principle's answer: a level 1–4, evidence (text with links) and one action for the year."""

    __tablename__ = "assessment_answers"
    __table_args__ = (sa.UniqueConstraint("assessment_id", "draft_id", name="uq_assessment_answers_draft"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("drafts.id"))
    number: Mapped[int] = mapped_column()  # the principle's number, for ordering and year-on-year joins
    level: Mapped[int | None] = mapped_column()  # 1 starting, 2 developing, 3 established, 4 leading
    evidence: Mapped[str] = mapped_column(sa.Text, default="")
    action: Mapped[str] = mapped_column(sa.Text, default="")

    assessment = relationship("Assessment", back_populates="answers")
    draft = relationship("Draft")


class AssessmentReminder(Model):
    """The yearly re-assessment reminder for an accepted assessment, sent once (idempotent)."""

    __tablename__ = "assessment_reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"), unique=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(default=0)


class PeerIntroduction(Model):
    """A member asks the campaign to introduce their council to a peer council's champion on one
    principle. Staff make the introduction; no email address is shown to either side."""

    __tablename__ = "peer_introductions"

    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    from_local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"))
    to_local_authority_id: Mapped[int] = mapped_column(sa.ForeignKey("local_authorities.id"))
    principle_number: Mapped[int] = mapped_column()
    message: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
