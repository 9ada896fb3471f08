"""Property-based fuzzing of every form the app accepts (Hypothesis).

Each POST route in the URL map is either fuzzed here (FORM_SPECS, BODYLESS_SPECS) or listed in
NOT_FUZZED with a reason; a completeness test keeps that true. For every generated submission:

- the app never answers with a 5xx (in tests exceptions propagate, so a crash fails loudly);
- an invalid submission (a 4xx, the form back with its error summary, an error notice, or a
  redirect carrying an error flash) writes nothing: the row count of every table (reference data
  included) and every row outside the reference data are as they were;
- no NUL character is ever stored (PostgreSQL refuses them in text);
- markup typed into a field never comes back raw, on the response or on the page a redirect leads to.

Hypothesis draws, per field: a valid value, empty, one character, the field's limit and one past it,
~100k characters, emoji/RTL/combining marks, NUL and other control characters, HTML and SQL
fragments, odd numbers and dates, missing, or repeated; uploads get random bytes and wrong types.

Runs a bounded, derandomized number of examples (CI on SQLite and PostgreSQL). For a longer
exploratory run: HYPOTHESIS_PROFILE=explore (200 examples per form) or FUZZ_EXAMPLES=<n>.
"""
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kil_network.core.timeutil import to_london, utcnow
from kil_network.extensions import db
from tests.support.app import clean_tables

_EXPLORE = os.environ.get("HYPOTHESIS_PROFILE") == "explore"
FORM_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or (200 if _EXPLORE else 12))
BODYLESS_EXAMPLES = max(3, FORM_EXAMPLES // 4)  # per route


def _settings(examples: int):
    """Deterministic settings: fixtures are shared by the examples of one test, so no health check on that."""
    return settings(max_examples=examples, deadline=None, derandomize=not _EXPLORE, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


# --- Strategies ------------------------------------------------------------------------------

MISSING = object()  # the field is left out of the posted form

# Markup that must never come back unescaped; no runs of spaces, so clean_line keeps them whole.
XSS = ["<script>alert(1)</script>", "<img/src/onerror=alert(1)>", "\"><svg/onload=alert(1)>",
       "'><b>kil-fuzz</b>", "<iframe/src=javascript:alert(1)>"]
SQL = ["' OR '1'='1", "'; DROP TABLE users; --", "1; SELECT pg_sleep(0)--", "\" OR 1=1 --",
       "%' AND 1=0 UNION SELECT 1--"]
ODD = ["{{7*7}}", "${7*7}", "%s%n%x", "../../etc/passwd", "\\x00", "null", "None", "true", "[]", "{}",
       "0", "-1", "1e309", "NaN", "99999999999999999999", "-99999999999999999999", "2147483648", "1.5",
       "١٢", "Ⅻ", "１２", " 12 ", "\u00a0", "\ufeff", "\u200f\u202eevil", "e\u0301\u0302\u0303", "👩🏽‍💻🏳️‍🌈",
       "مرحبا بالعالم", "שלום", "日本語のテキスト", "\x00", "a\x00b", "\x00" * 3, "\x07\x08\x1b[31m", "\r\n\r\n",
       "\t", "\x7f", "\u2028\u2029", "Z̴̡̧a̸l̷g̶o̵"]
CHARS = st.characters(exclude_categories=("Cs",))  # lone surrogates cannot be sent as form data
CONTROL = st.characters(min_codepoint=0, max_codepoint=0x1F)


def fuzz_text(max_len: int | None = None):
    """Text a person (or an attacker) might type: odd, long, hostile or empty."""
    options = [
        st.just(""),
        st.text(CHARS, min_size=1, max_size=1),
        st.text(CHARS, max_size=40),
        st.text(CONTROL, min_size=1, max_size=5),
        st.sampled_from(XSS + SQL + ODD),
        st.builds(lambda a, b, c: a + b + c, st.text(CHARS, max_size=8), st.sampled_from(XSS + SQL + ODD),
                  st.text(CHARS, max_size=8)),
        st.just("x" * 100_000),
        st.just("é" * 5000 + "<script>alert(1)</script>"),
    ]
    if max_len:
        options += [st.sampled_from(["a" * max_len, "a" * (max_len + 1), "👍" * max_len, "👍" * (max_len + 1),
                                     " " * max_len + "b", "<b>" + "a" * max_len])]
    return st.one_of(*options)


class F:
    """A field's strategies: its valid value(s), and everything else (fuzz, missing, repeated)."""

    def __init__(self, valid: st.SearchStrategy, bad: st.SearchStrategy):
        """Keep both strategies."""
        self.valid, self.bad = valid, bad


def value(valid, max_len: int | None = None, extra=()):
    """A field value: a valid one, otherwise fuzz, missing, or repeated."""
    valid_st = valid if isinstance(valid, st.SearchStrategy) else st.just(valid)
    fuzz = fuzz_text(max_len)
    if extra:
        fuzz = st.one_of(fuzz, st.sampled_from(list(extra)))
    return F(valid_st,
             st.one_of(fuzz, fuzz, st.just(MISSING), st.lists(st.one_of(valid_st, fuzz), min_size=2, max_size=3)))


def choice(valid, options, max_len: int | None = None):
    """A select/radio value: the valid one, another real option, or fuzz."""
    bad = value(valid, max_len, extra=options).bad
    return F(st.just(valid), st.one_of(st.sampled_from(list(options)), bad))


def tick(default=True):
    """A checkbox: ticked ('y') or not (missing) are both valid; fuzz otherwise."""
    return F(st.sampled_from(["y", MISSING]) if not default else st.just("y"),
             st.sampled_from([MISSING, "n", "false", "0", "", "on", "\x00", "y" * 1000]))


NUMBERISH = ["0", "-1", "-5000", "1", "5000", "5001", "10", "100", "101", "99999999999999999999", "2147483648",
             "1e3", "12.5", "１２", "١٢", "0x10", "+5", " 7 ", "", "seven"]


def number(valid):
    """A number field: valid, edge numbers, numbers written oddly, text."""
    return value(valid, extra=NUMBERISH)


DAYS = ["0", "1", "29", "30", "31", "32", "-1", "99999999999999999999", "١", "１", "1.5", "", "x", "\x00"]
MONTHS = ["0", "1", "2", "12", "13", "-1", "99999999999999999999", "٢", "", "Feb"]
YEARS = ["1899", "1900", "1999", "2000", "2100", "2101", "99999999999999999999", "-2027", "٢٠٢٧", "27", "", "\x00"]
TIMES = ["00:00", "23:59", "24:00", "12:60", "6pm", "13pm", "0am", "12am", "6.30pm", "18.30", "1830", "99", "",
         "noon", "18:30:00", "\x00", "١٨:٣٠"]


def when(name: str, valid_dt, with_time: bool = True):
    """The GOV.UK date parts `<name>-day` ... (and `-time`): valid, each part fuzzed, or all missing."""
    if valid_dt is None:
        base = {"day": "", "month": "", "year": ""}
        if with_time:
            base["time"] = ""
    else:
        local = to_london(valid_dt) if with_time else valid_dt
        base = {"day": str(local.day), "month": str(local.month), "year": str(local.year)}
        if with_time:
            base["time"] = local.strftime("%H:%M")
    pools = {"day": DAYS, "month": MONTHS, "year": YEARS, "time": TIMES}
    parts = {part: st.one_of(st.just(v), st.sampled_from(pools[part]), fuzz_text(), st.just(MISSING))
             for part, v in base.items()}
    return F(st.just({f"{name}-{p}": v for p, v in base.items()}),
             st.one_of(st.fixed_dictionaries({f"{name}-{p}": s for p, s in parts.items()}), st.just({})))


def fields(**specs: F):
    """Form data from named fields (a dict value is a group of fields).

    Half the examples are a valid form with one field spoiled (so the rules behind a
    well-formed post are reached too), a quarter mix valid and bad values field by field, a quarter are valid."""
    names = sorted(specs)
    valid = st.fixed_dictionaries({n: specs[n].valid for n in names})
    mixed = st.fixed_dictionaries({n: st.one_of(specs[n].valid, specs[n].bad) for n in names})
    one_bad = st.sampled_from(names).flatmap(lambda bad: st.fixed_dictionaries(
        {n: (specs[n].bad if n == bad else specs[n].valid) for n in names}))
    combined = st.one_of(valid, one_bad, one_bad, mixed).map(_flatten)
    return F(valid.map(_flatten), combined)


def form(**specs: F) -> st.SearchStrategy:
    """The strategy of whole forms."""
    return fields(**specs).bad


def _flatten(drawn: dict) -> dict:
    """Merge groups, drop missing fields."""
    out = {}
    for name, v in drawn.items():
        if isinstance(v, dict):
            out.update({k: x for k, x in v.items() if x is not MISSING})
        elif v is not MISSING:
            out[name] = v
    return out


JUNK = st.dictionaries(st.sampled_from(["next", "back", "id", "user_id", "role", "status", "is_admin", "\x00",
                                        "a" * 300, "csrf_token[]", "<script>alert(1)</script>"]),
                       fuzz_text(), max_size=2)


def pdf(body: bytes = b"evidence") -> bytes:
    """A minimal file that passes the PDF signature check."""
    return b"%PDF-1.4\n" + body


def docx() -> bytes:
    """A minimal zip with the DOCX structure."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return out.getvalue()


UPLOADS = st.one_of(
    st.just(MISSING),
    st.tuples(st.sampled_from([b"", b"%PDF", b"PK\x03\x04", b"PK\x03\x04broken zip", b"\x00" * 64,
                               b"<script>alert(1)</script>",
                               b"MZ\x90\x00", b"\x89PNG\r\n\x1a\n"]),
                               st.sampled_from(["evidence.pdf", "x.docx", "a.exe"])),
    st.tuples(st.binary(max_size=300),
              st.sampled_from(["evidence.pdf", "", "../../evil.pdf", "<script>.pdf", "ü\x00.odt"])),
    st.tuples(st.just(pdf()), st.sampled_from(["evidence.pdf", "evidence.txt", "\u202efdp.exe", "a" * 300 + ".pdf"])),
    st.tuples(st.just(docx()), st.just("evidence.docx")),
)


# --- The world each test posts into ------------------------------------------------------

class World(dict):
    """Ids and objects the URLs and valid values need (attribute access for brevity)."""

    __getattr__ = dict.__getitem__


PASSWORD = "correct horse battery"
SURVEY_ANSWERS = {
    "community": {"delivers": "yes", "council_role": "neither", "contract_size": "under_100k", "contract_length": "1_3",
                  "barriers": ["size"], "large_contracts": "", "what_would_help": ""},
    "council": {"delivers": "no", "delivered_before": "yes", "would_like": "no", "council_role": "councillor",
                "why_stopped": "Re-tendered.", "barriers": ["price"], "large_contracts": "",
                "commissioning_practice": "mixed", "what_would_help": ""},
}


def build_world(app, tmp_path, as_role, role: str) -> World:
    """Empty the tables, create everything the forms act on, sign the client in as `role`."""
    from werkzeug.datastructures import FileStorage

    from kil_network.auth.models import MemberType, Role
    from kil_network.councils import services as councils
    from kil_network.councils.models import SignedBy
    from kil_network.evidence import services as evidence
    from kil_network.evidence.models import Call, Publication
    from kil_network.members import services as member_services
    from kil_network.members.models import LocalAuthority, Region
    from kil_network.principles import moderation
    from kil_network.principles import services as principles
    from kil_network.principles.models import Principle, Stance
    from kil_network.workshops import services as workshops
    from kil_network.workshops.models import WorkshopFormat

    db.session.remove()
    clean_tables()
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    user = as_role(role)
    la = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == "E06000023"))
    other_la = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code != "E06000023")
                                 .order_by(LocalAuthority.name).limit(1))
    region = db.session.scalar(sa.select(Region).where(Region.name == "South West"))

    def member(email, **kw):
        """A confirmed member created with the services."""
        return member_services.create_member(
            name=kw.pop("name", email.split("@")[0].title()), email=email, password=PASSWORD,
            member_type=kw.pop("member_type", MemberType.COMMUNITY_ORGANISATION),
            organisation_name=kw.pop("organisation", "Listed Trust"), local_authority=kw.pop("la", la),
            consent_privacy=True, show_in_directory=True, role=kw.pop("role", Role.MEMBER), confirmed=True, **kw)

    organiser = member("organiser@example.org", role=Role.ADMIN, member_type=MemberType.OTHER, organisation="")
    listed = member("listed@example.org")
    target = member("target@example.org", organisation="Target Trust")
    officer = member("officer@example.org", member_type=MemberType.COUNCIL_OFFICER, la=other_la, organisation="")
    if role == "member":
        user.member_type = MemberType.COUNCILLOR  # may submit E06000023's pledge
    db.session.flush()

    start = utcnow() + timedelta(days=30)

    def workshop(title="Keep it Local in the South West", publish=True, round_=None):
        """A workshop a month from now."""
        w = workshops.create_workshop(organiser, {
            "title": title, "description": "Co-design the principles.", "region": region,
            "format": WorkshopFormat.IN_PERSON, "venue": "Community Hall", "address": "1 High Street, Bristol",
            "postcode": "BS1 1AA", "online_url": "", "starts_at": start, "ends_at": start + timedelta(hours=3),
            "registration_closes_at": start - timedelta(days=1), "capacity": 30, "mix_max_percent": None,
            "accessibility_info": "Step-free access.", "round": round_})
        if publish:
            workshops.publish_workshop(organiser, w)
        return w

    closed = principles.create_round(organiser, name="Round 1", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(organiser, closed)
    principles.close_round(organiser, closed)
    current = principles.create_round(organiser, name="Round 2", closes_at=utcnow() + timedelta(days=5))
    principles.open_round_for_votes(organiser, current)
    draft_round = principles.create_round(organiser, name="Round 3", closes_at=utcnow() + timedelta(days=40))
    main = workshop(round_=current)
    draft_workshop = workshop("A draft workshop", publish=False)
    reg = workshops.register(main, listed)
    draft = principles.drafts_of(current)[0]
    suggestion = principles.suggest(listed, draft, "Better words", "Clearer")
    moderation.approve(organiser, suggestion)  # published, so it can be endorsed
    comment = principles.cast_vote(listed, draft, Stance.AMEND, "Name small charities")  # awaiting moderation
    now = utcnow()
    call = Call(title="Call", introduction="Tell us.", opens_at=now - timedelta(days=1),
                survey_closes_at=now + timedelta(days=10), written_closes_at=now + timedelta(days=20))
    db.session.add(call)
    db.session.flush()
    submission = evidence.submit_evidence(
        call, name="Listed", email="listed@example.org", organisation="", respondent_type=MemberType.ACADEMIC,
        local_authority=None, topics=["trends"], text="Evidence.", publication=Publication.NAMED,
        upload=FileStorage(io.BytesIO(pdf()), filename="evidence.pdf"), user=listed)
    pledge = councils.submit_pledge(officer, other_la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=now.date() - timedelta(days=3), champions="Sam Jones")
    from kil_network.core.email import queue_email

    mail = queue_email("listed@example.org", "Hello", "reset_password", kind="reset", user=listed, user_obj=listed,
                       url="http://localhost/x")
    from kil_network.messages import services as messages

    message = messages.create_draft(organiser, {"subject": "News", "body": "Hello **all**.", "kind": "campaign",
                                                "audience": {}})
    db.session.flush()
    db.session.commit()
    return World(
        role=role, user=user, user_id=user.id if user else None, la=la, other_la=other_la, region=region,
        organiser=organiser, listed=listed, target=target, workshop=main, draft_workshop=draft_workshop,
        make_workshop=workshop, reg=reg, round=current, closed_round=closed, draft_round=draft_round,
        draft=draft, suggestion=suggestion, call=call, submission=submission, pledge=pledge, mail=mail,
        comment=comment, message=message,
        org_id=(user.organisation_id if user else None), start=start,
        round_drafts=[d.id for d in principles.drafts_of(draft_round)],
        principle_id=db.session.scalar(sa.select(Principle.id).order_by(Principle.number).limit(1)),
    )


# --- Before each example: put back what a successful example used up ----------------------

def fresh_workshop(world):
    """A new published workshop (registering or cancelling uses the old one up)."""
    world["target_workshop"] = world.make_workshop("Fresh workshop")
    db.session.commit()


def reset_member_password(world):
    """The signed-in member's password back to the known one."""
    from kil_network.auth.models import User
    from kil_network.auth.services import hash_password

    user = db.session.get(User, world.user_id)
    user.password_hash = hash_password(PASSWORD)
    db.session.commit()


def new_reset_token(world):
    """A fresh reset token for the listed member (a used one stops working)."""
    from kil_network.auth.services import make_reset_token

    world["token"] = make_reset_token(world.listed)
    db.session.commit()


def no_pledge_for_my_council(world):
    """Let the member's council pledge again."""
    from kil_network.councils.models import Pledge

    db.session.execute(sa.delete(Pledge).where(Pledge.local_authority_id == world.la.id))
    db.session.commit()


def pledge_pending(world):
    """The pledge under review is pending again."""
    from kil_network.councils.models import Pledge, PledgeStatus

    db.session.execute(sa.update(Pledge).where(Pledge.id == world.pledge.id).values(status=PledgeStatus.PENDING))
    db.session.commit()


def message_draft(world):
    """The staff message is a draft again (sending or scheduling moves it on)."""
    from kil_network.core.models import OutboxEmail
    from kil_network.messages.models import Message, MessageStatus

    db.session.execute(sa.delete(OutboxEmail).where(OutboxEmail.message_id == world.message.id))
    db.session.execute(sa.update(Message).where(Message.id == world.message.id)
                       .values(status=MessageStatus.DRAFT, scheduled_at=None, sent_at=None))
    db.session.commit()


def journey_for_staff(world):
    """The other council's assessment is submitted (waiting for staff), its named champion's name is on
    the record and its request to be introduced is waiting: made once per world, put back before each
    example (a review, a removal or a handled introduction uses them up)."""
    from kil_network.journey.models import (
        Assessment,
        AssessmentAnswer,
        AssessmentStatus,
        Champion,
        ChampionRole,
        PeerIntroduction,
    )
    from kil_network.principles import services as principles

    if "journey_assessment" not in world:
        round_ = principles.create_round(world.organiser, name="Journey round")
        drafts = principles.drafts_of(round_)
        assessment = Assessment(local_authority_id=world.other_la.id, round_id=round_.id, year=utcnow().year,
                                status=AssessmentStatus.SUBMITTED,
                                answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=2, evidence="E.",
                                                          action="A.") for d in drafts])
        champion = Champion(local_authority_id=world.other_la.id, role=ChampionRole.CABINET, name="Pat Lee")
        intro = PeerIntroduction(requested_by_id=world.listed.id, from_local_authority_id=world.other_la.id,
                                 to_local_authority_id=world.la.id, principle_number=2, message="Hello.")
        db.session.add_all([assessment, champion, intro])
        db.session.flush()
        world["journey_assessment"], world["journey_champion"], world["journey_intro"] = (
            assessment.id, champion.id, intro.id)
    db.session.execute(sa.update(Assessment).where(Assessment.id == world.journey_assessment).values(
        status=AssessmentStatus.SUBMITTED, accepted_at=None, reviewed_at=None, review_comments=""))
    db.session.execute(sa.update(Champion).where(Champion.id == world.journey_champion).values(
        name="Pat Lee", job_title="Head of Procurement", erased_at=None, ended_at=None))
    db.session.execute(sa.update(PeerIntroduction).where(PeerIntroduction.id == world.journey_intro).values(
        handled_at=None, handled_by_id=None))
    db.session.commit()


def journey_for_member(world):
    """Bristol (the member's council; they are its councillor) with a verified pledge, this year's
    draft self-assessment, a named champion and an invitation for the member to be its senior
    management champion: made once per world, put back before each example."""
    from kil_network.councils import services as councils
    from kil_network.councils.models import PledgeStatus, SignedBy
    from kil_network.journey import services as journey
    from kil_network.journey.models import Assessment, AssessmentAnswer, AssessmentStatus, Champion, ChampionRole
    from kil_network.principles import services as principles

    if "journey_draft" not in world:
        pledge = councils.submit_pledge(world.user, world.la, signed_by=SignedBy.CABINET_DECISION,
                                        signatories="Cabinet", pledged_on=utcnow().date(), champions="Sam Jones")
        councils.review_pledge(world.organiser, pledge, PledgeStatus.VERIFIED)
        drafts = principles.drafts_of(world.closed_round)
        draft = Assessment(local_authority_id=world.la.id, round_id=world.closed_round.id, year=utcnow().year,
                           answers=[AssessmentAnswer(draft_id=d.id, number=d.number) for d in drafts])
        named = Champion(local_authority_id=world.la.id, role=ChampionRole.CABINET, name="Jo Director")
        invited = Champion(local_authority_id=world.la.id, role=ChampionRole.SENIOR_MANAGEMENT, user_id=world.user.id,
                           invited_at=utcnow())
        db.session.add_all([draft, named, invited])
        db.session.flush()
        world["journey_draft"], world["journey_named"] = draft.id, named.id
        world["journey_invited"], world["journey_token"] = invited.id, journey.champion_token(invited)
    db.session.execute(sa.update(Assessment).where(Assessment.id == world.journey_draft).values(
        status=AssessmentStatus.DRAFT, submitted_at=None, published_at=None))
    db.session.execute(sa.update(Champion).where(Champion.id == world.journey_named).values(ended_at=None))
    db.session.execute(sa.update(Champion).where(Champion.id == world.journey_invited).values(
        ended_at=None, accepted_at=None, invited_at=utcnow()))
    db.session.commit()


def assessment_fields(w):
    """The self-assessment form: a level, evidence and an action for each of the six principles."""
    specs = {"action": choice("save", ["check", "", "publish"])}
    for n in range(1, 7):
        specs[f"level_{n}"] = choice(str(1 + n % 4), ["", "0", "5", "x", "99999999999999999999"])
        specs[f"evidence_{n}"] = value(f"Our board minutes {n}: https://example.org/{n}", 4000)
        specs[f"action_{n}"] = value(f"Action {n}", 1000)
    return fields(**specs)


def message_fields(w):
    """The compose form: words, kind, and every audience filter (multi-selects fuzzed as lists)."""
    ids = st.lists(st.sampled_from([str(w.region.id), "0", "-1", "x", "99999999999999999999", "\x00", ""]),
                   max_size=3)
    return fields(
        subject=value("Round 2 is open", 200), body=value("Hello **all**. <script>alert(1)</script>", 20000),
        kind=choice("campaign", ["service", "spam", ""]),
        member_types=F(st.just(["councillor"]), st.lists(st.sampled_from(["councillor", "nope", "\x00"]), max_size=3)),
        regions=F(st.just([str(w.region.id)]), ids), councils=F(st.just([str(w.la.id)]), ids),
        workshops=F(st.just([str(w.workshop.id)]), ids),
        attendance=F(st.just(["attended"]), st.lists(st.sampled_from(["no_show", "bogus", ""]), max_size=3)),
        round=choice(str(w.round.id), ["", "0", "99999999999999999999"]),
        voted=choice("voted", ["not_voted", "", "bogus"]), calls=F(st.just([str(w.call.id)]), ids))


def target_status(status: str):
    """Before each example: the member staff act on is active (to suspend) or suspended (to reactivate)."""
    def seed(world):
        """Set the status."""
        from kil_network.auth.models import Status, User

        db.session.execute(sa.update(User).where(User.id == world.target.id).values(status=Status(status)))
        db.session.commit()
    return seed


def in_the_room(world):
    """The main workshop's live voting is open and this browser opened its live page just now."""
    import time

    from kil_network.workshops.models import Workshop

    db.session.execute(sa.update(Workshop).where(Workshop.id == world.workshop.id).values(live_voting=True))
    db.session.commit()
    with world.client.session_transaction() as session:
        session["room_presence"] = {"workshop": world.workshop.id, "at": int(time.time())}


def link_sent(world):
    """A sign-in code and link just emailed to the listed member from the main workshop's live page."""
    from kil_network.auth import services as auth_services

    in_the_room(world)
    _, world["link_token"] = auth_services.issue_sign_in_code(world.listed, "sign_in", world.workshop.id)
    db.session.commit()


def survey_draft(preset: str):
    """Before each example: the member's survey answers so far (every question answered)."""
    def seed(world):
        """Save the answers."""
        from kil_network.evidence import services as evidence

        evidence.save_member_answers(world.call, world.user, {**SURVEY_ANSWERS[preset], "region": str(world.region.id)})
        db.session.commit()
    return seed


# --- What each POST route is fed -------------------------------------------------------------

@dataclass
class Spec:
    """One POST route: who posts, where, and the form data strategy."""

    rule: str
    role: str
    url: Callable[[World], str]
    data: Callable[[World], st.SearchStrategy] = lambda w: st.just({})
    before_each: Callable[[World], None] | None = None
    upload: bool = False
    token_from: Callable[[World], str] = lambda w: "/"
    name: str = ""
    notes: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A readable test id."""
        return self.name or self.rule


def profile_fields(w, with_join=False):
    """The profile fields (and the join extras)."""
    from kil_network.auth.models import MemberType

    spec = dict(
        name=value("Ada Lovelace", 120), member_type=choice("community_organisation", [m.value for m in MemberType]),
        organisation=value("Riverside Community Trust", 160),
        local_authority=choice("E06000023", ["E06000001", "", "W06000001"]),
        job_title=value("Director", 120), region=choice(str(w.region.id), ["", "0", "1", "99999999999999999999"]),
        involvement=value("Workshops and evidence.", 2000), consent_marketing=tick(False),
        show_in_directory=tick(False),
    )
    if with_join:
        spec.update(email=value(st.sampled_from(["new@example.org", "listed@example.org", "NEW2@Example.org"]), 254,
                                extra=["a@b", "@example.org", "a@b.c\x00", "x" * 250 + "@e.org", "ü@exämple.org"]),
                    password=value(PASSWORD, 128), consent_privacy=tick())
    return fields(**spec)


def workshop_fields(w):
    """Everything on the staff workshop form."""
    from kil_network.workshops.models import WorkshopFormat

    start = w.start + timedelta(days=7)
    return fields(
        title=value("A new workshop", 160), description=value("What we will do.", 5000),
        region=choice(str(w.region.id), ["", "0", "99999999999999999999"]),
        format=choice("in_person", [f.value for f in WorkshopFormat]), venue=value("Hall", 160),
        address=value("1 High Street", 300),
        postcode=value("BS1 1AA", 10, extra=["SW1A1AA", "sw1a 1aa", "GIR0AA", "ZZ99 9ZZ"]),
        online_url=value("", 500,
                         extra=["https://meet.example.org/x", "javascript:alert(1)", "http://", "https://a b"]),
        starts_at=when("starts_at", start), ends_at=when("ends_at", start + timedelta(hours=2)),
        registration_closes_at=when("registration_closes_at", start - timedelta(days=1)),
        capacity=number("30"), mix_max_percent=number(""), accessibility_info=value("Step-free.", 2000),
        round=choice("", [str(w.round.id), str(w.closed_round.id), "99999999999999999999", "-1"]),
    )


def call_fields(w):
    """The staff call-for-evidence form."""
    now = utcnow()
    return fields(
        title=value("A call", 200), introduction=value("Tell us.", 5000), asks=value("", 5000),
        opens_at=when("opens_at", now + timedelta(days=1)),
        survey_closes_at=when("survey_closes_at", now + timedelta(days=9)),
        written_closes_at=when("written_closes_at", None),
    )


def round_fields(w, with_drafts=False):
    """The staff round form (with the six drafts while it is a draft)."""
    from kil_network.principles.models import Eligibility

    spec = dict(
        name=value("Round 4", 120), introduction=value("", 3000),
        opens_at=when("opens_at", None), closes_at=when("closes_at", utcnow() + timedelta(days=20)),
        eligibility=choice("members", [e.value for e in Eligibility]),
    )
    if with_drafts:
        for i, draft_id in enumerate(w.round_drafts):
            spec[f"d{i}"] = fields(**{
                f"drafts-{i}-draft_id": value(str(draft_id),
                                              extra=[str(w.draft.id), "99999999999999999999", "١", "-1"]),
                f"drafts-{i}-title": value(f"Principle {i}", 200), f"drafts-{i}-text": value("Text.", 3000),
                f"drafts-{i}-what_changed": value("", 2000)})
    return fields(**spec)


def evidence_fields(w):
    """The written evidence form."""
    from kil_network.auth.models import MemberType
    from kil_network.evidence.models import TOPICS, Publication

    return fields(
        name=value("Ada", 120), email=value("ada@example.org", 254, extra=["a@b", "ada@example.org\x00"]),
        organisation=value("", 160), respondent_type=choice("academic", [m.value for m in MemberType]),
        local_authority=choice("", ["E06000023", "nope"]),
        topics=F(st.sampled_from([["trends"], ["trends", "scale_fail"]]),
                 st.one_of(st.lists(st.sampled_from(list(TOPICS) + ["bogus", "", "\x00"]), max_size=5), fuzz_text())),
        text=value("My evidence.", 20000), publication=choice("named", [p.value for p in Publication]),
        file=F(st.sampled_from([MISSING, (pdf(), "evidence.pdf"), (docx(), "evidence.docx")]), UPLOADS),
        file_may_publish=tick(False),
    )


def _survey_question(w):
    """A survey question page: any question id, an answer of any shape."""
    return st.fixed_dictionaries({"answer": st.one_of(
        st.sampled_from(["yes", "no", "neither", "councillor", "commissioning", "under_100k", "1_3", "size", "none",
                         "mixed", str(w.region.id)]),
        fuzz_text(3000), st.just(MISSING),
        st.lists(st.sampled_from(["size", "price", "none", "bogus", "", "\x00", "<script>alert(1)</script>"]),
                 min_size=2, max_size=4))}).map(_flatten)


SURVEY_IDS = ["delivers", "delivered_before", "would_like", "council_role", "contract_size", "contract_length",
              "why_stopped", "barriers", "large_contracts", "commissioning_practice", "what_would_help", "region"]


FORM_SPECS = [
    Spec("/auth/join", "anonymous", lambda w: "/auth/join", lambda w: profile_fields(w, with_join=True)),
    Spec("/auth/login", "anonymous", lambda w: "/auth/login", lambda w: fields(
        email=value(st.sampled_from(["listed@example.org", "LISTED@example.org", "nobody@example.org"]), 254),
        password=value(PASSWORD, 128), remember=tick(False))),
    Spec("/auth/reset", "anonymous", lambda w: "/auth/reset", lambda w: fields(
        email=value(st.sampled_from(["listed@example.org", "nobody@example.org"]), 254,
                    extra=["a@", "listed@example.org\x00"]))),
    Spec("/auth/reset/<token>", "anonymous", lambda w: f"/auth/reset/{w.token}",
         lambda w: fields(password=value("a brand new password", 128)), before_each=new_reset_token),
    Spec("/account/", "member", lambda w: "/account/", profile_fields),
    Spec("/account/password", "member", lambda w: "/account/password", lambda w: fields(
        current_password=value(PASSWORD, 128), new_password=value(PASSWORD, 128)), before_each=reset_member_password),
    Spec("/account/email", "member", lambda w: "/account/email", lambda w: fields(
        email=value(st.sampled_from(["changed@example.org", "listed@example.org"]), 254),
        password=value(PASSWORD, 128))),
    Spec("/account/delete", "member", lambda w: "/account/delete", lambda w: fields(
        password=value(PASSWORD, 128, extra=["wrong password"]),
        confirm=tick(False))),
    Spec("/account/notifications", "member", lambda w: "/account/notifications", lambda w: fields(
        notifications=F(st.sampled_from([[], ["round_open"], ["round_open", "pledge_decided", "evidence_published"]]),
                        st.one_of(st.lists(st.sampled_from(["round_open", "bogus", "", "\x00"]), max_size=5),
                                  fuzz_text())),
        consent_marketing=tick(False))),
    Spec("/organisations/<int:org_id>/edit", "member", lambda w: f"/organisations/{w.org_id}/edit", lambda w: fields(
        name=value("Riverside Community Trust", 160), org_type=choice("charity", ["cic", "other", "bogus"]),
        charity_number=value("1234567", extra=["123456-12", "12345", "123456789"]),
        company_number=value("", extra=["01234567", "ce001234", "CE00123"]),
        local_authority=choice("E06000023", ["", "nope"]))),
    Spec("/staff/workshops/new", "admin", lambda w: "/staff/workshops/new", workshop_fields),
    Spec("/staff/workshops/<int:workshop_id>/edit", "admin", lambda w: f"/staff/workshops/{w.workshop.id}/edit",
         workshop_fields),
    Spec("/staff/workshops/<int:workshop_id>/cancel", "admin",
         lambda w: f"/staff/workshops/{w.target_workshop.id}/cancel",
         lambda w: fields(reason=value("The venue flooded.", 1000), confirm=choice("1", ["", "0", "yes"]),
                          change=choice("", ["1"])), before_each=fresh_workshop),
    # Decisions that cannot be undone: only confirm=1 acts; anything else shows the "are you sure?" page.
    Spec("/workshops/<int:workshop_id>/cancel", "member", lambda w: f"/workshops/{w.workshop.id}/cancel",
         lambda w: fields(confirm=choice("1", ["", "0", "yes", "1\x00"]))),
    Spec("/staff/rounds/<int:round_id>/close", "admin", lambda w: f"/staff/rounds/{w.round.id}/close",
         lambda w: fields(confirm=choice("1", ["", "0", "yes"]))),
    Spec("/staff/rounds/<int:round_id>/adopt", "admin", lambda w: f"/staff/rounds/{w.closed_round.id}/adopt",
         lambda w: fields(confirm=choice("1", ["", "0", "yes"]))),
    # A ticket scanned or typed at the door: the code alone, the ticket URL, or anything else.
    Spec("/staff/workshops/<int:workshop_id>/scan", "admin", lambda w: f"/staff/workshops/{w.workshop.id}/scan",
         lambda w: fields(code=value(st.sampled_from([w.reg.check_in_code, f"https://kil.example/t/{w.reg.check_in_code}"]),
                                     300, extra=["/t/", "/t/?#", "https://kil.example/t/" + "x" * 70]),
                          confirm=choice("1", ["", "0", "yes"]))),
    Spec("/staff/workshops/<int:workshop_id>/walk-in", "admin", lambda w: f"/staff/workshops/{w.workshop.id}/walk-in",
         lambda w: fields(name=value("Walk In", 120),
                          email=value(st.sampled_from(["walkin@example.org", "listed@example.org"]), 254,
                                      extra=["a@", "@"]),
                          member_type=choice("academic", ["", "councillor", "bogus"]))),
    Spec("/workshops/<int:workshop_id>/register", "member", lambda w: f"/workshops/{w.target_workshop.id}/register",
         lambda w: fields(access_needs=value("A hearing loop, please.", 1000)), before_each=fresh_workshop),
    Spec("/principles/drafts/<int:draft_id>/vote", "member", lambda w: f"/principles/drafts/{w.draft.id}/vote",
         lambda w: fields(stance=choice("support", ["amend", "oppose", "SUPPORT", ""]), comment=value("", 2000),
                          workshop=value("", extra=[str(w.workshop.id), "99999999999999999999", "-1", "١"]),
                          back=value("draft", extra=["", "//evil.example"]))),
    Spec("/principles/drafts/<int:draft_id>/suggestions", "member",
         lambda w: f"/principles/drafts/{w.draft.id}/suggestions",
         lambda w: fields(text=value("Keep services local.", 2000), reason=value("", 2000))),
    Spec("/evidence/calls/<int:call_id>/survey/<question_id>", "member",
         lambda w: f"/evidence/calls/{w.call.id}/survey/{w.question_id}", _survey_question,
         name="survey-question-member"),
    Spec("/evidence/calls/<int:call_id>/survey/<question_id>", "anonymous",
         lambda w: f"/evidence/calls/{w.call.id}/survey/{w.question_id}", _survey_question,
         name="survey-question-anonymous"),
    Spec("/evidence/calls/<int:call_id>/survey/check", "member", lambda w: f"/evidence/calls/{w.call.id}/survey/check",
         before_each=survey_draft("community")),
    Spec("/evidence/calls/<int:call_id>/submit", "anonymous", lambda w: f"/evidence/calls/{w.call.id}/submit",
         evidence_fields, upload=True, name="evidence-submit-anonymous"),
    Spec("/evidence/calls/<int:call_id>/submit", "member", lambda w: f"/evidence/calls/{w.call.id}/submit",
         evidence_fields, upload=True, name="evidence-submit-member"),
    Spec("/staff/evidence/<int:submission_id>", "admin",
         lambda w: f"/staff/evidence/{w.submission.id}", lambda w: fields(
        status=choice("reviewed", ["new", "featured", "rejected"]), tags=value("housing, care", 500),
        principles=F(st.sampled_from([MISSING, [str(w.principle_id)]]),
                     st.lists(st.sampled_from(["0", "-1", "x", "99999999999999999999", "2147483648", "١", "", "1.5"]),
                              min_size=1, max_size=3)),
        notes=value("", 5000), published_text=value("Evidence as staff publish it.", 20000),
        file_approved=tick(False))),
    Spec("/staff/evidence/calls/new", "admin", lambda w: "/staff/evidence/calls/new", call_fields),
    Spec("/staff/evidence/calls/<int:call_id>/edit", "admin", lambda w: f"/staff/evidence/calls/{w.call.id}/edit",
         call_fields),
    Spec("/councils/<gss_code>/pledge", "member", lambda w: "/councils/E06000023/pledge", lambda w: fields(
        signed_by=choice("cabinet_decision", ["leader_and_chief_executive", "bogus"]),
        signatories=value("Cllr Jane Smith", 300),
        pledged_on=when("pledged_on", utcnow().date() - timedelta(days=2), with_time=False),
        champions=value("Sam Jones", 1000), statement=value("", 2000)), before_each=no_pledge_for_my_council),
    Spec("/staff/pledges/<int:pledge_id>", "admin", lambda w: f"/staff/pledges/{w.pledge.id}",
         lambda w: fields(decision=choice("verified", ["rejected", "pending", "bogus"]), note=value("", 1000)),
         before_each=pledge_pending),
    # Staff review a submitted self-assessment: accept, or return with comments (required to return).
    Spec("/staff/councils/<gss_code>/assessments/<int:assessment_id>/review", "admin",
         lambda w: f"/staff/councils/{w.other_la.gss_code}/assessments/{w.journey_assessment}/review",
         lambda w: fields(decision=choice("accept", ["return", "accepted", ""]), comments=value("", 4000)),
         before_each=journey_for_staff),
    Spec("/staff/rounds/new", "admin", lambda w: "/staff/rounds/new", lambda w: round_fields(w)),
    Spec("/staff/rounds/<int:round_id>/edit", "admin", lambda w: f"/staff/rounds/{w.draft_round.id}/edit",
         lambda w: round_fields(w, with_drafts=True), name="round-edit-draft"),
    Spec("/staff/rounds/<int:round_id>/edit", "admin", lambda w: f"/staff/rounds/{w.round.id}/edit",
         lambda w: round_fields(w), name="round-edit-open"),
    Spec("/staff/suggestions/<int:suggestion_id>/respond", "admin",
         lambda w: f"/staff/suggestions/{w.suggestion.id}/respond", lambda w: fields(
             status=choice("accepted", ["partly", "not_taken", "rejected", "bogus"]),
             response_text=value("We changed the wording.", 2000))),
    # Moderation: a reason to hide a comment; staff's wording (and reason) for a suggestion.
    Spec("/staff/moderation/<item_kind>/<int:item_id>/hide", "admin",
         lambda w: f"/staff/moderation/comment/{w.comment.id}/hide",
         lambda w: fields(reason=value("Names a person.", 500), seen=value("", extra=["0" * 16, "\x00"]))),
    Spec("/staff/moderation/<item_kind>/<int:item_id>/redact", "admin",
         lambda w: f"/staff/moderation/suggestion/{w.suggestion.id}/redact",
         lambda w: fields(text=value("Better wording.", 2000), reason=value("", 2000),
                          seen=value("", extra=["0" * 16, "\x00"]))),
    Spec("/staff/members/<int:member_id>/role", "admin", lambda w: f"/staff/members/{w.target.id}/role",
         lambda w: fields(role=choice("staff", ["member", "admin", "superuser", "ADMIN"]))),
    # The workshop live page, signed out: the address (a member gets a code, anyone else the short join) ...
    Spec("/w/<int:workshop_id>/email", "anonymous", lambda w: f"/w/{w.workshop.id}/email", lambda w: fields(
        email=value(st.sampled_from(["listed@example.org", "LISTED@example.org", "new@example.org"]), 254,
                    extra=["a@b", "@example.org", "listed@example.org\x00", "x" * 250 + "@e.org"])),
         before_each=in_the_room),
    # ... and the short join (no password; the emailed code confirms it).
    Spec("/w/<int:workshop_id>/join", "anonymous", lambda w: f"/w/{w.workshop.id}/join", lambda w: fields(
        name=value("Nia Newcomer", 120),
        email=value(st.sampled_from(["new@example.org", "listed@example.org", "NEW2@Example.org"]), 254,
                    extra=["a@b", "@example.org", "a@b.c\x00", "x" * 250 + "@e.org", "ü@exämple.org"]),
        member_type=choice("community_organisation", ["councillor", "academic", "other", "", "bogus"]),
        organisation=value("Leeds Food Hub", 160), local_authority=choice("E06000023", ["", "E06000001", "nope"]),
        consent_privacy=tick(), consent_marketing=tick(False), show_in_directory=tick(False)),
         before_each=in_the_room),
    # ... then the button behind the emailed link (it signs in: the world is built again).
    Spec("/w/sign-in/<token>", "anonymous", lambda w: f"/w/sign-in/{w.link_token}", before_each=link_sent),
    Spec("/staff/members/<int:member_id>/suspend", "admin", lambda w: f"/staff/members/{w.target.id}/suspend",
         lambda w: fields(reason=value("Spam.", 300)), before_each=target_status("active")),
    Spec("/staff/messages/new", "admin", lambda w: "/staff/messages/new", message_fields),
    # The council journey (issue 15): the member is a councillor of Bristol (E06000023).
    Spec("/councils/<gss_code>/interest", "member", lambda w: "/councils/E06000023/interest",
         lambda w: fields(**{"interest-note": value("Cabinet report in March.", 1000)})),
    Spec("/councils/<gss_code>/endorsement", "member", lambda w: "/councils/E06000023/endorsement",
         lambda w: fields(**{"endorsement-link_url": value("https://example.org/decision", 500,
                                                          extra=["http://example.org", "https://", "javascript:x"]),
                             "endorsement-document": F(st.sampled_from([MISSING, (pdf(), "signed.pdf")]), UPLOADS)}),
         upload=True, before_each=journey_for_member),
    Spec("/councils/<gss_code>/champions", "member", lambda w: "/councils/E06000023/champions", lambda w: fields(**{
        "kind": choice("named", ["member", "", "bogus"]),
        "named-role": choice("cabinet", ["senior_management", "", "bogus"]), "named-name": value("Jo Director", 200),
        "named-job_title": value("", 200), "member-role": choice("cabinet", ["senior_management", ""]),
        "member-email": value("listed@example.org", 254, extra=["officer@example.org", "a@"])}),
        before_each=journey_for_member),
    Spec("/councils/<gss_code>/conversations", "member", lambda w: "/councils/E06000023/conversations",
         lambda w: fields(**{"conversation-workshop": value("", extra=[str(w.workshop.id), "99999999999999999999"]),
                             "conversation-held_on": when("conversation-held_on", utcnow().date() - timedelta(days=2),
                                                          with_time=False),
                             "conversation-title": value("Listening event", 200),
                             "conversation-summary": value("Forty people came.", 2000)})),
    Spec("/councils/<gss_code>/peers/introduce", "member", lambda w: "/councils/E06000023/peers/introduce",
         lambda w: fields(number=value("1", extra=["0", "99", "x", "99999999999999999999"]),
                          peer=value("E06000026", extra=["", "E06000023", "%00"]), message=value("", 1000))),
    Spec("/councils/<gss_code>/assessments/<int:assessment_id>", "member",
         lambda w: f"/councils/E06000023/assessments/{w.journey_draft}", assessment_fields,
         before_each=journey_for_member),
    Spec("/staff/messages/<int:message_id>", "admin", lambda w: f"/staff/messages/{w.message.id}", message_fields,
         before_each=message_draft),
    Spec("/staff/messages/<int:message_id>/schedule", "admin", lambda w: f"/staff/messages/{w.message.id}/schedule",
         lambda w: fields(send_at=when("send_at", utcnow() + timedelta(days=3))), before_each=message_draft),
]

# Routes whose only body is the CSRF token (plus, here, junk fields and a bad or missing token).
BODYLESS_SPECS = [
    Spec("/auth/logout", "member", lambda w: "/auth/logout"),
    Spec("/auth/logout-everywhere", "member", lambda w: "/auth/logout-everywhere"),
    Spec("/auth/confirm/resend", "unconfirmed", lambda w: "/auth/confirm/resend"),
    Spec("/account/workshops/calendar", "member", lambda w: "/account/workshops/calendar"),
    Spec("/principles/suggestions/<int:suggestion_id>/endorse", "member",
         lambda w: f"/principles/suggestions/{w.suggestion.id}/endorse"),
    Spec("/staff/members/<int:member_id>/reactivate", "admin", lambda w: f"/staff/members/{w.target.id}/reactivate",
         before_each=target_status("suspended")),
    Spec("/staff/outbox/<int:mail_id>/retry", "admin", lambda w: f"/staff/outbox/{w.mail.id}/retry"),
    Spec("/staff/moderation/<item_kind>/<int:item_id>/approve", "admin",
         lambda w: f"/staff/moderation/comment/{w.comment.id}/approve"),
    Spec("/staff/rounds/<int:round_id>/open", "admin", lambda w: f"/staff/rounds/{w.draft_round.id}/open"),
    Spec("/staff/rounds/<int:round_id>/reopen", "admin", lambda w: f"/staff/rounds/{w.closed_round.id}/reopen"),
    Spec("/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>", "admin",
         lambda w: f"/staff/workshops/{w.workshop.id}/attendance/{w.reg.id}"),
    Spec("/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>/undo", "admin",
         lambda w: f"/staff/workshops/{w.workshop.id}/attendance/{w.reg.id}/undo"),
    Spec("/staff/workshops/<int:workshop_id>/live", "admin", lambda w: f"/staff/workshops/{w.workshop.id}/live"),
    Spec("/staff/workshops/<int:workshop_id>/control", "admin", lambda w: f"/staff/workshops/{w.workshop.id}/control"),
    Spec("/staff/workshops/<int:workshop_id>/publish", "admin",
         lambda w: f"/staff/workshops/{w.draft_workshop.id}/publish"),
    Spec("/organisations/<int:org_id>/editors/request", "member",
         lambda w: f"/organisations/{w.org_id}/editors/request"),
    Spec("/organisations/<int:org_id>/editors/appoint", "admin",
         lambda w: f"/organisations/{w.org_id}/editors/appoint"),
    Spec("/staff/messages/<int:message_id>/test", "admin", lambda w: f"/staff/messages/{w.message.id}/test"),
    Spec("/staff/messages/<int:message_id>/send", "admin", lambda w: f"/staff/messages/{w.message.id}/send",
         before_each=message_draft),
    Spec("/staff/messages/<int:message_id>/cancel", "admin", lambda w: f"/staff/messages/{w.message.id}/cancel"),
    Spec("/councils/<gss_code>/champions/<int:champion_id>/end", "member",
         lambda w: f"/councils/E06000023/champions/{w.journey_named}/end", before_each=journey_for_member),
    Spec("/councils/champions/accept/<token>", "member", lambda w: f"/councils/champions/accept/{w.journey_token}",
         before_each=journey_for_member),
    Spec("/councils/<gss_code>/assessments/new", "member", lambda w: "/councils/E06000023/assessments/new",
         before_each=journey_for_member),
    Spec("/councils/<gss_code>/assessments/<int:assessment_id>/submit", "member",
         lambda w: f"/councils/E06000023/assessments/{w.journey_draft}/submit", before_each=journey_for_member),
    Spec("/councils/<gss_code>/assessments/<int:assessment_id>/publish", "member",
         lambda w: f"/councils/E06000023/assessments/{w.journey_draft}/publish", before_each=journey_for_member),
    Spec("/councils/<gss_code>/assessments/<int:assessment_id>/unpublish", "member",
         lambda w: f"/councils/E06000023/assessments/{w.journey_draft}/unpublish", before_each=journey_for_member),
    Spec("/staff/councils/<gss_code>/champions/<int:champion_id>/remove", "admin",
         lambda w: f"/staff/councils/{w.other_la.gss_code}/champions/{w.journey_champion}/remove",
         before_each=journey_for_staff),
    Spec("/staff/councils/introductions/<int:introduction_id>/handled", "admin",
         lambda w: f"/staff/councils/introductions/{w.journey_intro}/handled", before_each=journey_for_staff),
]

# POST routes deliberately not fuzzed here, with the reason.
NOT_FUZZED: dict[str, str] = {
    "/unsubscribe/<token>":
        "a signed token in the path and a bare button (or RFC 8058's fixed body); forged, malformed, NUL, "
        "20-digit and outdated tokens, repeats and junk bodies: tests/test_unsubscribe.py",
    "/evidence/confirm/<token>":
        "a signed token in the path and a bare button; bad, expired and repeated tokens: "
        "tests/test_hardening_evidence.py",
    "/organisations/<int:org_id>/editors/<int:row_id>/decide":
        "an id in the path and one choice; wrong, missing and repeated answers: tests/test_hardening_members.py",
    "/organisations/<int:org_id>/editors/<int:row_id>/remove":
        "an id in the path, no body; refused and repeated removals: tests/test_hardening_members.py",
    "/w/<int:workshop_id>/code":
        "one field, and a refused code writes on purpose (the wrong try counts), so the fuzzer's 'refused "
        "writes nothing' cannot hold; wrong, reused, expired, superseded and loosely typed codes: "
        "tests/test_room_code.py (test_wrong_codes_count_down_and_the_fifth_burns_it, "
        "test_a_wrong_code_says_how_many_tries_are_left, test_a_code_signs_in_once_and_only_hashes_are_kept, "
        "test_a_member_signs_in_by_emailed_code_and_lands_on_voting, test_an_expired_code_and_link_are_refused, "
        "test_a_new_code_supersedes_the_older_unused_one)",
    "/staff/workshops/<int:workshop_id>/attendance/sync":
        "a JSON body, not a form; not JSON, wrong shapes and types, NUL bytes, 20-digit ids, impossible "
        "dates, duplicates and oversized bodies: tests/test_checkin_sync.py",
}


# --- Checks -----------------------------------------------------------------------------------

REFERENCE_TABLES = {"regions", "local_authorities", "principles", "alembic_version"}


def snapshot() -> tuple[tuple, str, list[str]]:
    """Row counts of every table, a digest of every row outside the reference data, and the
    tables that hold a NUL character (PostgreSQL refuses them in text; none should be stored).

    Rows are read through the driver, without SQLAlchemy's type processing, to keep it quick."""
    tables = db.metadata.sorted_tables
    digest, nul = hashlib.sha256(), []
    with db.engine.connect() as conn:
        counts = tuple(conn.execute(sa.select(*[
            sa.select(sa.func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables])).one())
        for table in tables:
            if table.name in REFERENCE_TABLES:
                continue
            rows = conn.exec_driver_sql(f'SELECT * FROM "{table.name}"').fetchall()
            digest.update(f"{table.name}:{sorted(map(repr, rows))!r}".encode())
            if any(_has_nul(v) for row in rows for v in row):
                nul.append(table.name)
    return counts, digest.hexdigest(), nul


def _has_nul(v) -> bool:
    """A NUL in text, or escaped inside JSON (as SQLite keeps it, or as PostgreSQL's driver decodes it)."""
    if isinstance(v, str):
        return "\x00" in v or "\\u0000" in v
    if isinstance(v, (dict, list)):
        return "\\u0000" in json.dumps(v)
    return False


def stored_nul() -> list[str]:
    """Tables holding a NUL character anywhere in a row."""
    return snapshot()[2]


def flashed_categories(client) -> list[str]:
    """Categories of the messages flashed into the session (not yet shown)."""
    with client.session_transaction() as session:
        return [category for category, _ in session.get("_flashes", [])]


def typed_markup(data: dict) -> list[str]:
    """The XSS fragments present in the submitted values."""
    values = []
    for v in data.values():
        values.extend(v if isinstance(v, list) else [v])
    text = "\n".join(v if isinstance(v, str) else "" for v in values).lower()
    return [fragment for fragment in XSS if fragment.lower() in text]


def assert_escaped(body: str, fragments: list[str], where: str) -> None:
    """None of the typed fragments appears raw."""
    lower = body.lower()
    for fragment in fragments:
        assert fragment.lower() not in lower, f"unescaped {fragment!r} in {where}"


def is_invalid(response, body: str, flashes: list[str]) -> bool:
    """Did the app refuse the submission?"""
    if response.status_code >= 400:
        return True
    if "data-error-summary" in body or "notice--error" in body or "error" in flashes:
        return True
    location = response.headers.get("Location") or response.headers.get("HX-Redirect") or ""
    parts = urlsplit(location)
    return parts.path == "/auth/login" and "next=" in parts.query  # sent to sign in first


def submit(client, spec: Spec, world: World, data: dict, csrf: str, htmx: bool):
    """POST one example and check the three properties; returns whether it was refused."""
    url = spec.url(world)
    token = client.csrf_token(spec.token_from(world))
    payload = dict(data)
    if csrf == "valid":
        payload.setdefault("csrf_token", token)
    elif csrf == "bad":
        payload["csrf_token"] = token[:-2] + "xx"
    elif csrf == "repeated":
        payload["csrf_token"] = [token, "other"]
    for name, v in list(payload.items()):
        if isinstance(v, tuple):  # an upload
            payload[name] = (io.BytesIO(v[0]), v[1])
    headers = {"HX-Request": "true"} if htmx else {}
    before = snapshot()
    response = client.post(url, data=payload, headers=headers,
                           content_type="multipart/form-data" if spec.upload or htmx else None)
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:500]
    flashes = flashed_categories(client)
    invalid = is_invalid(response, body, flashes)
    after = snapshot()
    if invalid:
        assert after[:2] == before[:2], f"refused submission (status {response.status_code}) changed the database"
    assert not after[2], f"a NUL character was stored in {after[2]}"
    fragments = typed_markup(data)
    assert_escaped(body, fragments, url)
    location = response.headers.get("Location") or response.headers.get("HX-Redirect")
    if location and not urlsplit(location).netloc:
        followed = client.get(location)
        assert followed.status_code < 500
        assert_escaped(followed.get_data(as_text=True), fragments, location)
    return invalid


CSRF = st.sampled_from(["valid"] * 6 + ["missing", "bad", "repeated"])


class Runner:
    """Builds the world once per test; resets what a spec's examples use up."""

    def __init__(self, app, client, tmp_path, as_role, specs: list[Spec]):
        """Nothing is built until the first example."""
        self.app, self.client, self.tmp_path, self.as_role, self.specs = app, client, tmp_path, as_role, specs
        self.spec = specs[0]
        self.world = None
        self.outcomes = {True: 0, False: 0}

    def example(self, data: st.DataObject):
        """One example: (re)build if needed, draw the route (of a group) and the form, post it."""
        if len(self.specs) > 1:
            self.spec = data.draw(st.sampled_from(self.specs), "route")
        if self.world is None or self._signed_out():
            self.client.delete_cookie("session")
            self.client.delete_cookie("remember_token")
            self.world = build_world(self.app, self.tmp_path, self.as_role, self.spec.role)
            self.world["client"] = self.client  # for hooks that set up the session
        if self.spec.before_each:
            self.spec.before_each(self.world)
        if self.spec.name.startswith("survey-question"):
            self.world["question_id"] = data.draw(st.sampled_from(SURVEY_IDS + ["check", "bogus", "%00"]), "question")
            preset = data.draw(st.sampled_from(sorted(SURVEY_ANSWERS)), "preset")
            if self.spec.role == "member":
                survey_draft(preset)(self.world)
        strategy = self.spec.data(self.world)
        form = data.draw(strategy.bad if isinstance(strategy, F) else strategy, "form")
        form = {**data.draw(JUNK, "junk"), **form} if not form or data.draw(st.booleans(), "with junk") else form
        csrf = data.draw(CSRF, "csrf")
        htmx = data.draw(st.booleans(), "htmx")
        self.outcomes[submit(self.client, self.spec, self.world, form, csrf, htmx)] += 1

    def _signed_out(self) -> bool:
        """A previous example ended the session (sign-out, deleted account): start again."""
        if self.spec.role == "anonymous":
            with self.client.session_transaction() as session:
                return "_user_id" in session
        with self.client.session_transaction() as session:
            return "_user_id" not in session


def _run(app, client, tmp_path, as_role, specs, examples):
    """Run `examples` Hypothesis examples over the specs (all for one role)."""
    runner = Runner(app, client, tmp_path, as_role, specs)

    @_settings(examples)
    @given(data=st.data())
    def fuzz(data):
        """One example."""
        runner.example(data)

    fuzz()
    print(f"{[s.id for s in specs]}: {runner.outcomes[True]} refused, {runner.outcomes[False]} accepted")
    assert sum(runner.outcomes.values()) >= 1


@pytest.mark.parametrize("spec", FORM_SPECS, ids=[s.id for s in FORM_SPECS])
def test_form_survives_fuzzing(app, client, tmp_path, as_role, spec):
    """Random and hostile form data: never a 5xx, refused posts write nothing, markup escaped."""
    _run(app, client, tmp_path, as_role, [spec], FORM_EXAMPLES)


BODYLESS_ROLES = sorted({s.role for s in BODYLESS_SPECS})


@pytest.mark.parametrize("role", BODYLESS_ROLES)
def test_bodyless_posts_survive_fuzzing(app, client, tmp_path, as_role, role):
    """Token-only actions (one world per role) with junk fields and bad tokens: never a 5xx,
    refused posts write nothing."""
    specs = [s for s in BODYLESS_SPECS if s.role == role]
    _run(app, client, tmp_path, as_role, specs, BODYLESS_EXAMPLES * len(specs))


def test_every_post_route_is_fuzzed(app):
    """A POST route added without a spec (or a reason in NOT_FUZZED) fails here."""
    rules = {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    covered = {s.rule for s in FORM_SPECS + BODYLESS_SPECS} | NOT_FUZZED.keys()
    assert not rules - covered, f"fuzz these POST routes or list them in NOT_FUZZED: {sorted(rules - covered)}"
    assert not covered - rules, f"specs for routes the app no longer has: {sorted(covered - rules)}"


def test_survey_text_answer_drops_control_characters(app, client, tmp_path, as_role):
    """Found by fuzzing: a NUL typed into a survey text answer was stored in the member's draft."""
    from kil_network.evidence import services as evidence

    world = build_world(app, tmp_path, as_role, "member")
    survey_draft("council")(world)
    response = client.post(f"/evidence/calls/{world.call.id}/survey/why_stopped",
                           data={"answer": "Re-\x00tendered\x07 at scale", "csrf_token": client.csrf_token("/")})
    assert response.status_code == 302
    assert evidence.member_draft(world.call, world.user).answers["why_stopped"] == "Re-tendered at scale"
    assert not stored_nul()


@pytest.mark.parametrize("principle", ["99999999999999999999", "2147483648", "-1"])
def test_review_refuses_principle_ids_that_are_not_listed(app, client, tmp_path, as_role, principle):
    """Found by fuzzing: a principle id too big for an SQLite integer was a 500 on the review form."""
    world = build_world(app, tmp_path, as_role, "admin")
    before = snapshot()
    response = client.post(f"/staff/evidence/{world.submission.id}", data={
        "status": "reviewed", "principles": [principle], "csrf_token": client.csrf_token("/")})
    assert response.status_code == 200
    assert "Select principles from the list" in response.get_data(as_text=True)
    assert snapshot()[:2] == before[:2]


def test_anonymous_survey_answers_fit_in_a_cookie(app, client, tmp_path, as_role):
    """Found by fuzzing: a visitor's long text answers are kept on the server, so the cookie stays small."""
    import random
    import string

    world = build_world(app, tmp_path, as_role, "anonymous")
    token = client.csrf_token("/")
    rnd = random.Random(6)
    sizes, long_answers = [], {}
    for question, answer in [("delivers", "no"), ("delivered_before", "yes"), ("council_role", "neither"),
                             ("why_stopped", None), ("barriers", "size"), ("large_contracts", None)]:
        if answer is None:
            answer = long_answers[question] = "".join(rnd.choice(string.ascii_letters) for _ in range(3000))
        response = client.post(f"/evidence/calls/{world.call.id}/survey/{question}",
                               data={"answer": answer, "csrf_token": token})
        assert response.status_code == 302
        sizes.append(len(response.headers.get("Set-Cookie", "")))
    assert max(sizes) <= 4093, f"session cookie grew to {max(sizes)} bytes"
    # The long answers survived: going back to a question shows what was typed.
    for question in ("why_stopped", "large_contracts"):
        page = client.get(f"/evidence/calls/{world.call.id}/survey/{question}").get_data(as_text=True)
        assert long_answers[question][:300] in page, question


def test_the_checks_themselves_can_fail():
    """The escaping and NUL checks catch what they are for (so a passing fuzz run means something)."""
    data = {"name": "Ada<script>alert(1)</script>", "other": ["x", "'><b>kil-fuzz</b>"]}
    assert typed_markup(data) == ["<script>alert(1)</script>", "'><b>kil-fuzz</b>"]
    with pytest.raises(AssertionError):
        assert_escaped("<p>Ada<SCRIPT>alert(1)</script></p>", typed_markup(data), "page")
    assert_escaped("<p>Ada&lt;script&gt;alert(1)&lt;/script&gt; &#39;&gt;&lt;b&gt;kil-fuzz&lt;/b&gt;</p>",
                   typed_markup(data), "page")
    assert _has_nul("a\x00b") and _has_nul('{"a": "\\u0000"}') and _has_nul({"a": ["\x00"]})
    assert not _has_nul("plain") and not _has_nul(7)
