"""Principles, rounds of drafts, votes (with tallies kept in step), suggestions, endorsements."""
import enum
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kil_network.auth.models import MemberType
from kil_network.core.dbtypes import value_enum
from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model


class Principle(Model):
    """A stable slot (1 to 6) that each round's drafts revise."""

    __tablename__ = "principles"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    short_name: Mapped[str] = mapped_column(sa.String(80))


class RoundState(enum.StrEnum):
    """A round is drafted by staff, opened for votes, then closed."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class Eligibility(enum.StrEnum):
    """Who may vote in a round."""

    MEMBERS = "members"
    ATTENDEES = "attendees"

    @property
    def label(self) -> str:
        """Human description."""
        return {"members": "All confirmed members",
                "attendees": "Only members who attended one of the round's workshops"}[self.value]


# A round closed by mistake may be reopened this long after it closed (while its results have
# not left the app: see Round.can_be_reopened).
REOPEN_WINDOW = timedelta(hours=24)


class Round(Model):
    """One round of the six drafts, open for votes between two times."""

    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    introduction: Mapped[str] = mapped_column(sa.Text, default="")
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[RoundState] = mapped_column(value_enum(RoundState), default=RoundState.DRAFT)
    eligibility: Mapped[Eligibility] = mapped_column(value_enum(Eligibility), default=Eligibility.MEMBERS)
    # The round whose drafts became the adopted principles.
    adopted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rounds.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When staff closed it (its results became public), and when its results first left the app
    # (the CSV downloaded, or emailed): a round closed by mistake may be reopened within 24 hours
    # of closed_at while results_released_at is still empty.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    results_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    drafts = relationship("Draft", back_populates="round", order_by="Draft.number")
    workshops = relationship("Workshop", back_populates="round", order_by="Workshop.starts_at")

    @property
    def is_draft(self) -> bool:
        """Still being drafted by staff: not yet opened for votes."""
        return self.state == RoundState.DRAFT

    @property
    def is_voting(self) -> bool:
        """Opened for votes and not yet closed by staff (its closing time may have passed)."""
        return self.state == RoundState.OPEN

    @property
    def is_closed(self) -> bool:
        """Closed: no more votes; its results are public."""
        return self.state == RoundState.CLOSED

    @property
    def can_be_adopted(self) -> bool:
        """Closed, and its drafts not yet adopted as the principles."""
        return self.is_closed and self.adopted_at is None

    @property
    def reopen_refusal(self) -> str | None:
        """Why staff cannot reopen this round now, or None when they can: only a closed round,
        within 24 hours of closing, whose drafts are not adopted and whose results have not left
        the app (the CSV downloaded, or emailed)."""
        if not self.is_closed:
            return "Only a closed round can be reopened."
        if self.adopted_at is not None:
            return "Its drafts have been adopted as the principles, so the round cannot be reopened."
        if self.results_released_at is not None:
            return ("Its results have already been downloaded or sent, so the round cannot be reopened: "
                    "start a new round instead.")
        if self.closed_at is None or utcnow() >= self.closed_at + REOPEN_WINDOW:
            return "A round can be reopened only within 24 hours of closing. Start a new round instead."
        return None

    @property
    def can_be_reopened(self) -> bool:
        """Closed by mistake and still reopenable (see `reopen_refusal`)."""
        return self.reopen_refusal is None

    @property
    def reopen_until(self) -> datetime | None:
        """Until when a closed round may be reopened (if nothing else stops it)."""
        return self.closed_at + REOPEN_WINDOW if self.closed_at else None


class Draft(Model):
    """One principle's wording in one round."""

    __tablename__ = "drafts"
    __table_args__ = (sa.UniqueConstraint("round_id", "principle_id", name="uq_drafts_round_principle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    principle_id: Mapped[int] = mapped_column(sa.ForeignKey("principles.id"))
    number: Mapped[int] = mapped_column()  # the principle's number, for ordering without a join
    title: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    what_changed: Mapped[str] = mapped_column(sa.Text, default="")

    round = relationship("Round", back_populates="drafts")
    principle = relationship("Principle", lazy="joined")


class Stance(enum.StrEnum):
    """How a member responds to a draft."""

    SUPPORT = "support"
    AMEND = "amend"
    OPPOSE = "oppose"

    @property
    def label(self) -> str:
        """Human name."""
        return {"support": "Support", "amend": "Support with changes", "oppose": "Oppose"}[self.value]


STANCES = [Stance.SUPPORT, Stance.AMEND, Stance.OPPOSE]


class Moderation(enum.StrEnum):
    """Where a member's published words (a vote comment, a suggestion) are in staff moderation:
    nothing is published until a member of staff approves it."""

    PENDING = "pending"
    APPROVED = "approved"
    HIDDEN = "hidden"

    @property
    def label(self) -> str:
        """Human name."""
        return {"pending": "Awaiting moderation", "approved": "Approved for publication",
                "hidden": "Hidden"}[self.value]

    @property
    def colour(self) -> str:
        """The status tag's colour (a .tag--* class)."""
        return {"pending": "pending", "approved": "confirmed", "hidden": "cancelled"}[self.value]

    @property
    def is_pending(self) -> bool:
        """Waiting for staff."""
        return self is Moderation.PENDING

    @property
    def is_approved(self) -> bool:
        """Published."""
        return self is Moderation.APPROVED

    @property
    def is_hidden(self) -> bool:
        """Kept off the public pages, with a reason."""
        return self is Moderation.HIDDEN


class Vote(Model):
    """One member's vote on one draft (unique), changeable until the round closes.

    The member's type and region are copied in when the vote is cast, so results by group
    stay correct after a profile change or account deletion (which clears user_id).
    """

    __tablename__ = "votes"
    __table_args__ = (
        sa.UniqueConstraint("draft_id", "user_id", name="uq_votes_draft_user"),
        sa.Index("ix_votes_draft_stance", "draft_id", "stance"),
        # The approved comments of a round (results page) and the moderation queue, without reading
        # every vote (migration 0019).
        sa.Index("ix_votes_comment_status_draft", "comment_status", "draft_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("drafts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    stance: Mapped[Stance] = mapped_column(value_enum(Stance))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    # Moderation of the comment (see Moderation): the text published is comment_published when
    # staff redacted it (the member's own words stay in comment), else comment; a changed comment
    # goes back to pending.
    comment_status: Mapped[Moderation] = mapped_column(value_enum(Moderation, 16), default=Moderation.PENDING)
    comment_published: Mapped[str | None] = mapped_column(sa.Text)
    comment_hidden_reason: Mapped[str] = mapped_column(sa.Text, default="")
    comment_moderated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    comment_moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    workshop_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workshops.id", ondelete="SET NULL"), index=True)
    member_type: Mapped[MemberType] = mapped_column(value_enum(MemberType, 32))
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    draft = relationship("Draft")

    @property
    def has_comment(self) -> bool:
        """The member wrote a comment (only those go to moderation)."""
        return bool(self.comment)

    @property
    def published_comment(self) -> str:
        """The comment as published once approved: staff's redacted wording when they redacted it."""
        return self.comment if self.comment_published is None else self.comment_published

    @property
    def comment_is_public(self) -> bool:
        """Approved by staff: the published comment appears with the results."""
        return self.has_comment and self.comment_status == Moderation.APPROVED

    @property
    def comment_redacted(self) -> bool:
        """Staff edited the wording that is published (the member's own words are kept)."""
        return self.comment_published is not None


class VoteTally(Model):
    """Running counts per draft and group, changed in the same transaction as each vote.

    dimension is 'all' (key ''), 'type' (a member type), 'region' (a region id) or
    'workshop' (a workshop id); increments are single atomic statements (an upsert that adds
    to the count), so concurrent votes never lose a count.
    """

    __tablename__ = "vote_tallies"
    __table_args__ = (sa.UniqueConstraint("draft_id", "dimension", "key", name="uq_vote_tallies_group"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("drafts.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(sa.String(10))
    key: Mapped[str] = mapped_column(sa.String(40), default="")
    support: Mapped[int] = mapped_column(default=0)
    amend: Mapped[int] = mapped_column(default=0)
    oppose: Mapped[int] = mapped_column(default=0)

    @property
    def total(self) -> int:
        """Votes in this group."""
        return self.support + self.amend + self.oppose


class ResponseStatus(enum.StrEnum):
    """What staff did with a suggestion."""

    ACCEPTED = "accepted"
    PARTLY = "partly"
    NOT_TAKEN = "not_taken"

    @property
    def label(self) -> str:
        """Human name."""
        return {"accepted": "Accepted into the next draft", "partly": "Partly accepted",
                "not_taken": "Not taken forward"}[self.value]


class Suggestion(Model):
    """New wording a member proposes for a draft, with why; staff respond to each."""

    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(sa.ForeignKey("drafts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    endorsement_count: Mapped[int] = mapped_column(default=0)
    response_status: Mapped[ResponseStatus | None] = mapped_column(value_enum(ResponseStatus))
    response_text: Mapped[str] = mapped_column(sa.Text, default="")
    responded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moderation (see Moderation): published_text / published_reason hold staff's redacted
    # wording when they redacted it (the member's own stays in text / reason).
    moderation: Mapped[Moderation] = mapped_column(value_enum(Moderation, 16), default=Moderation.PENDING)
    published_text: Mapped[str | None] = mapped_column(sa.Text)
    published_reason: Mapped[str | None] = mapped_column(sa.Text)
    hidden_reason: Mapped[str] = mapped_column(sa.Text, default="")
    moderated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    draft = relationship("Draft")
    user = relationship("User", foreign_keys=[user_id])

    @property
    def public_text(self) -> str:
        """The wording as published once approved: staff's redacted wording when they redacted it."""
        return self.text if self.published_text is None else self.published_text

    @property
    def public_reason(self) -> str:
        """The "why" as published once approved (staff's redacted wording when they redacted it)."""
        return self.reason if self.published_reason is None else self.published_reason

    @property
    def is_public(self) -> bool:
        """Approved by staff: shown on the draft page, in "you said, we did" and the CSV."""
        return self.moderation == Moderation.APPROVED

    @property
    def redacted(self) -> bool:
        """Staff edited what is published (the member's own words are kept)."""
        return self.published_text is not None or self.published_reason is not None


class Endorsement(Model):
    """A member backs a suggestion (once)."""

    __tablename__ = "endorsements"
    __table_args__ = (sa.UniqueConstraint("suggestion_id", "user_id", name="uq_endorsements_suggestion_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(sa.ForeignKey("suggestions.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
