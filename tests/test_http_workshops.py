"""Workshop pages over HTTP, per role: the public list and page, registering, My workshops and
calendar feeds, and the staff screens (schedule, edit, publish, cancel, check-in, exports)."""
import csv
import html
import io
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from kil_network.auth.models import MemberType, User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.timeutil import LONDON, london_to_utc, utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.principles import services as principle_services
from kil_network.workshops import services
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat, WorkshopStatus
from tests.support.db import count, queries_for
from tests.support.forms import form_data, region_id

JOIN_URL = "https://meet.example.org/kil-secret-room"
HX = {"HX-Request": "true"}
NEXT_YEAR = utcnow().year + 1
# A summer evening next year: 18:30 London is 17:30 UTC (British Summer Time).
SUMMER_START = london_to_utc(datetime(NEXT_YEAR, 7, 15, 18, 30))


def text(response) -> str:
    """The response body as text with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def reg_of(workshop, user) -> Registration | None:
    """This member's registration for the workshop, read fresh."""
    db.session.expire_all()
    return db.session.scalar(sa.select(Registration).where(Registration.workshop_id == workshop.id,
                                                           Registration.user_id == user.id))


@pytest.fixture
def organiser(make_user):
    """The member of staff who scheduled the workshops (not the one signed in)."""
    return make_user(email="organiser@example.org", name="Olu Organiser", role="staff")


@pytest.fixture
def make_workshop(organiser):
    """Create a workshop (published unless told otherwise) through the services and commit."""

    def factory(title="Keep it Local in Leeds", *, starts_at=None, capacity=10, publish=True,
                fmt=WorkshopFormat.IN_PERSON, region="Yorkshire and The Humber", **extra):
        starts = starts_at or (utcnow() + timedelta(days=14)).replace(second=0, microsecond=0)
        data = {
            "title": title, "description": "We co-design the six principles.",
            "region": db.session.get(Region, region_id(region)) if region else None, "format": fmt,
            "venue": "Leeds Civic Hall", "address": "Calverley Street, Leeds", "postcode": "LS1 1UR",
            "online_url": JOIN_URL, "starts_at": starts, "ends_at": starts + timedelta(hours=2),
            "registration_closes_at": starts - timedelta(days=1), "capacity": capacity,
            "accessibility_info": "Step-free access.", "mix_max_percent": None,
        }
        data.update(extra)
        workshop = services.create_workshop(organiser, data)
        if publish:
            services.publish_workshop(organiser, workshop)
        db.session.commit()
        return workshop

    return factory


@pytest.fixture
def register(app):
    """Register a member through the services and commit; returns the registration."""

    def do(workshop, user, **kwargs):
        reg = services.register(workshop, user, **kwargs)
        db.session.commit()
        return reg

    return do


def make_past(workshop, days=3):
    """Move a workshop into the past (after people registered and were checked in)."""
    workshop.starts_at = (utcnow() - timedelta(days=days)).replace(second=0, microsecond=0)
    workshop.ends_at = workshop.starts_at + timedelta(hours=2)
    workshop.registration_closes_at = workshop.starts_at - timedelta(days=1)
    db.session.commit()


# --- The public list ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["anonymous", "unconfirmed", "member", "staff", "admin"])
def test_list_upcoming_and_past_tabs_hide_drafts(client, as_role, make_workshop, role):
    """Upcoming ones on the first tab, past on their own; drafts are never listed publicly."""
    make_workshop("Upcoming in Leeds")
    past = make_workshop("Last spring in Cardiff", region="Wales")
    make_past(past)
    make_workshop("Secret draft", publish=False)
    as_role(role)
    upcoming = client.get("/workshops/")
    assert upcoming.status_code == 200
    body = text(upcoming)
    assert "Upcoming in Leeds" in body and "Last spring in Cardiff" not in body and "Secret draft" not in body
    assert "1 workshop" in body
    past_page = text(client.get("/workshops/?when=past"))
    assert "Last spring in Cardiff" in past_page and "Upcoming in Leeds" not in past_page
    assert "Secret draft" not in past_page


def test_list_filters_by_region_format_and_month(client, make_workshop):
    """Region, format and month filters each narrow the list; together they combine."""
    base = (utcnow() + timedelta(days=10)).replace(second=0, microsecond=0)
    make_workshop("Leeds in person", starts_at=base)
    make_workshop("National online", starts_at=base + timedelta(days=40), fmt=WorkshopFormat.ONLINE, region=None)
    make_workshop("Cardiff hybrid", starts_at=base + timedelta(days=90), fmt=WorkshopFormat.HYBRID, region="Wales")

    def titles(query):
        return set(re.findall(r'<h2 class="heading-s"><a href="/workshops/\d+">([^<]+)</a>',
                              client.get(f"/workshops/?{query}").get_data(as_text=True)))

    assert titles("") == {"Leeds in person", "National online", "Cardiff hybrid"}
    assert titles(f"region={region_id('Wales')}") == {"Cardiff hybrid"}
    assert titles("format=online") == {"National online"}
    assert titles("format=hybrid") == {"Cardiff hybrid"}
    month = base.astimezone(LONDON).strftime("%Y-%m")
    assert titles(f"month={month}") == {"Leeds in person"}
    assert titles(f"region={region_id('Wales')}&format=online") == set()
    assert titles("region=nonsense&format=bogus&month=2027-99") == {"Leeds in person", "National online",
                                                                    "Cardiff hybrid"}
    page = client.get(f"/workshops/?region={region_id('Wales')}").get_data(as_text=True)
    assert f'<option value="{region_id("Wales")}" selected>Wales</option>' in page


def test_month_filter_in_summer_time(client, make_workshop):
    """A July workshop (British Summer Time) is listed under July."""
    make_workshop("Bristol in July", starts_at=SUMMER_START, region="South West")
    body = text(client.get(f"/workshops/?month={NEXT_YEAR}-07"))
    assert "Bristol in July" in body and "1 workshop" in body
    assert "Bristol in July" not in text(client.get(f"/workshops/?month={NEXT_YEAR}-06"))


def test_list_htmx_returns_only_the_list_partial(client, make_workshop):
    """An htmx request gets the `#workshop-list` fragment (no layout) and Vary: HX-Request."""
    make_workshop("Leeds in person")
    response = client.get("/workshops/?format=in_person", headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="workshop-list"') and "<html" not in body
    assert "Leeds in person" in body
    assert "HX-Request" in response.headers["Vary"]
    full = client.get("/workshops/").get_data(as_text=True)
    assert "<html" in full and 'id="workshop-list"' in full


def test_list_shows_places_left_or_waitlist_open(client, make_workshop, make_user, register):
    """Each workshop says how many places are left, or that only the waitlist is open."""
    roomy = make_workshop("Roomy", capacity=3)
    full = make_workshop("Packed", capacity=1)
    a, b, c = (make_user(email=f"p{i}@example.org") for i in range(3))
    register(roomy, a)
    register(full, b)
    register(full, c)
    items = re.findall(r'<li class="workshop">(.*?)</li>', text(client.get("/workshops/")), re.S)
    by_title = {re.search(r'/workshops/\d+">([^<]+)</a>', item).group(1): item for item in items}
    assert "2 of 3 places left" in by_title["Roomy"] and "waitlist" not in by_title["Roomy"]
    assert "Full: waitlist open (1 waiting)" in by_title["Packed"] and "places left" not in by_title["Packed"]


def test_past_tab_shows_attendance(client, make_workshop, make_user, register, organiser):
    """Past workshops show how many attended instead of seats."""
    past = make_workshop("Held in York")
    regs = [register(past, make_user(email=f"p{i}@example.org")) for i in range(3)]
    services.check_in(organiser, regs[0])
    services.check_in(organiser, regs[1])
    db.session.commit()
    make_past(past)
    body = text(client.get("/workshops/?when=past"))
    assert "Held in York" in body and "2 attended" in body


# --- The workshop page --------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [
    ("anonymous", 404), ("unconfirmed", 404), ("member", 404), ("staff", 200), ("admin", 200),
])
def test_draft_page_only_for_staff(client, as_role, make_workshop, role, status):
    """A draft's page (and calendar file) is 404 for everyone but staff."""
    draft = make_workshop("Draft in Hull", publish=False)
    as_role(role)
    response = client.get(f"/workshops/{draft.id}")
    assert response.status_code == status
    assert client.get(f"/workshops/{draft.id}.ics").status_code == status
    if status == 200:
        assert "only staff can see this workshop" in text(response)


@pytest.mark.parametrize("role, expected", [
    ("anonymous", "Sign in"),
    ("unconfirmed", "Confirm your email address to register"),
    ("member", ">Register</button>"),
    ("staff", ">Register</button>"),
])
def test_published_page_per_role(client, as_role, make_workshop, role, expected):
    """Everyone sees the details; the registration panel fits who is looking."""
    workshop = make_workshop("Leeds in person")
    as_role(role)
    response = client.get(f"/workshops/{workshop.id}")
    body = text(response)
    assert response.status_code == 200
    assert "Leeds Civic Hall" in body and "10 of 10 places left" in body and expected in body
    assert 'id="registration"' in body
    assert client.get("/workshops/999999").status_code == 404


def test_joining_link_only_for_confirmed_attendee(client, auth, make_user, make_workshop, register):
    """The online joining link appears on the page only for someone with a confirmed place."""
    workshop = make_workshop("Online session", fmt=WorkshopFormat.ONLINE, region=None, capacity=1)
    confirmed = make_user(email="confirmed@example.org")
    make_user(email="waiting@example.org")
    register(workshop, confirmed)
    assert JOIN_URL not in text(client.get(f"/workshops/{workshop.id}"))
    auth.login("waiting@example.org")
    client.post_form(f"/workshops/{workshop.id}/register", {})
    assert JOIN_URL not in text(client.get(f"/workshops/{workshop.id}"))
    auth.logout()
    auth.login("confirmed@example.org")
    assert JOIN_URL in text(client.get(f"/workshops/{workshop.id}"))


# --- Registering and cancelling -----------------------------------------------------------------

def test_anonymous_register_and_cancel_redirect_to_sign_in(client, make_workshop):
    """Signed-out visitors are sent to sign in; nothing is stored."""
    workshop = make_workshop()
    for action in ("register", "cancel"):
        response = client.post_form(f"/workshops/{workshop.id}/{action}", {})
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
    htmx = client.post_form(f"/workshops/{workshop.id}/register", {}, headers=HX)
    assert htmx.status_code == 200 and htmx.headers["HX-Redirect"].startswith("/auth/login")
    assert count(Registration) == 0


def test_unconfirmed_member_gets_clear_message_and_nothing_is_stored(client, as_role, make_workshop):
    """An unconfirmed member is told to confirm their email first; no registration, no email."""
    workshop = make_workshop()
    as_role("unconfirmed")
    response = client.post_form(f"/workshops/{workshop.id}/register", {"access_needs": "A hearing loop"})
    assert response.status_code == 422  # the page again, the access needs kept (issue 12), not a redirect
    page = text(response)
    assert "Confirm your email address before you register for a workshop." in page and "A hearing loop" in page
    assert count(Registration) == 0
    assert count(OutboxEmail, OutboxEmail.kind == "workshop") == 0


def test_member_registers_and_is_confirmed(client, as_role, make_workshop):
    """A confirmed member posting the form gets a confirmed place, a message and an email."""
    workshop = make_workshop()
    member = as_role("member")
    response = client.post_form(f"/workshops/{workshop.id}/register", {"access_needs": "Hearing loop please"})
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "Your place is confirmed." in page and "Cancel my place" in page
    reg = reg_of(workshop, member)
    assert reg.state == RegistrationState.CONFIRMED and reg.access_needs == "Hearing loop please"
    assert count(OutboxEmail, OutboxEmail.to_address == member.email,
                 OutboxEmail.subject.startswith("Your place is confirmed")) == 1
    assert "Hearing loop please" not in page  # access needs are for staff only


def test_register_without_csrf_token_is_refused(client, as_role, make_workshop):
    """A register POST without the CSRF token is rejected and stores nothing."""
    workshop = make_workshop()
    as_role("member")
    response = client.post(f"/workshops/{workshop.id}/register", data={})
    assert response.status_code == 400
    assert count(Registration) == 0


def test_full_workshop_puts_member_on_waitlist_with_position(client, as_role, make_workshop, make_user, register):
    """When full, the member joins the waitlist and is told their position."""
    workshop = make_workshop(capacity=1)
    register(workshop, make_user(email="early@example.org"))
    register(workshop, make_user(email="second@example.org"))
    member = as_role("member")
    response = client.post_form(f"/workshops/{workshop.id}/register", {})
    page = text(client.get(response.headers["Location"]))
    assert "The workshop is full: the only place is taken. You are number 2 on the waitlist" in page
    assert "Leave the waitlist" in page
    assert reg_of(workshop, member).state == RegistrationState.WAITLISTED


def test_register_htmx_returns_registration_panel(client, as_role, make_workshop):
    """The htmx version returns only the `#registration` panel with the outcome."""
    workshop = make_workshop(capacity=1)
    as_role("member")
    response = client.post_form(f"/workshops/{workshop.id}/register", {}, headers=HX)
    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="registration"') and "<html" not in body
    assert "Your place is confirmed." in body and "Cancel my place" in body
    again = text(client.post_form(f"/workshops/{workshop.id}/register", {}, headers=HX))
    assert "You are already registered for this workshop." in again
    assert count(Registration) == 1


def test_register_twice_is_refused_with_message(client, as_role, make_workshop):
    """Posting register again says so and does not add another row."""
    workshop = make_workshop()
    as_role("member")
    client.post_form(f"/workshops/{workshop.id}/register", {})
    response = client.post_form(f"/workshops/{workshop.id}/register", {})
    assert response.status_code == 422 and "You are already registered for this workshop." in text(response)
    assert count(Registration) == 1


@pytest.mark.parametrize("case, message", [
    ("cancelled", "This workshop has been cancelled."),
    ("closed", "Registration closed on"),
])
def test_register_refused_for_cancelled_or_closed(client, as_role, make_workshop, organiser, case, message):
    """Registration for a cancelled workshop, or after registration closes, is refused with the reason."""
    if case == "cancelled":
        workshop = make_workshop()
        services.cancel_workshop(organiser, workshop, "Storm warning")
        db.session.commit()
    else:
        starts = (utcnow() + timedelta(hours=12)).replace(second=0, microsecond=0)
        workshop = make_workshop(starts_at=starts, registration_closes_at=starts - timedelta(days=1))
    as_role("member")
    response = client.post_form(f"/workshops/{workshop.id}/register", {}, headers=HX)
    assert message in text(response)
    assert count(Registration) == 0


def test_register_for_draft_is_404(client, as_role, make_workshop):
    """Members cannot register for a draft they cannot see."""
    draft = make_workshop(publish=False)
    as_role("member")
    assert client.post_form(f"/workshops/{draft.id}/register", {}).status_code == 404
    assert count(Registration) == 0


def test_member_cancels_and_first_waitlisted_is_promoted(client, auth, make_user, make_workshop, register):
    """Cancelling a confirmed place frees it for the first person waiting, who is emailed."""
    workshop = make_workshop(capacity=1)
    first = make_user(email="first@example.org")
    second = make_user(email="second@example.org")
    register(workshop, first)
    register(workshop, second)
    auth.login("first@example.org")
    response = client.post_form(f"/workshops/{workshop.id}/cancel", {"confirm": "1"})
    assert response.status_code == 303
    assert "Your registration has been cancelled." in text(client.get(response.headers["Location"]))
    assert reg_of(workshop, first).state == RegistrationState.CANCELLED
    assert reg_of(workshop, second).state == RegistrationState.CONFIRMED
    assert count(OutboxEmail, OutboxEmail.to_address == "second@example.org",
                 OutboxEmail.subject.startswith("A place is now yours")) == 1


def test_cancel_htmx_and_cancel_when_not_registered(client, as_role, make_workshop):
    """htmx cancel returns the panel with the register button again; cancelling with no place is explained."""
    workshop = make_workshop()
    as_role("member")
    not_registered = text(client.post_form(f"/workshops/{workshop.id}/cancel", {}, headers=HX))
    assert "You are not registered for this workshop." in not_registered
    client.post_form(f"/workshops/{workshop.id}/register", {}, headers=HX)
    body = text(client.post_form(f"/workshops/{workshop.id}/cancel", {"confirm": "1"}, headers=HX))
    assert body.lstrip().startswith('<section id="registration"')
    assert "Your registration has been cancelled." in body and ">Register</button>" in body


# --- Calendar files -----------------------------------------------------------------------------

def test_public_ics_is_text_calendar_without_joining_link(client, make_workshop):
    """GET /workshops/<id>.ics: text/calendar, this workshop's UID and times, no joining link."""
    workshop = make_workshop("Hybrid in Leeds", fmt=WorkshopFormat.HYBRID)
    response = client.get(f"/workshops/{workshop.id}.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    cal = Calendar.from_ical(response.data)
    (event,) = [c for c in cal.walk() if c.name == "VEVENT"]
    assert str(event["UID"]) == f"workshop-{workshop.id}@keepitlocal.network"
    assert event.decoded("DTSTART") == workshop.starts_at
    assert JOIN_URL.encode() not in response.data


def test_my_workshops_page(client, as_role, make_workshop, make_user, register, organiser):
    """Upcoming (confirmed with a QR code, waitlisted with position) and past (attended or not)."""
    member = as_role("member")
    going = make_workshop("Going to Leeds", starts_at=(utcnow() + timedelta(days=20)).replace(second=0, microsecond=0))
    full = make_workshop("Full in York", capacity=1,
                         starts_at=(utcnow() + timedelta(days=10)).replace(second=0, microsecond=0))
    attended = make_workshop("Attended in Hull")
    missed = make_workshop("Missed in Bradford")
    register(full, make_user(email="quick@example.org"))
    register(going, member)
    register(full, member)
    services.check_in(organiser, register(attended, member))
    register(missed, member)
    db.session.commit()
    make_past(attended, days=20)
    make_past(missed, days=5)
    response = client.get("/account/workshops")
    body = text(response)
    assert response.status_code == 200
    assert "<svg" in body and 'class="qr"' in body
    assert "Number 1 on the waitlist" in body
    assert re.search(r"Attended in Hull</a>, [^:]+: attended", body)
    assert re.search(r"Missed in Bradford</a>, [^:]+: did not attend", body)
    assert body.index("Full in York") < body.index("Going to Leeds")  # soonest first


def test_my_workshops_needs_sign_in(client):
    """My workshops is for signed-in members."""
    response = client.get("/account/workshops")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_calendar_feed_token_create_use_and_reset(client, as_role, make_workshop, register):
    """Create a private feed address, use it, and after a reset the old address is 404."""
    member = as_role("member")
    workshop = make_workshop("Online session", fmt=WorkshopFormat.ONLINE, region=None)
    register(workshop, member)
    assert member.calendar_token is None
    response = client.post_form("/account/workshops/calendar", {}, token_from="/account/workshops")
    assert response.status_code == 303 and response.headers["Location"] == "/account/workshops"
    db.session.expire_all()
    token = db.session.get(User, member.id).calendar_token
    assert token and f"/calendar/{token}.ics" in text(client.get("/account/workshops"))
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    events = [c for c in Calendar.from_ical(feed.data).walk() if c.name == "VEVENT"]
    assert [str(e["SUMMARY"]) for e in events] == ["Online session"]
    assert JOIN_URL in str(events[0]["DESCRIPTION"])  # a private feed carries the joining link
    client.post_form("/account/workshops/calendar", {}, token_from="/account/workshops")
    db.session.expire_all()
    new_token = db.session.get(User, member.id).calendar_token
    assert new_token != token
    assert client.get(f"/calendar/{token}.ics").status_code == 404
    assert client.get(f"/calendar/{new_token}.ics").status_code == 200
    assert client.get("/calendar/short.ics").status_code == 404


def test_calendar_feed_gives_joining_link_only_for_confirmed_places(client, as_role, make_workshop, make_user,
                                                                     register):
    """The private feed lists waitlisted workshops too, but the joining link only where the place is confirmed."""
    member = as_role("member")
    going = make_workshop("Confirmed online", fmt=WorkshopFormat.ONLINE, region=None)
    full = make_workshop("Waiting online", fmt=WorkshopFormat.ONLINE, region=None, capacity=1,
                         online_url="https://meet.example.org/other-room")
    register(full, make_user(email="quick@example.org"))
    register(going, member)
    register(full, member)
    client.post_form("/account/workshops/calendar", {}, token_from="/account/workshops")
    db.session.expire_all()
    feed = client.get(f"/calendar/{db.session.get(User, member.id).calendar_token}.ics")
    events = {str(e["SUMMARY"]): e for e in Calendar.from_ical(feed.data).walk() if e.name == "VEVENT"}
    assert set(events) == {"Confirmed online", "Waiting online"}
    assert JOIN_URL in str(events["Confirmed online"]["DESCRIPTION"])
    assert b"other-room" not in feed.data


# --- Staff: dashboard and scheduling ------------------------------------------------------------

def test_dashboard_shows_seats_waitlist_attendance_and_regions(client, as_role, make_workshop, make_user,
                                                               register, organiser):
    """Upcoming with seats and waitlist, past with attendance and no-show rate, totals by region."""
    upcoming = make_workshop("Upcoming in Leeds", capacity=1)
    draft = make_workshop("Draft in Hull", publish=False)
    past = make_workshop("Past in York")
    register(upcoming, make_user(email="a@example.org"))
    register(upcoming, make_user(email="b@example.org"))
    regs = [register(past, make_user(email=f"p{i}@example.org")) for i in range(4)]
    services.check_in(organiser, regs[0])
    db.session.commit()
    make_past(past)
    as_role("staff")
    body = text(client.get("/staff/workshops/"))
    assert "Upcoming in Leeds" in body and draft.title in body
    cell = r'\s*<td data-label="[^"]+">'  # each cell names its column (stacked cards on a phone)
    assert re.search(rf"Upcoming in Leeds</a></td>{cell}Yorkshire and The Humber</td>{cell}.*?Published.*?</td>"
                     rf"{cell}1 of 1</td>{cell}1</td>", body, re.S)
    assert re.search(rf"Past in York</a></td>{cell}Yorkshire and The Humber</td>{cell}4</td>{cell}1</td>{cell}75%</td>",
                     body, re.S)
    assert re.search(r"<td>Yorkshire and The Humber</td><td>3</td><td>5</td><td>1</td>", body)


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_creates_a_workshop_with_govuk_date_fields(client, as_role, role):
    """A valid form creates a draft; London wall-clock times are stored in UTC; the action is audited."""
    staff = as_role(role)
    assert client.get("/staff/workshops/new").status_code == 200
    response = client.post_form("/staff/workshops/new", form_data(), token_from="/staff/workshops/new")
    assert response.status_code == 303
    workshop = db.session.scalar(sa.select(Workshop))
    assert response.headers["Location"] == f"/staff/workshops/{workshop.id}"
    assert workshop.status == WorkshopStatus.DRAFT and workshop.title == "Commissioning locally in Bristol"
    assert workshop.starts_at == SUMMER_START and workshop.starts_at.hour == 17  # 18:30 BST is 17:30 UTC
    assert workshop.ends_at == london_to_utc(datetime(NEXT_YEAR, 7, 15, 21, 0))
    assert workshop.registration_closes_at == london_to_utc(datetime(NEXT_YEAR, 7, 14, 12, 0))
    assert workshop.postcode == "BS1 4RN" and workshop.capacity == 30 and workshop.region.name == "South West"
    assert workshop.mix_max_percent is None and workshop.accessibility_info == "Lift to all floors."
    assert count(AuditLog, AuditLog.action == "workshop.create", AuditLog.actor_id == staff.id) == 1
    assert "saved as a draft" in text(client.get(response.headers["Location"]))


@pytest.mark.parametrize("overrides, field, message", [
    ({"ends_at-time": "17:00"}, "ends_at", "End must be after the start"),
    ({"registration_closes_at-day": "15", "registration_closes_at-time": "19:00"},
     "registration_closes_at", "Registration must close before the workshop starts"),
    ({"postcode": "NOT A CODE"}, "postcode", "Enter a real postcode, like SW1A 1AA"),
    ({"format": "online", "online_url": "ftp://files.example.org/room"}, "online_url",
     "Enter a joining link that starts with https:// or http://"),
    ({"format": "hybrid", "online_url": "javascript:alert(1)"}, "online_url",
     "Enter a joining link that starts with https:// or http://"),
    ({"venue": ""}, "venue", "Enter the venue name"),
    ({"format": "online", "online_url": ""}, "online_url", "Enter the joining link"),
    ({"starts_at-day": "31", "starts_at-month": "2"}, "starts_at", "Start must be a real date"),
    ({"capacity": "0"}, "capacity", "Capacity must be between 1 and 5,000"),
    ({"title": ""}, "title", "Enter a title"),
])
def test_create_validation_errors(client, as_role, overrides, field, message):
    """Each invalid form is shown again with the message in the summary and beside the field; nothing saved."""
    as_role("staff")
    response = client.post_form("/staff/workshops/new", form_data(**overrides), token_from="/staff/workshops/new")
    body = text(response)
    assert response.status_code == 200
    assert "There is a problem" in body
    assert f'<a href="#{field}">{message}</a>' in body
    assert re.search(rf'id="{field}-error"><span class="visually-hidden">Error:</span> {re.escape(message)}', body)
    assert count(Workshop) == 0


def test_workshop_form_offers_the_rounds_principles_provides(client, as_role):
    """The round select lists the principles rounds (handed to workshops by the factory, which
    sits above both), saves the one chosen, and refuses an id that is not listed."""
    staff = as_role("staff")
    round_ = principle_services.create_round(staff, name="Round for Bristol")
    db.session.commit()
    assert f'<option value="{round_.id}">Round for Bristol</option>' in text(client.get("/staff/workshops/new"))
    refused = client.post_form("/staff/workshops/new", form_data(round=str(round_.id + 1000)),
                               token_from="/staff/workshops/new")
    assert refused.status_code == 200 and "Select a round from the list" in text(refused)
    response = client.post_form("/staff/workshops/new", form_data(round=str(round_.id)),
                                token_from="/staff/workshops/new")
    assert response.status_code == 303
    assert db.session.scalar(sa.select(Workshop)).round_id == round_.id


def test_create_form_shows_every_scheduling_problem_at_once(client, as_role):
    """The form shows all the problems the service's scheduling rules find, not one per post."""
    as_role("staff")
    response = client.post_form("/staff/workshops/new", form_data(venue="", address="", postcode="",
                                                                  **{"ends_at-time": "17:00"}),
                                token_from="/staff/workshops/new")
    body = text(response)
    assert response.status_code == 200
    for field, message in [("venue", "Enter the venue name"), ("address", "Enter the venue address"),
                           ("postcode", "Enter the venue postcode"), ("ends_at", "End must be after the start")]:
        assert f'<a href="#{field}">{message}</a>' in body
    assert count(Workshop) == 0


def test_online_workshop_needs_no_venue(client, as_role):
    """An online workshop is valid without a venue, address or postcode."""
    as_role("staff")
    data = form_data(format="online", venue="", address="", postcode="", online_url=JOIN_URL, region="")
    response = client.post_form("/staff/workshops/new", data, token_from="/staff/workshops/new")
    assert response.status_code == 303
    workshop = db.session.scalar(sa.select(Workshop))
    assert workshop.format == WorkshopFormat.ONLINE and workshop.online_url == JOIN_URL and workshop.region is None


def test_create_invalid_htmx_returns_422_form_partial(client, as_role):
    """An invalid htmx post gets the form partial (no layout) with status 422."""
    as_role("staff")
    response = client.post_form("/staff/workshops/new", form_data(**{"ends_at-time": "08:00"}),
                                token_from="/staff/workshops/new", headers=HX)
    body = text(response)
    assert response.status_code == 422
    assert body.lstrip().startswith('<form method="post" action="/staff/workshops/new"') and "<html" not in body
    assert "End must be after the start" in body
    assert count(Workshop) == 0


def test_edit_form_is_prefilled_in_london_time(client, as_role, make_workshop):
    """The edit form shows the stored UTC times as London wall-clock parts."""
    workshop = make_workshop("Bristol", starts_at=SUMMER_START, region="South West")
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}/edit"))
    assert 'name="starts_at-day" type="text" inputmode="numeric" value="15"' in body
    assert 'name="starts_at-time" type="text" inputmode="numeric" value="18:30"' in body
    assert 'name="ends_at-time" type="text" inputmode="numeric" value="20:30"' in body
    assert 'value="Bristol"' in body


def test_edit_time_change_emails_registered(client, as_role, make_workshop, make_user, register):
    """Saving a new time tells staff how many people were emailed, and emails them."""
    workshop = make_workshop("Bristol", starts_at=SUMMER_START, region="South West")
    register(workshop, make_user(email="going@example.org"))
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/edit"
    response = client.post_form(url, form_data(title="Bristol", **{"starts_at-time": "18:00"}), token_from=url)
    assert response.status_code == 303
    assert "1 people were emailed the new details." in text(client.get(response.headers["Location"]))
    db.session.expire_all()
    saved = db.session.get(Workshop, workshop.id)
    assert saved.starts_at == london_to_utc(datetime(NEXT_YEAR, 7, 15, 18, 0)) and saved.sequence == 1
    assert count(OutboxEmail, OutboxEmail.to_address == "going@example.org",
                 OutboxEmail.subject.startswith("Workshop changed")) == 1


def test_edit_capacity_below_confirmed_explains_and_drops_nobody(client, as_role, make_workshop, make_user, register):
    """Capacity below the confirmed count is refused beside the field with the explanation; nobody dropped."""
    workshop = make_workshop("Bristol", starts_at=SUMMER_START, region="South West", capacity=3)
    for i in range(3):
        register(workshop, make_user(email=f"p{i}@example.org"))
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/edit"
    response = client.post_form(url, form_data(title="Bristol", capacity="2"), token_from=url)
    body = text(response)
    assert response.status_code == 200
    assert "3 people already have a confirmed seat. Capacity cannot be less than 3" in body
    assert 'id="capacity-error"' in body
    db.session.expire_all()
    assert db.session.get(Workshop, workshop.id).capacity == 3
    assert count(Registration, Registration.state == RegistrationState.CONFIRMED) == 3
    htmx = client.post_form(url, form_data(title="Bristol", capacity="2"), token_from=url, headers=HX)
    assert htmx.status_code == 422 and "<html" not in htmx.get_data(as_text=True)


def test_edit_raising_capacity_promotes_and_says_so(client, as_role, make_workshop, make_user, register):
    """More seats promote from the waitlist; the confirmation says how many got a place."""
    workshop = make_workshop("Bristol", starts_at=SUMMER_START, region="South West", capacity=1)
    for i in range(3):
        register(workshop, make_user(email=f"p{i}@example.org"))
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/edit"
    response = client.post_form(url, form_data(title="Bristol", capacity="2"), token_from=url)
    assert "1 people were given a place from the waitlist." in text(client.get(response.headers["Location"]))
    assert count(Registration, Registration.state == RegistrationState.CONFIRMED) == 2


def test_publish_then_visible_to_members(client, as_role, make_workshop):
    """Publishing a draft makes it public and open; publishing twice changes nothing and says so."""
    draft = make_workshop("Draft in Hull", publish=False)
    staff = as_role("staff")
    response = client.post_form(f"/staff/workshops/{draft.id}/publish", {}, token_from=f"/staff/workshops/{draft.id}")
    assert response.status_code == 303 and response.headers["Location"] == f"/staff/workshops/{draft.id}"
    db.session.expire_all()
    assert db.session.get(Workshop, draft.id).status == WorkshopStatus.PUBLISHED
    assert count(AuditLog, AuditLog.action == "workshop.publish", AuditLog.actor_id == staff.id) == 1
    again = client.post_form(f"/staff/workshops/{draft.id}/publish", {}, token_from=f"/staff/workshops/{draft.id}")
    assert "The workshop was already published." in text(client.get(again.headers["Location"]))
    assert count(AuditLog, AuditLog.action == "workshop.publish", AuditLog.actor_id == staff.id) == 1
    client.post_form("/auth/logout", {})
    assert "Draft in Hull" in text(client.get("/workshops/"))


def test_cancel_workshop_form_and_reason(client, as_role, make_workshop, make_user, register):
    """GET shows the form; POST without a reason is refused; with one, cancels and emails everyone."""
    workshop = make_workshop("Leeds", capacity=1)
    register(workshop, make_user(email="going@example.org"))
    register(workshop, make_user(email="waiting@example.org"))
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/cancel"
    page = client.get(url)
    assert page.status_code == 200 and 'name="reason"' in page.get_data(as_text=True)
    refused = client.post_form(url, {"reason": "  "}, token_from=url)
    assert refused.status_code == 200 and "Enter the reason for cancelling, so attendees know why" in text(refused)
    db.session.expire_all()
    assert db.session.get(Workshop, workshop.id).status == WorkshopStatus.PUBLISHED
    response = client.post_form(url, {"reason": "The venue has flooded.", "confirm": "1"}, token_from=url)
    assert response.status_code == 303
    assert "The workshop is cancelled. 2 people were emailed." in text(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(Workshop, workshop.id).status == WorkshopStatus.CANCELLED
    mails = list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.subject.startswith("Workshop cancelled"))))
    assert {m.to_address for m in mails} == {"going@example.org", "waiting@example.org"}
    assert all("The venue has flooded." in m.body_text for m in mails)
    public = text(client.get(f"/workshops/{workshop.id}"))
    assert "This workshop has been cancelled." in public and "The venue has flooded." in public
    edit = client.get(f"/staff/workshops/{workshop.id}/edit")
    assert edit.status_code == 303


# --- Staff: check-in on the day -----------------------------------------------------------------

@pytest.fixture
def checkin(make_workshop, make_user, register):
    """A workshop with two confirmed members, one waitlisted and one who cancelled."""
    workshop = make_workshop("Check-in test", capacity=2)
    people = {
        "amara": make_user(email="amara@example.org", name="Amara Okafor", organisation="Hackney Food Hub"),
        "ben": make_user(email="ben@example.org", name="Ben Hughes", organisation="Leeds Trust"),
        "cara": make_user(email="cara@example.org", name="Cara Cole", organisation="Cardiff Circle"),
        "dan": make_user(email="dan@example.org", name="Dan Gone", organisation="Gone Org"),
    }
    regs = {name: register(workshop, user, access_needs="Quiet room" if name == "amara" else "")
            for name, user in people.items()}
    services.cancel_registration(regs["dan"], people["dan"])
    db.session.commit()
    return workshop, people, regs


def test_attendance_page_lists_and_searches(client, as_role, checkin):
    """The check-in page lists confirmed and waitlisted people (not cancelled); `q` filters."""
    workshop, _, _ = checkin
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}/attendance"))
    assert "Amara Okafor" in body and "Ben Hughes" in body and "Cara Cole" in body and "Dan Gone" not in body
    assert "0 attended /" in re.sub(r"<[^>]+>", "", body) and "Hackney Food Hub" in body
    found = text(client.get(f"/staff/workshops/{workshop.id}/attendance?q=okaf"))
    assert "Amara Okafor" in found and "Ben Hughes" not in found
    nobody = text(client.get(f"/staff/workshops/{workshop.id}/attendance?q=zzz"))
    assert "Nobody matches “zzz”." in nobody


def test_attendance_search_htmx_returns_the_list(client, as_role, checkin):
    """The htmx search returns only `<ul id="checkin-rows">` with the matching people's cards."""
    workshop, _, _ = checkin
    as_role("staff")
    response = client.get(f"/staff/workshops/{workshop.id}/attendance?q=ben", headers=HX)
    body = response.get_data(as_text=True).strip()
    assert response.status_code == 200
    assert body.startswith('<ul id="checkin-rows" class="checkin-list">') and body.endswith("</ul>")
    assert "<html" not in body
    assert "Ben Hughes" in body and "Amara Okafor" not in body


def test_toggle_check_in_without_js_redirects_back(client, as_role, checkin):
    """A plain POST checks the person in and returns to the check-in page; again changes nothing;
    the undo route undoes it."""
    workshop, people, regs = checkin
    staff = as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{regs['amara'].id}"
    response = client.post_form(url, {}, token_from=f"/staff/workshops/{workshop.id}/attendance")
    assert response.status_code == 303 and response.headers["Location"] == f"/staff/workshops/{workshop.id}/attendance"
    assert "Amara Okafor checked in." in text(client.get(response.headers["Location"]))
    reg = reg_of(workshop, people["amara"])
    assert reg.attended and reg.checked_in_by_id == staff.id
    client.post_form(url, {"back": "registration"}, token_from=f"/staff/workshops/{workshop.id}/attendance")
    assert reg_of(workshop, people["amara"]).attended
    client.post_form(url + "/undo", {"back": "registration"}, token_from=f"/staff/workshops/{workshop.id}/attendance")
    assert not reg_of(workshop, people["amara"]).attended


def test_toggle_check_in_htmx_returns_row_and_trigger(client, as_role, checkin):
    """The htmx check-in returns the person's card and an `HX-Trigger: attendance-changed` header."""
    workshop, people, regs = checkin
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{regs['ben'].id}"
    response = client.post_form(url, {}, token_from=f"/staff/workshops/{workshop.id}/attendance", headers=HX)
    body = text(response).strip()
    assert response.status_code == 200
    assert body.startswith(f'<li class="checkin-card checkin-card--in" data-registration-id="{regs["ben"].id}"')
    assert "<html" not in body and 'data-checked-in="1"' in body
    assert "Checked in" in body and "Undo check-in" in body and "Checked in by staff at " in body
    assert response.headers["HX-Trigger"] == "attendance-changed"
    count_body = re.sub(r"\s+", " ",
                        re.sub(r"<[^>]+>", "", text(client.get(f"/staff/workshops/{workshop.id}/attendance/count"))))
    assert "1 attended / 2 registered" in count_body
    undone = text(client.post_form(url + "/undo", {}, token_from=f"/staff/workshops/{workshop.id}/attendance",
                                   headers=HX))
    assert "Not checked in yet" in undone and "data-checked-in" not in undone
    assert not reg_of(workshop, people["ben"]).attended


def test_checking_in_waitlisted_person_gives_them_a_place(client, as_role, checkin):
    """Checking in someone from the waitlist asks first; confirming gives them a place: 1 / 3."""
    workshop, people, regs = checkin
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/attendance/{regs['cara'].id}"
    asked = client.post_form(url, {}, token_from=f"/staff/workshops/{workshop.id}/attendance", headers=HX)
    assert "On the waitlist — Confirm a place and check in?" in text(asked) and "HX-Trigger" not in asked.headers
    assert reg_of(workshop, people["cara"]).state == RegistrationState.WAITLISTED
    client.post_form(url, {"confirm": "1"}, token_from=f"/staff/workshops/{workshop.id}/attendance", headers=HX)
    assert reg_of(workshop, people["cara"]).state == RegistrationState.CONFIRMED
    body = re.sub(r"\s+", " ",
                  re.sub(r"<[^>]+>", "", text(client.get(f"/staff/workshops/{workshop.id}/attendance/count"))))
    assert "1 attended / 3 registered" in body


def test_toggle_cancelled_registration_is_refused(client, as_role, checkin):
    """A cancelled registration cannot be checked in; the page explains."""
    workshop, people, regs = checkin
    as_role("staff")
    response = client.post_form(f"/staff/workshops/{workshop.id}/attendance/{regs['dan'].id}", {},
                                token_from=f"/staff/workshops/{workshop.id}/attendance")
    page = text(client.get(response.headers["Location"]))
    assert "This registration was cancelled. Add the person as a walk-in instead." in page
    assert not reg_of(workshop, people["dan"]).attended


def test_registration_page_where_the_qr_code_leads(client, as_role, checkin, make_workshop):
    """The per-registration page shows the person, access needs and history; another workshop's id is 404."""
    workshop, _, regs = checkin
    other = make_workshop("Other")
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}/attendance/{regs['amara'].id}"))
    assert "Amara Okafor" in body and "Quiet room" in body and "registered" in body
    assert client.get(f"/staff/workshops/{other.id}/attendance/{regs['amara'].id}").status_code == 404
    assert client.get(f"/staff/workshops/{workshop.id}/attendance/999999").status_code == 404


def test_walk_in_existing_member_and_new_guest(client, as_role, checkin, make_user):
    """A member's email links the walk-in to them; a new email adds a guest and emails an invitation."""
    workshop, _, _ = checkin
    member = make_user(email="eve@example.org", name="Eve Evans")
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/walk-in"
    token_from = f"/staff/workshops/{workshop.id}/attendance"
    response = client.post_form(url, {"email": "EVE@example.org", "name": "", "member_type": ""}, token_from=token_from)
    assert response.status_code == 303
    assert "Eve Evans added and checked in." in text(client.get(response.headers["Location"]))
    reg = reg_of(workshop, member)
    assert reg.walk_in and reg.attended and reg.state == RegistrationState.CONFIRMED
    response = client.post_form(url, {"email": "guest@example.org", "name": "Gita Guest", "member_type": "councillor"},
                                token_from=token_from)
    assert "We have emailed them an invitation to join the Network." in text(client.get(response.headers["Location"]))
    guest = db.session.scalar(sa.select(Registration).where(Registration.guest_email == "guest@example.org"))
    assert guest.user_id is None and guest.guest_name == "Gita Guest" and guest.member_type == MemberType.COUNCILLOR
    assert count(OutboxEmail, OutboxEmail.to_address == "guest@example.org") == 1


@pytest.mark.parametrize("data, message", [
    ({"email": "not-an-email", "name": "X", "member_type": "other"}, "Enter an email address in the correct format"),
    ({"email": "new@example.org", "name": "", "member_type": ""},
     "Enter the walk-in's name, email address and member type"),
    ({"email": "new@example.org", "name": "New", "member_type": "wizard"}, "Select a member type from the list"),
])
def test_walk_in_validation(client, as_role, checkin, data, message):
    """Invalid walk-ins are shown again with the message; nothing is added."""
    workshop, _, _ = checkin
    as_role("staff")
    before = count(Registration)
    response = client.post_form(f"/staff/workshops/{workshop.id}/walk-in", data,
                                token_from=f"/staff/workshops/{workshop.id}/attendance")
    assert response.status_code == 200 and message in text(response)
    assert count(Registration) == before


def test_sign_in_sheet_lists_confirmed_only(client, as_role, checkin):
    """The printable sheet lists confirmed people with their organisation; not the waitlist."""
    workshop, _, _ = checkin
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}/sheet"))
    assert "Sign-in sheet: Check-in test" in body and "2 registered" in body
    assert "Amara Okafor" in body and "Hackney Food Hub" in body and "Ben Hughes" in body
    assert "Cara Cole" not in body and "Dan Gone" not in body


def test_attendance_csv(client, as_role, checkin, organiser):
    """The CSV has a header and a row per registration, with state and attendance."""
    workshop, _, regs = checkin
    services.check_in(organiser, regs["amara"])
    db.session.commit()
    as_role("staff")
    response = client.get(f"/staff/workshops/{workshop.id}/attendance.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"workshop-{workshop.id}-" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0]) == ["registration_id", "name", "email", "member_type", "state", "walk_in",
                             "registered_at", "attended", "checked_in_at", "access_needs"]
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"Amara Okafor", "Ben Hughes", "Cara Cole", "Dan Gone"}
    assert by_name["Amara Okafor"]["attended"] == "yes" and by_name["Amara Okafor"]["checked_in_at"]
    assert by_name["Amara Okafor"]["access_needs"] == "Quiet room"
    assert by_name["Ben Hughes"]["attended"] == "no"
    assert by_name["Cara Cole"]["state"] == "waitlisted" and by_name["Dan Gone"]["state"] == "cancelled"


def test_staff_show_page_lists_access_needs(client, as_role, checkin):
    """Staff see each registration's access needs on the workshop's staff page."""
    workshop, _, _ = checkin
    as_role("staff")
    body = text(client.get(f"/staff/workshops/{workshop.id}"))
    assert "Quiet room" in body and "2 booked of 2 · 1 on the waitlist" in body


# --- Staff routes refuse everyone else ----------------------------------------------------------

STAFF_ROUTES = [
    ("get", "/staff/workshops/"), ("get", "/staff/workshops/new"), ("post", "/staff/workshops/new"),
    ("get", "/staff/workshops/{w}"), ("get", "/staff/workshops/{w}/edit"), ("post", "/staff/workshops/{w}/edit"),
    ("post", "/staff/workshops/{w}/publish"), ("get", "/staff/workshops/{w}/cancel"),
    ("post", "/staff/workshops/{w}/cancel"), ("get", "/staff/workshops/{w}/attendance"),
    ("get", "/staff/workshops/{w}/attendance/count"), ("get", "/staff/workshops/{w}/attendance/{r}"),
    ("post", "/staff/workshops/{w}/attendance/{r}"), ("post", "/staff/workshops/{w}/walk-in"),
    ("get", "/staff/workshops/{w}/sheet"), ("get", "/staff/workshops/{w}/attendance.csv"),
]


@pytest.mark.parametrize("role, expected", [("anonymous", 302), ("unconfirmed", 403), ("member", 403)])
def test_staff_routes_refuse_non_staff(client, as_role, make_workshop, make_user, register, role, expected):
    """Every staff route is 403 for members (sign-in for anonymous), and their POSTs change nothing."""
    draft = make_workshop("Draft", publish=False)
    workshop = make_workshop("Published")
    reg = register(workshop, make_user(email="going@example.org"))
    as_role(role)
    for method, pattern in STAFF_ROUTES:
        url = pattern.format(w=draft.id if "publish" in pattern else workshop.id, r=reg.id)
        if method == "get":
            response = client.get(url)
        else:
            response = client.post_form(url, {**form_data(), "reason": "Because", "email": "x@example.org",
                                              "name": "X", "member_type": "other"})
        assert response.status_code == expected, (method, url)
        if expected == 302:
            assert response.headers["Location"].startswith("/auth/login"), url
    db.session.expire_all()
    assert db.session.get(Workshop, draft.id).status == WorkshopStatus.DRAFT
    assert db.session.get(Workshop, workshop.id).status == WorkshopStatus.PUBLISHED
    assert count(Workshop) == 2 and count(Registration) == 1
    assert not db.session.get(Registration, reg.id).attended


# --- No N+1: the number of queries does not grow with the data ----------------------------------

def test_query_count_does_not_grow_with_data(client, as_role, make_workshop, make_user, organiser):
    """The list, the staff dashboard and the check-in page issue as many queries for 4N rows as for N."""
    as_role("staff")
    target = make_workshop("Target", capacity=100)
    made = {"workshops": 0, "people": 0}

    def add(n):
        """n more upcoming and past workshops (with registrations) and n more people at the target."""
        for _ in range(n):
            made["workshops"] += 1
            i = made["workshops"]
            upcoming = make_workshop(f"Upcoming {i}", region="Wales" if i % 2 else "London", capacity=1)
            past = make_workshop(f"Past {i}")
            for ws in (upcoming, past, upcoming):
                made["people"] += 1
                person = make_user(email=f"q{made['people']}@example.org", organisation=f"Org {made['people']}")
                reg = services.register(ws, person)
                if ws is past:
                    services.check_in(organiser, reg)
            make_past(past)
            made["people"] += 1
            person = make_user(email=f"q{made['people']}@example.org", organisation=f"Org {made['people']}")
            services.check_in(organiser, services.register(target, person))
        db.session.commit()

    urls = ["/workshops/", "/workshops/?when=past", "/staff/workshops/",
            f"/staff/workshops/{target.id}/attendance", f"/staff/workshops/{target.id}",
            "/account/workshops", f"/staff/workshops/{target.id}/attendance.csv", f"/staff/workshops/{target.id}/sheet"]
    add(2)
    small = {url: queries_for(client, url) for url in urls}
    add(6)
    large = {url: queries_for(client, url) for url in urls}
    assert count(Workshop) == 17 and count(Registration, Registration.workshop_id == target.id) == 8
    assert large == small
