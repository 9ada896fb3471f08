"""The yearly re-assessment reminder (`flask send-assessment-reminders`, journey/reminders.py):
sent once per accepted assessment a month before its anniversary, to the council's current member
champions (or the campaign inbox when it has none); twice or concurrently it sends once, and a
run killed half way leaves nothing half done."""
import threading
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import london_to_utc, utcnow
from kil_network.extensions import db
from kil_network.journey import reminders
from kil_network.journey.models import AssessmentReminder, AssessmentStatus, Champion, ChampionRole
from kil_network.journey.reminders import send_assessment_reminders
from kil_network.journey.services import today
from tests.support import journey_staff as journey
from tests.support.db import count

pytestmark = pytest.mark.both_databases

CALDERDALE, KIRKLEES, LEEDS = "E08000033", "E08000034", "E08000035"


def accepted_days_ago(days: int) -> datetime:
    """Noon (UK) `days` UK days ago, in UTC: the accepted time whose UK date is that day."""
    return london_to_utc(datetime.combine(today() - timedelta(days=days), time(12)))


@pytest.fixture
def world(app, make_user):
    """An adopted round, staff, and two councillors of Calderdale (its champions)."""
    staff = make_user(email="organiser@example.org", role="staff")
    round_ = journey.adopted_round(staff)
    cabinet = make_user(email="cabinet@example.org", name="Cllr Cabinet", member_type="councillor",
                        gss_code=CALDERDALE)
    officer = make_user(email="officer@example.org", name="Olive Officer", member_type="council_officer",
                        gss_code=CALDERDALE)
    db.session.commit()
    return {"staff": staff, "round": round_, "cabinet": cabinet, "officer": officer}


def assessed(world, gss: str, days_ago: int, *, champions=True):
    """The council's 2025 assessment, accepted `days_ago` days ago; its two member champions."""
    la = journey.council(gss)
    row = journey.assessment(la, world["round"], year=2025, accepted_at=accepted_days_ago(days_ago))
    if champions:
        journey.member_champion(la, world["cabinet"], ChampionRole.CABINET)
        journey.member_champion(la, world["officer"], ChampionRole.SENIOR_MANAGEMENT)
    db.session.commit()
    return row


def reminder_emails() -> list[OutboxEmail]:
    """Every re-assessment reminder in the outbox, by address."""
    return list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "journey_reminder")
                                   .order_by(OutboxEmail.to_address)))


def run() -> int:
    """One run, committed as the command does."""
    sent = send_assessment_reminders()
    db.session.commit()
    return sent


def test_each_member_champion_is_reminded_once(world):
    """Due: one email to each current member champion, one reminder row; a second run sends nothing."""
    row = assessed(world, CALDERDALE, 340)
    assert run() == 2
    emails = reminder_emails()
    assert [e.to_address for e in emails] == ["cabinet@example.org", "officer@example.org"]
    assert all(e.subject == "Calderdale: time for this year's Keep it Local self-assessment" for e in emails)
    body = emails[0].body_text
    assert "Hello Cllr Cabinet," in body and "2025 Keep it Local self-assessment" in body
    assert "/councils/E08000033/assessments/new" in body and "/councils/E08000033/journey" in body
    assert "you are a Keep it Local champion of Calderdale" in body
    assert emails[0].user_id == world["cabinet"].id
    reminder = db.session.scalar(sa.select(AssessmentReminder))
    assert (reminder.assessment_id, reminder.recipients) == (row.id, 2)
    assert run() == 0
    assert len(reminder_emails()) == 2 and count(AssessmentReminder) == 1


def test_the_command_says_what_it_queued(world, runner):
    """`flask send-assessment-reminders` queues, commits and reports; run again it queues none."""
    assessed(world, CALDERDALE, 340)
    first = runner.invoke(args=["send-assessment-reminders"])
    assert first.exit_code == 0 and "Queued 2 re-assessment reminders." in first.output
    second = runner.invoke(args=["send-assessment-reminders"])
    assert "Queued 0 re-assessment reminders." in second.output
    db.session.expire_all()
    assert len(reminder_emails()) == 2


@pytest.mark.parametrize(("days_ago", "reminded"), [
    (334, False),  # the anniversary is 31 days away: not yet
    (335, True),   # 30 days away: the window opens
    (365, True),   # the anniversary itself
    (500, True),   # overdue and never reminded: reminded once, late
])
def test_the_window_edges(world, days_ago, reminded):
    """The reminder goes from 30 days before the anniversary (UK dates), not a day earlier."""
    assessed(world, CALDERDALE, days_ago)
    assert run() == (2 if reminded else 0)
    assert count(AssessmentReminder) == (1 if reminded else 0)


def test_a_newer_assessment_stops_the_reminder(world):
    """A council that has started this year's assessment is not reminded."""
    assessed(world, CALDERDALE, 350)
    journey.assessment(journey.council(CALDERDALE), world["round"], year=2026, status=AssessmentStatus.DRAFT)
    db.session.commit()
    assert run() == 0 and reminder_emails() == []


def test_only_current_accepted_member_champions(world, make_user):
    """Ended, removed and not-yet-accepted champions get nothing; a named person has no address."""
    la = journey.council(CALDERDALE)
    journey.assessment(la, world["round"], year=2025, accepted_at=accepted_days_ago(340))
    journey.member_champion(la, world["cabinet"], ChampionRole.CABINET).ended_at = utcnow()
    journey.named_champion(la, "Pat Lee")
    invited = make_user(email="invited@example.org", member_type="councillor", gss_code=CALDERDALE)
    db.session.add(Champion(local_authority_id=la.id, role=ChampionRole.CABINET, user_id=invited.id,
                            invited_at=utcnow()))
    journey.member_champion(la, world["officer"], ChampionRole.CABINET)
    db.session.commit()
    assert run() == 1
    assert [e.to_address for e in reminder_emails()] == ["officer@example.org"]


def test_no_member_champion_reminds_the_campaign_inbox(world, app):
    """A council with no member champion: one email to the campaign inbox, with the staff page's link."""
    assessed(world, KIRKLEES, 340, champions=False)
    assert run() == 1
    [email] = reminder_emails()
    assert email.to_address == app.config["CONTACT_EMAIL"] and email.user_id is None
    assert email.subject.startswith("No champion to remind: Kirklees")
    assert "/staff/councils/E08000034" in email.body_text and "no member champion" in email.body_text
    assert db.session.scalar(sa.select(AssessmentReminder.recipients)) == 0
    assert run() == 0


def test_killed_half_way_leaves_nothing_half_done(world, monkeypatch):
    """A run that dies after the first council's emails commits nothing: no reminder without its
    emails, no email without its reminder; the next run sends them all, once."""
    assessed(world, CALDERDALE, 340)
    assessed(world, KIRKLEES, 340, champions=False)
    calls = {"n": 0}
    real = reminders.queue_email

    def dies_on_the_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # Calderdale's two are queued; Kirklees's kills the process
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(reminders, "queue_email", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        send_assessment_reminders()
    db.session.rollback()  # what the database does with an uncommitted transaction when the process dies
    assert count(AssessmentReminder) == 0 and reminder_emails() == []
    monkeypatch.setattr(reminders, "queue_email", real)
    assert run() == 3
    assert count(AssessmentReminder) == 2 and len(reminder_emails()) == 3


@pytest.mark.postgresql_only
def test_two_runs_at_once_send_once(world, thread_app):
    """Two hosts run the command at the same moment: each council is reminded by one of them."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proved on PostgreSQL (set TEST_DATABASE_URL)")
    assessed(world, CALDERDALE, 340)
    assessed(world, KIRKLEES, 350, champions=False)
    journey.assessment(journey.council(LEEDS), world["round"], year=2025, accepted_at=accepted_days_ago(360))
    db.session.commit()
    barrier = threading.Barrier(2)
    real_claim = reminders._claim
    waited = set()

    def claim_together(*args):
        """Both runs have read the same due councils before either claims one."""
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            barrier.wait(timeout=30)
        return real_claim(*args)

    results, errors = [], []

    def worker():
        try:
            with thread_app.app_context():
                results.append(send_assessment_reminders())
                db.session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reminders._claim = claim_together
    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        reminders._claim = real_claim
    assert errors == []
    assert sorted(results)[1] >= 1 and sum(results) == 4  # 2 champions + 2 inbox emails, split between the runs
    db.session.expire_all()
    assert count(AssessmentReminder) == 3
    assert len(reminder_emails()) == 4
