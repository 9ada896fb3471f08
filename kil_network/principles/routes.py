"""Members and the public: the current round, voting, suggestions, results, history."""

import time

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload

from kil_network.auth import services as auth_services
from kil_network.auth.forms import EmailOnlyForm, SignInCodeForm
from kil_network.auth.models import MemberType, Status
from kil_network.auth.routes import form_email, fresh_session, too_many_on
from kil_network.core import submissions
from kil_network.core.addresses import normalise_email
from kil_network.core.commits import commit_keeping_loaded
from kil_network.core.email import external_url
from kil_network.core.errors import render_error, typed_values
from kil_network.core.htmx import is_htmx, render
from kil_network.core.lookups import by_id
from kil_network.core.params import has_arg, id_arg, text_arg
from kil_network.core.rules import RuleError, refused_to, refused_to_flash
from kil_network.extensions import db, limiter
from kil_network.members import services as member_services
from kil_network.members.forms import RoomJoinForm
from kil_network.principles import moderation, services
from kil_network.principles import results as reads  # the module: `results` is a view here
from kil_network.principles.forms import COMMENT_CONSENT, COMMENT_MAX, STANCE_CHOICES, SuggestionForm, VoteForm
from kil_network.principles.history_panels import history_panels
from kil_network.principles.models import Draft, Principle, Round, Suggestion, Vote
from kil_network.principles.tallies import SUPPRESS_BELOW
from kil_network.workshops import room
from kil_network.workshops import services as workshop_services
from kil_network.workshops.models import Workshop

bp = Blueprint("principles", __name__)


@bp.record_once
def _template_globals(state) -> None:
    """The templates' "fewer than N" is the tallies' threshold (a global: the results macros are
    imported without context)."""
    state.app.jinja_env.globals["suppress_below"] = SUPPRESS_BELOW
    state.app.jinja_env.globals["vote_comment_limit"] = COMMENT_MAX  # the vote form's character count
    state.app.jinja_env.globals["comment_consent"] = COMMENT_CONSENT  # what is published, beside the field


def get_draft_or_404(draft_id: int) -> Draft:
    """A draft of a round that is not a staff-only draft round."""
    draft = db.session.get(Draft, draft_id, options=[joinedload(Draft.round)])  # every caller checks the round
    if draft is None or not services.round_visible(draft.round, current_user):
        abort(404)
    return draft


def get_round_or_404(round_id: int) -> Round:
    """A round visible to this person."""
    round_ = by_id(Round, round_id)
    if round_ is None or not services.round_visible(round_, current_user):
        abort(404)
    return round_


def _workshop_arg():
    """The live workshop a phone came from (?workshop= or the form's hidden field)."""
    return id_arg("workshop", source=request.values)


def _cards_context(round_: Round, drafts=None, votes=None) -> dict:
    """What the cards and the progress line need (the round's drafts and the member's votes read
    here unless the caller has them)."""
    if drafts is None:
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


# --- The workshop's live page: the room code proves presence -------------------------------
# /w/<id>?code=<room code> (the projector's QR code and short URL). A valid code is remembered
# in the session for PRESENCE_SECONDS (it survives signing in: auth.routes.CARRIED_ON_SIGN_IN);
# a signed-in member is checked in by themselves and sent to the voting cards; anyone else is
# asked for their email address and gets a one-time code by email (a newcomer joins first).

PRESENCE = "room_presence"  # {"workshop": id, "at": unix seconds}
ROOM_EMAIL = "room_email"  # the address the code was sent to
PRESENCE_SECONDS = 20 * 60
# Limits sized for a room: 200 phones on the venue's Wi-Fi share one address, so the ceilings per
# address are for a room, and each person is limited by the email address they type.
ROOM_CEILING = "1000 per hour"


def _room_email_key() -> str:
    return f"room-email:{form_email()}"


def _room_code_key() -> str:
    return f"room-code:{session.get(ROOM_EMAIL, '')}"


def _get_workshop_or_404(workshop_id: int) -> Workshop:
    workshop = db.session.get(Workshop, workshop_id)
    if workshop is None or not workshop.is_published:
        abort(404)
    return workshop


def _back_to_room(workshop: Workshop):
    """To the live page (a 303 after a post, a plain redirect after a GET)."""
    return redirect(url_for("principles.workshop_link", workshop_id=workshop.id),
                    code=303 if request.method == "POST" else 302)


def _remember_presence(workshop: Workshop) -> None:
    session[PRESENCE] = {"workshop": workshop.id, "at": int(time.time())}


def _present_at(workshop: Workshop) -> bool:
    """Did this browser open the live page with a valid room code in the last PRESENCE_SECONDS?"""
    seen = session.get(PRESENCE) or {}
    return (isinstance(seen, dict) and seen.get("workshop") == workshop.id
            and 0 <= time.time() - int(seen.get("at") or 0) <= PRESENCE_SECONDS)


def _expired_page(workshop: Workshop, message: str | None = None, status_code: int = 410):
    """The room code did not work: say why, ask for the code on the screen, link to the workshop."""
    if message is None:
        message = ("This room code has expired or is not right: the code on the screen changes every minute."
                   if workshop.live_voting else "Live voting is not open for this workshop at the moment.")
    # A post refused because the room's presence ran out meanwhile: what was typed, to copy.
    typed = typed_values() if request.method == "POST" else []
    return render("principles/room/expired.html", workshop=workshop, message=message, typed=typed,
                  status_code=status_code)


def _email_page(workshop: Workshop, form: EmailOnlyForm | None = None, status_code: int = 200):
    return render("principles/room/email.html", workshop=workshop, form=form or EmailOnlyForm(),
                  status_code=status_code)


def _join_page(workshop: Workshop, form: RoomJoinForm, status_code: int = 200):
    return render("principles/room/join.html", workshop=workshop, form=form, status_code=status_code)


def _code_page(workshop: Workshop, form: SignInCodeForm | None = None, status_code: int = 200):
    return render("principles/room/code.html", workshop=workshop, form=form or SignInCodeForm(),
                  email=session.get(ROOM_EMAIL, ""), status_code=status_code)


def _check_in_and_vote(user, workshop_id: int | None):
    """Check the member in at the workshop the room code proved (self check-in), then the cards."""
    workshop = db.session.get(Workshop, workshop_id) if workshop_id else None
    if workshop is None:
        return redirect(url_for("principles.index"), code=303)
    try:
        workshop_services.self_check_in(user, workshop)
    except RuleError as exc:
        db.session.rollback()
        return render("principles/room/refused.html", workshop=workshop, message=exc.message, status_code=403)
    db.session.commit()
    flash(f"You are checked in at {workshop.title}. Your votes here count in this workshop's results.", "success")
    return redirect(url_for("principles.index", workshop=workshop.id), code=303)


def _sign_in(user) -> None:
    """Sign in as the password form does: record it, a new session (presence kept), log in."""
    auth_services.record_login(user)  # best effort: commits
    fresh_session()
    session.pop(ROOM_EMAIL, None)
    login_user(user)


def _send_code(user, workshop: Workshop, purpose: str) -> None:
    code, token = auth_services.issue_sign_in_code(user, purpose, workshop.id)
    auth_services.send_sign_in_code(user, code, external_url("principles.room_link", token=token), workshop.title)
    session[ROOM_EMAIL] = user.email


@bp.errorhandler(429)
def _too_many(error):
    """A limit on the live page bit: the same form again, with what was typed, status 429."""
    workshop_id = (request.view_args or {}).get("workshop_id")
    workshop = db.session.get(Workshop, workshop_id) if workshop_id else None
    if workshop is None:
        return render_error(429)
    if request.endpoint == "principles.room_email":
        form: FlaskForm = EmailOnlyForm()
        too_many_on(form, "email")
        return _email_page(workshop, form, 429)
    if request.endpoint == "principles.room_join":
        form = RoomJoinForm()
        too_many_on(form, "email")
        return _join_page(workshop, form, 429)
    if request.endpoint == "principles.room_code":
        form = SignInCodeForm()
        too_many_on(form, "code")
        return _code_page(workshop, form, 429)
    return render_error(429)


@bp.get("/w/<int:workshop_id>")
def workshop_link(workshop_id):
    """The live page (the projector's QR code and short URL): /w/<id>?code=<room code>.

    Without a code, and with no presence proven in this browser, the voting page for that workshop
    (as the short link always was)."""
    code = text_arg("code", 40) if has_arg("code") else None  # typed off the screen, or scanned
    if code is None and not session.get(PRESENCE):
        return redirect(url_for("principles.index", workshop=workshop_id))
    workshop = _get_workshop_or_404(workshop_id)
    if code is not None:
        if not room.is_valid(workshop, code):
            return _expired_page(workshop)
        _remember_presence(workshop)
    elif not _present_at(workshop):
        return _expired_page(workshop, status_code=200 if workshop.live_voting else 410)
    if not workshop.live_voting:
        return _expired_page(workshop)
    if current_user.is_authenticated:
        return _check_in_and_vote(current_user._get_current_object(), workshop.id)
    if code is not None:  # the code out of the address bar (and out of any log of it) once used
        return redirect(url_for("principles.workshop_link", workshop_id=workshop.id), code=303)
    return _email_page(workshop)


@bp.post("/w/<int:workshop_id>/email")
@limiter.limit(ROOM_CEILING, methods=["POST"])
@limiter.limit("5 per 15 minutes; 10 per hour", methods=["POST"], key_func=_room_email_key)
def room_email(workshop_id):
    """"Your email address": a member gets a code by email; anyone else gets the short join."""
    workshop = _get_workshop_or_404(workshop_id)
    if current_user.is_authenticated:
        return _back_to_room(workshop)
    if not _present_at(workshop) or not workshop.live_voting:
        return _expired_page(workshop, status_code=422)
    form = EmailOnlyForm()
    if not form.validate_on_submit():
        return _email_page(workshop, form, 422)
    user = auth_services.get_user_by_email(form.email.data)
    if user is None or user.status == Status.DELETED:
        return _join_page(workshop, RoomJoinForm(formdata=None, email=form.email.data))
    try:
        _send_code(user, workshop, "sign_in")
    except RuleError as exc:
        db.session.rollback()
        form.email.errors.append(exc.message)
        return _email_page(workshop, form, 403)
    db.session.commit()
    return redirect(url_for("principles.room_code", workshop_id=workshop.id), code=303)


@bp.post("/w/<int:workshop_id>/join")
@limiter.limit(ROOM_CEILING, methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=_room_email_key)
def room_join(workshop_id):
    """The short join: a member with no password, confirmed and signed in by the emailed code."""
    workshop = _get_workshop_or_404(workshop_id)
    if current_user.is_authenticated:
        return _back_to_room(workshop)
    if not _present_at(workshop) or not workshop.live_voting:
        return _expired_page(workshop, status_code=422)
    form = RoomJoinForm()
    if not form.validate_on_submit():
        return _join_page(workshop, form, 422)
    earlier = submissions.claim()  # the form sent twice: one account, one email
    if earlier:
        session[ROOM_EMAIL] = normalise_email(form.email.data)
        return redirect(earlier, code=303)
    with refused_to(form, "email") as outcome:
        user = member_services.join_in_the_room(
            name=form.name.data, email=form.email.data, member_type=MemberType(form.member_type.data),
            organisation_name=form.organisation.data,
            local_authority=member_services.get_local_authority(form.local_authority.data),
            consent_privacy=form.consent_privacy.data, consent_marketing=form.consent_marketing.data,
            show_in_directory=form.show_in_directory.data)
        _send_code(user, workshop, "sign_in" if user.is_confirmed else "join")
    if not outcome.ok:
        return _join_page(workshop, form, 422)
    done = url_for("principles.room_code", workshop_id=workshop.id)
    submissions.complete(done)
    db.session.commit()
    return redirect(done, code=303)


@bp.route("/w/<int:workshop_id>/code", methods=["GET", "POST"])
@limiter.limit("2000 per hour", methods=["POST"])
@limiter.limit("30 per hour", methods=["POST"], key_func=_room_code_key)
def room_code(workshop_id):
    """"Enter the 6-digit code we sent": signs in (confirming the address), checks in, votes."""
    workshop = _get_workshop_or_404(workshop_id)
    if current_user.is_authenticated or not session.get(ROOM_EMAIL):
        return _back_to_room(workshop)
    form = SignInCodeForm()
    if not form.validate_on_submit():
        return _code_page(workshop, form, 422 if request.method == "POST" else 200)
    try:
        user, used = auth_services.redeem_sign_in_code(session[ROOM_EMAIL], form.code.data)
    except RuleError as exc:
        db.session.commit()  # the wrong try counts
        form.code.errors.append(exc.message)
        return _code_page(workshop, form, 422)
    db.session.commit()
    _sign_in(user)
    return _check_in_and_vote(user, used.workshop_id)


@bp.route("/w/sign-in/<token>", methods=["GET", "POST"])
@limiter.limit(ROOM_CEILING, methods=["POST"])
def room_link(token):
    """The link in the sign-in email: a button (mail scanners follow links; a post uses it), then
    signed in and checked in at the workshop the code was asked for at."""
    form = FlaskForm()
    if not form.validate_on_submit():
        return render("principles/room/link.html", token=token, form=form,
                      status_code=400 if request.method == "POST" else 200)
    try:
        user, used = auth_services.redeem_sign_in_link(token)
    except RuleError as exc:
        db.session.rollback()
        return render("principles/room/link_failed.html", message=exc.message, status_code=422)
    db.session.commit()
    _sign_in(user)
    return _check_in_and_vote(user, used.workshop_id)


@bp.get("/principles/drafts/<int:draft_id>")
def draft(draft_id):
    """A draft with its suggestions (most endorsed first) and the forms to vote and suggest."""
    return _draft_page(get_draft_or_404(draft_id))


def _draft_page(draft: Draft, form: SuggestionForm | None = None, typed: dict | None = None, status_code: int = 200):
    """The draft page; after a refused post, with what was typed in the vote or suggestion form."""
    suggestions = moderation.suggestions_for(draft, current_user)  # approved, and the member's own
    votes = services.votes_by_member(current_user, draft.round)
    return render("principles/draft.html", draft=draft, suggestions=suggestions,
                  endorsed=services.endorsed_ids(current_user, [s.id for s in suggestions]),
                  vote=votes.get(draft.id), reason=services.participation_error(current_user, draft.round),
                  form=form or SuggestionForm(), typed=typed, workshop=_workshop_arg(), stances=STANCE_CHOICES,
                  status_code=status_code)


@bp.post("/principles/drafts/<int:draft_id>/vote")
@login_required
def vote(draft_id):
    """Vote (or change a vote) on a draft; htmx gets the card and the progress line back.

    The draft, its round, the round's drafts and the member's votes come in one query, before
    the vote; the cards are rendered from them and the vote as written, with no reload."""
    drafts: list[Draft] | None  # None after a refused vote: _cards_context reads them again
    votes: dict[int, Vote] | None
    draft, drafts, votes = services.draft_cards(draft_id, current_user)
    if draft is None or not services.round_visible(draft.round, current_user):
        abort(404)
    form = VoteForm()
    error = None
    if not form.validate_on_submit():
        error = "; ".join(e for errs in form.errors.values() for e in errs)
    else:
        with refused_to(form, "stance") as outcome:
            votes[draft.id] = services.cast_vote(current_user, draft, services.parse_stance(form.stance.data),
                                                 form.comment.data or "", form.workshop.data,
                                                 had_vote=draft.id in votes)
        error = outcome.error.message if outcome.error else None
    if error:
        db.session.rollback()
        drafts = votes = None  # read again for the cards: the rollback undid whatever was written
    else:
        commit_keeping_loaded()
    back = request.form.get("back")
    # What was typed comes back with the error (a form error or an expired token), never lost.
    # `errors` by field, for the error summary and the messages beside the fields.
    typed = {"draft_id": draft.id, "stance": form.stance.data, "comment": form.comment.data or "",
             "error": error, "errors": {f.name: list(f.errors) for f in form if f.errors}} if error else None
    if is_htmx():
        context = _cards_context(draft.round, drafts, votes)
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
            flash("Thank you for your suggestion. A member of staff will check it before it is published; "
                  "until then only you can see it, below.", "success")
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
    return render("principles/results.html", round=round_, comments=moderation.published_comments_by_draft(round_),
                  **reads.round_results(round_))


@bp.get("/principles/rounds/<int:round_id>/results.csv")
def results_csv(round_id):
    """Aggregated results and anonymous comments and suggestions, as CSV."""
    round_ = get_round_or_404(round_id)
    if not services.results_visible(round_, current_user):
        abort(403)
    body = reads.results_csv(round_)
    services.mark_results_released(round_)  # its results have left the app: it can no longer be reopened
    db.session.commit()
    return Response(body, mimetype="text/csv",
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
