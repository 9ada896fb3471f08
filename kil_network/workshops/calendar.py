"""iCalendar files for workshops (the icalendar library does the escaping and folding)."""
from icalendar import Calendar, Event, vText

from kil_network.core.email import external_url
from kil_network.core.timeutil import utcnow
from kil_network.workshops.models import Workshop, WorkshopStatus

PRODID = "-//Keep it Local Network//Workshops//EN"


def workshop_uid(workshop: Workshop) -> str:
    """A UID that stays the same for the life of the workshop."""
    return f"workshop-{workshop.id}@keepitlocal.network"


def _event(workshop: Workshop, *, include_link: bool, cancelled: bool = False) -> Event:
    """One VEVENT for a workshop."""
    event = Event()
    event.add("uid", workshop_uid(workshop))
    event.add("sequence", workshop.sequence)
    event.add("dtstamp", utcnow())
    event.add("dtstart", workshop.starts_at)
    event.add("dtend", workshop.ends_at)
    event.add("summary", workshop.title)
    url = external_url("workshops.detail", workshop_id=workshop.id)
    description = workshop.description.strip()
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
    if cancelled or workshop.status == WorkshopStatus.CANCELLED:
        event.add("status", "CANCELLED")
    else:
        event.add("status", "CONFIRMED")
    return event


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


def workshop_ics(workshop: Workshop, *, method: str = "PUBLISH", include_link: bool = False) -> bytes:
    """One workshop as an .ics file (METHOD:CANCEL once it is cancelled)."""
    if workshop.status == WorkshopStatus.CANCELLED:
        method = "CANCEL"
    cal = _calendar(method)
    cal.add_component(_event(workshop, include_link=include_link))
    return cal.to_ical()


def feed_ics(workshops: list[Workshop], name: str, linked_ids: set[int] | frozenset = frozenset()) -> bytes:
    """A subscription feed of several workshops; joining links only for `linked_ids` (confirmed places)."""
    cal = _calendar(None, name)
    for workshop in workshops:
        cal.add_component(_event(workshop, include_link=workshop.id in linked_ids))
    return cal.to_ical()


def ics_attachment(workshop: Workshop, *, include_link: bool = True) -> dict:
    """An email attachment carrying the workshop's calendar entry."""
    method = "CANCEL" if workshop.status == WorkshopStatus.CANCELLED else "PUBLISH"
    return {
        "filename": "workshop.ics",
        "content_type": f"text/calendar; method={method}",
        "content": workshop_ics(workshop, method=method, include_link=include_link),
    }
