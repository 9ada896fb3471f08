"""Fixtures shared by the access and security matrices: rows for the URL placeholders.

Hundreds of matrix tests (a route for a role) start from the same rows: a world made once per
database per process and copied back for each test (tests/support/worlds.py).
"""
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfWriter
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import MemberType, User
from kil_network.core.timeutil import utcnow
from kil_network.evidence import services as evidence
from kil_network.evidence.models import Call, Publication, ReviewStatus
from kil_network.extensions import db
from kil_network.members import notifications
from kil_network.members import services as members
from kil_network.members.models import Region
from kil_network.principles import moderation
from kil_network.principles import services as principles
from kil_network.principles.models import Stance
from kil_network.workshops import services as workshops
from kil_network.workshops.models import WorkshopFormat
from tests.support.worlds import shared_world


@pytest.fixture
def ids(app, make_user, tmp_path, tmp_path_factory):
    """Ids for the URL placeholders: a listed member, their organisation, a workshop they registered for, …"""
    return dict(shared_world(app, "matrix", lambda uploads: _make_world(make_user), tmp_path, tmp_path_factory))


@pytest.fixture
def listed(ids):
    """The confirmed member who opted in to the directory (in `ids` as "listed")."""
    return db.session.get(User, ids["listed"])


def _make_world(make_user) -> dict:
    """The rows, made through the services as a person would make them."""
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
    principle_ids = _principles_ids(organiser, listed, workshop)
    evidence_ids = _evidence_ids(listed)
    message_ids = _message_ids(organiser, listed)
    journey_ids = _journey_ids(principle_ids["closed_round"], listed)
    db.session.commit()
    return {"listed": listed.id, "org": listed.organisation_id, "workshop": workshop.id, "reg": reg.id,
            "feed": listed.calendar_token, "unsubscribe": notifications.unsubscribe_token(listed),
            **organisations, **principle_ids, **evidence_ids, **message_ids, **journey_ids}


def _message_ids(organiser, member) -> dict:
    """"{message}": a staff message still a draft; "{update}": a campaign update the listed member was sent."""
    from kil_network.core.models import OutboxEmail
    from kil_network.messages import services as messages
    from kil_network.messages.models import Message, MessageKind, MessageStatus

    draft = messages.create_draft(organiser, {"subject": "News", "body": "Hello **all**.", "kind": "campaign",
                                              "audience": {}})
    sent = Message(subject="An update", body="What happened.", kind=MessageKind.CAMPAIGN, status=MessageStatus.SENT,
                   sent_at=utcnow(), recipient_count=1, created_by_id=organiser.id)
    db.session.add(sent)
    db.session.flush()
    db.session.add(OutboxEmail(to_address=member.email, subject=sent.subject, body_text="What happened.",
                               kind="campaign", user_id=member.id, status=OutboxEmail.SENT, message_id=sent.id))
    return {"message": draft.id, "update": sent.id}


def _journey_ids(round_id: int, member) -> dict:
    """"{assessment}": Bristol's (E06000023) draft self-assessment, which only its own councillors,
    officers and staff may see; "{champion}": its named cabinet champion; "{invited}": the listed
    member's invitation to be its senior management champion (post_ids signs its link)."""
    from kil_network.journey.models import Assessment, AssessmentAnswer, Champion, ChampionRole
    from kil_network.members.models import LocalAuthority
    from kil_network.principles.models import Round

    bristol = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == "E06000023"))
    drafts = principles.drafts_of(db.session.get(Round, round_id))
    assessment = Assessment(local_authority_id=bristol.id, round_id=round_id, year=utcnow().year,
                            answers=[AssessmentAnswer(draft_id=d.id, number=d.number) for d in drafts])
    champion = Champion(local_authority_id=bristol.id, role=ChampionRole.CABINET, name="Named Champion")
    invited = Champion(local_authority_id=bristol.id, role=ChampionRole.SENIOR_MANAGEMENT, user_id=member.id,
                       invited_at=utcnow())
    db.session.add_all([assessment, champion, invited])
    db.session.flush()
    return {"assessment": assessment.id, "champion": champion.id, "invited": invited.id}


def _organisation_ids(make_user) -> dict:
    """The organisation the signed-in roles of the matrices join (make_user's default): its editor
    (whoever created it earlier in `ids`) and a colleague's request to edit, waiting."""
    colleague = make_user(email="colleague@example.org", show_in_directory=False)
    org = colleague.organisation
    request = members.request_to_edit(colleague, org)
    db.session.flush()
    editor = next(row for row in org.editors if row.approved)
    return {"own_org": org.id, "org_editor": editor.id, "org_request": request.id}


def _principles_ids(organiser, member, workshop) -> dict:
    """A closed round and an open one (linked to the workshop) with a suggestion."""
    closed = principles.create_round(organiser, name="Round 1", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(organiser, closed)
    principles.close_round(organiser, closed)
    current = principles.create_round(organiser, name="Round 2", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(organiser, current)
    workshop.round_id = current.id
    draft = principles.drafts_of(current)[0]
    suggestion = principles.suggest(member, draft, "Better words", "Clearer")
    moderation.approve(organiser, suggestion)  # published: others may endorse it
    # "{comment}": a vote comment awaiting moderation (the queue's other kind).
    comment = principles.cast_vote(member, principles.drafts_of(current)[1], Stance.AMEND, "Name small charities")
    return {"round": current.id, "closed_round": closed.id, "draft": draft.id, "suggestion": suggestion.id,
            "comment": comment.id}


def _evidence_ids(member) -> dict:
    """An open call and a written submission with a PDF attached (into the world's UPLOAD_FOLDER)."""
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
    # "{published}": in the library, its document (a real PDF) published too.
    staff = db.session.scalar(sa.select(User).where(User.email == "organiser@example.org"))
    published = evidence.submit_evidence(
        call, name="Listed Person", email="listed@example.org", organisation="", respondent_type=MemberType.ACADEMIC,
        local_authority=None, topics=["trends"], text="Published evidence.", publication=Publication.NAMED,
        upload=FileStorage(io.BytesIO(real_pdf()), filename="published.pdf"), file_may_publish=True, user=member)
    evidence.review(staff, published, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="",
                    file_approved=True)
    return {"call": call.id, "submission": submission.id, "reference": submission.reference,
            "published": published.id}


def real_pdf(author: str = "") -> bytes:
    """A one-page PDF made with pypdf, with an /Author when one is given."""
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if author:
        writer.add_metadata({"/Author": author, "/Title": f"Report by {author}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
