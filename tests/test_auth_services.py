"""Account rules in kil_network/auth/services.py, tested without HTTP."""
import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner

from kil_network.auth import services
from kil_network.auth.models import MemberType, Role, Status, User
from kil_network.core.models import OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members import services as member_services
from kil_network.members.models import ConsentRecord, LocalAuthority, Organisation, Region
from tests.support.db import count

PASSWORD = "correct horse battery"


def council(gss_code: str) -> LocalAuthority:
    """The local authority with this GSS code (loaded by the migration)."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


def region_named(name: str) -> Region:
    """The region with this name."""
    return db.session.scalar(sa.select(Region).where(Region.name == name))


def join(email="alice@example.org", **overrides) -> User:
    """Create a member with sensible defaults through create_member, and commit."""
    values = dict(
        name="Alice Example", email=email, password=PASSWORD,
        member_type=MemberType.COMMUNITY_ORGANISATION, organisation_name="Riverside Community Trust",
        local_authority=council("E06000023"), consent_privacy=True,
    )
    values.update(overrides)
    user = member_services.create_member(**values)
    db.session.commit()
    return user


def outbox(**filters) -> list[OutboxEmail]:
    """Outbox rows, oldest first, optionally filtered by column values."""
    stmt = sa.select(OutboxEmail).filter_by(**filters).order_by(OutboxEmail.id)
    return list(db.session.scalars(stmt))


def token_in(mail: OutboxEmail, path: str) -> str:
    """The token at the end of the first link in an outbox email whose path contains `path`."""
    match = re.search(rf"https?://\S*{re.escape(path)}(\S+)", mail.body_text)
    assert match, f"no {path} link in {mail.body_text!r}"
    return match.group(1)


# --- create_member -----------------------------------------------------------------------

def test_create_member_stores_email_lower_case_and_trimmed(app):
    """The address is stored lower-case without surrounding spaces."""
    user = join("  Alice.Smith@Example.ORG ")
    assert user.email == "alice.smith@example.org"
    assert services.get_user_by_email("ALICE.SMITH@example.org").id == user.id


def test_create_member_refuses_same_email_in_other_case(app):
    """A second account with the same address in another case is refused on the email field."""
    join("alice@example.org")
    with pytest.raises(RuleError) as excinfo:
        join("ALICE@Example.org", name="Someone Else")
    assert excinfo.value.field == "email"
    db.session.rollback()
    assert count(User) == 1


def test_database_enforces_unique_email(app):
    """Uniqueness is a database constraint, not only a check in the service."""
    join("alice@example.org")
    db.session.add(User(
        name="Dup", email="alice@example.org", password_hash="x", member_type=MemberType.OTHER,
        session_token="a" * 64,
    ))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_create_member_records_timestamped_consents(app):
    """Privacy, marketing and directory choices are each recorded with a UTC timestamp."""
    before = utcnow()
    user = join(consent_marketing=False, show_in_directory=True)
    after = utcnow()
    records = db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.user_id == user.id).order_by(ConsentRecord.id)
    ).all()
    assert [(r.kind, r.granted, r.source) for r in records] == [
        ("privacy", True, "join"), ("marketing", False, "join"), ("directory", True, "join"),
    ]
    for record in records:
        assert record.created_at.tzinfo is not None
        assert before - timedelta(seconds=1) <= record.created_at <= after + timedelta(seconds=1)
    assert before - timedelta(seconds=1) <= user.consent_privacy_at <= after + timedelta(seconds=1)
    assert user.consent_marketing is False and user.show_in_directory is True


def test_create_member_refuses_without_privacy_consent(app):
    """Joining without agreeing to the privacy notice fails and creates nothing."""
    with pytest.raises(RuleError) as excinfo:
        member_services.create_member(
            name="Bob", email="bob@example.org", password=PASSWORD, member_type=MemberType.OTHER,
            consent_privacy=False,
        )
    assert excinfo.value.field == "consent_privacy"
    db.session.rollback()
    assert count(User) == 0
    assert count(ConsentRecord) == 0


def test_region_is_derived_from_local_authority(app):
    """The council's region wins, even over a region chosen by hand."""
    user = join(local_authority=council("W06000015"), region=region_named("London"))
    assert user.local_authority.name == "Cardiff"
    assert user.region.name == "Wales"


def test_region_is_chosen_when_there_is_no_council(app):
    """Without a council, the chosen region is kept."""
    user = join(local_authority=None, region=region_named("North East"), member_type=MemberType.THINK_TANK)
    assert user.local_authority is None
    assert user.region.name == "North East"


def test_organisation_shared_by_name_ignoring_case_and_spaces(app):
    """'Riverside Community Trust' and '  riverside   COMMUNITY trust ' are the same organisation."""
    first = join("a@example.org", organisation_name="Riverside Community Trust")
    second = join("b@example.org", organisation_name="  riverside   COMMUNITY trust ")
    assert first.organisation_id == second.organisation_id
    assert count(Organisation) == 1
    assert first.organisation.name == "Riverside Community Trust"
    third = join("c@example.org", organisation_name="Riverside Community Trust Two")
    assert third.organisation_id != first.organisation_id


def test_create_member_without_organisation_name(app):
    """A councillor with no organisation name has no organisation record."""
    user = join(member_type=MemberType.COUNCILLOR, organisation_name="   ")
    assert user.organisation is None
    assert count(Organisation) == 0


def test_create_member_defaults(app):
    """A new member is an active, unconfirmed member with a session token; confirmed=True confirms."""
    user = join()
    assert user.status == Status.ACTIVE and user.role == Role.MEMBER
    assert not user.is_confirmed
    assert len(user.session_token) == 64
    staff = join("staff@example.org", role=Role.STAFF, confirmed=True)
    assert staff.is_confirmed and staff.is_staff
    assert staff.session_token != user.session_token


# --- authenticate ------------------------------------------------------------------------

def test_authenticate_right_password_any_email_case(app):
    """The right password signs in, whatever the case of the address."""
    user = join()
    assert services.authenticate("ALICE@example.org ", PASSWORD).id == user.id


@pytest.mark.parametrize("password", ["wrong password", "", None, PASSWORD.upper()])
def test_authenticate_wrong_password(app, password):
    """A wrong, empty or differently-cased password is refused."""
    join()
    assert services.authenticate("alice@example.org", password) is None


def test_authenticate_unknown_email(app):
    """An address with no account is refused."""
    join()
    assert services.authenticate("nobody@example.org", PASSWORD) is None


def test_authenticate_deleted_account(app):
    """A deleted account cannot sign in, even with its old password hash in place."""
    user = join()
    user.status = Status.DELETED
    db.session.commit()
    assert services.authenticate("alice@example.org", PASSWORD) is None


def test_load_user_only_for_active_accounts(app):
    """Sessions of suspended accounts stop working."""
    user = join()
    session_id = user.get_id()  # "<session token>:<sign-in id>"
    assert services.load_user(session_id).id == user.id
    assert services.load_user(user.session_token) is None  # a bare token is not a sign-in
    user.status = Status.SUSPENDED
    db.session.commit()
    assert services.load_user(session_id) is None
    assert services.load_user("no-such-token") is None


# --- confirmation tokens -----------------------------------------------------------------

def test_confirm_token_confirms_email(app):
    """A valid token confirms the address and a second use changes nothing."""
    user = join()
    token = services.make_confirm_token(user)
    assert services.confirm_email(token).id == user.id
    confirmed_at = user.email_confirmed_at
    assert confirmed_at is not None
    db.session.commit()
    services.confirm_email(token)
    assert user.email_confirmed_at == confirmed_at


def test_send_confirmation_queues_email_with_working_link(app):
    """The queued confirmation email links to a token that confirms this account."""
    user = join()
    services.send_confirmation(user)
    db.session.commit()
    [mail] = outbox(kind="confirm")
    assert mail.to_address == "alice@example.org"
    assert mail.user_id == user.id and mail.status == OutboxEmail.PENDING
    assert services.confirm_email(token_in(mail, "/auth/confirm/")).is_confirmed


def test_confirm_token_expired(app, monkeypatch):
    """A token older than CONFIRM_TOKEN_MAX_AGE is refused as expired."""
    user = join()
    eight_days_ago = int(time.time()) - 8 * 24 * 3600
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: eight_days_ago)
        token = services.make_confirm_token(user)
    with pytest.raises(RuleError, match="expired"):
        services.confirm_email(token)
    assert not user.is_confirmed


def test_confirm_token_just_inside_max_age(app, monkeypatch):
    """A token younger than the configured maximum age still works."""
    user = join()
    app.config["CONFIRM_TOKEN_MAX_AGE"] = 60
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 30)
        token = services.make_confirm_token(user)
    assert services.confirm_email(token).is_confirmed


def test_confirm_token_tampered(app):
    """Changing any part of a token breaks its signature."""
    user = join()
    token = services.make_confirm_token(user)
    payload, _, rest = token.partition(".")
    other = join("mallory@example.org")
    forged_payload = services.make_confirm_token(other).partition(".")[0]
    for bad in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), forged_payload + "." + rest, "", "nonsense"):
        with pytest.raises(RuleError, match="not valid"):
            services.confirm_email(bad)
    assert not user.is_confirmed and not other.is_confirmed


def test_reset_token_is_not_a_confirm_token(app):
    """A reset token (another purpose) is refused as a confirmation token, and vice versa."""
    user = join()
    with pytest.raises(RuleError, match="not valid"):
        services.confirm_email(services.make_reset_token(user))
    with pytest.raises(RuleError, match="not valid"):
        services.user_from_reset_token(services.make_confirm_token(user))
    assert not user.is_confirmed


def test_token_signed_with_other_secret_is_refused(app):
    """A token made with another SECRET_KEY does not verify."""
    user = join()
    secret = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "some-other-secret"
    try:
        token = services.make_confirm_token(user)
    finally:
        app.config["SECRET_KEY"] = secret
    with pytest.raises(RuleError):
        services.confirm_email(token)


def test_confirm_token_of_deleted_account_refused(app):
    """A confirmation link stops working once the account is deleted."""
    user = join()
    token = services.make_confirm_token(user)
    user.status = Status.DELETED
    db.session.commit()
    with pytest.raises(RuleError):
        services.confirm_email(token)


# --- email change ------------------------------------------------------------------------

def test_email_change_switches_address_after_confirmation(app):
    """The new address is pending until its token is used, then replaces the old one."""
    user = join(confirmed=True)
    services.request_email_change(user, "  Alice.New@Example.org ", PASSWORD)
    db.session.commit()
    assert user.email == "alice@example.org"
    assert user.pending_email == "alice.new@example.org"
    confirm = outbox(to_address="alice.new@example.org")
    notice = outbox(to_address="alice@example.org")
    assert len(confirm) == 1 and len(notice) == 1
    assert "alice.new@example.org" in notice[0].body_text
    services.confirm_email(token_in(confirm[0], "/auth/confirm/"))
    db.session.commit()
    assert user.email == "alice.new@example.org"
    assert user.pending_email is None
    assert services.authenticate("alice.new@example.org", PASSWORD).id == user.id
    assert services.authenticate("alice@example.org", PASSWORD) is None


def test_email_change_refuses_address_in_use(app):
    """Another account's address (in any case) is refused and nothing is queued."""
    user = join(confirmed=True)
    join("bob@example.org", name="Bob")
    with pytest.raises(RuleError) as excinfo:
        services.request_email_change(user, "BOB@example.org", PASSWORD)
    assert excinfo.value.field == "email"
    assert user.pending_email is None
    assert outbox() == []


def test_email_change_refuses_wrong_password(app):
    """The current password is required to change address."""
    user = join(confirmed=True)
    with pytest.raises(RuleError) as excinfo:
        services.request_email_change(user, "new@example.org", "not my password")
    assert excinfo.value.field == "password"
    assert user.pending_email is None
    assert outbox() == []


def test_email_change_refuses_same_address(app):
    """Asking to change to the current address (in another case) is refused."""
    user = join(confirmed=True)
    with pytest.raises(RuleError, match="already your email"):
        services.request_email_change(user, "ALICE@example.org", PASSWORD)


def test_email_change_refused_if_taken_before_confirmation(app):
    """If someone else takes the pending address meanwhile, confirming it fails."""
    user = join(confirmed=True)
    services.request_email_change(user, "new@example.org", PASSWORD)
    db.session.commit()
    token = token_in(outbox(to_address="new@example.org")[0], "/auth/confirm/")
    join("new@example.org", name="Quick Person")
    with pytest.raises(RuleError, match="Another account"):
        services.confirm_email(token)
    assert user.email == "alice@example.org"


def test_old_confirm_token_refused_after_email_change(app):
    """A confirmation link for an address no longer on the account is refused."""
    user = join()
    old_token = services.make_confirm_token(user)
    services.request_email_change(user, "new@example.org", PASSWORD)
    services.confirm_email(services.make_confirm_token(user, "new@example.org"))
    db.session.commit()
    with pytest.raises(RuleError, match="no longer on your account"):
        services.confirm_email(old_token)


# --- password reset ----------------------------------------------------------------------

def test_reset_request_for_unknown_address_queues_nothing(app):
    """Asking to reset an unregistered address sends nothing (and raises nothing)."""
    join()
    services.request_password_reset("stranger@example.org")
    db.session.commit()
    assert outbox() == []


def test_reset_request_for_suspended_account_queues_nothing(app):
    """Suspended accounts get no reset email."""
    user = join()
    user.status = Status.SUSPENDED
    db.session.commit()
    services.request_password_reset("alice@example.org")
    assert outbox() == []


def test_reset_token_is_single_use(app):
    """The emailed reset token works once; after the password changes it is refused."""
    user = join(confirmed=True)
    services.request_password_reset("ALICE@example.org")
    db.session.commit()
    [mail] = outbox(kind="reset")
    assert mail.to_address == "alice@example.org"
    token = token_in(mail, "/auth/reset/")
    assert services.user_from_reset_token(token).id == user.id
    services.complete_reset(user, "a brand new passphrase")
    db.session.commit()
    with pytest.raises(RuleError, match="already been used"):
        services.user_from_reset_token(token)
    assert services.authenticate("alice@example.org", "a brand new passphrase").id == user.id
    assert services.authenticate("alice@example.org", PASSWORD) is None


def test_reset_token_refused_after_set_password(app):
    """Changing the password on the profile also invalidates an outstanding reset token."""
    user = join(confirmed=True)
    token = services.make_reset_token(user)
    services.set_password(user, "another passphrase")
    db.session.commit()
    with pytest.raises(RuleError):
        services.user_from_reset_token(token)


def test_reset_token_expired(app, monkeypatch):
    """A reset token older than RESET_TOKEN_MAX_AGE is refused as expired."""
    user = join()
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 2 * 3600)
        token = services.make_reset_token(user)
    with pytest.raises(RuleError, match="expired"):
        services.user_from_reset_token(token)


def test_complete_reset_confirms_unconfirmed_email(app):
    """Resetting by email proves the address, so an unconfirmed account becomes confirmed."""
    user = join(confirmed=False)
    assert not user.is_confirmed
    services.complete_reset(user, "a brand new passphrase")
    db.session.commit()
    assert user.is_confirmed


def test_change_password_needs_the_current_password(app):
    """The service refuses a change with a wrong current password (on that field) and keeps the old one."""
    user = join()
    old_token = user.session_token
    with pytest.raises(RuleError) as excinfo:
        services.change_password(user, "not my password", "a brand new passphrase")
    assert (excinfo.value.field, excinfo.value.message) == (
        "current_password", "Your current password is not correct")
    db.session.rollback()
    assert services.authenticate("alice@example.org", PASSWORD).id == user.id
    assert user.session_token == old_token
    services.change_password(user, PASSWORD, "a brand new passphrase")
    db.session.commit()
    assert services.authenticate("alice@example.org", "a brand new passphrase").id == user.id
    assert user.session_token != old_token


def test_set_password_rotates_session_token(app):
    """A new password signs out other sessions: the old session token no longer loads."""
    user = join()
    old_token, old_hash, old_id = user.session_token, user.password_hash, user.get_id()
    services.set_password(user, "another passphrase")
    db.session.commit()
    assert user.session_token != old_token
    assert user.password_hash != old_hash and "another passphrase" not in user.password_hash
    assert services.load_user(old_id) is None
    assert services.load_user(user.get_id()).id == user.id
