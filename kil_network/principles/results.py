"""Results and history: what a round's votes add up to, by group; a principle through the rounds
(word-level diffs); suggestions with their responses ('you said, we did'); the results CSV.

Reads only; the counts come from the tallies (`kil_network.principles.tallies`).
"""
import csv
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from kil_network.auth.models import MEMBER_TYPE_LABELS, MemberType
from kil_network.core import disclosure
from kil_network.core.csvutil import csv_safe
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.principles.models import Draft, Moderation, Principle, Round, RoundState, Suggestion, VoteTally
from kil_network.principles.moderation import published_comments
from kil_network.principles.services import drafts_of
from kil_network.principles.tallies import CATEGORIES, tallies
from kil_network.workshops.models import Workshop


def type_labels() -> dict:
    """Names for the member-type tally keys (no query)."""
    return {m.value: MEMBER_TYPE_LABELS[m] for m in MemberType}


def group_labels(workshop_keys=None) -> dict:
    """Names for tally keys: member types, regions and workshops (only those keyed, when given)."""
    workshops = sa.select(Workshop.id, Workshop.title).where(Workshop.round_id.is_not(None))
    if workshop_keys is not None:  # not every workshop of every round: there are thousands
        workshops = workshops.where(Workshop.id.in_([int(k) for k in workshop_keys]))
    return {
        "type": type_labels(),
        "region": {str(i): n for i, n in db.session.execute(sa.select(Region.id, Region.name))}
        | {disclosure.REST: "No region given"},
        "workshop": {str(i): n for i, n in db.session.execute(workshops)}
        | {disclosure.REST: "Not at a workshop (voted online)"},
    }


def _in_label_order(counts: dict, labels: dict) -> None:
    """Each breakdown's groups in the order of their names, the REST group last."""
    for by_dimension in counts.values():
        for dim, cells in by_dimension.items():
            names = labels.get(dim, {})
            by_dimension[dim] = dict(sorted(cells.items(), key=lambda kv: (
                kv[0] == disclosure.REST, str(names.get(kv[0], kv[0])).casefold())))


def round_results(round_: Round) -> dict:
    """Per draft: the overall cell and breakdowns by member type, region and workshop, protected
    by the disclosure rules (each hidden cell says why), groups in the order of their names."""
    drafts = drafts_of(round_)
    counts = tallies([d.id for d in drafts])
    keyed = {key for groups in counts.values() for key in groups["workshop"] if key != disclosure.REST}
    labels = group_labels(keyed)
    _in_label_order(counts, labels)
    return {"drafts": drafts, "tallies": counts, "labels": labels}


@dataclass(frozen=True)
class LiveTally:
    """One principle of a round, with the votes cast on it through a workshop: the room's live
    figures, shown only when the disclosure rules allow them as a table of one cell (`cell`)."""

    number: int
    title: str
    text: str
    support: int = 0
    amend: int = 0
    oppose: int = 0

    @property
    def total(self) -> int:
        """Votes cast on this principle through the workshop."""
        return self.support + self.amend + self.oppose

    def percent(self, stance: str) -> int:
        """That stance's share of the votes, rounded (0 with no votes)."""
        return round(getattr(self, stance) * 100 / self.total) if self.total else 0

    @property
    def cell(self) -> disclosure.Cell:
        """The room's figures through the disclosure rules (fewer than 5, or all but one the same: hidden)."""
        return disclosure.one_cell((self.support, self.amend, self.oppose), CATEGORIES)

    @property
    def hidden_note(self) -> str:
        """What the screen says instead of the figures when they may not be shown ('' when they may)."""
        status = self.cell.status
        if status is disclosure.Status.FEWER:
            return f"Results appear from {disclosure.THRESHOLD} votes"
        return "Results hidden to protect privacy" if status is disclosure.Status.HIDDEN else ""


@dataclass(frozen=True)
class PresenterState:
    """What the presenter screen shows of a workshop (no personal data): its control settings and
    its principles with their tallies. Read in one query by `presenter_state`."""

    id: int
    round_id: int | None
    live_voting: bool
    present_number: int | None
    tallies_shown: bool
    present_version: int
    principles: list[LiveTally]


@cache
def _presenter_statement() -> sa.Select:
    """Built once: constructing a statement costs more CPU than the database takes to run this one."""
    on_workshop = sa.and_(VoteTally.draft_id == Draft.id, VoteTally.dimension == "workshop",
                          VoteTally.key == sa.bindparam("workshop_key"))
    return (sa.select(Workshop.id, Workshop.round_id, Workshop.live_voting, Workshop.present_number,
                      Workshop.tallies_shown, Workshop.present_version, Draft.number, Draft.title, Draft.text,
                      VoteTally.support, VoteTally.amend, VoteTally.oppose)
            .select_from(Workshop).outerjoin(Draft, Draft.round_id == Workshop.round_id)
            .outerjoin(VoteTally, on_workshop).where(Workshop.id == sa.bindparam("workshop_id"))
            .order_by(Draft.number))


def presenter_state(workshop_id: int) -> PresenterState | None:
    """The workshop's presenter settings and its round's principles in order, each with the votes
    cast through the workshop: one query, whatever the number of votes (the screen polls it every
    second). None when there is no such workshop."""
    rows = db.session.execute(_presenter_statement(),
                              {"workshop_key": str(workshop_id), "workshop_id": workshop_id}).tuples().all()
    if not rows:
        return None
    wid, round_id, live_voting, number, shown, version = rows[0][:6]
    principles = [LiveTally(n, title, text, s or 0, a or 0, o or 0)
                  for *_, n, title, text, s, a, o in rows if n is not None]
    return PresenterState(wid, round_id, live_voting, number, shown, version, principles)


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


def responses(round_: Round) -> Sequence[Suggestion]:
    """Suggestions made in a round and published (approved by staff), with staff responses, by
    principle then endorsements."""
    return db.session.scalars(
        sa.select(Suggestion).join(Suggestion.draft).options(contains_eager(Suggestion.draft))
        .where(Draft.round_id == round_.id, Suggestion.moderation == Moderation.APPROVED)
        .order_by(Draft.number, Suggestion.endorsement_count.desc(), Suggestion.id)
    ).all()


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
            for key, cell in data["tallies"][draft.id][dim].items():
                name = "All voters" if dim == "all" else labels.get(dim, {}).get(key, key)
                if cell.suppressed:
                    writer.writerow(["results", draft.number, csv_safe(draft.title), dim, csv_safe(name),
                                     cell.label, "", "", "", "", "", ""])
                else:
                    writer.writerow(["results", draft.number, csv_safe(draft.title), dim, csv_safe(name),
                                     cell.total, cell.support, cell.amend, cell.oppose,
                                     cell.pct["support"], cell.pct["amend"], cell.pct["oppose"]])
    comments = published_comments(round_)  # approved by staff only, as published (redacted)
    writer.writerow([])
    writer.writerow(["section", "principle", "stance", "comment"])
    for number, stance, comment in comments:
        writer.writerow(["comment", number, stance.label, csv_safe(comment)])
    writer.writerow([])
    writer.writerow(["section", "principle", "suggestion", "reason", "endorsements", "response", "response_reason"])
    for s in responses(round_):
        writer.writerow(["suggestion", s.draft.number, csv_safe(s.public_text), csv_safe(s.public_reason),
                         s.endorsement_count,
                         s.response_status.label if s.response_status else "awaiting response",
                         csv_safe(s.response_text)])
    return out.getvalue()
