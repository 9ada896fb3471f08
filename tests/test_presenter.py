"""The presenter screen (/present, its poll) and its remote control (/control), over HTTP.

Staff only; the control's posts are sets (a repeated click changes nothing) validated by
`workshops.services.set_presenter`; the poll answers 204 when nothing it shows changed, keeps
the tallies' split out of the page until staff reveal it, and costs the same few queries
whatever the number of votes; the room-code JSON; the old /live URL redirects to /control.
"""
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kil_network.core.models import AuditLog
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import services as principles
from kil_network.principles.models import Stance
from kil_network.workshops import room
from kil_network.workshops.models import Registration, RegistrationState
from tests.support.app import signed_in
from tests.support.db import count, counting_queries
from tests.support.principles import live_workshop, open_round

HX = {"HX-Request": "true"}
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def one_minute(monkeypatch):
    """The room code's clock stands still (mid-minute), so no poll here meets a new code by chance."""
    now = utcnow().replace(second=30)
    monkeypatch.setattr(room, "utcnow", lambda: now)
    return now


@pytest.fixture
def scene(app, make_user):
    """Staff, an open round of six drafts and a published workshop happening now, live voting open."""
    staff = make_user(email="staff@example.org", name="Sam Staff", role="staff")
    round_ = open_round(staff)
    workshop = live_workshop(round_, started_minutes_ago=30, capacity=400)
    return {"staff": staff, "round": round_, "workshop": workshop, "drafts": principles.drafts_of(round_)}


def vote_in_room(make_user, scene, stances, *, start=0):
    """One attendee per stance, checked in at the workshop, votes on principle 1 through it."""
    workshop, draft = scene["workshop"], scene["drafts"][0]
    for i, stance in enumerate(stances, start=start):
        person = make_user(email=f"voter{i}@example.org", name=f"Voter Person{i}")
        db.session.add(Registration(workshop_id=workshop.id, user_id=person.id, member_type=person.member_type,
                                    state=RegistrationState.CONFIRMED, checked_in_at=utcnow()))
        db.session.flush()
        principles.cast_vote(person, draft, Stance(stance), "", workshop.id)
    db.session.commit()


def poll_url(body: str) -> str:
    """The URL the screen polls next (from the poller element of a page or a poll answer)."""
    match = re.search(r'id="present-poll"[^>]*data-hx-get="([^"]+)"', body)
    assert match, body[:500]
    return html.unescape(match.group(1))


def staff_client(app):
    return signed_in(app, "staff@example.org")


def control(client, workshop, data, **kwargs):
    return client.post_form(f"/staff/workshops/{workshop.id}/control", data, **kwargs)


# --- Access ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["present", "present/poll", "control", "room-code", "live"])
def test_staff_only(app, client, make_user, scene, path):
    """Members get 403 and anonymous visitors the sign-in page, on every presenter URL."""
    url = f"/staff/workshops/{scene['workshop'].id}/{path}"
    response = client.get(url)
    assert response.status_code == 302 and response.location.startswith("/auth/login")
    make_user(email="member@example.org")
    assert signed_in(app, "member@example.org").get(url).status_code == 403
    assert signed_in(app, "staff@example.org").get(url).status_code == (302 if path == "live" else 200)


def test_members_cannot_post_to_the_control(app, make_user, scene):
    """A member's post is refused and changes nothing."""
    make_user(email="member@example.org")
    member = signed_in(app, "member@example.org")
    assert member.post_form(f"/staff/workshops/{scene['workshop'].id}/control", {"tallies": "shown"},
                            token_from="/privacy").status_code == 403
    db.session.expire_all()
    assert scene["workshop"].tallies_shown is False


# --- The screen -------------------------------------------------------------------------------

def test_presenter_page_has_no_site_chrome_and_a_room_qr(app, scene):
    """Own template: no menu, no sign-out; the QR code, the short URL and the current room code."""
    workshop = scene["workshop"]
    body = staff_client(app).get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True)
    assert '<html lang="en-GB"' in body and "<title>Presenter screen: Leeds principles workshop" in body
    assert "site-header" not in body and "Sign out" not in body and "site-footer" not in body
    assert "css/present.css" in body and "htmx" in body and '"204","swap":false' in body
    code = room.current_code(workshop).code
    assert 'class="qr"' in body and f"room code {code}" in body
    assert f'data-code="{code}">{code}<' in body
    host = app.config["BASE_URL"].partition("://")[2].rstrip("/")
    assert f"<strong>{host}/w/{workshop.id}</strong>" in body
    assert body.count('class="present-card"') == 6
    assert "Sam Staff" not in body and "staff@example.org" not in body  # no personal data


def test_closed_live_voting_says_so_instead_of_the_qr(app, scene):
    workshop = scene["workshop"]
    workshop.live_voting = False
    db.session.commit()
    body = staff_client(app).get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True)
    assert "Live voting is closed" in body
    assert 'class="qr"' not in body and room.current_code(workshop).code not in body


def test_tallies_hidden_until_revealed(app, make_user, scene):
    """Hidden (the default): how many voted, never the split; revealed: the bars with counts, once
    the room's figures pass the disclosure rules (5 votes, not all but one the same)."""
    workshop = scene["workshop"]
    vote_in_room(make_user, scene, ["support", "support", "oppose"])
    client = staff_client(app)
    body = client.get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True)
    assert 'data-votes="1">3<' in body and 'data-votes="2">0<' in body
    assert "data-count=" not in body and "present-bars" not in body and "67%" not in body
    poll = client.get(f"/staff/workshops/{workshop.id}/present/poll?board=stale&join=stale", headers=HX)
    assert poll.status_code == 200
    assert "data-count=" not in poll.get_data(as_text=True) and "67%" not in poll.get_data(as_text=True)

    assert control(client, workshop, {"tallies": "shown"}).status_code == 303
    revealed = client.get(poll_url(body), headers=HX).get_data(as_text=True)
    assert 'id="present-board"' in revealed and 'data-hx-swap-oob="true"' in revealed
    assert "Results appear from 5 votes" in revealed and "data-count=" not in revealed  # 3 votes: too few

    vote_in_room(make_user, scene, ["support", "support"], start=3)  # 4 of 5 support: all but one
    dominated = client.get(poll_url(revealed), headers=HX).get_data(as_text=True)
    assert "Results hidden to protect privacy" in dominated and 'data-count="support-1"' not in dominated

    vote_in_room(make_user, scene, ["oppose"], start=5)  # 4, 0, 2 of 6
    shown = client.get(poll_url(dominated), headers=HX).get_data(as_text=True)
    assert re.search(r'data-count="support-1">4 \(67%\)', shown)
    assert re.search(r'data-count="oppose-1">2 \(33%\)', shown)
    assert 'data-count="amend-1">0 ' in shown


def test_poll_answers_204_until_something_changes(app, make_user, scene):
    """Nothing new: 204 (htmx swaps nothing). A vote, a control change or a new room code: only
    the parts that changed come back, out of band, with the next poll URL."""
    workshop = scene["workshop"]
    client = staff_client(app)
    url = poll_url(client.get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True))
    assert client.get(url, headers=HX).status_code == 204
    assert client.get(url, headers=HX).get_data() == b""

    vote_in_room(make_user, scene, ["amend"])
    changed = client.get(url, headers=HX)
    body = changed.get_data(as_text=True)
    assert changed.status_code == 200 and "present-board" in body and "present-join" not in body
    assert 'data-votes="1">1<' in body
    url = poll_url(body)
    assert client.get(url, headers=HX).status_code == 204

    control(client, workshop, {"show": "2"})
    body = client.get(url, headers=HX).get_data(as_text=True)
    assert "present__board--one" in body and body.count('class="present-card"') == 1 and "2 of 6" in body
    url = poll_url(body)

    control(client, workshop, {"live": "0"})
    body = client.get(url, headers=HX).get_data(as_text=True)
    assert "present-join" in body and "Live voting is closed" in body and "present-board" not in body


def test_poll_rebuilds_the_qr_when_the_code_changes(app, scene, monkeypatch, one_minute):
    """A new minute, a new room code: the join panel (QR and code) comes back with it."""
    workshop = scene["workshop"]
    client = staff_client(app)
    url = poll_url(client.get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True))
    later = one_minute + timedelta(minutes=1)
    next_code = room.current_code(workshop, later).code
    monkeypatch.setattr(room, "utcnow", lambda: later)
    body = client.get(url, headers=HX).get_data(as_text=True)
    assert "present-join" in body and f'data-code="{next_code}"' in body and "present-board" not in body


def test_poll_queries_do_not_grow_with_votes(app, make_user, scene):
    """A poll sends two statements (the signed-in user; the workshop with its principles and
    tallies), unchanged (204) or not, with 3 or 30 votes."""
    workshop = scene["workshop"]
    client = staff_client(app)
    counts = []
    for n, start in ((3, 0), (27, 3)):
        vote_in_room(make_user, scene, ["support", "amend", "oppose"] * (n // 3), start=start)
        url = poll_url(client.get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True))
        with counting_queries() as unchanged:
            assert client.get(url, headers=HX).status_code == 204
        with counting_queries() as changed:
            assert client.get(url.replace("board=", "board=x"), headers=HX).status_code == 200
        counts.append((len(unchanged), len(changed)))
    assert counts[0] == counts[1] == (2, 2), counts


# --- The control --------------------------------------------------------------------------------

def test_control_page_shows_the_code_and_the_screen_link(app, scene):
    workshop = scene["workshop"]
    body = staff_client(app).get(f"/staff/workshops/{workshop.id}/control").get_data(as_text=True)
    assert f'href="/staff/workshops/{workshop.id}/present"' in body
    assert f'data-code="{room.current_code(workshop).code}"' in body
    assert "Close live voting" in body and "Reveal the tallies" in body
    assert body.count('name="show"') == 9  # previous, next, all and six principles
    code = staff_client(app).get(f"/staff/workshops/{workshop.id}/control?part=code", headers=HX)
    fragment = code.get_data(as_text=True).strip()
    assert fragment.startswith('<p id="control-code"') and "<html" not in fragment
    assert 'data-hx-trigger="every 10s"' in fragment and f'data-code="{room.current_code(workshop).code}"' in fragment


def test_control_actions_are_sets_and_audited_once(app, scene):
    """Each post sets one thing; a second identical post changes nothing and writes no audit entry;
    every change bumps present_version (what the screen's poll reads)."""
    workshop = scene["workshop"]
    client = staff_client(app)
    version = workshop.present_version
    for _ in range(2):
        response = control(client, workshop, {"show": "3"})
        assert response.status_code == 303 and response.location == f"/staff/workshops/{workshop.id}/control"
    db.session.expire_all()
    assert workshop.present_number == 3 and workshop.present_version == version + 1
    for _ in range(2):
        control(client, workshop, {"tallies": "shown"})
    db.session.expire_all()
    assert workshop.tallies_shown is True and workshop.present_version == version + 2
    control(client, workshop, {"show": "all"})
    control(client, workshop, {"tallies": "hidden"})
    db.session.expire_all()
    assert workshop.present_number is None and workshop.tallies_shown is False
    assert count(AuditLog, AuditLog.action == "workshop.presenter") == 4
    for _ in range(2):
        control(client, workshop, {"live": "0"})
    db.session.expire_all()
    assert workshop.live_voting is False and count(AuditLog, AuditLog.action == "workshop.live_voting") == 1


@pytest.mark.parametrize("data, message", [
    ({"show": "7"}, "There is no principle 7 in this round"),
    ({"show": "0"}, "There is no principle 0 in this round"),
    ({"show": "two"}, "Choose what to change."),
    ({"tallies": "maybe"}, "Choose what to change."),
    ({}, "Choose what to change."),
])
def test_control_refuses_what_is_not_a_choice(app, scene, data, message):
    workshop = scene["workshop"]
    client = staff_client(app)
    response = control(client, workshop, data)
    assert response.status_code == 303
    assert message in client.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    assert workshop.present_number is None and workshop.tallies_shown is False and workshop.present_version == 0


def test_control_with_htmx_answers_with_the_panel(app, scene):
    """An htmx post gets the panel with the message in it (no redirect, no flash left for later)."""
    workshop = scene["workshop"]
    client = staff_client(app)
    response = control(client, workshop, {"show": "2"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="control-panel"')
    assert "The screen shows principle 2." in body and "<html" not in body
    assert 'value="2" class="button button--secondary control__choice control__choice--current"' in body
    refused = control(client, workshop, {"show": "9"}, headers=HX).get_data(as_text=True)
    assert 'role="alert"' in refused and "There is no principle 9" in refused
    assert "There is no principle 9" not in client.get(f"/staff/workshops/{workshop.id}/control").get_data(
        as_text=True)


def test_control_without_a_round(app, scene):
    workshop = scene["workshop"]
    workshop.round_id, workshop.live_voting = None, False
    db.session.commit()
    client = staff_client(app)
    assert "not linked to a principles round" in client.get(
        f"/staff/workshops/{workshop.id}/control").get_data(as_text=True)
    response = control(client, workshop, {"tallies": "shown"})
    assert "Link this workshop to a principles round first" in client.get(response.location).get_data(as_text=True)
    body = client.get(f"/staff/workshops/{workshop.id}/present").get_data(as_text=True)
    assert "not linked to a principles round" in body and "Live voting is closed" in body


def test_control_needs_the_csrf_token(app, scene):
    workshop = scene["workshop"]
    client = staff_client(app)
    response = client.post(f"/staff/workshops/{workshop.id}/control", data={"tallies": "shown"})
    assert response.status_code in (302, 303, 400)
    db.session.expire_all()
    assert workshop.tallies_shown is False


# --- Room code, old URL ------------------------------------------------------------------------

def test_room_code_json(app, scene):
    workshop = scene["workshop"]
    response = staff_client(app).get(f"/staff/workshops/{workshop.id}/room-code")
    data = response.get_json()
    current = room.current_code(workshop)
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    assert data["code"] == current.code and data["live_voting"] is True
    expires = datetime.fromisoformat(data["expires_at"])
    assert data["expires_at"].endswith("Z") and expires == current.expires_at.astimezone(UTC)
    assert expires - current.expires_at == timedelta(0) and expires.second == 0


def test_old_live_url_redirects_to_the_control(app, scene):
    workshop = scene["workshop"]
    client = staff_client(app)
    response = client.get(f"/staff/workshops/{workshop.id}/live")
    assert response.status_code == 302 and response.location == f"/staff/workshops/{workshop.id}/control"
    response = client.post_form(f"/staff/workshops/{workshop.id}/live", {"open": "0"})
    assert response.status_code == 303 and response.location == f"/staff/workshops/{workshop.id}/control"
    db.session.expire_all()
    assert workshop.live_voting is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "workshop.live_voting")) == 1
