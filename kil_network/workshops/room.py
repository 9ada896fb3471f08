"""The room code: proof of being in the room while a workshop's live voting is open.

The presenter screen shows a short code that changes every minute; the code of the minute before
stays valid for one more minute, so a phone that read it just before it changed still gets in.
Codes are derived, not stored: an HMAC of the app's SECRET_KEY, the workshop and the minute, so
every app instance computes the same code and nothing has to be cleaned up. A code is only valid
while the workshop's live voting is open.
"""
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from flask import current_app

from kil_network.core.timeutil import utcnow
from kil_network.workshops.models import Workshop

PERIOD = 60  # seconds a code is shown for
# Letters and digits that cannot be mistaken for one another when read off a screen or typed.
ALPHABET = "ACDEFGHJKLMNPQRTUVWXY34679"
LENGTH = 6


class HasId(Protocol):
    """A workshop, or anything that carries its id (the presenter poll's one-query state)."""

    @property
    def id(self) -> int: ...


@dataclass(frozen=True)
class RoomCode:
    """The code shown now and when it stops working (the end of the next minute)."""

    code: str
    expires_at: datetime


def _slot(when: datetime) -> int:
    return int(when.timestamp()) // PERIOD


def _code_for(workshop_id: int, slot: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"room-code:{workshop_id}:{slot}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def current_code(workshop: HasId, now: datetime | None = None) -> RoomCode:
    """The code to show now (whether or not live voting is open: the screen decides what to show)."""
    slot = _slot(now or utcnow())
    expires = datetime.fromtimestamp((slot + 2) * PERIOD, UTC)
    return RoomCode(_code_for(workshop.id, slot), expires)


def normalise(code: str | None) -> str:
    """A typed or scanned code in its one form: upper case, no spaces or dashes, at most 12 characters."""
    return "".join(ch for ch in (code or "")[:40].upper() if ch.isalnum())[:12]


def is_valid(workshop: Workshop, code: str | None, now: datetime | None = None) -> bool:
    """Is this the code of this minute or the one before, with live voting open?"""
    if not workshop.live_voting or not workshop.is_published:
        return False
    typed = normalise(code)
    if len(typed) != LENGTH:
        return False
    slot = _slot(now or utcnow())
    return any(hmac.compare_digest(typed, _code_for(workshop.id, s)) for s in (slot, slot - 1))

