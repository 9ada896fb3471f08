"""Principle forms: voting, suggesting, staff rounds and responses."""
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired

from kil_network.core.forms import LondonDateTimeField, MaxLength, clean_line, clean_text
from kil_network.principles.models import Eligibility, ResponseStatus, Stance

STANCE_CHOICES = [(s.value, s.label) for s in Stance]

# What is published and how, said beside the field (issue 12): nothing is published before staff check it.
COMMENT_CONSENT = ("Your comment may be published with the results, without your name, after a member of staff "
                   "has checked it. Staff may edit it or not publish it. Do not include anything that identifies "
                   "you or anyone else.")
SUGGESTION_CONSENT = ("Your suggestion and your reason may be published on this page, in “You said, we did” and "
                      "with the results, without your name, after a member of staff has checked it. Staff may edit "
                      "them or not publish them. Do not include anything that identifies you or anyone else.")
COMMENT_MAX = 2000  # a vote's comment: the vote form's character count shows it (principles.routes)


class VoteForm(FlaskForm):
    """A stance on one draft, with an optional comment."""

    # validate_choice=False: an unknown value gets services.parse_stance's clear message, not "Not a valid choice".
    stance = RadioField("Your response", choices=STANCE_CHOICES, validate_choice=False,
                        validators=[InputRequired("Choose support, support with changes, or oppose")])
    comment = TextAreaField("Comment (optional)", filters=[clean_text], validators=[MaxLength(COMMENT_MAX, "Comment")])
    workshop = HiddenField()


class SuggestionForm(FlaskForm):
    """New wording for a draft, and why."""

    text = TextAreaField("Your suggested wording", filters=[clean_text], description=SUGGESTION_CONSENT,
                         validators=[DataRequired("Enter the wording you suggest"),
                                     MaxLength(2000, "Suggested wording")])
    reason = TextAreaField("Why this change? (optional)", filters=[clean_text],
                           validators=[MaxLength(2000, "Your reason")])


class DraftFields(Form):
    """One principle's wording within the round form."""

    draft_id = HiddenField()
    title = StringField("Title", filters=[clean_line],
                        validators=[DataRequired("Enter the principle's title"), MaxLength(200, "Title")])
    text = TextAreaField("Text", filters=[clean_text],
                         validators=[DataRequired("Enter the principle's text"), MaxLength(3000, "Text")])
    what_changed = TextAreaField("What changed since the last round", filters=[clean_text],
                                 validators=[MaxLength(2000, "What changed")])


class RoundForm(FlaskForm):
    """A round: name, timing, who can take part, and (while a draft) the six drafts."""

    name = StringField("Name", filters=[clean_line],
                       validators=[DataRequired("Enter a name for the round"), MaxLength(120, "Name")])
    introduction = TextAreaField("Introduction for members", filters=[clean_text],
                                 validators=[MaxLength(3000, "Introduction")])
    opens_at = LondonDateTimeField("Opens (optional)", description="Leave empty to open it when you press Open.")
    closes_at = LondonDateTimeField("Closes", required_message="Enter when the round closes")
    eligibility = RadioField("Who can take part", choices=[(e.value, e.label) for e in Eligibility],
                             default=Eligibility.MEMBERS.value, validators=[InputRequired("Choose who can take part")])
    drafts = FieldList(FormField(DraftFields), min_entries=0)


class RespondForm(FlaskForm):
    """Staff response to a suggestion."""

    status = RadioField("Decision", choices=[(s.value, s.label) for s in ResponseStatus],
                        validators=[InputRequired("Choose a decision")])
    response_text = TextAreaField("Reason, shown to members", filters=[clean_text],
                                  validators=[DataRequired("Explain the decision: it is shown to members"),
                                              MaxLength(2000, "Reason")])


class ApproveForm(FlaskForm):
    """Staff approve a comment or suggestion as it is (`seen`: the fingerprint of the words read)."""

    seen = HiddenField()


class HideForm(FlaskForm):
    """Staff hide a comment or suggestion, with a reason the member sees."""

    seen = HiddenField()
    reason = TextAreaField("Why it is hidden (the member sees this beside their own words)", filters=[clean_text],
                           validators=[DataRequired("Enter why it is hidden: the member sees the reason"),
                                       MaxLength(500, "The reason")])


class RedactForm(FlaskForm):
    """Staff edit the wording that is published (the member's own is kept)."""

    seen = HiddenField()
    text = TextAreaField("Wording to publish", filters=[clean_text],
                         validators=[DataRequired("Enter the wording to publish, or hide it instead"),
                                     MaxLength(2000, "The wording")])
    reason = TextAreaField("Why, as published (suggestions only; leave empty to publish none)", filters=[clean_text],
                           validators=[MaxLength(2000, "The reason")])
