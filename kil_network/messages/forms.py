"""Compose and schedule forms; the audience filters as the form (or the live count's GET) sends them."""
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired

from kil_network.core.forms import LondonDateTimeField, MaxLength, clean_line, clean_text
from kil_network.core.params import list_arg, text_arg
from kil_network.members.forms import MEMBER_TYPE_CHOICES
from kil_network.messages import audience
from kil_network.messages.models import MessageKind
from kil_network.messages.services import BODY_MAX, SUBJECT_MAX

KIND_CHOICES = [(k.value, k.label) for k in MessageKind]
KIND_HINT = ("A campaign update goes only to members who agreed to campaign emails, and carries a one-click "
             "unsubscribe link. A service message is about something the recipients signed up for (a workshop "
             "they are registered for, a round they took part in) and goes to them whatever that choice.")


def _lenient_multi(label: str, description: str = "") -> SelectMultipleField:
    """A multi-select whose unknown values are dropped by audience.clean rather than refused."""
    return SelectMultipleField(label, validate_choice=False, description=description or None)


class MessageForm(FlaskForm):
    """A message's words, kind and audience."""

    subject = StringField("Subject", filters=[clean_line],
                          validators=[DataRequired("Enter a subject"), MaxLength(SUBJECT_MAX, "Subject")])
    body = TextAreaField("Message", filters=[clean_text], validators=[MaxLength(BODY_MAX, "Message")],
                         description="Write in Markdown: a blank line between paragraphs, **bold**, "
                                     "[link text](https://example.org), lines starting with - for a list. "
                                     "HTML is not allowed and is shown as typed.")
    kind = RadioField("Kind of message", choices=KIND_CHOICES, default=MessageKind.CAMPAIGN.value,
                      validators=[InputRequired("Select the kind of message")], description=KIND_HINT)
    member_types = _lenient_multi("Member type")
    regions = _lenient_multi("Region")
    councils = _lenient_multi("Council", "Members who said which council they are part of or work with.")
    organisations = _lenient_multi("Organisation")
    workshops = _lenient_multi("Workshops", "Choose workshops, then who at them.")
    attendance = _lenient_multi("At the chosen workshops",
                                "Any of these. With no choice: registered (a confirmed place).")
    round = SelectField("Principles round", validate_choice=False)
    voted = RadioField("In that round", validate_choice=False,
                       choices=[("", "Either"), *audience.VOTED.items()], default="")
    calls = _lenient_multi("Submitted written evidence to", "Members who sent written evidence to any of these calls.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        opts = audience.options()
        self.member_types.choices = MEMBER_TYPE_CHOICES
        self.regions.choices = opts["regions"]
        self.councils.choices = opts["councils"]
        self.organisations.choices = opts["organisations"]
        self.workshops.choices = opts["workshops"]
        self.attendance.choices = list(audience.ATTENDANCE.items())
        self.round.choices = [("", "Any (no round filter)"), *opts["rounds"]]
        self.calls.choices = opts["calls"]

    def audience_data(self) -> dict:
        """The filters as stored on the message."""
        return audience.clean({name: getattr(self, name).data for name in AUDIENCE_FIELDS})

    def to_data(self) -> dict:
        """What services.create_draft / update_draft take."""
        return {"subject": self.subject.data or "", "body": (self.body.data or "").replace("\r\n", "\n"),
                "kind": self.kind.data, "audience": self.audience_data()}

    def fill_audience(self, filters: dict) -> None:
        """Show stored filters in the fields (editing a draft)."""
        for name in AUDIENCE_FIELDS:
            value = filters.get(name)
            if name in ("round", "voted"):
                getattr(self, name).data = str(value) if value else ""
            else:
                getattr(self, name).data = [str(v) for v in value or []]


AUDIENCE_FIELDS = ("member_types", "regions", "councils", "organisations", "workshops", "attendance",
                   "round", "voted", "calls")


def filters_from_args() -> dict:
    """The filters from the query string (the live count's GET sends the whole form), read
    through core.params (a control character is a 400); audience.clean keeps only valid values."""
    raw: dict = {name: list_arg(name) for name in AUDIENCE_FIELDS if name not in ("round", "voted")}
    raw["round"] = text_arg("round", 40)
    raw["voted"] = text_arg("voted", 40)
    return audience.clean(raw)


class ScheduleForm(FlaskForm):
    """When to send a draft (UK time)."""

    send_at = LondonDateTimeField("Send at", required_message="Enter the date and time to send it",
                                  description="For example, 27 3 2027 and 09:00 (UK time).")
