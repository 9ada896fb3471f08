"""Co-designing the principles in Chromium: voting card by card, live workshop voting, history diffs.

(a) A member votes on three cards of the open round: each card and the progress line are swapped
    in place by htmx (no page load), and a reload shows the votes kept.
(b) Staff link a workshop to the open round, open live voting and reveal the tallies on the
    presenter control; a member in a second browser context votes on the workshop's voting page;
    the presenter screen's bars (polling every second) change without the page reloading.
(c) After two rounds in which principle 1's wording changed, its history page marks the words
    added and removed with <ins> and <del>.

Screenshots go to test-artifacts/ (gitignored).
"""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import services as principles
from kil_network.principles.models import Stance, Vote
from kil_network.workshops import services as workshops
from kil_network.workshops.models import WorkshopFormat
from tests.support.browser import shot, sign_in
from tests.support.principles import ROUND_1, card, open_round

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"

ROUND_2_TEXT_1 = "Councils should look at the whole system by default, not at services one by one."


def test_member_votes_on_three_cards_in_place(page, make_user):
    """Each vote swaps its card and the progress line; nothing reloads; the votes are kept."""
    staff = make_user(email="staff@example.org", role="staff")
    make_user(email="nia@example.org", name="Nia Roberts", member_type="councillor")
    open_round(staff)

    sign_in(page, "nia@example.org")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Principles").click()
    expect(page).to_have_url(re.compile(r"/principles/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Round 1: first drafts")
    progress = page.locator("#progress")
    expect(progress).to_have_text(re.compile(r"responded to\s+0 of 6"))
    expect(page.locator("li.principle-card")).to_have_count(6)
    page.evaluate("window.__marker = 1")

    choices = [(1, "Support"), (3, "Support with changes"), (5, "Oppose")]
    for done, (number, stance) in enumerate(choices, start=1):
        item = card(page, number)
        item.get_by_label(stance, exact=True).check()
        if number == 3:
            item.get_by_label("Comment (optional)").fill("Say what counts as local spend.")
        with page.expect_response(lambda r: r.url.endswith("/vote") and r.request.method == "POST") as info:
            item.get_by_role("button", name=f"Save my vote on principle {number}").click()
        assert info.value.status == 200
        assert info.value.request.headers.get("hx-request") == "true"
        expect(item.get_by_role("status")).to_have_text("Vote saved.")
        expect(item.locator(".principle-card__vote")).to_have_text(f"Your vote: {stance}")
        expect(item.get_by_role("button", name=f"Change my vote on principle {number}")).to_be_visible()
        expect(progress).to_have_text(re.compile(rf"responded to\s+{done} of 6"))
        assert page.evaluate("window.__marker") == 1, "voting reloaded the page"
    # Cards not voted on are untouched.
    expect(card(page, 2).locator(".principle-card__vote")).to_have_count(0)
    expect(card(page, 2).get_by_role("button", name="Save my vote on principle 2")).to_be_visible()
    shot(page, "principles-voted")

    page.reload()
    assert page.evaluate("window.__marker") is None
    expect(progress).to_have_text(re.compile(r"responded to\s+3 of 6"))
    for number, stance in choices:
        expect(card(page, number).locator(".principle-card__vote")).to_have_text(f"Your vote: {stance}")
        expect(card(page, number).get_by_label(stance, exact=True)).to_be_checked()
    expect(card(page, 3).get_by_label("Comment (optional)")).to_have_value("Say what counts as local spend.")
    assert page.js_errors == []


def test_projector_bars_move_when_a_phone_votes(page, browser, live_server, make_user):
    """Staff link a workshop to the round and open live voting; a vote from the short link moves the bars."""
    staff = make_user(email="staff@example.org", name="Sam Staff", role="staff")
    tomos = make_user(email="tomos@example.org", name="Tomos Pryce", member_type="commissioner")
    round_ = open_round(staff)
    start = utcnow() + timedelta(hours=1)
    workshop = workshops.create_workshop(staff, {
        "title": "Cardiff principles workshop", "description": "Voting on the drafts, in the room.",
        "format": WorkshopFormat.IN_PERSON, "venue": "Temple of Peace", "address": "King Edward VII Avenue, Cardiff",
        "postcode": "CF10 3AP", "starts_at": start, "ends_at": start + timedelta(hours=3),
        "registration_closes_at": start - timedelta(minutes=30), "capacity": 40})
    workshops.publish_workshop(staff, workshop)
    workshops.check_in(staff, workshops.register(workshop, tomos))  # only attendees count in the room's tally
    db.session.commit()

    # Staff link the workshop to the open round on the edit form.
    sign_in(page, "staff@example.org")
    page.goto(f"/staff/workshops/{workshop.id}/edit")
    page.get_by_label("Principles round this workshop feeds (optional)").select_option(label=round_.name)
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(rf"/staff/workshops/{workshop.id}$"))
    expect(page.locator("main > .notice")).to_contain_text("Changes saved")

    # The control: open live voting and show the tallies live; the screen shows no split yet.
    page.get_by_role("link", name="Live voting: presenter control").click()
    expect(page).to_have_url(re.compile(rf"/staff/workshops/{workshop.id}/control$"))
    page.get_by_role("button", name="Open live voting").click()
    expect(page.get_by_role("status")).to_contain_text("Live voting is open")
    page.get_by_role("button", name="Reveal the tallies").click()
    expect(page.get_by_role("status")).to_contain_text("The tallies are shown")
    db.session.expire_all()
    # Four others in the room vote on principle 1 now: too few for the screen to show how
    # (the disclosure rules: 5 votes); Tomos's support makes it 2, 2, 1 of 5, which it shows.
    first = principles.drafts_of(round_)[0]
    for i, stance in enumerate([Stance.SUPPORT, Stance.AMEND, Stance.OPPOSE, Stance.AMEND]):
        person = make_user(email=f"room{i}@example.org", name=f"Room Person{i}")
        workshops.check_in(staff, workshops.register(workshop, person))
        principles.cast_vote(person, first, stance, "", workshop.id)
    db.session.commit()
    page.get_by_role("link", name="Open the presenter screen").click()
    expect(page).to_have_url(re.compile(rf"/staff/workshops/{workshop.id}/present$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cardiff principles workshop")
    expect(page.locator(".present__url strong")).to_have_text(re.compile(rf"/w/{workshop.id}$"))
    expect(page.locator(".present__qr svg")).to_be_visible()
    support_1 = page.locator('[data-count="support-1"]')
    expect(page.locator('[data-votes="1"]')).to_have_text("4")
    expect(page.locator('[data-principle="1"] .present-card__hidden-note')).to_have_text("Results appear from 5 votes")
    expect(page.locator("[data-count]")).to_have_count(0)
    page.evaluate("window.__marker = 1")
    shot(page, "projector-before")

    # A phone in the room votes on the workshop's voting page.
    phone_context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    try:
        phone = phone_context.new_page()
        sign_in(phone, "tomos@example.org")
        phone.goto(f"/principles/?workshop={workshop.id}")
        item = card(phone, 1)
        item.get_by_label("Support", exact=True).check()
        item.get_by_role("button", name="Save my vote on principle 1").click()
        expect(item.get_by_role("status")).to_have_text("Vote saved.")
        item = card(phone, 2)
        item.get_by_label("Oppose", exact=True).check()
        item.get_by_role("button", name="Save my vote on principle 2").click()
        expect(item.get_by_role("status")).to_have_text("Vote saved.")
        shot(phone, "projector-phone-voted")
    finally:
        phone_context.close()

    # The screen's poll (every second) picks the votes up without a reload.
    expect(support_1).to_have_text("2 (40%)", timeout=3000)
    expect(page.locator('[data-count="amend-1"]')).to_have_text("2 (40%)")
    expect(page.locator('[data-principle="1"] .present-card__votes')).to_have_text("5 votes")
    bar = page.locator('[data-principle="1"] .present-bars__bar--support')
    expect(bar).to_have_attribute("width", "40")
    expect(page.locator('[data-votes="2"]')).to_have_text("1")  # principle 2: one vote, not shown how
    expect(page.locator('[data-count="oppose-2"]')).to_have_count(0)
    assert page.evaluate("window.__marker") == 1, "the projector page reloaded"
    shot(page, "projector-after")

    # The votes were recorded with the workshop.
    db.session.expire_all()
    votes = db.session.scalars(sa.select(Vote)).all()
    mine = [v for v in votes if v.user_id == tomos.id]
    assert {(v.stance, v.workshop_id) for v in mine} == {(Stance.SUPPORT, workshop.id), (Stance.OPPOSE, workshop.id)}
    assert page.js_errors == []


def test_history_page_marks_changed_words(page, make_user):
    """Principle 1's wording changed between rounds: the history shows <del> and <ins> for those words."""
    staff = make_user(email="staff@example.org", role="staff")
    first = open_round(staff)
    principles.close_round(staff, first)
    db.session.commit()
    second = principles.create_round(staff, name="Round 2: revised drafts", closes_at=utcnow() + timedelta(days=7))
    draft_1 = principles.drafts_of(second)[0]
    assert draft_1.text == ROUND_1[1][1]  # copied from round 1
    principles.update_round(staff, second, name=second.name, introduction="", opens_at=None,
                            closes_at=second.closes_at, eligibility=second.eligibility,
                            drafts={draft_1.id: {"title": "Think about the whole local system", "text": ROUND_2_TEXT_1,
                                                 "what_changed": "Whole-system thinking is now the default."}})
    principles.open_round_for_votes(staff, second)
    db.session.commit()

    page.goto("/principles/1/history")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Principle 1: .+, round by round$"))
    rounds = page.locator("section.history-round")
    expect(rounds).to_have_count(2)
    earlier, later = rounds.nth(0), rounds.nth(1)
    expect(earlier.get_by_role("heading", level=2)).to_have_text("Round 1: first drafts")
    expect(earlier.locator("ins, del")).to_have_count(0)  # the first round has nothing to compare with
    expect(later.get_by_role("heading", level=2)).to_have_text("Round 2: revised drafts")

    text = later.locator("p.diff")
    # Word by word: "wherever possible," became "by default," (the space between them is kept).
    expect(text.locator("del")).to_have_text([re.compile(r"\bwherever\b"), re.compile(r"\bpossible,")])
    expect(text.locator("ins")).to_have_text([re.compile(r"\bby\b"), re.compile(r"\bdefault,")])
    expect(text.locator("del .visually-hidden").first).to_have_text("[removed: ")
    expect(text.locator("ins .visually-hidden").first).to_have_text("[added: ")
    # Unchanged words are plain text around the marks.
    assert text.evaluate("el => el.textContent").startswith("Councils should look at the whole system ")
    title = later.get_by_role("heading", level=3)
    expect(title.locator("ins")).to_contain_text("local")
    expect(title.locator("del")).to_have_count(0)
    expect(later).to_contain_text("What changed: Whole-system thinking is now the default.")
    # Principle 2 did not change, so its history has no marks at all.
    shot(page, "principle-history")
    page.goto("/principles/2/history")
    expect(page.locator("section.history-round")).to_have_count(2)
    expect(page.locator("section.history-round").locator("ins, del")).to_have_count(0)
    assert page.js_errors == []
