"""Staff: the moderation queue of vote comments and suggestions, and its decisions (approve, hide
with a reason, redact). The rules are in `kil_network.principles.moderation`.

Each item of the queue owns its region: with htmx a decision answers with that item re-rendered
(and the counts, out of band); without JavaScript it redirects (303) back to the queue with its
filters. A refused hide or redact (no reason, no wording) comes back with what was typed: the
item's form for htmx (422), its own page otherwise.
"""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from kil_network.core.decorators import staff_required
from kil_network.core.htmx import is_htmx, render
from kil_network.core.params import choice_arg, id_arg, int_arg, page_arg
from kil_network.core.rules import refused_to
from kil_network.extensions import db
from kil_network.principles import moderation
from kil_network.principles.forms import ApproveForm, HideForm, RedactForm
from kil_network.principles.models import Moderation

bp = Blueprint("moderation", __name__)


def _filters(source=None) -> dict:
    """The queue's filters, from the query string or (after a decision) the posted form."""
    return {"status": choice_arg("status", [s.value for s in Moderation], Moderation.PENDING.value, source=source),
            "kind": choice_arg("kind", moderation.KINDS, source=source),
            "round": id_arg("round", source=source)}


def _args(filters: dict, page: int | None = None) -> dict:
    """The filters worth putting in a URL (the default status is left out)."""
    args = {k: v for k, v in filters.items() if v and not (k == "status" and v == Moderation.PENDING.value)}
    if page and page > 1:
        args["page"] = page
    return args


def _form_for(item: moderation.Item, mode: str, form=None):
    """The item's form for this mode (the inline hide form in "view"), its fields' ids made unique
    on a page that lists many items ("reason-comment-12")."""
    if form is None or (mode == "view" and not isinstance(form, HideForm)):
        if mode == "redact":
            form = RedactForm(formdata=None, data={"text": item.published, "reason": item.published_reason})
        else:
            form = HideForm(formdata=None, data={"reason": item.hidden_reason})
    for field in form:
        if field.type == "TextAreaField":
            field.id = f"{field.name}-{item.key}"
    return form


def get_item_or_404(kind: str, item_id: int) -> moderation.Item:
    """The vote comment or suggestion, or 404 (an unknown kind, a vote without a comment)."""
    item = moderation.item_for(kind, item_id)
    if item is None:
        abort(404)
    return item


@bp.get("/moderation")
@staff_required
def queue():
    """What members wrote for publication, waiting for a decision (or approved, or hidden), by
    round and kind, oldest first; htmx swaps the list when a filter changes."""
    filters = _filters()
    status = Moderation(filters["status"])
    counts = moderation.counts()
    page = moderation.queue(status=status, kind=filters["kind"],
                            round_id=int(filters["round"]) if filters["round"] else None, page=page_arg())
    return render("principles/staff/moderation.html", "principles/staff/_moderation_list.html",
                  pagination=page, filters=filters, status=status, args=_args(filters), back=_args(filters, page.page),
                  forms={item.key: _form_for(item, "view") for item in page.items},
                  counts=counts, moderation_waiting=counts[Moderation.PENDING]["total"],
                  rounds=moderation.rounds_with_pending(),
                  kinds=moderation.KIND_LABELS, statuses=list(Moderation))


def _back_to_queue():
    """After a decision without JavaScript: the queue, with the filters and page it was made from."""
    filters = _filters(request.form)
    page = int_arg(request.form.get("page")) or 1
    return redirect(url_for("moderation.queue", **_args(filters, page)), code=303)


def _item(item: moderation.Item, *, status_code: int = 200, mode: str = "view", form=None, message: str = ""):
    """The item re-rendered for htmx (with the counts out of band)."""
    return render("principles/staff/_moderation_item.html", item=item, mode=mode,
                  form=_form_for(item, mode, form), errors=_errors(form), message=message,
                  back=_args(_filters(request.form), int_arg(request.form.get("page")) or 1),
                  counts=moderation.counts(), oob_counts=True, status_code=status_code)


def _errors(form) -> list[tuple[str | None, str]]:
    """A refused form's messages as (field id or None, message), for the item's error summary:
    the hidden `seen` field and the token link to nothing."""
    if form is None:
        return []
    return [(None if name in ("seen", "csrf_token") or name not in form else form[name].id, error)
            for name, messages in form.errors.items() for error in messages]


def _decided(item: moderation.Item, changed: bool, done: str, unchanged: str):
    """Commit a decision and answer: the item (htmx) or back to the queue."""
    db.session.commit()
    message = done if changed else unchanged
    if is_htmx():
        return _item(get_item_or_404(item.kind, item.id), message=message)
    flash(message, "success")
    return _back_to_queue()


def _refused(item: moderation.Item, form, mode: str, page: str):
    """A refused decision: the item's form again with what was typed and the error."""
    if is_htmx():
        return _item(get_item_or_404(item.kind, item.id), mode=mode, form=form, status_code=422)
    item = get_item_or_404(item.kind, item.id)
    return render(page, item=item, mode=mode, form=_form_for(item, mode, form), errors=_errors(form),
                  back=_args(_filters(request.form), int_arg(request.form.get("page")) or 1), status_code=422)


@bp.post("/moderation/<item_kind>/<int:item_id>/approve")
@staff_required
def approve(item_kind, item_id):
    """Publish it as it is (or as staff redacted it)."""
    item = get_item_or_404(item_kind, item_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _refused(item, form, "view", "principles/staff/moderation_item.html")
    with refused_to(form, "seen") as outcome:
        changed = moderation.approve(current_user, item.row, form.seen.data or None)
    if not outcome.ok:
        return _refused(item, form, "view", "principles/staff/moderation_item.html")
    return _decided(item, changed, "Approved: it is published with the results.", "It was already approved.")


@bp.route("/moderation/<item_kind>/<int:item_id>/hide", methods=["GET", "POST"])
@staff_required
def hide(item_kind, item_id):
    """Keep it off the public pages, with a reason (the form on its own page without JavaScript)."""
    item = get_item_or_404(item_kind, item_id)
    form = HideForm(data=None if request.method == "POST" else {"reason": item.hidden_reason,
                                                                   "seen": item.fingerprint})
    if request.method == "GET":
        return render("principles/staff/moderation_item.html", "principles/staff/_moderation_item.html",
                      item=item, mode="hide", form=_form_for(item, "hide", form), errors=[],
                      back=_args(_filters(), page_arg()))
    if not form.validate_on_submit():
        return _refused(item, form, "hide", "principles/staff/moderation_item.html")
    with refused_to(form, "reason") as outcome:
        changed = moderation.hide(current_user, item.row, form.reason.data, form.seen.data or None)
    if not outcome.ok:
        return _refused(item, form, "hide", "principles/staff/moderation_item.html")
    return _decided(item, changed, "Hidden: it is not published. The member sees your reason.",
                    "It was already hidden for that reason.")


@bp.route("/moderation/<item_kind>/<int:item_id>/redact", methods=["GET", "POST"])
@staff_required
def redact(item_kind, item_id):
    """Edit the wording that is published, the member's own beside it; saving approves it."""
    item = get_item_or_404(item_kind, item_id)
    form = RedactForm(data=None if request.method == "POST" else {
        "text": item.published, "reason": item.published_reason, "seen": item.fingerprint})
    if request.method == "GET":
        return render("principles/staff/moderation_item.html", "principles/staff/_moderation_item.html",
                      item=item, mode="redact", form=_form_for(item, "redact", form), errors=[],
                      back=_args(_filters(), page_arg()))
    if not form.validate_on_submit():
        return _refused(item, form, "redact", "principles/staff/moderation_item.html")
    with refused_to(form, "text") as outcome:
        changed = moderation.redact(current_user, item.row, form.text.data,
                                    None if item.is_comment else (form.reason.data or ""), form.seen.data or None)
    if not outcome.ok:
        return _refused(item, form, "redact", "principles/staff/moderation_item.html")
    return _decided(item, changed, "Published with your wording. The member's own words are kept.",
                    "That wording was already published.")
