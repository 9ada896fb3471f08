"""Staff forms of the council journey: reviewing a submitted self-assessment."""
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired

from kil_network.core.forms import MaxLength, clean_text

REVIEW_COMMENTS_LIMIT = 4000


class ReviewForm(FlaskForm):
    """Return a submitted assessment to the council with comments, or accept it.

    Whether comments are required is the service's rule (journey.services.return_assessment)."""

    decision = RadioField("Your decision", choices=[("accept", "Accept the assessment"),
                                                    ("return", "Return it to the council for changes")],
                          validators=[InputRequired("Choose whether to accept the assessment or return it")])
    comments = TextAreaField("Comments for the council",
                             description="Required when you return it: say what the council should change.",
                             filters=[clean_text], validators=[MaxLength(REVIEW_COMMENTS_LIMIT, "Comments")])
