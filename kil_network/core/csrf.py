"""An expired form keeps what was typed: a refused CSRF token re-renders the form, never acts.

Flask-WTF's own check (CSRFProtect's before_request) answers a bad token with a bare 400 and
throws the post away. Instead, the token is checked here and a failure is only *recorded*
(`g.csrf_refused`); the view then runs as usual, under three guards:

1. Every FlaskForm's CSRF check (its `csrf_class`) fails with EXPIRED_MESSAGE, so
   `validate_on_submit()` returns False and the view re-renders its form with what was posted
   and a fresh token, as it does for any other form error. The answer gets status 400.
2. The database refuses any write: a flush, an INSERT/UPDATE/DELETE or a commit raises
   CSRFError (the generic 400 page), so no view can change anything without a valid token.
3. A view that answers in any other way (a plain button post, a redirect, a view with no
   form) gets the generic 400 page instead, and the session is put back as it was (so a
   refused sign-out signs nobody out and no flash is left behind). That page shows what the
   post carried (never a password), so typed text is not lost there either: this covers a
   form whose view redirects on errors, and a member whose session ended (signed out, so
   `login_required` would send them to sign in and the text would be gone).
"""
import copy
import functools

from flask import current_app, g, has_request_context, make_response, session
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, _FlaskFormCSRF
from sqlalchemy import event
from sqlalchemy.orm import Session
from wtforms import ValidationError

from kil_network.core.errors import render_error, typed_values
from kil_network.core.htmx import is_htmx
from kil_network.extensions import db

EXPIRED_MESSAGE = "Your session had expired. Check your answers and send again."
REFUSED_MESSAGE = ("The form had expired or was sent from somewhere else. "
                   "Go back, reload the page and try again.")


def token_refused() -> bool:
    """Was this request's CSRF token refused?"""
    return has_request_context() and g.get("csrf_refused") is not None


class ExpiredFormCSRF(_FlaskFormCSRF):
    """A form's CSRF check: a refused token is a form error with a message people understand."""

    def validate_csrf_token(self, form, field):
        if token_refused():
            g.csrf_form_reported = True
            raise ValidationError(EXPIRED_MESSAGE)
        try:
            super().validate_csrf_token(form, field)
        except ValidationError:
            raise ValidationError(EXPIRED_MESSAGE) from None


def _check_token():
    """Check the token as CSRFProtect would, but record a failure instead of raising."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    try:
        current_app.extensions["csrf"].protect(apply_exemptions=True)
    except CSRFError as exc:
        g.csrf_refused = exc.description
        g.csrf_session_before = copy.deepcopy(dict(session))


def refused_response():
    """The generic 400 page, with the session as it was before the request (its new token kept)."""
    if "csrf_session_before" in g:
        token = session.get("csrf_token")
        session.clear()
        session.update(g.csrf_session_before)
        if token is not None:
            session["csrf_token"] = token
    body, code = render_error(400, REFUSED_MESSAGE, typed=typed_values())
    return make_response(body, code)


def _whole_page_for_htmx(response) -> bool:
    """An htmx request answered with a whole page (the view has no fragment for this form)."""
    return (is_htmx() and response.mimetype == "text/html" and not response.direct_passthrough
            and response.get_data()[:200].lstrip().lower().startswith(b"<!doctype"))


def _guard_view(view):
    """Run the view; with a refused token only a re-rendered form may come back (as a 400)."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        response = view(*args, **kwargs)
        if not token_refused():
            return response
        response = make_response(response)
        if _whole_page_for_htmx(response):
            return refused_response()  # htmx swaps fragments: a view without one gets the error fragment
        if g.get("csrf_form_reported") and (response.status_code < 300 or response.status_code in (400, 422)):
            response.status_code = 400
            return response
        return refused_response()

    return guarded


def _refuse_write(*_args, **_kwargs):
    if token_refused():
        raise CSRFError(g.csrf_refused)


def _refuse_dml(state):
    if token_refused() and (state.is_insert or state.is_update or state.is_delete):
        raise CSRFError(g.csrf_refused)


_listening = False


def csrf_error(error):
    """The form's security token was missing or old (a write refused by this module's guard)."""
    db.session.rollback()
    return refused_response()


def register_csrf(app):
    """Check tokens ourselves, guard every view, and refuse database writes on a refused token.

    Called by the factory after every blueprint is registered (it wraps the views there are)."""
    global _listening
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # CSRFProtect's raising check is replaced by ours
    FlaskForm.Meta.csrf_class = ExpiredFormCSRF
    app.before_request(_check_token)
    app.view_functions.update({name: _guard_view(view) for name, view in app.view_functions.items()})
    app.register_error_handler(CSRFError, csrf_error)
    if not _listening:
        event.listen(Session, "before_flush", _refuse_write)
        event.listen(Session, "before_commit", _refuse_write)
        event.listen(Session, "do_orm_execute", _refuse_dml)
        _listening = True
