"""Staff: rounds (create from the last, edit, open, close, adopt), responses, live projector."""
import sqlalchemy as sa
from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from kil_network.core import submissions
from kil_network.core.decorators import staff_required
from kil_network.core.email import external_url
from kil_network.core.htmx import is_htmx, render, render_form
from kil_network.core.rules import refused_to, refused_to_flash
from kil_network.extensions import db
from kil_network.principles import results, services
from kil_network.principles.forms import RespondForm, RoundForm
from kil_network.principles.models import Eligibility, ResponseStatus, Round, Suggestion
from kil_network.workshops import services as workshop_services
from kil_network.workshops.qr import qr_svg
from kil_network.workshops.routes import get_workshop_or_404

bp = Blueprint("staff_principles", __name__)


def get_round_or_404(round_id: int) -> Round:
    """Any round (staff see drafts too)."""
    return db.get_or_404(Round, round_id)


@bp.get("/rounds/")
@staff_required
def rounds():
    """Every round with its state and suggestions awaiting a response."""
    rounds = db.session.scalars(sa.select(Round).order_by(Round.id.desc())).all()
    waiting = dict(db.session.execute(
        sa.select(Round.id, sa.func.count(Suggestion.id)).join(Round.drafts).join(Suggestion)
        .where(Suggestion.response_status.is_(None)).group_by(Round.id)
    ).tuples().all())
    return render("principles/staff/rounds.html", rounds=rounds, waiting=waiting)


@bp.route("/rounds/new", methods=["GET", "POST"])
@staff_required
def new_round():
    """Start the next round: the latest drafts are copied for editing."""
    form = RoundForm()
    del form.drafts
    if form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one round
        if earlier:
            return redirect(earlier, code=303)
        with refused_to(form, "name") as outcome:
            round_ = services.create_round(current_user, name=form.name.data,
                                           introduction=form.introduction.data or "",
                                           opens_at=form.opens_at.data, closes_at=form.closes_at.data,
                                           eligibility=Eligibility(form.eligibility.data))
        if outcome.ok:
            done = url_for("staff_principles.edit_round", round_id=round_.id)
            submissions.complete(done)
            db.session.commit()
            flash("Round created with the latest drafts copied in. Edit the drafts, then open it for votes.", "success")
            return redirect(done, code=303)
    return render_form("principles/staff/round_form.html", "principles/staff/_round_form.html", form, round=None)


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_round(round_id):
    """Edit a round; its six drafts too while it is still a draft."""
    round_ = get_round_or_404(round_id)
    drafts = services.drafts_of(round_)
    if request.method == "POST":
        form = RoundForm()
    else:
        form = RoundForm(data={
            "name": round_.name, "introduction": round_.introduction, "opens_at": round_.opens_at,
            "closes_at": round_.closes_at, "eligibility": round_.eligibility.value,
            "drafts": [{"draft_id": d.id, "title": d.title, "text": d.text,
                        "what_changed": d.what_changed} for d in drafts],
        })
    editable = round_.is_draft  # the drafts' wording can change only before votes are tied to it
    if not editable:
        del form.drafts
    if form.validate_on_submit():
        draft_values = None
        if editable:
            draft_values = {int(entry.draft_id.data): {"title": entry.title.data, "text": entry.text.data,
                                                        "what_changed": entry.what_changed.data or ""}
                            for entry in form.drafts if (entry.draft_id.data or "").isdecimal()}
        with refused_to(form, "name") as outcome:
            services.update_round(current_user, round_, name=form.name.data,
                                  introduction=form.introduction.data or "",
                                  opens_at=form.opens_at.data, closes_at=form.closes_at.data,
                                  eligibility=Eligibility(form.eligibility.data), drafts=draft_values)
        if outcome.ok:
            db.session.commit()
            flash("Round saved.", "success")
            return redirect(url_for("staff_principles.edit_round", round_id=round_.id), code=303)
    return render_form("principles/staff/round_form.html", "principles/staff/_round_form.html", form,
                       round=round_, drafts=drafts, editable=editable)


def _round_action(round_id, action, message):
    """Run open/close/adopt and go back to the round list."""
    round_ = get_round_or_404(round_id)
    with refused_to_flash() as outcome:
        action(current_user, round_)
    if outcome.ok:
        db.session.commit()
        flash(message.format(name=round_.name), "success")
    return redirect(url_for("staff_principles.rounds"), code=303)


@bp.post("/rounds/<int:round_id>/open")
@staff_required
def open_round(round_id):
    """Open a round for votes."""
    return _round_action(round_id, services.open_round_for_votes, "“{name}” is open for votes.")


@bp.post("/rounds/<int:round_id>/close")
@staff_required
def close_round(round_id):
    """Close a round."""
    return _round_action(round_id, services.close_round, "“{name}” is closed; its results are public.")


@bp.post("/rounds/<int:round_id>/adopt")
@staff_required
def adopt_round(round_id):
    """Adopt a closed round's drafts as the principles."""
    return _round_action(round_id, services.adopt_round, "The drafts of “{name}” are now the adopted principles.")


@bp.route("/suggestions/<int:suggestion_id>/respond", methods=["GET", "POST"])
@staff_required
def respond(suggestion_id):
    """Say what happened to a suggestion."""
    suggestion = db.get_or_404(Suggestion, suggestion_id)
    form = RespondForm(data=None if request.method == "POST" else {
        "status": suggestion.response_status.value if suggestion.response_status else None,
        "response_text": suggestion.response_text})
    if form.validate_on_submit():
        with refused_to(form, "response_text") as outcome:
            services.respond(current_user, suggestion, ResponseStatus(form.status.data), form.response_text.data)
        if outcome.ok:
            db.session.commit()
            flash("Response saved. It shows on the round's “You said, we did” page.", "success")
            return redirect(url_for("principles.responses", round_id=suggestion.draft.round_id), code=303)
    return render_form("principles/staff/respond.html", "principles/staff/_respond_form.html", form,
                       suggestion=suggestion)


@bp.get("/workshops/<int:workshop_id>/live")
@staff_required
def live(workshop_id):
    """The projector page: QR code and short link to vote, and live bars for this workshop."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    round_ = workshop.round
    short_url = external_url("principles.workshop_link", workshop_id=workshop.id)
    drafts, counts = results.live_tallies(workshop.id, round_) if round_ else ([], {})
    # The bars poll every few seconds; only the full page shows the QR code, so only it builds one.
    qr = None if is_htmx() else qr_svg(short_url, f"QR code: vote at {short_url}")
    return render("principles/staff/live.html", "principles/staff/_live_bars.html", workshop=workshop, round=round_,
                  short_url=short_url, qr=qr, drafts=drafts, counts=counts)


@bp.post("/workshops/<int:workshop_id>/live")
@staff_required
def toggle_live(workshop_id):
    """Open (open=1) or close (open=0) live voting for a workshop: a set, so a second click changes nothing."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    wanted = request.form.get("open")
    if wanted not in ("0", "1"):
        flash("Choose whether to open or close live voting.", "error")
        return redirect(url_for("staff_principles.live", workshop_id=workshop.id), code=303)
    with refused_to_flash() as outcome:
        workshop_services.set_live_voting(current_user, workshop, wanted == "1")
    if not outcome.ok:
        return redirect(url_for("staff_principles.live", workshop_id=workshop.id), code=303)
    db.session.commit()
    flash("Live voting is open: votes from the QR link count for this workshop." if workshop.live_voting
          else "Live voting is closed.", "success")
    return redirect(url_for("staff_principles.live", workshop_id=workshop.id), code=303)
