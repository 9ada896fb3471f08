"""Numbers read from URLs and query strings, kept within what the database can compare."""
from flask import request
from werkzeug.routing import IntegerConverter

# The largest value of an INTEGER column on PostgreSQL (ids, page numbers and filters stay below it).
MAX_INT = 2**31 - 1
MAX_PAGE = 10_000


def int_arg(value) -> int | None:
    """A whole number written in ASCII digits that fits an INTEGER column, or None."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= MAX_INT else None


def page_arg() -> int:
    """The ?page= number: 1 when missing or odd, never beyond MAX_PAGE."""
    return min(max(int_arg(request.args.get("page")) or 1, 1), MAX_PAGE)


class DatabaseIntConverter(IntegerConverter):
    """`<int:...>` in routes, limited to the INTEGER range: a huge id is a 404, not a database error."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_INT)
        super().__init__(map, *args, **kwargs)
