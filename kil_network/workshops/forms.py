"""Workshop forms: scheduling (staff), registering, walk-ins, cancelling."""
from email_validator import EmailNotValidError, validate_email
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, ValidationError

from kil_network.auth.models import MemberType
from kil_network.core.forms import LondonDateTimeField, MaxLength, clean_line, clean_text, normalise_postcode
from kil_network.members.forms import MEMBER_TYPE_CHOICES, region_choices
from kil_network.members.services import get_region
from kil_network.workshops import services
from kil_network.workshops.models import WorkshopFormat
from kil_network.workshops.rounds import round_by_id, round_choices

FORMAT_CHOICES = [(f.value, f.label) for f in WorkshopFormat]


class WorkshopForm(FlaskForm):
    """Everything staff set about a workshop."""

    title = StringField("Title", filters=[clean_line],
                        validators=[DataRequired("Enter a title"), MaxLength(160, "Title")])
    description = TextAreaField("Description", filters=[clean_text],
                                validators=[DataRequired("Enter a description"), MaxLength(5000, "Description")])
    region = SelectField("Region", validate_choice=False,
                         description="Leave empty for a national online workshop.")
    format = SelectField("Format", choices=FORMAT_CHOICES, validators=[InputRequired("Select a format")])
    venue = StringField("Venue name", filters=[clean_line], validators=[MaxLength(160, "Venue name")],
                        description="For in-person and hybrid workshops.")
    address = StringField("Address", filters=[clean_line], validators=[MaxLength(300, "Address")])
    postcode = StringField("Postcode", filters=[clean_line, normalise_postcode], validators=[MaxLength(10, "Postcode")])
    online_url = StringField("Joining link", filters=[clean_line], validators=[MaxLength(500, "Joining link")],
                             description="For online and hybrid workshops. Only people with a confirmed place see it.")
    starts_at = LondonDateTimeField("Start", required_message="Enter the start date and time",
                                    description="For example, 27 3 2027 and 18:30 (UK time).")
    ends_at = LondonDateTimeField("End", required_message="Enter the end date and time")
    registration_closes_at = LondonDateTimeField(
        "Registration closes", required_message="Enter when registration closes",
        description="Usually a day or two before the start.")
    capacity = IntegerField("Capacity (seats)", validators=[
        InputRequired("Enter the number of seats"), NumberRange(1, 5000, "Capacity must be between 1 and 5,000")])
    mix_max_percent = IntegerField(
        "Mix target: most seats one member type may take, as a percentage (optional)",
        validators=[Optional(), NumberRange(10, 100, "Mix target must be between 10 and 100 per cent")],
        description="For example 50: no member type takes more than half the seats; others wait on the waitlist.")
    accessibility_info = TextAreaField("Accessibility information", filters=[clean_text],
                                       validators=[MaxLength(2000, "Accessibility information")],
                                       description="Step-free access, hearing loops, quiet room, parking, captions.")
    round = SelectField("Principles round this workshop feeds (optional)", validate_choice=False,
                        description="Votes cast at the workshop count towards this round and show in its results.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.region.choices = [("", "No region (national)")] + region_choices()[1:]
        self.round.choices = [("", "No round")] + round_choices()

    def validate_round(self, field):
        """One of the listed rounds, or none."""
        if field.data and field.data not in {v for v, _ in field.choices if v}:
            raise ValidationError("Select a round from the list")

    def validate_region(self, field):
        """One of the listed regions, or none."""
        if field.data and field.data not in {v for v, _ in field.choices if v}:
            raise ValidationError("Select a region from the list")

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then the scheduling rules (`services.schedule_problems`), so
        every problem shows at once; the services refuse the same again when saving."""
        valid = super().validate(extra_validators)
        for problem in services.schedule_problems(self._schedule()):
            getattr(self, problem.field or "title").errors.append(problem.message)
            valid = False
        return valid

    def _schedule(self) -> dict:
        """The scheduling values as the services judge them (None where a field could not be read)."""
        formats = {f.value: f for f in WorkshopFormat}
        return {
            "format": formats.get(self.format.data), "venue": self.venue.data or "",
            "address": self.address.data or "", "postcode": self.postcode.data or "",
            "online_url": self.online_url.data or "", "starts_at": self.starts_at.data,
            "ends_at": self.ends_at.data, "registration_closes_at": self.registration_closes_at.data,
        }

    def to_data(self) -> dict:
        """The cleaned values as keyword data for the services."""
        return {
            "title": self.title.data, "description": self.description.data,
            "region": get_region(self.region.data), "format": WorkshopFormat(self.format.data),
            "venue": self.venue.data or "", "address": self.address.data or "",
            "postcode": self.postcode.data or "", "online_url": self.online_url.data or "",
            "starts_at": self.starts_at.data, "ends_at": self.ends_at.data,
            "registration_closes_at": self.registration_closes_at.data, "capacity": self.capacity.data,
            "mix_max_percent": self.mix_max_percent.data, "accessibility_info": self.accessibility_info.data or "",
            "round": round_by_id(self.round.data),
        }


class RegisterForm(FlaskForm):
    """Register for a workshop, with an optional access needs note."""

    access_needs = TextAreaField(
        "Access needs (optional)", filters=[clean_text], validators=[MaxLength(1000, "Access needs")],
        description="Anything we should arrange so you can take part. Only campaign staff see this.")


class CancelWorkshopForm(FlaskForm):
    """Cancel a workshop: the reason goes to everyone registered."""

    reason = TextAreaField("Reason for cancelling", filters=[clean_text],
                           validators=[DataRequired("Enter the reason for cancelling, so attendees know why"),
                                       MaxLength(1000, "Reason")],
                           description="This is sent to everyone registered or on the waitlist.")


class WalkInForm(FlaskForm):
    """Someone who turned up: a member (by email) or a guest."""

    name = StringField("Full name", filters=[clean_line], validators=[MaxLength(120, "Full name")],
                       description="Not needed if they are already a member.")
    email = StringField("Email address", filters=[clean_line],
                        validators=[DataRequired("Enter the walk-in's email address"), MaxLength(254, "Email address")])
    member_type = SelectField("Member type", choices=[("", "Select a member type")] + MEMBER_TYPE_CHOICES,
                              validate_choice=False)

    def validate_email(self, field):
        """A plausible email address."""
        try:
            validate_email(field.data, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValidationError("Enter an email address in the correct format, like name@example.org") from exc

    def validate_member_type(self, field):
        """One of the member types, if given."""
        if field.data and field.data not in {m.value for m in MemberType}:
            raise ValidationError("Select a member type from the list")
