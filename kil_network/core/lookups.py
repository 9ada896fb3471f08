"""A row by its id through a statement built once per model.

`Session.get` builds a fresh statement (and its cache key) for every load it cannot answer from the
identity map, which a request's new session never can: about three times the cost of executing a
select built once, whose cache key SQLAlchemy memoizes (bench/profile_reads.py). The answer is the
same object `Session.get` would give (the identity map still holds one object per row).
"""
from typing import Any

import sqlalchemy as sa
from flask import abort

from kil_network.extensions import db

_BY_ID: dict[type, sa.Select] = {}


def by_id(model: type, ident: int):
    """The `model` row with this primary key, or None."""
    stmt = _BY_ID.get(model)
    if stmt is None:
        key: sa.Column[Any] = sa.inspect(model).primary_key[0]
        stmt = _BY_ID[model] = sa.select(model).where(key == sa.bindparam("ident", type_=key.type))
    return db.session.scalar(stmt, {"ident": ident})


def by_id_or_404(model: type, ident: int):
    """The `model` row with this primary key, or a 404."""
    row = by_id(model, ident)
    if row is None:
        abort(404)
    return row
