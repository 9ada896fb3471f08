"""The one way a service refuses something, and the one way a route shows the refusal.

Every rule that decides whether something may happen lives in an area's `services.py` and
raises `RuleError` there (the CLI, the demo data and every route then obey it alike). A route
calls the service inside `refused_to(form, "field")` or `refused_to_flash()`: a refusal rolls
the session back and puts the message on the form field (or in a flash message) instead of the
22 copies of the same `except` block the areas used to have.

    with refused_to(form, "title") as outcome:
        workshop = services.create_workshop(...)
    if outcome.ok:
        db.session.commit()
        return redirect(...)
    return render_template(..., form=form)
"""
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import flash

from kil_network.extensions import db


class RuleError(Exception):
    """A rule refused the action. The message is safe to show; `field` names the form field it is about."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotPermitted(RuleError):
    """The person may not do this at all: routes answer 403 rather than showing a form error."""


@dataclass
class Outcome:
    """What happened inside `refused_to`: `ok` until a rule refused; then `error` is the refusal."""

    ok: bool = True
    error: RuleError | None = None


@contextmanager
def _refused(show) -> Iterator[Outcome]:
    """Run service calls; a `RuleError` rolls back, is recorded on the outcome and shown by `show`.
    `NotPermitted` is not caught: it is not the person's input that is wrong (routes answer 403)."""
    outcome = Outcome()
    try:
        yield outcome
    except NotPermitted:
        raise
    except RuleError as exc:
        db.session.rollback()
        outcome.ok, outcome.error = False, exc
        show(exc)


def refused_to(form, default_field: str):
    """A refusal becomes an error on the form: on the field the rule named (`RuleError.field`)
    when the form has it, else on `default_field`."""

    def show(exc: RuleError) -> None:
        field = getattr(form, exc.field, None) if exc.field else None
        (field if field is not None else getattr(form, default_field)).errors.append(exc.message)

    return _refused(show)


def refused_to_flash():
    """A refusal becomes an error flash message."""
    return _refused(lambda exc: flash(exc.message, "error"))
