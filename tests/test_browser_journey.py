"""The council journey in Chromium: a councillor of Bristol starts the self-assessment from the
journey page and saves a draft; a champion checks the answers and submits; staff accept it on the
council's staff page (J3's review form); the champion publishes it; the public council page then
shows the level on each principle and the progress chart with its data table. axe finds no
violations on the journey page, the assessment form, check your answers and the public page.

Screenshots of the journey page, the assessment form, check your answers, the public council page
and the /councils/ overview at 375 and 1280 px wide go to /tmp/shots/journey/ (not in git).
"""
import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from kil_network.councils import services as councils
from kil_network.councils.models import PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.journey import services as journey
from kil_network.journey.models import Assessment, AssessmentStatus, ChampionRole
from kil_network.members.models import LocalAuthority
from kil_network.principles import services as principles
from tests.support.browser import sign_in
from tests.support.principles import open_round

pytestmark = pytest.mark.browser

BRISTOL = "E06000023"
SHOTS = Path("/tmp/shots/journey")
LEVEL_CHOICES = {1: "2 Developing", 2: "3 Established", 3: "1 Starting", 4: "4 Leading", 5: "3 Established",
                 6: "2 Developing"}


def shots(page, name: str, part: str | None = None) -> None:
    """Screenshots at a phone's width (375 px) and a desktop's (1280 px): the full page, its first
    screen, and (`part`, a CSS selector) one element of it close up."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / f"{name}-{width}-top.png"))
        if part:
            page.locator(part).first.screenshot(path=str(SHOTS / f"{name}-{width}-part.png"))
    page.set_viewport_size({"width": 1280, "height": 900})


def no_axe_violations(page) -> None:
    """axe-core finds nothing on the page as it is."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def setup_bristol(make_user):
    """Bristol endorsed with both champions (the officer accepted by email, a named senior manager)
    and a conversation held; the principles adopted. Made through the services, committed."""
    staff = make_user(email="staff@example.org", name="Sam Staff", role="staff", member_type="other", organisation="")
    cllr = make_user(email="cllr@example.org", name="Cllr Ada Byron", member_type="councillor", organisation="",
                     gss_code=BRISTOL)
    officer = make_user(email="officer@example.org", name="Olu Officer", member_type="council_officer",
                        organisation="", gss_code=BRISTOL, job_title="Head of Commissioning")
    round_ = open_round(staff, name="Round 1: first drafts")
    principles.close_round(staff, round_)
    principles.adopt_round(staff, round_)
    la = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == BRISTOL))
    pledge = councils.submit_pledge(cllr, la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="")
    councils.review_pledge(staff, pledge, PledgeStatus.VERIFIED)
    journey.set_endorsement(cllr, la, link_url="https://democracy.bristol.example.org/cabinet/2025-03-27")
    invited = journey.appoint_champion(cllr, la, ChampionRole.CABINET, member=officer)
    db.session.commit()
    journey.accept_champion(officer, journey.champion_token(invited))
    journey.appoint_champion(cllr, la, ChampionRole.SENIOR_MANAGEMENT, name="Jo Director",
                             job_title="Director of Communities")
    journey.record_conversation(cllr, la, held_on=date(2025, 6, 12), title="Knowle West listening event",
                                summary="Forty residents and twelve groups on what keeping it local means here.")
    db.session.commit()
    return la


def test_draft_submit_accept_publish_then_the_public_page_shows_it(page, browser, live_server, make_user):
    """Councillor drafts -> champion submits -> staff accept -> champion publishes -> public page."""
    setup_bristol(make_user)

    # A councillor of Bristol: the journey page says where the council is and what is next.
    sign_in(page, "cllr@example.org")
    page.goto(f"/councils/{BRISTOL}/journey")
    expect(page.locator(".journey-now")).to_contain_text("Current stage: Community conversation held")
    expect(page.locator("#stage-champions")).to_contain_text("Cabinet champion: Olu Officer")
    expect(page.locator("#stage-assessed")).to_contain_text("Next")
    shots(page, "journey-page", "#stage-champions")
    no_axe_violations(page)
    page.get_by_role("link", name="Start the self-assessment").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Start the self-assessment")
    expect(page.locator("main")).to_contain_text("Round 1: first drafts")
    page.get_by_role("button", name="Start the self-assessment").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Self-assessment {date.today().year}")

    # The form follows the adopted drafts: level radios with their descriptors, evidence, action.
    first = page.get_by_role("group", name="Where is the council now on principle 1?")
    expect(first.get_by_label("3 Established")).to_be_visible()
    descriptor = journey.level_descriptors(1)[3]
    expect(first).to_contain_text(descriptor)
    first.get_by_label(LEVEL_CHOICES[1]).check()
    page.get_by_label("Evidence for principle 1").fill("Our community partnership board: https://example.org/b")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("status")).to_contain_text("saved as a draft")
    expect(page.get_by_role("group", name="Where is the council now on principle 1?")
           .get_by_label(LEVEL_CHOICES[1])).to_be_checked()
    for n, choice in LEVEL_CHOICES.items():
        page.get_by_role("group", name=f"Where is the council now on principle {n}?").get_by_label(choice).check()
        page.get_by_label(f"Evidence for principle {n}").fill(f"Evidence for principle {n}: what we do now.")
        page.get_by_label(f"One action for the year ahead on principle {n}").fill(f"Action {n} for next year.")
    shots(page, "assessment-form", "section.assessment-principle")
    no_axe_violations(page)
    page.get_by_role("button", name="Save and check your answers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Check your answers")
    expect(page.locator("main")).to_contain_text("A champion of City of Bristol submits it")
    shots(page, "check-answers")
    no_axe_violations(page)

    # The champion submits it.
    year = date.today().year
    assessment_id = db.session.scalar(sa.select(Assessment.id))
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        champion = context.new_page()
        sign_in(champion, "officer@example.org")
        champion.goto(f"/councils/{BRISTOL}/assessments/{assessment_id}/check")
        expect(champion.locator("main")).to_contain_text("1 Starting")
        champion.get_by_role("button", name="Submit the self-assessment").click()
        expect(champion.get_by_role("status")).to_contain_text("submitted")
        expect(champion.locator("main")).to_contain_text("The campaign team is reviewing it")
    finally:
        context.close()

    # Staff accept it on the council's staff page.
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        staff = context.new_page()
        sign_in(staff, "staff@example.org")
        staff.goto(f"/staff/councils/{BRISTOL}")
        section = staff.locator(f"#assessment-{assessment_id}-section")
        section.get_by_label("Accept the assessment").check()
        section.get_by_role("button", name=re.compile("Save the decision")).click()
        expect(staff.locator("main")).to_contain_text("Accepted")
    finally:
        context.close()
    db.session.expire_all()
    assert db.session.get(Assessment, assessment_id).status == AssessmentStatus.ACCEPTED

    # The champion publishes it.
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        champion = context.new_page()
        sign_in(champion, "officer@example.org")
        champion.goto(f"/councils/{BRISTOL}/assessments/{assessment_id}")
        champion.get_by_role("button", name="Publish the self-assessment").click()
        expect(champion.get_by_role("status")).to_contain_text("published on the council's page")
    finally:
        context.close()

    # Anyone: the public page shows the levels and the chart with its table.
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    try:
        public = context.new_page()
        errors = []
        public.on("pageerror", lambda exc: errors.append(str(exc)))
        public.goto(f"/councils/{BRISTOL}")
        expect(public.get_by_role("heading", name=f"Self-assessment {year}")).to_be_visible()
        expect(public.locator("main")).to_contain_text("4 Leading")
        chart = public.get_by_role("img", name=re.compile("City of Bristol: level on each principle"))
        expect(chart).to_be_visible()
        expect(chart.locator("text.progress-chart__value").first).to_have_text(f"{year}: Developing")
        table = public.get_by_role("table", name="Level on each principle by year")
        expect(table.locator("tbody tr")).to_have_count(6)
        expect(table.locator("tbody tr").nth(2)).to_contain_text("1 Starting")
        expect(public.locator("main")).to_contain_text("Current stage: Assessed")
        shots(public, "council-page", ".progress-chart")
        no_axe_violations(public)
        public.goto("/councils/")
        south_west = public.get_by_role("row", name=re.compile("^South West"))
        expect(south_west.locator("td").nth(5)).to_have_text("1")  # Bristol: assessed
        shots(public, "overview", ".journey-overview")
        no_axe_violations(public)
        assert errors == []
    finally:
        context.close()
    assert page.js_errors == []
