"""Profile forms: the fields a member keeps about themselves.

Forms parse and show errors; what a member type must give (an organisation, a council) is a rule in
members.services (member_type_problems), which `validate` shows beside the fields' own errors."""
import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Regexp, ValidationError

from kil_network.auth.models import MEMBER_TYPE_LABELS, MemberType
from kil_network.core.forms import MaxLength, clean_line, clean_text, email_field
from kil_network.extensions import db
from kil_network.members import notifications, services
from kil_network.members.models import ORGANISATION_TYPES, LocalAuthority, Region


def local_authority_choices():
    """(GSS code, name) pairs for the council picker, by name."""
    rows = db.session.execute(
        sa.select(LocalAuthority.gss_code, LocalAuthority.name).order_by(LocalAuthority.name)
    ).all()
    return [("", "Select a council")] + [(code, name) for code, name in rows]


def region_choices():
    """(id, name) pairs for the region select."""
    rows = db.session.execute(sa.select(Region.id, Region.name).order_by(Region.name)).all()
    return [("", "Select a region")] + [(str(i), name) for i, name in rows]


MEMBER_TYPE_CHOICES = [(m.value, MEMBER_TYPE_LABELS[m]) for m in MemberType]
MEMBER_TYPE_VALUES = {m.value for m in MemberType}


class ProfileForm(FlaskForm):
    """Who the member is and how they take part."""

    name = StringField(
        "Full name", filters=[clean_line],
        validators=[DataRequired("Enter your full name"), MaxLength(120, "Full name")],
    )
    member_type = SelectField(
        "I am a", choices=[("", "Select one")] + MEMBER_TYPE_CHOICES,
        validators=[InputRequired("Select what kind of member you are")],
        validate_choice=False,
    )
    organisation = StringField(
        "Organisation name", filters=[clean_line], validators=[MaxLength(160, "Organisation name")],
        description="Required for community organisations, think tanks and academics.",
    )
    local_authority = SelectField(
        "Council area", validate_choice=False,
        description="Councillors, commissioners and council officers: the council you work for or represent. Others: "
                    "the council area you mostly work in.",
    )
    job_title = StringField(
        "Role or job title", filters=[clean_line], validators=[MaxLength(120, "Role or job title")]
    )
    region = SelectField(
        "Region", validate_choice=False,
        description="Only needed if you did not choose a council: we use the council's region otherwise.",
    )
    involvement = TextAreaField(
        "How would you like to be involved? (optional)", filters=[clean_text],
        validators=[MaxLength(2000, "How you would like to be involved")],
    )
    consent_marketing = BooleanField("Send me campaign emails: news, workshops and calls for evidence")
    show_in_directory = BooleanField(
        "List me in the member directory, so other members can find me (your email address is never shown)"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local_authority.choices = local_authority_choices()
        self.region.choices = region_choices()

    def validate_member_type(self, field):
        """Only the listed member types."""
        if field.data not in {m.value for m in MemberType}:
            raise ValidationError("Select what kind of member you are")

    def validate_local_authority(self, field):
        """A council from the list (which member types must pick one: members.services)."""
        valid = {code for code, _ in field.choices if code}
        if field.data and field.data not in valid:
            raise ValidationError("Select a council from the list")

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then what the member type must give
        (`services.member_type_problems`), so every problem shows at once; the services refuse the
        same again when saving."""
        valid = super().validate(extra_validators)
        member_type = MemberType(self.member_type.data) if self.member_type.data in MEMBER_TYPE_VALUES else None
        for problem in services.member_type_problems(member_type, self.organisation.data, self.local_authority.data):
            getattr(self, problem.field or "member_type").errors.append(problem.message)  # each names one
            valid = False
        return valid

    def validate_region(self, field):
        """A region is needed when there is no council to derive it from."""
        valid = {value for value, _ in field.choices if value}
        if field.data and field.data not in valid:
            raise ValidationError("Select a region from the list")
        if not self.local_authority.data and not field.data:
            raise ValidationError("Select your region, or choose a council above")


class JoinForm(ProfileForm):
    """Joining the Network: the profile plus sign-in details and consents."""

    email = email_field()
    password = PasswordField(
        "Create a password",
        validators=[
            DataRequired("Enter a password"),
            Length(min=10, max=128, message="Password must be between 10 and 128 characters"),
        ],
        description="At least 10 characters. A few unrelated words make a strong password.",
    )
    consent_privacy = BooleanField(
        "I have read the privacy notice and agree to the Network holding my details",
        validators=[DataRequired("Agree to the privacy notice to join the Network")],
    )


class PasswordChangeForm(FlaskForm):
    """Change password, knowing the current one."""

    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password")])
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired("Enter a new password"),
            Length(min=10, max=128, message="Password must be between 10 and 128 characters"),
        ],
    )


class EmailChangeForm(FlaskForm):
    """Change email address; the new one is confirmed by email first."""

    email = email_field("New email address", required="Enter your new email address")
    password = PasswordField("Your password", validators=[DataRequired("Enter your password")])


class DeleteAccountForm(FlaskForm):
    """Deleting the account needs the password and a tick."""

    password = PasswordField("Your password", validators=[DataRequired("Enter your password")])
    confirm = BooleanField(
        "I understand my account and personal details will be deleted and cannot be recovered",
        validators=[DataRequired("Tick the box to confirm you want to delete your account")],
    )


class OrganisationForm(FlaskForm):
    """An organisation's own record: kept by its members (and staff)."""

    name = StringField("Organisation name", filters=[clean_line],
                       validators=[DataRequired("Enter the organisation's name"), MaxLength(160, "Organisation name")])
    org_type = SelectField("Type of organisation", validate_choice=True)
    charity_number = StringField(
        "Charity number (optional)", filters=[clean_line],
        validators=[Regexp(r"^(\d{6,8}(-\d{1,2})?)?$",
                           message="Enter a charity number like 1234567, or leave it empty")],
        description="Charity Commission for England and Wales registration number.",
    )
    company_number = StringField(
        "Company number (optional)", filters=[lambda v: clean_line(v).upper() if v else ""],
        validators=[Regexp(r"^([A-Z]{2}\d{6}|\d{8})?$",
                           message="Enter a company number like 01234567 or CE001234, or leave it empty")],
        description="Companies House number, for CICs and charitable companies.",
    )
    local_authority = SelectField("Council area", validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.org_type.choices = list(ORGANISATION_TYPES.items())
        self.local_authority.choices = local_authority_choices()

    def validate_local_authority(self, field):
        """A real council, or none."""
        if field.data and field.data not in {code for code, _ in field.choices if code}:
            raise ValidationError("Select a council from the list")


class EditorDecisionForm(FlaskForm):
    """An editor or staff answer a member's request to edit an organisation."""

    decision = SelectField("Decision", choices=[("approve", "Approve"), ("refuse", "Refuse")], validate_choice=True)


class AppointEditorForm(FlaskForm):
    """Staff appoint one of an organisation's members as its editor (choices set by the route)."""

    member_id = SelectField("Member", validate_choice=False)


class RoomJoinForm(FlaskForm):
    """The short join on a workshop's live page: who you are, no password (the emailed code signs you in).

    The campaign-email and directory choices start unticked; the member type's details are the
    same rule as the full join (`services.member_type_problems`)."""

    name = StringField(
        "Full name", filters=[clean_line],
        validators=[DataRequired("Enter your full name"), MaxLength(120, "Full name")],
    )
    email = email_field()
    member_type = SelectField(
        "I am a", choices=[("", "Select one")] + MEMBER_TYPE_CHOICES,
        validators=[InputRequired("Select what kind of member you are")],
        validate_choice=False,
    )
    organisation = StringField(
        "Organisation name", filters=[clean_line], validators=[MaxLength(160, "Organisation name")],
        description="Required for community organisations, think tanks and academics.",
    )
    local_authority = SelectField(
        "Council", validate_choice=False,
        description="Required for councillors, commissioners and council officers: the council you work for or "
                    "represent.",
    )
    consent_privacy = BooleanField(
        "I have read the privacy notice and agree to the Network holding my details",
        validators=[DataRequired("Agree to the privacy notice to join the Network")],
    )
    consent_marketing = BooleanField("Send me campaign emails: news, workshops and calls for evidence")
    show_in_directory = BooleanField(
        "List me in the member directory, so other members can find me (your email address is never shown)"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local_authority.choices = local_authority_choices()

    def validate_member_type(self, field):
        """Only the listed member types."""
        if field.data not in MEMBER_TYPE_VALUES:
            raise ValidationError("Select what kind of member you are")

    def validate_local_authority(self, field):
        """A council from the list."""
        if field.data and field.data not in {code for code, _ in field.choices if code}:
            raise ValidationError("Select a council from the list")

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then what the member type must give, every problem at once."""
        valid = super().validate(extra_validators)
        member_type = MemberType(self.member_type.data) if self.member_type.data in MEMBER_TYPE_VALUES else None
        for problem in services.member_type_problems(member_type, self.organisation.data, self.local_authority.data):
            getattr(self, problem.field or "member_type").errors.append(problem.message)
            valid = False
        return valid


class NotificationPreferencesForm(FlaskForm):
    """Which optional notifications the member gets, and their consent to campaign emails."""

    notifications = SelectMultipleField(
        "Email me when", choices=[(k.key, k.label) for k in notifications.KINDS.values()],
        description="Tick the notifications you want. Untick one to stop it.")
    consent_marketing = BooleanField("Send me campaign emails: news, workshops and calls for evidence")
