"""Everything read from URLs and query strings goes through here: text without control
characters, numbers that fit an INTEGER column, choices from a list, real months and dates.

Routes never read `request.args` themselves. A control character (NUL, newline) is a 400:
nothing on the site sends one. Search text is cut to its field's length. A filter value that is not one
of its options (a 20-digit id, month 99, an unknown status) is the default, so the filter is
not applied, as for an old bookmark. A path segment with a control character matches no
route (404); an `<int:...>` segment must be ASCII digits within the INTEGER range.
"""
import re
from datetime import date

from flask import abort, request
from werkzeug.routing import IntegerConverter, PathConverter, UnicodeConverter, ValidationError

# The largest value of an INTEGER column on PostgreSQL (ids, page numbers and filters stay below it).
MAX_INT = 2**31 - 1
MAX_PAGE = 10_000


def int_arg(value) -> int | None:
    """A whole number written in ASCII digits that fits an INTEGER column, or None."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:  # int() refuses 4,300+ digits
        return None
    number = int(text)
    return number if number <= MAX_INT else None


def page_arg() -> int:
    """The ?page= number: 1 when missing or odd, never beyond MAX_PAGE."""
    return min(max(int_arg(request.args.get("page")) or 1, 1), MAX_PAGE)


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` in routes, limited to the INTEGER range and to ASCII digits (`\\d` would take
    "１" or "١"): a huge or odd id is a 404, not a database error."""

    regex = r"[0-9]+"
    signed_regex = r"-?[0-9]+"

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_INT)
        super().__init__(map, *args, **kwargs)


# C0 and C1 control characters (NUL, newlines, escapes): never in anything a page links to.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Invisible formatting (zero-width spaces, bidi overrides and isolates, BOM): dropped from text.
INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
DATE_YEARS = (1900, 2100)


def _raw(name: str, source=None) -> str:
    """The parameter as sent ("" when missing); a control character is a 400."""
    value = (request.args if source is None else source).get(name, "")
    if CONTROL.search(value):
        abort(400)
    return value


def has_arg(name: str) -> bool:
    """Is `name` in the query string at all (`?code=` with nothing typed is there)?"""
    return name in request.args


def text_arg(name: str, max_len: int = 200, *, source=None, lenient: bool = False) -> str:
    """Free text (a search box): invisible formatting dropped, spaces collapsed, at most `max_len`.

    A control character is a 400, or "" when `lenient` (for a value the visitor never typed,
    like ?next=, where a longer one is "" too rather than cut)."""
    value = (request.args if source is None else source).get(name, "")
    if CONTROL.search(value) or (lenient and len(value) > max_len):
        if lenient:
            return ""
        abort(400)
    return " ".join(INVISIBLE.sub("", value).split())[:max_len]


def list_arg(name: str, max_items: int = 100) -> list[str]:
    """Every value of a repeated parameter (a multi-select: ?region=1&region=2), stripped, at most
    `max_items` of them; a control character in any is a 400. Callers check each against its options."""
    values = request.args.getlist(name)
    if any(CONTROL.search(v) for v in values):
        abort(400)
    return [v.strip() for v in values[:max_items]]


def choice_arg(name: str, choices, default: str = "", *, source=None) -> str:
    """One of `choices` (a filter select); anything else is `default` (an old bookmark shows all)."""
    value = _raw(name, source).strip()
    return value if value in set(choices) else default


def id_arg(name: str, *, source=None) -> str:
    """An id from a filter select, as its ASCII digits; "" for none or for anything but 1..MAX_INT
    (a filter that cannot match is not applied). Kept as text so the select can mark its option."""
    number = int_arg(_raw(name, source))
    return str(number) if number else ""


def flag_arg(name: str) -> bool:
    """A ?name=1 switch: present and not empty."""
    return bool(_raw(name).strip())


def parse_month(text: str) -> tuple[int, int] | None:
    """'2027-03' -> (2027, 3); None unless it is a real month between 1900 and 2100."""
    match = MONTH_RE.match(text or "")
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (DATE_YEARS[0] <= year <= DATE_YEARS[1] and 1 <= month <= 12):
        return None
    return year, month


def month_arg(name: str = "month") -> str:
    """A real YYYY-MM month between 1900 and 2100; "" for none or anything else (month 99, a
    20-digit year): the filter is not applied."""
    value = _raw(name).strip()
    return value if parse_month(value) else ""


def parse_date(year, month, day, earliest: int = DATE_YEARS[0], latest: int = DATE_YEARS[1]) -> date | None:
    """A date from typed day, month and year (digits only), or None if it is not a real one.

    Never raises: 20-digit parts, 30 February and year 99999 are all None."""
    parts = [str(p or "").strip() for p in (year, month, day)]
    if not all(p.isdecimal() and len(p) <= 4 for p in parts):  # any script's digits, as int() reads them
        return None
    y, m, d = (int(p) for p in parts)
    if not earliest <= y <= latest:
        return None
    try:
        return date(y, m, d)
    except (ValueError, OverflowError):
        return None


class SafeStringConverter(UnicodeConverter):
    """The default `<name>` converter, refusing control characters (a 404, never a database error)."""

    def to_python(self, value: str) -> str:
        if CONTROL.search(value):
            raise ValidationError()
        return value


class SafePathConverter(PathConverter):
    """`<path:...>` refusing control characters."""

    def to_python(self, value: str) -> str:
        if CONTROL.search(value):
            raise ValidationError()
        return value
