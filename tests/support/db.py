"""Reading the database from a test: row counts and the SQL statements a block sends."""
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from kil_network.extensions import db


def count(model, *where) -> int:
    """How many rows of `model` match the conditions (all rows without any)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    """Collect every SQL statement sent through the app's engine inside the block."""
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)


def queries_for(client, url: str) -> int:
    """How many SQL statements one GET of `url` sends (after a warm-up request)."""
    client.get(url)
    with counting_queries() as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(statements)
