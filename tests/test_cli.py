"""The flask commands: seed-demo, create-user, deliver-mail."""
import signal
from collections import Counter
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from kil_network.auth.models import MemberType, Role, Status, User
from kil_network.auth.services import authenticate
from kil_network.core.email import queue_email
from kil_network.core.models import OutboxEmail
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, Organisation
from tests.support.db import count


@pytest.fixture
def keep_sigterm():
    """deliver-mail installs a SIGTERM handler; put pytest's back afterwards."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def test_seed_demo_creates_members_and_prints_logins(runner):
    """seed-demo adds the demo admin, the demo member and 60 fictional members, and prints the logins."""
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert count(User) == 62
    assert "staff@example.org / keep-it-local-staff" in result.output
    assert "member@example.org / keep-it-local-member" in result.output
    staff = authenticate("staff@example.org", "keep-it-local-staff")
    assert staff is not None and staff.role == Role.ADMIN and staff.is_confirmed and staff.is_active
    member = authenticate("member@example.org", "keep-it-local-member")
    assert member is not None and member.role == Role.MEMBER and member.is_confirmed


def test_seed_demo_spreads_members_across_types_and_regions(runner):
    """The demo members cover every member type and all ten regions, most listed in the directory."""
    runner.invoke(args=["seed-demo"])
    db.session.expire_all()
    users = db.session.scalars(sa.select(User)).all()
    assert {u.member_type for u in users} == set(MemberType)
    assert len({u.region_id for u in users}) == 10
    listed = sum(u.show_in_directory and u.is_confirmed for u in users)
    assert 30 <= listed < 62
    assert all(u.email == u.email.lower() for u in users)
    assert max(Counter(u.organisation_id for u in users if u.organisation_id).values()) > 1


def test_seed_demo_is_idempotent(runner):
    """Running seed-demo twice adds nothing the second time."""
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    db.session.expire_all()
    before = (count(User), count(Organisation), count(ConsentRecord))
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "already loaded" in second.output
    assert "staff@example.org" in second.output  # the logins are printed again
    db.session.expire_all()
    assert (count(User), count(Organisation), count(ConsentRecord)) == before


def test_create_user_makes_confirmed_active_staff(runner):
    """create-user makes a confirmed, active account with the role asked for."""
    result = runner.invoke(args=["create-user", "Boss@Example.org", "--role", "staff", "--password", "s3cret-pass"])
    assert result.exit_code == 0, result.output
    assert "boss@example.org" in result.output
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.email == "boss@example.org"))
    assert user.role == Role.STAFF
    assert user.status == Status.ACTIVE and user.is_confirmed
    assert user.region is not None
    assert [c.kind for c in user.consents] == ["privacy", "marketing", "directory"]
    assert authenticate("boss@example.org", "s3cret-pass").id == user.id


def test_create_user_refuses_duplicate(runner):
    """A second create-user for the same address (any case) fails and changes nothing."""
    assert runner.invoke(args=["create-user", "boss@example.org", "--role", "admin", "--password",
                               "pw-one"]).exit_code == 0
    result = runner.invoke(args=["create-user", "BOSS@example.org", "--role", "member", "--password", "pw-two"])
    assert result.exit_code != 0
    assert "already uses this email" in result.output
    db.session.expire_all()
    assert count(User) == 1
    assert authenticate("boss@example.org", "pw-one").role == Role.ADMIN


def test_create_user_rejects_unknown_role(runner):
    """Only member, staff and admin are accepted as roles."""
    result = runner.invoke(args=["create-user", "x@example.org", "--role", "superuser", "--password", "pw"])
    assert result.exit_code == 2
    assert count(User) == 0


def test_create_user_needs_password(runner):
    """The password option is required."""
    result = runner.invoke(args=["create-user", "x@example.org"])
    assert result.exit_code == 2
    assert count(User) == 0


def test_deliver_mail_once_sends_queued_mail(runner, mail, keep_sigterm):
    """deliver-mail --once sends what is queued to the SMTP server and stops."""
    for i in range(3):
        queue_email(f"person{i}@example.org", f"Queued {i}", "reset_password",
                    user_obj=SimpleNamespace(name=f"Person {i}"), url=f"http://127.0.0.1:5000/auth/reset/t{i}")
    db.session.commit()
    result = runner.invoke(args=["deliver-mail", "--once"])
    assert result.exit_code == 0, result.output
    for i in range(3):
        message = mail.wait_for(lambda m, i=i: m["Subject"] == f"Queued {i}")
        assert message["To"] == f"person{i}@example.org"
    db.session.expire_all()
    assert db.session.scalars(sa.select(OutboxEmail.status)).all() == [OutboxEmail.SENT] * 3


def test_deliver_mail_once_with_smtp_down_keeps_mail(runner, mail, keep_sigterm):
    """With the SMTP server unreachable, deliver-mail --once exits cleanly and keeps the mail pending."""
    from tests.support.app import free_port

    app = runner.app
    app.config["MAIL_PORT"] = free_port()
    queue_email("person@example.org", "Waiting", "reset_password", user_obj=SimpleNamespace(name="P"), url="http://x/")
    db.session.commit()
    result = runner.invoke(args=["deliver-mail", "--once"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    row = db.session.scalar(sa.select(OutboxEmail))
    assert (row.status, row.attempts) == (OutboxEmail.PENDING, 1)
    assert mail.messages == []


def test_home_counts_are_cached_when_configured(app, client, make_user):
    """With HOME_STATS_CACHE_SECONDS set, the home page reuses its counts; with 0 they are fresh."""
    from kil_network.site import services

    make_user(email="first@example.org")
    app.config["HOME_STATS_CACHE_SECONDS"] = 60
    services._stats_cache.clear()
    first = services.cached_network_stats()
    make_user(email="second@example.org")
    assert services.cached_network_stats() == first  # within the minute: the same counts
    app.config["HOME_STATS_CACHE_SECONDS"] = 0
    assert services.cached_network_stats()["members"] == first["members"] + 1
    services._stats_cache.clear()
