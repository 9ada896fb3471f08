"""Worlds made once: rows many tests start from, made through the services once per database per
test process, then copied back for each later test.

Making a world through the services (members, workshops, rounds, evidence) costs 50-150 ms;
writing its copied rows back costs a few: one INSERT per table, parents first, into the tables
the previous test's clean emptied. Uploaded files are copied into the test's own folder, so a test
that deletes one harms no other. The ids a world's builder returns must be plain data (ints,
strings), never ORM objects: a later test loads what it needs by id.
"""
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from kil_network.extensions import db
from tests.support.app import REFERENCE_TABLES


@dataclass
class World:
    """A world as first made: what its builder returned, every row of every table, its uploads."""

    made: object
    rows: list[tuple[sa.Table, list[dict]]]
    uploads: Path


_WORLDS: dict[tuple[str, str], World] = {}  # (database URL, world name) -> the world made in this process


def shared_world(app, name: str, build: Callable[[Path], object], tmp_path: Path, tmp_path_factory):
    """The world `name` in the test's (empty) database: `build(uploads)` the first time, a copy after.

    `build` gets the folder for the world's uploads (UPLOAD_FOLDER is set to it while it runs);
    the test's UPLOAD_FOLDER is then its own copy, `tmp_path / "uploads"`."""
    key = (app.config["SQLALCHEMY_DATABASE_URI"], name)
    world = _WORLDS.get(key)
    if world is None:
        uploads = tmp_path_factory.mktemp(f"world-{name}")
        app.config["UPLOAD_FOLDER"] = str(uploads)
        made = build(uploads)
        db.session.commit()
        world = _WORLDS[key] = World(made, _copy_rows(), uploads)
    else:
        _write_rows(world.rows)
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    shutil.copytree(world.uploads, tmp_path / "uploads", dirs_exist_ok=True)
    return world.made


def _copy_rows() -> list[tuple[sa.Table, list[dict]]]:
    """Every row of every table but the reference data, parents first."""
    with db.engine.connect() as conn:
        return [(table, [dict(row) for row in conn.execute(sa.select(table)).mappings()])
                for table in db.metadata.sorted_tables if table.name not in REFERENCE_TABLES]


def _write_rows(rows) -> None:
    """Write the copied rows back into the emptied tables."""
    with db.engine.begin() as conn:
        for table, table_rows in rows:
            if table_rows:
                conn.execute(table.insert(), table_rows)
