"""Evidence forms: calls (staff), written evidence, review."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from kil_network.core.forms import LondonDateTimeField, MaxLength, clean_line, clean_text
from kil_network.evidence import services
from kil_network.evidence.models import TOPICS, Publication, ReviewStatus
from kil_network.members.forms import MEMBER_TYPE_CHOICES, local_authority_choices


class CSRFForm(FlaskForm):
    """A form with only the CSRF token (survey pages build their own fields)."""


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes for a multiple choice."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CallForm(FlaskForm):
    """A call for evidence with its deadlines."""

    title = StringField("Title", filters=[clean_line],
                        validators=[DataRequired("Enter a title"), MaxLength(200, "Title")])
    introduction = TextAreaField("Introduction", filters=[clean_text],
                                 validators=[DataRequired("Enter an introduction"), MaxLength(5000, "Introduction")])
    asks = TextAreaField("What it asks", filters=[clean_text], validators=[MaxLength(5000, "What it asks")])
    opens_at = LondonDateTimeField("Opens", required_message="Enter when the call opens")
    survey_closes_at = LondonDateTimeField("Survey deadline (leave empty if there is no survey)")
    written_closes_at = LondonDateTimeField("Written evidence deadline (leave empty if there is no written evidence)")

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then the deadline rules (`services.call_date_problems`), so every
        problem shows at once; the services refuse the same again when saving."""
        valid = super().validate(extra_validators)
        dates = (self.opens_at, self.survey_closes_at, self.written_closes_at)
        if not any(field.errors for field in dates):  # a date that could not be read is its own error
            for problem in services.call_date_problems(*(field.data for field in dates)):
                getattr(self, problem.field or "survey_closes_at").errors.append(problem.message)
                valid = False
        return valid


class EvidenceForm(FlaskForm):
    """Written evidence."""

    name = StringField("Your name", filters=[clean_line],
                       validators=[DataRequired("Enter your name"), MaxLength(120, "Your name")])
    email = StringField("Email address", filters=[clean_line],
                        validators=[DataRequired("Enter your email address"), MaxLength(254, "Email address"),
                                    Email("Enter an email address in the correct format, like name@example.org",
                                          check_deliverability=False)],
                        description="We send your acknowledgement here. It is never published.")
    organisation = StringField("Organisation (optional)", filters=[clean_line],
                               validators=[MaxLength(160, "Organisation")])
    respondent_type = SelectField("You are responding as", choices=[("", "Select one")] + MEMBER_TYPE_CHOICES,
                                  validators=[InputRequired("Select who you are responding as")], validate_choice=False)
    local_authority = SelectField("Council area (optional)", validate_choice=False)
    topics = MultiCheckboxField("Which topics does your evidence cover?", choices=list(TOPICS.items()),
                                validate_choice=False, description="Select all that apply.")
    text = TextAreaField("Your evidence", filters=[clean_text],
                         validators=[DataRequired("Enter your evidence"), MaxLength(20000, "Your evidence")],
                         description="Up to 20,000 characters. You can also attach a document.")
    file = FileField("Attach a document (optional)", description="PDF, Word (DOCX) or OpenDocument (ODT), up to 10MB.")
    file_may_publish = BooleanField(
        "You may publish my attached file with my evidence",
        description="Only if you agree below to publishing your evidence, and only once staff have checked it. "
                    "We remove the author details (metadata) from the file first, but not names written in it.")
    publication = RadioField("Can we publish your evidence?", choices=[(p.value, p.label) for p in Publication],
                             validators=[InputRequired("Choose whether we can publish your evidence")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local_authority.choices = local_authority_choices()

    def validate_respondent_type(self, field):
        """One of the listed types."""
        if field.data not in {v for v, _ in MEMBER_TYPE_CHOICES}:
            raise ValidationError("Select who you are responding as")

    def validate_topics(self, field):
        """At least one of the four topics, nothing else."""
        if not field.data:
            raise ValidationError("Select at least one topic your evidence covers")
        if any(t not in TOPICS for t in field.data):
            raise ValidationError("Select topics from the list")

    def validate_local_authority(self, field):
        """A real council, or none."""
        if field.data and field.data not in {c for c, _ in field.choices if c}:
            raise ValidationError("Select a council from the list")


class ReviewForm(FlaskForm):
    """Staff review of a submission."""

    status = RadioField("Status", choices=[(s.value, s.value.capitalize()) for s in ReviewStatus],
                        validators=[InputRequired("Choose a status")])
    tags = StringField("Tags (separated by commas)", filters=[clean_line], validators=[MaxLength(500, "Tags")])
    principles = MultiCheckboxField("Principles this evidence supports", coerce=int, validate_choice=False)
    notes = TextAreaField("Notes (staff only)", filters=[clean_text], validators=[MaxLength(5000, "Notes")])
    published_text = TextAreaField(
        "Published wording", filters=[clean_text], validators=[MaxLength(20000, "Published wording")],
        description="What the library shows. Remove anything that should not be published (names, contact "
                    "details); the evidence as sent is kept unchanged.")
    file_approved = BooleanField("Publish the attached document with this evidence",
                                 description="The submitter agreed to this. Its author details are removed first.")

    def validate_principles(self, field):
        """Only listed principles (an id beyond the database's integers was a 500)."""
        listed = {value for value, _ in field.choices or []}
        if any(p not in listed for p in field.data or []):
            raise ValidationError("Select principles from the list")
