"""The registration panel after a member's own register or cancel is rendered from what the write
counted and wrote (`services.PlaceChange`), not read again: it must say what a fresh read says,
through confirming, filling up, a cancel that promotes the waitlist, booking again onto the
waitlist, leaving it, and a second cancel that changes nothing."""
import re
from datetime import timedelta

import sqlalchemy as sa

from kil_network.core.email import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.workshops import services
from kil_network.workshops.models import Registration, RegistrationState, WorkshopFormat

HX = {"HX-Request": "true"}


def panel_facts(html: str) -> list[str]:
    """What the panel tells the member: the seats lines, their place, and the button it offers."""
    section = re.search(r'<section id="registration".*?</section>', html, re.S)
    assert section, html[:500]
    body = section.group(0)
    facts = re.findall(r'<p class="seats[^"]*">(.*?)</p>', body, re.S)
    facts += re.findall(r"(You have a place at this workshop\.|You are number \d+ on the waitlist\.)", body)
    facts += re.findall(r'<button type="submit" class="button[^"]*">(.*?)</button>', body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", fact).split()) for fact in facts]


def state_of(workshop_id: int, user_id: int) -> RegistrationState:
    """The registration's state as committed."""
    db.session.expire_all()
    return db.session.scalar(sa.select(Registration.state).where(
        Registration.workshop_id == workshop_id, Registration.user_id == user_id))


def emails_to(address: str) -> list[str]:
    """Subjects of the emails queued to an address, oldest first."""
    return list(db.session.scalars(sa.select(OutboxEmail.subject).where(OutboxEmail.to_address == address)
                                   .order_by(OutboxEmail.id)))


def test_panel_after_each_write_says_what_a_fresh_read_says(client, as_role, make_user):
    staff = make_user(email="organiser@example.org", role="staff")
    starts = (utcnow() + timedelta(days=10)).replace(second=0, microsecond=0)
    workshop = services.create_workshop(staff, {
        "title": "Two seats in Leeds", "description": "Busy.", "region": None, "format": WorkshopFormat.IN_PERSON,
        "venue": "Civic Hall", "address": "Calverley Street", "postcode": "LS1 1UR", "online_url": "",
        "starts_at": starts, "ends_at": starts + timedelta(hours=2),
        "registration_closes_at": starts - timedelta(days=1), "capacity": 2, "accessibility_info": "",
        "mix_max_percent": None})
    services.publish_workshop(staff, workshop)
    db.session.commit()
    first, waiting = make_user(email="first@example.org"), make_user(email="waiting@example.org")
    me = as_role("member")
    url = f"/workshops/{workshop.id}"

    def write(action: str, data: dict, message: str) -> list[str]:
        response = client.post_form(f"{url}/{action}", data, headers=HX)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert message in html
        facts = panel_facts(html)
        assert facts == panel_facts(client.get(url).get_data(as_text=True))
        return facts

    assert write("register", {"access_needs": ""}, "Your place is confirmed.") == [
        "1 of 2 places left.", "You have a place at this workshop.", "Cancel my place"]
    services.register(workshop, first)
    services.register(workshop, waiting)  # the workshop is full: the waitlist
    db.session.commit()
    assert state_of(workshop.id, waiting.id) == RegistrationState.WAITLISTED

    # My cancel frees a seat, and the waitlist moves up into it.
    assert write("cancel", {"confirm": "1"}, "Your registration has been cancelled.") == [
        "All 2 places are taken. You can join the waitlist.", "Join the waitlist"]
    assert state_of(workshop.id, waiting.id) == RegistrationState.CONFIRMED
    assert emails_to("waiting@example.org")[-1] == "A place is now yours: Two seats in Leeds"

    # Booking again (the same row) puts me on the waitlist, number 1.
    assert write("register", {"access_needs": "Step-free"}, "You are number 1 on the waitlist") == [
        "All 2 places are taken; 1 on the waitlist.", "You are number 1 on the waitlist.", "Leave the waitlist"]
    assert state_of(workshop.id, me.id) == RegistrationState.WAITLISTED

    assert write("cancel", {"confirm": "1"}, "Your registration has been cancelled.") == [
        "All 2 places are taken. You can join the waitlist.", "Join the waitlist"]
    sent = emails_to("member@example.org")
    assert write("cancel", {"confirm": "1"}, "Your registration has been cancelled.") == [
        "All 2 places are taken. You can join the waitlist.", "Join the waitlist"]
    assert emails_to("member@example.org") == sent  # a second cancel changes nothing and emails nobody
    assert sent == ["Your place is confirmed: Two seats in Leeds", "Registration cancelled: Two seats in Leeds",
                    "You are on the waitlist: Two seats in Leeds", "Registration cancelled: Two seats in Leeds"]
    history = db.session.scalar(sa.select(sa.func.count()).select_from(Registration).where(
        Registration.workshop_id == workshop.id))
    assert history == 3  # one row per person: booking again moved my row


def test_cancel_when_never_registered_changes_nothing(client, as_role, make_user):
    staff = make_user(email="organiser@example.org", role="staff")
    starts = (utcnow() + timedelta(days=10)).replace(second=0, microsecond=0)
    workshop = services.create_workshop(staff, {
        "title": "Quiet workshop", "description": "Calm.", "region": None, "format": WorkshopFormat.ONLINE,
        "venue": "", "address": "", "postcode": "", "online_url": "https://meet.example.org/kil",
        "starts_at": starts, "ends_at": starts + timedelta(hours=2),
        "registration_closes_at": starts - timedelta(days=1), "capacity": 5, "accessibility_info": "",
        "mix_max_percent": None})
    services.publish_workshop(staff, workshop)
    db.session.commit()
    version = workshop.seat_version
    as_role("member")
    response = client.post_form(f"/workshops/{workshop.id}/cancel", {"confirm": "1"}, headers=HX)
    assert response.status_code == 200
    assert "You are not registered for this workshop." in response.get_data(as_text=True)
    db.session.expire_all()
    assert workshop.seat_version == version  # the seat lock taken to look was rolled back
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Registration)) == 0
