"""One email of each kind, made by the real services and delivered through the real outbox to the
SMTP capture server (tests/test_email_quality.py, tests/test_calendar_itip.py)."""
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app

from kil_network.auth import services as auth_services
from kil_network.core.email import deliver_due, external_url, queue_email
from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.journey import services as journey
from kil_network.journey.models import Assessment, AssessmentAnswer, AssessmentStatus, Champion, ChampionRole
from kil_network.journey.reminders import send_assessment_reminders
from kil_network.members.models import LocalAuthority, Region
from kil_network.principles import services as principles
from kil_network.workshops import services
from kil_network.workshops.models import WorkshopFormat

SIGN_IN_URL = "https://kil.example.org/auth/code/{token}"


def whole_minute(delta: timedelta):
    """A whole-minute UTC time from now (calendar files keep no seconds)."""
    return (utcnow() + delta).replace(second=0, microsecond=0)


def make_workshop(staff, *, capacity=1, starts_in=timedelta(days=7), fmt=WorkshopFormat.IN_PERSON,
                  title="Commissioning locally in Leeds"):
    """A published workshop, made by the services and committed."""
    starts = whole_minute(starts_in)
    workshop = services.create_workshop(staff, {
        "title": title, "description": "Co-design the principles with councillors and community groups.",
        "region": db.session.scalar(sa.select(Region).where(Region.name == "Yorkshire and The Humber")),
        "format": fmt, "venue": "Leeds Civic Hall", "address": "Calverley Street, Leeds", "postcode": "LS1 1UR",
        "online_url": "https://meet.example.org/kil-123", "starts_at": starts,
        "ends_at": starts + timedelta(hours=2), "registration_closes_at": starts - timedelta(hours=1),
        "capacity": capacity, "accessibility_info": "Step-free access.", "mix_max_percent": None,
    })
    services.publish_workshop(staff, workshop)
    db.session.commit()
    return workshop


def _id(mail: OutboxEmail) -> int:
    """A queued email's id (flushed so it has one)."""
    db.session.flush()
    return mail.id


def latest(to: str, template_subject: str) -> OutboxEmail:
    """The newest queued email to an address whose subject starts with the given text."""
    return db.session.scalars(sa.select(OutboxEmail).where(
        OutboxEmail.to_address == to, OutboxEmail.subject.startswith(template_subject))
        .order_by(OutboxEmail.id.desc())).first()


def queue_every_kind(make_user) -> dict[str, int]:
    """Queue one email of every kind; returns the outbox id of each, by kind."""
    staff = make_user(email="staff.quality@example.org", name="Sam Staff", role="staff")
    ada = make_user(email="ada.quality@example.org", name="Ada Lovelace")
    ben = make_user(email="ben.quality@example.org", name="Ben Okafor")
    cat = make_user(email="cat.quality@example.org", name="Cat Jones")
    ids = {}
    workshop = make_workshop(staff, capacity=1)
    reg_ada = services.register(workshop, ada)
    ids["confirmed"] = latest(ada.email, "Your place is confirmed").id
    reg_ben = services.register(workshop, ben)
    ids["waitlisted"] = latest(ben.email, "You are on the waitlist").id
    db.session.commit()
    services.update_workshop(staff, workshop, {"starts_at": workshop.starts_at + timedelta(hours=1),
                                               "ends_at": workshop.ends_at + timedelta(hours=1)})
    ids["changed"] = latest(ada.email, "Workshop changed").id
    ids["changed_waitlisted"] = latest(ben.email, "Workshop changed").id
    db.session.commit()
    services.cancel_registration(reg_ada, ada)
    ids["registration_cancelled"] = latest(ada.email, "Registration cancelled").id
    ids["promoted"] = latest(ben.email, "A place is now yours").id
    assert reg_ben.is_confirmed
    db.session.commit()
    services.cancel_workshop(staff, workshop, "The speaker is unwell.")
    ids["cancelled"] = latest(ben.email, "Workshop cancelled").id
    db.session.commit()
    soon = make_workshop(staff, capacity=5, starts_in=timedelta(days=1), title="Social value in Wakefield")
    services.register(soon, cat)
    db.session.commit()
    services.send_reminders()
    ids["reminder"] = latest(cat.email, "Reminder").id
    ids["walk_in_invite"] = _id(queue_email(
        "dee.quality@example.org", "Thank you for coming: join the Keep it Local Network", "walk_in_invite",
        kind="workshop", name="Dee Walker", workshop=soon, join_url=external_url("joining.join")))
    auth_services.send_confirmation(ada)
    ids["confirm_email"] = latest(ada.email, "Confirm your email address").id
    auth_services.request_password_reset(ada.email)
    ids["reset_password"] = latest(ada.email, "Reset your password").id
    code, token = auth_services.issue_sign_in_code(ada)
    auth_services.send_sign_in_code(ada, code, SIGN_IN_URL.format(token=token))
    ids["sign_in_code"] = latest(ada.email, "Your sign-in code").id
    call = SimpleNamespace(title="Call for evidence on local commissioning")
    submission = SimpleNamespace(reference="KIL-2026-0042", file_name="our-evidence.pdf",
                                 publication=SimpleNamespace(label="Publish it with our name", may_publish=True))
    ids["evidence_received"] = _id(queue_email(
        ada.email, f"We have received your evidence ({submission.reference})", "evidence_received", kind="evidence",
        user=ada, submission=submission, call=call, topics=["Commissioning", "Social value"],
        library_url="https://kil.example.org/evidence/library"))
    ids["evidence_confirm"] = _id(queue_email(
        "eve.quality@example.org", "Confirm your evidence to the Keep it Local Network", "evidence_confirm",
        kind="evidence_confirm", call=call, reference=submission.reference, max_days=7,
        confirm_url="https://kil.example.org/evidence/confirm/abc"))
    # A notification and a security email (issue 13).
    make_workshop(staff, capacity=20, fmt=WorkshopFormat.ONLINE, title="Keep it Local online: spending locally")
    ids["notify_workshop_published"] = latest(ada.email, "New workshop").id
    auth_services.set_password(ada, "a new correct horse battery")
    ids["password_changed"] = latest(ada.email, "Your password has been changed").id
    db.session.commit()
    ids.update(journey_emails(make_user, staff))
    ids.update(journey_reminder_emails(make_user, staff))
    return ids


def latest_champion(member) -> Champion:
    """The member's newest champion appointment."""
    return db.session.scalars(sa.select(Champion).where(Champion.user_id == member.id)
                              .order_by(Champion.id.desc())).first()


def journey_emails(make_user, staff) -> dict[str, int]:
    """The council journey's emails (issue 15): a champion's invitation, and a request to be
    introduced to a peer council (to the campaign's inbox)."""
    bristol, plymouth = (db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == code))
                         for code in ("E06000023", "E06000026"))
    cllr = make_user(email="cllr.quality@example.org", name="Cllr Priya Patel", member_type="councillor",
                     organisation="", gss_code="E06000023")
    officer = make_user(email="officer.quality@example.org", name="Olu Adeyemi", member_type="council_officer",
                        organisation="", gss_code="E06000023")
    journey.appoint_champion(cllr, bristol, ChampionRole.SENIOR_MANAGEMENT, member=officer)
    ids = {"journey_champion_invitation": latest(officer.email, "You have been asked to be").id}
    round_ = principles.create_round(staff, name="Round for the journey emails")
    drafts = principles.drafts_of(round_)
    for council, year, level, status in ((bristol, utcnow().year, 1, AssessmentStatus.DRAFT),
                                         (plymouth, utcnow().year - 1, 4, AssessmentStatus.ACCEPTED)):
        db.session.add(Assessment(
            local_authority_id=council.id, round_id=round_.id, year=year, status=status,
            accepted_at=utcnow() if status == AssessmentStatus.ACCEPTED else None,
            published_at=utcnow() if status == AssessmentStatus.ACCEPTED else None,
            answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=level, evidence="Our neighbourhood teams.",
                                      action="More.") for d in drafts]))
    db.session.flush()
    journey.request_introduction(cllr, bristol, plymouth, 2, "How did you bring your neighbourhood teams together?")
    inbox = current_app.config["CONTACT_EMAIL"]
    ids["journey_introduction_requested"] = latest(inbox, "Introduction requested").id
    # The officer accepts, submits Bristol's assessment; staff return it, then accept it.
    journey.accept_champion(officer, journey.champion_token(latest_champion(officer)))
    assessment = db.session.scalar(sa.select(Assessment).where(Assessment.local_authority_id == bristol.id))
    journey.submit_assessment(officer, assessment)
    ids["journey_assessment_submitted"] = latest(inbox, "Assessment to review").id
    journey.return_assessment(staff, assessment, "Please add a link to the neighbourhood budget report.")
    ids["journey_assessment_returned"] = latest(officer.email, "City of Bristol's").id
    journey.submit_assessment(officer, assessment)
    journey.accept_assessment(staff, assessment, "Thank you: clear evidence throughout.")
    ids["journey_assessment_accepted"] = latest(officer.email, "City of Bristol's").id
    db.session.commit()
    return ids


def journey_reminder_emails(make_user, staff) -> dict[str, int]:
    """The yearly re-assessment reminder (issue 15, `flask send-assessment-reminders`): to Calderdale's
    member champion, and for Kirklees (no member champion) to the campaign's inbox; both councils'
    assessments were accepted 340 days ago."""
    champion = make_user(email="dan.quality@example.org", name="Cllr Dan Wright", member_type="councillor",
                         organisation="", gss_code="E08000033")
    round_ = principles.create_round(staff, name="Round for the reminder emails")
    accepted = utcnow() - timedelta(days=340)
    for code in ("E08000033", "E08000034"):
        council = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == code))
        db.session.add(Assessment(local_authority_id=council.id, round_id=round_.id, year=accepted.year,
                                  status=AssessmentStatus.ACCEPTED, accepted_at=accepted, published_at=accepted))
        if code == "E08000033":
            db.session.add(Champion(local_authority_id=council.id, role=ChampionRole.CABINET, user_id=champion.id,
                                    invited_at=accepted, accepted_at=accepted))
    db.session.flush()
    send_assessment_reminders()
    ids = {"journey_reminder": latest(champion.email, "Calderdale: time for").id,
           "journey_reminder_inbox": latest(current_app.config["CONTACT_EMAIL"], "No champion to remind").id}
    db.session.commit()
    return ids


def deliver_every_kind(make_user, mail) -> dict:
    """Queue one email of every kind and deliver them to the capture server; returns
    {kind: the received message}, matched by Message-ID."""
    ids = queue_every_kind(make_user)
    while deliver_due(limit=50)["sent"]:
        pass
    received = {m["Message-ID"]: m for m in mail.messages}
    from kil_network.core.email import message_id
    return {kind: received[message_id(db.session.get(OutboxEmail, mail_id))] for kind, mail_id in ids.items()}
