"""Fixtures shared by the access and security matrices: rows for the URL placeholders.

Hundreds of matrix tests (a route for a role) start from the same rows. They are made through the
services once per database per test process, copied, and written back for each later test (one
INSERT per table: about 5 ms where building them cost about 120 ms); the uploaded file is copied
into the test's own folder, so a test that deletes it harms no other test.
"""
import shutil
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth.models import User
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from tests.support.app import REFERENCE_TABLES


@dataclass
class World:
    """The matrices' rows as first made: their ids, every row of every table, the upload folder."""

    ids: dict
    rows: list[tuple[sa.Table, list[dict]]]
    uploads: str


_WORLDS: dict[str, World] = {}  # database URL -> the rows made for it in this process


@pytest.fixture
def ids(app, make_user, tmp_path, tmp_path_factory):
    """Ids for the URL placeholders: a listed member, their organisation, a workshop they registered for, …"""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    world = _WORLDS.get(url)
    if world is None:
        made = _make_world(app, make_user, tmp_path_factory.mktemp("world-uploads"))
        world = _WORLDS[url] = World(made, _copy_rows(), app.config["UPLOAD_FOLDER"])
    else:
        _write_rows(world.rows)
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    shutil.copytree(world.uploads, app.config["UPLOAD_FOLDER"], dirs_exist_ok=True)
    return dict(world.ids)


@pytest.fixture
def listed(ids):
    """The confirmed member who opted in to the directory (in `ids` as "listed")."""
    return db.session.get(User, ids["listed"])


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


def _make_world(app, make_user, uploads) -> dict:
    """The rows, made through the services as a person would make them."""
    from kil_network.workshops import services as workshops
    from kil_network.workshops.models import WorkshopFormat

    listed = make_user(email="listed@example.org", name="Listed Person", show_in_directory=True,
                       organisation="Listed Person's Own Trust")
    organiser = make_user(email="organiser@example.org", role="staff")
    start = utcnow() + timedelta(days=30)
    workshop = workshops.create_workshop(organiser, {
        "title": "Keep it Local in the South West", "description": "Co-design the principles.",
        "region": db.session.scalar(sa.select(Region).where(Region.name == "South West")),
        "format": WorkshopFormat.IN_PERSON, "venue": "Community Hall", "address": "1 High Street, Bristol",
        "postcode": "BS1 1AA", "online_url": "", "starts_at": start, "ends_at": start + timedelta(hours=3),
        "registration_closes_at": start - timedelta(days=1), "capacity": 30, "mix_max_percent": None,
        "accessibility_info": "Step-free access.",
    })
    workshops.publish_workshop(organiser, workshop)
    reg = workshops.register(workshop, listed)
    listed.calendar_token = "feed-" + "x" * 40
    organisations = _organisation_ids(make_user)
    principles = _principles_ids(organiser, listed, workshop)
    evidence = _evidence_ids(app, listed, uploads)
    db.session.commit()
    return {"listed": listed.id, "org": listed.organisation_id, "workshop": workshop.id, "reg": reg.id,
            "feed": listed.calendar_token, **organisations, **principles, **evidence}


def _organisation_ids(make_user) -> dict:
    """The organisation the signed-in roles of the matrices join (make_user's default): its editor
    (whoever created it earlier in `ids`) and a colleague's request to edit, waiting."""
    from kil_network.members import services as members

    colleague = make_user(email="colleague@example.org", show_in_directory=False)
    org = colleague.organisation
    request = members.request_to_edit(colleague, org)
    db.session.flush()
    editor = next(row for row in org.editors if row.approved)
    return {"own_org": org.id, "org_editor": editor.id, "org_request": request.id}


def _principles_ids(organiser, member, workshop) -> dict:
    """A closed round and an open one (linked to the workshop) with a suggestion."""
    from kil_network.principles import services as principles

    closed = principles.create_round(organiser, name="Round 1", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(organiser, closed)
    principles.close_round(organiser, closed)
    current = principles.create_round(organiser, name="Round 2", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(organiser, current)
    workshop.round_id = current.id
    draft = principles.drafts_of(current)[0]
    suggestion = principles.suggest(member, draft, "Better words", "Clearer")
    return {"round": current.id, "closed_round": closed.id, "draft": draft.id, "suggestion": suggestion.id}


def _evidence_ids(app, member, uploads) -> dict:
    """An open call and a written submission with a PDF attached."""
    import io

    from werkzeug.datastructures import FileStorage

    from kil_network.auth.models import MemberType
    from kil_network.evidence import services as evidence
    from kil_network.evidence.models import Call, Publication

    app.config["UPLOAD_FOLDER"] = str(uploads)
    now = utcnow()
    call = Call(title="Call", introduction="Tell us.", opens_at=now - timedelta(days=1),
                survey_closes_at=now + timedelta(days=10), written_closes_at=now + timedelta(days=20))
    db.session.add(call)
    db.session.flush()
    upload = FileStorage(io.BytesIO(b"%PDF-1.4 evidence"), filename="evidence.pdf")
    submission = evidence.submit_evidence(
        call, name="Listed Person", email="listed@example.org", organisation="", respondent_type=MemberType.ACADEMIC,
        local_authority=None, topics=["trends"], text="Evidence.", publication=Publication.NAMED, upload=upload,
        user=member)
    return {"call": call.id, "submission": submission.id, "reference": submission.reference}
