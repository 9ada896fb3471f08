"""The pledge form and the staff review form."""
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired

from kil_network.core.forms import GovDateField, MaxLength, clean_line, clean_text
from kil_network.councils.models import PledgeStatus, SignedBy


class PledgeForm(FlaskForm):
    """Who signed the pledge, when, and the council's Keep it Local champions."""

    signed_by = RadioField("How did the council commit?", choices=[(s.value, s.label) for s in SignedBy],
                           validators=[InputRequired("Choose how the council made its commitment")])
    signatories = StringField("Names and roles of who signed, or the decision reference", filters=[clean_line],
                              validators=[DataRequired("Enter who signed the pledge, or the cabinet decision"),
                                          MaxLength(300, "Who signed")],
                              description="For example: Cllr Jane Smith, Leader; Sam Jones, Chief Executive.")
    pledged_on = GovDateField("Date of the pledge", required_message="Enter the date of the pledge",
                              description="For example, 27 3 2026.")
    champions = TextAreaField("The council's Keep it Local champions", filters=[clean_text],
                              validators=[DataRequired("Name at least one Keep it Local champion"),
                                          MaxLength(1000, "Champions")],
                              description="The councillors or officers who will lead the work, one per line.")
    statement = TextAreaField("Anything else to publish with the pledge (optional)", filters=[clean_text],
                              validators=[MaxLength(2000, "Statement")])


class PledgeReviewForm(FlaskForm):
    """Staff verify or reject a pledge."""

    decision = RadioField("Decision", choices=[(PledgeStatus.VERIFIED.value, "Verify and publish"),
                                               (PledgeStatus.REJECTED.value, "Reject")],
                          validators=[InputRequired("Choose verify or reject")])
    note = TextAreaField("Note (kept in the audit log)", filters=[clean_text], validators=[MaxLength(1000, "Note")])
