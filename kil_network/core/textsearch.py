"""Text search that is the same on SQLite and PostgreSQL: one folding, one query language.

Every search index of the app (the member directory's `member_search`, the evidence library's
`submission_search`) is searched the same way: what people type is folded (`fold`: accents,
case and punctuation do not count) and cut into at most MAX_WORDS words of letters and digits;
every word must match the start of a word of the document (searching as you type: "smi" finds
Smith), all words must match (AND). What people type never reaches either database's query
language: only the folded words do, each one quoted (FTS5) or made of letters and digits only
(tsquery), so quotes, `*`, `OR`, `NEAR`, brackets or a NUL byte are only separators.

- SQLite: FTS5 (`unicode61 remove_diacritics 2`, prefix indexes of 2 and 3 characters); a
  query is `"word"* "word"*`, or `{column} : "word"*` per word to search one column only.
- PostgreSQL: a `tsvector` with a GIN index, the 'simple' configuration (no stemming, no stop
  words: the same words as FTS5); a query is `to_tsquery('simple', 'word:* & word:*')`, with a
  weight (`word:*A`) to search the column indexed with that weight only.

`matches` runs the same rule in Python, for lists already loaded (the check-in list of one
workshop), so a search finds the same people whether the database or the page answers it.
"""
import re
import unicodedata
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

MAX_WORDS = 12
MAX_WORD = 40
_WORD = re.compile(r"[^\W_]+")
# Apostrophes join a word ("O'Brien" is "obrien"); the index also holds the parts ("o", "brien").
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u02bc\u2018`\u00b4"))
_APOSTROPHES_SPACE = dict.fromkeys(_APOSTROPHES, " ")
# Latin letters with no Unicode decomposition that people type without their mark.
_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                          "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l", "ĸ": "k"})


def fold(text) -> str:
    """`text` as the indexes hold it: compatibility forms decomposed (NFKD), combining marks
    dropped, case folded, a few letters without a decomposition spelt plainly (ø o, æ ae, ł l),
    apostrophes removed, everything else that is not a letter or digit a space, spaces collapsed.

    "José Ñúñez-O'Brien" -> "jose nunez obrien"; "ZOË" -> "zoe"; "Straße" -> "strasse"."""
    text = unicodedata.normalize("NFKD", str(text or "").casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.translate(_LETTERS).translate(_APOSTROPHES)
    return " ".join(_WORD.findall(text))


def document(*parts) -> str:
    """The indexed text of `parts` (name, organisation, ...): folded, each word once, and a word
    with an apostrophe also in its parts ("O'Brien": "obrien o brien"), so both are found."""
    seen: dict[str, None] = {}
    for part in parts:
        if not part:
            continue
        seen.update(dict.fromkeys(fold(part).split()))
        if any(ord(c) in _APOSTROPHES for c in str(part)):
            seen.update(dict.fromkeys(fold(str(part).translate(_APOSTROPHES_SPACE)).split()))
    return " ".join(seen)


def words(q) -> list[str]:
    """The words of a query, folded: at most MAX_WORDS of at most MAX_WORD characters (a longer
    word still matches as the start of a longer one). An apostrophe separates ("o'brien": "o",
    "brien"), which finds what the indexes hold (`document`: "obrien o brien"; FTS5 and the
    'simple' parser split there too). Empty: nothing to search for."""
    text = str(q or "")[:2000].translate(_APOSTROPHES_SPACE)
    return [w[:MAX_WORD] for w in fold(text).split()][:MAX_WORDS]


def matches(terms: Sequence[str], *texts) -> bool:
    """Python's answer to the same search: every term starts a word of the folded `texts`."""
    have = document(*texts).split()
    return all(any(w.startswith(term) for w in have) for term in terms)


def fts5_query(terms: Sequence[str], column: str | None = None) -> str:
    """An FTS5 query: every term the start of a word (of `column` only, or of `{col col}`, if given)."""
    where = f"{{{column}}} : " if column else ""
    return " AND ".join(f'{where}"{t}"*' for t in terms)  # terms are letters and digits: no operator


def fts5_match(table: str, terms: Sequence[str], column: str | None = None, *, also: str = ""):
    """`table MATCH ...` for SQLite FTS5 (`fts5_query`), and the query `also` if given."""
    query = fts5_query(terms, column)
    return sa.literal_column(table).op("MATCH")(f"{query} AND {also}" if also else query)


def tsquery(terms: Sequence[str], weight: str = ""):
    """`to_tsquery('simple', ...)` for PostgreSQL: every term the start of a lexeme (of the
    lexemes of `weight` only, if given)."""
    return sa.func.to_tsquery(sa.literal_column("'simple'"), " & ".join(f"{t}:*{weight}" for t in terms))


def is_postgresql(bind) -> bool:
    """Does this engine or connection speak PostgreSQL (else SQLite)?"""
    return bind.dialect.name == "postgresql"


def chunks(items: Iterable, size: int) -> Iterable[list]:
    """`items` in lists of at most `size` (bulk inserts and IN lists of bounded length)."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
