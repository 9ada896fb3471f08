"""The Nu HTML Checker finds no errors on any page of the workshops, principles, evidence and
councils areas, error states included.

`build_site` makes realistic data through the services (also used by the axe-core checks in
test_accessibility_areas.py): workshops published, full with a waitlist, draft, cancelled and
past, with confirmed, waitlisted, walk-in and checked-in registrations; a closed principles
round with results and "you said, we did", an open round linked to a workshop with votes
and suggestions, and a draft round; calls for evidence open, closed and forthcoming, with
survey responses and written evidence (named, anonymous and private, one with a PDF);
council pledges verified, pending and rejected.

Each page is fetched with the test client for the role that sees it and vnu runs once over
all of them. htmx partials are fragments, not documents, so they are not checked. Nothing
is filtered: the templates write `data-hx-*`, which is valid HTML.
"""
import io
import time

import pytest
import sqlalchemy as sa

from kil_network.extensions import db
from tests.support.app import signed_in
from tests.support.site_data import SURVEY_ERRORS, SURVEY_PATH, adopt_open_round, build_site, close_written_evidence
from tests.support.vnu import VNU_JAR, check_with_vnu, needs_java
from tests.support.worlds import shared_world


@pytest.fixture
def site(app, make_user, tmp_path, tmp_path_factory):
    """The four areas' data (made once per process, copied back for each test)."""
    return shared_world(app, "areas", lambda uploads: build_site(make_user, uploads), tmp_path, tmp_path_factory)


def collect_pages(app, site) -> dict[str, str]:
    """Every page of the four areas, and their error states, as {name: html}."""
    pages = {}

    def get(client, label, path, expected=200):
        url = path.format(**site)
        response = client.get(url)
        assert response.status_code == expected, f"{label} GET {url}: {response.status_code}"
        pages[f"{label} GET {url}"] = response.get_data(as_text=True)

    def post(client, label, path, data, expected=200, name=""):
        url = path.format(**site)
        response = client.post_form(url, data, token_from=url)
        assert response.status_code == expected, f"{label} POST {url}: {response.status_code}"
        pages[f"{label} POST {url}{name}"] = response.get_data(as_text=True)

    anon = signed_in(app, None)
    for path in ("/workshops/", "/workshops/?when=past",
                 "/workshops/?region={yorkshire}&format=in_person&month={month}",
                 "/workshops/?when=past&format=hybrid", "/workshops/{w_live}", "/workshops/{w_full}",
                 "/workshops/{w_cancelled}", "/workshops/{w_past}",
                 "/principles/", "/principles/drafts/{d_open}", "/principles/drafts/{d_closed}",
                 "/principles/rounds/{r_closed}/results", "/principles/1/history", "/principles/5/history",
                 "/principles/rounds/{r_closed}/responses", "/principles/rounds/{r_open}/responses",
                 "/evidence/", "/evidence/calls/{c_open}", "/evidence/calls/{c_closed}", "/evidence/calls/{c_coming}",
                 "/evidence/calls/{c_open}/survey", "/evidence/calls/{c_closed}/survey",
                 "/evidence/calls/{c_closed}/survey/delivers",
                 "/evidence/calls/{c_open}/survey/done/{survey_ref}", "/evidence/calls/{c_open}/submit",
                 "/evidence/calls/{c_closed}/submit", "/evidence/calls/{c_open}/received/{e_ref}",
                 "/evidence/library", "/evidence/library?topic=doing_differently", "/evidence/library?topic=trends",
                 "/evidence/library?q=food+bank", "/evidence/library?q=zzyzx&type=councillor",
                 "/evidence/library/{e_named}", "/evidence/library/{e_anon}",
                 "/councils/", "/councils/E08000033", "/councils/E08000035",
                 "/councils/E08000033/journey", "/councils/E08000033/assessments/{a_published}"):
        get(anon, "anonymous", path)
    get(anon, "anonymous", "/workshops/{w_draft}", 404)
    get(anon, "anonymous", "/principles/rounds/{r_open}/results", 403)
    post(anon, "anonymous", "/evidence/calls/{c_open}/submit",
         {"name": "", "email": "not-an-email", "respondent_type": "", "local_authority": "nope", "text": "",
          "topics": ["made_up"], "file": (io.BytesIO(b"MZ\x90\x00 not a pdf"), "report.pdf")}, name=" (errors)")

    # The survey, one question per page: each kind of page, with an error, then check your answers.
    survey = signed_in(app, None)
    base = "/evidence/calls/{c_open}/survey/"
    get(survey, "anonymous", base + "delivers")
    for question, answer in SURVEY_PATH:
        if question != "delivers":
            get(survey, "anonymous", base + question)
        if question in SURVEY_ERRORS:
            post(survey, "anonymous", base + question, {"answer": SURVEY_ERRORS[question]}, 422, name=" (error)")
        post(survey, "anonymous", base + question, {"answer": site["wales"] if answer is None else answer},
             expected=302)
    get(survey, "anonymous", base + "check")
    get(survey, "anonymous", base + "barriers?change=1")
    not_for_me = signed_in(app, None)
    for question in ("delivers", "delivered_before", "would_like"):
        post(not_for_me, "anonymous", base + question, {"answer": "no"}, expected=302)
    post(not_for_me, "anonymous", base + "council_role", {"answer": "neither"}, expected=302)
    get(not_for_me, "anonymous", base + "not-for-you")

    # The workshop's live page (room code): refused code, email step, short join with errors, code page
    # with a wrong code, the sign-in link's button.
    phone = signed_in(app, None)
    get(phone, "anonymous", "/w/{w_live}?code=ACDEFG", 410)
    get(phone, "anonymous", "/w/sign-in/not-a-real-token")
    with phone.session_transaction() as session:
        session["room_presence"] = {"workshop": site["w_live"], "at": int(time.time())}
    get(phone, "anonymous", "/w/{w_live}")
    for step, data, status in (("email", {"email": "newcomer@example.org"}, 200),
                               ("join", {"name": "", "email": "nope", "member_type": "councillor"}, 422),
                               ("email", {"email": "member@example.org"}, 303),
                               ("code", {"code": "000000"}, 422)):
        response = phone.post_form(f"/w/{site['w_live']}/{step}", data)
        assert response.status_code == status, f"live page {step}: {response.status_code}"
        if status != 303:
            pages[f"anonymous POST /w/{site['w_live']}/{step} ({status})"] = response.get_data(as_text=True)

    member = signed_in(app, "member@example.org")
    for path in ("/account/workshops", "/workshops/{w_live}", "/workshops/{w_full}", "/workshops/{w_past}",
                 "/workshops/{w_cancelled}", "/principles/", "/principles/?workshop={w_live}",
                 "/principles/drafts/{d_open}", "/principles/drafts/{d_open_unvoted}", "/councils/E06000023/pledge",
                 "/councils/E08000033", "/evidence/calls/{c_open}/submit", "/evidence/calls/{c_open}/survey",
                 "/workshops/{w_live}/cancel", "/workshops/{w_full}/cancel", "/workshops/{w_cancelled}/cancel",
                 "/updates/", "/updates/{m_sent}", "/account/notifications", "/unsubscribe/{unsubscribe}"):
        get(member, "member", path)
    post(anon, "anonymous", "/unsubscribe/{unsubscribe}", {}, 200, name=" (unsubscribed)")
    # Refusals that keep what was typed (issue 12): the page again, the error summary, the text whole.
    post(member, "member", "/principles/drafts/{d_open_unvoted}/vote", {"comment": "No stance", "back": "draft"}, 422,
         name=" (no stance)")
    post(member, "member", "/principles/drafts/{d_open_unvoted}/vote", {"comment": "No stance"}, 422,
         name=" (no stance, the cards)")
    post(member, "member", "/principles/drafts/{d_open}/suggestions", {"text": "", "reason": "r" * 2001}, 422,
         name=" (errors)")
    post(member, "member", "/workshops/{w_full}/register", {"access_needs": "n" * 1001}, 422, name=" (too long)")
    officer = signed_in(app, "officer@example.org")
    get(officer, "officer", "/councils/E08000035")
    get(officer, "officer", "/councils/E08000035/pledge")
    # The council journey: the officer is Leeds' champion, with this year's draft (issue 15).
    for path in ("/councils/E08000035/journey", "/councils/E08000035/assessments/new",
                 "/councils/E08000035/assessments/{a_draft}", "/councils/E08000035/assessments/{a_draft}/check",
                 "/councils/champions/accept/{invite_token}"):  # a valid invitation (Leeds' senior manager)
        get(officer, "officer", path)
    post(officer, "officer", "/councils/E08000035/assessments/{a_draft}", {"evidence_1": "e" * 4001, "action": "save"},
         422, name=" (too long)")
    post(officer, "officer", "/councils/E08000035/interest", {"interest-note": "n" * 1001}, 422, name=" (too long)")
    post(officer, "officer", "/councils/E08000035/conversations", {"conversation-title": "An event"}, 422,
         name=" (errors)")
    post(officer, "officer", "/councils/E08000035/peers/introduce",
         {"number": "1", "peer": "E08000033", "message": "m" * 1001}, 422, name=" (too long)")
    post(officer, "officer", "/councils/E08000035/pledge",
         {"signatories": "", "pledged_on-day": "31", "pledged_on-month": "2", "pledged_on-year": "2024",
          "champions": ""})

    admin = signed_in(app, "admin@example.org")
    for path in ("/staff/workshops/", "/staff/workshops/new", "/staff/workshops/{w_live}", "/staff/workshops/{w_draft}",
                 "/staff/workshops/{w_cancelled}", "/staff/workshops/{w_past}", "/staff/workshops/{w_live}/edit",
                 "/staff/workshops/{w_draft}/edit", "/staff/workshops/{w_live}/cancel",
                 "/staff/workshops/{w_live}/attendance", "/staff/workshops/{w_live}/attendance?q=morgan",
                 "/staff/workshops/{w_live}/attendance?q=nobody-at-all", "/staff/workshops/{w_past}/attendance",
                 "/staff/workshops/{w_full}", "/staff/workshops/{w_full}/attendance",
                 "/staff/workshops/{w_live}/attendance/{reg_member}", "/staff/workshops/{w_past}/attendance/{reg_past}",
                 "/staff/workshops/{w_live}/sheet", "/staff/workshops/{w_live}/control",
                 "/staff/workshops/{w_full}/control", "/staff/workshops/{w_live}/present",
                 "/staff/workshops/{w_full}/present",
                 "/workshops/{w_draft}",
                 "/staff/rounds/", "/staff/rounds/new", "/staff/rounds/{r_draft}/edit", "/staff/rounds/{r_open}/edit",
                 "/staff/rounds/{r_closed}/edit", "/staff/rounds/{r_open}/close", "/staff/rounds/{r_draft}/close",
                 "/staff/rounds/{r_closed}/adopt", "/staff/rounds/{r_open}/adopt",
                 "/staff/suggestions/{s_open}/respond",
                 "/staff/suggestions/{s_waiting}/respond", "/principles/rounds/{r_open}/results",
                 "/principles/drafts/{d_open}", "/principles/rounds/{r_open}/responses",
                 "/staff/evidence/", "/staff/evidence/?status=new&topic=trends", "/staff/evidence/{e_named}",
                 "/staff/evidence/{e_private}", "/staff/evidence/calls/", "/staff/evidence/calls/new",
                 "/staff/evidence/calls/{c_open}/edit", "/staff/evidence/calls/{c_open}/survey-results",
                 "/staff/evidence/calls/{c_open}/survey-results?type=councillor&region={yorkshire}",
                 "/staff/pledges/", "/staff/pledges/?status=pending",
                 "/staff/", "/staff/moderation", "/staff/moderation?status=approved&kind=comment",
                 "/staff/moderation?round={r_closed}", "/staff/moderation/suggestion/{s_open}/redact",
                 "/staff/moderation/comment/{v_pending}/redact", "/staff/moderation/comment/{v_pending}/hide",
                 "/staff/messages/", "/staff/messages/?status=draft", "/staff/messages/new",
                 "/staff/messages/{m_draft}", "/staff/messages/{m_draft}/preview", "/staff/messages/{m_scheduled}",
                 "/staff/messages/{m_sent}", "/staff/messages/count?kind=service",
                 "/staff/councils/", "/staff/councils/?stage=assessed&region={yorkshire}&due=due",
                 "/staff/councils/?q=zzyzx", "/staff/councils/E08000033", "/staff/councils/E08000034",
                 "/staff/councils/E09000012", "/staff/councils/E06000023"):
        get(admin, "admin", path)
    post(admin, "admin", "/staff/councils/E08000034/assessments/{a_submitted}/review",
         {"decision": "return", "comments": ""}, 422, name=" (return without comments)")
    post(admin, "admin", "/staff/messages/new", {"subject": "", "body": "x", "kind": "campaign"}, name=" (errors)")
    post(admin, "admin", "/staff/messages/{m_draft}/schedule",
         {"send_at-day": "1", "send_at-month": "1", "send_at-year": "2020", "send_at-time": "09:00"}, name=" (errors)")
    post(admin, "admin", "/staff/workshops/new",
         {"title": "", "format": "hybrid", "postcode": "NOT A CODE", "online_url": "ftp://example.org",
          "starts_at-day": "31", "starts_at-month": "2", "starts_at-year": "2030", "starts_at-time": "25:00",
          "ends_at-day": "1", "capacity": "0", "mix_max_percent": "5"}, name=" (errors)")
    post(admin, "admin", "/staff/workshops/{w_live}/edit",
         {"title": "Bradford principles workshop", "description": "x", "format": "in_person", "venue": "Hall",
          "address": "Street", "postcode": "BD1 1HY", "capacity": "1",
          **{f"{f}-{p}": v for f, day in (("starts_at", "1"), ("ends_at", "1"), ("registration_closes_at", "1"))
             for p, v in (("day", day), ("month", "1"), ("year", "2099"), ("time", "10:00"))}}, name=" (errors)")
    post(admin, "admin", "/staff/workshops/{w_live}/cancel", {"reason": ""}, name=" (errors)")
    post(admin, "admin", "/staff/workshops/{w_live}/cancel", {"reason": "The venue flooded.\nA new date soon."},
         name=" (are you sure?)")
    post(admin, "admin", "/staff/workshops/{w_live}/cancel", {"reason": "The venue flooded.", "change": "1"},
         name=" (change the reason)")
    post(admin, "admin", "/staff/workshops/{w_live}/walk-in", {"email": "not-an-email", "member_type": "x"},
         name=" (errors)")
    post(admin, "admin", "/staff/rounds/new", {"name": "", "closes_at-day": "40"}, name=" (errors)")
    post(admin, "admin", "/staff/rounds/{r_draft}/edit", {"name": "", "drafts-0-title": "", "drafts-0-text": ""},
         name=" (errors)")
    post(admin, "admin", "/staff/suggestions/{s_waiting}/respond", {"response_text": ""}, name=" (errors)")
    post(admin, "admin", "/staff/moderation/comment/{v_pending}/hide", {"reason": ""}, 422, name=" (errors)")
    post(admin, "admin", "/staff/moderation/suggestion/{s_open}/redact", {"text": "", "reason": "Kept"}, 422,
         name=" (errors)")
    post(admin, "admin", "/staff/evidence/calls/new",
         {"title": "", "opens_at-day": "1", "opens_at-month": "13", "opens_at-year": "2030", "opens_at-time": "9:00"},
         name=" (errors)")
    post(admin, "admin", "/staff/evidence/{e_named}", {"status": ""}, name=" (errors)")
    from kil_network.auth.models import User
    from kil_network.councils.models import Pledge, PledgeStatus

    pending = db.session.scalar(sa.select(Pledge.id).where(Pledge.status == PledgeStatus.PENDING).limit(1))
    post(admin, "admin", f"/staff/pledges/{pending}", {"note": "No decision chosen"}, 422, name=" (errors)")
    listed = db.session.scalar(sa.select(User.id).where(User.email == "member@example.org"))
    post(admin, "admin", f"/staff/members/{listed}/suspend", {"reason": "x" * 301}, 422, name=" (errors)")

    # Written evidence posted just after its deadline passed: refused, with what was typed kept.
    close_written_evidence(site)
    post(anon, "anonymous", "/evidence/calls/{c_open}/submit",
         {"name": "Late Person", "email": "late@example.org", "respondent_type": "academic", "topics": ["trends"],
          "text": "Sent a minute late.", "publication": "named"}, name=" (after the deadline)")
    get(anon, "anonymous (written closed)", "/evidence/calls/{c_open}/submit")
    # No open round, and adopted principles.
    adopt_open_round(site)
    get(anon, "anonymous (adopted)", "/principles/")
    get(anon, "anonymous (adopted)", "/principles/rounds/{r_open}/results")
    return pages


@needs_java
def test_every_area_page_is_valid_html(app, site, tmp_path):
    """vnu reports no errors on any page of the four areas."""
    assert VNU_JAR.exists(), f"{VNU_JAR} is missing: run `npm ci`"
    pages = collect_pages(app, site)
    directory = tmp_path / "pages"
    directory.mkdir()
    errors, others = check_with_vnu(pages, directory)
    print(f"vnu checked {len(pages)} pages")
    for message in others:  # warnings are shown with `pytest -s`, not failed on
        print(f"vnu {message}")
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(errors)
    assert len(pages) >= 120, len(pages)
