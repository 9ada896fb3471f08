"""Benchmark: a campaign message to 20,000 members, queued and delivered (not a test).

1. Queue: on a fresh `messages_bench` schema of PostgreSQL (or a new SQLite file), 20,000
   confirmed members who consented to campaign emails are seeded in bulk (Core inserts), plus
   2,000 who did not; a staff member drafts a campaign update to everyone and it is sent with
   `messages.services.send_now`: the audience's count and ids, the bodies rendered once, the
   unsubscribe headers signed per recipient, one outbox row each in bulk inserts, audited.
   Target: under 10 s.
2. Deliver: a local SMTP sink (aiosmtpd, accepting everything, keeping each Message-ID) and N
   `flask --app wsgi deliver-mail` workers on the same database, until every copy is sent.
   Target: at least 50 emails a second, and no Message-ID received twice.

    .venv/bin/python bench/messages.py --database-url postgresql://postgres@127.0.0.1:5432/kil_bench
    .venv/bin/python bench/messages.py --database-url ... --recipients 2000 --workers 4   # smaller
    .venv/bin/python bench/messages.py                  # SQLite (instance/messages_bench.db), queue only
"""
import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.dbutil import fresh_postgres_schema  # noqa: E402
from bench.principles_bench import make_bench_app  # noqa: E402
from kil_network.extensions import db  # noqa: E402


def prepare(url: str | None) -> str:
    """An empty database: a fresh schema of PostgreSQL, or a new SQLite file."""
    if url:
        return fresh_postgres_schema(url, "messages_bench")
    path = ROOT / "instance" / "messages_bench.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def seed(recipients: int, without_consent: int) -> int:
    """Migrate; a staff member; the members in bulk. Returns the staff member's id."""
    from flask_migrate import upgrade

    from kil_network.auth.models import MemberType, Role, User
    from kil_network.devdata.bulk import insert_rows, member_rows
    from kil_network.members.models import Region
    from kil_network.members.services import create_member

    upgrade()
    staff = create_member(name="Bench Staff", email="staff@example.org", password="correct horse battery",
                          member_type=MemberType.OTHER, consent_privacy=True, role=Role.STAFF, confirmed=True)
    db.session.commit()
    regions = list(db.session.scalars(sa.select(Region.id)))
    rng = random.Random(2026)
    rows = list(member_rows(rng, recipients + without_consent, staff.password_hash, email="reader{}@example.org",
                            regions=regions))
    for i, row in enumerate(rows):
        row["consent_marketing"] = i < recipients
    started = time.perf_counter()
    with db.engine.begin() as conn:
        insert_rows(conn, User.__table__, rows)
    print(f"  seeded {len(rows):,} members in {time.perf_counter() - started:.1f} s")
    return staff.id


def queue(staff_id: int) -> tuple[int, int, float]:
    """Draft and send the campaign; (copies queued, message id, seconds)."""
    from kil_network.auth.models import User
    from kil_network.messages import services

    staff = db.session.get(User, staff_id)
    body = ("## News from the Network\n\nSix principles, **co-designed** in workshops across England and Wales, "
            "are out for a last round of votes: [read and vote](https://example.org/principles).\n\n"
            "- Workshops in every region this spring\n- Stories of practice from councils that keep it local\n")
    message = services.create_draft(staff, {"subject": "Round 3 is open", "body": body, "kind": "campaign",
                                            "audience": {}})
    db.session.commit()
    started = time.perf_counter()
    queued = services.send_now(staff, message)
    db.session.commit()
    return queued, message.id, time.perf_counter() - started


class Sink:
    """A local SMTP server that accepts everything and counts each Message-ID."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.ids: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                for line in envelope.original_content.split(b"\r\n"):
                    if line.lower().startswith(b"message-id:"):
                        with sink.lock:
                            sink.ids[line.split(b":", 1)[1].strip()] += 1
                        break
                    if not line:
                        break
                return "250 OK"

        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()


def deliver(url: str, message_id: int, workers: int, timeout: float) -> tuple[int, float, collections.Counter]:
    """N deliver-mail workers until every copy of the message is sent; (sent, seconds, Message-IDs)."""
    from kil_network.core.models import OutboxEmail

    sink = Sink()
    env = {**os.environ, "DATABASE_URL": url, "KIL_ENV": "development", "SECRET_KEY": "bench-secret",
           "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(sink.port), "MAIL_POLL_SECONDS": "0.2",
           "BASE_URL": "http://127.0.0.1:5000", "RATELIMIT_ENABLED": "false"}
    total = db.session.scalar(sa.select(sa.func.count()).where(OutboxEmail.message_id == message_id))
    db.session.commit()
    flask = str(ROOT / ".venv" / "bin" / "flask")
    started = time.perf_counter()
    procs = [subprocess.Popen([flask, "--app", "wsgi", "deliver-mail"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        while time.perf_counter() - started < timeout:
            time.sleep(0.5)
            left = db.session.scalar(sa.select(sa.func.count()).where(
                OutboxEmail.message_id == message_id, OutboxEmail.status.in_([OutboxEmail.PENDING,
                                                                              OutboxEmail.SENDING])))
            db.session.commit()
            if not left:
                break
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        sink.controller.stop()
    sent = db.session.scalar(sa.select(sa.func.count()).where(OutboxEmail.message_id == message_id,
                                                              OutboxEmail.status == OutboxEmail.SENT))
    print(f"  {sent:,} of {total:,} sent")
    return sent, elapsed, sink.ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL server URL (a fresh schema is used); SQLite if absent")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--without-consent", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--no-deliver", action="store_true", help="time the queueing only")
    args = parser.parse_args()
    url = prepare(args.database_url)
    app = make_bench_app(url)
    ok = True
    with app.app_context():
        print(f"database: {db.engine.dialect.name}")
        staff_id = seed(args.recipients, args.without_consent)
        queued, message_id, seconds = queue(staff_id)
        print(f"queue: {queued:,} copies in {seconds:.2f} s ({queued / seconds:,.0f}/s; target under 10 s)")
        ok &= queued == args.recipients and seconds < 10
        if not args.no_deliver and args.database_url:
            sent, elapsed, ids = deliver(url, message_id, args.workers, args.timeout)
            dupes = sum(1 for n in ids.values() if n > 1)
            print(f"deliver: {sent:,} in {elapsed:.1f} s with {args.workers} workers = {sent / elapsed:,.0f} emails/s "
                  f"(target at least 50/s); {len(ids):,} distinct Message-IDs received, {dupes} received twice")
            ok &= sent == queued and dupes == 0 and sent / elapsed >= 50
        db.engine.dispose()
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
