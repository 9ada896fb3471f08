"""The member search index (`member_search`, migration 0018): who the directory, the staff members
list and the check-in search find, the same on SQLite and PostgreSQL (core.textsearch).

One row per member who is not deleted: `document` is their name, organisation and council,
`contact` the words of their email address (searched by staff only, never by the directory),
`listed` whether the directory shows them and `sort_name` their name, so a search's page and
total are answered by the index alone (`page_ids`, `count`), never by reading every member.
Both are folded in Python (`textsearch.document`), so the two databases hold the same words and
"jose" finds José on either. The app keeps the rows in step: mapper events on every flush that
inserts a member or changes their name, email, status, listing, confirmation, organisation or
council, renames an
organisation or a council (`keep_in_step`, registered by the app factory); `index_members` in
bulk for the bulk loader; a deleted account's row goes (erasure: status deleted); a deleted
`users` row takes its index row with it in the database (PostgreSQL: ON DELETE CASCADE; SQLite:
a trigger).

- SQLite: an FTS5 table (document, contact; listed and sort_name unindexed) whose rowid is the
  member's id.
- PostgreSQL: a table (user_id, document, contact, listed, sort_name) with a generated `terms`
  tsvector (document weighted A, contact B) and its GIN index; the directory searches weight A.

Not an ORM model: migrations/env.py leaves it out of autogenerate (`textsearch.is_index_table`).
"""
from collections.abc import Iterable

import sqlalchemy as sa

from kil_network.auth.models import Status, User
from kil_network.core import textsearch
from kil_network.extensions import db
from kil_network.members.models import LocalAuthority, Organisation

INDEX_TABLE = "member_search"
words = textsearch.words  # a query's words: none means nothing to search for
BATCH = 5_000
# What the index is made of: a change to any of these refreshes the member's row.
USER_FIELDS = ("name", "email", "status", "show_in_directory", "email_confirmed_at", "organisation",
               "organisation_id", "local_authority", "local_authority_id")

_fts = sa.table(INDEX_TABLE, *map(sa.column, ("rowid", "document", "contact", "flags", "sort_name")))
_pg = sa.table(INDEX_TABLE, *map(sa.column, ("user_id", "document", "contact", "listed", "sort_name", "terms")))
_users = sa.table("users", sa.column("id"), sa.column("name"), sa.column("email"), sa.column("status"),
                  sa.column("show_in_directory"), sa.column("email_confirmed_at"),
                  sa.column("organisation_id"), sa.column("local_authority_id"))
_orgs = sa.table("organisations", sa.column("id"), sa.column("name"))
_councils = sa.table("local_authorities", sa.column("id"), sa.column("name"))


def matching(q: str, *, staff: bool = False):
    """A SELECT of the ids of members whose name, organisation or council (and, for staff, email
    address) match `q` (core.textsearch: every word the start of a word, accents and case
    folded); None when `q` holds no word (blank: the caller lists everyone; punctuation alone:
    nobody matches)."""
    terms = textsearch.words(q)
    if not terms:
        return None
    if textsearch.is_postgresql(db.session.get_bind()):
        return sa.select(_pg.c.user_id).where(_pg.c.terms.op("@@")(textsearch.tsquery(terms, "" if staff else "A")))
    return sa.select(_fts.c.rowid).where(textsearch.fts5_match(INDEX_TABLE, terms, "document contact" if staff
                                                               else "document"))


COUNT_CAP = 1_000  # the directory counts its matches up to here ("more than 1,000")


def _found(terms, staff: bool):
    """(key column, sort column, a SELECT of the keys of the index's matching rows: listed members
    only for the directory, every member not deleted for staff)."""
    if textsearch.is_postgresql(db.session.get_bind()):
        stmt = sa.select(_pg.c.user_id).where(_pg.c.terms.op("@@")(textsearch.tsquery(terms, "" if staff else "A")))
        return _pg.c.user_id, _pg.c.sort_name, stmt if staff else stmt.where(_pg.c.listed)
    if staff:
        match = textsearch.fts5_match(INDEX_TABLE, terms, "document contact")
    else:  # the listing is a word of its own column, so the match stays inside the FTS index
        match = textsearch.fts5_match(INDEX_TABLE, terms, "document", also='{flags} : "listed"')
    return _fts.c.rowid, _fts.c.sort_name, sa.select(_fts.c.rowid).where(match)


def count(q: str, *, staff: bool = False, cap: int | None = None) -> int:
    """How many members `q` finds (as page_ids), counted in the index alone; with `cap`, counting
    stops at cap + 1 (the directory says "more than 1,000"), so its cost never grows with the data."""
    _, _, stmt = _found(textsearch.words(q), staff)
    if cap is not None:
        stmt = stmt.limit(cap + 1)
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


def page_ids(q: str, *, staff: bool = False, offset: int = 0, limit: int = 20,
             cap: int | None = None) -> tuple[list[int], int]:
    """The ids of one page of the members `q` finds, in name order, and how many it finds (`count`,
    capped at `cap` + 1 when given), from the index: the directory's listed members (the index keeps
    the listing), or for staff every member not deleted. Never a scan of every member's row.

    PostgreSQL's planner chooses between sorting the GIN index's matches (few) and walking the
    index of names until a page is found (many). SQLite's FTS5 has no order: up to COUNT_CAP
    matches are sorted, more are found by walking the members' name index and probing the matches."""
    terms = textsearch.words(q)
    total = count(q, staff=staff, cap=cap)
    key, sort_name, stmt = _found(terms, staff)
    if textsearch.is_postgresql(db.session.get_bind()) or total <= COUNT_CAP or not total:
        ids = db.session.scalars(stmt.order_by(sort_name, key).limit(limit).offset(offset)).all()
        return list(ids), total
    # `id + 0`: the matches are probed, never looked up one by one (SQLite then walks a name index).
    walk = sa.select(User.id).where((User.id + sa.literal_column("0")).in_(stmt))
    if staff:
        walk = walk.where(User.status != Status.DELETED)
    else:
        walk = walk.where(User.status == Status.ACTIVE, User.show_in_directory.is_(True),
                          User.email_confirmed_at.is_not(None))
    return list(db.session.scalars(walk.order_by(User.name, User.id).limit(limit).offset(offset))), total


# --- Keeping the index in step -----------------------------------------------------------------

def _source(condition) -> sa.Select:
    """Members with what their index row is made of."""
    return (sa.select(_users.c.id, _users.c.name, _users.c.email, _users.c.status, _users.c.show_in_directory,
                      _users.c.email_confirmed_at, _orgs.c.name.label("organisation"),
                      _councils.c.name.label("council"))
            .select_from(_users.outerjoin(_orgs, _orgs.c.id == _users.c.organisation_id)
                         .outerjoin(_councils, _councils.c.id == _users.c.local_authority_id))
            .where(condition))


def index_row(row) -> dict:
    """A member's index row (without its key): what the directory and staff search find them by,
    whether the directory lists them (active, confirmed, opted in) and their name to sort by."""
    listed = (_value(row.status) == Status.ACTIVE.value and bool(row.show_in_directory)
              and row.email_confirmed_at is not None)
    return {"document": textsearch.document(row.name, row.organisation, row.council),
            "contact": textsearch.document(row.email), "listed": listed, "sort_name": row.name}


def _value(status) -> str:
    return getattr(status, "value", status)


def _rows(result) -> Iterable[tuple[int, dict]]:
    for row in result:
        if _value(row.status) != Status.DELETED.value:
            yield row.id, index_row(row)


def _insert(connection, rows: list[tuple[int, dict]]) -> None:
    if not rows:
        return
    if textsearch.is_postgresql(connection):
        connection.execute(sa.insert(_pg), [{"user_id": key, **row} for key, row in rows])
    else:
        connection.execute(sa.insert(_fts), [
            {"rowid": key, "document": row["document"], "contact": row["contact"], "sort_name": row["sort_name"],
             "flags": "listed" if row["listed"] else ""} for key, row in rows])


def _delete(connection, ids: list[int]) -> None:
    key = _pg.c.user_id if textsearch.is_postgresql(connection) else _fts.c.rowid
    connection.execute(sa.delete(_pg if textsearch.is_postgresql(connection) else _fts).where(key.in_(ids)))


def refresh(connection, condition) -> None:
    """Rewrite the index rows of the members matching `condition` (a clause over `users`): one
    SELECT, one DELETE and one INSERT (a deleted account's row is not written again)."""
    members = connection.execute(_source(condition)).all()
    ids = [row.id for row in members]
    for chunk in textsearch.chunks(ids, BATCH):
        _delete(connection, chunk)
    for chunk in textsearch.chunks(_rows(members), BATCH):
        _insert(connection, chunk)


def index_members(connection, after_id: int = 0) -> int:
    """Index in bulk the members whose id is above `after_id` (all by default) and who have no
    row yet (members just inserted in bulk): one streamed SELECT, BATCH rows an INSERT; returns
    how many rows went in."""
    done = 0
    members = _source(_users.c.id > after_id).order_by(_users.c.id)
    result = connection.execute(members.execution_options(yield_per=BATCH))
    for chunk in textsearch.chunks(_rows(result), BATCH):
        _insert(connection, chunk)
        done += len(chunk)
    return done


def rebuild(connection) -> int:
    """Empty the index and build it again from every member (a repair; the migration's backfill)."""
    connection.execute(sa.delete(_pg if textsearch.is_postgresql(connection) else _fts))
    return index_members(connection)


def _changed(target, fields) -> bool:
    state = sa.inspect(target)
    return any(state.attrs[field].history.has_changes() for field in fields)


def _user_inserted(_mapper, connection, target) -> None:
    refresh(connection, _users.c.id == target.id)


def _user_updated(_mapper, connection, target) -> None:
    if _changed(target, USER_FIELDS):
        refresh(connection, _users.c.id == target.id)


def _user_deleted(_mapper, connection, target) -> None:
    _delete(connection, [target.id])


def _organisation_updated(_mapper, connection, target) -> None:
    if _changed(target, ("name",)):
        refresh(connection, _users.c.organisation_id == target.id)


def _council_updated(_mapper, connection, target) -> None:
    if _changed(target, ("name",)):
        refresh(connection, _users.c.local_authority_id == target.id)


_LISTENERS = (
    (User, "after_insert", _user_inserted),
    (User, "after_update", _user_updated),
    (User, "after_delete", _user_deleted),
    (Organisation, "after_update", _organisation_updated),
    (LocalAuthority, "after_update", _council_updated),
)


def keep_in_step() -> None:
    """Keep the index in step with every ORM flush (once per process; the app factory calls it)."""
    for model, event, listener in _LISTENERS:
        if not sa.event.contains(model, event, listener):
            sa.event.listen(model, event, listener)


def is_index_table(name: str) -> bool:
    """The member index and SQLite's FTS5 shadow tables: not models (autogenerate leaves them out)."""
    return name == INDEX_TABLE or name.startswith(INDEX_TABLE + "_")
