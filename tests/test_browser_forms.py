"""Forms that never lose what was typed, in Chromium (issue 12).

(a) On a long draft page on a 375 px phone, a suggestion sent with no wording and a "why" over
    2,000 characters comes back with the error summary in view and focused, the "why" whole, and
    the character count saying how many characters too many.
(b) A vote's comment survives a missing stance: on the cards page with JavaScript (htmx swaps the
    card, its error summary focused), and on the draft page without JavaScript (a full page).
(c) A written-evidence document over 10MB is refused by the browser before it is sent.
"""
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from kil_network.core.timeutil import utcnow
from kil_network.evidence.models import Call
from kil_network.extensions import db
from kil_network.principles import services as principles
from tests.support.browser import PASSWORD, shot, sign_in
from tests.support.principles import card, open_round

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 667}


def _long_draft_page(make_user):
    """An open round whose principle 1 has a dozen long suggestions of the member's (listed for
    her whether or not staff have approved them yet): a page many screens long."""
    staff = make_user(email="staff@example.org", role="staff")
    nia = make_user(email="nia@example.org", name="Nia Roberts", member_type="councillor")
    round_ = open_round(staff)
    draft = principles.drafts_of(round_)[0]
    for i in range(12):
        principles.suggest(nia, draft, f"Suggestion {i}: " + "a much longer wording " * 12, "Because " * 20)
    db.session.commit()
    return draft


def test_suggestion_error_in_view_and_focused_on_a_phone(page, make_user):
    """No wording and a 2,001-character why: the page again (no #suggestions jump), the error
    summary inside the viewport and focused, the why whole, the count "1 character too many"."""
    draft = _long_draft_page(make_user)
    page.set_viewport_size(PHONE)
    sign_in(page, "nia@example.org")
    page.goto(f"/principles/drafts/{draft.id}")
    why = "W" * 2001
    reason = page.get_by_label("Why this change? (optional)")
    expect(page.locator("#reason-info")).to_have_text("You can enter up to 2,000 characters")
    reason.fill(why)
    count = page.locator("[data-character-count]", has=page.locator("#reason")).locator(".character-count__status")
    expect(count).to_have_text("You have 1 character too many")
    page.get_by_role("button", name=re.compile("my suggestion")).click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    assert summary.evaluate("e => e.getBoundingClientRect().top + window.scrollY") > 3 * PHONE["height"]  # far down
    expect(summary).to_contain_text("Enter the wording you suggest")
    expect(summary).to_contain_text("Your reason must be 2,000 characters or fewer")
    assert not page.url.endswith("#suggestions")  # the page again, at the form (not the list of suggestions)
    expect(page.get_by_label("Why this change? (optional)")).to_have_value(why)
    # The summary's link moves to the wording box.
    summary.get_by_role("link", name="Enter the wording you suggest").click()
    expect(page.locator("#text")).to_be_focused()
    shot(page, "suggestion-error-375")
    assert not page.js_errors


def test_vote_comment_kept_without_a_stance_with_javascript(page, make_user):
    """The cards page with htmx: no stance, a comment: the card swapped back with the comment, its
    error summary in view and focused; then choosing a stance saves the vote with that comment."""
    staff = make_user(email="staff@example.org", role="staff")
    make_user(email="nia@example.org", name="Nia Roberts", member_type="councillor")
    open_round(staff)
    page.set_viewport_size(PHONE)
    sign_in(page, "nia@example.org")
    page.goto("/principles/")
    page.evaluate("window.__marker = 1")
    item = card(page, 4)
    item.get_by_label("Comment (optional)").fill("Early help saves money later")
    with page.expect_response(lambda r: r.url.endswith("/vote")) as info:
        item.get_by_role("button", name="Save my vote on principle 4").click()
    assert info.value.status == 422
    item = card(page, 4)
    summary = item.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("Choose support, support with changes, or oppose")
    expect(item.get_by_label("Comment (optional)")).to_have_value("Early help saves money later")
    expect(item.locator(".character-count__status")).to_have_text("You have 1,972 characters remaining")  # swapped in
    assert page.evaluate("window.__marker") == 1  # swapped in place, no page load
    item.get_by_label("Support", exact=True).check()
    item.get_by_role("button", name="Save my vote on principle 4").click()
    expect(card(page, 4)).to_contain_text("Your vote: Support")
    expect(card(page, 4).get_by_label("Comment (optional)")).to_have_value("Early help saves money later")
    assert not page.js_errors


def test_vote_comment_kept_without_a_stance_without_javascript(browser, live_server, make_user):
    """JavaScript off: the vote form (draft page and cards) posted with a comment and no stance, and
    a suggestion with no wording, come back as the page opened at the form (its action's fragment),
    with what was typed and the error summary in view."""
    staff = make_user(email="staff@example.org", role="staff")
    make_user(email="nia@example.org", name="Nia Roberts", member_type="councillor")
    draft = principles.drafts_of(open_round(staff))[1]
    db.session.commit()
    context = browser.new_context(base_url=live_server, viewport=PHONE, java_script_enabled=False)
    context.set_default_timeout(10000)
    try:
        page = context.new_page()
        page.goto("/auth/login")
        page.get_by_label("Email address", exact=True).fill("nia@example.org")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/account/$"))
        for url in (f"/principles/drafts/{draft.id}", "/principles/"):
            page.goto(url)
            form = page.locator(f"form[action*='/principles/drafts/{draft.id}/vote']")
            form.get_by_label("Comment (optional)").fill("Coordinate with the health service too")
            form.get_by_role("button", name=re.compile("Save my vote")).click()
            summary = page.locator("[data-error-summary]")
            expect(summary).to_contain_text("Choose support, support with changes, or oppose")
            expect(summary).to_be_in_viewport()  # the form's action opens the page at the form
            form = page.locator(f"form[action*='/principles/drafts/{draft.id}/vote']")
            expect(form.get_by_label("Comment (optional)")).to_have_value("Coordinate with the health service too")
            expect(page.locator(f"#comment-info, #comment-{draft.id}-info").first) \
                .to_have_text("You can enter up to 2,000 characters")
        # And a suggestion with no wording: the page again, opened at the form, the why kept.
        page.goto(f"/principles/drafts/{draft.id}")
        page.get_by_label("Why this change? (optional)").fill("Health and care meet here")
        page.get_by_role("button", name=re.compile("my suggestion")).click()
        summary = page.locator("[data-error-summary]")
        expect(summary).to_contain_text("Enter the wording you suggest")
        expect(summary).to_be_in_viewport()
        expect(page.get_by_label("Why this change? (optional)")).to_have_value("Health and care meet here")
    finally:
        context.close()


def test_a_document_over_the_limit_is_refused_before_sending(page, app):
    """(c) The written-evidence form: a file over 10MB is refused by the browser before it is sent
    (the form stays, with what was typed), as a body too big to read could not be shown back."""
    now = utcnow()
    call = Call(title="Call for evidence", introduction="", asks="", opens_at=now - timedelta(days=1),
                survey_closes_at=None, written_closes_at=now + timedelta(days=9))
    db.session.add(call)
    db.session.commit()
    page.goto(f"/evidence/calls/{call.id}/submit")
    page.get_by_label("Your evidence").fill("Evidence typed with care.")
    file = page.locator("#file")
    big = b"%PDF-1.4" + b"0" * (10 * 1024 * 1024)
    file.set_input_files({"name": "big.pdf", "mimeType": "application/pdf", "buffer": big})
    assert file.evaluate("e => e.validationMessage") == "The selected file must be smaller than 10MB"
    url = page.url
    page.get_by_role("button", name=re.compile("Send")).click()
    assert page.url == url and page.get_by_label("Your evidence").input_value() == "Evidence typed with care."
    file.set_input_files({"name": "small.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 small"})
    assert file.evaluate("e => e.validationMessage") == ""
