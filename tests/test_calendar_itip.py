"""Calendar files follow iTIP (RFC 5546): every .ics the app sends parses in icalendar and in an
independent parser (ical), and a model of a calendar client's iTIP processing shows that a member's
calendar ends up right: a REQUEST adds the event, a changed REQUEST (same UID, higher SEQUENCE)
replaces it, an older one is ignored, a CANCEL removes it. The waitlist is never shown as confirmed."""
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from kil_network.core.models import OutboxEmail
from kil_network.extensions import db
from kil_network.workshops import services
from kil_network.workshops.calendar import workshop_uid
from tests.support.emails import deliver_every_kind, make_workshop
from tests.support.mail import email_text


def calendar_parts(message) -> list:
    """The text/calendar attachments of a received email."""
    return [part for part in message.walk() if part.get_content_type() == "text/calendar"]


def parse_both(data: bytes):
    """Parse an .ics with icalendar and with ical (which validates each property's type); both must
    agree on the method, the UID, the SEQUENCE and the STATUS. Returns the icalendar Calendar."""
    cal = Calendar.from_ical(data)
    other = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    [event] = cal.walk("VEVENT")
    [other_event] = other.events
    assert (str(cal.get("METHOD", "")) or None) == (other.method or None)
    assert str(event["UID"]) == other_event.uid
    assert int(event.get("SEQUENCE", 0)) == (other_event.sequence or 0)
    assert str(event["STATUS"]) == other_event.status.value
    assert event.decoded("DTSTART") == other_event.dtstart
    assert b"\r\n" in data and all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded, CRLF
    return cal


@dataclass
class Stored:
    """An event in the model calendar."""

    sequence: int
    dtstart: object
    status: str


class CalendarClient:
    """What a calendar client does with iTIP messages (RFC 5546 sections 2.1.4, 2.1.5, 3.2): events
    are kept by UID; a REQUEST or CANCEL counts only if its SEQUENCE is not lower than the one held
    (and, for a REQUEST at the same SEQUENCE, it is a re-send that changes nothing)."""

    def __init__(self):
        self.events: dict[str, Stored] = {}
        self.ignored = 0

    def receive(self, data: bytes) -> None:
        """Process one iTIP message."""
        cal = parse_both(data)
        method = str(cal["METHOD"])
        [event] = cal.walk("VEVENT")
        uid, sequence = str(event["UID"]), int(event["SEQUENCE"])
        held = self.events.get(uid)
        if held is not None and sequence < held.sequence:
            self.ignored += 1
            return
        if method == "REQUEST":
            assert event["ORGANIZER"] and event["ATTENDEE"]
            self.events[uid] = Stored(sequence, event.decoded("DTSTART"), str(event["STATUS"]))
        elif method == "CANCEL":
            assert str(event["STATUS"]) == "CANCELLED"
            self.events.pop(uid, None)
        else:
            raise AssertionError(f"unexpected METHOD {method}")


def test_every_calendar_file_parses_and_names_its_method(make_user, mail, app):
    """Each attached .ics: text/calendar with method= the METHOD inside and charset=UTF-8; parsed by
    both parsers; ORGANIZER is the campaign and ATTENDEE the member (REQ-PARTICIPANT, PARTSTAT)."""
    delivered = deliver_every_kind(make_user, mail)
    expected = {"confirmed": "REQUEST", "promoted": "REQUEST", "reminder": "REQUEST", "changed": "REQUEST",
                "registration_cancelled": "CANCEL", "cancelled": "CANCEL"}
    for kind, method in expected.items():
        [part] = calendar_parts(delivered[kind])
        assert part.get_param("method") == method and part.get_param("charset").upper() == "UTF-8", kind
        cal = parse_both(part.get_payload(decode=True))
        assert str(cal["METHOD"]) == method
        [event] = cal.walk("VEVENT")
        assert str(event["ORGANIZER"]) == f"mailto:{app.config['CONTACT_EMAIL']}"
        attendee = event["ATTENDEE"]
        assert str(attendee) == f"mailto:{delivered[kind].envelope_to[0]}"
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == ("DECLINED" if kind == "registration_cancelled" else "ACCEPTED")
    for kind in ("waitlisted", "changed_waitlisted", "sign_in_code", "reset_password", "evidence_received"):
        assert calendar_parts(delivered[kind]) == [], kind


def test_the_waitlist_is_never_told_it_is_confirmed(make_user, mail):
    """A waitlisted member's emails carry no calendar entry, and the 'changed' one says they are still waiting."""
    delivered = deliver_every_kind(make_user, mail)
    text = email_text(delivered["changed_waitlisted"])
    assert "on the waitlist" in text and "You do not have a place yet" in text
    assert "registered for" not in text.split("-- ")[0] and "calendar" not in text
    assert calendar_parts(delivered["waitlisted"]) == []


def _ics(message) -> bytes:
    [part] = calendar_parts(message)
    return part.get_payload(decode=True)


def test_a_calendar_client_follows_the_changes(make_user, mail):
    """REQUEST, then the changed REQUEST replaces it (same UID, higher SEQUENCE); an old one replayed
    is ignored; the member's own cancellation removes it; booking again adds it back (higher again);
    the staff cancellation removes it."""
    from kil_network.core.email import deliver_due

    staff = make_user(email="staff.itip@example.org", role="staff")
    ada = make_user(email="ada.itip@example.org", name="Ada Lovelace")
    workshop = make_workshop(staff, capacity=5)
    reg = services.register(workshop, ada)
    db.session.commit()
    new_start = workshop.starts_at + timedelta(days=1)
    services.update_workshop(staff, workshop, {"starts_at": new_start, "ends_at": new_start + timedelta(hours=2)})
    db.session.commit()
    services.cancel_registration(reg, ada)
    db.session.commit()
    reg = services.register(workshop, ada)
    db.session.commit()
    services.cancel_workshop(staff, workshop, "The venue has flooded.")
    db.session.commit()
    deliver_due()
    to_ada = sorted((m for m in mail.messages if m.envelope_to == [ada.email] and calendar_parts(m)),
                    key=lambda m: int(m["Message-ID"].split("-")[1].split(".")[0]))
    assert [str(Calendar.from_ical(_ics(m))["METHOD"]) for m in to_ada] == [
        "REQUEST", "REQUEST", "CANCEL", "REQUEST", "CANCEL"]
    sequences = [int(Calendar.from_ical(_ics(m)).walk("VEVENT")[0]["SEQUENCE"]) for m in to_ada]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)  # always higher
    uid = workshop_uid(workshop)
    client = CalendarClient()
    client.receive(_ics(to_ada[0]))
    assert client.events[uid].dtstart == new_start - timedelta(days=1)
    client.receive(_ics(to_ada[1]))
    assert client.events[uid].dtstart == new_start and client.events[uid].status == "CONFIRMED"
    client.receive(_ics(to_ada[0]))  # the old invitation again: ignored
    assert client.ignored == 1 and client.events[uid].dtstart == new_start
    client.receive(_ics(to_ada[2]))
    assert uid not in client.events
    client.receive(_ics(to_ada[3]))
    assert client.events[uid].dtstart == new_start
    client.receive(_ics(to_ada[4]))
    assert uid not in client.events


def test_feed_is_a_subscription_with_stable_uids_and_a_tentative_waitlist(make_user, client, auth):
    """The member's feed has no iTIP method (or PUBLISH), the same UID as the emails, CONFIRMED for a
    confirmed place and TENTATIVE for a waitlisted one; UIDs stay the same when the workshop changes."""
    staff = make_user(email="staff.feed@example.org", role="staff")
    ada = make_user(email="ada.feed@example.org")
    ben = make_user(email="ben.feed@example.org")
    full = make_workshop(staff, capacity=1, title="Full workshop")
    services.register(full, ben)
    services.register(full, ada)  # waitlisted
    roomy = make_workshop(staff, capacity=5, title="Roomy workshop")
    services.register(roomy, ada)
    token = services.reset_calendar_token(ada)
    db.session.commit()

    def feed():
        response = client.get(f"/calendar/{token}.ics")
        assert response.status_code == 200 and response.mimetype == "text/calendar"
        cal = Calendar.from_ical(response.data)
        assert str(cal.get("METHOD", "PUBLISH")) == "PUBLISH"
        other = IcsCalendarStream.calendar_from_ics(response.data.decode())
        assert {e.uid for e in other.events} == {str(e["UID"]) for e in cal.walk("VEVENT")}
        return {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}

    events = feed()
    assert str(events["Full workshop"]["STATUS"]) == "TENTATIVE"
    assert str(events["Roomy workshop"]["STATUS"]) == "CONFIRMED"
    assert str(events["Full workshop"]["UID"]) == workshop_uid(full)
    services.update_workshop(staff, full, {"starts_at": full.starts_at + timedelta(hours=1),
                                           "ends_at": full.ends_at + timedelta(hours=1)})
    db.session.commit()
    again = feed()
    assert str(again["Full workshop"]["UID"]) == workshop_uid(full)
    assert int(again["Full workshop"]["SEQUENCE"]) == int(events["Full workshop"]["SEQUENCE"]) + 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail).where(
        OutboxEmail.to_address == ada.email, OutboxEmail.subject.startswith("Workshop changed"))) == 1


def test_description_writes_the_time_in_full(make_user, mail):
    """The calendar entry's description starts with the time as the emails write it."""
    delivered = deliver_every_kind(make_user, mail)
    [event] = Calendar.from_ical(_ics(delivered["confirmed"])).walk("VEVENT")
    assert "(UK time)" in str(event["DESCRIPTION"]).splitlines()[0]
