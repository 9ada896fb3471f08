"""The yearly re-assessment reminder (`flask --app wsgi send-assessment-reminders`, daily from cron).

A council whose latest accepted assessment's anniversary is 30 days away or less (or past), and
which has started no newer assessment, is reminded once for that assessment: one email to each
of its current member champions, or to the campaign's inbox when it has none. The rule of when a
re-assessment is due is journey.services' (`Facts.due`).

Once only, even run twice or from two hosts at once: the `AssessmentReminder` row (unique per
assessment) is inserted before the emails are queued, in the same transaction; a concurrent run
inserting the same row waits for the first to commit, then inserts nothing (ON CONFLICT DO
NOTHING) and skips that council. A run killed half way commits nothing: its reminder rows and emails go together.
"""
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kil_network.auth.models import Status, User
from kil_network.core.email import external_url, queue_email
from kil_network.core.timeutil import to_london, utcnow
from kil_network.extensions import db
from kil_network.journey.models import AssessmentReminder
from kil_network.journey.services import facts_for
from kil_network.members.models import LocalAuthority


def due_assessments() -> list:
    """(council, facts) for each council due a reminder not yet sent, in council id order."""
    facts = facts_for(None)
    due = {cid: f.latest_accepted.id for cid, f in facts.items() if f.due and f.latest_accepted is not None}
    if not due:
        return []
    sent = set(db.session.scalars(sa.select(AssessmentReminder.assessment_id).where(
        AssessmentReminder.assessment_id.in_(list(due.values())))))
    waiting = {cid: facts[cid] for cid, assessment_id in due.items() if assessment_id not in sent}
    councils = {c.id: c for c in db.session.scalars(
        sa.select(LocalAuthority).where(LocalAuthority.id.in_(list(waiting))))} if waiting else {}
    return [(councils[cid], waiting[cid]) for cid in sorted(waiting)]


def _member_champions(facts) -> list[User]:
    """The council's current member champions who can be emailed (active, confirmed, deliverable)."""
    ids = [c.user_id for c in facts.champions.values() if c is not None and c.user_id is not None]
    if not ids:
        return []
    return list(db.session.scalars(sa.select(User).where(
        User.id.in_(ids), User.status == Status.ACTIVE, User.email_confirmed_at.is_not(None),
        User.email_undeliverable_at.is_(None)).order_by(User.id)))


def _claim(assessment_id: int, recipients: int) -> bool:
    """Record the reminder for this assessment; False if another run already has. One
    INSERT ... ON CONFLICT DO NOTHING, no savepoint (on SQLite a savepoint outside a transaction
    would commit on release, and a run killed later would leave the reminder without its emails)."""
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claimed = db.session.scalar(
        insert(AssessmentReminder).values(assessment_id=assessment_id, sent_at=utcnow(), recipients=recipients)
        .on_conflict_do_nothing(index_elements=[AssessmentReminder.assessment_id])
        .returning(AssessmentReminder.id))
    return claimed is not None


def send_assessment_reminders() -> int:
    """Queue the re-assessment reminders now due; returns how many emails were queued. The caller commits."""
    queued = 0
    for council, facts in due_assessments():
        assessment = facts.latest_accepted
        champions = _member_champions(facts)
        if not _claim(assessment.id, len(champions)):
            continue
        context = {"council": council.display_name, "year": assessment.year,
                   "accepted_on": to_london(assessment.accepted_at).strftime("%-d %B %Y"),
                   "due_on": facts.reassessment_due_on.strftime("%-d %B %Y"),
                   "journey_url": external_url("journey.journey", gss_code=council.gss_code),
                   "start_url": external_url("journey.new_assessment", gss_code=council.gss_code)}
        subject = f"{council.display_name}: time for this year's Keep it Local self-assessment"
        if champions:
            for champion in champions:
                queue_email(champion.email, subject, "journey_reminder", kind="journey_reminder", user=champion,
                            name=champion.display_name, to_staff=False, **context)
                queued += 1
        else:
            queue_email(current_app.config["CONTACT_EMAIL"], f"No champion to remind: {subject}",
                        "journey_reminder", kind="journey_reminder", name="campaign team", to_staff=True,
                        staff_url=external_url("staff_councils.council", gss_code=council.gss_code), **context)
            queued += 1
    db.session.flush()
    return queued
