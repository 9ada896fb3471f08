"""Times are stored in UTC and shown in Europe/London."""
from datetime import UTC, datetime, timedelta
from typing import overload
from zoneinfo import ZoneInfo

import sqlalchemy as sa

LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@overload
def to_london(value: datetime) -> datetime: ...
@overload
def to_london(value: None) -> None: ...
def to_london(value: datetime | None) -> datetime | None:
    """Convert an aware (or naive UTC) datetime to Europe/London."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LONDON)


def london_to_utc(value: datetime) -> datetime:
    """Interpret a naive wall-clock time as Europe/London and return it in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(UTC)


class LondonTimeError(ValueError):
    """A wall-clock time that the UK clocks skip or show twice; the message is safe to show."""


def _london_offset(instant: datetime) -> timedelta:
    """London's offset from UTC at an aware instant (0 or 1 hour)."""
    offset = instant.astimezone(LONDON).utcoffset()
    assert offset is not None  # an aware time in a ZoneInfo always has one
    return offset


def _clock_change(value: datetime) -> tuple[str, str]:
    """Around a clock change on value's day: the wall-clock time the change happens at, and the
    time the clocks then show (e.g. ("01:00", "02:00") in March, ("02:00", "01:00") in October)."""
    start = datetime(value.year, value.month, value.day, tzinfo=LONDON).astimezone(UTC)
    before = _london_offset(start)
    for minutes in range(0, 26 * 60, 15):
        instant = start + timedelta(minutes=minutes)
        after = _london_offset(instant)
        if after != before:
            return ((instant + before).strftime("%H:%M"), (instant + after).strftime("%H:%M"))
    raise AssertionError("no clock change on this day")  # pragma: no cover - only called on change days


def strict_london_to_utc(value: datetime) -> datetime:
    """A naive UK wall-clock time as UTC, refusing times that do not exist (the hour skipped when
    the clocks go forward in March) or that happen twice (the hour repeated when they go back in
    October), with a message that states the rule. `london_to_utc` silently picks one."""
    first, second = value.replace(tzinfo=LONDON, fold=0), value.replace(tzinfo=LONDON, fold=1)
    when = f"{value:%H:%M} on {value.day} {value:%B %Y}"
    if first.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) != value:
        at, to = _clock_change(value)
        raise LondonTimeError(f"{when} does not exist in the UK: the clocks go forward from {at} to {to}")
    if first.utcoffset() != second.utcoffset():
        at, to = _clock_change(value)
        raise LondonTimeError(
            f"{when} happens twice in the UK: the clocks go back from {at} to {to}. "
            f"Choose a time before {to} or from {at}")
    return first.astimezone(UTC)


def format_london(value: datetime | None, fmt: str = "%-d %B %Y, %-I:%M%p") -> str:
    """Format a stored UTC time for people, in Europe/London (e.g. 3 March 2026, 6:30pm)."""
    local = to_london(value)
    if local is None:
        return ""
    text = local.strftime(fmt)
    return text.replace("AM", "am").replace("PM", "pm")


def format_email_time(value: datetime | None) -> str:
    """A time as every email and calendar description writes it: "Tuesday 15 December 2026,
    10:00am (UK time)" (Europe/London, whichever of GMT or BST applies that day)."""
    text = format_london(value, "%A %-d %B %Y, %-I:%M%p")
    return f"{text} (UK time)" if text else ""


def format_email_clock(value: datetime | None) -> str:
    """Only the clock time, for the end of a workshop on the same day: "1:00pm"."""
    return format_london(value, "%-I:%M%p")


class UTCDateTime(sa.types.TypeDecorator):
    """A DateTime stored as naive UTC on every database and returned timezone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store aware datetimes as naive UTC; naive ones are taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        """Attach UTC to what the database returns."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
