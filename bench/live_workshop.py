"""Load test: a live workshop on the day (not a test).

Sets up, through the app's own services and in this process, a workshop happening now with live
voting open on an open round of six drafts, MEMBERS confirmed attendees and 5 staff. Then, against
the running app over real HTTP on loopback, at the same time and within SECONDS:

- every member signs in (the real form, with its CSRF token), opens the voting page from the
  projector's link and casts six votes (htmx POSTs, as a phone does);
- 20 projectors (staff browsers) poll the presenter screen (/present/poll) every 3 seconds;
- 5 staff check the attendees in: search as you type, tap (POST), the counter refreshes.

With --room (issue 11) the members arrive through the room code instead, with rate limits ON on
the server (one loopback address for everyone, as a venue's Wi-Fi): each opens
/w/<id>?code=<the code the presenter screen shows now> (read from the staff JSON
/staff/workshops/<id>/room-code), gives their email address, reads the 6-digit code from the
email (from the outbox table: the database keeps only the code's hash, the email has the code),
types it (signed in and checked in by themselves), then votes; --newcomers N more people are not
members yet and join in the room first (the short join, confirmed by the same emailed code).
Staff then check nobody in: every check-in is a self check-in.

It prints errors (must be 0), votes recorded against the tallies and what the projector shows
(must be equal), check-ins recorded (must equal MEMBERS), and requests and latency percentiles
per kind of request. The exit status is 1 if any check fails.

    # starts its own gunicorn on a fresh schema (`live_bench`) of this PostgreSQL database
    .venv/bin/python bench/live_workshop.py --database-url postgresql://postgres@127.0.0.1:5432/kil_bench
    .venv/bin/python bench/live_workshop.py --database-url ... --members 40 --seconds 20   # smaller
    .venv/bin/python bench/live_workshop.py --database-url ... --room --newcomers 20     # by room code
    # against an app that is already running on that database (rate limits off: RATELIMIT_ENABLED=false)
    .venv/bin/python bench/live_workshop.py --database-url "$DATABASE_URL" --base-url http://127.0.0.1:8000

Several --base-url options spread the members, projectors and staff across the instances in turn.
With --base-url the database must be one the script may add rows to (a test or staging copy) and
no other round may be open: it adds a round, a workshop and accounts named "live-<tag>-...".
"""
import argparse
import http.client
import math
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.dbutil import fresh_postgres_schema  # noqa: E402

PASSWORD = "correct horse battery"
STAFF = 5
PROJECTORS = 20
REFRESH_SECONDS = 3.0
HX = {"HX-Request": "true"}
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
CODE_RE = re.compile(r"^\s+(\d{6})\s*$", re.M)  # the six digits on their own line in the sign-in email
STANCES = ["support", "amend", "oppose"]


# --- In-process set-up ------------------------------------------------------------------------

def make_app(url: str):
    """The app on this database (test config: fast hashing for set-up, no rate limits in-process)."""
    from config import TestConfig
    from kil_network import create_app

    class LiveConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        TESTING = False

    return create_app(LiveConfig)


def setup_scene(members: int, staff: int = STAFF, *, password_hash: str = "fast", tag: str | None = None,
                newcomers: int = 0) -> dict:
    """Inside an app context: an open round, a live workshop, members registered (confirmed), staff.

    password_hash="scrypt" gives every account a production-strength hash (one hash, computed once,
    shared by all), so sign-ins cost the server what they cost in production; "fast" keeps the
    test configuration's cheap hash. `newcomers` addresses with no account are listed too (they join in
    the room with --room). Returns the ids, emails and registration ids the load needs."""
    from werkzeug.security import generate_password_hash

    from kil_network.auth.models import MemberType, Role, User
    from kil_network.core.timeutil import utcnow
    from kil_network.extensions import db
    from kil_network.members.models import LocalAuthority, Region
    from kil_network.members.services import create_member
    from kil_network.principles import services as principles
    from kil_network.workshops import services as workshops
    from kil_network.workshops.models import WorkshopFormat

    tag = tag or secrets.token_hex(3)
    types = list(MemberType)
    regions = db.session.scalars(sa.select(Region).order_by(Region.id)).all()
    # council types need one
    council = db.session.scalar(sa.select(LocalAuthority).order_by(LocalAuthority.id).limit(1))
    staff_users = [create_member(name=f"Live Staff {j}", email=f"live-{tag}-staff{j}@example.org", password=PASSWORD,
                                 member_type=MemberType.OTHER, consent_privacy=True, role=Role.STAFF, confirmed=True)
                   for j in range(staff)]
    db.session.flush()
    round_ = principles.create_round(staff_users[0], name=f"Live bench round {tag}",
                                     closes_at=utcnow() + timedelta(days=7))
    principles.open_round_for_votes(staff_users[0], round_)
    starts = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    workshop = workshops.create_workshop(staff_users[0], {
        "title": f"Live bench workshop {tag}", "description": "Voting on the six drafts in the room.",
        "region": regions[0], "format": WorkshopFormat.IN_PERSON, "venue": "Civic Hall", "address": "1 High Street",
        "postcode": "LS1 1UR", "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=3),
        "registration_closes_at": starts - timedelta(hours=1), "capacity": members + 10, "accessibility_info": "",
        "mix_max_percent": None, "round": round_})
    workshops.publish_workshop(staff_users[0], workshop)
    db.session.commit()
    people, registrations = [], []
    for i in range(members):
        person = create_member(name=f"Live Member {tag} {i:04d}", email=f"live-{tag}-m{i}@example.org",
                               password=PASSWORD,
                               member_type=types[i % len(types)], region=regions[i % len(regions)],
                               local_authority=council if types[i % len(types)].needs_council else None,
                               organisation_name=f"Live Org {tag}" if types[i % len(types)].needs_organisation else "",
                               consent_privacy=True, confirmed=True)
        db.session.flush()
        registrations.append(workshops.register(workshop, person).id)
        people.append(person)
        if i % 50 == 49:
            db.session.commit()
    # On the day: the workshop has started and its live voting is open.
    workshop.starts_at = (utcnow() - timedelta(minutes=30)).replace(microsecond=0)
    workshop.ends_at = workshop.starts_at + timedelta(hours=3)
    workshop.registration_closes_at = workshop.starts_at - timedelta(hours=1)
    workshop.live_voting = True
    if password_hash == "scrypt":
        shared = generate_password_hash(PASSWORD, method="scrypt")
        db.session.execute(sa.update(User).where(User.id.in_([u.id for u in people + staff_users]))
                           .values(password_hash=shared))
    db.session.commit()
    return {"tag": tag, "workshop": workshop.id, "round": round_.id,
            "newcomers": [f"live-{tag}-new{i}@example.org" for i in range(newcomers)],
            "drafts": [d.id for d in principles.drafts_of(round_)],
            "members": [p.email for p in people], "member_names": [p.name for p in people],
            "staff": [u.email for u in staff_users], "registrations": registrations}


def verify(scene: dict) -> dict:
    """Inside an app context: votes, tallies and check-ins as the database holds them now."""
    from kil_network.extensions import db
    from kil_network.principles.models import Vote, VoteTally
    from kil_network.workshops.models import Registration

    db.session.expire_all()
    votes = dict(db.session.execute(
        sa.select(Vote.draft_id, sa.func.count()).where(Vote.draft_id.in_(scene["drafts"]),
                                                        Vote.workshop_id == scene["workshop"])
        .group_by(Vote.draft_id)).all())
    total = sa.func.sum(VoteTally.support + VoteTally.amend + VoteTally.oppose)

    def tally(dimension, key):
        """Votes counted in one tally group, per draft."""
        return dict(db.session.execute(
            sa.select(VoteTally.draft_id, total).where(VoteTally.draft_id.in_(scene["drafts"]),
                                                       VoteTally.dimension == dimension, VoteTally.key == key)
            .group_by(VoteTally.draft_id)).all())

    checked_in = db.session.scalar(sa.select(sa.func.count()).select_from(Registration).where(
        Registration.workshop_id == scene["workshop"], Registration.checked_in_at.is_not(None)))
    by_draft = {d: votes.get(d, 0) for d in scene["drafts"]}
    stances = {d: {s: 0 for s in STANCES} for d in scene["drafts"]}
    for d, stance, n in db.session.execute(
            sa.select(Vote.draft_id, Vote.stance, sa.func.count()).where(Vote.draft_id.in_(scene["drafts"]))
            .group_by(Vote.draft_id, Vote.stance)):
        stances[d][stance.value] = n
    tally_stances = {d: dict(zip(STANCES, row, strict=True)) for d, *row in db.session.execute(
        sa.select(VoteTally.draft_id, VoteTally.support, VoteTally.amend, VoteTally.oppose)
        .where(VoteTally.draft_id.in_(scene["drafts"]), VoteTally.dimension == "workshop",
               VoteTally.key == str(scene["workshop"])))}
    return {"votes": by_draft, "stances": stances, "tally_stances": tally_stances,
            "tally_all": {d: int(tally("all", "").get(d, 0)) for d in scene["drafts"]},
            "tally_workshop": {d: int(tally("workshop", str(scene["workshop"])).get(d, 0)) for d in scene["drafts"]},
            "checked_in": checked_in}


# --- HTTP ---------------------------------------------------------------------------------------

class Browser:
    """A cookie-keeping HTTP client (http.client, one connection per request, no redirects followed)."""

    def __init__(self, base: str, timeout: float = 120.0):
        self.base, self.timeout, self.cookies = base, timeout, {}
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None,
                base: str | None = None) -> tuple[int, dict, str]:
        """Send one request (to `base` if given, else this browser's); returns (status, headers, body)."""
        host, port = (self.host, self.port)
        if base:
            parts = urllib.parse.urlsplit(base)
            host, port = parts.hostname, parts.port or 80
        body = urllib.parse.urlencode(data, doseq=True) if data is not None else None
        send = {"Host": f"{host}:{port}", "Connection": "close", **(headers or {})}
        if body is not None:
            send["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=send)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value and "max-age=0" not in cookie.lower() and "expires=thu, 01 jan 1970" not in cookie.lower():
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
            return response.status, dict(response.headers.items()), text
        finally:
            conn.close()

    def csrf(self, path: str, base: str | None = None) -> str:
        """The CSRF token for this browser's session, read from a page."""
        status, _, text = self.request("GET", path, base=base)
        match = CSRF_RE.search(text)
        if status != 200 or not match:
            raise LoadError(f"no CSRF token on {path} (status {status})")
        return match.group(1) or match.group(2)

    def sign_in(self, email: str, password: str = PASSWORD, base: str | None = None) -> None:
        """Sign in through the form; raises LoadError unless it redirects."""
        token = self.csrf("/auth/login", base)
        status, _, _ = self.request("POST", "/auth/login", {"email": email, "password": password, "csrf_token": token},
                                    base=base)
        if status != 302:
            raise LoadError(f"sign-in of {email} answered {status}")


class LoadError(Exception):
    """A request did not get the answer a browser would expect."""


@dataclass
class Recorder:
    """Latencies per kind of request, and errors, collected from every thread."""

    samples: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    late_finishers: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, browser: Browser, method: str, path: str, data=None, headers=None, expect=200,
              base=None) -> str:
        """Send a request, record its latency under `kind`, and raise LoadError on an unexpected status."""
        start = time.perf_counter()
        try:
            status, _, text = browser.request(method, path, data, headers, base=base)
        except OSError as exc:
            raise LoadError(f"{kind}: {exc!r}") from exc
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            with self.lock:
                self.samples.setdefault(kind, []).append(elapsed)
        if status != expect:
            raise LoadError(f"{kind} {method} {path}: status {status}")
        return text

    def error(self, message: str) -> None:
        """Keep an error."""
        with self.lock:
            self.errors.append(message)

    def late(self, who: str) -> None:
        """Note someone who finished after the time window (slow, not wrong)."""
        with self.lock:
            self.late_finishers.append(who)


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def run_load(bases: list[str], scene: dict, *, seconds: float = 60.0, projectors: int = PROJECTORS,
             refresh: float = REFRESH_SECONDS, pool: int = 50, seed: int = 2026, room: bool = False,
             outbox_url: str | None = None) -> dict:
    """Run members, projectors and staff together against the instances; returns what was measured.

    room=True: the members (and scene["newcomers"]) arrive through the room code and check
    themselves in; the emailed codes are read from the outbox table at `outbox_url`."""
    rng = random.Random(seed)
    rec = Recorder()
    wid, drafts = scene["workshop"], scene["drafts"]
    members, names = scene["members"] + (scene.get("newcomers", []) if room else []), scene["member_names"]
    staff, regs = scene["staff"], scene["registrations"]
    plans = [[rng.choice(STANCES) for _ in drafts] for _ in members]
    expected = {d: {s: 0 for s in STANCES} for d in drafts}
    for plan in plans:
        for draft, stance in zip(drafts, plan, strict=True):
            expected[draft][stance] += 1
    t0 = time.monotonic()
    deadline = t0 + seconds
    think = seconds / 60.0  # think times scale with the window: a 20-second run thinks three times faster
    finished = threading.Event()
    votes_cast = [0]
    checkins_done = [0]
    # Only attendees count in the workshop's tally (issue 9): a member votes once checked in at the door.
    checked_in = [threading.Event() for _ in members]
    last_projector = {}
    outbox = sa.create_engine(outbox_url) if room else None
    codes = {"code": "", "at": 0.0}
    code_lock = threading.Lock()
    code_reader = Browser(bases[0])

    def current_room_code() -> str:
        """The code the presenter screen shows now (the staff JSON), read again every 15 seconds."""
        with code_lock:
            if time.monotonic() - codes["at"] > 15:
                if not code_reader.cookies:
                    code_reader.sign_in(staff[0])
                body = rec.timed("room-code JSON (staff)", code_reader, "GET", f"/staff/workshops/{wid}/room-code")
                codes.update(code=re.search(r'"code":\s*"([A-Z0-9]+)"', body).group(1), at=time.monotonic())
            return codes["code"]

    def emailed_code(email: str) -> str:
        """The six digits of the newest sign-in email to this address (the outbox row, written before the
        answer to the email step came back)."""
        with outbox.connect() as conn:
            body = conn.scalar(sa.text("SELECT body_text FROM outbox_emails WHERE to_address = :e "
                                       "ORDER BY id DESC LIMIT 1"), {"e": email})
        match = CODE_RE.search(body or "")
        if not match:
            raise LoadError(f"no sign-in code emailed to {email}")
        return match.group(1)

    def arrive_by_room_code(i, browser) -> None:
        """Scan the QR code, give the email address (a newcomer joins), type the emailed code: signed in
        and checked in, on the voting page."""
        email = members[i]
        status, headers, _ = browser.request("GET", f"/w/{wid}?code={current_room_code()}")
        if status != 303:
            raise LoadError(f"room code refused for {email}: {status}")
        page = rec.timed("live page (email form)", browser, "GET", f"/w/{wid}")
        token = CSRF_RE.search(page)
        token = token.group(1) or token.group(2)
        newcomer = i >= len(scene["members"])
        body = rec.timed("email POST", browser, "POST", f"/w/{wid}/email", {"email": email, "csrf_token": token},
                         expect=200 if newcomer else 303)
        if newcomer:
            key = re.search(r'name="submission_key" value="([^"]+)"', body).group(1)
            time.sleep(rng.uniform(2, 5) * think)  # typing a name and choosing a member type
            rec.timed("short join POST", browser, "POST", f"/w/{wid}/join",
                      {"name": f"Room Newcomer {i}", "email": email, "member_type": "other",
                       "organisation": "", "local_authority": "", "consent_privacy": "y",
                       "submission_key": key, "csrf_token": token}, expect=303)
        time.sleep(rng.uniform(1, 3) * think)  # opening the email
        rec.timed("code POST", browser, "POST", f"/w/{wid}/code",
                  {"code": emailed_code(email), "csrf_token": token}, expect=303)
        checked_in[i].set()
        with rec.lock:
            checkins_done[0] += 1

    def wait_until(moment):
        """Sleep until a moment (monotonic seconds)."""
        delay = moment - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def member(i):
        """Sign in, open the voting page from the projector's link, cast six votes with pauses."""
        base = bases[i % len(bases)]
        wait_until(t0 + i * (0.4 * seconds) / max(1, len(members)))
        browser = Browser(base)
        try:
            if room:
                arrive_by_room_code(i, browser)
            else:
                token = CSRF_RE.search(rec.timed("sign-in page", browser, "GET", "/auth/login"))
                token = token.group(1) or token.group(2)
                rec.timed("sign-in POST", browser, "POST", "/auth/login",
                          {"email": members[i], "password": PASSWORD, "csrf_token": token}, expect=302)
            page = rec.timed("voting page", browser, "GET", f"/principles/?workshop={wid}")
            match = CSRF_RE.search(page)
            if not match:
                raise LoadError("no CSRF token on the voting page")
            token = match.group(1) or match.group(2)
            if not checked_in[i].wait(timeout=2 * seconds):
                raise LoadError(f"member {i} was never checked in")
            for draft, stance in zip(drafts, plans[i], strict=True):
                time.sleep(rng.uniform(0.2, 0.9) * think)
                body = rec.timed("vote POST (htmx)", browser, "POST", f"/principles/drafts/{draft}/vote",
                                 {"stance": stance, "comment": "", "workshop": str(wid), "csrf_token": token},
                                 headers={**HX, "X-CSRFToken": token})
                if "Vote saved." not in body:
                    raise LoadError(f"vote by member {i} on draft {draft} not saved")
                with rec.lock:
                    votes_cast[0] += 1
            if time.monotonic() > deadline:
                rec.late(f"member {i}")
        except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
            rec.error(f"member {i}: {exc!r}")

    def staffer(j):
        """Check in every fifth attendee: search as you type, tap, the counter refreshes."""
        base = bases[j % len(bases)]
        mine = list(range(j, len(regs), len(staff)))
        browser = Browser(base)
        try:
            browser.sign_in(staff[j])
            page = rec.timed("check-in page", browser, "GET", f"/staff/workshops/{wid}/attendance")
            match = CSRF_RE.search(page)
            token = match.group(1) or match.group(2)
            gap = (0.8 * seconds) / max(1, len(mine))
            for n, k in enumerate(mine):
                wait_until(t0 + 0.05 * seconds + n * gap)
                query = urllib.parse.quote(names[k].rsplit(" ", 1)[-1])
                rec.timed("check-in search (htmx)", browser, "GET", f"/staff/workshops/{wid}/attendance?q={query}",
                          headers=HX)
                row = rec.timed("check-in POST (htmx)", browser, "POST", f"/staff/workshops/{wid}/attendance/{regs[k]}",
                                {"csrf_token": token}, headers={**HX, "X-CSRFToken": token})
                if 'class="checkin-card__done"' not in row:
                    raise LoadError(f"check-in of registration {regs[k]} not shown as done")
                rec.timed("check-in counter (htmx)", browser, "GET", f"/staff/workshops/{wid}/attendance/count",
                          headers=HX)
                checked_in[k].set()
                with rec.lock:
                    checkins_done[0] += 1
            if time.monotonic() > deadline:
                rec.late(f"staff {j}")
        except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
            rec.error(f"staff {j}: {exc!r}")

    def projector(p):
        """Poll the presenter screen every few seconds until everyone is done; keep the last answer."""
        base = bases[p % len(bases)]
        browser = Browser(base)
        try:
            browser.sign_in(staff[p % len(staff)])
            wait_until(t0 + (p / max(1, projectors)) * refresh)
            while True:
                done = finished.is_set()
                status, _, _ = browser.request("GET", f"/staff/workshops/{wid}/present/poll", headers=HX)
                if status not in (200, 204):
                    raise LoadError(f"presenter poll answered {status}")
                last_projector[p] = status
                if done:
                    break  # this reading was taken after every vote had been answered
                finished.wait(refresh)
        except Exception as exc:  # noqa: BLE001 - every failure is an error of the run
            rec.error(f"projector {p}: {exc!r}")

    with ThreadPoolExecutor(max_workers=projectors + len(staff)) as side, \
            ThreadPoolExecutor(max_workers=min(pool, max(1, len(members)))) as crowd:
        side_jobs = [side.submit(projector, p) for p in range(projectors)]
        staff_jobs = [] if room else [side.submit(staffer, j) for j in range(len(staff))]
        member_jobs = [crowd.submit(member, i) for i in range(len(members))]
        for job in member_jobs + staff_jobs:
            job.result()
        elapsed = time.monotonic() - t0
        finished.set()
        for job in side_jobs:
            job.result()
    if outbox is not None:
        outbox.dispose()
    return {"errors": rec.errors, "late": rec.late_finishers, "seconds": seconds, "samples": rec.samples,
            "elapsed": elapsed, "votes_cast": votes_cast[0], "checkins_done": checkins_done[0],
            "expected": expected, "projector": last_projector, "projectors": projectors, "room": room}


def checks(scene: dict, result: dict, db_state: dict, *, on_time: bool = True) -> list[str]:
    """What went wrong: errors, votes against tallies and the projector, missing check-ins, and
    (when on_time) anyone who finished after the time window."""
    problems = list(result["errors"])
    if on_time and result["late"]:
        problems.append(f"{len(result['late'])} finished after the {result['seconds']:.0f}-second window: "
                        + ", ".join(result["late"][:10]))
    wanted = len(scene["members"]) + len(scene.get("newcomers", []))
    for d in scene["drafts"]:
        if not (db_state["votes"][d] == db_state["tally_all"][d] == db_state["tally_workshop"][d] == wanted):
            problems.append(f"draft {d}: {db_state['votes'][d]} votes, tallies {db_state['tally_all'][d]} (all) and "
                            f"{db_state['tally_workshop'][d]} (workshop), expected {wanted}")
    if not (db_state["stances"] == db_state["tally_stances"] == result["expected"]):
        problems.append(f"votes by stance {db_state['stances']}, workshop tallies {db_state['tally_stances']}, "
                        f"cast {result['expected']}")
    if len(result["projector"]) != result.get("projectors", len(result["projector"])):
        missing = result["projectors"] - len(result["projector"])
        problems.append(f"{missing} projectors never got an answer to their poll")
    if result["votes_cast"] != 6 * wanted:
        problems.append(f"{result['votes_cast']} votes answered 'saved', expected {6 * wanted}")
    if db_state["checked_in"] != wanted or result["checkins_done"] != wanted:
        problems.append(f"{db_state['checked_in']} check-ins recorded ({result['checkins_done']} done), expected "
                        f"{wanted}")
    return problems


def report(scene: dict, result: dict, db_state: dict, problems: list[str]) -> str:
    """The printed summary."""
    lines = [f"{len(scene['members'])} members, {len(scene['staff'])} staff, {len(result['projector'])} projectors; "
             f"load ran {result['elapsed']:.1f} s",
             f"errors: {len(result['errors'])}; finished after the {result['seconds']:.0f}-second window: "
             f"{len(result['late'])}",
             f"votes: {sum(db_state['votes'].values())} recorded ({result['votes_cast']} answered 'saved'); "
             f"tallies: {sum(db_state['tally_all'].values())} overall, {sum(db_state['tally_workshop'].values())} "
             f"for the workshop; {len(result['projector'])} projectors polled the presenter screen",
             f"check-ins recorded: {db_state['checked_in']} of "
             f"{len(scene['members']) + len(scene.get('newcomers', []))}", ""]
    width = max(len(k) for k in result["samples"]) if result["samples"] else 10
    lines.append(f"{'request':{width}}  {'n':>5}  {'p50':>8}  {'p90':>8}  {'p99':>8}  {'max':>8}")
    for kind, samples in sorted(result["samples"].items()):
        lines.append(f"{kind:{width}}  {len(samples):>5}  {statistics.median(samples):6.1f}ms  "
                     f"{percentile(samples, 90):6.1f}ms  {percentile(samples, 99):6.1f}ms  {max(samples):6.1f}ms")
    total = sum(len(s) for s in result["samples"].values())
    lines.append(f"{'all':{width}}  {total:>5}  ({total / max(result['elapsed'], 0.001):.0f} requests/s)")
    if result.get("server_cpu") is not None:
        cpu = result["server_cpu"]
        lines.append(f"server CPU: {cpu:.1f} s for {total} requests ({1000 * cpu / max(total, 1):.1f} ms each on "
                     "average; "
                     f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    lines.append("")
    lines.append("OK" if not problems else "FAILED:\n  " + "\n  ".join(problems[:30]))
    return "\n".join(lines)


# --- Servers ------------------------------------------------------------------------------------

def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(database_url: str, log: Path, *, workers: int = 2, threads: int = 8, extra_env: dict | None = None,
                   timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """gunicorn serving wsgi:app on a free loopback port; waits for /healthz. Returns (process, base URL)."""
    import urllib.request

    port = free_port()
    env = {**os.environ, "KIL_ENV": "development", "DATABASE_URL": database_url, "SECRET_KEY": "live-bench-secret",
           "HTMX_URL": "local", "RATELIMIT_ENABLED": "false", "BASE_URL": f"http://127.0.0.1:{port}",
           **(extra_env or {})}
    with open(log, "w") as log_file:  # gunicorn writes to its own copy; ours closes once it has started
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--no-control-socket", "-b", f"127.0.0.1:{port}",
             "-w", str(workers), "--threads", str(threads), "--log-level", "warning", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    end = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return process, base
        except OSError:
            if time.time() > end or process.poll() is not None:
                stop(process)
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


def cpu_seconds(process: subprocess.Popen) -> float:
    """CPU time (user + system) used so far by a gunicorn master and its live workers (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [process.pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()]
    except OSError:
        return float("nan")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def stop(process: subprocess.Popen) -> None:
    """Stop a server started here and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def fresh_database(url: str) -> str:
    """A URL for an empty `live_bench` schema in this PostgreSQL database (or a new SQLite file)."""
    target = make_url(url)
    if target.get_backend_name() == "sqlite":
        Path(target.database).unlink(missing_ok=True)
        return url
    return fresh_postgres_schema(url, "live_bench")


def main() -> int:
    """Parse the options, set up, run the load, check and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""),
                        help="the app's database (default: $DATABASE_URL)")
    parser.add_argument("--base-url", action="append", default=[],
                        help="a running instance (repeat for several); default: start gunicorn on a fresh schema")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--projectors", type=int, default=PROJECTORS)
    parser.add_argument("--pool", type=int, default=50, help="threads for the members")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers when starting our own server")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--room", action="store_true",
                        help="members arrive through the room code (emailed sign-in codes), rate limits on")
    parser.add_argument("--newcomers", type=int, default=0, help="with --room: people who join in the room")
    parser.add_argument("--hash", choices=["scrypt", "fast"], default="scrypt",
                        help="password hash of the accounts (scrypt: sign-ins cost what they do in production)")
    args = parser.parse_args()
    if not args.database_url:
        parser.error("give --database-url (or set DATABASE_URL)")

    server = None
    url = args.database_url
    if not args.base_url:
        url = fresh_database(url)
    app = make_app(url)
    with app.app_context():
        from kil_network.extensions import db

        if not args.base_url:
            from flask_migrate import upgrade

            print("migrating a fresh database ...", flush=True)
            upgrade(directory=str(ROOT / "migrations"))
        started = time.perf_counter()
        scene = setup_scene(args.members, password_hash=args.hash, newcomers=args.newcomers if args.room else 0)
        print(f"set up {args.members} members, {STAFF} staff, workshop #{scene['workshop']} in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        db.session.remove()
        try:
            bases = args.base_url
            if not bases:
                log = Path("/tmp") / f"kil_live_bench_{os.getpid()}.log"
                limits = {"RATELIMIT_ENABLED": "true"} if args.room else {}
                server, base = start_gunicorn(url, log, workers=args.workers, threads=args.threads, extra_env=limits)
                bases = [base]
                print(f"gunicorn -w {args.workers} --threads {args.threads} at {base} (log {log})"
                      + (", rate limits ON" if args.room else ""), flush=True)
            print(f"running for up to {args.seconds:.0f} s ...", flush=True)
            cpu_before = cpu_seconds(server) if server else None
            result = run_load(bases, scene, seconds=args.seconds, projectors=args.projectors, pool=args.pool,
                              room=args.room, outbox_url=url)
            if server:
                result["server_cpu"] = cpu_seconds(server) - cpu_before
        finally:
            if server is not None:
                stop(server)
        state = verify(scene)
        problems = checks(scene, result, state)
        print(report(scene, result, state, problems))
        db.session.remove()
        db.engine.dispose()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
