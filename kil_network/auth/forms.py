"""Sign-in and password forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from kil_network.core.forms import clean_line, email_field


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

    email = email_field()


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


class EmailOnlyForm(FlaskForm):
    """"Your email address": the first step of signing in without a password (a workshop's live page)."""

    email = email_field("Your email address",
                        description="We will email you a 6-digit code to sign in. No password needed.")


class SignInCodeForm(FlaskForm):
    """The six-digit code from the email."""

    code = StringField(
        "6-digit code", filters=[clean_line],
        validators=[DataRequired("Enter the 6-digit code from the email"),
                    Length(max=20, message="Enter the 6-digit code from the email")],
    )
