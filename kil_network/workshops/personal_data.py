"""Workshops in a member's data export and account deletion (see kil_network/core/personal_data.py)."""
import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.workshops import services
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopStatus


def _iso(value):
    """ISO 8601 text for a datetime, or None."""
    return value.isoformat() if value else None


def _member_registrations(user) -> list[Registration]:
    """Every registration of this member, with workshop and history loaded, oldest workshop first."""
    return db.session.scalars(
        sa.select(Registration).join(Registration.workshop)
        .options(joinedload(Registration.workshop), selectinload(Registration.events))
        .where(Registration.user_id == user.id)
        .order_by(Workshop.starts_at, Registration.id)
    ).unique().all()


def export_registrations(user) -> list:
    """Each workshop registration with its state, access needs, attendance and history."""
    return [
        {
            "workshop": reg.workshop.title,
            "workshop_id": reg.workshop_id,
            "starts_at": _iso(reg.workshop.starts_at),
            "ends_at": _iso(reg.workshop.ends_at),
            "state": reg.state.value,
            "member_type": reg.member_type.value,
            "access_needs": reg.access_needs,
            "walk_in": reg.walk_in,
            "attended": reg.attended,
            "checked_in_at": _iso(reg.checked_in_at),
            "registered_at": _iso(reg.created_at),
            "history": [
                {"action": e.action, "from_state": e.from_state, "to_state": e.to_state,
                 "at": _iso(e.created_at), "note": e.note}
                for e in reg.events
            ],
        }
        for reg in _member_registrations(user)
    ]


def erase_registrations(user) -> None:
    """Clear access needs and guest details; keep the rows so attendance counts stay right.

    Places at workshops still to come are given up (silently for the member, who is leaving),
    so a deleted account never holds a seat and gets no reminders; the waitlist moves up.
    """
    now = utcnow()
    for reg in _member_registrations(user):
        workshop = reg.workshop
        if reg.state in services.ACTIVE_STATES and workshop.starts_at > now:
            workshop = services._lock_registration(reg)  # before any change: it re-reads the row
        reg.access_needs = ""
        reg.guest_name = ""
        reg.guest_email = ""
        if reg.state in services.ACTIVE_STATES and workshop.starts_at > now:
            previous = reg.state
            reg.state = RegistrationState.CANCELLED
            services._log(reg, "cancelled", previous, reg.state, None, "account deleted")
            db.session.flush()
            if previous == RegistrationState.CONFIRMED and workshop.status == WorkshopStatus.PUBLISHED:
                services.promote_waitlist(workshop)
    user.calendar_token = None
    db.session.flush()
