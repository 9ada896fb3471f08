"""Principle rules and writes: rounds, eligibility, votes, suggestions and endorsements, staff rounds.

Votes keep `vote_tallies` in step inside the same transaction (`kil_network.principles.tallies`).
Every change to a member's vote starts by locking that vote row (on PostgreSQL a SELECT ... FOR
UPDATE inside the changing UPDATE; on SQLite an UPDATE, which takes the writer lock), so two
concurrent changes of one vote are applied one after the other and each adjusts the tallies from
the stance the other left behind. A first vote is an INSERT ... ON CONFLICT DO NOTHING: a
concurrent first vote by the same member makes it a change instead.

Results, history and the CSV (reads) are in `kil_network.principles.results`.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager

from kil_network.auth.models import User
from kil_network.core.audit import record
from kil_network.core.email import external_url
from kil_network.core.models import AuditLog
from kil_network.core.params import int_arg
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members import notifications
from kil_network.principles import moderation, tallies
from kil_network.principles.models import (
    REOPEN_WINDOW,
    Draft,
    Eligibility,
    Endorsement,
    Principle,
    ResponseStatus,
    Round,
    RoundState,
    Stance,
    Suggestion,
    Vote,
)
from kil_network.workshops.models import Registration, RegistrationState, Workshop

# --- Rounds -------------------------------------------------------------------------------

# The read queries most pages run, built once: SQLAlchemy memoizes a statement's cache key, so a
# request binds its values instead of building the select and its key again (bench/profile_reads.py).
_NOW = sa.bindparam("now", type_=Round.opens_at.type)
_OPEN_ROUND = (sa.select(Round).where(Round.state == RoundState.OPEN,
                                      sa.or_(Round.opens_at.is_(None), Round.opens_at <= _NOW),
                                      sa.or_(Round.closes_at.is_(None), Round.closes_at > _NOW))
               .order_by(Round.id.desc()).limit(1))
_ADOPTED_ROUND = sa.select(Round).where(Round.adopted_at.is_not(None)).order_by(Round.adopted_at.desc()).limit(1)
_DRAFTS_OF = sa.select(Draft).where(Draft.round_id == sa.bindparam("round_id")).order_by(Draft.number)


def open_round() -> Round | None:
    """The round open for votes now, if any (the latest opened)."""
    return db.session.scalar(_OPEN_ROUND, {"now": utcnow()})


def adopted_round() -> Round | None:
    """The round whose drafts were adopted as the principles, if any (the latest)."""
    return db.session.scalar(_ADOPTED_ROUND)


def latest_round(states=(RoundState.OPEN, RoundState.CLOSED)) -> Round | None:
    """The most recent round in one of these states."""
    return db.session.scalar(sa.select(Round).where(Round.state.in_(states)).order_by(Round.id.desc()).limit(1))


def round_visible(round_: Round, user) -> bool:
    """Members and the public see every round but a draft round, which only staff see."""
    return not round_.is_draft or bool(getattr(user, "is_authenticated", False) and user.is_staff)


def drafts_of(round_: Round) -> list[Draft]:
    """The round's drafts in principle order."""
    return list(db.session.scalars(_DRAFTS_OF, {"round_id": round_.id}))


def attended_round_workshop(user: User, round_: Round) -> bool:
    """Did the member check in at one of the round's workshops?"""
    return (db.session.scalar(
        sa.select(sa.func.count()).select_from(Registration).join(Workshop)
        .where(Registration.user_id == user.id, Registration.checked_in_at.is_not(None),
               Workshop.round_id == round_.id)
    ) or 0) > 0


def participation_error(user, round_: Round) -> str | None:
    """Why this person may not vote or suggest in this round now, or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "Sign in to take part."
    if not user.is_confirmed:
        return "Confirm your email address to take part."
    if round_.state == RoundState.DRAFT or (round_.opens_at and round_.opens_at > utcnow()):
        return "This round is not open yet."
    if round_.state == RoundState.CLOSED or (round_.closes_at and round_.closes_at <= utcnow()):
        return "This round has closed. You can see the results."
    if round_.eligibility == Eligibility.ATTENDEES and not attended_round_workshop(user, round_):
        return "Only members who attended one of this round's workshops can take part in this round."
    return None


def _check(user, round_: Round) -> None:
    """Raise RuleError if the member cannot take part in the round."""
    reason = participation_error(user, round_)
    if reason:
        raise RuleError(reason)


# --- Votes --------------------------------------------------------------------------------

def parse_stance(value: str) -> Stance:
    """A stance from form input, or a clear error."""
    try:
        return Stance(value)
    except ValueError as exc:
        raise RuleError("Choose support, support with changes, or oppose", "stance") from exc


def live_workshop_for(draft: Draft, workshop_id, user: User) -> int | None:
    """The workshop a vote is cast through, if it is live for this draft's round and the member
    attended it (a confirmed place, checked in on the day): only the people in the room count
    in a workshop's tally. Anyone else's vote counts overall, not for that workshop."""
    wid = int_arg(workshop_id)
    if wid is None:
        return None
    workshop = db.session.get(Workshop, wid)
    if workshop is None or not workshop.live_voting or workshop.round_id != draft.round_id:
        return None
    attended = db.session.scalar(sa.select(Registration.id).where(
        Registration.workshop_id == workshop.id, Registration.user_id == user.id,
        Registration.state == RegistrationState.CONFIRMED, Registration.checked_in_at.is_not(None)))
    return workshop.id if attended is not None else None


def cast_vote(user: User, draft: Draft, stance: Stance, comment: str = "", workshop_id=None, *,
              had_vote: bool | None = None) -> Vote:
    """Record or change the member's vote on a draft; tallies change in the same transaction.

    `had_vote`: whether the caller saw a vote by this member on this draft (the vote view reads
    them with the cards), so a first vote tries the INSERT first; either way is correct, as a
    vote that appeared or went meanwhile sends it to the other path."""
    _check(user, draft.round)
    if len(comment) > 2000:
        raise RuleError("Comment must be 2,000 characters or fewer", "comment")
    workshop = live_workshop_for(draft, workshop_id, user)
    now = utcnow()
    first = had_vote is False
    for _ in range(3):
        if not first:
            vote = _change_vote(user, draft, stance, comment, workshop, now)
            if vote is not None:
                return vote
        first = False
        vote = _first_vote(user, draft, stance, comment, workshop, now)
        if vote is not None:
            tallies.apply(draft.id, [(tallies.groups_of(vote), stance, +1)])
            return vote
        # a concurrent first vote by the same member won: change it instead
    raise RuleError("Your vote could not be saved. Try again.")


# The vote's statements, built once: SQLAlchemy memoizes a statement's cache key, so each vote only
# binds its values instead of building the statement and its key again. Each is a Core write
# whose RETURNING the ORM reads as the Vote (select ... from_statement): a third of the CPU of an
# ORM-enabled UPDATE, which prepares to synchronise the session's objects first.
_VOTES = cast(sa.Table, Vote.__table__)  # a mapped class's table (typed FromClause)
_OLD = (sa.select(_VOTES.c.id, _VOTES.c.stance, _VOTES.c.workshop_id, _VOTES.c.comment)
        .where(_VOTES.c.draft_id == sa.bindparam("vote_draft"), _VOTES.c.user_id == sa.bindparam("vote_user"))
        .with_for_update().cte("old"))
_WAS = (_OLD.c.stance.label("old_stance"), _OLD.c.workshop_id.label("old_workshop_id"),
        _OLD.c.comment.label("old_comment"))
_CHANGE_VOTE_POSTGRESQL = sa.select(Vote, *_WAS).from_statement(
    sa.update(_VOTES).where(_VOTES.c.id == _OLD.c.id)
    .values(updated_at=sa.bindparam("vote_now", type_=Vote.updated_at.type),
            stance=sa.bindparam("new_stance", type_=Vote.stance.type),
            workshop_id=sa.func.coalesce(sa.bindparam("new_workshop", type_=sa.Integer), _OLD.c.workshop_id))
    .returning(*_VOTES.c, *_WAS)
)
_LOCK_VOTE = sa.select(Vote).from_statement(  # SQLite: takes the writer lock and reads the row as locked
    sa.update(_VOTES)
    .where(_VOTES.c.draft_id == sa.bindparam("vote_draft"), _VOTES.c.user_id == sa.bindparam("vote_user"))
    .values(updated_at=sa.bindparam("vote_now", type_=Vote.updated_at.type)).returning(*_VOTES.c)
)
_FIRST_VOTE = {
    dialect: sa.select(Vote).from_statement(
        insert(_VOTES).values(
            {column: sa.bindparam(f"new_{column}", type_=_VOTES.c[column].type)
             for column in ("draft_id", "user_id", "stance", "comment", "workshop_id", "member_type", "region_id",
                            "created_at", "updated_at")})
        .on_conflict_do_nothing(index_elements=[_VOTES.c.draft_id, _VOTES.c.user_id]).returning(*_VOTES.c))
    for dialect, insert in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}
_ORM_WRITE = {"populate_existing": True}


def _first_vote(user: User, draft: Draft, stance: Stance, comment: str, workshop: int | None,
                now: datetime) -> Vote | None:
    """Insert the member's first vote on the draft, or None if they have one (a concurrent first
    vote won): INSERT ... ON CONFLICT DO NOTHING RETURNING, one statement and no savepoint."""
    return db.session.scalar(
        _FIRST_VOTE[db.session.get_bind().dialect.name],
        {"new_draft_id": draft.id, "new_user_id": user.id, "new_stance": stance, "new_comment": comment,
         "new_workshop_id": workshop, "new_member_type": user.member_type, "new_region_id": user.region_id,
         "new_created_at": now, "new_updated_at": now},
        execution_options={"populate_existing": True})


def _change_vote(user: User, draft: Draft, stance: Stance, comment: str, workshop: int | None,
                 now: datetime) -> Vote | None:
    """Change the member's vote on the draft under its row lock and move its tallies, or None if
    they have no vote on it.

    PostgreSQL: one UPDATE whose CTE locks the row (SELECT ... FOR UPDATE, which waits for a
    concurrent change and then reads the row as that change left it) and returns the stance,
    workshop and comment it had, beside the new row. SQLite (no FOR UPDATE; RETURNING sees only
    the new values): an UPDATE that takes the writer lock and reads the row back, then the change."""
    keys = {"vote_draft": draft.id, "vote_user": user.id, "vote_now": now}
    if db.session.get_bind().dialect.name == "postgresql":
        row = db.session.execute(_CHANGE_VOTE_POSTGRESQL, {**keys, "new_stance": stance, "new_workshop": workshop},
                                 execution_options=_ORM_WRITE).first()
        if row is None:
            return None
        vote, old_stance, old_workshop, old_comment = row
        old_stance = Stance(old_stance)
    else:
        vote = db.session.scalar(_LOCK_VOTE, keys, execution_options=_ORM_WRITE)
        if vote is None:
            return None
        old_stance, old_workshop, old_comment = vote.stance, vote.workshop_id, vote.comment
        vote.stance = stance
        if workshop:
            vote.workshop_id = workshop
    if old_comment != comment:  # changed words wait for staff again
        vote.comment = comment
        moderation.comment_changed(vote)
    db.session.flush()  # nothing to write on PostgreSQL unless the comment changed
    old_groups = tallies.groups_of(vote, workshop_id=old_workshop)
    tallies.apply(draft.id, [(old_groups, old_stance, -1), (tallies.groups_of(vote), stance, +1)])
    return vote


_ASKED = aliased(Draft)
_DRAFT_CARDS = (  # built once (memoized cache key)
    sa.select(Draft, Vote).join(Draft.round).options(contains_eager(Draft.round))
    .outerjoin(Vote, sa.and_(Vote.draft_id == Draft.id, Vote.user_id == sa.bindparam("vote_user")))
    .where(Draft.round_id == sa.select(_ASKED.round_id).where(_ASKED.id == sa.bindparam("vote_draft"))
           .scalar_subquery())
    .order_by(Draft.number)
)


def draft_cards(draft_id: int, user) -> tuple[Draft | None, list[Draft], dict[int, Vote]]:
    """A draft with its round, the round's drafts in principle order and the member's votes on
    them by draft id, in one query (what the vote view needs before and after the vote); the
    draft is None if there is no such draft."""
    user_id = user.id if getattr(user, "is_authenticated", False) else None  # no user: no votes match
    rows = db.session.execute(_DRAFT_CARDS, {"vote_draft": draft_id, "vote_user": user_id}).all()
    drafts = [draft for draft, _ in rows]
    votes = {draft.id: vote for draft, vote in rows if vote is not None}
    return next((d for d in drafts if d.id == draft_id), None), drafts, votes


def votes_by_member(user: User, round_: Round) -> dict[int, Vote]:
    """The member's votes in a round, by draft id."""
    if not getattr(user, "is_authenticated", False):
        return {}
    votes = db.session.scalars(
        sa.select(Vote).join(Draft).where(Vote.user_id == user.id, Draft.round_id == round_.id)
    ).all()
    return {v.draft_id: v for v in votes}


def drafts_with_votes(user, round_: Round) -> tuple[list[Draft], dict[int, Vote]]:
    """The round's drafts in principle order and the member's votes on them by draft id, in one query."""
    if not getattr(user, "is_authenticated", False):
        return drafts_of(round_), {}
    rows = db.session.execute(
        sa.select(Draft, Vote).outerjoin(Vote, sa.and_(Vote.draft_id == Draft.id, Vote.user_id == user.id))
        .where(Draft.round_id == round_.id).order_by(Draft.number)
    ).all()
    return [draft for draft, _ in rows], {draft.id: vote for draft, vote in rows if vote is not None}


# --- Suggestions --------------------------------------------------------------------------

def suggest(user: User, draft: Draft, text: str, reason: str = "") -> Suggestion:
    """Propose new wording for a draft."""
    _check(user, draft.round)
    text, reason = (text or "").strip(), (reason or "").strip()
    if not text:
        raise RuleError("Enter the wording you suggest", "text")
    if len(text) > 2000:
        raise RuleError("Suggested wording must be 2,000 characters or fewer", "text")
    if len(reason) > 2000:
        raise RuleError("Your reason must be 2,000 characters or fewer", "reason")
    suggestion = Suggestion(draft_id=draft.id, user_id=user.id, text=text, reason=reason, endorsement_count=0)
    db.session.add(suggestion)
    db.session.flush()
    return suggestion


def endorse(user: User, suggestion: Suggestion) -> None:
    """Back someone else's suggestion, once."""
    _check(user, suggestion.draft.round)
    if suggestion.user_id == user.id:
        raise RuleError("You cannot endorse your own suggestion.")
    if not suggestion.is_public:
        raise RuleError("You can endorse a suggestion once staff have checked and published it.")
    try:
        with db.session.begin_nested():
            db.session.add(Endorsement(suggestion_id=suggestion.id, user_id=user.id))
            db.session.flush()
    except IntegrityError as exc:
        raise RuleError("You have already endorsed this suggestion.") from exc
    db.session.execute(
        sa.update(Suggestion).where(Suggestion.id == suggestion.id)
        .values(endorsement_count=Suggestion.endorsement_count + 1).execution_options(synchronize_session=False)
    )
    db.session.expire(suggestion, ["endorsement_count"])


def endorsed_ids(user: User, suggestion_ids: list[int]) -> set[int]:
    """Which of these suggestions the member has endorsed."""
    if not suggestion_ids or not getattr(user, "is_authenticated", False):
        return set()
    return set(db.session.scalars(
        sa.select(Endorsement.suggestion_id).where(Endorsement.user_id == user.id,
                                                   Endorsement.suggestion_id.in_(suggestion_ids))))


def respond(actor: User, suggestion: Suggestion, status: ResponseStatus, text: str) -> None:
    """Staff say what they did with a suggestion (shown in 'you said, we did')."""
    if not (text or "").strip():
        raise RuleError("Explain the decision: it is shown to members", "response_text")
    changed = (suggestion.response_status, suggestion.response_text) != (status, text.strip())
    suggestion.response_status = status
    suggestion.response_text = text.strip()
    suggestion.responded_by_id = actor.id
    suggestion.responded_at = utcnow()
    record(actor, "suggestion.respond", suggestion, f"Responded to suggestion #{suggestion.id}: {status.value}")
    if changed and suggestion.user_id is not None:  # the same answer saved again tells nobody twice
        notifications.notify(sa.select(User.id).where(User.id == suggestion.user_id), "suggestion_answered",
                             "Your suggestion has been answered", "notify_suggestion_answered",
                             suggestion=suggestion, principles_url=external_url("principles.index"))


# --- Staff: rounds ------------------------------------------------------------------------

def _principles() -> Sequence[Principle]:
    """The six principle slots."""
    return db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()


def check_round_dates(opens_at, closes_at) -> None:
    """The one date rule for a round, on create and on edit: it closes after it opens."""
    if closes_at and opens_at and closes_at <= opens_at:
        raise RuleError("The round must close after it opens", "closes_at")


def create_round(actor: User, *, name: str, introduction: str = "", opens_at=None, closes_at=None,
                 eligibility: Eligibility = Eligibility.MEMBERS) -> Round:
    """A new draft round, its drafts copied from the latest round for editing."""
    check_round_dates(opens_at, closes_at)
    previous = db.session.scalar(sa.select(Round).order_by(Round.id.desc()).limit(1))
    round_ = Round(name=name, introduction=introduction, opens_at=opens_at, closes_at=closes_at,
                   eligibility=eligibility, state=RoundState.DRAFT,
                   previous_round_id=previous.id if previous else None)
    db.session.add(round_)
    db.session.flush()
    earlier = {d.principle_id: d for d in drafts_of(previous)} if previous else {}
    for principle in _principles():
        old = earlier.get(principle.id)
        db.session.add(Draft(round_id=round_.id, principle_id=principle.id, number=principle.number,
                             title=old.title if old else principle.short_name,
                             text=old.text if old else principle.short_name, what_changed=""))
    db.session.flush()
    record(actor, "round.create", round_, f"Created round #{round_.id}: {name}")
    return round_


def update_round(actor: User, round_: Round, *, name: str, introduction: str, opens_at, closes_at,
                 eligibility: Eligibility, drafts: dict[int, dict] | None = None) -> None:
    """Edit a round; its drafts' wording only while the round is a draft (votes are tied to it)."""
    check_round_dates(opens_at, closes_at)
    eligibility_before = round_.eligibility
    if eligibility != eligibility_before:
        if round_.state != RoundState.DRAFT:
            raise RuleError("Who may vote cannot change once the round has opened: votes already cast were "
                            "counted under it.", "eligibility")
        record(actor, "round.eligibility", round_,
               f"Changed who may vote in round #{round_.id}: {eligibility_before.label} to {eligibility.label}",
               before=eligibility_before.value, after=eligibility.value)
    round_.name, round_.introduction = name, introduction
    round_.opens_at, round_.closes_at, round_.eligibility = opens_at, closes_at, eligibility
    if drafts:
        if round_.state != RoundState.DRAFT:
            raise RuleError("Drafts can only be edited before the round opens.")
        for draft in drafts_of(round_):
            values = drafts.get(draft.id)
            if values:
                draft.title, draft.text, draft.what_changed = values["title"], values["text"], values["what_changed"]
    record(actor, "round.update", round_, f"Edited round #{round_.id}")


def open_round_for_votes(actor: User, round_: Round) -> None:
    """Open a draft round for votes (now, unless it has a later opening time)."""
    if round_.state != RoundState.DRAFT:
        raise RuleError("Only a draft round can be opened.")
    if round_.closes_at and round_.closes_at <= utcnow():
        raise RuleError("The closing time has passed. Set a later closing time first.")
    other = open_round()
    if other is not None:
        raise RuleError(f"Close “{other.name}” before opening another round.")
    round_.state = RoundState.OPEN
    if round_.opens_at is None:
        round_.opens_at = utcnow()
    record(actor, "round.open", round_, f"Opened round #{round_.id} for votes")
    notifications.notify(round_audience(round_), "round_open", f"Have your say: {round_.name} is open",
                         "notify_round_open", round=round_, principles_url=external_url("principles.index"))


def round_audience(round_: Round) -> sa.Select:
    """The members told a round has opened: every member (notify keeps the confirmed ones), or for
    an attendees-only round those registered for (or checked in at) one of its workshops."""
    if round_.eligibility != Eligibility.ATTENDEES:
        return sa.select(User.id)
    return (sa.select(Registration.user_id).join(Workshop)
            .where(Workshop.round_id == round_.id, Registration.user_id.is_not(None),
                   sa.or_(Registration.state == RegistrationState.CONFIRMED, Registration.checked_in_at.is_not(None))))


@dataclass(frozen=True)
class CloseEffects:
    """What closing a round does, for its confirmation page: the votes and suggestions it holds,
    the workshops whose live voting it ends, and until when it can be reopened."""

    votes: int
    voters: int
    suggestions: int
    live_workshops: int
    reopen_until: datetime


def close_effects(round_: Round) -> CloseEffects:
    """What closing this round now would do (nothing is emailed; its results become public)."""
    votes, voters = db.session.execute(
        sa.select(sa.func.count(Vote.id), sa.func.count(sa.distinct(Vote.user_id)))
        .join(Draft).where(Draft.round_id == round_.id)).one()
    suggestions = db.session.scalar(
        sa.select(sa.func.count(Suggestion.id)).join(Draft).where(Draft.round_id == round_.id)) or 0
    live = db.session.scalar(sa.select(sa.func.count(Workshop.id)).where(
        Workshop.round_id == round_.id, Workshop.live_voting.is_(True))) or 0
    return CloseEffects(votes=votes or 0, voters=voters or 0, suggestions=suggestions, live_workshops=live,
                        reopen_until=utcnow() + REOPEN_WINDOW)


def close_round(actor: User, round_: Round) -> None:
    """Close an open round: no more votes or suggestions; results become public. It can be
    reopened within 24 hours while its results have not left the app (`reopen_round`)."""
    if round_.state != RoundState.OPEN:
        raise RuleError("Only an open round can be closed.")
    now = utcnow()
    scheduled = round_.closes_at
    round_.state = RoundState.CLOSED
    round_.closed_at = now
    if round_.closes_at is None or round_.closes_at > now:
        round_.closes_at = now
    record(actor, "round.close", round_, f"Closed round #{round_.id}",
           scheduled_closes_at=scheduled.isoformat() if scheduled else None)


def reopen_round(actor: User, round_: Round) -> None:
    """Reopen a round closed by mistake: within 24 hours of closing, while its drafts are not
    adopted and its results have not been downloaded or sent (`Round.reopen_refusal`), and while
    no other round is open. Its results stop being public; its closing time goes back to the one
    it had before it was closed when that is still ahead, else it stays open until staff close it."""
    refusal = round_.reopen_refusal
    if refusal:
        raise RuleError(refusal)
    other = open_round()
    if other is not None and other.id != round_.id:
        raise RuleError(f"Close “{other.name}” before reopening this round: only one round can be open.")
    closing = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "round.close", AuditLog.target_type == "round",
                                  AuditLog.target_id == round_.id).order_by(AuditLog.id.desc()).limit(1))
    scheduled = (closing.details or {}).get("scheduled_closes_at") if closing is not None else None
    scheduled_at = datetime.fromisoformat(scheduled) if scheduled else None
    now = utcnow()
    round_.state = RoundState.OPEN
    round_.closes_at = scheduled_at if scheduled_at and scheduled_at > now else None
    closed_at, round_.closed_at = round_.closed_at, None
    record(actor, "round.reopen", round_, f"Reopened round #{round_.id} (closed by mistake)",
           closed_at=closed_at.isoformat() if closed_at else None,
           closes_at=round_.closes_at.isoformat() if round_.closes_at else None)


def mark_results_released(round_: Round) -> None:
    """The results of a closed round left the app (the CSV was downloaded, or sent): from now on
    the round cannot be reopened. Only the first time counts (one atomic UPDATE)."""
    if round_.state != RoundState.CLOSED or round_.results_released_at is not None:
        return
    db.session.execute(
        sa.update(Round).where(Round.id == round_.id, Round.results_released_at.is_(None))
        .values(results_released_at=utcnow()).execution_options(synchronize_session=False))
    db.session.expire(round_, ["results_released_at"])


@dataclass(frozen=True)
class AdoptEffects:
    """What adopting a round's drafts does: the round whose drafts they replace, if any."""

    replaces: Round | None


def adopt_effects(round_: Round) -> AdoptEffects:
    """What adopting this round's drafts would do, for its confirmation page."""
    current = adopted_round()
    return AdoptEffects(replaces=current if current is not None and current.id != round_.id else None)


def adopt_round(actor: User, round_: Round) -> None:
    """Mark a closed round's drafts as the adopted Keep it Local principles."""
    if round_.state != RoundState.CLOSED:
        raise RuleError("Close the round before adopting its drafts.")
    round_.adopted_at = utcnow()
    record(actor, "round.adopt", round_, f"Adopted the drafts of round #{round_.id} as the principles")


def results_visible(round_: Round, user) -> bool:
    """Staff see results while a round is open; everyone once it has closed."""
    if round_.state == RoundState.CLOSED:
        return True
    return bool(getattr(user, "is_authenticated", False) and user.is_staff and round_.state == RoundState.OPEN)


