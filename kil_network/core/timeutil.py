"""Times are stored in UTC and shown in Europe/London."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

LONDON = ZoneInfo("Europe/London")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def to_london(value: datetime | None) -> datetime | None:
    """Convert an aware (or naive UTC) datetime to Europe/London."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(LONDON)


def london_to_utc(value: datetime) -> datetime:
    """Interpret a naive wall-clock time as Europe/London and return it in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(timezone.utc)


def format_london(value: datetime | None, fmt: str = "%-d %B %Y, %-I:%M%p") -> str:
    """Format a stored UTC time for people, in Europe/London (e.g. 3 March 2026, 6:30pm)."""
    local = to_london(value)
    if local is None:
        return ""
    text = local.strftime(fmt)
    return text.replace("AM", "am").replace("PM", "pm")


class UTCDateTime(sa.types.TypeDecorator):
    """A DateTime stored as naive UTC on every database and returned timezone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store aware datetimes as naive UTC; naive ones are taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        """Attach UTC to what the database returns."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)
