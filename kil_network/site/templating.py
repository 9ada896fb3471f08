"""Template filters that need area data (registered by the factory after core's)."""
from kil_network.auth.models import MEMBER_TYPE_LABELS, MemberType


def member_type_label(value) -> str:
    """'community_organisation' -> 'Community organisation'."""
    try:
        return MEMBER_TYPE_LABELS[MemberType(getattr(value, "value", value))]
    except ValueError:
        return str(value)


def register_site_template_helpers(app):
    """Make the area-aware filters available to every template: `|member_type`."""
    app.jinja_env.filters["member_type"] = member_type_label
