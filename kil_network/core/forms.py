"""Form helpers shared by every area: clean text, GOV.UK-style checks."""
import re
from datetime import datetime
from urllib.parse import urlsplit

from wtforms import Field, StringField, ValidationError
from wtforms.utils import unset_value
from wtforms.validators import DataRequired, Email, Length, StopValidation

from kil_network.core.params import parse_date
from kil_network.core.timeutil import LondonTimeError, strict_london_to_utc, to_london

# Always removed: C0 and C1 control characters and the bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069), which reorder the text around them ("Trojan Source" spoofing:
# a name that displays differently from what it is). One-line fields also lose line and
# paragraph separators. Removed characters become a space on one line (words stay apart).
_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_CONTROL_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_CONTROLS}]")
# Invisible characters that mean something only inside a word: zero-width space (a word-break
# hint in Thai or Khmer), ZWNJ and ZWJ (Persian "می‌خواهم", Indic conjuncts, emoji sequences
# such as a family), word joiner, BOM, and the direction marks LRM, RLM and ALM. Kept between two
# visible characters; removed at the start or end of a word, where they do nothing but make two
# strings that look the same compare different. A run of one of them counts once.
_INVISIBLE = "\u200b-\u200f\u2060\ufeff\u061c"
_EDGE_INVISIBLE = re.compile(f"(?:^|(?<=\\s))[{_INVISIBLE}]+|[{_INVISIBLE}]+(?=\\s|$)")
_REPEATED_INVISIBLE = re.compile(f"([{_INVISIBLE}])\\1+")


def _drop_edge_invisibles(text: str) -> str:
    """Remove joiners, zero-width spaces and marks that do not sit between two visible characters."""
    return _EDGE_INVISIBLE.sub("", _REPEATED_INVISIBLE.sub(r"\1", text))


def clean_line(value):
    """One line: no control or bidi-override characters, spaces collapsed, joiners kept inside words.

    A field missing from the posted form (None) becomes "", so services can rely on a string.
    """
    if value is None:
        return ""
    line = " ".join(_CONTROL_ONE_LINE.sub(" ", str(value)).split())
    return " ".join(_drop_edge_invisibles(line).split())


def clean_text(value):
    """Multi-line text: line breaks kept and normalised, control and bidi-override characters
    removed, joiners kept inside words ("" for None)."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    return _drop_edge_invisibles(_CONTROL.sub("", text)).strip()


def email_field(label: str = "Email address", required: str = "Enter your email address", **kwargs) -> StringField:
    """An email address field: cleaned, required, at most 254 characters, in the right format
    (the one definition the join, room join, reset, email change and live-page forms share)."""
    return StringField(label, filters=[clean_line], validators=[
        DataRequired(required),
        Length(max=254, message="Email address must be 254 characters or fewer"),
        Email("Enter an email address in the correct format, like name@example.org", check_deliverability=False),
    ], **kwargs)


class MaxLength:
    """A length check with a GOV.UK-style message naming the field."""

    def __init__(self, limit: int, what: str):
        self.limit = limit
        self.what = what

    def __call__(self, form, field):
        if field.data and len(field.data) > self.limit:
            # "2,000", as the count says
            raise ValidationError(f"{self.what} must be {self.limit:,} characters or fewer")


def length_limit(field) -> int | None:
    """The most characters a field accepts (its Length or MaxLength validator), or None.

    The form macros show it before typing as a character count; it is never put in a
    `maxlength` attribute (that stops typing and cuts a paste silently): the validator refuses."""
    limits = [v.max for v in field.validators if isinstance(v, Length) and v.max is not None and v.max >= 0]
    limits += [v.limit for v in field.validators if isinstance(v, MaxLength)]
    return min(limits) if limits else None


_TIME_RE = re.compile(r"^(\d{1,2})(?::|\.)?(\d{2})?\s*(am|pm)?$", re.IGNORECASE)


def parse_time(text: str):
    """'18:30', '6.30pm', '6pm' -> (18, 30); None if it is not a time."""
    match = _TIME_RE.match((text or "").strip())
    if not match:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), (match.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute


class _PartsField(Field):
    """A field entered as several inputs named `<name>-<part>` (GOV.UK date pattern)."""

    PARTS: tuple[str, ...] = ()

    def __init__(self, label=None, validators=None, required_message=None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.required_message = required_message
        self.parts = {part: "" for part in self.PARTS}

    def process(self, formdata, data=unset_value, extra_filters=None):
        """Take the parts from the form, or from an existing value."""
        self.process_errors = []
        if data is unset_value:
            data = self.default() if callable(self.default) else self.default
        self.object_data = self.data = data
        if data:
            self.parts = self._split(data)
        if formdata is not None and any(f"{self.name}-{p}" in formdata for p in self.PARTS):
            self.parts = {p: clean_line(formdata.get(f"{self.name}-{p}", "")) for p in self.PARTS}
            self.data = None
            if any(self.parts.values()):
                missing = [p for p in self.PARTS if not self.parts[p]]
                if missing:
                    self.process_errors.append(f"{self.label.text} must include a {missing[0]}")
                else:
                    self.data = self._join()

    def _date(self, earliest: int):
        """The day, month and year parts as a date (a message is recorded if they are not one).

        Parsed by core.params.parse_date, which never raises: a 20-digit month or a day past
        the end of the month is this form error, not an OverflowError."""
        day = parse_date(self.parts["year"], self.parts["month"], self.parts["day"], earliest=earliest)
        if day is None:
            self.process_errors.append(f"{self.label.text} must be a real date")
        return day

    def _split(self, data) -> dict:
        """An existing value as its parts."""
        raise NotImplementedError

    def _join(self):
        """The parts as a value, or None with a message in process_errors."""
        raise NotImplementedError

    def pre_validate(self, form):
        """Missing entirely: the required message, if the field is required."""
        if self.data is None and not self.process_errors and self.required_message:
            raise StopValidation(self.required_message)

    def _value(self):
        return ""


class LondonDateTimeField(_PartsField):
    """A GOV.UK date input (day, month, year) and a time, entered in Europe/London.

    Reads `<name>-day`, `<name>-month`, `<name>-year` and `<name>-time` from the form and
    holds a timezone-aware UTC datetime in `.data`.
    """

    PARTS = ("day", "month", "year", "time")

    def _split(self, data) -> dict:
        """A UTC datetime as London day, month, year and HH:MM."""
        local = to_london(data)
        return {"day": str(local.day), "month": str(local.month), "year": str(local.year),
                "time": local.strftime("%H:%M")}

    def _join(self):
        """The parts as a UTC datetime."""
        day = self._date(earliest=2000)
        if day is None:
            return None
        hm = parse_time(self.parts["time"])
        if hm is None:
            self.process_errors.append(f"{self.label.text} must have a real time, like 18:30")
            return None
        try:  # a time the UK clocks skip or show twice is refused, with the rule
            return strict_london_to_utc(datetime(day.year, day.month, day.day, *hm))
        except LondonTimeError as exc:
            self.process_errors.append(str(exc))
            return None


UK_POSTCODE = re.compile(r"^(GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})$")


def normalise_postcode(value):
    """Upper-case a postcode and put one space before the inward code."""
    if not value:
        return value
    compact = "".join(str(value).split()).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


class GovDateField(_PartsField):
    """A GOV.UK date input (day, month, year); `.data` is a datetime.date."""

    PARTS = ("day", "month", "year")

    def _split(self, data) -> dict:
        """A date as its parts."""
        return {"day": str(data.day), "month": str(data.month), "year": str(data.year)}

    def _join(self):
        """The parts as a date."""
        return self._date(earliest=1900)
