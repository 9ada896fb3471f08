"""Jinja filters and globals shared by every template (the ones that need area data: kil_network.site.templating)."""
from flask import has_request_context, url_for

from kil_network.core.forms import length_limit
from kil_network.core.timeutil import format_email_clock, format_email_time, format_london


def htmx_src(app) -> str:
    """Where the page loads htmx from: the pinned CDN URL or the local npm copy."""
    url = app.config["HTMX_URL"]
    if url != "local":
        return url
    if not has_request_context() and not app.config.get("SERVER_NAME"):
        return ""  # no page is being rendered (an email queued from a command or worker)
    return url_for("core.vendor", name="htmx.min.js")


def register_template_helpers(app):
    """Make the helpers available to every template."""
    app.jinja_env.filters["london"] = format_london
    app.jinja_env.filters["email_time"] = format_email_time  # every time in templates/email
    app.jinja_env.filters["email_clock"] = format_email_clock
    app.jinja_env.filters["london_date"] = lambda v: format_london(v, "%-d %B %Y")
    app.jinja_env.globals["length_limit"] = length_limit  # the form macros' character count

    @app.context_processor
    def inject_globals():
        """Values the layout needs on every page."""
        return {
            "htmx_src": htmx_src(app),
            "htmx_sri": app.config["HTMX_SRI"],
            "contact_email": app.config["CONTACT_EMAIL"],
        }
