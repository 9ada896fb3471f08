"""Vote tallies: the running counts each vote keeps in step, read back per draft and group.

Every vote adds to (and a changed vote moves between) the `vote_tallies` rows of the groups it
counts in, in one atomic upsert inside the vote's transaction (`apply`); results read the rows in
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


_UNCHANGED = object()


def groups_of(vote: Vote, workshop_id=_UNCHANGED) -> list[tuple[str, str]]:
    """The tally groups a vote counts in (with `workshop_id`: as it counted before its workshop
    changed; its type and region never change)."""
    workshop_id = vote.workshop_id if workshop_id is _UNCHANGED else workshop_id
    groups = [("all", ""), ("type", vote.member_type.value)]
    if vote.region_id:
        groups.append(("region", str(vote.region_id)))
    if workshop_id:
        groups.append(("workshop", str(workshop_id)))
    return groups


_UPSERTS: dict[int, sa.TextClause] = {}
_ORDER = {dimension: i for i, dimension in enumerate(DIMENSIONS)}


def _upsert(size: int) -> sa.TextClause:
    """The tally upsert for `size` groups, each row adding its own delta to each stance column,
    built once per size.

    Written as text with bound parameters because SQLAlchemy does not cache multi-row
    INSERT ... ON CONFLICT constructs: compiling one on every vote was a third of a vote's cost.
    The SQL is the same on PostgreSQL and SQLite."""
    stmt = _UPSERTS.get(size)
    if stmt is None:
        rows = ", ".join(f"(:draft_id, :dimension_{i}, :key_{i}, "
                         + ", ".join(f":{name}_{i}" for name in CATEGORIES) + ")" for i in range(size))
        updates = ", ".join(f"{name} = vote_tallies.{name} + excluded.{name}" for name in CATEGORIES)
        stmt = _UPSERTS[size] = sa.text(
            f"INSERT INTO vote_tallies (draft_id, dimension, key, {', '.join(CATEGORIES)}) VALUES {rows} "
            f"ON CONFLICT (draft_id, dimension, key) DO UPDATE SET {updates}"
        )
    return stmt


def apply(draft_id: int, changes) -> None:
    """Add each (groups, stance, delta) of `changes` to the tallies, in one atomic upsert (rows
    created on first use); nothing when they cancel out (the same stance in the same groups).

    One statement for every group and stance a vote (or a changed vote) touches, instead of an
    INSERT and an UPDATE per group, or one upsert for the old stance and one for the new: a vote
    is the busiest write of a live workshop. Rows are locked in one global order (dimension, then
    key), the same for every vote, so concurrent votes queue on the tally rows and never deadlock."""
    deltas: dict[tuple[str, str], dict[str, int]] = {}
    for groups, stance, delta in changes:
        for group in groups:
            cell = deltas.setdefault(group, dict.fromkeys(CATEGORIES, 0))
            cell[stance.value] += delta
    rows = sorted(((group, cell) for group, cell in deltas.items() if any(cell.values())),
                  key=lambda row: (_ORDER[row[0][0]], row[0][1]))
    if not rows:
        return
    params: dict[str, object] = {"draft_id": draft_id}
    for i, ((dimension, key), cell) in enumerate(rows):
        params[f"dimension_{i}"], params[f"key_{i}"] = dimension, key
        for name, value in cell.items():
            params[f"{name}_{i}"] = value
    db.session.execute(_upsert(len(rows)), params)


def bump(draft_id: int, groups, stance: Stance, delta: int) -> None:
    """Add delta to a stance's count in each group (`apply` with one change)."""
    apply(draft_id, [(groups, stance, delta)])


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
