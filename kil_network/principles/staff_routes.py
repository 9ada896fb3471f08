"""Staff: rounds (create from the last, edit, open, close, adopt), responses, the presenter screen
and its control."""
import zlib
from datetime import UTC

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from kil_network.core import submissions
from kil_network.core.decorators import staff_required
from kil_network.core.email import external_url
from kil_network.core.htmx import is_htmx, render, render_form
from kil_network.core.params import choice_arg, text_arg
from kil_network.core.rules import RuleError, refused_to, refused_to_flash
from kil_network.extensions import db
from kil_network.principles import results, services
from kil_network.principles.forms import RespondForm, RoundForm
from kil_network.principles.models import Eligibility, Moderation, ResponseStatus, Round, Suggestion
from kil_network.principles.services import drafts_of
from kil_network.workshops import services as workshop_services
from kil_network.workshops.models import Workshop
from kil_network.workshops.qr import qr_svg
from kil_network.workshops.room import RoomCode, current_code
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
        .where(Suggestion.response_status.is_(None), Suggestion.moderation == Moderation.APPROVED)  # as listed
        .group_by(Round.id)
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
        del form.eligibility  # fixed once the round opens: the page shows it as text
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
                                  eligibility=Eligibility(form.eligibility.data) if editable else round_.eligibility,
                                  drafts=draft_values)
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


def _confirmed() -> bool:
    """The confirmation page's button was pressed (its form carries confirm=1): only then does a
    decision that cannot be undone go ahead; a GET, or a POST without it, shows that page."""
    return request.method == "POST" and request.form.get("confirm") == "1"


@bp.route("/rounds/<int:round_id>/close", methods=["GET", "POST"])
@staff_required
def close_round(round_id):
    """Close a round, once staff confirm on the page that says what closing does."""
    if _confirmed():
        return _round_action(round_id, services.close_round,
                             "“{name}” is closed; its results are public. You can reopen it within 24 hours "
                             "if you closed it by mistake, until its results are downloaded.")
    round_ = get_round_or_404(round_id)
    return render("principles/staff/close_confirm.html", round=round_, effects=services.close_effects(round_))


@bp.post("/rounds/<int:round_id>/reopen")
@staff_required
def reopen_round(round_id):
    """Reopen a round closed by mistake (within 24 hours, its results not yet downloaded)."""
    return _round_action(round_id, services.reopen_round,
                         "“{name}” is open for votes again; its results are no longer public.")


@bp.route("/rounds/<int:round_id>/adopt", methods=["GET", "POST"])
@staff_required
def adopt_round(round_id):
    """Adopt a closed round's drafts as the principles, once staff confirm on the page that says so."""
    if _confirmed():
        return _round_action(round_id, services.adopt_round,
                             "The drafts of “{name}” are now the adopted principles.")
    round_ = get_round_or_404(round_id)
    return render("principles/staff/adopt_confirm.html", round=round_, effects=services.adopt_effects(round_),
                  drafts=drafts_of(round_))


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


# --- The presenter screen and its remote control ---------------------------------------------
# The screen (/present) is a projector page without the site's chrome; staff steer it from a
# phone (/control). The screen polls /present/poll every second with two tokens: what its board
# shows (the control's present_version and the tallies) and what its join panel shows (the room
# code, or "closed"). Nothing changed: 204 (htmx swaps nothing). Otherwise only the changed parts
# come back, out of band. A poll sends two queries (the signed-in user; the workshop with its
# principles and tallies) and builds a QR code only when the room code changed (once a minute).

SHOW_ALL = "all"


def _board_token(state: results.PresenterState) -> str:
    """What the board shows, in a few characters: the control's version and the tallies (only
    their totals while they are hidden, so that a changed vote re-renders nothing)."""
    if state.tallies_shown:
        seen = [(p.number, p.support, p.amend, p.oppose) for p in state.principles]
    else:
        seen = [(p.number, p.total, 0, 0) for p in state.principles]
    return f"{state.present_version}.{state.round_id or 0}.{zlib.crc32(repr(seen).encode()):x}"


def _join_token(state: results.PresenterState, room: RoomCode) -> str:
    """What the join panel shows: the room code while live voting is open, else "closed"."""
    return room.code if state.live_voting and state.round_id else "closed"


def _room_code(state: results.PresenterState) -> RoomCode:
    return current_code(state)


def _presenter(state: results.PresenterState, room: RoomCode, *, board: bool = True, join: bool = True) -> dict:
    """The presenter's template context: the board (principles and tallies) and the join panel
    (QR code, short URL and room code), each only when asked for. No query."""
    context: dict = {"state": state, "board_token": _board_token(state), "join_token": _join_token(state, room),
                     "with_board": board, "with_join": join}
    if board:
        one = next((p for p in state.principles if p.number == state.present_number), None)
        context.update(principles=[one] if one else state.principles, one=one)
    if join:
        short_url = external_url("principles.workshop_link", workshop_id=state.id)
        context.update(room=room, voting_open=context["join_token"] != "closed",
                       short_url=short_url.partition("://")[2] or short_url)
        if context["voting_open"]:
            vote_url = external_url("principles.workshop_link", workshop_id=state.id, code=room.code)
            context["qr"] = qr_svg(vote_url, f"QR code: scan to vote (room code {room.code})")
    return context


@bp.get("/workshops/<int:workshop_id>/present")
@staff_required
def present(workshop_id):
    """The presenter screen: full screen, no site chrome; no personal data on it."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    state = results.presenter_state(workshop.id)
    if state is None:
        abort(404)
    return render_template("principles/staff/present.html", workshop=workshop, round=workshop.round,
                           **_presenter(state, _room_code(state)))


@bp.get("/workshops/<int:workshop_id>/present/poll")
@staff_required
def present_poll(workshop_id):
    """The screen's poll: 204 when nothing it shows changed, else the changed parts (out of band).
    One query besides the signed-in user's (`presenter_state`); a QR code is built only when the
    room code changed (once a minute; qr_svg keeps it)."""
    state = results.presenter_state(workshop_id)
    if state is None:
        abort(404)
    room = _room_code(state)
    board = _board_token(state) != text_arg("board", 80, lenient=True)
    join = _join_token(state, room) != text_arg("join", 80, lenient=True)
    if not (board or join):
        return Response(status=204)
    return render_template("principles/staff/_present_poll.html", **_presenter(state, room, board=board, join=join))


def _neighbours(number: int | None, count: int) -> tuple[int | None, int | None]:
    """The principles before and after the one shown (from all of them, the next is the first)."""
    if number is None:
        return None, (1 if count else None)
    return (number - 1 if number > 1 else None), (number + 1 if number < count else None)


def _control_action(workshop: Workshop, form, drafts_count: int) -> str:
    """Apply the one choice posted (live voting, what the screen shows, the tallies); a set each time."""
    if form.get("live") in ("0", "1"):
        workshop_services.set_live_voting(current_user, workshop, form["live"] == "1")
        return ("Live voting is open: votes from the room code count for this workshop." if workshop.live_voting
                else "Live voting is closed.")
    show = form.get("show")
    if show == SHOW_ALL or (show or "").isdecimal():
        workshop_services.set_presenter(current_user, workshop, drafts_count=drafts_count,
                                        number=None if show == SHOW_ALL else int(show or 0))
        return ("The screen shows all the principles." if workshop.present_number is None
                else f"The screen shows principle {workshop.present_number}.")
    if form.get("tallies") in ("hidden", "shown"):
        workshop_services.set_presenter(current_user, workshop, drafts_count=drafts_count,
                                        tallies_shown=form["tallies"] == "shown")
        return ("The tallies are shown, and move as votes come in." if workshop.tallies_shown
                else "The tallies are hidden: the screen shows only how many have voted.")
    raise RuleError("Choose what to change.")


@bp.route("/workshops/<int:workshop_id>/control", methods=["GET", "POST"])
@staff_required
def control(workshop_id):
    """Staff steer the presenter screen from a phone. Every post is a set; without JavaScript it
    redirects back here, with htmx it answers with the panel."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    if is_htmx() and choice_arg("part", ("code",)) == "code":
        return render_template("principles/staff/_control_code.html", workshop=workshop,
                               room=current_code(workshop))
    drafts = drafts_of(workshop.round) if workshop.round else []
    notices: list = []
    if request.method == "POST":
        with refused_to_flash() as outcome:
            message = _control_action(workshop, request.form, len(drafts))
        if outcome.ok:
            db.session.commit()
            flash(message, "success")
        if not is_htmx():
            return redirect(url_for("staff_principles.control", workshop_id=workshop.id), code=303)
        notices = get_flashed_messages(with_categories=True)  # shown in the panel, not on the next page
    previous, next_ = _neighbours(workshop.present_number, len(drafts))
    return render("principles/staff/control.html", "principles/staff/_control.html", workshop=workshop,
                  drafts=drafts, room=current_code(workshop), previous=previous, next=next_, notices=notices)


@bp.get("/workshops/<int:workshop_id>/room-code")
@staff_required
def room_code(workshop_id):
    """The room code shown now, for tests and other displays: {"code", "expires_at" (UTC)}."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    room = current_code(workshop)
    return jsonify(code=room.code, expires_at=room.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                   live_voting=workshop.live_voting)


@bp.get("/workshops/<int:workshop_id>/live")
@staff_required
def live(workshop_id):
    """The old projector page: its controls are on /control now."""
    return redirect(url_for("staff_principles.control", workshop_id=workshop_id), code=302)


@bp.post("/workshops/<int:workshop_id>/live")
@staff_required
def toggle_live(workshop_id):
    """Open (open=1) or close (open=0) live voting, as the control page does (kept for old links)."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    wanted = request.form.get("open")
    with refused_to_flash() as outcome:
        message = _control_action(workshop, {"live": wanted} if wanted in ("0", "1") else {}, 0)
    if outcome.ok:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("staff_principles.control", workshop_id=workshop.id), code=303)
