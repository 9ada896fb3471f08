"""Principle rules: rounds, eligibility, votes with exact tallies, suggestions, results, diffs.

Votes keep `vote_tallies` in step inside the same transaction. Every change to a member's
vote starts with an UPDATE of that vote row, which takes its row lock on PostgreSQL (and
SQLite's writer lock), so two concurrent changes of one vote are applied one after the
other and each adjusts the tallies from the stance the other left behind.
"""
import csv
import difflib
import io
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from kil_network.auth.models import MEMBER_TYPE_LABELS, MemberType, User
from kil_network.core.audit import record
from kil_network.core.csvutil import csv_safe
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import format_london, utcnow
from kil_network.extensions import db
from kil_network.principles.models import (
    STANCES,
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
    VoteTally,
)

SUPPRESS_BELOW = 5


# --- Rounds -------------------------------------------------------------------------------

def open_round() -> Round | None:
    """The round open for votes now, if any (the latest opened)."""
    now = utcnow()
    return db.session.scalar(
        sa.select(Round).where(Round.state == RoundState.OPEN,
                               sa.or_(Round.opens_at.is_(None), Round.opens_at <= now),
                               sa.or_(Round.closes_at.is_(None), Round.closes_at > now))
        .order_by(Round.id.desc()).limit(1)
    )


def adopted_round() -> Round | None:
    """The round whose drafts were adopted as the principles, if any (the latest)."""
    return db.session.scalar(sa.select(Round).where(Round.adopted_at.is_not(None)).order_by(Round.adopted_at.desc()).limit(1))


def latest_round(states=(RoundState.OPEN, RoundState.CLOSED)) -> Round | None:
    """The most recent round in one of these states."""
    return db.session.scalar(sa.select(Round).where(Round.state.in_(states)).order_by(Round.id.desc()).limit(1))


def drafts_of(round_: Round) -> list[Draft]:
    """The round's drafts in principle order."""
    return db.session.scalars(sa.select(Draft).where(Draft.round_id == round_.id).order_by(Draft.number)).all()


def attended_round_workshop(user: User, round_: Round) -> bool:
    """Did the member check in at one of the round's workshops?"""
    from kil_network.workshops.models import Registration, Workshop

    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Registration).join(Workshop)
        .where(Registration.user_id == user.id, Registration.checked_in_at.is_not(None),
               Workshop.round_id == round_.id)
    ) > 0


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


# --- Tallies ------------------------------------------------------------------------------

def _groups(vote: Vote) -> list[tuple[str, str]]:
    """The tally groups a vote counts in."""
    groups = [("all", ""), ("type", vote.member_type.value)]
    if vote.region_id:
        groups.append(("region", str(vote.region_id)))
    if vote.workshop_id:
        groups.append(("workshop", str(vote.workshop_id)))
    return groups


_UPSERTS: dict[tuple[int, str], sa.TextClause] = {}


def _upsert(size: int, column: str) -> sa.TextClause:
    """The tally upsert for `size` groups adding :delta to one stance column, built once per shape.

    Written as text with bound parameters because SQLAlchemy does not cache multi-row
    INSERT ... ON CONFLICT constructs: compiling one on every vote was a third of a vote's cost.
    The SQL is the same on PostgreSQL and SQLite."""
    stmt = _UPSERTS.get((size, column))
    if stmt is None:
        names = [stance.value for stance in STANCES]
        counts = ", ".join(":delta" if name == column else "0" for name in names)
        rows = ", ".join(f"(:draft_id, :dimension_{i}, :key_{i}, {counts})" for i in range(size))
        stmt = _UPSERTS[(size, column)] = sa.text(
            f"INSERT INTO vote_tallies (draft_id, dimension, key, {', '.join(names)}) VALUES {rows} "
            f"ON CONFLICT (draft_id, dimension, key) DO UPDATE SET {column} = vote_tallies.{column} + excluded.{column}"
        )
    return stmt


def _bump(draft_id: int, groups, stance: Stance, delta: int) -> None:
    """Add delta to a stance's count in each group, in one atomic upsert (rows created on first use).

    One statement for all the groups instead of an INSERT and an UPDATE per group: a vote is the
    busiest write of a live workshop. Rows are locked in the order of `groups`, the same for
    every vote, so concurrent votes queue on the tally rows and never deadlock."""
    params = {"draft_id": draft_id, "delta": delta}
    for i, (dimension, key) in enumerate(groups):
        params[f"dimension_{i}"], params[f"key_{i}"] = dimension, key
    db.session.execute(_upsert(len(groups), stance.value), params)


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
    from kil_network.core.params import int_arg
    from kil_network.workshops.models import Registration, RegistrationState, Workshop

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


def cast_vote(user: User, draft: Draft, stance: Stance, comment: str = "", workshop_id=None) -> Vote:
    """Record or change the member's vote on a draft; tallies change in the same transaction."""
    _check(user, draft.round)
    if len(comment) > 2000:
        raise RuleError("Comment must be 2,000 characters or fewer", "comment")
    workshop = live_workshop_for(draft, workshop_id, user)
    now = utcnow()
    for _ in range(3):
        vote = db.session.scalar(  # locks the row and reads it as locked, in one statement
            sa.update(Vote).where(Vote.draft_id == draft.id, Vote.user_id == user.id)
            .values(updated_at=now).returning(Vote)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        if vote is not None:
            old_groups, old_stance = _groups(vote), vote.stance
            vote.stance = stance
            vote.comment = comment
            if workshop:
                vote.workshop_id = workshop
            new_groups = _groups(vote)
            if old_stance != stance or old_groups != new_groups:
                _bump(draft.id, old_groups, old_stance, -1)
                _bump(draft.id, new_groups, stance, +1)
            db.session.flush()
            return vote
        vote = Vote(draft_id=draft.id, user_id=user.id, stance=stance, comment=comment, workshop_id=workshop,
                    member_type=user.member_type, region_id=user.region_id, created_at=now, updated_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(vote)
                db.session.flush()
        except IntegrityError:
            continue  # a concurrent first vote by the same member won; change it instead
        _bump(draft.id, _groups(vote), stance, +1)
        return vote
    raise RuleError("Your vote could not be saved. Try again.")


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
    suggestion.response_status = status
    suggestion.response_text = text.strip()
    suggestion.responded_by_id = actor.id
    suggestion.responded_at = utcnow()
    record(actor, "suggestion.respond", suggestion, f"Responded to suggestion #{suggestion.id}: {status.value}")


# --- Staff: rounds ------------------------------------------------------------------------

def _principles() -> list[Principle]:
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


def close_round(actor: User, round_: Round) -> None:
    """Close an open round: no more votes or suggestions; results become public."""
    if round_.state != RoundState.OPEN:
        raise RuleError("Only an open round can be closed.")
    round_.state = RoundState.CLOSED
    if round_.closes_at is None or round_.closes_at > utcnow():
        round_.closes_at = utcnow()
    record(actor, "round.close", round_, f"Closed round #{round_.id}")


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


# --- Results ------------------------------------------------------------------------------

def _cell(support: int, amend: int, oppose: int) -> dict:
    """Counts and percentages for one group, suppressed when fewer than 5 voted."""
    total = support + amend + oppose
    if total < SUPPRESS_BELOW:
        return {"suppressed": True, "total": total}
    pct = {s: round(100 * n / total) for s, n in (("support", support), ("amend", amend), ("oppose", oppose))}
    return {"suppressed": False, "total": total, "support": support, "amend": amend, "oppose": oppose, "pct": pct}


def tallies(draft_ids: list[int], dimensions=("all", "type", "region", "workshop")) -> dict:
    """{draft_id: {dimension: {key: cell}}} from the tally table, in one query."""
    out = {d: {dim: {} for dim in dimensions} for d in draft_ids}
    if not draft_ids:
        return out
    rows = db.session.execute(
        sa.select(VoteTally.draft_id, VoteTally.dimension, VoteTally.key,
                  VoteTally.support, VoteTally.amend, VoteTally.oppose)
        .where(VoteTally.draft_id.in_(draft_ids), VoteTally.dimension.in_(dimensions))
    ).all()
    for draft_id, dim, key, s, a, o in rows:
        out[draft_id][dim][key] = _cell(s, a, o)
    return out


def type_labels() -> dict:
    """Names for the member-type tally keys (no query)."""
    return {m.value: MEMBER_TYPE_LABELS[m] for m in MemberType}


def group_labels(workshop_keys=None) -> dict:
    """Names for tally keys: member types, regions and workshops (only those keyed, when given)."""
    from kil_network.members.models import Region
    from kil_network.workshops.models import Workshop

    workshops = sa.select(Workshop.id, Workshop.title).where(Workshop.round_id.is_not(None))
    if workshop_keys is not None:  # not every workshop of every round: there are thousands
        workshops = workshops.where(Workshop.id.in_([int(k) for k in workshop_keys]))
    return {
        "type": type_labels(),
        "region": {str(i): n for i, n in db.session.execute(sa.select(Region.id, Region.name))},
        "workshop": {str(i): n for i, n in db.session.execute(workshops)},
    }


def round_results(round_: Round) -> dict:
    """Per draft: overall cell and breakdowns by member type, region and workshop."""
    drafts = drafts_of(round_)
    counts = tallies([d.id for d in drafts])
    keyed = {key for groups in counts.values() for key in groups["workshop"]}
    return {"drafts": drafts, "tallies": counts, "labels": group_labels(keyed)}


def live_tallies(workshop_id: int, round_: Round) -> tuple[list[Draft], dict]:
    """The drafts of a round and the votes cast through one workshop (not suppressed: a room)."""
    drafts = drafts_of(round_)
    rows = db.session.execute(
        sa.select(VoteTally.draft_id, VoteTally.support, VoteTally.amend, VoteTally.oppose)
        .where(VoteTally.draft_id.in_([d.id for d in drafts]), VoteTally.dimension == "workshop",
               VoteTally.key == str(workshop_id))
    ).all()
    counts = {d.id: {"support": 0, "amend": 0, "oppose": 0, "total": 0} for d in drafts}
    for draft_id, s, a, o in rows:
        counts[draft_id] = {"support": s, "amend": a, "oppose": o, "total": s + a + o}
    return drafts, counts


def principle_history(principle: Principle) -> list[dict]:
    """Each round's draft of a principle with a word diff against the previous one and support."""
    drafts = db.session.execute(
        sa.select(Draft, Round).join(Round).where(Draft.principle_id == principle.id,
                                                  Round.state != RoundState.DRAFT)
        .order_by(Round.id)
    ).all()
    counts = tallies([d.id for d, _ in drafts], dimensions=("all", "type"))
    history, previous = [], None
    for draft, round_ in drafts:
        history.append({
            "draft": draft, "round": round_,
            "diff": word_diff(previous.text, draft.text) if previous else [("same", draft.text)],
            "title_diff": word_diff(previous.title, draft.title) if previous else [("same", draft.title)],
            "overall": counts[draft.id]["all"].get(""), "by_type": counts[draft.id]["type"],
            "visible": round_.state == RoundState.CLOSED,
        })
        previous = draft
    return history


_TOKEN = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """[(op, text)] with op 'same', 'added' or 'removed', word by word (spaces kept)."""
    a, b = _TOKEN.findall(old or ""), _TOKEN.findall(new or "")
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
        else:
            if i2 > i1:
                out.append(("removed", "".join(a[i1:i2])))
            if j2 > j1:
                out.append(("added", "".join(b[j1:j2])))
    return out


def responses(round_: Round) -> list[Suggestion]:
    """Suggestions made in a round with staff responses, by principle then endorsements."""
    return db.session.scalars(
        sa.select(Suggestion).join(Suggestion.draft).options(contains_eager(Suggestion.draft))
        .where(Draft.round_id == round_.id)
        .order_by(Draft.number, Suggestion.endorsement_count.desc(), Suggestion.id)
    ).all()


def round_deadline(round_: Round) -> str:
    """'Voting closes at ...' text."""
    return format_london(round_.closes_at) if round_.closes_at else ""


STANCE_ORDER = STANCES


def results_csv(round_: Round) -> str:
    """Aggregates per draft and group (small groups suppressed), then comments and suggestions without names."""
    data = round_results(round_)
    labels = data["labels"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "principle", "draft_title", "group_type", "group", "voters",
                     "support", "support_with_changes", "oppose", "support_pct", "amend_pct", "oppose_pct"])
    for draft in data["drafts"]:
        for dim in ("all", "type", "region", "workshop"):
            for key, cell in sorted(data["tallies"][draft.id][dim].items()):
                name = "All voters" if dim == "all" else labels.get(dim, {}).get(key, key)
                if cell["suppressed"]:
                    writer.writerow(["results", draft.number, csv_safe(draft.title), dim, csv_safe(name),
                                     "fewer than 5", "", "", "", "", "", ""])
                else:
                    writer.writerow(["results", draft.number, csv_safe(draft.title), dim, csv_safe(name),
                                     cell["total"], cell["support"], cell["amend"], cell["oppose"],
                                     cell["pct"]["support"], cell["pct"]["amend"], cell["pct"]["oppose"]])
    comments = db.session.execute(
        sa.select(Draft.number, Vote.stance, Vote.comment).join(Draft)
        .where(Draft.round_id == round_.id, Vote.comment != "").order_by(Draft.number, Vote.id)
    ).all()
    writer.writerow([])
    writer.writerow(["section", "principle", "stance", "comment"])
    for number, stance, comment in comments:
        writer.writerow(["comment", number, stance.label, csv_safe(comment)])
    writer.writerow([])
    writer.writerow(["section", "principle", "suggestion", "reason", "endorsements", "response", "response_reason"])
    for s in responses(round_):
        writer.writerow(["suggestion", s.draft.number, csv_safe(s.text), csv_safe(s.reason), s.endorsement_count,
                         s.response_status.label if s.response_status else "awaiting response",
                         csv_safe(s.response_text)])
    return out.getvalue()


def rebuild_tallies(draft_ids: list[int] | None = None) -> None:
    """Recount tallies from the votes (after bulk loads, or to check them)."""
    where = [Vote.draft_id.in_(draft_ids)] if draft_ids is not None else []
    db.session.execute(sa.delete(VoteTally).where(*([VoteTally.draft_id.in_(draft_ids)] if draft_ids is not None else [])))
    counts = {}
    for column, dimension in ((sa.literal(""), "all"), (Vote.member_type, "type"),
                              (Vote.region_id, "region"), (Vote.workshop_id, "workshop")):
        rows = db.session.execute(
            sa.select(Vote.draft_id, column, Vote.stance, sa.func.count()).where(*where)
            .group_by(Vote.draft_id, column, Vote.stance)
        ).all()
        for draft_id, key, stance, n in rows:
            if key is None:
                continue
            key = getattr(key, "value", key)
            cell = counts.setdefault((draft_id, dimension, str(key)), {"support": 0, "amend": 0, "oppose": 0})
            cell[stance.value] += n
    if counts:
        db.session.execute(sa.insert(VoteTally), [
            {"draft_id": d, "dimension": dim, "key": key, **cell} for (d, dim, key), cell in counts.items()
        ])
