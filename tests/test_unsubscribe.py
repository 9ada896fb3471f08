"""One-click unsubscribe (RFC 8058) over HTTP, and the notification preferences page."""
import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer

from kil_network.auth import services as auth_services
from kil_network.core.email import build_message, queue_email
from kil_network.core.models import OutboxEmail
from kil_network.extensions import db
from kil_network.members import notifications
from kil_network.members.models import ConsentRecord, NotificationPreference
from kil_network.members.services import delete_account
from tests.support.db import count

ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture
def subscriber(make_user):
    """A confirmed member who consented to campaign emails."""
    return make_user("subscriber@example.org", consent_marketing=True)


def unsubscribes(user) -> list[ConsentRecord]:
    """The member's consent records made by the unsubscribe link."""
    return list(db.session.scalars(sa.select(ConsentRecord).where(
        ConsentRecord.user_id == user.id, ConsentRecord.source == "unsubscribe link")))


def test_get_shows_what_it_does_and_changes_nothing(app, client, subscriber):
    """Mail scanners fetch links: a GET is a page with a button and the preferences link, nothing more."""
    url = f"/unsubscribe/{notifications.unsubscribe_token(subscriber)}"
    response = client.get(url)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<form method="post" action="{url}"' in body and "Unsubscribe</button>" in body
    assert "/account/notifications" in body and "campaign emails" in body
    db.session.expire_all()
    assert db.session.get(type(subscriber), subscriber.id).consent_marketing is True
    assert unsubscribes(subscriber) == []


def test_one_click_post_with_no_cookies_withdraws_consent(app, subscriber):
    """The mail provider's POST: no cookies, no CSRF token, the RFC 8058 body. Consent is withdrawn,
    recorded with the time and "unsubscribe link"; a second POST changes nothing more."""
    machine = app.test_client(use_cookies=False)
    url = f"/unsubscribe/{notifications.unsubscribe_token(subscriber)}"
    response = machine.post(url, data=ONE_CLICK, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "You have unsubscribed" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(subscriber), subscriber.id).consent_marketing is False
    (record,) = unsubscribes(subscriber)
    assert record.kind == "marketing" and record.granted is False and record.created_at is not None
    again = machine.post(url, data=ONE_CLICK, content_type="application/x-www-form-urlencoded")
    assert again.status_code == 200
    assert len(unsubscribes(subscriber)) == 1  # idempotent


def test_the_page_button_works_for_a_signed_in_member_too(app, client, auth, subscriber):
    """The button on the GET page (a browser, signed in or not) unsubscribes the same way."""
    auth.login("subscriber@example.org")
    url = f"/unsubscribe/{notifications.unsubscribe_token(subscriber)}"
    assert client.post(url, data={}).status_code == 200
    db.session.expire_all()
    assert db.session.get(type(subscriber), subscriber.id).consent_marketing is False
    page = client.get(url).get_data(as_text=True)
    assert "You are not subscribed" in page and "Unsubscribe</button>" not in page


BAD_TOKENS = {
    "forged": None,  # filled in below: a token signed with another key
    "malformed": "not-a-token",
    "20 digits": "12345678901234567890",
    "NUL": "abc%00def",
    "other salt": None,
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_token_is_404_and_changes_nothing(app, client, subscriber, case, method):
    """Forged, malformed, a 20-digit number, a NUL, a token for another purpose: 404, no change."""
    token = BAD_TOKENS[case]
    if case == "forged":
        token = URLSafeSerializer("not the secret key", salt="unsubscribe").dumps(
            {"id": subscriber.id, "e": notifications._fingerprint(subscriber.email)})
    elif case == "other salt":
        token = URLSafeSerializer(app.config["SECRET_KEY"], salt="kil-confirm").dumps(
            {"id": subscriber.id, "e": notifications._fingerprint(subscriber.email)})
    response = client.open(f"/unsubscribe/{token}", method=method, data=ONE_CLICK,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(type(subscriber), subscriber.id).consent_marketing is True
    assert unsubscribes(subscriber) == []


def test_a_signed_token_for_a_missing_or_odd_id_is_404(app, client, subscriber):
    """A validly signed token whose id is no member's, or not an integer, is refused like a forged one."""
    serializer = notifications._serializer()
    for data in ({"id": 99999, "e": "x"}, {"id": "1", "e": "x"}, {"id": 10 ** 20, "e": "x"}, [1, 2], "text"):
        assert client.get(f"/unsubscribe/{serializer.dumps(data)}").status_code == 404


def test_an_address_change_kills_an_old_token(app, client, subscriber):
    """The token carries a fingerprint of the address: after a change, the old link is 404, a new one works."""
    old = notifications.unsubscribe_token(subscriber)
    auth_services.request_email_change(subscriber, "moved@example.org", "correct horse battery")
    auth_services.confirm_email(auth_services.make_confirm_token(subscriber, "moved@example.org"))
    db.session.commit()
    assert client.get(f"/unsubscribe/{old}").status_code == 404
    assert client.post(f"/unsubscribe/{old}", data=ONE_CLICK,
                       content_type="application/x-www-form-urlencoded").status_code == 404
    assert client.get(f"/unsubscribe/{notifications.unsubscribe_token(subscriber)}").status_code == 200


def test_a_deleted_members_token_is_404(app, client, subscriber):
    """Once the account is deleted, its links lead nowhere."""
    token = notifications.unsubscribe_token(subscriber)
    delete_account(subscriber)
    db.session.commit()
    assert client.get(f"/unsubscribe/{token}").status_code == 404


def test_a_campaign_email_carries_both_headers(app, subscriber):
    """queue_email(..., headers=unsubscribe_headers(user)): the outbox row keeps them and the message has
    List-Unsubscribe (the HTTPS link, from BASE_URL) and List-Unsubscribe-Post."""
    queue_email(subscriber.email, "News from the Network", "email_change_notice", kind="campaign", user=subscriber,
                headers=notifications.unsubscribe_headers(subscriber), user_obj=subscriber, new_email="x@example.org")
    db.session.commit()
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "campaign"))
    message = build_message(mail)
    link = message["List-Unsubscribe"]
    assert link == f"<{app.config['BASE_URL'].rstrip('/')}/unsubscribe/{notifications.unsubscribe_token(subscriber)}>"
    assert message["List-Unsubscribe-Post"] == ONE_CLICK
    assert notifications.user_from_unsubscribe_token(link.strip("<>").rsplit("/", 1)[1]).id == subscriber.id


def test_other_emails_carry_no_unsubscribe_headers(app, subscriber):
    """A service or security email has no List-Unsubscribe: they are not campaign emails."""
    auth_services.change_password(subscriber, "correct horse battery", "a new long passphrase")
    db.session.commit()
    message = build_message(db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.kind == "security")))
    assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None


# --- /account/notifications ------------------------------------------------------------------------

def test_preferences_page_lists_choices_and_the_always_sent(app, client, as_role):
    """Each optional kind as a ticked checkbox (default on), campaign consent, and the always-sent kinds."""
    as_role("member")
    body = client.get("/account/notifications").get_data(as_text=True)
    for kind in notifications.KINDS.values():
        assert f'value="{kind.key}"' in body and kind.label.replace("'", "&#39;") in body
    assert body.count(" checked") == len(notifications.KINDS)  # campaign consent not given at joining
    assert "Emails we always send" in body and "Security" in body and "aria-current=\"page\"" in body


def test_preferences_post_saves_choices_and_campaign_consent(app, client, as_role):
    """Untick two kinds and give campaign consent: saved, recorded, shown back ticked as chosen."""
    member = as_role("member")
    keep = ["workshop_in_region", "round_open", "evidence_published"]
    response = client.post_form("/account/notifications", {"notifications": keep, "consent_marketing": "y"},
                                token_from="/account/notifications")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/notifications")
    assert notifications.preferences(member) == {k: k in keep for k in notifications.KINDS}
    db.session.expire_all()
    assert db.session.get(type(member), member.id).consent_marketing is True
    assert db.session.scalar(sa.select(ConsentRecord.source).where(
        ConsentRecord.user_id == member.id, ConsentRecord.kind == "marketing", ConsentRecord.granted.is_(True))) \
        == "notification preferences"
    body = client.get("/account/notifications").get_data(as_text=True)
    assert 'value="round_open" id="notifications-round_open" checked' in body
    assert 'value="pledge_decided" id="notifications-pledge_decided">' in body


def test_preferences_post_refuses_an_unknown_kind(app, client, as_role):
    """A kind that is not offered is a form error; nothing is saved."""
    as_role("member")
    response = client.post_form("/account/notifications", {"notifications": ["bogus"]},
                                token_from="/account/notifications")
    assert response.status_code == 200 and "data-error-summary" in response.get_data(as_text=True)
    assert count(NotificationPreference) == 0


def test_preferences_page_needs_sign_in(app, client):
    """Anonymous visitors are sent to sign in."""
    response = client.get("/account/notifications")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
