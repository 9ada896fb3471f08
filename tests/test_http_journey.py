"""The council journey over HTTP (kil_network/journey/routes.py): the /councils/ overview, a
council's public page, its journey page and forms, champions accepting by email, the yearly
self-assessment (start, save as draft, check answers, submit, publish) and peer introductions,
for every role: anonymous, unconfirmed, a member of another council (or a member who is not a
councillor or officer), a councillor of the council, a champion and staff. Bad GSS codes, other
councils' ids, 20-digit ids and NUL bytes are 404s; every refusal keeps what was typed and
changes nothing."""
import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from markupsafe import Markup
from pypdf import PdfReader, PdfWriter

from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.journey import services as journey
from kil_network.journey.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentStatus,
    Champion,
    ChampionRole,
    CommunityConversation,
    CouncilEndorsement,
    CouncilInterest,
    PeerIntroduction,
)
from kil_network.members.models import LocalAuthority
from kil_network.principles import services as principles
from tests.support.ids import real_pdf
from tests.support.post_matrix import changes, snapshot, words
from tests.support.principles import open_round

# The pages read every council's journey facts (grouped and IN queries) and lock nothing: both databases.
pytestmark = pytest.mark.both_databases

BRISTOL, CARDIFF, PLYMOUTH = "E06000023", "W06000015", "E06000026"
PASSWORD = "correct horse battery"
PDF = real_pdf()  # a document whose author metadata evidence.scrub can strip
SUMMARY = "data-error-summary"
ROLES = ("anonymous", "unconfirmed", "other", "community", "cllr", "champion", "staff")


def council(gss_code: str) -> LocalAuthority:
    """The local authority with this GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


@pytest.fixture
def people(app, make_user):
    """Staff; a councillor, an officer (who becomes champion) and a community member of Bristol; a
    councillor of Cardiff; an unconfirmed Bristol councillor."""
    return {
        "staff": make_user(email="staff@example.org", role="staff", member_type="other", organisation=""),
        "cllr": make_user(email="cllr@example.org", name="Cllr Ada Byron", member_type="councillor",
                          organisation="", gss_code=BRISTOL),
        "champion": make_user(email="champion@example.org", name="Olu Officer", member_type="council_officer",
                              organisation="", gss_code=BRISTOL),
        "community": make_user(email="community@example.org", name="Cat Community", gss_code=BRISTOL),
        "other": make_user(email="other@example.org", name="Cllr Cai Jones", member_type="councillor",
                           organisation="", gss_code=CARDIFF),
        "unconfirmed": make_user(email="new@example.org", name="Una New", member_type="councillor",
                                 organisation="", gss_code=BRISTOL, confirmed=False),
    }


@pytest.fixture
def clients(app, people):
    """A test client signed in as each role (anonymous: none)."""
    out = {}
    for role in ROLES:
        client = app.test_client()
        if role != "anonymous":
            response = client.post_form("/auth/login", {"email": f"{people[role].email}", "password": PASSWORD})
            assert response.status_code == 302, role
        out[role] = client
    return out


def adopt(staff):
    """Open, close and adopt a round of six drafts (committed)."""
    round_ = open_round(staff, name="Round 1: first drafts")
    principles.close_round(staff, round_)
    principles.adopt_round(staff, round_)
    db.session.commit()
    return round_


def endorsed(people):
    """Bristol: a verified pledge with its endorsement link, the officer as the accepted cabinet
    champion and a named senior manager; the adopted round (committed)."""
    la = council(BRISTOL)
    adopt(people["staff"])
    pledge = councils.submit_pledge(people["cllr"], la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="")
    councils.review_pledge(people["staff"], pledge, PledgeStatus.VERIFIED)
    journey.set_endorsement(people["cllr"], la, link_url="https://bristol.example.org/cabinet/2025-03-27")
    invited = journey.appoint_champion(people["cllr"], la, ChampionRole.CABINET, member=people["champion"])
    db.session.commit()
    journey.accept_champion(people["champion"], journey.champion_token(invited))
    journey.appoint_champion(people["cllr"], la, ChampionRole.SENIOR_MANAGEMENT, name="Jo Director",
                             job_title="Director of Communities")
    db.session.commit()
    return la


def answers_form(assessment, *, level="3", evidence="Our partnership board (https://example.org/board).",
                 action="Pool the early help budget.", **extra):
    """A complete assessment form post."""
    data = {}
    for a in assessment.answers:
        data.update({f"level_{a.number}": level, f"evidence_{a.number}": f"{evidence} P{a.number}",
                     f"action_{a.number}": action})
    return {**data, **extra}


def started(people, la):
    """This year's assessment, started by the councillor (committed)."""
    a = journey.start_assessment(people["cllr"], la)
    db.session.commit()
    return a


def accepted(people, la, *, publish=True, levels=None):
    """This year's assessment filled in, submitted, accepted and (by default) published (committed)."""
    a = started(people, la)
    journey.save_answers(people["cllr"], a, {n.number: {"level": (levels or {}).get(n.number, 2),
                                                        "evidence": f"Evidence {n.number}", "action": "Act"}
                                             for n in a.answers})
    journey.submit_assessment(people["champion"], a)
    journey.accept_assessment(people["staff"], a, "Well evidenced.")
    if publish:
        journey.publish_assessment(people["champion"], a)
    db.session.commit()
    return a


def body(response) -> str:
    """The response's HTML."""
    return response.get_data(as_text=True)


# --- The overview and the public council page ------------------------------------------------

def test_overview_counts_councils_at_each_stage_per_region(client, people):
    """/councils/: a table of every region with the number of its councils at each stage; the
    pledged councils listed under their region as before."""
    endorsed(people)
    db.session.add(CouncilInterest(local_authority_id=council(CARDIFF).id, user_id=people["other"].id))
    db.session.commit()
    response = client.get("/councils/")
    assert response.status_code == 200
    html = body(response)
    rows = {m[0]: [int(n) for n in re.findall(r'<td class="table__numeric">(\d+)</td>', m[1])]
            for m in re.findall(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', html)}
    south_west, wales = rows["South West"], rows["Wales"]
    total_sw = db.session.scalar(sa.select(sa.func.count()).select_from(LocalAuthority)
                                 .where(LocalAuthority.region_id == council(BRISTOL).region_id))
    # Not started, interested, endorsed, champions, conversation, assessed, re-assessed, councils.
    assert south_west == [total_sw - 1, 0, 0, 1, 0, 0, 0, total_sw]
    assert wales[1] == 1 and wales[0] == wales[-1] - 1
    assert "Champions appointed" in html and "Community conversation held" in html
    text = words(response)
    assert "1 council in England and Wales has pledged" in text and "South West (1)" in text
    assert f'href="/councils/{BRISTOL}"' in html


def test_public_council_page_shows_stages_and_the_published_assessment_with_a_chart(client, people):
    """The public page: stages reached; the published assessment's level per principle, a chart
    (SVG, role=img with title and desc) and the same figures in a data table; nothing of an
    unpublished one."""
    la = endorsed(people)
    a = accepted(people, la, publish=False, levels={1: 1, 2: 4})
    page = words(client.get(f"/councils/{BRISTOL}"))
    assert "Current stage: Champions appointed" in page
    assert "Self-assessment" not in page and "role=\"img\"" not in body(client.get(f"/councils/{BRISTOL}"))
    journey.publish_assessment(people["champion"], a)
    db.session.commit()
    response = client.get(f"/councils/{BRISTOL}")
    html, text = body(response), words(response)
    assert "Current stage: Champions appointed" in text  # no conversation yet: the furthest consecutive stage
    assert "Community conversation held Not yet" in text and "Assessed Reached" in text
    assert f"Self-assessment {a.year}" in text and "1 Starting" in text and "4 Leading" in text
    svg = re.search(r"<svg class=\"progress-chart__svg\"[^>]*>(.*?)</svg>", html, re.S)
    assert svg and 'role="img"' in svg.group(0) and 'aria-labelledby="progress-title progress-desc"' in svg.group(0)
    assert "<title id=\"progress-title\">" in svg.group(1) and "<desc id=\"progress-desc\">" in svg.group(1)
    assert f"{a.year}: Starting" in svg.group(1) and f"{a.year}: Leading" in svg.group(1)
    table = re.search(r"<caption id=\"progress-table-caption\">.*?</table>", html, re.S).group(0)
    assert table.count("<tr>") == 7 and "1 Starting" in table and "4 Leading" in table  # header + six principles
    assert "Well evidenced." not in text  # staff comments are for the council, not the public
    assert "Evidence 1" not in text  # the evidence is on the assessment's own page
    public = words(client.get(f"/councils/{BRISTOL}/assessments/{a.id}"))
    assert "Evidence 1" in public and "Publish the self-assessment" not in public


def test_council_page_404s(client):
    """An unknown GSS code, a NUL in it, or a 20-digit id is a 404 on every council route."""
    for url in ("/councils/E99999999", "/councils/E99999999/journey", "/councils/%00",
                f"/councils/{BRISTOL}%00/journey",
                f"/councils/{BRISTOL}/assessments/{'9' * 20}", f"/councils/{BRISTOL}/assessments/99999/check",
                "/councils/E99999999/assessments/new"):
        response = client.get(url)
        assert response.status_code in (404, 302), url
        if response.status_code == 302:  # new: sign in first, then 404
            assert "/auth/login" in response.location
    assert client.get(f"/councils/{BRISTOL}/assessments/{'9' * 20}").status_code == 404
    assert client.post(f"/councils/{BRISTOL}/champions/{'9' * 20}/end").status_code == 404


# --- The journey page ---------------------------------------------------------------------

def test_journey_page_for_each_role(clients, people):
    """Everyone sees where the council is and what is next; only the council's own members get
    the interest form; staff and the council's members get the champion and conversation forms;
    members of other councils and visitors get no form."""
    la = council(BRISTOL)
    pages = {role: clients[role].get(f"/councils/{BRISTOL}/journey") for role in ROLES}
    assert all(p.status_code == 200 for p in pages.values())
    for role, page in pages.items():
        text = words(page)
        assert "Current stage: Not started" in text and "What is next" in text, role
        assert ("/interest" in body(page)) is (role in ("cllr", "champion")), role
        assert ("/champions\"" in body(page)) is (role in ("cllr", "champion", "staff")), role
        assert ("/conversations\"" in body(page)) is (role in ("cllr", "champion", "staff")), role
    assert "Sign in" in words(pages["anonymous"])
    assert "Only councillors, commissioners and officers of City of Bristol" in words(pages["other"])
    assert "Only councillors, commissioners and officers of City of Bristol" in words(pages["community"])
    assert la is not None


def test_declare_interest(clients, people):
    """A councillor says the council is interested (once, idempotent); a member of another council,
    a community member and staff are refused with nothing written; the note over 1,000 characters
    comes back whole with the error summary."""
    url = f"/councils/{BRISTOL}/interest"
    for role in ("other", "community", "staff"):
        before = snapshot()
        response = clients[role].post_form(url, {"interest-note": "We are keen"})
        assert response.status_code == 422 and "Only councillors" in words(response), role
        assert "We are keen" in words(response)
        assert changes(before, snapshot()) == {}, role
    assert clients["anonymous"].post_form(url, {}).location.startswith("/auth/login")
    assert clients["unconfirmed"].post_form(url, {}).location.endswith("/account/")
    long_note = "Report to cabinet in March. " + "n" * 1000
    response = clients["cllr"].post_form(url, {"interest-note": long_note})
    assert response.status_code == 422 and SUMMARY in body(response) and long_note in body(response)
    assert 'href="#interest-note"' in body(response)
    response = clients["cllr"].post_form(url, {"interest-note": "Report to cabinet in March."})
    assert response.status_code == 303 and response.location == f"/councils/{BRISTOL}/journey#stage-interested"
    assert clients["cllr"].post_form(url, {"interest-note": "Again"}).status_code == 303
    rows = db.session.scalars(sa.select(CouncilInterest)).all()
    assert [(r.user_id, r.note) for r in rows] == [(people["cllr"].id, "Report to cabinet in March.")]
    assert "Current stage: Interested" in words(clients["anonymous"].get(f"/councils/{BRISTOL}/journey"))


def test_endorsement_link_and_document(clients, people):
    """The endorsement needs a verified pledge; a link must be https; a document is checked by its
    content (a renamed text file is refused) and kept by name; staff may add it too."""
    url = f"/councils/{BRISTOL}/endorsement"
    response = clients["cllr"].post_form(url, {"endorsement-link_url": "https://example.org/decision"})
    assert response.status_code == 422 and "needs a verified pledge" in words(response)
    assert "https://example.org/decision" in body(response)
    pledge = councils.submit_pledge(people["cllr"], council(BRISTOL), signed_by=SignedBy.CABINET_DECISION,
                                    signatories="Cabinet", pledged_on=date(2025, 3, 27), champions="")
    councils.review_pledge(people["staff"], pledge, PledgeStatus.VERIFIED)
    db.session.commit()
    response = clients["cllr"].post_form(url, {"endorsement-link_url": "http://example.org/decision"})
    assert response.status_code == 422 and "starts with https://" in words(response)
    assert 'value="http://example.org/decision"' in body(response)
    response = clients["other"].post_form(url, {"endorsement-link_url": "https://example.org/x"})
    assert response.status_code == 422 and db.session.scalar(sa.select(sa.func.count()).select_from(
        CouncilEndorsement)) == 0
    fake = (io.BytesIO(b"just text"), "endorsement.pdf")
    response = clients["cllr"].post_form(url, {"endorsement-document": fake}, content_type="multipart/form-data")
    assert response.status_code == 422 and SUMMARY in body(response)
    response = clients["cllr"].post_form(url, {"endorsement-document": (io.BytesIO(PDF), "signed.pdf"),
                                               "endorsement-link_url": "https://example.org/decision"},
                                         content_type="multipart/form-data")
    assert response.status_code == 303, words(response)[:500]
    endorsement = db.session.scalar(sa.select(CouncilEndorsement))
    assert endorsement.file_name == "signed.pdf" and endorsement.link_url == "https://example.org/decision"
    page = words(clients["anonymous"].get(f"/councils/{BRISTOL}/journey"))
    assert "Current stage: Endorsed" in page and "uploaded as signed.pdf" in page
    assert clients["staff"].post_form(url, {"endorsement-link_url": "https://example.org/v2"}).status_code == 303


def test_endorsement_document_download(app, clients, people, uploads_dir):
    """GET /councils/<gss>/endorsement: the verified pledge's signed endorsement, public (a public
    commitment), linked from the council, journey and staff pages; always a download under a clean
    name with its real media type, nosniff and a sandbox CSP, its author metadata stripped. None
    (a link only, no pledge) is a 404; a pending pledge's is staff's only; a rejected one's nobody's.
    A document whose metadata cannot be removed (a password-protected PDF) is refused on upload."""
    url = f"/councils/{BRISTOL}/endorsement"
    assert {role: clients[role].get(url).status_code for role in ROLES} == dict.fromkeys(ROLES, 404)  # no pledge
    la = council(BRISTOL)
    pledge = councils.submit_pledge(people["cllr"], la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="")
    councils.review_pledge(people["staff"], pledge, PledgeStatus.VERIFIED)
    journey.set_endorsement(people["cllr"], la, link_url="https://example.org/decision")
    db.session.commit()
    assert {role: clients[role].get(url).status_code for role in ROLES} == dict.fromkeys(ROLES, 404)  # a link only
    assert url not in body(clients["anonymous"].get(f"/councils/{BRISTOL}"))
    locked = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    writer.write(locked)
    response = clients["cllr"].post_form(url, {"endorsement-document": (io.BytesIO(locked.getvalue()), "locked.pdf")},
                                         content_type="multipart/form-data")
    assert response.status_code == 422 and "author details (metadata) are removed" in words(response)
    assert not db.session.scalar(sa.select(CouncilEndorsement.file_key))
    assert not (uploads_dir.exists() and any(uploads_dir.iterdir()))
    signed = real_pdf(author="Jane Privatename")
    response = clients["cllr"].post_form(url, {"endorsement-document": (io.BytesIO(signed), "Jane's scan.pdf"),
                                               "endorsement-link_url": "https://example.org/decision"},
                                         content_type="multipart/form-data")
    assert response.status_code == 303
    assert url in body(clients["anonymous"].get(f"/councils/{BRISTOL}"))
    assert url in body(clients["anonymous"].get(f"/councils/{BRISTOL}/journey"))
    assert url in body(clients["staff"].get(f"/staff/councils/{BRISTOL}"))
    for role in ROLES:
        response = clients[role].get(url)
        assert response.status_code == 200, role
        assert response.mimetype == "application/pdf"
        assert response.headers["Content-Disposition"] == (
            f"attachment; filename=keep-it-local-endorsement-{BRISTOL}.pdf")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"].startswith("sandbox")
        assert response.headers["Cache-Control"] == "no-store"
        assert b"Privatename" not in response.data and b"Privatename" in signed
        assert not (PdfReader(io.BytesIO(response.data)).metadata or {}).get("/Author")
    # The stripped copy is made again from the original if it has gone.
    key = db.session.scalar(sa.select(CouncilEndorsement.file_key))
    (uploads_dir / journey.uploads.published_key(key)).unlink()
    again = clients["anonymous"].get(url)
    assert again.status_code == 200 and b"Privatename" not in again.data
    # Pending again (staff reopened it): staff only, and the staff page still links it.
    pledge.status = PledgeStatus.PENDING
    db.session.commit()
    outcomes = {role: clients[role].get(url).status_code for role in ROLES}
    assert outcomes == {**dict.fromkeys(ROLES, 404), "staff": 200}
    assert url in body(clients["staff"].get(f"/staff/councils/{BRISTOL}"))
    assert url not in body(clients["cllr"].get(f"/councils/{BRISTOL}/journey"))
    pledge.status = PledgeStatus.REJECTED
    db.session.commit()
    assert {role: clients[role].get(url).status_code for role in ROLES} == dict.fromkeys(ROLES, 404)
    assert url not in body(clients["staff"].get(f"/staff/councils/{BRISTOL}"))
    # Bad codes: 20 digits, a NUL, an unknown council.
    for bad in (f"/councils/{'9' * 20}/endorsement", f"/councils/{BRISTOL}%00/endorsement", "/councils/%00/endorsement",
                "/councils/E99999999/endorsement"):
        assert clients["staff"].get(bad).status_code == 404, bad
        assert clients["anonymous"].get(bad).status_code == 404, bad


def test_champions_member_invited_by_email_accepts_and_named_person(app, clients, people):
    """A councillor invites the officer by email (an outbox email with a secret link); the link is
    a page with an Accept button for that member only; accepting makes them count. A named person
    counts at once. Ending an appointment opens the role again. An email that is not a member of
    the council is refused with the address kept."""
    url = f"/councils/{BRISTOL}/champions"
    response = clients["cllr"].post_form(url, {"kind": "member", "member-role": "cabinet",
                                               "member-email": "other@example.org"})
    assert response.status_code == 422 and 'value="other@example.org"' in body(response)
    # Nobody's address, another council's member, a community member of Bristol and an unconfirmed
    # councillor get the same answer, on the email field: no answer tells which addresses are members'.
    refusals = set()
    for address in ("nobody@example.org", "other@example.org", "community@example.org", "new@example.org"):
        response = clients["cllr"].post_form(url, {"kind": "member", "member-role": "cabinet",
                                                   "member-email": address})
        assert response.status_code == 422 and f'value="{address}"' in body(response), address
        refusals.add(re.search(r'<p class="error-message" id="member-email-error">(.*?)</p>', body(response)).group(1))
    assert len(refusals) == 1 and "Enter the email address of a Network member" in refusals.pop()
    response = clients["cllr"].post_form(url, {"kind": "member", "member-role": "cabinet",
                                               "member-email": "champion@example.org"})
    assert response.status_code == 303
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == "champion@example.org"))
    link = re.search(r"/councils/champions/accept/([^\s\"]+)", mail.body_text).group(0)
    assert clients["anonymous"].get(link).location.startswith("/auth/login")
    assert clients["cllr"].get(link).status_code == 200
    refused = clients["cllr"].post_form(link, {})
    assert refused.status_code == 422 and "for another member" in words(refused)
    page = clients["champion"].get(link)
    assert page.status_code == 200 and "Be City of Bristol's cabinet champion" in words(page)
    response = clients["champion"].post_form(link, {})
    assert response.status_code == 303 and response.location.endswith("/journey#stage-champions")
    champion = db.session.scalar(sa.select(Champion).where(Champion.user_id == people["champion"].id))
    assert champion.accepted_at is not None and journey.is_champion(people["champion"], council(BRISTOL))
    assert clients["champion"].get(link[:-3] + "xyz").status_code == 400
    # A named senior manager, recorded by staff; typed values kept on a refusal.
    response = clients["staff"].post_form(url, {"kind": "named", "named-role": "senior_management",
                                                "named-name": "", "named-job_title": "Director"})
    assert response.status_code == 422 and 'value="Director"' in body(response)
    response = clients["staff"].post_form(url, {"kind": "named", "named-role": "senior_management",
                                                "named-name": "Jo Director", "named-job_title": "Director"})
    assert response.status_code == 303
    page = words(clients["anonymous"].get(f"/councils/{BRISTOL}/journey"))
    assert "Cabinet champion: Olu Officer" in page and "Senior management champion: Jo Director" in page
    assert "champion@example.org" not in page
    named = db.session.scalar(sa.select(Champion).where(Champion.name == "Jo Director"))
    before = snapshot()
    assert clients["other"].post_form(f"{url}/{named.id}/end", {}).status_code == 303
    assert changes(before, snapshot()) == {}
    assert clients["cllr"].post_form(f"{url}/{named.id}/end", {}).status_code == 303
    db.session.refresh(named)
    assert named.ended_at is not None
    other_council = Champion(local_authority_id=council(CARDIFF).id, role=ChampionRole.CABINET, name="Cardiff")
    db.session.add(other_council)
    db.session.commit()
    assert clients["cllr"].post_form(f"{url}/{other_council.id}/end", {}).status_code == 404


def test_record_conversation(clients, people):
    """An event with its date and summary; a future date or a missing summary is refused with the
    title and summary kept; a double post records it once."""
    url = f"/councils/{BRISTOL}/conversations"
    when = date.today() - timedelta(days=3)
    future = date.today() + timedelta(days=3)
    typed = {"conversation-title": "Knowle West listening event", "conversation-summary": "Forty people came.",
             "conversation-held_on-day": str(future.day), "conversation-held_on-month": str(future.month),
             "conversation-held_on-year": str(future.year)}
    response = clients["cllr"].post_form(url, typed)
    assert response.status_code == 422 and "today or in the past" in words(response)
    assert 'value="Knowle West listening event"' in body(response) and "Forty people came." in body(response)
    response = clients["cllr"].post_form(url, {**typed, "conversation-summary": "",
                                               "conversation-held_on-day": str(when.day),
                                               "conversation-held_on-month": str(when.month),
                                               "conversation-held_on-year": str(when.year)})
    assert response.status_code == 422 and "Enter a short summary" in words(response)
    ok = {**typed, "conversation-held_on-day": str(when.day), "conversation-held_on-month": str(when.month),
          "conversation-held_on-year": str(when.year), "submission_key": "k" * 40}
    assert clients["cllr"].post_form(url, ok).status_code == 303
    assert clients["cllr"].post_form(url, ok).status_code == 303  # the same post again: recorded once
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CommunityConversation)) == 1
    before = snapshot()
    assert clients["other"].post_form(url, {**ok, "submission_key": "o" * 40}).status_code == 422
    assert changes(before, snapshot()) == {}
    page = words(clients["anonymous"].get(f"/councils/{BRISTOL}/journey"))
    assert "Knowle West listening event" in page and "Forty people came." in page


# --- The self-assessment ------------------------------------------------------------------

def test_start_assessment(clients, people):
    """The start page names the adopted wording; only the council's members can start it (once:
    a double click starts one); staff and other councils see why not and nothing is written."""
    la = endorsed(people)
    url = f"/councils/{BRISTOL}/assessments/new"
    page = words(clients["cllr"].get(url))
    assert "Round 1: first drafts" in page and "Start the self-assessment" in page
    for role in ("other", "staff", "community"):
        assert "Only councillors" in words(clients[role].get(url)), role
        before = snapshot()
        response = clients[role].post_form(url, {})
        assert response.status_code == 422 and SUMMARY in body(response), role
        assert changes(before, snapshot()) == {}, role
    assert clients["anonymous"].get(url).location.startswith("/auth/login")
    key = {"submission_key": "s" * 40}
    first = clients["cllr"].post_form(url, key)
    assert first.status_code == 303
    assert clients["cllr"].post_form(url, key).location == first.location
    assessments = db.session.scalars(sa.select(Assessment)).all()
    assert len(assessments) == 1 and len(assessments[0].answers) == 6 and assessments[0].local_authority_id == la.id
    assert first.location == f"/councils/{BRISTOL}/assessments/{assessments[0].id}"


def test_assessment_form_follows_the_adopted_drafts_and_saves_a_draft(clients, people):
    """The form: each adopted principle's title and wording, the four levels as radios with the
    campaign's descriptor as each one's hint, evidence with a character count, one action.
    Saving keeps a partial draft; an over-long evidence is refused whole with nothing saved."""
    la = endorsed(people)
    a = started(people, la)
    url = f"/councils/{BRISTOL}/assessments/{a.id}"
    html = body(clients["cllr"].get(url))
    for answer in a.answers:
        n = answer.number
        assert answer.draft.title in html and answer.draft.text in html
        for level, name in journey.LEVELS.items():
            descriptor = str(Markup.escape(journey.level_descriptors(n)[level]))
            radio = re.search(rf'<input[^>]*id="level_{n}-{level - 1}"[^>]*>', html).group(0)
            assert f'aria-describedby="level_{n}-{level - 1}-hint"' in radio and f'value="{level}"' in radio
            assert f'for="level_{n}-{level - 1}">{level} {name}</label>' in html
            assert f'id="level_{n}-{level - 1}-hint">{descriptor}</div>' in html
        assert f'id="evidence_{n}-info">You can enter up to 4,000 characters' in html
        assert f'id="action_{n}-info">You can enter up to 1,000 characters' in html
    assert "maxlength" not in html
    response = clients["cllr"].post_form(url, {"level_1": "2", "evidence_1": "A start", "action": "save"})
    assert response.status_code == 303 and response.location == url
    db.session.refresh(a)
    first = a.answers[0]
    assert (first.level, first.evidence) == (2, "A start") and a.status == AssessmentStatus.DRAFT
    long = "Our board. " + "e" * 4000
    response = clients["cllr"].post_form(url, {"level_1": "3", "evidence_1": long, "action_2": "Kept action",
                                               "action": "save"})
    assert response.status_code == 422 and long in body(response) and "Kept action" in body(response)
    assert 'href="#evidence_1"' in body(response)
    assert "checked" in re.search(r'<input[^>]*id="level_1-2"[^>]*>', body(response)).group(0)  # level 3 kept
    db.session.refresh(first)
    assert first.evidence == "A start"
    # Other councils and community members cannot see a draft; staff can, without the form.
    assert clients["other"].get(url).status_code == 403
    assert clients["community"].get(url).status_code == 403
    assert clients["anonymous"].get(url).location.startswith("/auth/login")
    staff_page = body(clients["staff"].get(url))
    assert "Save as draft" not in staff_page and "A start" in staff_page
    before = snapshot()
    assert clients["staff"].post_form(url, answers_form(a, action="save")).status_code == 422
    assert clients["other"].post_form(url, answers_form(a, action="save")).status_code == 403
    assert changes(before, snapshot()) == {}


def test_check_answers_submit_publish(clients, people):
    """Check your answers lists what is missing with links to the form; only a champion submits,
    and only when nothing is missing; after staff accept, a champion publishes and unpublishes;
    the council sees the staff's comments; the public page follows publication."""
    la = endorsed(people)
    a = started(people, la)
    url = f"/councils/{BRISTOL}/assessments/{a.id}"
    response = clients["cllr"].post_form(url, {"level_1": "2", "action": "check"})
    assert response.status_code == 303 and response.location == f"{url}/check"
    check = clients["cllr"].get(f"{url}/check")
    assert "Enter your evidence for principle 1" in words(check) and f'href="{url}#evidence_1"' in body(check)
    assert "A champion of City of Bristol submits it" in words(check)
    champion_check = body(clients["champion"].get(f"{url}/check"))
    assert f'action="{url}/submit"' not in champion_check  # not while answers are missing
    response = clients["champion"].post_form(f"{url}/submit", {})
    assert response.status_code == 422 and "Choose a level for principle 2" in words(response)
    clients["cllr"].post_form(url, answers_form(a, action="save"))
    before = snapshot()
    response = clients["cllr"].post_form(f"{url}/submit", {})
    assert response.status_code == 422 and "Only a champion" in words(response)
    assert changes(before, snapshot()) == {}
    assert f'action="{url}/submit"' in body(clients["champion"].get(f"{url}/check"))
    response = clients["champion"].post_form(f"{url}/submit", {})
    assert response.status_code == 303 and response.location == url
    db.session.refresh(a)
    assert a.status == AssessmentStatus.SUBMITTED
    assert clients["cllr"].get(f"{url}/check").location == url  # nothing to check once submitted
    assert "The campaign team is reviewing it" in words(clients["cllr"].get(url))
    assert clients["cllr"].post_form(url, answers_form(a, action="save")).status_code == 422
    journey.return_assessment(people["staff"], a, "Add links for principle 3.")
    db.session.commit()
    page = words(clients["cllr"].get(url))
    assert "The campaign returned it with these comments" in page and "Add links for principle 3." in page
    assert clients["cllr"].post_form(url, answers_form(a, action="save")).status_code == 303
    assert clients["champion"].post_form(f"{url}/submit", {}).status_code == 303
    journey.accept_assessment(people["staff"], a, "Thank you.")
    db.session.commit()
    assert "Publish the self-assessment" in words(clients["champion"].get(url))
    assert "Publish the self-assessment" not in words(clients["cllr"].get(url))
    assert clients["anonymous"].get(url).location.startswith("/auth/login")
    before = snapshot()
    assert clients["cllr"].post_form(f"{url}/publish", {}).status_code == 422
    assert clients["staff"].post_form(f"{url}/publish", {}).status_code == 422
    assert changes(before, snapshot()) == {}
    assert clients["champion"].post_form(f"{url}/publish", {}).location == url
    public = words(clients["anonymous"].get(f"/councils/{BRISTOL}"))
    assert f"Self-assessment {a.year}" in public and "3 Established" in public
    assert "Thank you." not in words(clients["anonymous"].get(url))
    assert clients["champion"].post_form(f"{url}/unpublish", {}).location == url
    assert clients["anonymous"].get(url).location.startswith("/auth/login")
    assert f"Self-assessment {a.year}" not in words(clients["anonymous"].get(f"/councils/{BRISTOL}"))
    # Another council's assessment id under Bristol's code is a 404.
    other = Assessment(local_authority_id=council(CARDIFF).id, round_id=a.round_id, year=a.year)
    db.session.add(other)
    db.session.commit()
    assert clients["staff"].get(f"/councils/{BRISTOL}/assessments/{other.id}").status_code == 404
    assert clients["champion"].post_form(f"/councils/{BRISTOL}/assessments/{other.id}/publish", {}).status_code == 404


# --- Peers --------------------------------------------------------------------------------

def test_peer_suggestions_and_introduction(clients, people):
    """Where Bristol is starting, the journey page shows Plymouth (same region, leading, published)
    with its evidence and a form asking the campaign to introduce them; no email addresses are
    shown; the request is stored and staff get an email; an unknown peer is refused with the
    message kept."""
    la = endorsed(people)
    round_id = principles.adopted_round().id
    plymouth = council(PLYMOUTH)
    drafts = principles.drafts_of(principles.adopted_round())
    db.session.add(Assessment(local_authority_id=plymouth.id, round_id=round_id, year=utcnow().year,
                              status=AssessmentStatus.ACCEPTED, accepted_at=utcnow(), published_at=utcnow(),
                              answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=4,
                                                        evidence=f"Plymouth's community contracts {d.number}",
                                                        action="More") for d in drafts]))
    db.session.commit()
    accepted(people, la, publish=False, levels={1: 1, 2: 3, 3: 3, 4: 3, 5: 3, 6: 3})
    page = clients["cllr"].get(f"/councils/{BRISTOL}/journey")
    text = words(page)
    assert "Councils that could help" in text and "Plymouth" in text and "Plymouth's community contracts 1" in text
    assert "Plymouth's community contracts 2" not in text  # Bristol is established there: no suggestion
    assert "@" not in re.sub(r"<head>.*?</head>", "", body(page), flags=re.S).replace("@example.org\">", "")
    url = f"/councils/{BRISTOL}/peers/introduce"
    response = clients["cllr"].post_form(url, {"number": "1", "peer": "E99999999", "message": "How do you do it?"})
    assert response.status_code == 422 and "How do you do it?" in words(response)
    response = clients["cllr"].post_form(url, {"number": "1", "peer": PLYMOUTH, "message": "x" * 1001})
    assert response.status_code == 422 and "x" * 1001 in body(response)
    before = snapshot()
    assert clients["other"].post_form(url, {"number": "1", "peer": PLYMOUTH, "message": "Hi"}).status_code == 422
    assert changes(before, snapshot()) == {}
    response = clients["cllr"].post_form(url, {"number": "1", "peer": PLYMOUTH, "message": "How do you do it?"})
    assert response.status_code == 303 and response.location.endswith("/journey#peers")
    intro = db.session.scalar(sa.select(PeerIntroduction))
    assert (intro.to_local_authority_id, intro.principle_number, intro.message) == (plymouth.id, 1,
                                                                                    "How do you do it?")


def test_an_expired_form_keeps_what_was_typed(clients, people):
    """A refused CSRF token (an expired session): the journey page's form and the assessment form
    come back (400) with everything typed and the expiry message; nothing is written."""
    la = endorsed(people)
    a = started(people, la)
    before = snapshot()
    client = clients["cllr"]
    response = client.post(f"/councils/{BRISTOL}/interest",
                           data={"csrf_token": "expired", "interest-note": "Cabinet report in March"})
    assert response.status_code == 400 and "Cabinet report in March" in words(response)
    assert "Your session had expired" in words(response)
    evidence = "Two years of partnership board minutes: https://example.org/minutes"
    response = client.post(f"/councils/{BRISTOL}/assessments/{a.id}",
                           data={"csrf_token": "expired", "level_1": "3", "evidence_1": evidence, "action": "save"})
    assert response.status_code == 400 and evidence in words(response)
    assert "checked" in re.search(r'<input[^>]*id="level_1-2"[^>]*>', body(response)).group(0)
    response = client.post(f"/councils/{BRISTOL}/conversations",
                           data={"csrf_token": "expired", "conversation-summary": "Forty people came."})
    assert response.status_code == 400 and "Forty people came." in words(response)
    assert changes(before, snapshot()) == {}
