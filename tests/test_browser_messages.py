"""A staff message in Chromium: compose, the live recipient count changing with a filter (htmx),
preview, a test sent to me, send, and the sending page's progress bar reaching 100% as the live
server's mail worker delivers to the SMTP capture server."""
import re

import pytest
from playwright.sync_api import expect

from kil_network.extensions import db
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


def test_compose_count_preview_test_send_progress(page, make_user, live_smtp):
    """The whole journey, delivered for real."""
    make_user(email="staff@example.org", role="staff", consent_marketing=True)
    for i, mtype in enumerate(["councillor", "councillor", "academic"]):
        make_user(email=f"reader{i}@example.org", member_type=mtype, consent_marketing=True)
    make_user(email="noconsent@example.org", member_type="councillor")
    db.session.commit()
    live_smtp.clear()
    sign_in(page, "staff@example.org")
    page.goto("/staff/messages/")
    page.get_by_role("link", name="Write a message").click()
    count = page.locator("#recipient-count")
    expect(count).to_contain_text("4 members")
    expect(count).to_contain_text("1 left out: not agreed to campaign emails")
    page.get_by_label("Councillor").check()
    expect(count).to_contain_text("2 members")
    page.get_by_label("Subject", exact=True).fill("Round 2 is open")
    page.get_by_label("Message", exact=True).fill("Hello.\n\nThe **principles** are out. <script>alert(1)</script>")
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("heading", name="Edit draft message")).to_be_visible()
    expect(page.locator("#recipient-count")).to_contain_text("2 members")

    page.get_by_role("link", name=re.compile("Preview the email")).click()
    frame = page.frame_locator("iframe[title='The email as HTML']")
    expect(frame.locator("strong")).to_have_text("principles")
    expect(page.locator("pre.email-body")).to_contain_text("The principles are out.")
    page.go_back()

    page.get_by_role("button", name="Send a test to me").click()
    expect(page.get_by_text("A test copy is on its way to staff@example.org")).to_be_visible()
    page.get_by_role("button", name="Send now to 2 members").click()
    expect(page.get_by_text("The message is queued to 2 members.")).to_be_visible()
    progress = page.locator("#progress")
    expect(progress).to_contain_text("Delivered 100%", timeout=20_000)
    expect(progress).to_contain_text("2 sent")
    assert progress.get_attribute("data-hx-trigger") is None  # polling stopped
    live_smtp.wait_for(lambda m: m["To"] == "reader1@example.org")
    copies = [m for m in live_smtp.messages if m["Subject"] == "Round 2 is open"]
    assert sorted(m["To"] for m in copies) == ["reader0@example.org", "reader1@example.org"]
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in copies)
    test_copy = live_smtp.wait_for(lambda m: m["Subject"] == "[Test] Round 2 is open")
    assert test_copy["To"] == "staff@example.org"
