"""Sign-in and password forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from kil_network.core.forms import clean_line


class LoginForm(FlaskForm):
    """Email and password."""

    email = StringField(
        "Email address", filters=[clean_line],
        validators=[DataRequired("Enter your email address"),
                    Length(max=254, message="Email address must be 254 characters or fewer")],
    )
    password = PasswordField("Password",
                             validators=[DataRequired("Enter your password"),
                                         Length(max=128, message="Password must be 128 characters or fewer")])
    remember = BooleanField("Keep me signed in on this device for 30 days")


class ResetRequestForm(FlaskForm):
    """Ask for a reset link."""

    email = StringField(
        "Email address", filters=[clean_line],
        validators=[
            DataRequired("Enter your email address"),
            Length(max=254, message="Email address must be 254 characters or fewer"),
            Email("Enter an email address in the correct format, like name@example.org",
                  check_deliverability=False),
        ],
    )


class ResetPasswordForm(FlaskForm):
    """Choose a new password."""

    password = PasswordField(
        "New password",
        validators=[
            DataRequired("Enter a new password"),
            Length(min=10, max=128, message="Password must be between 10 and 128 characters"),
        ],
        description="At least 10 characters.",
    )
