"""The email outbox (kil_network/core/email.py): queued with the change, delivered over real SMTP."""
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from kil_network.auth.models import MemberType, User
from kil_network.auth.services import send_confirmation
from kil_network.core import email as outbox
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.services import create_member
from kil_network.staff.services import retry_email
from tests.support.app import free_port
from tests.support.mail import email_text


def queue(to="alice@example.org", subject="Hello from the Network", **kwargs) -> OutboxEmail:
    """Queue a confirmation-style email to `to` and commit it."""
    mail = outbox.queue_email(
        to, subject, "confirm_email", user_obj=SimpleNamespace(name="Alice"),
        url="http://127.0.0.1:5000/auth/confirm/abc123", **kwargs,
    )
    db.session.commit()
    return mail


def outbox_count(connection=None) -> int:
    """Rows in the outbox (through another connection when given)."""
    stmt = sa.select(sa.func.count()).select_from(OutboxEmail)
    return (connection or db.session).scalar(stmt)


def make_due(mail: OutboxEmail) -> None:
    """Move an email's next try to now (as if its back-off had passed) and commit."""
    mail.next_attempt_at = utcnow()
    db.session.commit()


def with_subject(subject):
    """A predicate for mail.wait_for."""
    return lambda message: message["Subject"] == subject


# --- queueing ----------------------------------------------------------------------------

def test_queue_email_commits_with_the_change(app):
    """The account and its confirmation email land together and only on commit."""
    user = create_member(name="Alice", email="alice@example.org", password="pw-123456789",
                         member_type=MemberType.OTHER, consent_privacy=True)
    send_confirmation(user)
    db.session.flush()
    with db.engine.connect() as other:
        assert outbox_count(other) == 0  # not visible outside the transaction yet
    db.session.commit()
    [mail] = db.session.scalars(sa.select(OutboxEmail)).all()
    assert (mail.to_address, mail.subject, mail.kind) == ("alice@example.org", "Confirm your email address", "confirm")
    assert mail.user_id == user.id and mail.status == OutboxEmail.PENDING and mail.attempts == 0
    assert "/auth/confirm/" in mail.body_text and "Hello Alice" in mail.body_text


def test_queue_email_rolls_back_with_the_change(app):
    """If the change that caused an email is rolled back, the email goes too."""
    user = create_member(name="Alice", email="alice@example.org", password="pw-123456789",
                         member_type=MemberType.OTHER, consent_privacy=True)
    send_confirmation(user)
    db.session.flush()
    db.session.rollback()
    assert outbox_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_queue_email_never_talks_to_smtp(app, smtp_server):
    """Queueing with a mail server configured sends nothing until the worker runs."""
    smtp_server.clear()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port)
    queue()
    time.sleep(0.3)
    assert smtp_server.messages == []
    assert outbox_count() == 1


# --- delivery ----------------------------------------------------------------------------

def test_deliver_due_sends_over_smtp(app, mail):
    """The worker sends the message with its To, From, Subject and body, then marks it sent."""
    row = queue(subject="Welcome to the Network")
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    message = mail.wait_for(with_subject("Welcome to the Network"))
    assert message["To"] == "alice@example.org"
    assert message.envelope_to == ["alice@example.org"]
    assert message["From"] == app.config["MAIL_DEFAULT_SENDER"]
    assert f"outbox-{row.id}" in message["Message-ID"]
    assert "Hello Alice" in email_text(message)
    assert "http://127.0.0.1:5000/auth/confirm/abc123" in email_text(message)
    assert row.status == OutboxEmail.SENT and row.attempts == 1 and row.sent_at is not None
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}


def test_attachment_round_trip(app, mail):
    """Attachments (text and binary) arrive byte for byte with their names and types."""
    blob = bytes(range(256)) * 4
    queue(subject="Your data", attachments=[
        {"filename": "my-data.json", "content_type": "application/json", "content": b'{"name": "Al\xc3\xaf"}'},
        {"filename": "photo.bin", "content_type": "application/octet-stream", "content": blob},
    ])
    outbox.deliver_due()
    message = mail.wait_for(with_subject("Your data"))
    parts = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(parts) == {"my-data.json", "photo.bin"}
    assert parts["my-data.json"].get_content_type() == "application/json"
    assert parts["my-data.json"].get_content() == b'{"name": "Al\xc3\xaf"}'
    assert parts["photo.bin"].get_content() == blob
    assert "Hello Alice" in email_text(message)


def test_smtp_down_loses_nothing_and_sends_once_when_back(app, mail):
    """With SMTP down the email waits with back-off; when SMTP is back it is sent exactly once."""
    app.config["MAIL_PORT"] = free_port()  # nothing listens here
    row = queue(subject="Survives an outage")
    before = utcnow()
    assert outbox.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    assert row.status == OutboxEmail.PENDING
    assert row.attempts == 1
    assert row.last_error and "Connection" in row.last_error
    assert row.next_attempt_at >= before + timedelta(seconds=29)
    assert row.sent_at is None

    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}  # not due yet
    assert row.attempts == 1

    app.config["MAIL_PORT"] = mail.port
    make_due(row)
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    mail.wait_for(with_subject("Survives an outage"))
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    time.sleep(0.5)
    assert sum(m["Subject"] == "Survives an outage" for m in mail.messages) == 1
    assert row.status == OutboxEmail.SENT and row.attempts == 2 and row.last_error is None


def test_backoff_grows_and_is_capped():
    """Retries wait 30 s, 1 min, 2 min ... and never more than an hour."""
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert outbox.backoff(20) == timedelta(hours=1)


def test_second_failure_backs_off_longer(app, mail):
    """Each failure pushes the next try further away."""
    app.config["MAIL_PORT"] = free_port()
    row = queue()
    outbox.deliver_due()
    make_due(row)
    before = utcnow()
    outbox.deliver_due()
    assert row.attempts == 2
    assert row.next_attempt_at >= before + timedelta(seconds=59)


def test_fails_after_max_attempts_and_retry_now_requeues(app, mail):
    """After MAIL_MAX_ATTEMPTS failures the email is failed; retry_now sends it again."""
    app.config.update(MAIL_PORT=free_port(), MAIL_MAX_ATTEMPTS=3)
    row = queue(subject="Eventually delivered")
    results = []
    for _ in range(3):
        results.append(outbox.deliver_due())
        make_due(row)
    assert results[-1] == {"sent": 0, "retry": 0, "failed": 1}
    assert row.status == OutboxEmail.FAILED and row.attempts == 3 and row.last_error
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}  # failed rows are left alone

    app.config["MAIL_PORT"] = mail.port
    outbox.retry_now(row)
    db.session.commit()
    assert row.status == OutboxEmail.PENDING
    assert outbox.deliver_due()["sent"] == 1
    mail.wait_for(with_subject("Eventually delivered"))
    assert row.status == OutboxEmail.SENT


def test_staff_retry_is_audited(app, mail, make_user):
    """A member of staff retrying a failed email requeues it and writes an audit row."""
    staff = make_user(role="staff")
    row = queue()
    row.status = OutboxEmail.FAILED
    db.session.commit()
    retry_email(staff, row)
    db.session.commit()
    assert row.status == OutboxEmail.PENDING
    [entry] = db.session.scalars(sa.select(AuditLog)).all()
    assert (entry.actor_id, entry.action, entry.target_type, entry.target_id) == (
        staff.id, "email.retry", "outboxemail", row.id,
    )


def test_staff_cannot_resend_a_sent_email(app, client, as_role):
    """Retrying an email that was already delivered changes nothing and says why."""
    as_role("staff")
    row = queue()
    row.status = OutboxEmail.SENT
    db.session.commit()
    response = client.post_form(f"/staff/outbox/{row.id}/retry", token_from="/staff/outbox/", follow_redirects=True)
    assert response.status_code == 200
    assert "has already been sent, so it was not sent again" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(OutboxEmail, row.id).status == OutboxEmail.SENT
    assert db.session.scalars(sa.select(AuditLog)).all() == []


def test_console_mode_prints_and_marks_sent(app, capsys):
    """Without MAIL_SERVER the email is printed for the developer and marked sent."""
    assert app.config["MAIL_SERVER"] == ""
    row = queue(subject="Printed, not posted")
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    err = capsys.readouterr().err
    assert "alice@example.org: Printed, not posted" in err
    assert "http://127.0.0.1:5000/auth/confirm/abc123" in err
    assert row.status == OutboxEmail.SENT


def test_deliver_due_respects_limit_and_order(app):
    """A batch takes the oldest due emails first, up to the limit; future ones wait."""
    rows = [queue(f"person{i}@example.org", f"Message {i}") for i in range(5)]
    rows[0].next_attempt_at = utcnow() + timedelta(minutes=10)
    db.session.commit()
    assert [m.id for m in outbox.claim_due(limit=2)] == [rows[1].id, rows[2].id]
    db.session.rollback()
    assert outbox.deliver_due(limit=3)["sent"] == 3
    assert [r.status for r in rows] == [OutboxEmail.PENDING] + [OutboxEmail.SENT] * 3 + [OutboxEmail.PENDING]


# --- concurrent workers (PostgreSQL row locks) -------------------------------------------

def postgresql_only():
    """Skip unless the test database is PostgreSQL (SQLite has no row locks)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL")


@pytest.mark.postgresql_only
def test_concurrent_claimers_never_share_a_row(app):
    """While one worker holds its claimed rows, a second worker skips them instead of waiting."""
    postgresql_only()
    ids = [queue(f"p{i}@example.org", f"Claim {i}").id for i in range(10)]
    claimed = {"a": [], "b": []}
    ready = {"a": threading.Event(), "b": threading.Event()}
    release = threading.Event()
    errors = []

    def worker(name, limit):
        try:
            with app.app_context():
                claimed[name] = [m.id for m in outbox.claim_due(limit)]
                ready[name].set()
                release.wait(20)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
            ready[name].set()

    first = threading.Thread(target=worker, args=("a", 4))
    first.start()
    assert ready["a"].wait(10)
    second = threading.Thread(target=worker, args=("b", 50))
    second.start()
    assert ready["b"].wait(10), "the second claimer waited for the first one's locks"
    release.set()
    first.join(10)
    second.join(10)
    assert errors == []
    assert claimed["a"] == ids[:4]
    assert claimed["b"] == ids[4:]
    assert not set(claimed["a"]) & set(claimed["b"])


@pytest.mark.postgresql_only
def test_concurrent_workers_send_each_email_exactly_once(app, mail):
    """Four workers draining the outbox together deliver every email once and only once."""
    postgresql_only()
    ids = [queue(f"p{i}@example.org", f"Batch {i}").id for i in range(24)]
    errors = []

    def worker():
        try:
            with app.app_context():
                while any(outbox.deliver_due(limit=3).values()):
                    pass
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    mail.wait_for(lambda m: len([x for x in mail.messages if x["Subject"].startswith("Batch ")]) >= 24)
    time.sleep(0.5)
    received = [m["Subject"] for m in mail.messages if m["Subject"].startswith("Batch ")]
    assert sorted(received) == sorted(f"Batch {i}" for i in range(24))
    db.session.expire_all()
    rows = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.id.in_(ids))).all()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxEmail.SENT, 1)}
