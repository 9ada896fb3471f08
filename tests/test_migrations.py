"""Alembic migrations run from empty on SQLite and PostgreSQL and match the models."""
import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from kil_network.evidence.search import is_index_table
from kil_network.extensions import db
from kil_network.members.search import is_index_table as is_member_index_table
from tests.support.app import PG_URL, make_app

SCRATCH_DB = f"kil_migrations_test_{os.getpid()}"  # one per test process: xdist runs several at once


def recreate_postgres_database(name: str) -> str:
    """Drop and create an empty PostgreSQL database next to the test one; return its URL."""
    import psycopg

    url = sa.engine.make_url(PG_URL)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    """Remove the scratch database."""
    import psycopg

    url = sa.engine.make_url(PG_URL)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_app(request, tmp_path):
    """An app bound to a brand-new, empty database (SQLite file or scratch PostgreSQL database)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    elif not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    else:
        url = recreate_postgres_database(SCRATCH_DB)
    app = make_app(url)
    with app.app_context():
        assert sa.inspect(db.engine).get_table_names() == []
        yield app
        db.session.remove()
        db.engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(SCRATCH_DB)


def table_names() -> set[str]:
    """Tables in the app's database now (fresh inspection)."""
    return set(sa.inspect(db.engine).get_table_names())


def scalar(sql: str):
    """One value from a SQL query."""
    with db.engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar()


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """As migrations/env.py: the search indexes (migrations 0014 and 0018) are not models."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (is_index_table(table or "") or is_member_index_table(table or ""))


def schema_differences() -> list:
    """What alembic autogenerate would change to make the database match the models."""
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False,
                                                         "include_object": include_object})
        return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_loads_reference_data(empty_db_app):
    """`flask db upgrade` on an empty database creates every model table and the ONS reference data."""
    upgrade()
    assert {t.name for t in db.metadata.sorted_tables} <= table_names()
    assert "alembic_version" in table_names()
    assert scalar("SELECT COUNT(*) FROM regions") == 10
    assert scalar("SELECT COUNT(*) FROM local_authorities") == 339
    assert scalar("SELECT COUNT(*) FROM local_authorities WHERE gss_code LIKE 'W%'") == 22
    assert scalar("SELECT name FROM regions WHERE code = 'W92000004'") == "Wales"
    assert scalar(
        "SELECT r.name FROM local_authorities la JOIN regions r ON r.id = la.region_id WHERE la.gss_code = 'E09000012'"
    ) == "London"
    assert scalar("SELECT COUNT(*) FROM users") == 0


def test_models_match_migrations(empty_db_app):
    """Autogenerate finds no difference between the models and the migrated schema."""
    upgrade()
    assert schema_differences() == []


def test_reference_ids_keep_working_after_upgrade(empty_db_app):
    """New rows in reference tables get fresh ids (PostgreSQL sequences were moved past the data)."""
    upgrade()
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO regions (code, name, itl1_code) VALUES ('X99999999', 'Test region', 'TLX')"))
    assert scalar("SELECT id FROM regions WHERE code = 'X99999999'") == 11


def test_downgrade_to_base_removes_every_table(empty_db_app):
    """Downgrading to base leaves no app tables; upgrading again works."""
    upgrade()
    downgrade(revision="base")
    assert table_names() - {"alembic_version"} == set()
    assert scalar("SELECT COUNT(*) FROM alembic_version") == 0
    upgrade()
    assert scalar("SELECT COUNT(*) FROM local_authorities") == 339


def test_db_upgrade_through_the_cli(empty_db_app):
    """The `flask db upgrade` and `flask db current` commands work on an empty database."""
    runner = empty_db_app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert scalar("SELECT COUNT(*) FROM regions") == 10
    head = scalar("SELECT version_num FROM alembic_version")
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert table_names() - {"alembic_version"} == set()
    assert head
