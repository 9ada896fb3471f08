"""Statistical disclosure control: what may be published from a table of counts.

The one place that decides which cells of a published table are shown, for the vote results
pages, their CSV, a principle's history and the projector (every caller passes its counts here
and renders what comes back). A table is an overall cell (everyone counted) and any number of
dimensions (member type, region, workshop...), each a partition of the same people into groups;
a cell holds one count per category (support / with changes / oppose) or a single count.

The rules, after the ONS / UK Statistics Authority practice:

1. **Threshold** (primary): a cell of fewer than THRESHOLD people is not shown ("fewer than 5").
2. **Dominance** (primary): a cell where every person, or all but one, is in the same category
   is not shown ("hidden to protect privacy"): it would tell each member (or everyone but the
   one who differs, who then knows everyone else's answer) how the others answered.
3. **Secondary suppression**: within a dimension the groups add up to the overall cell, so the
   hidden groups together are the overall minus the shown ones (their *residual*). A dimension
   with hidden groups hides at least two of them, and enough of the smallest shown ones that the
   residual itself passes rules 1 and 2 (it is as good as published). The groups not covered
   by a dimension's keys (votes with no region, votes not cast at a workshop) are a group of
   their own (REST), so a dimension always adds up exactly.
4. **The overall cell** is checked by rules 1 and 2 first; when it is not shown, no group is
   (every group would then be the one thing left to solve for across dimensions).

Why that is enough against subtraction: with the overall cell published, each dimension's
equations (groups sum to the overall, per category) share no unknown with another dimension's,
so a hidden cell could only be solved from its own dimension, where at least one other hidden
cell shares the one equation; and a hidden cell's label bounds its size (1-4 for "fewer than 5",
5 or more for "hidden") without fixing it, because the residual is at least THRESHOLD and not
dominated. `tests/test_disclosure.py` plays the attacker against this with Hypothesis: it solves
the published equations and bounds exactly and must never pin down a hidden cell.

Not covered (said where results are shown): a hidden cell's label is chosen by these public
rules, so someone who knows the rules and every other figure may reason about *why* a cell was
hidden; and the projector shows a room its own live figures, which the room then knows.
"""
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

THRESHOLD = 5
REST = "_rest"  # the group of everyone a dimension's keys do not cover


class Status(enum.StrEnum):
    """Whether a cell is published, and if not, what it says instead."""

    SHOWN = "shown"
    FEWER = "fewer"  # fewer than THRESHOLD people
    HIDDEN = "hidden"  # dominated, or hidden so that another hidden cell cannot be worked out

    @property
    def label(self) -> str:
        """What a page or CSV says in the cell's place."""
        return {"shown": "", "fewer": f"fewer than {THRESHOLD}", "hidden": "hidden to protect privacy"}[self.value]


@dataclass(frozen=True)
class Cell:
    """One group's counts (one per category) and whether they may be published. The counts of a
    cell that is not shown are kept for the caller's own sums but must not be rendered: use
    `published` (None when hidden)."""

    counts: tuple[int, ...]
    status: Status = Status.SHOWN
    categories: tuple[str, ...] = field(default=(), compare=False)

    @cached_property
    def total(self) -> int:
        """People in the group (worked out once: a results page reads it several times a cell)."""
        return sum(self.counts)

    @property
    def shown(self) -> bool:
        """May be published."""
        return self.status is Status.SHOWN

    @property
    def suppressed(self) -> bool:
        """Not published (either reason)."""
        return self.status is not Status.SHOWN

    @property
    def label(self) -> str:
        """What is published in place of a hidden cell ('' when shown)."""
        return self.status.label

    def count(self, category: str) -> int:
        """The count for a named category."""
        return self.counts[self.categories.index(category)]

    def __getitem__(self, name: str):
        """cell['support'], cell['total'], cell['pct']...: as the attributes (templates and CSV
        code read cells either way)."""
        return getattr(self, name)

    def __getattr__(self, name: str):
        categories = object.__getattribute__(self, "categories")
        if name in categories:
            return self.counts[categories.index(name)]
        raise AttributeError(name)

    @cached_property
    def pct(self) -> dict[str, int]:
        """Each category's share in whole percent (0 with nobody counted); worked out once per cell."""
        total = self.total
        return {c: round(100 * n / total) if total else 0 for c, n in zip(self.categories, self.counts, strict=False)}


def passes(counts: Sequence[int]) -> Status:
    """Rules 1 and 2 for one cell on its own: SHOWN, FEWER or HIDDEN."""
    total = sum(counts)
    if total < THRESHOLD:
        return Status.FEWER
    if len(counts) > 1 and max(counts) >= total - 1:
        return Status.HIDDEN
    return Status.SHOWN


@dataclass(frozen=True)
class Table:
    """A protected table: the overall cell and, per dimension, each group's cell (REST included
    when the keys did not cover everyone)."""

    overall: Cell
    dimensions: dict[str, dict[Any, Cell]]  # group keys: whatever the caller used (ids, names)


def _hidden(counts: tuple[int, ...], categories: tuple[str, ...]) -> Cell:
    """A cell hidden by secondary suppression (or under a hidden overall): says 'fewer than 5'
    when it is that small, else 'hidden'."""
    status = Status.FEWER if sum(counts) < THRESHOLD else Status.HIDDEN
    return Cell(counts, status, categories)


def _protect_dimension(overall: tuple[int, ...], groups: dict[Any, tuple[int, ...]],
                       categories: tuple[str, ...]) -> dict[Any, Cell]:
    """Rules 1-3 for one dimension whose overall cell is shown."""
    status = {key: passes(counts) for key, counts in groups.items()}
    while True:
        hidden = [k for k, s in status.items() if s is not Status.SHOWN]
        if not hidden:
            break
        residual = tuple(o - sum(groups[k][i] for k in groups if status[k] is Status.SHOWN)
                         for i, o in enumerate(overall))
        if len(hidden) >= 2 and passes(residual) is Status.SHOWN:
            break
        shown = sorted((k for k, s in status.items() if s is Status.SHOWN),
                       key=lambda k: (sum(groups[k]), str(k)))
        if not shown:  # everything hidden: the residual is the (shown) overall cell
            break
        status[shown[0]] = _hidden(groups[shown[0]], categories).status
    return {key: Cell(counts, status[key], categories) for key, counts in groups.items()}


def protect(overall: Sequence[int], dimensions: Mapping[str, Mapping[Any, Sequence[int]]] | None = None,
            categories: Sequence[str] = ()) -> Table:
    """Apply the rules to a table: `overall` the counts for everyone; `dimensions` {name: {group
    key: counts}}, each group counted in the overall (groups of nobody are dropped; whoever the
    keys leave out becomes the REST group). `categories` names the counts ('support', ...)."""
    categories = tuple(categories)
    total = tuple(int(n) for n in overall)
    overall_status = passes(total)
    cells: dict[str, dict[Any, Cell]] = {}
    for name, raw in (dimensions or {}).items():
        groups = {key: tuple(int(n) for n in counts) for key, counts in raw.items() if sum(counts) > 0}
        rest = tuple(o - sum(g[i] for g in groups.values()) for i, o in enumerate(total))
        if any(n < 0 for n in rest):
            raise ValueError(f"the {name} groups count more people than the overall cell")
        if sum(rest) > 0:
            groups[REST] = rest
        if overall_status is Status.SHOWN:
            cells[name] = _protect_dimension(total, groups, categories)
        else:
            cells[name] = {key: _hidden(counts, categories) for key, counts in groups.items()}
    return Table(Cell(total, overall_status, categories), cells)


def one_cell(counts: Sequence[int], categories: Sequence[str] = ()) -> Cell:
    """A table of one cell (the projector's view of one principle in one room)."""
    return protect(counts, None, categories).overall
