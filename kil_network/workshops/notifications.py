"""Workshop emails, each written to the outbox with the change that causes it."""
from kil_network.core.email import external_url, queue_email
from kil_network.workshops.calendar import CANCEL, REQUEST, ics_attachment
from kil_network.workshops.qr import qr_png


def _links(reg) -> dict:
    """Links every workshop email carries."""
    return {
        "workshop_url": external_url("workshops.detail", workshop_id=reg.workshop_id),
        "my_workshops_url": external_url("workshops.my_workshops"),
    }


def check_in_url(reg) -> str:
    """The ticket URL the attendee's QR code carries: /t/<check_in_code> (an unguessable code, not a
    database id). Staff who open it get the check-in result; the attendee gets their ticket."""
    return external_url("workshops.ticket", code=reg.check_in_code)


def _send(reg, subject: str, template: str, *, ics: str | None = None, qr: bool = False,
          changes: int | None = None, **context) -> None:
    """Queue one email about a registration to its member or guest; `ics` is the iTIP method of the
    calendar entry attached (REQUEST for a confirmed place, CANCEL), None for no entry; `changes`
    the place's history events if the caller counted them (the entry's SEQUENCE)."""
    attachments = []
    if ics:
        # The joining link is for confirmed places only (not the waitlist, nor after cancelling).
        attachments.append(ics_attachment(reg.workshop, reg, ics, changes))
    if qr:
        attachments.append({"filename": "check-in-qr.png", "content_type": "image/png",
                            "content": qr_png(check_in_url(reg))})
    queue_email(reg.person_email, subject, template, kind="workshop", user=reg.user,
                attachments=attachments, calendar_entry=ics, reg=reg, workshop=reg.workshop, name=reg.person_name,
                **_links(reg), **context)


def confirmed(reg, changes: int | None = None) -> None:
    """Your seat is confirmed (with the calendar entry and check-in QR code)."""
    _send(reg, f"Your place is confirmed: {reg.workshop.title}", "workshop_confirmed", ics=REQUEST, qr=True,
          changes=changes)


def waitlisted(reg, position: int | None, reason: str = "") -> None:
    """You are on the waitlist, and why (`services.WaitlistReason.message`: full, or the places for
    the member's type are taken under the mix target, with what is still free)."""
    _send(reg, f"You are on the waitlist: {reg.workshop.title}", "workshop_waitlisted", position=position,
          reason=reason)


def promoted(reg) -> None:
    """A seat freed up and is now yours."""
    _send(reg, f"A place is now yours: {reg.workshop.title}", "workshop_promoted", ics=REQUEST, qr=True)


def _was_confirmed(reg) -> bool:
    """Whether the place was confirmed before its latest change (so the member was sent a REQUEST)."""
    return bool(reg.events) and reg.events[-1].from_state == "confirmed"


def registration_cancelled(reg, was_confirmed: bool | None = None, changes: int | None = None) -> None:
    """Confirmation that a registration was cancelled; a confirmed place's entry is cancelled too.
    `was_confirmed` and `changes`: what the caller knows of the place's history (else read)."""
    was_confirmed = _was_confirmed(reg) if was_confirmed is None else was_confirmed
    _send(reg, f"Registration cancelled: {reg.workshop.title}", "workshop_registration_cancelled",
          ics=CANCEL if was_confirmed else None, changes=changes)


def reminder(reg) -> None:
    """The workshop is in about two days."""
    _send(reg, f"Reminder: {reg.workshop.title}", "workshop_reminder", ics=REQUEST, qr=True)


def changed(workshop, regs, changed_fields) -> int:
    """The time or place changed: tell everyone registered or waiting. A confirmed place gets the
    new entry (REQUEST, higher SEQUENCE); the waitlist is told it is still waiting, with no entry."""
    for reg in regs:
        _send(reg, f"Workshop changed: {workshop.title}", "workshop_changed",
              ics=REQUEST if reg.is_confirmed else None, changed_fields=changed_fields)
    return len(regs)


def cancelled(workshop, regs) -> int:
    """The workshop is cancelled: tell everyone, with the reason and a calendar cancellation."""
    for reg in regs:
        _send(reg, f"Workshop cancelled: {workshop.title}", "workshop_cancelled",
              ics=CANCEL if reg.is_confirmed else None)
    return len(regs)


def walk_in_invite(reg) -> None:
    """A walk-in who is not a member yet is invited to join the Network."""
    _send(reg, "Thank you for coming: join the Keep it Local Network", "walk_in_invite",
          join_url=external_url("joining.join"))
