"""iCalendar files for workshops (the icalendar library does the escaping and folding).

Emails carry iTIP messages (RFC 5546): a confirmed place or a change is a METHOD:REQUEST from the
campaign (ORGANIZER) to the member (ATTENDEE); a cancelled place or workshop is a METHOD:CANCEL
with the same UID and a higher SEQUENCE, so the member's calendar updates or removes the event it
already has. A waitlisted member is never sent a REQUEST. The feed is a subscription (no METHOD):
the same UIDs, and a waitlisted place shows as STATUS:TENTATIVE.
"""
from email.utils import parseaddr

from flask import current_app
from icalendar import Calendar, Event, vCalAddress, vText

from kil_network.core.email import external_url
from kil_network.core.timeutil import format_email_time, utcnow
from kil_network.workshops.models import Workshop, WorkshopStatus

PRODID = "-//Keep it Local Network//Workshops//EN"
REQUEST, CANCEL = "REQUEST", "CANCEL"


def workshop_uid(workshop: Workshop) -> str:
    """A UID that stays the same for the life of the workshop."""
    return f"workshop-{workshop.id}@keepitlocal.network"


def attendee_sequence(workshop: Workshop, reg, changes: int | None = None) -> int:
    """The SEQUENCE of the entry sent to one attendee: the workshop's (raised by every change of
    time or place and by cancelling) plus the changes to their own place, so a cancelled place
    (CANCEL) and a later new booking (REQUEST) each go above what their calendar already holds.
    `changes`: the number of the place's history events, when the caller counted them (else read)."""
    return workshop.sequence + (len(reg.events) if changes is None else changes)


def _organizer() -> vCalAddress:
    """The campaign, as the ORGANIZER (CONTACT_EMAIL, or the mail sender's address)."""
    name, address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    organizer = vCalAddress(f"mailto:{current_app.config.get('CONTACT_EMAIL') or address}")
    organizer.params["cn"] = vText(name or "Keep it Local Network")
    return organizer


def _attendee(reg, partstat: str) -> vCalAddress:
    """The member as the ATTENDEE (a required participant)."""
    attendee = vCalAddress(f"mailto:{reg.person_email}")
    attendee.params["cn"] = vText(reg.person_name)
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText(partstat)
    attendee.params["rsvp"] = vText("FALSE")
    return attendee


def _event(workshop: Workshop, *, include_link: bool, status: str, sequence: int | None = None) -> Event:
    """One VEVENT for a workshop."""
    event = Event()
    event.add("uid", workshop_uid(workshop))
    event.add("sequence", workshop.sequence if sequence is None else sequence)
    event.add("dtstamp", utcnow())
    event.add("dtstart", workshop.starts_at)
    event.add("dtend", workshop.ends_at)
    event.add("summary", workshop.title)
    url = external_url("workshops.detail", workshop_id=workshop.id)
    description = f"{format_email_time(workshop.starts_at)}\n\n{workshop.description.strip()}".strip()
    if include_link and workshop.format.has_link and workshop.online_url:
        description += f"\n\nJoin online: {workshop.online_url}"
    event.add("description", f"{description}\n\n{url}".strip())
    event.add("url", url)
    if workshop.format.has_venue:
        event.add("location", vText(", ".join(p for p in (workshop.venue, workshop.address, workshop.postcode) if p)))
    elif include_link and workshop.online_url:
        event.add("location", vText(workshop.online_url))
    else:
        event.add("location", vText("Online"))
    event.add("status", status)
    return event


def _status(workshop: Workshop, *, tentative: bool = False) -> str:
    """CANCELLED for a cancelled workshop, TENTATIVE for a waitlisted place, else CONFIRMED."""
    if workshop.status == WorkshopStatus.CANCELLED:
        return "CANCELLED"
    return "TENTATIVE" if tentative else "CONFIRMED"


def _calendar(method: str | None, name: str | None = None) -> Calendar:
    """An empty VCALENDAR."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    return cal


def workshop_ics(workshop: Workshop, *, include_link: bool = False) -> bytes:
    """One workshop as an .ics file to download: METHOD:PUBLISH (no organizer or attendee, so no
    reply is expected), STATUS:CANCELLED once it is cancelled; the joining link only if asked."""
    cal = _calendar("PUBLISH")
    cal.add_component(_event(workshop, include_link=include_link, status=_status(workshop)))
    return cal.to_ical()


def itip_ics(workshop: Workshop, reg, method: str, changes: int | None = None) -> bytes:
    """The iTIP message for one attendee: REQUEST (their confirmed place, or its new details) or
    CANCEL (their place or the workshop cancelled: STATUS:CANCELLED, same UID, higher SEQUENCE)."""
    cal = _calendar(method)
    status = "CANCELLED" if method == CANCEL else _status(workshop)
    event = _event(workshop, include_link=method == REQUEST and reg.is_confirmed, status=status,
                   sequence=attendee_sequence(workshop, reg, changes))
    event.add("organizer", _organizer())
    event.add("attendee", _attendee(reg, "DECLINED" if method == CANCEL and reg.is_cancelled else "ACCEPTED"))
    cal.add_component(event)
    return cal.to_ical()


def feed_ics(workshops: list[Workshop], name: str, linked_ids: set[int] | frozenset = frozenset()) -> bytes:
    """A subscription feed of several workshops: confirmed places (`linked_ids`, which carry the
    joining link) as CONFIRMED, the rest (waitlisted) as TENTATIVE, cancelled ones as CANCELLED."""
    cal = _calendar(None, name)
    for workshop in workshops:
        confirmed = workshop.id in linked_ids
        cal.add_component(_event(workshop, include_link=confirmed,
                                 status=_status(workshop, tentative=not confirmed)))
    return cal.to_ical()


def ics_attachment(workshop: Workshop, reg, method: str = REQUEST, changes: int | None = None) -> dict:
    """An email attachment carrying the attendee's iTIP message (RFC 6047: the MIME type names the method)."""
    return {
        "filename": "invite.ics" if method == REQUEST else "cancel.ics",
        "content_type": f"text/calendar; method={method}; charset=UTF-8",
        "content": itip_ics(workshop, reg, method, changes),
    }
