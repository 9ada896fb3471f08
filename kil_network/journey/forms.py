"""The council journey's forms: they parse and show errors; every rule is in journey.services.

The assessment form is built for the adopted drafts an assessment answers (`assessment_form`):
one level (radios), evidence and one action per principle, named `level_<n>`, `evidence_<n>`
and `action_<n>` by the principle's number.
"""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Optional

from kil_network.core.forms import GovDateField, MaxLength, clean_line, clean_text, email_field
from kil_network.journey.models import ChampionRole

EVIDENCE_MAX = 4000
ACTION_MAX = 1000
SUMMARY_MAX = 2000
ROLE_CHOICES = [(r.value, r.label) for r in ChampionRole]


class ButtonForm(FlaskForm):
    """Only the CSRF token: a confirmation button (start, submit, publish, accept, end)."""


class InterestForm(FlaskForm):
    """A member of the council says it is working towards Keep it Local."""

    note = TextAreaField("What is the council doing? (optional)", filters=[clean_text],
                         validators=[MaxLength(1000, "What the council is doing")],
                         description="For example: the cabinet member for communities is taking a report in March.")


class EndorsementForm(FlaskForm):
    """The signed endorsement behind the pledge: a link to the published decision, a document, or both."""

    link_url = StringField("Link to the published cabinet decision or signed endorsement (optional)",
                           filters=[clean_line], validators=[MaxLength(500, "The link")],
                           description="It must start with https://")
    document = FileField("Upload the signed endorsement (optional)",
                         description="PDF, Word (DOCX) or OpenDocument (ODT), up to 10MB.")


class MemberChampionForm(FlaskForm):
    """Appoint a Network member from the council as a champion: they accept by email."""

    role = RadioField("Which champion?", choices=ROLE_CHOICES,
                      validators=[InputRequired("Choose the cabinet champion or the senior management champion")])
    email = email_field("Their email address", required="Enter the email address of a member from the council",
                        description="They must be a confirmed Network member from this council. We email them a "
                                    "link to accept; they count as champion once they accept.")


class NamedChampionForm(FlaskForm):
    """Record a named person as a champion (someone who is not a Network member)."""

    role = RadioField("Which champion?", choices=ROLE_CHOICES,
                      validators=[InputRequired("Choose the cabinet champion or the senior management champion")])
    name = StringField("Their name", filters=[clean_line],
                       validators=[DataRequired("Enter the champion's name"), MaxLength(200, "Their name")])
    job_title = StringField("Their role at the council (optional)", filters=[clean_line],
                            validators=[MaxLength(200, "Their role")],
                            description="For example: Cabinet member for communities.")


class ConversationForm(FlaskForm):
    """The council's community conversation: a workshop in its region, or an event it held."""

    workshop = SelectField("A Keep it Local workshop in the region (optional)", choices=[("", "None: we held our own")],
                           validate_choice=False)
    held_on = GovDateField("Date it was held", required_message="Enter the date the conversation was held",
                           description="For example, 27 3 2026.")
    title = StringField("Name of the event (optional)", filters=[clean_line], validators=[MaxLength(200, "Its name")])
    summary = TextAreaField("What happened and what you heard", filters=[clean_text],
                            validators=[MaxLength(SUMMARY_MAX, "The summary")],
                            description="Needed unless you link a workshop. Who came, what keeping it local means "
                                        "in your area, what you will do next.")

    def workshop_id(self) -> int | None:
        """The chosen workshop's id (a value that is not a number is none)."""
        value = (self.workshop.data or "").strip()
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


class IntroductionForm(FlaskForm):
    """Ask the campaign to introduce the council to a peer council on one principle."""

    number = HiddenField()
    peer = HiddenField()
    message = TextAreaField("What would you like to ask them about? (optional)", filters=[clean_text],
                            validators=[MaxLength(1000, "Your message")])

    def number_value(self) -> int | None:
        """The principle's number as sent, or None."""
        value = (self.number.data or "").strip()
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 2 else None


class AssessmentFormBase(FlaskForm):
    """The fields every assessment form has besides the principles' own."""

    numbers: tuple[int, ...] = ()

    def answers(self) -> dict[int, dict]:
        """What was typed, by principle number, in the shape journey.services.save_answers takes."""
        out = {}
        for n in self.numbers:
            raw = getattr(self, f"level_{n}").data
            out[n] = {"level": int(raw) if raw in ("1", "2", "3", "4") else None,
                      "evidence": getattr(self, f"evidence_{n}").data or "",
                      "action": getattr(self, f"action_{n}").data or ""}
        return out


def assessment_form(drafts, levels: dict[int, str], descriptors: dict[int, dict[int, str]], **kwargs):
    """The assessment form for these drafts (one per principle): level radios (each level's name;
    its descriptor for the principle is the template's hint), evidence and one action."""

    class AssessmentForm(AssessmentFormBase):
        pass

    numbers = []
    for draft in drafts:
        n = draft.number
        numbers.append(n)
        setattr(AssessmentForm, f"level_{n}", RadioField(
            f"Where is the council now on principle {n}?", choices=[(str(k), v) for k, v in levels.items()],
            validators=[Optional()]))
        setattr(AssessmentForm, f"evidence_{n}", TextAreaField(
            f"Evidence for principle {n}", filters=[clean_text],
            validators=[MaxLength(EVIDENCE_MAX, f"Evidence for principle {n}")],
            description="What the council does now, with links to documents, decisions or data."))
        setattr(AssessmentForm, f"action_{n}", TextAreaField(
            f"One action for the year ahead on principle {n}", filters=[clean_text],
            validators=[MaxLength(ACTION_MAX, f"The action for principle {n}")]))
    AssessmentForm.numbers = tuple(numbers)
    AssessmentForm.descriptors = descriptors
    return AssessmentForm(**kwargs)
