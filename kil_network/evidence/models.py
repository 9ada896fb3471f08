"""Calls for evidence, survey responses and written submissions."""
import enum
import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.auth.models import MemberType
from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model, db

TOPICS = {
    "trends": "The latest trends shaping public services",
    "scale_fail": "Examples of ‘scale fail’: large outsourcing contracts that did not deliver",
    "community_role": "The role of community organisations, and evidence that they transform lives",
    "doing_differently": "Local areas doing things differently to harness local organisations",
}


class Call(Model):
    """A call for evidence: a survey, a written-evidence form, or both, each with a deadline."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    introduction: Mapped[str] = mapped_column(sa.Text, default="")
    asks: Mapped[str] = mapped_column(sa.Text, default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None means the call has no survey (or no written evidence).
    survey_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    written_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def part_state(self, closes_at, now=None) -> str:
        """'forthcoming', 'open' or 'closed' for one part of the call."""
        now = now or utcnow()
        if closes_at is None:
            return "none"
        if now < self.opens_at:
            return "forthcoming"
        return "open" if now < closes_at else "closed"

    def survey_state(self, now=None) -> str:
        """State of the survey."""
        return self.part_state(self.survey_closes_at, now)

    def written_state(self, now=None) -> str:
        """State of the written-evidence form."""
        return self.part_state(self.written_closes_at, now)

    # What the pages ask (templates compare no state strings).
    @property
    def survey_open(self) -> bool:
        """The survey takes responses now."""
        return self.survey_state() == "open"

    @property
    def survey_forthcoming(self) -> bool:
        """The call has a survey that has not opened yet."""
        return self.survey_state() == "forthcoming"

    @property
    def survey_closed(self) -> bool:
        """The survey's deadline has passed."""
        return self.survey_state() == "closed"

    @property
    def written_open(self) -> bool:
        """Written evidence is taken now."""
        return self.written_state() == "open"

    @property
    def written_forthcoming(self) -> bool:
        """The call takes written evidence but has not opened yet."""
        return self.written_state() == "forthcoming"

    @property
    def written_closed(self) -> bool:
        """The written evidence deadline has passed."""
        return self.written_state() == "closed"

    @property
    def state(self) -> str:
        """Open if any part is open; forthcoming before it opens; otherwise closed."""
        states = {self.survey_state(), self.written_state()} - {"none"}
        if "open" in states:
            return "open"
        if "forthcoming" in states:
            return "forthcoming"
        return "closed"


class SurveyResponse(Model):
    """One person's survey answers: in progress (members, across sessions) or submitted."""

    __tablename__ = "survey_responses"
    __table_args__ = (sa.Index("ix_survey_responses_call_status", "call_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("calls.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="in_progress")  # in_progress | submitted
    reference: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    # A visitor's in-progress answers are found by this random key, kept in their session.
    draft_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    answers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    respondent_type: Mapped[str] = mapped_column(sa.String(32), default="")
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    call = relationship("Call")
    region = relationship("Region")


class Publication(enum.StrEnum):
    """What the submitter agreed to about publication."""

    NAMED = "named"
    ANONYMOUS = "anonymous"
    PRIVATE = "private"

    @property
    def label(self) -> str:
        """Human description."""
        return {"named": "Publish it with my name and organisation", "anonymous": "Publish it anonymously",
                "private": "Do not publish it"}[self.value]

    @property
    def may_publish(self) -> bool:
        """The submitter agreed to publication (named or anonymous)."""
        return self is not Publication.PRIVATE


class ReviewStatus(enum.StrEnum):
    """Where a submission is in the staff review."""

    NEW = "new"
    REVIEWED = "reviewed"
    FEATURED = "featured"


submission_principles = sa.Table(
    "submission_principles", db.metadata,
    sa.Column("submission_id", sa.ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("principle_id", sa.ForeignKey("principles.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Submission(Model):
    """Written evidence, with an optional file kept outside the web root."""

    __tablename__ = "submissions"
    # The library's published rows (status, publication) and their order from the index alone, so
    # the long texts are read only for the page shown (migration 0019).
    __table_args__ = (sa.Index("ix_submissions_library", "status", "publication", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(320))
    organisation: Mapped[str] = mapped_column(sa.String(160), default="")
    respondent_type: Mapped[MemberType] = mapped_column(value_enum(MemberType, 32))
    local_authority_id: Mapped[int | None] = mapped_column(sa.ForeignKey("local_authorities.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    file_name: Mapped[str] = mapped_column(sa.String(200), default="")
    file_kind: Mapped[str] = mapped_column(sa.String(8), default="")  # pdf | docx | odt
    file_size: Mapped[int] = mapped_column(default=0)
    file_key: Mapped[str] = mapped_column(sa.String(64), default="")  # name on disk
    publication: Mapped[Publication] = mapped_column(value_enum(Publication, 24))
    status: Mapped[ReviewStatus] = mapped_column(value_enum(ReviewStatus, 24), default=ReviewStatus.NEW, index=True)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the submitter proved the address (followed the emailed link, or sent it signed in
    # from their own confirmed address); until then only a fixed-text email goes to it.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Publication in the library: staff's redacted wording (None: the text as submitted is
    # published); the submitter's consent to publishing the attached file, and staff's approval
    # of it (both needed); when it was first published.
    published_text: Mapped[str | None] = mapped_column(sa.Text)
    file_may_publish: Mapped[bool] = mapped_column(default=False)
    file_approved: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    call = relationship("Call")
    local_authority = relationship("LocalAuthority")
    principles = relationship("Principle", secondary=submission_principles, order_by="Principle.number")
    topic_rows = relationship("SubmissionTopic", cascade="all, delete-orphan", order_by="SubmissionTopic.topic")
    tag_rows = relationship("SubmissionTag", cascade="all, delete-orphan", order_by="SubmissionTag.tag")

    @property
    def topics(self) -> list[str]:
        """The topic keys the evidence covers."""
        return [t.topic for t in self.topic_rows]

    @property
    def tags(self) -> list[str]:
        """Staff tags."""
        return [t.tag for t in self.tag_rows]

    @property
    def is_featured(self) -> bool:
        """Staff chose it to be shown first in the library."""
        return self.status == ReviewStatus.FEATURED

    @property
    def awaiting_review(self) -> bool:
        """New: no member of staff has reviewed it yet."""
        return self.status == ReviewStatus.NEW

    @property
    def is_published(self) -> bool:
        """In the library: the submitter agreed to publication and staff reviewed it (the rule
        services.library applies in SQL, and migration 0014's search triggers too)."""
        return self.publication.may_publish and self.status in (ReviewStatus.REVIEWED, ReviewStatus.FEATURED)

    @property
    def is_redacted(self) -> bool:
        """Staff publish a wording of their own (the submitter's text is kept as sent)."""
        return self.published_text is not None

    @property
    def published_wording(self) -> str:
        """What the library shows: staff's redacted wording, or the text as sent."""
        return self.text if self.published_text is None else self.published_text

    @property
    def published_paragraphs(self) -> list[str]:
        """The published wording's paragraphs (split at blank lines; single line breaks stay inside)."""
        return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", self.published_wording) if p.strip()]

    @property
    def published_on(self) -> datetime:
        """When it was first published (evidence published before that was recorded: when it came in)."""
        return self.published_at or self.created_at

    @property
    def has_file(self) -> bool:
        """A document is attached (and still kept)."""
        return bool(self.file_key)

    @property
    def file_may_be_approved(self) -> bool:
        """A document is attached and its submitter agreed to publishing it: staff may approve it."""
        return self.has_file and self.file_may_publish

    @property
    def file_published(self) -> bool:
        """The attached document is in the library: the submitter consented and staff approved it."""
        return self.is_published and self.has_file and self.file_may_publish and self.file_approved

    @property
    def public_file_name(self) -> str:
        """The published document's download name: the reference, never the name it was sent
        with (which often names its author)."""
        return f"evidence-{self.reference}.{self.file_kind}"

    @property
    def publication_note(self) -> str:
        """How it is published, as the library page says it."""
        if self.publication == Publication.NAMED:
            return "Published with the submitter's name"
        return "Published anonymously"

    @property
    def public_name(self) -> str:
        """The name shown in the library, honouring the submitter's choice."""
        if self.publication == Publication.NAMED:
            return f"{self.name}, {self.organisation}" if self.organisation else self.name
        return "Anonymous"


class SubmissionTopic(Model):
    """A topic (of the four) that a submission covers."""

    __tablename__ = "submission_topics"

    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(24), primary_key=True, index=True)


class SubmissionTag(Model):
    """A staff tag on a submission."""

    __tablename__ = "submission_tags"

    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(60), primary_key=True, index=True)
