"""full-text search over the evidence library

Revision ID: 0014_evidence_search
Revises: 0013_trust

`submission_search` holds, for each *published* written submission only (consent to publish,
reviewed or featured), its public name and its published wording (staff's redacted text, or the
text as sent): never a private submission, never the words a redaction removed, never an email.
Database triggers keep it in step with `submissions` on every insert, update and delete, whatever
code writes the row (the review, the account eraser, the bulk loader, a test's clean-up).

- SQLite: an FTS5 virtual table (unicode61: words of letters and digits, case and diacritics
  folded) whose rowid is the submission's id.
- PostgreSQL: a table of `tsvector`s (the 'simple' configuration: words lower-cased, no stemming
  and no stop words, as on SQLite; the name weighted A, the text B) with a GIN index, filled by a
  PL/pgSQL trigger function; rows go with their submission (FK ON DELETE CASCADE).

No stemming on either: every word searched for matches the start of a word (evidence.search), so
"council" finds "councils" and a half-typed "procurem" finds "procurement", which a stemmed index
("procur") would not while the word is being typed.

The table is not an ORM model: `kil_network/evidence/search.py` queries it, and migrations/env.py
leaves it out of autogenerate (`flask db check`).

NOTE for later migrations: on SQLite, `batch_alter_table('submissions')` recreates the table and
drops its triggers: such a migration must run `create_sqlite_triggers()` again afterwards.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014_evidence_search'
down_revision = '0013_trust'
branch_labels = None
depends_on = None

# What is published (the same rule as services.library) and what of it is searched.
PUBLISHED = "{row}.publication <> 'private' AND {row}.status IN ('reviewed', 'featured')"
PUBLIC_NAME = ("CASE WHEN {row}.publication = 'named' THEN {row}.name || CASE WHEN {row}.organisation <> '' "
               "THEN ', ' || {row}.organisation ELSE '' END ELSE '' END")
WORDING = "coalesce({row}.published_text, {row}.text)"
WATCHED = "name, organisation, publication, status, text, published_text"


def _sql(template: str, row: str) -> str:
    return template.format(row=row)


def create_sqlite_triggers():
    insert = ("INSERT INTO submission_search (rowid, name, body) SELECT new.id, {name}, {body} WHERE {published};"
              .format(name=_sql(PUBLIC_NAME, "new"), body=_sql(WORDING, "new"), published=_sql(PUBLISHED, "new")))
    op.execute(f"CREATE TRIGGER submission_search_insert AFTER INSERT ON submissions BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER submission_search_update AFTER UPDATE OF {WATCHED} ON submissions BEGIN "
               f"DELETE FROM submission_search WHERE rowid = old.id; {insert} END")
    op.execute("CREATE TRIGGER submission_search_delete AFTER DELETE ON submissions BEGIN "
               "DELETE FROM submission_search WHERE rowid = old.id; END")


def _pg_document(row: str) -> str:
    return (f"setweight(to_tsvector('simple', {_sql(PUBLIC_NAME, row)}), 'A') || "
            f"setweight(to_tsvector('simple', {_sql(WORDING, row)}), 'B')")


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE submission_search USING fts5("
                   "name, body, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')")
        create_sqlite_triggers()
        op.execute("INSERT INTO submission_search (rowid, name, body) SELECT s.id, {name}, {body} "
                   "FROM submissions s WHERE {published}".format(
                       name=_sql(PUBLIC_NAME, "s"), body=_sql(WORDING, "s"), published=_sql(PUBLISHED, "s")))
        return
    op.execute("CREATE TABLE submission_search ("
               "submission_id INTEGER NOT NULL, document TSVECTOR NOT NULL, "
               "CONSTRAINT pk_submission_search PRIMARY KEY (submission_id), "
               "CONSTRAINT fk_submission_search_submission_id_submissions FOREIGN KEY (submission_id) "
               "REFERENCES submissions (id) ON DELETE CASCADE)")
    op.execute("CREATE INDEX ix_submission_search_document ON submission_search USING gin (document)")
    op.execute(f"""
CREATE FUNCTION submission_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM submission_search WHERE submission_id = NEW.id;
    IF {_sql(PUBLISHED, "NEW")} THEN
        INSERT INTO submission_search (submission_id, document) VALUES (NEW.id, {_pg_document("NEW")});
    END IF;
    RETURN NULL;
END
$$""")
    op.execute(f"CREATE TRIGGER submission_search_refresh AFTER INSERT OR UPDATE OF {WATCHED} ON submissions "
               "FOR EACH ROW EXECUTE FUNCTION submission_search_refresh()")
    op.execute(f"INSERT INTO submission_search (submission_id, document) SELECT s.id, {_pg_document('s')} "
               f"FROM submissions s WHERE {_sql(PUBLISHED, 's')}")


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS submission_search_{name}")
        op.execute("DROP TABLE IF EXISTS submission_search")
        return
    op.execute("DROP TRIGGER IF EXISTS submission_search_refresh ON submissions")
    op.execute("DROP FUNCTION IF EXISTS submission_search_refresh()")
    op.execute("DROP TABLE IF EXISTS submission_search")
