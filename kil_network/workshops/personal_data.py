"""Workshops in a member's data export and account deletion (see kil_network/core/personal_data.py)."""
from collections.abc import Sequence
from contextlib import suppress

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from kil_network.core.rules import RuleError
from kil_network.extensions import db
from kil_network.workshops import services
from kil_network.workshops.models import Registration, Workshop


def _iso(value):
    """ISO 8601 text for a datetime, or None."""
    return value.isoformat() if value else None


def _member_registrations(user) -> Sequence[Registration]:
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
    for reg in _member_registrations(user):
        if reg.is_active and not reg.workshop.is_past:
            # Before clearing anything: it locks the workshop and re-reads the registration. A
            # workshop that started meanwhile keeps the place as history (the refusal changed nothing).
            with suppress(RuleError):
                services.cancel_registration(reg, None, "account deleted", notify=False)
        reg.access_needs = ""
        reg.guest_name = ""
        reg.guest_email = ""
    user.calendar_token = None
    db.session.flush()
