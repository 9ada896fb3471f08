"""Issue 9, the email outbox and delivery: findings 2 (links follow the Host header), 3 (staff read
secret links in the outbox) and 10 (mail sent twice after a crash or a database blip; one bad row
stops the queue).

The fault tests run the real `flask deliver-mail` worker as a subprocess on PostgreSQL against a
real SMTP server (aiosmtpd) that can be slowed down and told when to signal, and count what it
received by Message-ID.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from config import ProductionConfig
from kil_network import create_app
from kil_network.core import email as outbox
from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from tests.support.app import CSRF_RE, KilClient, free_port

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
BASE = "https://network.example"


# --- helpers --------------------------------------------------------------------------------

def make_production_app(database_url, monkeypatch, **settings):
    """The production config on the test database, with BASE_URL and a mail server set."""
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-tests")
    values = {"SECRET_KEY": "a-production-secret-for-tests", "SQLALCHEMY_DATABASE_URI": database_url,
              "RATELIMIT_ENABLED": False, "HTMX_URL": "local", "HTMX_SRI": "", "PROXY_COUNT": 0,
              "MAIL_SERVER": "127.0.0.1", "BASE_URL": BASE, **settings}
    app = create_app(type("Config", (ProductionConfig,), values))
    app.test_client_class = KilClient
    return app


def csrf_token(client, url, base_url):
    """The CSRF token of a page fetched from `base_url`."""
    match = CSRF_RE.search(client.get(url, base_url=base_url).get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def reset_emails(address):
    """Password-reset emails queued to an address."""
    return db.session.scalars(sa.select(OutboxEmail).where(
        OutboxEmail.to_address == address, OutboxEmail.kind == "reset")).all()


def queue(n=1, prefix="Mail", **kwargs):
    """Queue n plain emails and commit; returns their rows."""
    rows = [outbox.queue_email(f"person{i}@example.org", f"{prefix} {i}", "confirm_email", kind="general",
                               user_obj=SimpleNamespace(name=f"Person {i}"), url=f"http://x.invalid/{i}",
                               **kwargs) for i in range(n)]
    db.session.commit()
    return rows


class Capture:
    """A real SMTP server (aiosmtpd) that keeps every message with the connection it came on.

    `delay` seconds pass between receiving a message and answering 250 (a slow server);
    `on_message(n)` runs in the server's thread when the n-th message has been received and
    before it is answered; `reply(n)` may return another answer (e.g. "421 ...")."""

    def __init__(self, delay=0.0, on_message=None, reply=None):
        from aiosmtpd.controller import Controller

        self.messages, self.delay, self.on_message, self.reply = [], delay, on_message, reply
        capture = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                message = message_from_bytes(envelope.original_content, policy=policy.default)
                message.peer = session.peer
                capture.messages.append(message)
                n = len(capture.messages)
                if capture.on_message:
                    capture.on_message(n)
                if capture.delay:
                    await asyncio.sleep(capture.delay)
                answer = capture.reply(n) if capture.reply else None
                return answer or "250 Message accepted for delivery"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def ids(self) -> Counter:
        """How many times each Message-ID arrived."""
        return Counter(m["Message-ID"] for m in self.messages)

    def stop(self):
        self.controller.stop()


@pytest.fixture
def capture():
    """Start Capture servers on demand; all are stopped after the test."""
    started = []

    def start(**kwargs):
        server = Capture(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def postgresql_only():
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the worker fault tests run on PostgreSQL (set TEST_DATABASE_URL)")


def worker_process(database_url, smtp_port, log, **env):
    """`flask deliver-mail` as a subprocess on the test database."""
    environment = {**os.environ, "KIL_ENV": "development", "DATABASE_URL": database_url,
                   "SECRET_KEY": "worker-test-secret", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port),
                   "MAIL_POLL_SECONDS": "0.2", **env}
    flask = Path(sys.executable).parent / "flask"
    return subprocess.Popen([str(flask), "--app", "wsgi", "deliver-mail"], cwd=ROOT, env=environment,
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)


def statuses(ids) -> Counter:
    """How many of these outbox rows are in each status (read afresh)."""
    db.session.expire_all()
    rows = db.session.execute(sa.select(OutboxEmail.status).where(OutboxEmail.id.in_(ids))).scalars()
    db.session.commit()
    return Counter(rows)


def wait_until(predicate, timeout=60.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop_process(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Finding 2: links in emails follow the request's Host header ------------------------------

def test_finding_02_forged_host_refused_and_links_use_base_url(app, make_user, database_url, monkeypatch):
    """POST /auth/reset with a forged Host gets 400 and queues nothing; from an allowed extra host the
    email's link still starts with BASE_URL (never the Host the request named)."""
    make_user(email="admin@example.org", role="admin")
    production = make_production_app(database_url, monkeypatch, EXTRA_TRUSTED_HOSTS=["alias.example"])
    client = production.test_client()
    # The attacker sends every request with their own Host (their own session, token and Referer).
    evil = "https://attacker.example"
    page = client.get("/auth/reset", base_url=evil)
    match = CSRF_RE.search(page.get_data(as_text=True))
    token = (match.group(1) or match.group(2)) if match else csrf_token(client, "/auth/reset", BASE)
    forged = client.post("/auth/reset", base_url=evil, data={"email": "admin@example.org", "csrf_token": token},
                         headers={"Referer": f"{evil}/auth/reset"})
    assert [m.body_text for m in reset_emails("admin@example.org")] == []  # no reset link to the attacker
    assert page.status_code == 400 and forged.status_code == 400
    assert "only at its own address" in forged.get_data(as_text=True)

    # The same attack from the allowed extra host: accepted, but the link is BASE_URL's.
    token = csrf_token(client, "/auth/reset", "https://alias.example")
    allowed = client.post("/auth/reset", base_url="https://alias.example",
                          data={"email": "admin@example.org", "csrf_token": token},
                          headers={"Referer": "https://alias.example/auth/reset"})
    assert allowed.status_code in (200, 302, 303)
    [mail] = reset_emails("admin@example.org")
    links = re.findall(r"https?://\S+", mail.body_text)
    assert links and all(link.startswith(BASE + "/") for link in links), links
    assert any(link.startswith(BASE + "/auth/reset/") for link in links)
    assert "alias.example" not in mail.body_text and "attacker.example" not in mail.body_text
    with production.app_context():
        db.engine.dispose()


def test_finding_02_email_links_ignore_the_request_host(app, client, make_user):
    """In the test config (localhost trusted as an extra host), a reset asked for over
    http://localhost gets a link on BASE_URL, as does a link built outside any request."""
    make_user(email="member1@example.org")
    client.post_form("/auth/reset", {"email": "member1@example.org"})
    [mail] = reset_emails("member1@example.org")
    assert "http://127.0.0.1:5000/auth/reset/" in mail.body_text
    assert "http://localhost" not in mail.body_text
    with app.test_request_context("/", base_url="http://localhost:8080"):
        assert outbox.external_url("workshops.detail", workshop_id=7) == "http://127.0.0.1:5000/workshops/7"
    app.config["BASE_URL"] = "https://network.example/kil"
    assert outbox.external_url("evidence.library") == "https://network.example/kil/evidence/library"


def test_finding_02_production_needs_base_url(database_url, monkeypatch):
    """Production refuses to start without BASE_URL (or with one that is not an absolute URL)."""
    for bad in ("", "network.example", "ftp://network.example"):
        with pytest.raises(RuntimeError, match="BASE_URL"):
            make_production_app(database_url, monkeypatch, BASE_URL=bad)
    started = make_production_app(database_url, monkeypatch)
    assert started.config["TRUSTED_HOSTS"] == ["network.example"]


def test_finding_02_calendar_and_workshop_links_use_base_url(app):
    """The .ics attachment and workshop email links are built from BASE_URL inside a request too."""
    from kil_network.workshops.calendar import _event

    workshop = SimpleNamespace(id=5, sequence=0, starts_at=utcnow(), ends_at=utcnow() + timedelta(hours=1),
                               title="T", description="D", venue="V", address="", postcode="",
                               format=SimpleNamespace(has_link=False, has_venue=True), online_url="",
                               status=None)
    with app.test_request_context("/", base_url="http://localhost"):
        event = _event(workshop, include_link=False, status="CONFIRMED")
    assert str(event["url"]) == "http://127.0.0.1:5000/workshops/5"


def test_finding_02_no_link_is_built_from_the_request_anywhere():
    """Every absolute URL goes through core.email.external_url: no area builds one from the request."""
    pattern = re.compile(r"_external\s*=\s*True|request\.(host|host_url|url_root|root_url|base_url)\b|"
                         r"force_external")
    offenders = []
    for path in sorted((ROOT / "kil_network").rglob("*.py")) + sorted((ROOT / "templates").rglob("*.*")):
        if path == ROOT / "kil_network" / "core" / "email.py" or path.suffix == ".pyc":
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


# --- Finding 3: staff read secret links in the outbox ----------------------------------------

def test_finding_03_outbox_never_shows_secret_links(app, client, make_user, auth):
    """With no mail server (bodies shown in development), an admin's reset link and a newcomer's
    confirmation link are not on the staff outbox page: only recipient, subject and status."""
    make_user(email="admin@example.org", role="admin")
    make_user(email="staff@example.org", role="staff")
    anonymous = app.test_client()
    anonymous.post_form("/auth/reset", {"email": "admin@example.org"})
    [reset] = reset_emails("admin@example.org")
    token_link = re.search(r"https?://\S+/auth/reset/\S+", reset.body_text).group(0)
    assert reset.secret is True
    signin = outbox.queue_email("someone@example.org", "Your sign-in link", "confirm_email", kind="notice",
                                user_obj=SimpleNamespace(name="S"),
                                url=outbox.external_url("auth.confirm", token="SIGNIN-TOKEN-123"))
    plain = outbox.queue_email("other@example.org", "A plain note", "confirm_email", kind="general",
                               user_obj=SimpleNamespace(name="P"), url="http://127.0.0.1:5000/nothing-secret")
    db.session.commit()
    assert signin.secret is True and plain.secret is False  # a token link marks the email secret

    assert auth.login("staff@example.org").status_code == 302
    for url in ("/staff/outbox/", "/staff/outbox/?status=pending"):
        html = client.get(url).get_data(as_text=True)
        assert "Reset your password" in html and "admin@example.org" in html
        assert token_link not in html and "/auth/reset/" not in html
        assert "SIGNIN-TOKEN-123" not in html
        assert html.count("Contains a private link — not shown") == 2
        assert "nothing-secret" in html  # a body without secrets is still shown in development


def test_development_console_still_prints_the_link(app, capsys):
    """`make run` without a mail server: the worker prints the confirmation link on its console."""
    url = outbox.external_url("auth.confirm", token="DEV-TOKEN")
    outbox.queue_email("new@example.org", "Confirm your email address", "confirm_email", kind="confirm",
                       user_obj=SimpleNamespace(name="New"), url=url)
    db.session.commit()
    assert outbox.deliver_due()["sent"] == 1
    assert "/auth/confirm/DEV-TOKEN" in capsys.readouterr().err


def test_finding_03_production_needs_mail_server(database_url, monkeypatch):
    """Production refuses to start without MAIL_SERVER unless told to print mail on purpose."""
    with pytest.raises(RuntimeError, match="MAIL_SERVER"):
        make_production_app(database_url, monkeypatch, MAIL_SERVER="")
    assert make_production_app(database_url, monkeypatch, MAIL_SERVER="", MAIL_PRINT_TO_CONSOLE=True)


def test_finding_03_migration_marks_queued_secret_kinds(app):
    """The migration added `secret` (false by default) and marks kinds reset/confirm at queue time."""
    [row] = queue(1)
    assert row.secret is False
    mail = outbox.queue_email("a@example.org", "Reset", "confirm_email", kind="reset",
                              user_obj=SimpleNamespace(name="A"), url="http://x.invalid/r")
    db.session.commit()
    assert mail.secret is True and mail.message_token


# --- Finding 10: duplicates after a crash or a database blip; one bad row stops the queue -------

def test_finding_10_unbuildable_row_is_failed_and_the_rest_go_once(app, capture):
    """A row whose attachment cannot be decoded is marked failed with its error; the others are sent once."""
    server = capture()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    good_before = queue(3, "Before")
    bad = outbox.queue_email("bad@example.org", "Broken", "confirm_email", user_obj=SimpleNamespace(name="B"),
                             url="http://x.invalid/b")
    bad.attachments = [{"filename": "x.pdf", "content_type": "application/pdf", "content": "%%% not base64 %%%"}]
    db.session.commit()
    good_after = queue(3, "After")
    assert outbox.deliver_due() == {"sent": 6, "retry": 0, "failed": 1}
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    db.session.refresh(bad)
    assert bad.status == OutboxEmail.FAILED and bad.last_error.startswith("Could not build the email")
    good = good_before + good_after
    assert server.ids() == Counter({outbox.message_id(row): 1 for row in good})
    assert statuses([r.id for r in good]) == {OutboxEmail.SENT: 6}


def test_finding_10_one_connection_per_batch_with_date_and_stable_message_id(app, capture):
    """A batch uses one SMTP connection; each email has a Date and a Message-ID that a retry keeps."""
    server = capture()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # down first
    rows = queue(5)
    expected = {row.id: outbox.message_id(row) for row in rows}
    assert outbox.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}  # unreachable: stop, try later
    for row in rows:
        row.next_attempt_at = utcnow()
    db.session.commit()
    app.config["MAIL_PORT"] = server.port
    assert outbox.deliver_due() == {"sent": 5, "retry": 0, "failed": 0}
    assert len({m.peer for m in server.messages}) == 1  # one connection for the batch
    assert sorted(server.ids()) == sorted(expected.values())
    for message in server.messages:
        assert abs(parsedate_to_datetime(message["Date"]) - utcnow()) < timedelta(minutes=5)
    assert len(set(expected.values())) == 5 and all(f"outbox-{i}." in v for i, v in expected.items())


def test_finding_10_reconnects_after_the_server_closes(app, capture):
    """A 421 (server closing) on one email: it is retried later, the rest go over a new connection."""
    server = capture(reply=lambda n: "421 closing, come back later" if n == 2 else None)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    rows = queue(5)
    assert outbox.deliver_due() == {"sent": 4, "retry": 1, "failed": 0}
    assert len({m.peer for m in server.messages}) == 2
    assert statuses([r.id for r in rows]) == {OutboxEmail.SENT: 4, OutboxEmail.PENDING: 1}


def test_finding_10_email_left_sending_is_not_resent_blindly(app, capture, client, as_role):
    """An email a dead worker left "sending" is marked failed (delivery uncertain) after the timeout,
    not re-sent; a staff retry sends it once more with the same Message-ID."""
    server = capture()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    [row] = queue(1)
    row.status, row.attempts, row.next_attempt_at = OutboxEmail.SENDING, 1, utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}  # within the timeout: left alone
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert outbox.deliver_due() == {"sent": 0, "retry": 0, "failed": 1}
    db.session.refresh(row)
    assert row.status == OutboxEmail.FAILED and row.last_error.startswith("Delivery uncertain")
    assert server.messages == []
    as_role("staff")
    html = client.get("/staff/outbox/?status=failed").get_data(as_text=True)
    assert "Delivery uncertain" in html and f"/staff/outbox/{row.id}/retry" in html
    assert client.post_form(f"/staff/outbox/{row.id}/retry", token_from="/staff/outbox/").status_code == 303
    assert outbox.deliver_due()["sent"] == 1
    assert server.ids() == Counter({outbox.message_id(row): 1})


def test_finding_10_database_drop_before_sending_sends_nothing_twice(app, capture, monkeypatch):
    """The worker's own connection is killed (pg_terminate_backend) while it holds a claimed row:
    that batch fails without sending; the next one sends the email once."""
    postgresql_only()
    server = capture()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    rows = queue(3)
    real_build = outbox.build_message
    killed = []

    def build_then_drop_connection(mail):
        if not killed:
            pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
            with db.engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                other.commit()
            killed.append(pid)
        return real_build(mail)

    monkeypatch.setattr(outbox, "build_message", build_then_drop_connection)
    with pytest.raises(sa.exc.DBAPIError):
        outbox.deliver_due()
    db.session.rollback()  # what the worker loop does
    assert server.messages == []
    assert outbox.deliver_due() == {"sent": 3, "retry": 0, "failed": 0}
    assert server.ids() == Counter({outbox.message_id(row): 1 for row in rows})


@pytest.mark.postgresql_only
def test_finding_10_worker_killed_mid_batch_then_restarted_delivers_each_once(app, database_url, capture,
                                                                              tmp_path):
    """SIGKILL the worker while the (slow) SMTP server holds the 4th email: the restarted worker
    sends the rest; every email arrives exactly once (by Message-ID); the one in doubt is not re-sent
    but marked failed as "delivery uncertain" for staff."""
    postgresql_only()
    holding = threading.Event()
    server = capture(delay=0.4, on_message=lambda n: holding.set() if n == 4 else None)
    rows = queue(10, "Batch")
    expected = {outbox.message_id(row) for row in rows}
    log = tmp_path / "worker.log"
    first = worker_process(database_url, server.port, log, MAIL_SENDING_TIMEOUT="1")
    try:
        assert holding.wait(60), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        stop_process(first)
    assert statuses([r.id for r in rows]) == {OutboxEmail.SENT: 3, OutboxEmail.SENDING: 1, OutboxEmail.PENDING: 6}
    time.sleep(1.1)  # past the sending timeout
    second = worker_process(database_url, server.port, log, MAIL_SENDING_TIMEOUT="1")
    try:
        wait_until(lambda: statuses([r.id for r in rows]) == {OutboxEmail.SENT: 9, OutboxEmail.FAILED: 1},
                   what="the restarted worker to finish")
        time.sleep(0.5)
    finally:
        stop_process(second)
    assert set(server.ids()) == expected
    assert max(server.ids().values()) == 1, server.ids()
    failed = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.status == OutboxEmail.FAILED))
    assert failed.last_error.startswith("Delivery uncertain") and failed.id == rows[3].id


@pytest.mark.postgresql_only
def test_finding_10_database_connection_dropped_mid_batch(app, database_url, capture, tmp_path):
    """pg_terminate_backend on the worker's connections twice while it is sending a batch: no email is
    sent twice and the same worker process carries on to the end (no restart)."""
    postgresql_only()
    name = f"kil_mail_fault_{os.getpid()}"
    engine = db.engine

    def drop_worker_connections(n):
        if n in (3, 6):
            with engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE application_name = :name"), {"name": name})
                other.commit()

    server = capture(delay=0.3, on_message=drop_worker_connections)
    rows = queue(10, "Blip")
    expected = {outbox.message_id(row) for row in rows}
    separator = "&" if "?" in database_url else "?"
    log = tmp_path / "worker.log"
    worker = worker_process(f"{database_url}{separator}application_name={name}", server.port, log)
    try:
        wait_until(lambda: statuses([r.id for r in rows]) == {OutboxEmail.SENT: 10}, what="all 10 sent")
        time.sleep(0.5)
        assert worker.poll() is None, log.read_text()  # recovered without a restart
    finally:
        stop_process(worker)
    assert server.ids() == Counter({mid: 1 for mid in expected}), log.read_text()


def test_finding_10_outcome_recorded_before_the_next_email(app, capture):
    """When the server receives email n, email n-1 is already recorded as sent in the database."""
    seen = []
    engine = db.engine

    def check(n):
        with engine.connect() as other:
            seen.append(other.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)
                                     .where(OutboxEmail.status == OutboxEmail.SENT)))

    server = capture(on_message=check)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    queue(4)
    assert outbox.deliver_due()["sent"] == 4
    assert seen == [0, 1, 2, 3]


def flaky_commits(monkeypatch, failures):
    """After the next email is handed to SMTP, its first `failures` commits fail as if the database
    connection had dropped (what a PostgreSQL restart does to the worker's transaction)."""
    real_commit, real_send = db.session.commit, outbox.SMTPConnection.send
    left = {"n": 0}

    def send(self, message):
        real_send(self, message)
        left["n"] = failures

    def commit():
        if left["n"]:
            left["n"] -= 1
            raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
        real_commit()

    monkeypatch.setattr(outbox.SMTPConnection, "send", send)
    monkeypatch.setattr(db.session, "commit", commit)
    monkeypatch.setattr(outbox, "OUTCOME_RETRY_DELAYS", (0.01, 0.01, 0.01))


def test_finding_10_accepted_email_is_recorded_through_a_database_blip(app, capture, monkeypatch):
    """The database drops right after the SMTP server accepted an email: the outcome is written on a
    retry, and the email is not sent again."""
    server = capture()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    [row] = queue(1)
    flaky_commits(monkeypatch, failures=2)
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    assert statuses([row.id]) == {OutboxEmail.SENT: 1}
    assert len(server.messages) == 1


def test_finding_10_outcome_kept_until_the_database_is_back(app, capture, monkeypatch):
    """The database stays away longer than the retries: the batch fails, the email stays "sending"
    (not pending, so nobody re-sends it), and the next batch writes "sent" before sending anything."""
    server = capture()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
    first, second = queue(2)
    flaky_commits(monkeypatch, failures=4)
    with pytest.raises(sa.exc.OperationalError):
        outbox.deliver_due()
    db.session.rollback()
    assert statuses([first.id, second.id]) == {OutboxEmail.SENDING: 1, OutboxEmail.PENDING: 1}
    monkeypatch.undo()
    assert outbox.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    assert statuses([first.id, second.id]) == {OutboxEmail.SENT: 2}
    assert server.ids() == Counter({outbox.message_id(first): 1, outbox.message_id(second): 1})
    assert outbox._unrecorded == {}
