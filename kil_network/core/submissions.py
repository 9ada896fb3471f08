"""One-time submission keys: a create form posted twice creates one thing.

A create form carries a hidden random key (`{{ submission_key_field() }}`, rendered with the form
and kept when the form comes back with errors). When the post is valid the route calls `claim()`
before creating anything: the key is inserted into `submission_keys` (unique) in the same
transaction as the rows it creates, and `complete(url)` records where the result is. A repeat
post with the same key (a double click, a resend, two identical posts at the same moment) finds
the committed key and is sent to that first result: no second row, no second email.

Two identical posts at once: both insert the key; on PostgreSQL the second INSERT waits for the
first transaction and then fails on the unique constraint (on SQLite writers queue for the
database lock), so the loser rolls back and returns the winner's result.

    if form.validate_on_submit():
        earlier = submissions.claim()
        if earlier:
            return redirect(earlier, code=303)
        thing = services.create_thing(...)
        submissions.complete(url_for("area.thing", thing_id=thing.id))
        db.session.commit()
"""
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import flash, g, request
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from kil_network.core.timeutil import UTCDateTime, utcnow
from kil_network.extensions import Model, db

FIELD = "submission_key"
KEEP_FOR = timedelta(days=7)
_KEY_RE = re.compile(r"[A-Za-z0-9_-]{32,64}")
ALREADY_SENT = "You had already sent this. It was saved once; here it is."


class SubmissionKey(Model):
    """A create form's one-time key, and where its result is."""

    __tablename__ = "submission_keys"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(sa.String(100))
    result_url: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def new_key() -> str:
    """A fresh random key."""
    return secrets.token_urlsafe(32)


def posted_key() -> str | None:
    """The key this post carries, if it is a well-formed one."""
    key = request.form.get(FIELD, "") if request.method == "POST" else ""
    return key if _KEY_RE.fullmatch(key) else None


def submission_key_field(fresh: bool = False) -> Markup:
    """The hidden input for a create form: the posted key when the form comes back, else a new one.

    `fresh=True` for the other forms of a page that a post re-renders (a list of buttons): they
    must never carry the key of the form that was posted."""
    key = new_key() if fresh else posted_key() or new_key()
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(key)}">')


def _result_of(row: SubmissionKey | None) -> str:
    """Where a used key's result is (the form's own page if it was never recorded)."""
    flash(ALREADY_SENT, "info")
    return (row.result_url if row is not None else None) or request.path


def earlier_result() -> str | None:
    """The first result of this post's key, if that post was saved (a read: safe before validating)."""
    key = posted_key()
    if key is None:
        return None
    row = db.session.get(SubmissionKey, key)
    return _result_of(row) if row is not None else None


def claim() -> str | None:
    """Claim this post's key before creating anything; the earlier result's URL if it was used.

    A post without a key (an old page, a script) is not protected, as before. On a lost race the
    whole transaction is rolled back (nothing of this request is kept) and the winner's result
    is returned.
    """
    key = posted_key()
    if key is None:
        return None
    row = db.session.get(SubmissionKey, key)
    if row is not None:
        return _result_of(row)
    db.session.add(SubmissionKey(key=key, endpoint=(request.endpoint or "")[:100]))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return _result_of(db.session.get(SubmissionKey, key))
    g.submission_key = key
    return None


def complete(result_url: str) -> None:
    """Record where the result of the claimed post is (in the transaction that creates it)."""
    key = g.get("submission_key")
    if key is None:
        return
    row = db.session.get(SubmissionKey, key)
    if row is not None:
        row.result_url = result_url[:500]
    db.session.execute(sa.delete(SubmissionKey).where(SubmissionKey.created_at < utcnow() - KEEP_FOR))


def register_submission_keys(app) -> None:
    """Make `submission_key_field()` available to every template."""
    app.jinja_env.globals["submission_key_field"] = submission_key_field
