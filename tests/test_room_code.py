"""The workshop's live page (/w/<id>?code=<room code>): presence proven by the room code, one-time
sign-in codes by email, the short join for newcomers, self check-in, and limits that fit a room."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth import services as auth_services
from kil_network.auth.models import MemberType, SignInCode, Status, User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord
from kil_network.principles import services as principles
from kil_network.principles.models import Eligibility, VoteTally
from kil_network.workshops import room
from kil_network.workshops import services as workshops
from kil_network.workshops.models import (
    CheckInMethod,
    Registration,
    RegistrationState,
    Workshop,
    WorkshopFormat,
    WorkshopStatus,
)
from tests.support.principles import live_workshop, open_round


@pytest.fixture
def staff(make_user):
    return make_user(email="organiser@example.org", role="staff")


@pytest.fixture
def round_(staff):
    return open_round(staff)


@pytest.fixture
def workshop(round_):
    """A published workshop happening now, its round open, live voting open."""
    return live_workshop(round_)


def code_now(workshop) -> str:
    return room.current_code(workshop).code


def emailed_code(to: str) -> str:
    """The six digits in the newest sign-in email to this address (read from the outbox)."""
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == to)
                             .order_by(OutboxEmail.id.desc()).limit(1))
    assert mail is not None and mail.secret, f"no secret email to {to}"
    return re.search(r"^\s+(\d{6})\s*$", mail.body_text, re.M).group(1)


def emailed_link_token(to: str) -> str:
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == to)
                             .order_by(OutboxEmail.id.desc()).limit(1))
    return re.search(r"/w/sign-in/([A-Za-z0-9_-]+)", mail.body_text).group(1)


def registration(workshop, user) -> Registration | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(Registration).where(Registration.workshop_id == workshop.id,
                                                           Registration.user_id == user.id))


def enter_room(client, workshop):
    """Open the live page with this minute's room code (as the QR code does)."""
    response = client.get(f"/w/{workshop.id}?code={code_now(workshop)}")
    assert response.status_code == 303 and response.location == f"/w/{workshop.id}"
    return client.get(response.location)


# --- Services: the one-time codes -----------------------------------------------------------------

def test_a_code_signs_in_once_and_only_hashes_are_kept(app, make_user, workshop):
    user = make_user(email="ada@example.org")
    code, token = auth_services.issue_sign_in_code(user, "sign_in", workshop.id)
    db.session.commit()
    row = db.session.scalar(sa.select(SignInCode))
    assert re.fullmatch(r"\d{6}", code) and code not in row.code_hash and token not in row.link_hash
    assert row.expires_at - row.created_at == timedelta(minutes=15) and row.workshop_id == workshop.id
    signed, used = auth_services.redeem_sign_in_code("ADA@example.org ", f"{code[:3]} {code[3:]}")
    assert signed.id == user.id and used.used_at is not None
    db.session.commit()
    with pytest.raises(RuleError, match="already been used"):
        auth_services.redeem_sign_in_code("ada@example.org", code)
    with pytest.raises(RuleError, match="already been used"):
        auth_services.redeem_sign_in_link(token)


def test_wrong_codes_count_down_and_the_fifth_burns_it(app, make_user):
    user = make_user(email="ada@example.org")
    code, _ = auth_services.issue_sign_in_code(user)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    messages = []
    for _ in range(5):
        with pytest.raises(RuleError) as refused:
            auth_services.redeem_sign_in_code("ada@example.org", wrong)
        messages.append(refused.value.message)
    assert messages[0] == "That code is not right. Check the email and try again (4 tries left)."
    assert "(1 try left)" in messages[3] and "stopped working" in messages[4]
    with pytest.raises(RuleError, match="too many wrong tries"):
        auth_services.redeem_sign_in_code("ada@example.org", code)  # the right code, too late


def test_an_expired_code_and_link_are_refused(app, make_user):
    user = make_user(email="ada@example.org")
    code, token = auth_services.issue_sign_in_code(user)
    db.session.scalar(sa.select(SignInCode)).expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(RuleError, match="expired"):
        auth_services.redeem_sign_in_code("ada@example.org", code)
    with pytest.raises(RuleError, match="expired"):
        auth_services.redeem_sign_in_link(token)


def test_a_new_code_supersedes_the_older_unused_one(app, make_user):
    user = make_user(email="ada@example.org")
    old_code, old_token = auth_services.issue_sign_in_code(user)
    new_code, new_token = auth_services.issue_sign_in_code(user)
    if old_code != new_code:
        with pytest.raises(RuleError, match="not right"):
            auth_services.redeem_sign_in_code("ada@example.org", old_code)
    with pytest.raises(RuleError, match="newer one was sent"):
        auth_services.redeem_sign_in_link(old_token)
    assert auth_services.redeem_sign_in_link(new_token)[0].id == user.id


def test_a_code_confirms_the_address_and_a_suspended_account_gets_none(app, make_user):
    user = make_user(email="new@example.org", confirmed=False)
    code, _ = auth_services.issue_sign_in_code(user, "join")
    auth_services.redeem_sign_in_code("new@example.org", code)
    assert user.is_confirmed
    user.status = Status.SUSPENDED
    with pytest.raises(RuleError, match="suspended"):
        auth_services.issue_sign_in_code(user)
    with pytest.raises(RuleError, match="no sign-in code"):
        auth_services.redeem_sign_in_code("nobody@example.org", "123456")


# --- Services: the room code and attendance ----------------------------------------------------------

def test_room_code_this_minute_and_the_one_before_only_while_live_voting_is_open(app, workshop):
    now = utcnow()
    assert room.is_valid(workshop, code_now(workshop).lower(), now)
    assert room.is_valid(workshop, room.current_code(workshop, now - timedelta(seconds=60)).code, now)
    assert not room.is_valid(workshop, room.current_code(workshop, now - timedelta(seconds=120)).code, now)
    assert not room.is_valid(workshop, "", now)
    workshop.live_voting = False
    assert not room.is_valid(workshop, room.current_code(workshop, now).code, now)


def test_self_check_in_counts_as_attending_for_an_attendees_round(app, staff, make_user):
    round_ = principles.create_round(staff, name="Attendees round", eligibility=Eligibility.ATTENDEES,
                                     closes_at=utcnow() + timedelta(days=7))
    principles.open_round_for_votes(staff, round_)
    starts = utcnow() - timedelta(minutes=30)
    workshop = Workshop(title="Bristol", format=WorkshopFormat.IN_PERSON, starts_at=starts,
                        ends_at=starts + timedelta(hours=2), registration_closes_at=starts, capacity=10,
                        status=WorkshopStatus.PUBLISHED, round_id=round_.id, live_voting=True)
    db.session.add(workshop)
    member = make_user(email="ada@example.org")
    assert principles.participation_error(member, round_) is not None
    workshops.self_check_in(member, workshop)
    db.session.commit()
    assert principles.attended_round_workshop(member, round_)
    assert principles.participation_error(member, round_) is None


# --- HTTP: every branch of the live page ----------------------------------------------------------------

def test_a_signed_in_member_is_checked_in_and_their_vote_counts_for_the_workshop(client, auth, make_user, workshop,
                                                                                round_):
    member = make_user(email="ada@example.org")
    auth.login("ada@example.org")
    code = code_now(workshop)
    response = client.get(f"/w/{workshop.id}?code={code}")
    assert response.status_code == 303 and response.location == f"/principles/?workshop={workshop.id}"
    reg = registration(workshop, member)
    assert reg.state == RegistrationState.CONFIRMED and reg.checked_in_at is not None
    assert reg.check_in_method == CheckInMethod.ROOM_CODE.value and reg.walk_in
    assert code not in " ".join(db.session.scalars(sa.select(AuditLog.summary)).all())
    page = client.get(response.location).get_data(as_text=True)
    assert "You are checked in at Leeds principles workshop" in page
    draft = principles.drafts_of(round_)[0]
    assert client.post_form(f"/principles/drafts/{draft.id}/vote",
                            {"stance": "support", "workshop": str(workshop.id)}).status_code == 303
    tally = db.session.scalar(sa.select(VoteTally).where(VoteTally.dimension == "workshop",
                                                         VoteTally.key == str(workshop.id)))
    assert tally.support == 1


def test_a_member_signs_in_by_emailed_code_and_lands_on_voting(client, make_user, workshop):
    member = make_user(email="ada@example.org")
    page = enter_room(client, workshop).get_data(as_text=True)
    assert "Your email address" in page and 'autocomplete="email"' in page
    response = client.post_form(f"/w/{workshop.id}/email", {"email": "Ada@Example.org"})
    assert response.status_code == 303 and response.location == f"/w/{workshop.id}/code"
    page = client.get(response.location).get_data(as_text=True)
    assert "Enter the 6-digit code we sent to" in page and "ada@example.org" in page
    assert 'inputmode="numeric"' in page and 'autocomplete="one-time-code"' in page
    code = emailed_code("ada@example.org")
    response = client.post_form(f"/w/{workshop.id}/code", {"code": code})
    assert response.status_code == 303 and response.location == f"/principles/?workshop={workshop.id}"
    assert client.get("/account/").status_code == 200  # signed in
    assert registration(workshop, member).check_in_method == CheckInMethod.ROOM_CODE.value
    # The code was used: typed again in another browser, it is refused.
    other = client.application.test_client()
    enter_room(other, workshop)
    with other.session_transaction() as s:
        s["room_email"] = "ada@example.org"
    again = other.post_form(f"/w/{workshop.id}/code", {"code": code})
    assert again.status_code == 422 and "already been used" in again.get_data(as_text=True)


def test_a_wrong_code_says_how_many_tries_are_left(client, make_user, workshop):
    make_user(email="ada@example.org")
    enter_room(client, workshop)
    client.post_form(f"/w/{workshop.id}/email", {"email": "ada@example.org"})
    right = emailed_code("ada@example.org")
    response = client.post_form(f"/w/{workshop.id}/code", {"code": f"{(int(right) + 7) % 1_000_000:06d}"})
    assert response.status_code == 422
    assert "That code is not right. Check the email and try again (4 tries left)" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(SignInCode.attempts)) == 1  # kept, though refused


def test_a_newcomer_joins_in_the_room_confirms_by_code_and_votes(client, workshop, round_):
    enter_room(client, workshop)
    page = client.post_form(f"/w/{workshop.id}/email", {"email": "newcomer@example.org"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Join the Network to vote" in html
    assert 'value="newcomer@example.org"' in html
    key = re.search(r'name="submission_key" value="([^"]+)"', html).group(1)
    form = {"name": "Nia Newcomer", "email": "newcomer@example.org", "member_type": "community_organisation",
            "organisation": "Leeds Food Hub", "local_authority": "", "consent_privacy": "y",
            "submission_key": key}
    first = client.post_form(f"/w/{workshop.id}/join", form)
    second = client.post_form(f"/w/{workshop.id}/join", form)  # a double tap
    assert first.status_code == second.status_code == 303 and first.location == f"/w/{workshop.id}/code"
    users = db.session.scalars(sa.select(User).where(User.email == "newcomer@example.org")).all()
    assert len(users) == 1
    newcomer = users[0]
    assert newcomer.password_hash == "" and not newcomer.is_confirmed
    assert not newcomer.consent_marketing and not newcomer.show_in_directory
    consents = {c.kind: c.granted for c in db.session.scalars(sa.select(ConsentRecord)
                                                                .where(ConsentRecord.user_id == newcomer.id))}
    assert consents == {"privacy": True, "marketing": False, "directory": False}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInCode)) == 1  # one email
    response = client.post_form(f"/w/{workshop.id}/code", {"code": emailed_code("newcomer@example.org")})
    assert response.status_code == 303 and response.location == f"/principles/?workshop={workshop.id}"
    db.session.expire_all()
    assert db.session.get(User, newcomer.id).is_confirmed
    assert registration(workshop, newcomer).checked_in_at is not None
    draft = principles.drafts_of(round_)[1]
    assert client.post_form(f"/principles/drafts/{draft.id}/vote",
                            {"stance": "amend", "workshop": str(workshop.id)}).status_code == 303


def test_the_short_join_needs_the_member_types_details_and_privacy_consent(client, workshop):
    enter_room(client, workshop)
    response = client.post_form(f"/w/{workshop.id}/join", {"name": "Cal", "email": "cal@example.org",
                                                          "member_type": "councillor"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Select the council you work for or represent" in html and "Agree to the privacy notice" in html
    assert 'value="Cal"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == "cal@example.org")) == 0


def test_the_emailed_link_signs_in_and_checks_in(client, make_user, workshop):
    member = make_user(email="ada@example.org")
    enter_room(client, workshop)
    client.post_form(f"/w/{workshop.id}/email", {"email": "ada@example.org"})
    token = emailed_link_token("ada@example.org")
    phone = client.application.test_client()
    page = phone.get(f"/w/sign-in/{token}")
    assert page.status_code == 200 and "Sign in and vote" in page.get_data(as_text=True)
    assert db.session.scalar(sa.select(SignInCode.used_at)) is None  # opening the link uses nothing
    response = phone.post_form(f"/w/sign-in/{token}", token_from=f"/w/sign-in/{token}")
    assert response.status_code == 303 and response.location == f"/principles/?workshop={workshop.id}"
    assert registration(workshop, member).checked_in_at is not None
    again = client.application.test_client().post_form(f"/w/sign-in/{token}", token_from=f"/w/sign-in/{token}")
    assert again.status_code == 422 and "already been used" in again.get_data(as_text=True)


def test_a_cancelled_place_is_refused_clearly(client, auth, make_user, workshop):
    member = make_user(email="ada@example.org")
    db.session.add(Registration(workshop=workshop, user=member, member_type=member.member_type,
                                state=RegistrationState.CANCELLED, queued_at=utcnow()))
    db.session.commit()
    auth.login("ada@example.org")
    response = client.get(f"/w/{workshop.id}?code={code_now(workshop)}")
    assert response.status_code == 403
    assert "Your place at this workshop was cancelled" in response.get_data(as_text=True)
    assert registration(workshop, member).checked_in_at is None


def test_a_suspended_member_gets_no_code(client, make_user, workshop):
    member = make_user(email="ada@example.org")
    member.status = Status.SUSPENDED
    db.session.commit()
    enter_room(client, workshop)
    response = client.post_form(f"/w/{workshop.id}/email", {"email": "ada@example.org"})
    assert response.status_code == 403 and "This account is suspended" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInCode)) == 0


def test_an_expired_room_code_is_refused_with_a_way_on(client, workshop):
    old = room.current_code(workshop, utcnow() - timedelta(minutes=3)).code
    response = client.get(f"/w/{workshop.id}?code={old}")
    html = response.get_data(as_text=True)
    assert response.status_code == 410 and "This room code has expired" in html
    assert 'name="code"' in html and f'href="/workshops/{workshop.id}"' in html
    # Without presence proven, the email step is refused too.
    refused = client.post_form(f"/w/{workshop.id}/email", {"email": "ada@example.org"}, token_from="/auth/login")
    assert refused.status_code == 422


def test_closed_live_voting_refuses_the_code(client, workshop):
    code = code_now(workshop)
    workshop.live_voting = False
    db.session.commit()
    response = client.get(f"/w/{workshop.id}?code={code}")
    assert response.status_code == 410 and "Live voting is not open" in response.get_data(as_text=True)


def test_presence_survives_a_password_sign_in(client, make_user, workshop):
    member = make_user(email="ada@example.org")
    enter_room(client, workshop)
    client.post_form("/auth/login", {"email": "ada@example.org", "password": "correct horse battery"})
    response = client.get(f"/w/{workshop.id}")
    assert response.status_code == 303 and response.location == f"/principles/?workshop={workshop.id}"
    assert registration(workshop, member).checked_in_at is not None


# --- Limits that fit a room ----------------------------------------------------------------------

def test_two_hundred_people_on_one_address_sign_in_and_join_with_limits_on(limited_app, workshop):
    """One venue address: 200 members sign in by code and 200 people join at /auth/join, all accepted."""
    now = utcnow()
    members = [User(email=f"room{i}@example.org", name=f"Room {i}", member_type=MemberType.OTHER,
                    session_token=auth_services.new_session_token(), email_confirmed_at=now, consent_privacy_at=now)
               for i in range(200)]  # no password: they sign in by emailed code
    db.session.add_all(members)
    db.session.commit()
    members = [(m.id, m.email) for m in members]
    presence = {"room_presence": {"workshop": workshop.id, "at": int(utcnow().timestamp())}}
    for _, email in members:
        phone = limited_app.test_client()
        with phone.session_transaction() as s:
            s.update(presence)
        response = phone.post_form(f"/w/{workshop.id}/email", {"email": email})
        assert response.status_code == 303, email
        response = phone.post_form(f"/w/{workshop.id}/code", {"code": emailed_code(email)})
        assert response.status_code == 303, email
    checked_in = db.session.scalar(sa.select(sa.func.count()).select_from(Registration)
                                   .where(Registration.checked_in_at.is_not(None)))
    assert checked_in == 200
    for i in range(200):
        joiner = limited_app.test_client()  # each joiner's own browser: joining starts a new session
        response = joiner.post("/auth/join", data={
            "name": f"Joiner {i}", "email": f"joiner{i}@example.org", "password": "a long password here",
            "member_type": "other", "region": "1", "consent_privacy": "y", "csrf_token": joiner.csrf_token()})
        assert response.status_code == 302, (i, response.get_data(as_text=True)[:300])


def test_per_email_limits_still_bite_and_keep_what_was_typed(limited_app, make_user, workshop):
    make_user(email="ada@example.org")
    phone = limited_app.test_client()
    with phone.session_transaction() as s:
        s["room_presence"] = {"workshop": workshop.id, "at": int(utcnow().timestamp())}
    codes = [phone.post_form(f"/w/{workshop.id}/email", {"email": "ada@example.org"}).status_code for _ in range(6)]
    assert codes == [303] * 5 + [429]
    refused = phone.post_form(f"/w/{workshop.id}/email", {"email": "ada@example.org"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "Too many attempts" in html and 'value="ada@example.org"' in html
    # Another person in the same room is not affected.
    assert phone.post_form(f"/w/{workshop.id}/email", {"email": "bea@example.org"}).status_code == 200
    # The short join: the typed name and organisation come back with the 429.
    form = {"name": "Nia Newcomer", "email": "nia@example.org", "member_type": "other", "organisation": "Food Hub",
            "consent_privacy": "y"}
    for _ in range(5):
        phone.post_form(f"/w/{workshop.id}/join", {**form, "consent_privacy": ""})
    refused = phone.post_form(f"/w/{workshop.id}/join", form)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 429 and 'value="Nia Newcomer"' in html and 'value="Food Hub"' in html
    # /auth/join: one address and email, 10 an hour, then the form again with what was typed.
    joiner = limited_app.test_client()
    token = joiner.csrf_token("/auth/join")
    data = {"name": "Repeat Person", "email": "repeat@example.org", "password": "short", "member_type": "other",
            "csrf_token": token}
    statuses = [joiner.post("/auth/join", data=data).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]
    html = joiner.post("/auth/join", data=data).get_data(as_text=True)
    assert 'value="Repeat Person"' in html and "Too many attempts" in html and 'value="short"' not in html
    # Sign-in: the 11th wrong password for one account from one address, the address typed kept.
    signer = limited_app.test_client()
    token = signer.csrf_token("/auth/login")
    for _ in range(10):
        signer.post("/auth/login", data={"email": "ada@example.org", "password": "wrong", "csrf_token": token})
    refused = signer.post("/auth/login", data={"email": "ada@example.org", "password": "wrong", "csrf_token": token})
    assert refused.status_code == 429 and 'value="ada@example.org"' in refused.get_data(as_text=True)


def test_a_room_code_typed_loosely_works_and_a_control_character_is_a_400(client, workshop):
    code = code_now(workshop)
    typed = f" {code[:3].lower()} {code[3:]} "
    assert client.get(f"/w/{workshop.id}", query_string={"code": typed}).status_code == 303
    assert client.get(f"/w/{workshop.id}?code=AB%00CD").status_code == 400
