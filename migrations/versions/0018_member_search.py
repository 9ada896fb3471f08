"""member search index; the evidence library's index folds accents the same way

Revision ID: 0018_member_search
Revises: 0017_council_journey

Issue 14. `member_search` holds one row per member who is not deleted: `document` (their name,
organisation and council), `contact` (the words of their email address, for staff search
only), `listed` (shown in the directory) and `sort_name` (their name), the text folded in Python (accents, case and punctuation dropped: core.textsearch.fold) so SQLite
and PostgreSQL hold the same words. The app keeps it in step (members/search.py); this migration
builds it from the members already there.

- SQLite: an FTS5 table (rowid = the member's id; unicode61 remove_diacritics 2, prefix indexes of
  2 and 3 characters; the listing is the word "listed" in the column `flags`, so the directory's
  match and count never leave the FTS index; sort_name unindexed) and a trigger that drops a
  member's row with their `users` row.
- PostgreSQL: a table with a generated tsvector `terms` ('simple': document weighted A, contact B)
  and its GIN index, and indexes of names (listed members; all) for a page of many matches in
  name order; rows go with their member (ON DELETE CASCADE). No pg_trgm: the search is by
  the start of words (tsvector prefix queries use the GIN index from the first letter; trigram
  indexes need three).

The evidence library's index (`submission_search`, 0014, kept by database triggers) now folds the
letters the search folds: on PostgreSQL the trigger translates accented Latin letters to their
plain letters (the table is made from this migration's fold, so it is the same folding); on SQLite
FTS5's unicode61 already drops the marks, and the triggers spell out the few letters it keeps
(ø, æ, ß, ł ...). Both indexes are refilled.

NOTE for later migrations: on SQLite, `batch_alter_table('users')` recreates the table and drops
its trigger: run `_create_sqlite_user_trigger()`'s statement again afterwards (as 0014 says of
`submissions`). A change to the folding (core.textsearch.fold) needs a migration that rebuilds both
indexes (members.search.rebuild for this one).
"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018_member_search'
down_revision = '0017_council_journey'
branch_labels = None
depends_on = None

BATCH = 5_000

# --- The folding, as core.textsearch has it at this revision (migrations never import app code) ---
_WORD = re.compile(r"[^\W_]+")
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u02bc\u2018`\u00b4"))
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                          "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l", "ĸ": "k"})


def fold(text) -> str:
    text = unicodedata.normalize("NFKD", str(text or "").casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(_LETTERS).translate(_APOSTROPHES)
    return " ".join(_WORD.findall(text))


def document(*parts) -> str:
    seen: dict[str, None] = {}
    for part in parts:
        if not part:
            continue
        seen.update(dict.fromkeys(fold(part).split()))
        if any(ord(c) in _APOSTROPHES for c in str(part)):
            seen.update(dict.fromkeys(fold(str(part).translate(dict.fromkeys(_APOSTROPHES, " "))).split()))
    return " ".join(seen)


# --- member_search ------------------------------------------------------------------------------

def _backfill(bind) -> None:
    postgresql = bind.dialect.name == "postgresql"
    key = "user_id" if postgresql else "rowid"
    listing = "listed" if postgresql else "flags"
    index = sa.table("member_search", sa.column(key), sa.column("document"), sa.column("contact"),
                     sa.column(listing), sa.column("sort_name"))
    result = bind.execute(sa.text(
        "SELECT u.id, u.name, u.email, u.status, u.show_in_directory, u.email_confirmed_at, "
        "o.name AS organisation, la.name AS council FROM users u "
        "LEFT OUTER JOIN organisations o ON o.id = u.organisation_id "
        "LEFT OUTER JOIN local_authorities la ON la.id = u.local_authority_id "
        "WHERE u.status <> 'deleted' ORDER BY u.id"))
    while rows := result.fetchmany(BATCH):
        batch = []
        for r in rows:
            listed = r.status == "active" and bool(r.show_in_directory) and r.email_confirmed_at is not None
            batch.append({key: r.id, "document": document(r.name, r.organisation, r.council),
                          "contact": document(r.email), "sort_name": r.name,
                          listing: listed if postgresql else ("listed" if listed else "")})
        bind.execute(sa.insert(index), batch)


def _create_sqlite_user_trigger():
    op.execute("CREATE TRIGGER member_search_user_delete AFTER DELETE ON users BEGIN "
               "DELETE FROM member_search WHERE rowid = old.id; END")


# --- submission_search (0014) with the folding --------------------------------------------------

PUBLISHED = "{row}.publication <> 'private' AND {row}.status IN ('reviewed', 'featured')"
PUBLIC_NAME = ("CASE WHEN {row}.publication = 'named' THEN {row}.name || CASE WHEN {row}.organisation <> '' "
               "THEN ', ' || {row}.organisation ELSE '' END ELSE '' END")
WORDING = "coalesce({row}.published_text, {row}.text)"
WATCHED = "name, organisation, publication, status, text, published_text"
# Latin-1 Supplement and Latin Extended-A and -B: every letter that folds to something else.
_LATIN = [chr(c) for c in range(0xC0, 0x250)]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pg_fold(expr: str) -> str:
    """`expr` with every Latin letter that fold() changes replaced as fold() replaces it."""
    single = [(c, fold(c)) for c in _LATIN if len(fold(c)) == 1 and fold(c) != c]
    multi = [(c, fold(c)) for c in _LATIN if len(fold(c)) > 1]
    expr = f"translate({expr}, {_quote(''.join(c for c, _ in single))}, {_quote(''.join(f for _, f in single))})"
    for c, f in multi:
        expr = f"replace({expr}, {_quote(c)}, {_quote(f)})"
    return expr


# The letters of _LATIN that unicode61 keeps as they are (no canonical decomposition) and fold()
# spells otherwise, but for the rarest (SQLite's parser allows only so many nested calls).
_SQLITE_KEPT = "ÆæÐðØøÞþßĐđıŁłŒœ"


def _sqlite_fold(expr: str) -> str:
    """`expr` with the letters unicode61 keeps (it drops only the marks of canonical decompositions)
    spelt as fold() spells them."""
    for c in _SQLITE_KEPT:
        expr = f"replace({expr}, {_quote(c)}, {_quote(fold(c))})"
    return expr


def _identity(expr: str) -> str:
    return expr


def _sql(template: str, row: str, wrap) -> str:
    return wrap(template.format(row=row))


def _submission_sqlite_triggers(wrap) -> None:
    op.execute("DROP TRIGGER IF EXISTS submission_search_insert")
    op.execute("DROP TRIGGER IF EXISTS submission_search_update")
    insert = ("INSERT INTO submission_search (rowid, name, body) SELECT new.id, {name}, {body} WHERE {published};"
              .format(name=_sql(PUBLIC_NAME, "new", wrap), body=_sql(WORDING, "new", wrap),
                      published=PUBLISHED.format(row="new")))
    op.execute(f"CREATE TRIGGER submission_search_insert AFTER INSERT ON submissions BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER submission_search_update AFTER UPDATE OF {WATCHED} ON submissions BEGIN "
               f"DELETE FROM submission_search WHERE rowid = old.id; {insert} END")
    op.execute("DELETE FROM submission_search")
    op.execute("INSERT INTO submission_search (rowid, name, body) SELECT s.id, {name}, {body} "
               "FROM submissions s WHERE {published}".format(
                   name=_sql(PUBLIC_NAME, "s", wrap), body=_sql(WORDING, "s", wrap),
                   published=PUBLISHED.format(row="s")))


def _pg_document(row: str, wrap) -> str:
    return (f"setweight(to_tsvector('simple', {_sql(PUBLIC_NAME, row, wrap)}), 'A') || "
            f"setweight(to_tsvector('simple', {_sql(WORDING, row, wrap)}), 'B')")


def _submission_pg_function(wrap) -> None:
    op.execute(f"""
CREATE OR REPLACE FUNCTION submission_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM submission_search WHERE submission_id = NEW.id;
    IF {PUBLISHED.format(row="NEW")} THEN
        INSERT INTO submission_search (submission_id, document) VALUES (NEW.id, {_pg_document("NEW", wrap)});
    END IF;
    RETURN NULL;
END
$$""")
    op.execute("DELETE FROM submission_search")
    op.execute(f"INSERT INTO submission_search (submission_id, document) SELECT s.id, {_pg_document('s', wrap)} "
               f"FROM submissions s WHERE {PUBLISHED.format(row='s')}")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE member_search USING fts5("
                   "document, contact, flags, sort_name UNINDEXED, "
                   "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")
        _create_sqlite_user_trigger()
        _backfill(bind)
        _submission_sqlite_triggers(_sqlite_fold)
        return
    op.execute("CREATE TABLE member_search ("
               "user_id INTEGER NOT NULL, document TEXT NOT NULL, contact TEXT NOT NULL, "
               "listed BOOLEAN NOT NULL, sort_name TEXT NOT NULL, "
               "terms TSVECTOR GENERATED ALWAYS AS (setweight(to_tsvector('simple', document), 'A') || "
               "setweight(to_tsvector('simple', contact), 'B')) STORED, "
               "CONSTRAINT pk_member_search PRIMARY KEY (user_id), "
               "CONSTRAINT fk_member_search_user_id_users FOREIGN KEY (user_id) "
               "REFERENCES users (id) ON DELETE CASCADE)")
    _backfill(bind)
    op.execute("CREATE INDEX ix_member_search_terms ON member_search USING gin (terms)")
    # A page of many matches in name order, without sorting them all (the planner's choice).
    op.execute("CREATE INDEX ix_member_search_listed_name ON member_search (sort_name, user_id) WHERE listed")
    op.execute("CREATE INDEX ix_member_search_name ON member_search (sort_name, user_id)")
    op.execute("ANALYZE member_search")
    _submission_pg_function(_pg_fold)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS member_search_user_delete")
        op.execute("DROP TABLE IF EXISTS member_search")
        _submission_sqlite_triggers(_identity)
        return
    op.execute("DROP TABLE IF EXISTS member_search")
    _submission_pg_function(_identity)
