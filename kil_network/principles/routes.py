"""Members and the public: the current round, voting, suggestions, results, history."""

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from kil_network.core import submissions
from kil_network.core.htmx import is_htmx, render
from kil_network.core.params import id_arg
from kil_network.core.rules import refused_to, refused_to_flash
from kil_network.extensions import db
from kil_network.principles import results as reads  # the module: `results` is a view here
from kil_network.principles import services
from kil_network.principles.forms import STANCE_CHOICES, SuggestionForm, VoteForm
from kil_network.principles.history_panels import history_panels
from kil_network.principles.models import Draft, Principle, Round, Suggestion
from kil_network.principles.tallies import SUPPRESS_BELOW

bp = Blueprint("principles", __name__)


@bp.record_once
def _template_globals(state) -> None:
    """The templates' "fewer than N" is the tallies' threshold (a global: the results macros are
    imported without context)."""
    state.app.jinja_env.globals["suppress_below"] = SUPPRESS_BELOW


def get_draft_or_404(draft_id: int) -> Draft:
    """A draft of a round that is not a staff-only draft round."""
    draft = db.session.get(Draft, draft_id, options=[joinedload(Draft.round)])  # every caller checks the round
    if draft is None or not services.round_visible(draft.round, current_user):
        abort(404)
    return draft


def get_round_or_404(round_id: int) -> Round:
    """A round visible to this person."""
    round_ = db.session.get(Round, round_id)
    if round_ is None or not services.round_visible(round_, current_user):
        abort(404)
    return round_


def _commit_keeping_loaded() -> None:
    """Commit without expiring what the session holds, so the response renders without reloading it.

    The draft, round, member and vote are rendered as this transaction read and wrote them;
    reloading all of them after every vote cost a query each."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def _workshop_arg():
    """The live workshop a phone came from (?workshop= or the form's hidden field)."""
    return id_arg("workshop", source=request.values)


def _cards_context(round_: Round) -> dict:
    """What the cards and the progress line need."""
    drafts, votes = services.drafts_with_votes(current_user, round_)
    return {"round": round_, "drafts": drafts, "votes": votes,
            "responded": sum(1 for d in drafts if d.id in votes),
            "reason": services.participation_error(current_user, round_),
            "workshop": _workshop_arg(), "stances": STANCE_CHOICES}


@bp.get("/principles/")
def index():
    """The round open now (cards with the member's votes), or the adopted principles."""
    round_ = services.open_round()
    adopted = services.adopted_round()
    if round_ is None:
        latest = adopted or services.latest_round()
        return render("principles/index.html", round=None, adopted=adopted, latest=latest,
                      drafts=services.drafts_of(latest) if latest else [])
    return render("principles/index.html", adopted=adopted, **_cards_context(round_))


@bp.get("/w/<int:workshop_id>")
def workshop_link(workshop_id):
    """Short link shown on the projector: the voting page for that workshop."""
    return redirect(url_for("principles.index", workshop=workshop_id))


@bp.get("/principles/drafts/<int:draft_id>")
def draft(draft_id):
    """A draft with its suggestions (most endorsed first) and the forms to vote and suggest."""
    return _draft_page(get_draft_or_404(draft_id))


def _draft_page(draft: Draft, form: SuggestionForm | None = None, typed: dict | None = None, status_code: int = 200):
    """The draft page; after a refused post, with what was typed in the vote or suggestion form."""
    suggestions = db.session.scalars(
        sa.select(Suggestion).where(Suggestion.draft_id == draft.id)
        .order_by(Suggestion.endorsement_count.desc(), Suggestion.id)
    ).all()
    votes = services.votes_by_member(current_user, draft.round)
    return render("principles/draft.html", draft=draft, suggestions=suggestions,
                  endorsed=services.endorsed_ids(current_user, [s.id for s in suggestions]),
                  vote=votes.get(draft.id), reason=services.participation_error(current_user, draft.round),
                  form=form or SuggestionForm(), typed=typed, workshop=_workshop_arg(), stances=STANCE_CHOICES,
                  status_code=status_code)


@bp.post("/principles/drafts/<int:draft_id>/vote")
@login_required
def vote(draft_id):
    """Vote (or change a vote) on a draft; htmx gets the card and the progress line back."""
    draft = get_draft_or_404(draft_id)
    form = VoteForm()
    error = None
    if not form.validate_on_submit():
        error = "; ".join(e for errs in form.errors.values() for e in errs)
    else:
        with refused_to(form, "stance") as outcome:
            services.cast_vote(current_user, draft, services.parse_stance(form.stance.data),
                               form.comment.data or "", form.workshop.data)
        error = outcome.error.message if outcome.error else None
    if error:
        db.session.rollback()
    else:
        _commit_keeping_loaded()
    back = request.form.get("back")
    # What was typed comes back with the error (a form error or an expired token), never lost.
    typed = {"draft_id": draft.id, "stance": form.stance.data, "comment": form.comment.data or "",
             "error": error} if error else None
    if is_htmx():
        context = _cards_context(draft.round)
        return render("principles/index.html", "principles/_vote_response.html", draft=draft,
                      error=error, saved=not error, typed=typed, status_code=422 if error else 200, **context)
    if error and back == "draft":
        return _draft_page(draft, typed=typed, status_code=422)
    if error:
        return render("principles/index.html", adopted=services.adopted_round(), typed=typed, status_code=422,
                      **_cards_context(draft.round))
    flash("Your vote has been saved.", "success")
    if back == "draft":
        return redirect(url_for("principles.draft", draft_id=draft.id), code=303)
    return redirect(url_for("principles.index", workshop=form.workshop.data or None, _anchor=f"draft-{draft.id}"),
                    code=303)


@bp.post("/principles/drafts/<int:draft_id>/suggestions")
@login_required
def suggest(draft_id):
    """Propose new wording for a draft."""
    draft = get_draft_or_404(draft_id)
    form = SuggestionForm()
    if form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one suggestion
        if earlier:
            return redirect(earlier, code=303)
        with refused_to(form, "text") as outcome:
            services.suggest(current_user, draft, form.text.data, form.reason.data or "")
        if outcome.ok:
            done = url_for("principles.draft", draft_id=draft.id, _anchor="suggestions")
            submissions.complete(done)
            db.session.commit()
            flash("Thank you: your suggestion is published below. Staff will respond to it.", "success")
            return redirect(done, code=303)
    # The page again with what was typed and the errors beside it (nothing is lost).
    return _draft_page(draft, form=form, status_code=422)


@bp.post("/principles/suggestions/<int:suggestion_id>/endorse")
@login_required
def endorse(suggestion_id):
    """Endorse another member's suggestion."""
    suggestion = db.get_or_404(Suggestion, suggestion_id)
    get_draft_or_404(suggestion.draft_id)
    done = url_for("principles.draft", draft_id=suggestion.draft_id, _anchor=f"suggestion-{suggestion.id}")
    earlier = submissions.claim()  # a double click endorses once, without an error for the second
    if earlier:
        return redirect(earlier, code=303)
    with refused_to_flash() as outcome:
        services.endorse(current_user, suggestion)
    if outcome.ok:
        submissions.complete(done)
        db.session.commit()
        flash("You have endorsed this suggestion.", "success")
    return redirect(done, code=303)


@bp.get("/principles/rounds/<int:round_id>/results")
def results(round_id):
    """Results of a round by stance, member type, region and workshop (after it closes)."""
    round_ = get_round_or_404(round_id)
    if not services.results_visible(round_, current_user):
        return render("principles/results_hidden.html", round=round_, status_code=403)
    return render("principles/results.html", round=round_, **reads.round_results(round_))


@bp.get("/principles/rounds/<int:round_id>/results.csv")
def results_csv(round_id):
    """Aggregated results and anonymous comments and suggestions, as CSV."""
    round_ = get_round_or_404(round_id)
    if not services.results_visible(round_, current_user):
        abort(403)
    return Response(reads.results_csv(round_), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=round-{round_.id}-results.csv"})


@bp.get("/principles/<int:number>/history")
def history(number):
    """A principle through the rounds: word-level changes and how support moved."""
    principle = db.first_or_404(sa.select(Principle).where(Principle.number == number))
    return render("principles/history.html", principle=principle, history=reads.principle_history(principle),
                  labels=reads.type_labels(), panels=history_panels(principle))


@bp.get("/principles/rounds/<int:round_id>/responses")
def responses(round_id):
    """'You said, we did': every suggestion in a round with the staff response."""
    round_ = get_round_or_404(round_id)
    return render("principles/responses.html", round=round_, suggestions=reads.responses(round_))
