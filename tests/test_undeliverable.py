"""Undeliverable addresses and a member's communications as personal data (issue 13).

The real SMTP capture server (tests/support/mail.py) refuses chosen addresses at RCPT TO: 550 is
permanent (the email fails at once and counts against the address), 451 temporary (a retry that
counts for nothing). Staff see an undeliverable address; an email change or a delivery clears it;
the data export lists the emails sent and the preferences; erasure removes them, keeping consent
withdrawals only as anonymised counts.
"""
import json
import smtplib
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from kil_network.auth.services import confirm_email, make_confirm_token, request_email_change
from kil_network.core import email as outbox
from kil_network.core.delivery import REFUSED, read_refusal
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, ConsentWithdrawalCount, NotificationPreference
from kil_network.members.services import delete_account, export_member, record_consent
from kil_network.messages.models import Message
from kil_network.staff.services import staff_member_search

pytestmark = pytest.mark.both_databases  # the listener's row lock and UPDATEs, the counts' upsert

GONE = "gone@example.org"
PASSWORD = "correct horse battery"


def queue(user, subject="News from the Network", to=None, **kwargs) -> OutboxEmail:
    """Queue one email to the member (their address unless `to`) and commit it."""
    mail = outbox.queue_email(to or user.email, subject, "confirm_email", user=user,
                              user_obj=SimpleNamespace(name=user.name), url="http://localhost/x", **kwargs)
    db.session.commit()
    return mail


def send(user, subject="News from the Network") -> OutboxEmail:
    """Queue one email to the member and run the worker once."""
    mail = queue(user, subject)
    outbox.deliver_due()
    db.session.refresh(mail)
    db.session.refresh(user)
    return mail


@pytest.fixture
def gone(make_user, mail):
    """A member whose address the capture server refuses with 550."""
    user = make_user(GONE)
    mail.refuse(GONE, "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown")
    return user


# --- the worker ---------------------------------------------------------------------------

def test_three_550s_mark_the_address_undeliverable(app, gone, mail):
    """Each 550 fails its email at once with the server's answer; the third marks the member."""
    first = send(gone, "First")
    assert first.status == OutboxEmail.FAILED and first.attempts == 1
    assert "550 5.1.1" in first.last_error and "User unknown" in first.last_error
    assert gone.email_bounce_count == 1 and gone.email_undeliverable_at is None
    send(gone, "Second")
    assert gone.email_bounce_count == 2 and gone.email_undeliverable_at is None
    send(gone, "Third")
    assert gone.email_bounce_count == 3 and gone.email_undeliverable_at is not None
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "member.email_undeliverable"))
    assert entry.target_id == gone.id and entry.actor_id is None and GONE not in entry.summary
    assert mail.messages == []
    assert db.session.scalars(staff_member_search(email="undeliverable")).all() == [gone]


def test_a_permanent_refusal_is_never_retried(app, gone):
    """A failed 5xx email stays failed: the next batches leave it alone."""
    mail = send(gone)
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    db.session.refresh(mail)
    assert mail.status == OutboxEmail.FAILED and mail.attempts == 1


def test_a_451_retries_and_does_not_count(app, make_user, mail):
    """A temporary refusal backs off as before and leaves the member's count alone."""
    user = make_user("busy@example.org")
    mail.refuse("busy@example.org", "451 4.3.0 Mailbox busy, try again later")
    row = send(user)
    assert row.status == OutboxEmail.PENDING and row.attempts == 1 and "451" in row.last_error
    assert row.next_attempt_at > utcnow()
    assert user.email_bounce_count == 0 and user.email_undeliverable_at is None


def test_a_delivery_resets_the_count_and_the_flag(app, gone, mail):
    """Three refusals, then the server takes the address again: nothing is held against it."""
    for subject in ("One", "Two", "Three"):
        send(gone, subject)
    assert gone.email_undeliverable_at is not None
    mail.refusals.clear()
    row = send(gone, "It works again")
    assert row.status == OutboxEmail.SENT
    assert gone.email_bounce_count == 0 and gone.email_undeliverable_at is None
    assert mail.wait_for(lambda m: m["Subject"] == "It works again")


def test_refusals_of_another_address_do_not_count_on_the_member(app, make_user, mail):
    """A refused confirmation of a new address is not held against the member's current one."""
    user = make_user("stays@example.org")
    mail.refuse("typo@exmaple.org")
    queue(user, "Confirm your new email address", to="typo@exmaple.org")
    outbox.deliver_due()
    db.session.refresh(user)
    assert user.email_bounce_count == 0


def test_a_failing_listener_never_stops_the_queue(app, gone, mail, make_user, monkeypatch):
    """A listener that raises is rolled back and logged; the outcome and the other emails stand."""
    def broken(mail_row, outcome, code):
        raise RuntimeError("listener down")

    monkeypatch.setitem(app.extensions, "delivery_listeners", [broken])
    other = make_user("fine@example.org")
    queue(gone, "Refused")
    queue(other, "Delivered")
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 1}


@pytest.mark.parametrize("exc, permanent, about_address", [
    (smtplib.SMTPRecipientsRefused({"a@b.org": (550, b"5.1.1 no such user")}), True, True),
    (smtplib.SMTPRecipientsRefused({"a@b.org": (452, b"4.2.2 over quota")}), False, False),
    (smtplib.SMTPDataError(550, b"5.7.1 Message rejected as spam"), True, False),
    (smtplib.SMTPDataError(552, b"5.2.2 Mailbox full"), True, True),
    (smtplib.SMTPDataError(451, b"4.3.0 Local error"), False, False),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "network@keepitlocal.invalid"), False, False),
    (ConnectionRefusedError(111, "Connection refused"), False, False),
])
def test_read_refusal(exc, permanent, about_address):
    """Only a 5xx refusal of this message is permanent; only one about the address counts against it."""
    refusal = read_refusal(exc)
    assert (refusal.permanent, refusal.about_address) == (permanent, about_address)
    assert refusal.answer


def test_a_5xx_after_data_about_content_fails_without_counting(app, make_user, mail, monkeypatch):
    """A 554 content rejection fails the email at once but is not the address's fault."""
    user = make_user("content@example.org")

    def reject(self, message):
        raise smtplib.SMTPDataError(554, b"5.7.1 Message content rejected")

    monkeypatch.setattr(outbox.SMTPConnection, "send", reject)
    row = send(user)
    assert row.status == OutboxEmail.FAILED and "554 5.7.1" in row.last_error
    assert user.email_bounce_count == 0


def test_listeners_hear_the_outcome_and_code(app, gone, monkeypatch):
    """The registry passes (row, outcome, SMTP code) after the outcome is committed."""
    heard = []
    monkeypatch.setitem(app.extensions, "delivery_listeners",
                        [lambda row, outcome, code: heard.append((row.id, outcome, code, row.status))])
    mail = send(gone)
    assert heard == [(mail.id, REFUSED, 550, OutboxEmail.FAILED)]


# --- staff see it -------------------------------------------------------------------------

def test_staff_member_page_shows_the_undeliverable_address(app, client, as_role, gone):
    """The member's page says since when, how many refusals and the server's last answer."""
    for subject in ("One", "Two", "Three"):
        send(gone, subject)
    as_role("staff")
    page = client.get(f"/staff/members/{gone.id}").get_data(as_text=True)
    assert "Email address undeliverable since" in page
    assert "the mail server refused it 3 times" in page and "Recipient address rejected: User unknown" in page
    listing = client.get("/staff/members/?email=undeliverable").get_data(as_text=True)
    assert "gone@example.org" in listing and "Email undeliverable" in listing and "staff@example.org" not in listing
    assert "gone@example.org" in client.get("/staff/members.csv?email=undeliverable").get_data(as_text=True)
    failed = client.get("/staff/outbox/?status=failed").get_data(as_text=True)
    assert "User unknown" in failed


def test_staff_member_page_shows_refusals_before_the_mark(app, client, as_role, gone):
    """One refusal: staff see it, not yet as undeliverable."""
    send(gone)
    as_role("staff")
    page = client.get(f"/staff/members/{gone.id}").get_data(as_text=True)
    assert "refused this address 1 time in a row" in page and "undeliverable since" not in page


def test_members_and_anonymous_cannot_see_the_filter(app, client, as_role):
    """The filtered list is staff only."""
    assert client.get("/staff/members/?email=undeliverable").status_code == 302
    as_role("member")
    assert client.get("/staff/members/?email=undeliverable").status_code == 403


@pytest.mark.parametrize("value", ["bogus", "9" * 30, "Undeliverable"])
def test_an_unknown_email_filter_shows_everyone(app, client, as_role, make_user, value):
    """A filter value that is not offered is ignored (an old bookmark), never an error."""
    as_role("staff")
    make_user("someone@example.org")
    response = client.get(f"/staff/members/?email={value}")
    assert response.status_code == 200 and "someone@example.org" in response.get_data(as_text=True)


def test_a_nul_in_the_email_filter_is_a_bad_request(app, client, as_role):
    """As every query value (core.params): a NUL is a 400, not a 500."""
    as_role("staff")
    assert client.get("/staff/members/?email=undeliverable%00").status_code == 400


# --- a new address starts again -------------------------------------------------------------

def test_an_email_change_clears_the_flag(app, gone):
    """Confirming a new address clears the count and the mark."""
    for subject in ("One", "Two", "Three"):
        send(gone, subject)
    request_email_change(gone, "new-home@example.org", PASSWORD)
    db.session.commit()
    confirm_email(make_confirm_token(gone, "new-home@example.org"))
    db.session.commit()
    db.session.refresh(gone)
    assert gone.email == "new-home@example.org"
    assert gone.email_bounce_count == 0 and gone.email_undeliverable_at is None


# --- personal data --------------------------------------------------------------------------

def _message(subject="Spring update") -> Message:
    """A sent staff message (its copies are outbox rows with message_id)."""
    message = Message(subject=subject, body="Hello", audience={})
    db.session.add(message)
    db.session.commit()
    return message


def test_export_lists_the_emails_sent_preferences_and_bounce_state(app, client, auth, gone):
    """The member's download has each email (no secret body), their choices and the refusals."""
    send(gone, "Refused news")
    queue(gone, "Your sign-in code: 123456", kind="sign_in")
    db.session.add(NotificationPreference(user_id=gone.id, kind="round_open", enabled=False, updated_at=utcnow()))
    db.session.commit()
    auth.login(GONE)
    data = json.loads(client.get("/account/export").get_data(as_text=True))
    emails = {e["subject"]: e for e in data["emails_sent"]}
    assert emails["Refused news"]["status"] == OutboxEmail.FAILED and emails["Refused news"]["to"] == GONE
    assert emails["Refused news"]["kind"] == "general" and emails["Refused news"]["queued_at"]
    assert "Your sign-in code: 123456" in emails
    assert "http://localhost/x" not in json.dumps(data["emails_sent"])  # no bodies, no links
    assert data["email_delivery"] == {"permanent_refusals_in_a_row": 1, "undeliverable_since": None}
    assert "notification_preferences" in data
    assert data["notification_preferences"]["round_open"] is False


def test_erasure_removes_the_emails_and_preferences_and_keeps_anonymised_counts(app, make_user):
    """Deleting the account: personal emails deleted, staff-message copies emptied (the message's
    counts stay), preference rows and consent records gone, withdrawals counted."""
    user = make_user("leaving@example.org")
    other = make_user("staying@example.org")
    message = _message()
    queue(user, "Your workshop")
    copy = queue(user, "Spring update")
    copy.message_id = message.id
    copy.status = OutboxEmail.SENT
    pending_copy = queue(user, "Spring update again")
    pending_copy.message_id = message.id
    queue(other, "Theirs")
    db.session.add(NotificationPreference(user_id=user.id, kind="round_open", enabled=False, updated_at=utcnow()))
    record_consent(user, "marketing", True, "profile")
    record_consent(user, "marketing", False, "unsubscribe link")
    record_consent(user, "directory", False, "profile")
    db.session.commit()
    earlier = ConsentWithdrawalCount(kind="marketing", source="unsubscribe link", month=utcnow().strftime("%Y-%m"),
                                     withdrawals=4)
    db.session.add(earlier)
    db.session.commit()

    delete_account(user)
    db.session.commit()

    rows = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)).all()
    assert [r.subject for r in rows] == ["Spring update", "Spring update again", "Theirs"]
    for row in rows[:2]:
        assert (row.to_address, row.body_text, row.body_html, row.user_id, row.headers) == ("", "", None, None, {})
        assert row.message_id == message.id
    assert rows[0].status == OutboxEmail.SENT
    assert rows[1].status == OutboxEmail.FAILED and "deleted their account" in rows[1].last_error
    assert rows[2].to_address == "staying@example.org"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(NotificationPreference)
                             .where(NotificationPreference.user_id == user.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentRecord)
                             .where(ConsentRecord.user_id == user.id)) == 0
    counts = {(c.kind, c.source): c.withdrawals for c in db.session.scalars(sa.select(ConsentWithdrawalCount))}
    assert counts == {("marketing", "unsubscribe link"): 5, ("directory", "profile"): 1}
    assert export_member(user)["emails_sent"] == []
