"""Staff forms."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired

from kil_network.auth.models import Role
from kil_network.core.forms import MaxLength, clean_line


class RoleForm(FlaskForm):
    """Change a member's role."""

    role = SelectField("Role", choices=[(r.value, r.value.capitalize()) for r in Role],
                       validators=[InputRequired("Select a role")])


class SuspendForm(FlaskForm):
    """Suspend a member, with an optional reason for the audit log."""

    reason = StringField("Reason (optional, kept in the audit log)", filters=[clean_line],
                         validators=[MaxLength(300, "Reason")])
