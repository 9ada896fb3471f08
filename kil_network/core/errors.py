"""Friendly error pages; htmx requests get a fragment instead of a whole page."""
from flask import render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from kil_network.core.htmx import is_htmx
from kil_network.extensions import db

MESSAGES = {
    400: ("There is a problem with the request", "Go back, reload the page and try again."),
    403: ("You do not have permission to see this page", "If you think you should, contact the campaign team."),
    404: ("Page not found",
          "If you typed the web address, check it is correct. If you pasted it, check you copied the whole address."),
    405: ("That action is not allowed here", "Go back and try again."),
    413: ("That is too large", "Go back and send something smaller."),
    422: ("There is a problem with the request", "Go back and check what you entered."),
    429: ("Too many attempts",
          "You have tried this too many times in a short time. Wait a few minutes, then try again."),
    500: ("Sorry, there is a problem with the service", "Try again later. Nothing you entered has been saved."),
}


NOT_TYPED = {"csrf_token", "submission_key", "back", "workshop"}  # hidden fields, not typed


def typed_values() -> list[str]:
    """What a refused post carried, to show back so it can be copied (never a password)."""
    return [value for name, value in request.form.items(multi=True)
            if name not in NOT_TYPED and "password" not in name.lower() and value.strip()]


def _typed_if_posted() -> list[str]:
    """What this post carried (a limit or a fault refused it: the text is not lost), else nothing."""
    if request.method != "POST":
        return []
    try:
        return typed_values()
    except Exception:  # a body that cannot be read as a form (too large, malformed): nothing to show
        return []


def render_error(code: int, detail: str | None = None, typed: list[str] | None = None):
    """The error page, or its fragment for htmx (with what a refused post carried, if given)."""
    title, hint = MESSAGES.get(code, MESSAGES[500])
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, code=code, title=title, hint=detail or hint, typed=typed or []), code


def register_errorhandlers(app):
    """Handle HTTP errors and unexpected exceptions (CSRF failures: core.csrf.register_csrf)."""

    @app.errorhandler(SecurityError)
    def untrusted_host(error):
        """A Host header outside TRUSTED_HOSTS (BASE_URL's host and TRUSTED_HOSTS): no URLs can be
        built for it, so a plain page, no template."""
        return ("This site answers only at its own address.\n", 400,
                {"Content-Type": "text/plain; charset=utf-8"})

    @app.errorhandler(HTTPException)
    def http_error(error):
        """Any HTTP error with a friendly page."""
        if error.code in (301, 302, 303, 307, 308) or error.code is None:
            return error
        # A rate limit on a form: the page shows what was typed, to copy (the areas' own 429 handlers
        # give the form itself back where they can).
        body, code = render_error(error.code, typed=_typed_if_posted() if error.code == 429 else None)
        # Keep the headers the error carries (Allow on a 405, for example).
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return body, code, headers

    @app.errorhandler(InternalServerError)
    def server_error(error):
        """Roll back the failed transaction and say sorry."""
        db.session.rollback()
        return render_error(500, typed=_typed_if_posted())
