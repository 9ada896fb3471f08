"""Full-text search over the evidence library, the same to its callers on SQLite and PostgreSQL.

The index (`submission_search`, migration 0014) holds only what the library publishes: the
public name and the published wording of published submissions, kept in step by database
triggers. SQLite searches it with FTS5, PostgreSQL with a `tsvector` and its GIN index ('simple':
no stemming and no stop words on either, so both find the same), both through core.textsearch,
as the member directory is searched: what people type is folded (accents and case do not
count: "jose" finds José; the index folds the same letters, migration 0018) and cut into words
of letters and digits, so quotes, `*`, `OR`, `NEAR`, brackets or a NUL byte are only separators.
Every word must match the start of a word in the name or the text: "council" finds "councils",
and a word half typed finds the whole (searching as you type).
"""
import sqlalchemy as sa

from kil_network.core import textsearch
from kil_network.extensions import db

INDEX_TABLE = "submission_search"
words = textsearch.words  # a query's words, as every search of the app cuts them
MAX_WORDS, MAX_WORD = textsearch.MAX_WORDS, textsearch.MAX_WORD

_fts = sa.table(INDEX_TABLE, sa.column("rowid"), sa.column("name"), sa.column("body"))
_tsv = sa.table(INDEX_TABLE, sa.column("submission_id"), sa.column("document"))


def is_index_table(name: str) -> bool:
    """The search index and SQLite's FTS5 shadow tables: not models (autogenerate leaves them out)."""
    return name == INDEX_TABLE or name.startswith(INDEX_TABLE + "_")


def search_submissions(q: str):
    """Ids of the published submissions matching `q`, with a rank (higher is better), as a subquery
    with columns `id` and `rank`; None when `q` holds no word (nothing to search for)."""
    terms = textsearch.words(q)
    if not terms:
        return None
    if textsearch.is_postgresql(db.session.get_bind()):
        query = textsearch.tsquery(terms)
        return (sa.select(_tsv.c.submission_id.label("id"), sa.func.ts_rank_cd(_tsv.c.document, query).label("rank"))
                .where(_tsv.c.document.op("@@")(query)).subquery("search"))
    bm25 = sa.func.bm25(sa.literal_column(INDEX_TABLE), 2.0, 1.0)  # the name counts twice the text
    return (sa.select(_fts.c.rowid.label("id"), (-bm25).label("rank"))
            .where(textsearch.fts5_match(INDEX_TABLE, terms)).subquery("search"))
