"""The staff side of the council journey over HTTP: every council's stage at a glance
(/staff/councils/, filters, search, the councils due a re-assessment), its CSV, a council's whole
history, reviewing a submitted assessment, removing a named champion on request and marking an
introduction as made; for every role."""
import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.core.models import AuditLog
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.journey.models import AssessmentStatus, Champion, ChampionRole, PeerIntroduction
from kil_network.members.models import LocalAuthority, Region
from tests.support import journey_staff as journey
from tests.support.db import count

CALDERDALE, KIRKLEES, LEEDS, BRISTOL = "E08000033", "E08000034", "E08000035", "E06000023"
HX = {"HX-Request": "true"}


@pytest.fixture
def scene(app, make_user):
    """Calderdale assessed (its 2025 assessment accepted 350 days ago: re-assessment due), with a
    member champion, a named champion and a conversation; Kirklees endorsed with this year's
    assessment submitted; Leeds asked to be introduced to Calderdale; Bristol only interested."""
    staff = make_user(email="organiser@example.org", name="Olu Organiser", role="staff")
    cllr = make_user(email="cllr@example.org", name="Cllr Casey Calder", member_type="councillor",
                     gss_code=CALDERDALE)
    leeds_cllr = make_user(email="leeds@example.org", name="Cllr Lee Leeds", member_type="councillor",
                           gss_code=LEEDS)
    round_ = journey.adopted_round(staff)
    calderdale, kirklees, leeds, bristol = (journey.council(c) for c in (CALDERDALE, KIRKLEES, LEEDS, BRISTOL))
    journey.verified_pledge(calderdale, staff)
    member = journey.member_champion(calderdale, cllr, ChampionRole.CABINET)
    named = journey.named_champion(calderdale, "Pat Lee")
    journey.conversation(calderdale)
    accepted = journey.assessment(calderdale, round_, year=2025, accepted_at=utcnow() - timedelta(days=350), level=4,
                                  evidence="Four local contracts & counting.")
    journey.verified_pledge(kirklees, staff)
    submitted = journey.assessment(kirklees, round_, year=utcnow().year, status=AssessmentStatus.SUBMITTED,
                                   evidence="Kirklees evidence <b>bold</b>")
    intro = journey.introduction(leeds, calderdale, leeds_cllr)
    journey.interest(bristol, make_user(email="bristol@example.org", name="Bristol Member"))
    db.session.commit()
    return {"staff": staff, "member": member.id, "named": named.id, "accepted": accepted.id,
            "submitted": submitted.id, "intro": intro.id, "round": round_.id}


# --- Who may see and do what ---------------------------------------------------------------------

GETS = ["/staff/councils/", "/staff/councils.csv", f"/staff/councils/{CALDERDALE}"]


@pytest.mark.parametrize("url", GETS)
@pytest.mark.parametrize(("role", "status"), [("anonymous", 302), ("unconfirmed", 403), ("member", 403),
                                              ("staff", 200), ("admin", 200)])
def test_every_page_for_every_role(client, as_role, scene, url, role, status):
    """Staff and admins see the pages; members are refused; visitors are sent to sign in."""
    as_role(role)
    response = client.get(url)
    assert response.status_code == status
    if status == 302:
        assert response.headers["Location"].startswith("/auth/login?next=")


def _posts(scene):
    return [
        (f"/staff/councils/{KIRKLEES}/assessments/{scene['submitted']}/review", {"decision": "accept"}),
        (f"/staff/councils/{CALDERDALE}/champions/{scene['named']}/remove", {}),
        (f"/staff/councils/introductions/{scene['intro']}/handled", {}),
    ]


@pytest.mark.parametrize("role", ["anonymous", "unconfirmed", "member"])
def test_members_and_visitors_cannot_act(client, as_role, scene, role):
    """Every state change is refused to non-staff, and nothing changes."""
    as_role(role)
    for url, data in _posts(scene):
        response = client.post_form(url, data)
        assert response.status_code in (302, 403), url
        if response.status_code == 302:
            assert "/auth/login" in response.headers["Location"]
    assert db.session.get(Champion, scene["named"]).name == "Pat Lee"
    assert db.session.get(PeerIntroduction, scene["intro"]).handled_at is None
    assert count(AuditLog, AuditLog.action.like("journey.%")) == 0


@pytest.mark.parametrize("url", [
    "/staff/councils/E99999999", "/staff/councils/%00", f"/staff/councils/{CALDERDALE}/assessments/99999/review",
])
def test_unknown_things_are_404(client, as_role, scene, url):
    """An unknown council, or an assessment that is not there, is a 404."""
    as_role("staff")
    response = client.get(url) if not url.endswith("review") else client.post_form(url, {"decision": "accept"})
    assert response.status_code == 404


def test_another_councils_rows_are_404_here(client, as_role, scene):
    """An assessment or champion is found only under its own council's address."""
    as_role("staff")
    assert client.post_form(f"/staff/councils/{CALDERDALE}/assessments/{scene['submitted']}/review",
                            {"decision": "accept"}).status_code == 404
    assert client.post_form(f"/staff/councils/{KIRKLEES}/champions/{scene['named']}/remove", {}).status_code == 404
    assert client.post_form("/staff/councils/introductions/2147483647/handled", {}).status_code == 404
    assert db.session.get(Champion, scene["named"]).name == "Pat Lee"


# --- The list ----------------------------------------------------------------------------------------

def _council_names(response) -> list[str]:
    """The council names in the list's table, in order."""
    body = response.get_data(as_text=True)
    table = body[body.index('id="councils-table"'):]
    return [db.session.scalar(sa.select(LocalAuthority.name).where(LocalAuthority.gss_code == code))
            for code in re.findall(r'href="/staff/councils/([EW]\d{8})"', table)]


def test_the_list_shows_every_council_with_its_stage(client, as_role, scene):
    """All councils, each with its stage, region, tier, champions and latest assessment; the due panel."""
    as_role("staff")
    response = client.get("/staff/councils/")
    body = response.get_data(as_text=True)
    total = count(LocalAuthority)
    assert f"{total} of {total} councils" in body
    assert len(_council_names(response)) == total
    table = body[body.index('id="councils-table"'):]
    row = table[table.index(f'href="/staff/councils/{CALDERDALE}"'):]
    row = row[:row.index("</tr>")]
    assert "5. Assessed" in row and "Yorkshire and The Humber" in row and "Metropolitan district" in row
    assert "2 of 2" in row and "2025: Accepted" in row and "Due by" in row
    kirklees = table[table.index(f'href="/staff/councils/{KIRKLEES}"'):]
    assert f"{utcnow().year}: Submitted" in kirklees[:kirklees.index("</tr>")]
    due = body[body.index('id="due-heading"'):body.index('id="introductions-heading"')]
    assert "1 council" in due and "Calderdale" in due and "Kirklees" not in due
    intros = body[body.index('id="introductions-heading"'):]
    assert "Leeds" in intros[:intros.index("</section>")] and "principle 2" in intros
    assert "Councils</a>" in body and 'aria-current="page">Councils' in body  # the staff navigation


@pytest.mark.parametrize(("query", "expected"), [
    ("stage=assessed", {"Calderdale"}),
    ("stage=interested", {"Bristol, City of"}),  # Leeds only asked for an introduction
    ("due=due", {"Calderdale"}),
    ("due=overdue", set()),
    ("q=calder", {"Calderdale"}),
    ("q=e08000034", {"Kirklees"}),
    ("q=KIRK&stage=endorsed", {"Kirklees"}),
    ("q=kirk&stage=assessed", set()),
])
def test_filters_and_search(client, as_role, scene, query, expected):
    """Each filter, and search by name or GSS code (any case), lists exactly the matching councils."""
    as_role("staff")
    assert set(_council_names(client.get(f"/staff/councils/?{query}"))) == expected


def test_region_and_tier_filters(client, as_role, scene):
    """Region and tier narrow the list to councils of that region and tier."""
    as_role("staff")
    wales = db.session.scalar(sa.select(Region).where(Region.name == "Wales"))
    welsh = set(db.session.scalars(sa.select(LocalAuthority.name).where(LocalAuthority.region_id == wales.id)))
    assert set(_council_names(client.get(f"/staff/councils/?region={wales.id}"))) == welsh
    counties = set(db.session.scalars(sa.select(LocalAuthority.name).where(LocalAuthority.tier == "county")))
    assert set(_council_names(client.get("/staff/councils/?tier=county"))) == counties
    both = client.get(f"/staff/councils/?tier=county&region={wales.id}")
    assert _council_names(both) == [] and "No councils match these filters." in both.get_data(as_text=True)


def test_htmx_gets_the_table_only(client, as_role, scene):
    """The search box's htmx request gets the table partial, with Vary: HX-Request."""
    as_role("staff")
    response = client.get("/staff/councils/?q=calder", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and body.lstrip().startswith('<div id="councils-table"')
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]
    assert _council_names(response) == ["Calderdale"]


@pytest.mark.parametrize("query", [
    "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "q=' OR '1'='1", "q=" + "x" * 5000, "q=%E2%80%AEcalder",
    "stage=bogus", "region=99999999999999999999", "region=-1", "tier=%3Cb%3E", "due=yes", "q=%EF%BC%91",
])
def test_hostile_filters_are_harmless(client, as_role, scene, query):
    """Markup comes back escaped, long text is cut, unknown choices are ignored: never a 5xx."""
    as_role("staff")
    response = client.get(f"/staff/councils/?{query}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert(1)" not in body and "<b>" not in body.split('id="councils-table"')[0][-2000:]
    if query.startswith(("stage", "region", "tier", "due")):  # ignored: every council listed
        total = count(LocalAuthority)
        assert f"{total} of {total} councils" in body
    if "%E2%80%AE" in query:  # the bidi override is dropped: "calder" is searched
        assert _council_names(response) == ["Calderdale"]


@pytest.mark.parametrize("url", ["/staff/councils/?q=%00", "/staff/councils/?stage=%0d%0a",
                                 "/staff/councils.csv?q=%00"])
def test_control_characters_are_a_400(client, as_role, scene, url):
    """A control character in the query string is a 400 (core.params)."""
    as_role("staff")
    assert client.get(url).status_code == 400


# --- The CSV -----------------------------------------------------------------------------------------

def _csv_rows(response) -> list[dict]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # a BOM: spreadsheets read the file as UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_csv_has_the_same_rows_and_filters(client, as_role, scene):
    """The CSV lists what the page lists, with the filters applied; a named, dated attachment; audited."""
    as_role("staff")
    response = client.get("/staff/councils.csv?stage=endorsed")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=council-journeys-")
    rows = _csv_rows(response)
    assert [r["gss_code"] for r in rows] == [KIRKLEES]
    assert rows[0]["stage"] == "Endorsed" and rows[0]["latest_assessment_status"] == "Submitted"
    everything = _csv_rows(client.get("/staff/councils.csv"))
    assert len(everything) == count(LocalAuthority)
    calderdale = next(r for r in everything if r["gss_code"] == CALDERDALE)
    assert calderdale == {**calderdale, "stage": "Assessed", "stage_number": "5", "champions": "2",
                          "latest_assessment_year": "2025", "reassessment": "due", "pledged_on": "2026-03-01",
                          "region": "Yorkshire and The Humber"}
    assert "Ynys Môn" in {r["council"] for r in everything} or "Isle of Anglesey" in {r["council"] for r in everything}
    assert count(AuditLog, AuditLog.action == "journey.export") == 2


def test_the_csv_is_formula_injection_safe(client, as_role, scene):
    """A cell that a spreadsheet would run as a formula is written as text. (Councils are reference
    data the test tables' clean-up keeps: the name is put back afterwards.)"""
    la = journey.council(BRISTOL)
    name, la.name = la.name, '=HYPERLINK("https://evil.example","Bristol")'
    db.session.commit()
    try:
        as_role("staff")
        rows = _csv_rows(client.get("/staff/councils.csv?q=hyperlink"))
        assert [r["council"] for r in rows] == ['\'=HYPERLINK("https://evil.example","Bristol")']
    finally:
        db.session.rollback()
        la = journey.council(BRISTOL)
        la.name = name
        db.session.commit()


# --- A council's history -----------------------------------------------------------------------------

def test_a_councils_whole_history(client, as_role, scene):
    """Pledge and endorsement, champions (current and former), conversations, assessments with their
    answers, reminders sent and introductions asked for."""
    former = Champion(local_authority_id=journey.council(CALDERDALE).id, role=ChampionRole.CABINET,
                      name="Old Champion", ended_at=utcnow() - timedelta(days=400))
    db.session.add(former)
    db.session.commit()
    as_role("staff")
    body = client.get(f"/staff/councils/{CALDERDALE}").get_data(as_text=True)
    for text in ("5. Assessed", "https://example.org/cabinet-decision", "Cllr Casey Calder",
                 "Pat Lee, Head of Procurement", "Old Champion", "Former champion", "Keeping it local in our town",
                 "2025 assessment",
                 "Four local contracts &amp; counting.", "4: Leading", "Leeds</a> asked to meet this council",
                 "How did you split the care contract?", "None sent.", "Due by"):
        assert text in body, text
    assert "Remove name on request" in body  # Pat Lee is a named person
    assert body.count("Remove name on request<") == 2  # Pat Lee and the former named champion, not the member
    kirklees = client.get(f"/staff/councils/{KIRKLEES}").get_data(as_text=True)
    assert "Kirklees evidence &lt;b&gt;bold&lt;/b&gt;" in kirklees and "Save the decision" in kirklees


# --- Reviewing an assessment -------------------------------------------------------------------------

def _review(client, scene, data):
    """Post the review form of Kirklees's submitted assessment."""
    return client.post_form(f"/staff/councils/{KIRKLEES}/assessments/{scene['submitted']}/review", data)


def test_returning_needs_comments_and_keeps_what_was_typed(client, as_role, scene):
    """Return without comments: the page again (422) with the error summary and the decision kept."""
    as_role("staff")
    response = _review(client, scene, {"decision": "return", "comments": "   "})
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "data-error-summary" in body and "Enter comments saying what the council should change" in body
    assert f'id="decision-{scene["submitted"]}-return" name="decision" value="return" checked' in body
    assert "<title>Error:" in body
    from kil_network.journey.models import Assessment
    assert db.session.get(Assessment, scene["submitted"]).status == AssessmentStatus.SUBMITTED
    too_long = _review(client, scene, {"decision": "return", "comments": "Typed and kept " + "x" * 4000})
    assert too_long.status_code == 422 and "Typed and kept " + "x" * 4000 in too_long.get_data(as_text=True)
    no_choice = _review(client, scene, {"comments": "Only comments"})
    assert no_choice.status_code == 422 and "Only comments" in no_choice.get_data(as_text=True)
    assert count(AuditLog, AuditLog.action.like("journey.assessment_%")) == 0


def test_return_with_comments_and_accept(client, as_role, scene):
    """Returning with comments sends it back to the council; a later submission can be accepted."""
    from kil_network.journey.models import Assessment

    as_role("staff")
    response = _review(client, scene, {"decision": "return", "comments": "Add links to the contracts."})
    assert response.status_code == 303 and response.headers["Location"] == f"/staff/councils/{KIRKLEES}"
    row = db.session.get(Assessment, scene["submitted"])
    assert row.status == AssessmentStatus.RETURNED and row.review_comments == "Add links to the contracts."
    page = client.get(f"/staff/councils/{KIRKLEES}").get_data(as_text=True)
    assert "has been returned to the council" in page and "Save the decision" not in page
    row.status = AssessmentStatus.SUBMITTED  # the council submitted it again
    db.session.commit()
    assert _review(client, scene, {"decision": "accept", "comments": ""}).status_code == 303
    db.session.expire_all()
    row = db.session.get(Assessment, scene["submitted"])
    assert row.status == AssessmentStatus.ACCEPTED and row.accepted_at is not None
    assert count(AuditLog, AuditLog.action == "journey.assessment_accept") == 1
    # Accepted already: a second decision is refused, and nothing changes.
    again = _review(client, scene, {"decision": "return", "comments": "Too late"})
    assert again.status_code == 422 and "Only a submitted assessment can be returned." in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Assessment, scene["submitted"]).status == AssessmentStatus.ACCEPTED


# --- Champions and introductions ---------------------------------------------------------------------

def test_removing_a_named_champion_on_request(client, as_role, scene):
    """The name and job title go, the role stays as a former champion; a member champion cannot be removed here."""
    as_role("staff")
    response = client.post_form(f"/staff/councils/{CALDERDALE}/champions/{scene['named']}/remove", {})
    assert response.status_code == 303
    champion = db.session.get(Champion, scene["named"])
    assert (champion.name, champion.job_title, champion.user_id) == ("", "", None)
    assert champion.erased_at is not None and champion.ended_at is not None
    page = client.get(f"/staff/councils/{CALDERDALE}").get_data(as_text=True)
    assert "Pat Lee" not in page and "Former champion (name removed)" in page
    refused = client.post_form(f"/staff/councils/{CALDERDALE}/champions/{scene['member']}/remove", {})
    assert refused.status_code == 303
    assert "is a member" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Champion, scene["member"]).user_id is not None
    assert count(AuditLog, AuditLog.action == "journey.champion_remove") == 1


def test_marking_an_introduction_made_is_a_set(client, as_role, scene):
    """Marked once (audited once); a second click changes nothing; from the list it goes back to the list."""
    as_role("staff")
    url = f"/staff/councils/introductions/{scene['intro']}/handled"
    first = client.post_form(url, {})
    assert first.status_code == 303 and first.headers["Location"] == f"/staff/councils/{LEEDS}"
    intro = db.session.get(PeerIntroduction, scene["intro"])
    handled_at = intro.handled_at
    assert handled_at is not None and intro.handled_by_id is not None
    second = client.post_form(url, {"back": "list"})
    assert second.status_code == 303 and second.headers["Location"] == "/staff/councils/"
    assert "already marked as made" in client.get("/staff/councils/").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(PeerIntroduction, scene["intro"]).handled_at == handled_at
    assert count(AuditLog, AuditLog.action == "journey.introduction_handled") == 1
    body = client.get("/staff/councils/").get_data(as_text=True)
    assert "No introduction is waiting." in body
