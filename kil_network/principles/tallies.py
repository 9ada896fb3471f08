"""Vote tallies: the running counts each vote keeps in step, read back per draft and group.

Every vote adds to (and a changed vote moves between) the `vote_tallies` rows of the groups it
counts in, in one atomic upsert inside the vote's transaction (`bump`); results read the rows in
one query (`tallies`), each draft's table protected by the disclosure rules
(`kil_network.core.disclosure`: threshold, dominance, secondary suppression) before anything
reads it; `rebuild_tallies` recounts them from the votes after bulk loads.
"""
import sqlalchemy as sa

from kil_network.core import disclosure
from kil_network.core.disclosure import Cell
from kil_network.extensions import db
from kil_network.principles.models import STANCES, Stance, Vote, VoteTally

SUPPRESS_BELOW = disclosure.THRESHOLD  # a group with fewer voters shows no breakdown
DIMENSIONS = ("all", "type", "region", "workshop")
CATEGORIES = tuple(stance.value for stance in STANCES)


def groups_of(vote: Vote) -> list[tuple[str, str]]:
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


def bump(draft_id: int, groups, stance: Stance, delta: int) -> None:
    """Add delta to a stance's count in each group, in one atomic upsert (rows created on first use).

    One statement for all the groups instead of an INSERT and an UPDATE per group: a vote is the
    busiest write of a live workshop. Rows are locked in the order of `groups`, the same for
    every vote, so concurrent votes queue on the tally rows and never deadlock."""
    params = {"draft_id": draft_id, "delta": delta}
    for i, (dimension, key) in enumerate(groups):
        params[f"dimension_{i}"], params[f"key_{i}"] = dimension, key
    db.session.execute(_upsert(len(groups), stance.value), params)


def tallies(draft_ids: list[int], dimensions=DIMENSIONS) -> dict[int, dict[str, dict[str, Cell]]]:
    """{draft_id: {dimension: {key: Cell}}} from the tally table in one query, each draft's
    table protected as a whole (`disclosure.protect`; the overall cell is always read, as the
    groups are checked against it). 'all' holds the overall cell under key '' once anyone voted;
    region and workshop hold `disclosure.REST` for the votes with no region / not at a workshop."""
    out: dict[int, dict[str, dict[str, Cell]]] = {d: {dim: {} for dim in dimensions} for d in draft_ids}
    if not draft_ids:
        return out
    wanted = set(dimensions) | {"all"}
    rows = db.session.execute(
        sa.select(VoteTally.draft_id, VoteTally.dimension, VoteTally.key,
                  VoteTally.support, VoteTally.amend, VoteTally.oppose)
        .where(VoteTally.draft_id.in_(draft_ids), VoteTally.dimension.in_(wanted))
    ).all()
    raw: dict[int, dict[str, dict[str, tuple[int, int, int]]]] = {d: {} for d in draft_ids}
    for draft_id, dim, key, s, a, o in rows:
        raw[draft_id].setdefault(dim, {})[key] = (s, a, o)
    for draft_id, cells in raw.items():
        overall = cells.get("all", {}).get("", (0, 0, 0))
        if not sum(overall):
            continue  # nobody voted (or every vote was withdrawn): no cells at all
        groups = {dim: cells.get(dim, {}) for dim in dimensions if dim != "all"}
        table = disclosure.protect(overall, groups, CATEGORIES)
        if "all" in dimensions:
            out[draft_id]["all"][""] = table.overall
        for dim, protected in table.dimensions.items():
            out[draft_id][dim] = protected
    return out


def rebuild_tallies(draft_ids: list[int] | None = None) -> None:
    """Recount tallies from the votes (after bulk loads, or to check them)."""
    where = [Vote.draft_id.in_(draft_ids)] if draft_ids is not None else []
    db.session.execute(sa.delete(VoteTally).where(
        *([VoteTally.draft_id.in_(draft_ids)] if draft_ids is not None else [])))
    counts: dict[tuple[int, str, str], dict[str, int]] = {}
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
