"""Moderation of what members write for publication: vote comments and suggestions.

Nothing a member writes is published until a member of staff approves it (`Moderation`):
staff approve it as it is, hide it with a reason (the member sees the reason beside their own
words), or redact it: they publish their own edited wording, which approves it, while the
member's words stay as they wrote them (`Vote.comment`, `Suggestion.text` and `reason`).
A member who changes their comment sends it back to pending, its redaction cleared
(`comment_changed`, called by `services.cast_vote`); suggestions cannot be edited.

Every decision is audited (`moderation.approve`, `.hide`, `.redact`) with the text published
before and after it. Each decision first takes the row's lock (an UPDATE that reads the row
back as locked, as a vote change does) and checks the `seen` fingerprint of the member's words
the staff member read: a comment changed while they were reading it is not approved unread.

Reads here: the queue (pending, approved or hidden; by round and kind; paginated across both
kinds), its counts, and what the public and a member may see (`suggestions_for`,
`published_comments`).
"""
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from kil_network.auth.models import User
from kil_network.core.audit import record
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles.models import Draft, Moderation, Round, RoundState, Stance, Suggestion, Vote

COMMENT, SUGGESTION = "comment", "suggestion"
KINDS = (COMMENT, SUGGESTION)
KIND_LABELS = {COMMENT: "Vote comments", SUGGESTION: "Suggestions"}
STATUSES = tuple(Moderation)
HIDE_REASON_MAX = 500
TEXT_MAX = 2000
PER_PAGE = 20
Row = TypeVar("Row", Vote, Suggestion)  # what members write for publication: a vote (its comment) or a suggestion
CHANGED_MESSAGE = ("The member changed this while you were reading it. Read the new wording "
                   "before you decide.")


# --- One item in the queue --------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """A vote comment or a suggestion as the queue shows it (its draft and round loaded)."""

    kind: str
    row: Vote | Suggestion

    @property
    def id(self) -> int:
        """The row's id (unique within its kind)."""
        return self.row.id

    @property
    def key(self) -> str:
        """Unique on the page: "comment-12", "suggestion-7"."""
        return f"{self.kind}-{self.row.id}"

    @property
    def is_comment(self) -> bool:
        """A vote comment (else a suggestion)."""
        return self.kind == COMMENT

    @property
    def label(self) -> str:
        """What kind of thing it is, for people."""
        return "Vote comment" if self.is_comment else "Suggested wording"

    @property
    def draft(self) -> Draft:
        """The draft it is about."""
        return self.row.draft

    @property
    def round(self) -> Round:
        """The round of that draft."""
        return self.row.draft.round

    @property
    def status(self) -> Moderation:
        """Pending, approved or hidden."""
        return self.row.comment_status if isinstance(self.row, Vote) else self.row.moderation

    @property
    def stance(self) -> Stance | None:
        """The vote's stance (comments only)."""
        return self.row.stance if isinstance(self.row, Vote) else None

    @property
    def original(self) -> str:
        """The member's own words."""
        return self.row.comment if isinstance(self.row, Vote) else self.row.text

    @property
    def original_reason(self) -> str:
        """The member's own "why" (suggestions only; empty for comments)."""
        return "" if isinstance(self.row, Vote) else self.row.reason

    @property
    def published(self) -> str:
        """The wording published once approved (staff's redaction when there is one)."""
        return self.row.published_comment if isinstance(self.row, Vote) else self.row.public_text

    @property
    def published_reason(self) -> str:
        """The "why" published once approved (suggestions only)."""
        return "" if isinstance(self.row, Vote) else self.row.public_reason

    @property
    def redacted(self) -> bool:
        """Staff edited what is published."""
        return self.row.comment_redacted if isinstance(self.row, Vote) else self.row.redacted

    @property
    def hidden_reason(self) -> str:
        """Why staff hid it."""
        return self.row.comment_hidden_reason if isinstance(self.row, Vote) else self.row.hidden_reason

    @property
    def moderated_at(self) -> datetime | None:
        """When staff last decided."""
        return self.row.comment_moderated_at if isinstance(self.row, Vote) else self.row.moderated_at

    @property
    def written_at(self) -> datetime:
        """When the member wrote it (a comment: when the vote last changed)."""
        return self.row.updated_at if isinstance(self.row, Vote) else self.row.created_at

    @property
    def fingerprint(self) -> str:
        """A short digest of the member's words, posted back with a decision (see `_check_seen`)."""
        return fingerprint(self.row)


def fingerprint(row: Vote | Suggestion) -> str:
    """A digest of the member's own words: changes whenever they do."""
    words = row.comment if isinstance(row, Vote) else f"{row.text}\x00{row.reason}"
    return hashlib.sha256(words.encode()).hexdigest()[:16]


def kind_of(row: Vote | Suggestion) -> str:
    """"comment" for a vote, "suggestion" for a suggestion."""
    return COMMENT if isinstance(row, Vote) else SUGGESTION


def item_for(kind: str, item_id: int) -> Item | None:
    """The vote comment or suggestion with this id, its draft and round loaded; None when there is
    none (a vote without a comment has nothing to moderate)."""
    if kind == COMMENT:
        vote = db.session.get(Vote, item_id, options=[joinedload(Vote.draft).joinedload(Draft.round)])
        if vote is None or not vote.comment:
            return None
        return Item(kind, vote)
    if kind == SUGGESTION:
        suggestion = db.session.get(Suggestion, item_id,
                                    options=[joinedload(Suggestion.draft).joinedload(Draft.round)])
        if suggestion is None:
            return None
        return Item(kind, suggestion)
    return None


# --- The queue --------------------------------------------------------------------------

def _comment_rows(status: Moderation, round_id: int | None) -> sa.Select:
    stmt = (sa.select(sa.literal(COMMENT).label("kind"), Vote.id.label("id"), Vote.updated_at.label("at"))
            .join(Draft, Vote.draft_id == Draft.id).where(Vote.comment != "", Vote.comment_status == status))
    return stmt.where(Draft.round_id == round_id) if round_id else stmt


def _suggestion_rows(status: Moderation, round_id: int | None) -> sa.Select:
    stmt = (sa.select(sa.literal(SUGGESTION).label("kind"), Suggestion.id.label("id"),
                      Suggestion.created_at.label("at"))
            .join(Draft, Suggestion.draft_id == Draft.id).where(Suggestion.moderation == status))
    return stmt.where(Draft.round_id == round_id) if round_id else stmt


def _with_drafts(model: type[Row], ids: list[int]) -> Sequence[Row]:
    """The votes or suggestions with these ids, their draft and round loaded (one query)."""
    return db.session.scalars(sa.select(model).where(model.id.in_(ids))
                              .options(joinedload(model.draft).joinedload(Draft.round))).unique().all()


def _load(keys: Sequence[tuple[str, int]]) -> list[Item]:
    """The items for these (kind, id) keys, in that order: one query per kind."""
    ids = {kind: [i for k, i in keys if k == kind] for kind in KINDS}
    rows: dict[tuple[str, int], Vote | Suggestion] = {}
    if ids[COMMENT]:
        rows.update({(COMMENT, row.id): row for row in _with_drafts(Vote, ids[COMMENT])})
    if ids[SUGGESTION]:
        rows.update({(SUGGESTION, row.id): row for row in _with_drafts(Suggestion, ids[SUGGESTION])})
    return [Item(kind, rows[(kind, i)]) for kind, i in keys if (kind, i) in rows]


class QueuePage(Pagination):
    """One page of the queue across both kinds, oldest first (what waits longest comes first)."""

    def __init__(self, statement: sa.Select | sa.CompoundSelect, page: int, per_page: int):
        super().__init__(page=page, per_page=per_page, max_per_page=None, error_out=False, count=True,
                         statement=statement)

    def _query_items(self) -> list:
        rows = self._query_args["statement"].subquery()
        keys = db.session.execute(sa.select(rows.c.kind, rows.c.id).order_by(rows.c.at, rows.c.kind, rows.c.id)
                                  .limit(self.per_page).offset(self._query_offset)).tuples().all()
        return _load(keys)

    def _query_count(self) -> int:
        rows = self._query_args["statement"].subquery()
        return db.session.scalar(sa.select(sa.func.count()).select_from(rows)) or 0


def queue(*, status: Moderation = Moderation.PENDING, kind: str = "", round_id: int | None = None,
          page: int = 1, per_page: int = PER_PAGE) -> QueuePage:
    """Vote comments (non-empty) and suggestions in this moderation state, optionally of one kind
    and one round, paginated (two queries for the page's keys and count, one per kind shown)."""
    parts = []
    if kind in ("", COMMENT):
        parts.append(_comment_rows(status, round_id))
    if kind in ("", SUGGESTION):
        parts.append(_suggestion_rows(status, round_id))
    statement = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    return QueuePage(statement, page, per_page)


def counts(round_id: int | None = None) -> dict[Moderation, dict[str, int]]:
    """{status: {"comment": n, "suggestion": n, "total": n}}, overall or for one round (two queries)."""
    out = {status: {COMMENT: 0, SUGGESTION: 0, "total": 0} for status in Moderation}
    comments = (sa.select(Vote.comment_status, sa.func.count()).join(Draft, Vote.draft_id == Draft.id)
                .where(Vote.comment != "").group_by(Vote.comment_status))
    suggestions = (sa.select(Suggestion.moderation, sa.func.count()).join(Draft, Suggestion.draft_id == Draft.id)
                   .group_by(Suggestion.moderation))
    if round_id:
        comments = comments.where(Draft.round_id == round_id)
        suggestions = suggestions.where(Draft.round_id == round_id)
    for kind, stmt in ((COMMENT, comments), (SUGGESTION, suggestions)):
        for status, n in db.session.execute(stmt).tuples():
            out[status][kind] = n
            out[status]["total"] += n
    return out


def pending_count() -> int:
    """Everything waiting for a decision, across rounds (the staff dashboard's figure)."""
    return counts()[Moderation.PENDING]["total"]


def rounds_with_pending() -> list[tuple[Round, int]]:
    """Every round that is open or closed, newest first, with how many items wait in it (the
    queue's round filter). Two queries."""
    rounds = db.session.scalars(sa.select(Round).where(Round.state != RoundState.DRAFT)
                                .order_by(Round.id.desc())).all()
    waiting: dict[int, int] = {}
    for stmt in (
        sa.select(Draft.round_id, sa.func.count()).select_from(Vote).join(Draft, Vote.draft_id == Draft.id)
        .where(Vote.comment != "", Vote.comment_status == Moderation.PENDING).group_by(Draft.round_id),
        sa.select(Draft.round_id, sa.func.count()).select_from(Suggestion)
        .join(Draft, Suggestion.draft_id == Draft.id)
        .where(Suggestion.moderation == Moderation.PENDING).group_by(Draft.round_id),
    ):
        for round_id, n in db.session.execute(stmt).tuples():
            waiting[round_id] = waiting.get(round_id, 0) + n
    return [(round_, waiting.get(round_.id, 0)) for round_ in rounds]


# --- What the public and the member see -------------------------------------------------

def suggestions_for(draft: Draft, user) -> Sequence[Suggestion]:
    """A draft's suggestions as this person may see them: those staff approved, and the member's
    own whatever their state (marked for them), most endorsed first."""
    visible = Suggestion.moderation == Moderation.APPROVED
    if getattr(user, "is_authenticated", False):
        visible = sa.or_(visible, Suggestion.user_id == user.id)
    return db.session.scalars(
        sa.select(Suggestion).where(Suggestion.draft_id == draft.id, visible)
        .order_by(Suggestion.endorsement_count.desc(), Suggestion.id)).all()


def published_comments(round_: Round) -> list[tuple[int, Stance, str]]:
    """(principle number, stance, published text) of every approved comment in a round, by
    principle then vote: one query. The member's words, or staff's redaction of them."""
    text = sa.func.coalesce(Vote.comment_published, Vote.comment)
    return list(db.session.execute(
        sa.select(Draft.number, Vote.stance, text).join(Draft, Vote.draft_id == Draft.id)
        .where(Draft.round_id == round_.id, Vote.comment != "", Vote.comment_status == Moderation.APPROVED)
        .order_by(Draft.number, Vote.id)).tuples())


def published_comments_by_draft(round_: Round) -> dict[int, list[tuple[Stance, str]]]:
    """The approved comments of a round by principle number (the results page)."""
    out: dict[int, list[tuple[Stance, str]]] = {}
    for number, stance, text in published_comments(round_):
        out.setdefault(number, []).append((stance, text))
    return out


# --- A member changed their comment --------------------------------------------------------

def comment_changed(vote: Vote) -> None:
    """The member changed their comment: it waits for staff again, and staff's redaction of the
    old words no longer applies."""
    vote.comment_status = Moderation.PENDING
    vote.comment_published = None
    vote.comment_hidden_reason = ""
    vote.comment_moderated_by_id = None
    vote.comment_moderated_at = None


# --- Staff decisions ---------------------------------------------------------------------

def _locked(model: type[Row], row_id: int, touched: InstrumentedAttribute) -> Row | None:
    """The row read back after an UPDATE that takes its lock (setting `touched` to itself)."""
    return db.session.scalar(
        sa.update(model).where(model.id == row_id).values({touched: touched}).returning(model)
        .execution_options(synchronize_session=False, populate_existing=True))


def _lock(row: Vote | Suggestion) -> Vote | Suggestion:
    """Take the row's lock and read it back as locked (a member changing their comment at the
    same moment waits, or has already changed it)."""
    locked: Vote | Suggestion | None
    if isinstance(row, Vote):
        locked = _locked(Vote, row.id, Vote.comment_status)
    else:
        locked = _locked(Suggestion, row.id, Suggestion.moderation)
    if locked is None:
        raise RuleError("This has been deleted.")
    return locked


def _check_seen(row: Vote | Suggestion, seen: str | None) -> None:
    """Refuse a decision on words the staff member did not read (changed since the page loaded)."""
    if seen is not None and seen != fingerprint(row):
        raise RuleError(CHANGED_MESSAGE)
    if isinstance(row, Vote) and not row.comment:
        raise RuleError("The member removed this comment: there is nothing to publish.")


def _public(row: Vote | Suggestion) -> dict:
    """What the public sees of it now: the published text (and reason), or None while not approved."""
    item = Item(kind_of(row), row)
    if item.status != Moderation.APPROVED:
        return {"text": None} if item.is_comment else {"text": None, "reason": None}
    return {"text": item.published} if item.is_comment else {"text": item.published, "reason": item.published_reason}


def _decide(actor: User, row: Vote | Suggestion, action: str, status: Moderation, before: dict, *,
            hidden_reason: str = "") -> None:
    """Set the decision's state, who and when, and audit it with the published text before and after."""
    item = Item(kind_of(row), row)
    previous = item.status
    now = utcnow()
    if isinstance(row, Vote):
        row.comment_status, row.comment_hidden_reason = status, hidden_reason
        row.comment_moderated_by_id, row.comment_moderated_at = actor.id, now
    else:
        row.moderation, row.hidden_reason = status, hidden_reason
        row.moderated_by_id, row.moderated_at = actor.id, now
    what = "comment on a vote" if item.is_comment else "suggestion"
    verb = {"approve": "Approved", "hide": "Hid", "redact": "Redacted and published"}[action]
    record(actor, f"moderation.{action}", row,
           f"{verb} {what} #{row.id} (round #{item.draft.round_id}, principle {item.draft.number})",
           kind=item.kind, status_before=previous.value, status_after=status.value,
           published_before=before, published_after=_public(row),
           **({"hidden_reason": hidden_reason} if hidden_reason else {}))


def approve(actor: User, row: Vote | Suggestion, seen: str | None = None) -> bool:
    """Publish it (with staff's redaction, when it has one). A set: approving what is already
    approved changes nothing and writes no second audit row. Returns whether it changed."""
    row = _lock(row)
    _check_seen(row, seen)
    if Item(kind_of(row), row).status == Moderation.APPROVED:
        return False
    _decide(actor, row, "approve", Moderation.APPROVED, _public(row))
    return True


def hide(actor: User, row: Vote | Suggestion, reason: str, seen: str | None = None) -> bool:
    """Keep it off every public page, with the reason (which the member sees beside their words)."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("Enter why it is hidden: the member sees the reason", "reason")
    if len(reason) > HIDE_REASON_MAX:
        raise RuleError(f"The reason must be {HIDE_REASON_MAX:,} characters or fewer", "reason")
    row = _lock(row)
    _check_seen(row, seen)
    item = Item(kind_of(row), row)
    if item.status == Moderation.HIDDEN and item.hidden_reason == reason:
        return False
    _decide(actor, row, "hide", Moderation.HIDDEN, _public(row), hidden_reason=reason)
    return True


def redact(actor: User, row: Vote | Suggestion, text: str, reason: str | None = None,
           seen: str | None = None) -> bool:
    """Publish staff's edited wording instead of the member's (kept as they wrote it), which
    approves it. For a suggestion, `reason` is the "why" to publish (empty: none; None: as it
    is). Wording the same as the member's own publishes theirs (no redaction)."""
    text = (text or "").strip()
    if not text:
        raise RuleError("Enter the wording to publish, or hide it instead", "text")
    if len(text) > TEXT_MAX:
        raise RuleError(f"The wording must be {TEXT_MAX:,} characters or fewer", "text")
    if reason is not None:
        reason = reason.strip()
        if len(reason) > TEXT_MAX:
            raise RuleError(f"The reason must be {TEXT_MAX:,} characters or fewer", "reason")
    row = _lock(row)
    _check_seen(row, seen)
    before = _public(row)
    if isinstance(row, Vote):
        published = None if text == row.comment else text
        if row.comment_status == Moderation.APPROVED and row.comment_published == published:
            return False
        row.comment_published = published
    else:
        published = None if text == row.text else text
        published_reason = row.published_reason if reason is None else (None if reason == row.reason else reason)
        if (row.moderation == Moderation.APPROVED and row.published_text == published
                and row.published_reason == published_reason):
            return False
        row.published_text, row.published_reason = published, published_reason
    _decide(actor, row, "redact", Moderation.APPROVED, before)
    return True
