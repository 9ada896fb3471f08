"""Notification preferences and the automatic notifications (members.notifications): who wants
what, and each automatic email queued to the right members, in bulk."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth import services as auth_services
from kil_network.auth.models import Status, User
from kil_network.core.email import queue_bulk
from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import PledgeStatus, SignedBy
from kil_network.evidence import services as evidence
from kil_network.evidence.models import Call, Publication, ReviewStatus, Submission
from kil_network.extensions import db
from kil_network.members import notifications
from kil_network.members.models import ConsentRecord, LocalAuthority, NotificationPreference
from kil_network.principles import services as principles
from kil_network.principles.models import Eligibility, ResponseStatus
from kil_network.workshops import services as workshops
from kil_network.workshops.models import Registration, RegistrationState, WorkshopFormat
from tests.support.db import count, counting_queries
from tests.support.principles import open_round

BRISTOL = "E06000023"  # South West
LEEDS = "E08000035"  # Yorkshire and The Humber


def recipients(kind: str) -> set[str]:
    """The addresses an automatic notification of `kind` was queued to."""
    return set(db.session.scalars(sa.select(OutboxEmail.to_address).where(OutboxEmail.kind == f"notify_{kind}")))


def opt_out(user, kind: str) -> None:
    """The member turns one optional kind off."""
    notifications.set_preferences(user, {kind: False})
    db.session.commit()


@pytest.fixture
def staff(make_user):
    """A member of staff."""
    return make_user("staff@example.org", role="staff", member_type="other", organisation="", gss_code=None)


def new_workshop(staff, **overrides):
    """A draft workshop next week (in person in the staff member's chosen region unless told otherwise)."""
    starts = (utcnow() + timedelta(days=7)).replace(microsecond=0)
    data = {"title": "Commissioning locally", "description": "Co-design the principles.", "region": None,
            "format": WorkshopFormat.IN_PERSON, "venue": "Civic Hall", "address": "Calverley Street",
            "postcode": "LS1 1UR", "online_url": "", "starts_at": starts, "ends_at": starts + timedelta(hours=2),
            "registration_closes_at": starts - timedelta(hours=1), "capacity": 10, "accessibility_info": "",
            "mix_max_percent": None, **overrides}
    workshop = workshops.create_workshop(staff, data)
    db.session.commit()
    return workshop


def region_of(gss_code: str):
    """The region of a council."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code)).region


# --- Preferences ------------------------------------------------------------------------------

def test_every_optional_kind_is_on_by_default_and_can_be_turned_off(app, make_user):
    """No rows: every kind's default (on). Turning one off keeps a row and a consent record."""
    member = make_user()
    assert notifications.preferences(member) == dict.fromkeys(notifications.KINDS, True)
    assert all(notifications.wants(member, kind) for kind in notifications.KINDS)
    changed = notifications.set_preferences(member, {"round_open": False, "pledge_decided": True})
    db.session.commit()
    assert changed == ["round_open"]  # pledge_decided was already on
    assert not notifications.wants(member, "round_open")
    assert notifications.wants(member, "pledge_decided")
    record = db.session.scalar(sa.select(ConsentRecord).where(ConsentRecord.kind == "notify:round_open"))
    assert record.granted is False and record.source == "notification preferences"
    assert notifications.set_preferences(member, {"round_open": False}) == []  # a set, not a toggle
    notifications.set_preferences(member, {"round_open": True})
    db.session.commit()
    assert notifications.wants(member, "round_open")
    assert count(NotificationPreference, NotificationPreference.user_id == member.id) == 2


def test_unknown_kind_is_a_programming_error(app, make_user):
    """A typo in calling code fails loudly rather than sending nothing."""
    member = make_user()
    with pytest.raises(ValueError):
        notifications.wants(member, "no_such_kind")
    with pytest.raises(ValueError):
        notifications.set_preferences(member, {"no_such_kind": True})


@pytest.mark.parametrize("status", [Status.SUSPENDED, Status.DELETED])
def test_suspended_and_deleted_members_want_nothing(app, make_user, status):
    """wants() is false for every kind, and notify() skips them."""
    member = make_user()
    member.status = status
    db.session.commit()
    assert not any(notifications.wants(member, kind) for kind in notifications.KINDS)
    assert notifications.notify([member], "round_open", "Open", "notify_round_open",
                                round=None, principles_url="") == 0


@pytest.mark.both_databases
def test_notify_skips_opted_out_unconfirmed_and_undeliverable(app, make_user):
    """One call queues only to confirmed, active members who want the kind with a deliverable address."""
    wanting, off, unconfirmed, bouncing = (make_user(f"{n}@example.org") for n in ("wanting", "off", "new", "bounce"))
    unconfirmed.email_confirmed_at = None
    bouncing.email_undeliverable_at = utcnow()
    opt_out(off, "evidence_published")
    sent = notifications.notify(sa.select(User), "evidence_published", "Published", "notify_evidence_published",
                                reference="KIL-1", library_url="https://example.org/x")
    db.session.commit()
    assert sent == 1
    assert recipients("evidence_published") == {"wanting@example.org"}
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "notify_evidence_published"))
    assert mail.user_id == wanting.id and mail.status == OutboxEmail.PENDING and mail.message_token
    assert "/account/notifications" in mail.body_text
    assert "because you asked to hear when your evidence is published" in mail.body_text


def test_each_recipient_is_greeted_by_name_escaped_in_html(app, make_user):
    """Rendered once, personalised per recipient: the name as typed in the text, escaped in the HTML."""
    make_user("ada@example.org", name="Ada <b>Lovelace</b> & Co")
    make_user("bo@example.org", name="Bo")
    notifications.notify(sa.select(User.id), "evidence_published", "Published", "notify_evidence_published",
                         reference="KIL-1", library_url="https://example.org/x")
    mails = {m.to_address: m for m in db.session.scalars(sa.select(OutboxEmail))}
    assert mails["ada@example.org"].body_text.startswith("Hello Ada <b>Lovelace</b> & Co,")
    assert "Ada &lt;b&gt;Lovelace&lt;/b&gt; &amp; Co" in mails["ada@example.org"].body_html
    assert "<b>Lovelace" not in mails["ada@example.org"].body_html
    assert mails["bo@example.org"].body_text.startswith("Hello Bo,") and "Ada" not in mails["bo@example.org"].body_text
    assert not any(notifications._NAME_SLOT in (m.body_text + (m.body_html or "")) for m in mails.values())


def test_queue_bulk_of_nothing_sends_nothing(app):
    """An empty audience writes no row and sends no statement."""
    with counting_queries() as statements:
        assert queue_bulk([]) == 0
    assert statements == []


# --- Automatic notifications --------------------------------------------------------------------

def test_a_workshop_published_tells_its_region_not_others_nor_who_opted_out(app, make_user, staff):
    """An in-person workshop: members of its region who want it; not another region's; once only."""
    bristol_a = make_user("a@example.org", gss_code=BRISTOL)
    bristol_off = make_user("off@example.org", gss_code=BRISTOL)
    make_user("leeds@example.org", gss_code=LEEDS)
    opt_out(bristol_off, "workshop_in_region")
    workshop = new_workshop(staff, region=region_of(BRISTOL))
    assert workshops.publish_workshop(staff, workshop)
    db.session.commit()
    assert recipients("workshop_in_region") == {bristol_a.email}
    body = db.session.scalar(sa.select(OutboxEmail.body_text).where(OutboxEmail.to_address == bristol_a.email))
    assert "Commissioning locally" in body and f"/workshops/{workshop.id}" in body
    assert not workshops.publish_workshop(staff, workshop)  # publishing again emails nobody again
    db.session.commit()
    assert count(OutboxEmail, OutboxEmail.kind == "notify_workshop_in_region") == 1


def test_an_online_workshop_tells_everyone(app, make_user, staff):
    """Online (or hybrid) workshops can be joined from anywhere: every member who wants it."""
    make_user("bristol@example.org", gss_code=BRISTOL)
    make_user("leeds@example.org", gss_code=LEEDS)
    make_user("nowhere@example.org", gss_code=None, member_type="other", organisation="")
    workshop = new_workshop(staff, format=WorkshopFormat.ONLINE, venue="", address="", postcode="",
                            online_url="https://meet.example.org/kil")
    workshops.publish_workshop(staff, workshop)
    db.session.commit()
    assert recipients("workshop_in_region") == {"bristol@example.org", "leeds@example.org", "nowhere@example.org",
                                                "staff@example.org"}


@pytest.mark.both_databases
def test_publishing_for_300_members_sends_a_fixed_small_number_of_statements(app, make_user, staff):
    """The audience is read in one query and queued in one bulk insert, whatever its size."""
    bristol = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == BRISTOL))
    now = utcnow()
    db.session.execute(sa.insert(User), [
        {"email": f"bulk{i}@example.org", "name": f"Bulk {i}", "member_type": "other", "session_token": f"bulk-{i}",
         "region_id": bristol.region_id, "email_confirmed_at": now, "status": Status.ACTIVE, "role": "member"}
        for i in range(300)])
    db.session.commit()
    workshop = new_workshop(staff, region=bristol.region)
    with counting_queries() as statements:
        workshops.publish_workshop(staff, workshop)
        db.session.flush()
    assert count(OutboxEmail, OutboxEmail.kind == "notify_workshop_in_region") == 300
    assert len(statements) <= 10, statements


def test_a_round_opened_tells_confirmed_members(app, make_user, staff):
    """A members' round: every confirmed member who wants it."""
    member = make_user("member@example.org")
    off = make_user("off@example.org")
    unconfirmed = make_user("new@example.org", confirmed=False)
    opt_out(off, "round_open")
    round_ = open_round(staff)
    assert recipients("round_open") == {member.email, "staff@example.org"}
    assert unconfirmed.email not in recipients("round_open")
    body = db.session.scalar(sa.select(OutboxEmail.body_text).where(OutboxEmail.kind == "notify_round_open"))
    assert round_.name in body and "/principles/" in body


@pytest.mark.both_databases
def test_an_attendees_round_tells_only_those_registered_for_its_workshops(app, make_user, staff):
    """An attendees-only round: the members with a confirmed place (or checked in) at its workshops."""
    attendee = make_user("attendee@example.org")
    cancelled = make_user("cancelled@example.org")
    make_user("other@example.org")
    round_ = principles.create_round(staff, name="Round 2", eligibility=Eligibility.ATTENDEES,
                                     closes_at=utcnow() + timedelta(days=7))
    workshop = new_workshop(staff)
    workshop.round_id = round_.id
    db.session.add_all([
        Registration(workshop_id=workshop.id, user_id=attendee.id, state=RegistrationState.CONFIRMED,
                     member_type=attendee.member_type),
        Registration(workshop_id=workshop.id, user_id=cancelled.id, state=RegistrationState.CANCELLED,
                     member_type=cancelled.member_type),
    ])
    db.session.flush()
    principles.open_round_for_votes(staff, round_)
    db.session.commit()
    assert recipients("round_open") == {attendee.email}


def test_an_answered_suggestion_tells_its_author_once(app, make_user, staff):
    """Staff answer: the author is told; saving the same answer again tells nobody twice."""
    author = make_user("author@example.org")
    round_ = open_round(staff)
    suggestion = principles.suggest(author, principles.drafts_of(round_)[0], "Better wording", "Clearer")
    db.session.commit()
    principles.respond(staff, suggestion, ResponseStatus.PARTLY, "We used part of it.")
    db.session.commit()
    assert recipients("suggestion_answered") == {author.email}
    body = db.session.scalar(sa.select(OutboxEmail.body_text).where(OutboxEmail.kind == "notify_suggestion_answered"))
    assert "Partly accepted" in body and "We used part of it." in body
    principles.respond(staff, suggestion, ResponseStatus.PARTLY, "We used part of it.")
    db.session.commit()
    assert count(OutboxEmail, OutboxEmail.kind == "notify_suggestion_answered") == 1


def test_an_answered_suggestion_is_not_sent_to_an_author_who_opted_out(app, make_user, staff):
    """The author turned 'Staff answer your suggestion' off: nothing is queued."""
    author = make_user("author@example.org")
    opt_out(author, "suggestion_answered")
    round_ = open_round(staff)
    suggestion = principles.suggest(author, principles.drafts_of(round_)[0], "Better wording")
    principles.respond(staff, suggestion, ResponseStatus.ACCEPTED, "Thank you.")
    db.session.commit()
    assert recipients("suggestion_answered") == set()


@pytest.mark.parametrize("status", [PledgeStatus.VERIFIED, PledgeStatus.REJECTED])
def test_a_decided_pledge_tells_its_submitter_and_the_councils_members(app, make_user, staff, status):
    """Verified or rejected: the submitter and the council's members who want it; not other councils'."""
    bristol = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == BRISTOL))
    submitter = make_user("cllr@example.org", member_type="councillor", organisation="", gss_code=BRISTOL)
    colleague = make_user("officer@example.org", member_type="council_officer", organisation="", gss_code=BRISTOL)
    off = make_user("off@example.org", member_type="council_officer", organisation="", gss_code=BRISTOL)
    make_user("leeds@example.org", member_type="councillor", organisation="", gss_code=LEEDS)
    opt_out(off, "pledge_decided")
    pledge = councils.submit_pledge(submitter, bristol, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="Cllr Priya Patel")
    db.session.commit()
    councils.review_pledge(staff, pledge, status, "Checked with the council.")
    db.session.commit()
    assert recipients("pledge_decided") == {submitter.email, colleague.email}
    body = db.session.scalar(sa.select(OutboxEmail.body_text).where(OutboxEmail.to_address == colleague.email))
    assert ("has been verified" in body) == (status == PledgeStatus.VERIFIED)
    assert "Checked with the council." in body and f"/councils/{BRISTOL}" in body
    councils.review_pledge(staff, pledge, status, "Checked with the council.")  # the same decision again
    db.session.commit()
    assert count(OutboxEmail, OutboxEmail.kind == "notify_pledge_decided") == 2


def _submission(user, call, **overrides) -> Submission:
    """A member's written evidence waiting for review."""
    submission = Submission(call_id=call.id, user_id=user.id if user else None, reference=f"KIL-{call.id}-1",
                            name="Ada", email=user.email if user else "guest@example.org", respondent_type="academic",
                            text="Our contract was re-tendered.", publication=Publication.NAMED, **overrides)
    db.session.add(submission)
    db.session.commit()
    return submission


def _call() -> Call:
    """An open call for evidence."""
    now = utcnow()
    call = Call(title="Call", introduction="Tell us.", asks="Evidence.", opens_at=now - timedelta(days=1),
                survey_closes_at=now + timedelta(days=10), written_closes_at=now + timedelta(days=20))
    db.session.add(call)
    db.session.commit()
    return call


def test_evidence_published_tells_its_submitter_the_first_time_only(app, make_user, staff):
    """Reviewed (public) for the first time: the submitter is told; a later re-review tells nobody."""
    member = make_user("ada@example.org")
    submission = _submission(member, _call())
    evidence.review(staff, submission, status=ReviewStatus.NEW, tags=[], principle_ids=[], notes="")
    db.session.commit()
    assert recipients("evidence_published") == set()  # not public yet
    evidence.review(staff, submission, status=ReviewStatus.REVIEWED, tags=[], principle_ids=[], notes="")
    db.session.commit()
    assert recipients("evidence_published") == {member.email}
    body = db.session.scalar(sa.select(OutboxEmail.body_text).where(OutboxEmail.kind == "notify_evidence_published"))
    assert submission.reference in body and f"/evidence/library/{submission.id}" in body
    evidence.review(staff, submission, status=ReviewStatus.FEATURED, tags=[], principle_ids=[], notes="")
    db.session.commit()
    assert count(OutboxEmail, OutboxEmail.kind == "notify_evidence_published") == 1


def test_evidence_published_is_not_sent_to_a_submitter_who_opted_out(app, make_user, staff):
    """The submitter turned it off; a private submission is never published either."""
    member = make_user("ada@example.org")
    opt_out(member, "evidence_published")
    evidence.review(staff, _submission(member, _call()), status=ReviewStatus.REVIEWED, tags=[], principle_ids=[],
                    notes="")
    db.session.commit()
    assert recipients("evidence_published") == set()


# --- Security emails: always sent -----------------------------------------------------------------

def test_password_changed_email_always_goes(app, make_user):
    """Even with every optional kind off and campaign consent withdrawn, the security email goes."""
    member = make_user("ada@example.org")
    notifications.set_preferences(member, dict.fromkeys(notifications.KINDS, False))
    auth_services.change_password(member, "correct horse battery", "a new long passphrase")
    db.session.commit()
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "security"))
    assert mail.to_address == "ada@example.org" and mail.subject == "Your password has been changed"
    assert "/auth/reset" in mail.body_text


def test_email_changed_tells_the_old_address(app, make_user):
    """The request tells the old address it is changing; the confirmation tells it that it changed."""
    member = make_user("old@example.org")
    auth_services.request_email_change(member, "new@example.org", "correct horse battery")
    db.session.commit()
    assert db.session.scalar(sa.select(OutboxEmail.to_address).where(OutboxEmail.kind == "notice")) == \
        "old@example.org"
    auth_services.confirm_email(auth_services.make_confirm_token(member, "new@example.org"))
    db.session.commit()
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "security"))
    assert mail.to_address == "old@example.org" and "new@example.org" in mail.body_text
