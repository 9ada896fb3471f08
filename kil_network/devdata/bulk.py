"""A large data set for benchmarks, built fast with SQLAlchemy Core bulk inserts (`flask seed-bulk`).

At scale 1: 100,000 members (all member types, regions and councils, one shared password hash),
2,000 workshops (past and upcoming, every region), 200,000 registrations (attendance on past
workshops), 4 rounds of 6 drafts with 1,000,000 votes (tallies rebuilt from the votes), 20,000
suggestions with endorsements, and 50,000 evidence items: 45,000 survey responses and 5,000
written submissions. `--scale 0.001` builds a tiny version with the same shape.

Rows go in through `insert()` executemany in batches of BATCH, on one connection per table
group; the ORM and the services are used only for the handful of rounds (so drafts, audit and
round states follow the real rules). Two workshops are there for the benchmark: an upcoming
300-person workshop with live voting (check-in page and projector) and an upcoming large
workshop that the first BENCH_MEMBERS members are not registered for (registration POSTs).
"""
import random
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta

import sqlalchemy as sa

from kil_network.auth.models import MemberType, Role, User
from kil_network.auth.services import hash_password
from kil_network.core.timeutil import utcnow
from kil_network.evidence import survey
from kil_network.evidence.models import (
    TOPICS,
    Call,
    Submission,
    SubmissionTopic,
    SurveyResponse,
    submission_principles,
)
from kil_network.extensions import Model, db
from kil_network.members import search as member_search
from kil_network.members.models import LocalAuthority, Organisation, Region
from kil_network.members.services import create_member
from kil_network.principles import services as principles
from kil_network.principles import tallies
from kil_network.principles.models import Endorsement, Round, Suggestion, Vote, VoteTally
from kil_network.workshops.models import Registration, Workshop

BATCH = 10_000
ROUNDS = 4
BULK_STAFF_EMAIL = "bulk-staff@example.org"
BULK_PASSWORD = "bulk-bench-password"
BULK_EMAIL = "bulk{}@example.org"
BENCH_MEMBERS = 16  # bulk0..bulk15 sign in for the POST benchmarks; kept off the registration workshop
CHECKIN_TITLE = "Bulk check-in workshop (300 people)"
REGISTRATION_TITLE = "Bulk registration workshop"
CHECKIN_SIZE = 300
FULL_SIZE = {
    "members": 100_000, "workshops": 2_000, "registrations": 200_000, "votes": 1_000_000,
    "suggestions": 20_000, "survey_responses": 45_000, "submissions": 5_000,
}
TYPES = ["councillor", "commissioner", "council_officer", "community_organisation", "think_tank", "academic", "other"]
TYPE_WEIGHTS = [20, 15, 10, 35, 5, 10, 5]
COUNCIL_TYPES = {"councillor", "commissioner", "council_officer"}
ORGANISATION_TYPES = {"community_organisation", "think_tank", "academic"}
FIRST = ["Amara", "Ben", "Chloe", "Dev", "Eilidh", "Farah", "George", "Hana", "Idris", "Jess", "Kwame", "Lucy",
         "Mo", "Nia", "Owen", "Priya", "Quinn", "Rhys", "Sara", "Tom", "Uma", "Vik", "Wen", "Yusuf", "Zoe"]
LAST = ["Smith", "Jones", "Patel", "Williams", "Brown", "Taylor", "Khan", "Davies", "Evans", "Wilson", "Okafor",
        "Hughes", "Ahmed", "Roberts", "Walker", "Wright", "Thompson", "Begum", "Green", "Hall", "Lewis", "Clarke"]
ORG_KINDS = ["Community Trust", "Food Bank", "Youth Project", "Housing Co-op", "Advice Centre", "Arts Collective",
             "Development Trust", "Research Institute", "Policy Forum", "Mental Health Network"]
STANCES, STANCE_WEIGHTS = ["support", "amend", "oppose"], [65, 25, 10]


class BulkError(Exception):
    """The bulk data cannot be built (already there, or a size that does not fit)."""


def sizes(scale: float) -> dict:
    """Row counts for a scale factor (never below what the benchmark pages need)."""
    out = {name: max(1, round(n * scale)) for name, n in FULL_SIZE.items()}
    out["members"] = max(out["members"], 2 * BENCH_MEMBERS)
    out["workshops"] = max(out["workshops"], 4)
    return out


def _table(model: type[Model]) -> sa.Table:
    """A model's table (typed as any FROM clause, but always a Table for these models)."""
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


def insert_rows(conn, table: sa.Table, rows: Iterable[dict], batch: int = BATCH) -> int:
    """Insert rows with Core executemany, `batch` at a time; returns how many went in."""
    done, chunk = 0, []
    for row in rows:
        chunk.append(row)
        if len(chunk) == batch:
            conn.execute(sa.insert(table), chunk)
            done, chunk = done + len(chunk), []
    if chunk:
        conn.execute(sa.insert(table), chunk)
        done += len(chunk)
    return done


def already_seeded() -> bool:
    """Is the bulk data (its staff account) already in the database?"""

    return db.session.scalar(sa.select(User.id).where(User.email == BULK_STAFF_EMAIL)) is not None


def create_rounds(staff, count: int = ROUNDS, closes_in=timedelta(days=30)) -> tuple[list[list[int]], list[int]]:
    """`count` rounds through the real services, all closed but the last (open); (draft ids per round, round ids)."""

    rounds = []
    for i in range(count):
        round_ = principles.create_round(staff, name=f"Round {i + 1}", closes_at=utcnow() + closes_in)
        principles.open_round_for_votes(staff, round_)
        if i < count - 1:
            principles.close_round(staff, round_)
        rounds.append(round_)
    db.session.commit()
    return [[d.id for d in principles.drafts_of(r)] for r in rounds], [r.id for r in rounds]


def member_rows(rng: random.Random, count: int, password_hash: str, *, email: str = BULK_EMAIL,
                regions: list[int], authorities: Sequence[tuple[int, int]] = (), organisations: Sequence[int] = (),
                first: int = 0) -> Iterable[dict]:
    """Confirmed, active members of every type: council types get a council, others an organisation."""

    now = utcnow()
    for i in range(first, first + count):
        member_type = rng.choices(TYPES, TYPE_WEIGHTS)[0]
        authority_id = organisation_id = None
        region_id = rng.choice(regions) if rng.random() < 0.95 else None
        if member_type in COUNCIL_TYPES and authorities:
            authority_id, region_id = rng.choice(authorities)
        elif member_type in ORGANISATION_TYPES and organisations:
            organisation_id = rng.choice(organisations)
        yield {"email": email.format(i), "password_hash": password_hash,
               "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}", "member_type": member_type, "role": "member",
               "status": "active", "region_id": region_id, "local_authority_id": authority_id,
               "organisation_id": organisation_id, "job_title": "", "involvement": "",
               "show_in_directory": rng.random() < 0.7, "consent_marketing": False,
               "email_confirmed_at": now, "consent_privacy_at": now,
               "created_at": now - timedelta(days=rng.randint(0, 700)), "session_token": secrets.token_hex(16)}


def load_people(conn, like: str) -> list[tuple[int, str, int | None]]:
    """(id, member_type, region_id) of the members whose email matches `like`, in id order."""

    users = _table(User)
    rows = conn.execute(sa.select(users.c.id, users.c.member_type, users.c.region_id)
                        .where(users.c.email.like(like)).order_by(users.c.id)).all()
    return [(i, getattr(t, "value", t), r) for i, t, r in rows]


def vote_rows(rng: random.Random, draft_ids_by_round: list[list[int]], people: list, total: int,
              live_workshops: Sequence[int] = ()) -> Iterable[dict]:
    """`total` votes spread evenly over every draft, each by a different random member per draft.

    Votes on the last (open) round go through a live workshop 30% of the time when there is one.
    """

    now = utcnow()
    drafts = [(d, r == len(draft_ids_by_round) - 1) for r, ids in enumerate(draft_ids_by_round) for d in ids]
    per_draft, extra = divmod(total, len(drafts))
    if per_draft + (1 if extra else 0) > len(people):
        raise BulkError(f"{total:,} votes need at least {per_draft + 1:,} members, not {len(people):,}.")
    for index, (draft_id, in_last_round) in enumerate(drafts):
        voters = per_draft + (1 if index < extra else 0)
        for user_id, member_type, region_id in rng.sample(people, voters):
            live = rng.choice(live_workshops) if live_workshops and in_last_round and rng.random() < 0.3 else None
            yield {"draft_id": draft_id, "user_id": user_id, "stance": rng.choices(STANCES, STANCE_WEIGHTS)[0],
                   "comment": "", "workshop_id": live, "member_type": member_type, "region_id": region_id,
                   "created_at": now, "updated_at": now}


def rebuild_tallies_and_analyze() -> None:
    """Recount every tally from the votes, commit, and refresh the planner's statistics."""

    tallies.rebuild_tallies()
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def _count(conn, table: sa.Table) -> int:
    """Rows in a table."""
    return conn.scalar(sa.select(sa.func.count()).select_from(table))


def _max_id(conn, table: sa.Table) -> int:
    """The highest id so far (0 when empty)."""
    return conn.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)))


def _workshop_rows(rng, count, regions, round_ids, staff_id, now) -> Iterable[dict]:
    """The two benchmark workshops first, then 60% past and 40% upcoming ones in every region."""
    formats = ["in_person", "online", "hybrid"]
    soon = now + timedelta(hours=2)
    base = {"description": "A bulk-loaded workshop.", "venue": "", "address": "", "postcode": "", "online_url": "",
            "accessibility_info": "Step-free access.", "mix_max_percent": None, "cancel_reason": "", "sequence": 0,
            "seat_version": 0, "created_by_id": staff_id, "created_at": now, "updated_at": now,
            "published_at": now, "status": "published", "live_voting": False}
    yield {**base, "title": CHECKIN_TITLE, "region_id": regions[0], "format": "in_person", "venue": "Town Hall",
           "postcode": "SW1A 1AA", "starts_at": soon, "ends_at": soon + timedelta(hours=3),
           "registration_closes_at": soon - timedelta(days=1), "capacity": CHECKIN_SIZE, "round_id": round_ids[-1],
           "live_voting": True}
    later = now + timedelta(days=21)
    yield {**base, "title": REGISTRATION_TITLE, "region_id": regions[1 % len(regions)], "format": "online",
           "online_url": "https://meet.example.org/bulk", "starts_at": later, "ends_at": later + timedelta(hours=2),
           "registration_closes_at": later - timedelta(days=1), "capacity": 100_000, "round_id": round_ids[-1]}
    for i in range(2, count):
        past = rng.random() < 0.6
        starts = now + (-1 if past else 1) * timedelta(days=rng.randint(1, 365 if past else 180),
                                                       hours=rng.randint(0, 8))
        fmt = rng.choice(formats)
        status = "published" if rng.random() < 0.94 else rng.choice(["cancelled", "draft"])
        yield {**base, "title": f"{rng.choice(ORG_KINDS)} workshop {i}", "region_id": regions[i % len(regions)],
               "format": fmt, "venue": "" if fmt == "online" else "Community Centre",
               "postcode": "" if fmt == "online" else "M1 1AA",
               "online_url": "https://meet.example.org/w" if fmt != "in_person" else "",
               "starts_at": starts, "ends_at": starts + timedelta(hours=2),
               "registration_closes_at": starts - timedelta(days=1), "capacity": rng.randint(30, 200),
               "round_id": round_ids[rng.randrange(len(round_ids) - 1)] if past else round_ids[-1],
               "status": status, "published_at": None if status == "draft" else now,
               "cancel_reason": "Venue unavailable." if status == "cancelled" else ""}


def _registration_rows(rng, workshops, people, total, now) -> Iterable[dict]:
    """`total` registrations: confirmed up to capacity then waitlisted, some cancelled; check-ins on past ones."""
    pool = people[BENCH_MEMBERS:]
    checkin, registration, *others = workshops
    plan = [(checkin, min(CHECKIN_SIZE, len(pool), total // 2))]
    remaining = total - plan[0][1]
    plan.append((registration, min(len(pool), remaining // (len(others) + 1))))
    remaining -= plan[1][1]
    for index, workshop in enumerate(others):
        left = len(others) - index
        n = remaining if left == 1 else min(remaining, round(remaining / left * rng.uniform(0.5, 1.5)))
        n = min(n, len(pool))
        plan.append((workshop, n))
        remaining -= n
    serial = 0
    for (workshop_id, capacity, starts_at), n in plan:
        past = starts_at <= now
        for position, (user_id, member_type, _region) in enumerate(rng.sample(pool, n)):
            state = "confirmed" if position < capacity else "waitlisted"
            if state == "confirmed" and workshop_id != checkin[0] and rng.random() < 0.05:
                state = "cancelled"
            queued = starts_at - timedelta(days=30, minutes=n - position)
            serial += 1
            yield {"workshop_id": workshop_id, "user_id": user_id, "guest_name": "", "guest_email": "",
                   "member_type": member_type, "state": state, "queued_at": queued, "access_needs": "",
                   "checked_in_at": starts_at + timedelta(minutes=rng.randint(0, 30))
                   if past and state == "confirmed" and rng.random() < 0.8 else None,
                   "checked_in_by_id": None, "walk_in": False, "reminder_sent_at": None,
                   "check_in_code": f"b{serial:x}{secrets.token_urlsafe(9)}",
                   "created_at": queued, "updated_at": queued}


def _survey_answers(rng, regions) -> dict:
    """A complete, in-scope set of survey answers, walking the real question flow."""

    while True:
        answers: dict = {}
        for question in survey.QUESTIONS:
            if not question.applies(answers):
                continue
            if question.id == "region":
                answers["region"] = str(rng.choice(regions))
            elif question.kind == "text":
                answers[question.id] = "Contracts are let at a scale local groups cannot bid for."
            elif question.kind == "checkbox":
                answers[question.id] = rng.sample([v for v, _ in question.options[:-1]], rng.randint(1, 3))
            else:
                answers[question.id] = rng.choice(question.options)[0]
        if survey.in_scope(answers):
            return answers


def _references(rng, prefix: str, count: int) -> list[str]:
    """`count` distinct quotable references in the app's format."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    out: set[str] = set()
    while len(out) < count:
        out.add(f"KIL-{prefix}-" + "".join(rng.choice(alphabet) for _ in range(6)))
    return sorted(out, key=lambda _: rng.random())


def seed_bulk(scale: float = 1.0, seed: int = 2026, echo: Callable[[str], None] = lambda _: None) -> dict:
    """Build the bulk data set at `scale` on a migrated database; returns the row counts added."""
    if scale <= 0:
        raise BulkError("The scale must be above 0.")
    if already_seeded():
        raise BulkError("The bulk data is already loaded (bulk-staff@example.org exists); use a fresh database.")
    want = sizes(scale)
    rng = random.Random(seed)
    now = utcnow()
    started = time.perf_counter()

    def step(label: str) -> None:
        """Report progress with the time so far."""
        echo(f"  {time.perf_counter() - started:6.1f} s  {label}")

    staff = create_member(name="Bulk Staff", email=BULK_STAFF_EMAIL, password=BULK_PASSWORD,
                          member_type=MemberType.OTHER, consent_privacy=True, role=Role.STAFF, confirmed=True,
                          source="seed-bulk")
    db.session.commit()
    draft_ids, round_ids = create_rounds(staff)
    principles.adopt_round(staff, db.session.get_one(Round, round_ids[-2]))
    db.session.commit()
    staff_id = staff.id
    step(f"{ROUNDS} rounds of 6 drafts")

    regions = list(db.session.scalars(sa.select(Region.id).order_by(Region.id)))
    authorities = [tuple(r) for r in db.session.execute(
        sa.select(LocalAuthority.id, LocalAuthority.region_id).order_by(LocalAuthority.id))]
    password_hash = hash_password(BULK_PASSWORD)
    db.session.remove()
    counts = {}
    with db.engine.begin() as conn:
        orgs = _table(Organisation)
        first_org = _max_id(conn, orgs)
        org_count = max(1, want["members"] // 25)
        insert_rows(conn, orgs, ({"name": f"{rng.choice(LAST)} {rng.choice(ORG_KINDS)} {i}",
                                  "name_key": f"bulk-org-{i}", "org_type": "other", "charity_number": "",
                                  "company_number": "", "local_authority_id": rng.choice(authorities)[0],
                                  "created_at": now} for i in range(org_count)))
        organisations = list(conn.scalars(sa.select(orgs.c.id).where(orgs.c.id > first_org)))
        counts["organisations"] = len(organisations)
        first_member = _max_id(conn, _table(User))
        counts["members"] = insert_rows(conn, db.metadata.tables["users"], member_rows(
            rng, want["members"], password_hash, regions=regions, authorities=authorities,
            organisations=organisations))
        member_search.index_members(conn, after_id=first_member)  # the directory's index, in bulk too
    step(f"{counts['members']:,} members, {counts['organisations']:,} organisations")

    with db.engine.begin() as conn:
        people = load_people(conn, "bulk%@example.org")
        people = [p for p in people if p[0] != staff_id]
        workshops_table = _table(Workshop)
        first_workshop = _max_id(conn, workshops_table)
        counts["workshops"] = insert_rows(conn, workshops_table,
                                          _workshop_rows(rng, want["workshops"], regions, round_ids, staff_id, now))
        workshops = [tuple(r) for r in conn.execute(
            sa.select(workshops_table.c.id, workshops_table.c.capacity, workshops_table.c.starts_at)
            .where(workshops_table.c.id > first_workshop).order_by(workshops_table.c.id))]
        counts["registrations"] = insert_rows(conn, _table(Registration),
                                              _registration_rows(rng, workshops, people, want["registrations"], now))
    step(f"{counts['workshops']:,} workshops, {counts['registrations']:,} registrations")

    with db.engine.begin() as conn:
        counts["votes"] = insert_rows(conn, _table(Vote),
                                      vote_rows(rng, draft_ids, people, want["votes"], [workshops[0][0]]))
    step(f"{counts['votes']:,} votes")

    with db.engine.begin() as conn:
        suggestions = _table(Suggestion)
        first_suggestion = _max_id(conn, suggestions)
        all_drafts = [d for ids in draft_ids for d in ids]
        closed = set(d for ids in draft_ids[:-1] for d in ids)

        def suggestion_rows():
            """Suggestions on every draft; half of those on closed rounds have a staff response."""
            for _ in range(want["suggestions"]):
                draft_id = rng.choice(all_drafts)
                answered = draft_id in closed and rng.random() < 0.5
                yield {"draft_id": draft_id, "user_id": rng.choice(people)[0],
                       "text": "Say 'local' contracts, sized so community organisations can bid.",
                       "reason": "Large contracts shut local groups out.", "endorsement_count": rng.randint(0, 3),
                       "response_status": rng.choice(["accepted", "partly", "not_taken"]) if answered else None,
                       "response_text": "Thank you; we changed the wording." if answered else "",
                       "responded_by_id": staff_id if answered else None,
                       "responded_at": now if answered else None, "created_at": now}

        counts["suggestions"] = insert_rows(conn, suggestions, suggestion_rows())
        made = conn.execute(sa.select(suggestions.c.id, suggestions.c.endorsement_count)
                            .where(suggestions.c.id > first_suggestion)).all()
        counts["endorsements"] = insert_rows(conn, _table(Endorsement), (
            {"suggestion_id": sid, "user_id": uid, "created_at": now}
            for sid, n in made for uid, _, _ in rng.sample(people, n)))
    step(f"{counts['suggestions']:,} suggestions, {counts['endorsements']:,} endorsements")

    with db.engine.begin() as conn:
        calls = _table(Call)
        call_id = conn.execute(sa.insert(calls).values(
            title="Bulk call for evidence", introduction="Tell us what works locally.", asks="",
            opens_at=now - timedelta(days=60), survey_closes_at=now + timedelta(days=60),
            written_closes_at=now + timedelta(days=60), created_at=now).returning(calls.c.id)).scalar_one()
        in_progress_users = iter(rng.sample(people, min(len(people), want["survey_responses"] // 10)))

        def survey_rows():
            """Submitted responses (a third by members), and some members' answers in progress."""
            references = iter(_references(rng, "S", want["survey_responses"]))
            for _ in range(want["survey_responses"]):
                answers = _survey_answers(rng, regions)
                user = next(in_progress_users, None) if rng.random() < 0.1 else None
                if user is not None:
                    yield {"call_id": call_id, "user_id": user[0], "status": "in_progress", "reference": None,
                           "answers": {"delivers": answers["delivers"]}, "respondent_type": "",
                           "region_id": None, "created_at": now, "submitted_at": None}
                    continue
                yield {"call_id": call_id, "user_id": rng.choice(people)[0] if rng.random() < 0.33 else None,
                       "status": "submitted", "reference": next(references), "answers": answers,
                       "respondent_type": survey.respondent_type(answers), "region_id": int(answers["region"]),
                       "created_at": now - timedelta(days=rng.randint(0, 59)), "submitted_at": now}

        counts["survey_responses"] = insert_rows(conn, _table(SurveyResponse), survey_rows())
        submissions = _table(Submission)
        first_submission = _max_id(conn, submissions)
        refs = _references(rng, "E", want["submissions"])
        counts["submissions"] = insert_rows(conn, submissions, (
            {"call_id": call_id, "user_id": None, "reference": ref, "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
             "email": f"evidence{i}@example.org", "organisation": f"{rng.choice(LAST)} {rng.choice(ORG_KINDS)}",
             "respondent_type": rng.choices(TYPES, TYPE_WEIGHTS)[0], "local_authority_id": rng.choice(authorities)[0],
             "text": "Our food bank lost its contract when the council merged five into one.", "file_name": "",
             "file_kind": "", "file_size": 0, "file_key": "",
             "publication": rng.choice(["named", "anonymous", "private"]),
             "status": rng.choice(["new", "reviewed", "featured"]), "notes": "", "created_at": now}
            for i, ref in enumerate(refs)))
        submission_ids = list(conn.scalars(sa.select(submissions.c.id).where(submissions.c.id > first_submission)))
        insert_rows(conn, _table(SubmissionTopic), (
            {"submission_id": sid, "topic": topic} for sid in submission_ids
            for topic in rng.sample(sorted(TOPICS), rng.randint(1, 2))))
        insert_rows(conn, submission_principles, (
            {"submission_id": sid, "principle_id": number} for sid in submission_ids
            for number in rng.sample(range(1, 7), rng.randint(0, 2))))
    step(f"{counts['survey_responses']:,} survey responses, {counts['submissions']:,} submissions")

    rebuild_tallies_and_analyze()
    step("tallies rebuilt from the votes; statistics analysed")
    return counts


def tally_mismatches() -> int:
    """How many tally cells differ from a recount of the votes (0 when the tallies are right)."""

    recount: dict[tuple[int, str, str], list[int]] = {}
    for column, dimension in ((sa.literal(""), "all"), (Vote.member_type, "type"),
                              (Vote.region_id, "region"), (Vote.workshop_id, "workshop")):
        for draft_id, key, stance, n in db.session.execute(
                sa.select(Vote.draft_id, column, Vote.stance, sa.func.count())
                .group_by(Vote.draft_id, column, Vote.stance)):
            if key is not None:
                cell = recount.setdefault((draft_id, dimension, str(getattr(key, "value", key))), [0, 0, 0])
                cell[STANCES.index(stance.value)] += n
    stored = {(t.draft_id, t.dimension, t.key): [t.support, t.amend, t.oppose]
              for t in db.session.scalars(sa.select(VoteTally))}
    zero = [0, 0, 0]
    return sum(recount.get(k, zero) != stored.get(k, zero) for k in recount.keys() | stored.keys())
