"""Staff messages (compose, audience, preview, test, schedule, send, progress) and members' updates."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from kil_network.core import submissions
from kil_network.core.decorators import staff_required
from kil_network.core.htmx import render, render_form
from kil_network.core.params import choice_arg, page_arg
from kil_network.core.rules import refused_to, refused_to_flash
from kil_network.extensions import db
from kil_network.messages import services
from kil_network.messages.forms import MessageForm, ScheduleForm, filters_from_args
from kil_network.messages.models import Message, MessageKind, MessageStatus

bp = Blueprint("staff_messages", __name__)
updates_bp = Blueprint("updates", __name__)


def get_message_or_404(message_id: int) -> Message:
    """The message with this id, or 404."""
    return db.get_or_404(Message, message_id)


def _count_context(filters: dict, kind: str) -> dict:
    """The live count's figures for these filters and kind."""
    kind_value = MessageKind(kind) if kind in {k.value for k in MessageKind} else MessageKind.CAMPAIGN
    recipients, no_consent, undeliverable = services.audience.count(filters, kind_value)
    return {"recipients": recipients, "no_consent": no_consent, "undeliverable": undeliverable,
            "kind": kind_value}


@bp.get("/")
@staff_required
def index():
    """Every message, newest first, with how many are in each state."""
    status = choice_arg("status", [s.value for s in MessageStatus])
    pagination = db.paginate(services.messages_query(status), page=page_arg(), per_page=50, error_out=False)
    return render("messages/index.html", pagination=pagination, counts=services.list_counts(), status=status,
                  statuses=list(MessageStatus))


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def new():
    """Write a message and choose its audience (saved as a draft)."""
    form = MessageForm()
    if form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one draft
        if earlier:
            return redirect(earlier, code=303)
        with refused_to(form, "subject") as outcome:
            message = services.create_draft(current_user, form.to_data())
        if outcome.ok:
            done = url_for("staff_messages.show", message_id=message.id)
            submissions.complete(done)
            db.session.commit()
            flash("The message is saved as a draft. Preview it, send yourself a test, then send or schedule it.",
                  "success")
            return redirect(done, code=303)
    return render_form("messages/compose.html", "messages/_form.html", form, message=None,
                       **_count_context(form.audience_data(), form.kind.data or ""))


@bp.route("/<int:message_id>", methods=["GET", "POST"])
@staff_required
def show(message_id):
    """A draft: its form (edit) and actions. Otherwise: its state, and delivery progress once sent."""
    message = get_message_or_404(message_id)
    if message.status != MessageStatus.DRAFT:
        if request.method == "POST":
            flash(f"This message is {message.status.label.lower()}: it can no longer be changed.", "error")
            return redirect(url_for("staff_messages.show", message_id=message.id), code=303)
        return render("messages/sent.html", message=message, progress=services.progress(message),
                      schedule_form=None)
    form = MessageForm(obj=None if request.method == "POST" else message)
    if request.method == "GET":
        form.fill_audience(message.audience or {})
        form.kind.data = message.kind.value
    if form.validate_on_submit():
        with refused_to(form, "subject") as outcome:
            services.update_draft(current_user, message, form.to_data())
        if outcome.ok:
            db.session.commit()
            flash("Changes saved.", "success")
            return redirect(url_for("staff_messages.show", message_id=message.id), code=303)
    return render_form("messages/compose.html", "messages/_form.html", form, message=message,
                       schedule_form=ScheduleForm(formdata=None),
                       **_count_context(form.audience_data(), form.kind.data or ""))


@bp.get("/count")
@staff_required
def count():
    """The live recipient count for the filters in the query string (the compose form's htmx GET)."""
    context = _count_context(filters_from_args(), choice_arg("kind", [k.value for k in MessageKind]))
    return render("messages/count.html", "messages/_count.html", **context)


@bp.get("/<int:message_id>/preview")
@staff_required
def preview(message_id):
    """The message as recipients get it: HTML (in a sandboxed frame) and plain text."""
    message = get_message_or_404(message_id)
    return render("messages/preview.html", message=message, rendered=services.preview(message))


@bp.post("/<int:message_id>/test")
@staff_required
def send_test(message_id):
    """Email a test copy to the staff member themselves."""
    message = get_message_or_404(message_id)
    with refused_to_flash() as outcome:
        services.send_test(current_user, message)
    if outcome.ok:
        db.session.commit()
        flash(f"A test copy is on its way to {current_user.email}.", "success")
    return redirect(url_for("staff_messages.show", message_id=message.id), code=303)


@bp.post("/<int:message_id>/schedule")
@staff_required
def schedule(message_id):
    """Schedule a draft for a time (UK time)."""
    message = get_message_or_404(message_id)
    form = ScheduleForm()
    if form.validate_on_submit():
        with refused_to(form, "send_at") as outcome:
            services.schedule(current_user, message, form.send_at.data)
        if outcome.ok:
            db.session.commit()
            flash("The message is scheduled.", "success")
            return redirect(url_for("staff_messages.show", message_id=message.id), code=303)
    if message.status != MessageStatus.DRAFT:
        return redirect(url_for("staff_messages.show", message_id=message.id), code=303)
    compose = MessageForm(obj=message)
    compose.fill_audience(message.audience or {})
    compose.kind.data = message.kind.value
    return render("messages/compose.html", form=compose, message=message, schedule_form=form,
                  **_count_context(message.audience or {}, message.kind.value))


@bp.post("/<int:message_id>/cancel")
@staff_required
def cancel(message_id):
    """Cancel a scheduled message: it is not sent."""
    message = get_message_or_404(message_id)
    with refused_to_flash() as outcome:
        services.cancel(current_user, message)
    if outcome.ok:
        db.session.commit()
        flash("The scheduled message is cancelled: it will not be sent.", "success")
    return redirect(url_for("staff_messages.show", message_id=message.id), code=303)


@bp.post("/<int:message_id>/send")
@staff_required
def send(message_id):
    """Queue the message to its audience now; the sending page shows delivery."""
    message = get_message_or_404(message_id)
    with refused_to_flash() as outcome:
        queued = services.send_now(current_user, message)
    if outcome.ok:
        db.session.commit()
        flash(f"The message is queued to {queued:,} members.", "success")
    return redirect(url_for("staff_messages.show", message_id=message.id), code=303)


@bp.get("/<int:message_id>/progress")
@staff_required
def progress(message_id):
    """Delivery so far (the sending page polls this every 2 seconds until it reaches 100%)."""
    message = get_message_or_404(message_id)
    return render("messages/sent.html", "messages/_progress.html", message=message,
                  progress=services.progress(message), schedule_form=None)


@updates_bp.get("/")
@login_required
def index_updates():
    """The campaign updates this member was sent, newest first."""
    pagination = db.paginate(services.updates_for(current_user), page=page_arg(), per_page=20, error_out=False)
    return render("messages/updates.html", pagination=pagination)


@updates_bp.get("/<int:message_id>")
@login_required
def update(message_id):
    """One update the member was sent (404 for any other)."""
    message = services.update_for(current_user, message_id)
    if message is None:
        abort(404)
    return render("messages/update.html", message=message, body_html=services.render_html(message.body))
