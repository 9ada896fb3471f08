"""An attacker for published tables of counts: given only what was published (the shown cells'
counts, the overall cell, and the label of every hidden cell), work out every hidden cell that
can be pinned down exactly.

Per dimension the groups sum to the overall cell, per category; the people in different
dimensions are the same people but nothing links one dimension's groups to another's (only
1-way tables are published), so any set of dimension tables with the same overall cell can be
realised together and the attack is exact per dimension. The attacker knows, for each hidden
cell, the bounds its label gives (1 to THRESHOLD-1 people for 'fewer than', THRESHOLD or more for
'hidden'), and solves the equations over non-negative integers: a hidden cell is *disclosed*
when only one count vector is possible for it, or when every possible vector puts everyone in
the cell in the same category (each member's answer known).
"""
from dataclasses import dataclass
from itertools import product

from kil_network.core.disclosure import THRESHOLD, Status


@dataclass(frozen=True)
class Published:
    """One dimension as published: the shown groups' counts and the hidden groups' labels."""

    overall: tuple[int, ...] | None  # None: the overall cell itself is hidden
    shown: dict  # key -> counts
    hidden: dict  # key -> Status (FEWER or HIDDEN)


def bounds(status: Status) -> tuple[int, int | None]:
    """The size a hidden cell's label allows (groups of nobody are never listed)."""
    return (1, THRESHOLD - 1) if status is Status.FEWER else (THRESHOLD, None)


def feasible_vectors(residual: tuple[int, ...], mine: Status, others: list[Status]) -> set[tuple[int, ...]]:
    """Every count vector one hidden cell may have, given the residual the hidden cells share:
    v <= residual, its size within its label's bounds, and the rest splittable among the other
    hidden cells within theirs (any counts of a given size split into parts of given sizes)."""
    lo, hi = bounds(mine)
    others_lo = sum(bounds(s)[0] for s in others)
    others_hi = None if any(bounds(s)[1] is None for s in others) else sum(bounds(s)[1] for s in others)
    total = sum(residual)
    out = set()
    for v in product(*(range(n + 1) for n in residual)):
        size = sum(v)
        if size < lo or (hi is not None and size > hi):
            continue
        rest = total - size
        if not others:
            if rest == 0:
                out.add(v)
            continue
        if rest >= others_lo and (others_hi is None or rest <= others_hi):
            out.add(v)
    return out


def disclosed(table: Published) -> list[tuple[object, str]]:
    """[(hidden key, why)] for every hidden cell of the dimension the attacker pins down."""
    if table.overall is None or not table.hidden:
        return []  # nothing numeric to solve from, or nothing hidden
    residual = tuple(o - sum(c[i] for c in table.shown.values()) for i, o in enumerate(table.overall))
    if any(n < 0 for n in residual):
        return [(None, "published figures inconsistent")]
    found = []
    keys = list(table.hidden)
    for key in keys:
        others = [table.hidden[k] for k in keys if k != key]
        options = feasible_vectors(residual, table.hidden[key], others)
        if len(options) == 1:
            found.append((key, f"only {next(iter(options))} is possible"))
        elif options and all(sum(1 for n in v if n) == 1 for v in options) and \
                len({next(i for i, n in enumerate(v) if n) for v in options}) == 1:
            found.append((key, "everyone in it gave the same answer"))
    return found


def attack(view: dict[str, Published]) -> list[tuple[str, object, str]]:
    """Every disclosure in a whole published table: the overall cell first recovered from any
    dimension shown in full when the overall itself was hidden, then each dimension solved."""
    overall = next((p.overall for p in view.values() if p.overall is not None), None)
    if overall is None:
        full = [p for p in view.values() if not p.hidden and p.shown]
        if full:
            shown = list(full[0].shown.values())
            overall = tuple(sum(c[i] for c in shown) for i in range(len(shown[0])))
            if any(p.hidden for p in view.values()):
                return [("overall", None, f"hidden overall is {overall}, the sum of a dimension shown in full")]
    found = []
    for name, p in view.items():
        found += [(name, key, why) for key, why in disclosed(Published(overall, p.shown, p.hidden))]
    return found


def published_view(table) -> dict[str, Published]:
    """What a page shows of a `disclosure.Table`, per dimension (the attacker's input)."""
    overall = table.overall.counts if table.overall.shown else None
    out = {}
    for name, cells in table.dimensions.items():
        out[name] = Published(overall, {k: c.counts for k, c in cells.items() if c.shown},
                              {k: c.status for k, c in cells.items() if not c.shown})
    return out
