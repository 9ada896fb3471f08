"""Calls for evidence (public), the survey one question per page, written evidence, the library."""
import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, user_logged_in
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError

from kil_network.auth.models import MemberType
from kil_network.core import submissions
from kil_network.core.addresses import normalise_email
from kil_network.core.htmx import render, render_form
from kil_network.core.params import choice_arg, flag_arg, page_arg, text_arg
from kil_network.core.rules import RuleError
from kil_network.evidence import services, survey, uploads
from kil_network.evidence.forms import CSRFForm, EvidenceForm
from kil_network.evidence.models import TOPICS, Call, Publication, Submission
from kil_network.extensions import db, limiter
from kil_network.members.forms import MEMBER_TYPE_CHOICES
from kil_network.members.models import Region
from kil_network.members.services import get_local_authority
from kil_network.principles.models import Principle

bp = Blueprint("evidence", __name__)


def get_call_or_404(call_id: int) -> Call:
    """The call, or 404."""
    return db.get_or_404(Call, call_id)


def _region_choices() -> list[tuple[str, str]]:
    """Regions for the survey's region question."""
    return [(str(i), n) for i, n in db.session.execute(sa.select(Region.id, Region.name).order_by(Region.name))]


def _load_answers(call: Call) -> dict:
    """Answers so far: a member's saved draft, or the one this browser session's key finds."""
    if current_user.is_authenticated:
        draft = services.member_draft(call, current_user)
    else:
        draft = services.visitor_draft(call, session.get(f"survey-{call.id}"))
    return dict(draft.answers) if draft is not None else {}


def _store_answers(call: Call, answers: dict) -> None:
    """Keep answers between pages on the server (members' across sessions; a visitor's by key)."""
    if current_user.is_authenticated:
        services.save_member_answers(call, current_user, answers)
    else:
        session[f"survey-{call.id}"] = services.save_visitor_answers(call, session.get(f"survey-{call.id}"), answers)
    db.session.commit()


@bp.before_app_request
def _note_visitor_surveys():
    """Before any POST (sign-in and join among them), note this browser's survey draft keys:
    signing in clears the session before the member is logged in, and the keys would be lost."""
    if request.method == "POST":
        g.visitor_surveys = {k: v for k, v in session.items() if k.startswith("survey-")}


@user_logged_in.connect
def _carry_over_surveys(sender, user, **extra) -> None:
    """A visitor who signs in keeps the survey they had started: it becomes their in-progress response."""
    noted = g.pop("visitor_surveys", None) if has_request_context() else None
    if not noted:
        return
    try:
        for name, key in noted.items():
            call_id = name.removeprefix("survey-")
            if call_id.isdecimal() and len(call_id) < 10:
                services.adopt_visitor_draft(int(call_id), key, user)
        db.session.commit()
    except SQLAlchemyError:  # never stop a sign-in over this
        db.session.rollback()
        current_app.logger.exception("Could not carry a visitor's survey answers over to member %s", user.id)


@bp.get("/evidence/")
def index():
    """Open, forthcoming and closed calls for evidence."""
    return render("evidence/index.html", groups=services.calls_by_state())


@bp.get("/evidence/calls/<int:call_id>")
def call(call_id):
    """A call: what it asks, its deadlines, and the ways to respond."""
    return render("evidence/call.html", call=get_call_or_404(call_id), topics=TOPICS)


@bp.get("/evidence/calls/<int:call_id>/survey")
def survey_start(call_id):
    """The survey's start page."""
    call = get_call_or_404(call_id)
    answers = _load_answers(call)
    return render("evidence/survey_start.html", call=call, started=bool(answers),
                  closed_reason=services.closed_reason(call, "survey"),
                  resume=survey.first_unanswered(survey.clean(answers)) if answers else None)


@bp.route("/evidence/calls/<int:call_id>/survey/<question_id>", methods=["GET", "POST"])
@limiter.limit("600 per hour", methods=["POST"], key_func=lambda: "survey:" + _sender_key())  # each may add a draft row
def survey_question(call_id, question_id):
    """One question per page, GOV.UK style, with a back link; answers kept between pages."""
    call = get_call_or_404(call_id)
    question = survey.BY_ID.get(question_id) or abort(404)
    answers = survey.clean(_load_answers(call))
    if not question.applies(answers):
        return redirect(url_for("evidence.survey_start", call_id=call.id))
    form, regions, changing = CSRFForm(), _region_choices(), flag_arg("change")
    current = answers.get(question.id)
    error = closed = services.closed_reason(call, "survey")
    if request.method == "POST":  # what was sent is shown again on every refusal (the deadline too)
        raw = request.form.getlist("answer")
        current = raw if question.kind == "checkbox" else (raw[0] if raw else "")
    if not closed and request.method == "POST":
        if not form.validate_on_submit():
            error = " ".join(e for errs in form.errors.values() for e in errs)  # an expired token
        else:
            try:
                answers = services.answer_question(call, question, raw, answers, regions)
            except RuleError as exc:
                error = exc.message
            else:
                _store_answers(call, answers)
                return redirect(_step_url(call, services.after_answer(question, answers, changing), changing))
    return render("evidence/survey_question.html", call=call, question=question, current=current, error=error,
                  previous=survey.previous_before(question.id, answers), regions=regions, form=form,
                  closed=bool(closed), change=changing, text_limit=survey.TEXT_MAX,
                  status_code=422 if error and request.method == "POST" else 200)


def _step_url(call: Call, step, changing: bool) -> str:
    """The page for the survey's next step (services.after_answer)."""
    if step == "not_for_you":
        return url_for("evidence.survey_not_for_you", call_id=call.id)
    if step == "check":
        return url_for("evidence.survey_check", call_id=call.id)
    return url_for("evidence.survey_question", call_id=call.id, question_id=step.id, change=1 if changing else None)


@bp.get("/evidence/calls/<int:call_id>/survey/not-for-you")
def survey_not_for_you(call_id):
    """Screening said the survey is not for this person: point to written evidence instead."""
    return render("evidence/survey_not_for_you.html", call=get_call_or_404(call_id))


@bp.route("/evidence/calls/<int:call_id>/survey/check", methods=["GET", "POST"])
@limiter.limit("10 per hour; 30 per day", methods=["POST"], key_func=lambda: "survey-sent:" + _sender_key(),
               deduct_when=lambda response: response.status_code == 303)  # results cannot be stuffed from one place
def survey_check(call_id):
    """Check your answers, with change links, then submit."""
    call = get_call_or_404(call_id)
    earlier = submissions.earlier_result()  # sent already: its answers are no longer in progress
    if earlier:
        return redirect(earlier, code=303)
    form = CSRFForm()
    error = None
    sending = request.method == "POST" and form.validate_on_submit()
    # The key is claimed before the answers are read: an identical post sent at the same moment
    # waits here for this one's commit and is sent to its result, instead of finding the answers
    # already gone (submitted) and being sent back to the first question.
    if sending and (earlier := submissions.claim()):
        return redirect(earlier, code=303)
    answers = survey.clean(_load_answers(call))
    missing = survey.first_unanswered(answers)
    if missing is not None:
        db.session.rollback()  # nothing to send: the claimed key is not kept
        return redirect(url_for("evidence.survey_question", call_id=call.id, question_id=missing.id))
    if request.method == "POST" and not sending:
        error = " ".join(e for errs in form.errors.values() for e in errs)  # an expired token
    elif sending:
        try:
            response = services.submit_survey(call, answers, current_user if current_user.is_authenticated else None,
                                              draft_key=session.get(f"survey-{call.id}"))
        except RuleError as exc:
            db.session.rollback()
            error = exc.message
        else:
            done = url_for("evidence.survey_done", call_id=call.id, reference=response.reference)
            submissions.complete(done)
            db.session.commit()
            session.pop(f"survey-{call.id}", None)
            return redirect(done, code=303)
    region_names = dict(_region_choices())
    rows = [(q, survey.option_label(q, answers.get(q.id, ""), region_names)) for q in survey.visible(answers)]
    return render("evidence/survey_check.html", call=call, rows=rows, form=form, error=error,
                  status_code=422 if error else 200)


@bp.get("/evidence/calls/<int:call_id>/survey/done/<reference>")
def survey_done(call_id, reference):
    """Confirmation with the reference number."""
    return render("evidence/survey_done.html", call=get_call_or_404(call_id), reference=reference[:20])


# Written evidence limits. A signed-in member counts by account (a workshop's phones share the
# venue's address), anyone else by address. Posts of any kind, accepted submissions, uploaded
# bytes (a 10MB document costs 10,240), and confirmation emails per recipient address (its
# "+tag" ignored) are limited separately: an address cannot be mail-bombed or the disk filled.
SUBMIT_POSTS = "20 per hour"
SUBMIT_ACCEPTED = "5 per hour; 20 per day"
SUBMIT_KIB = "51200 per hour"  # 50MB of uploads an hour
SUBMIT_PER_RECIPIENT = "3 per hour; 6 per day"


def _sender_key() -> str:
    """A member's account, or a visitor's address."""
    if current_user.is_authenticated:
        return f"evidence-member:{current_user.id}"
    return f"evidence-addr:{get_remote_address()}"


def _recipient_key() -> str:
    """The address the emails would go to, normalised, without a "+tag"."""
    local, _, domain = normalise_email(request.form.get("email", ""))[:320].rpartition("@")
    return f"evidence-to:{local.split('+', 1)[0]}@{domain}"


def _upload_kib() -> int:
    """What a post costs against the bytes limit: its size in KiB."""
    return max(1, (request.content_length or 0) // 1024)


def _accepted(response) -> bool:
    """Only a stored submission (303 to its reference) counts."""
    return response.status_code == 303


@bp.route("/evidence/calls/<int:call_id>/submit", methods=["GET", "POST"])
@limiter.limit(SUBMIT_POSTS, methods=["POST"], key_func=_sender_key)
@limiter.limit(SUBMIT_KIB, methods=["POST"], key_func=lambda: "kib:" + _sender_key(), cost=_upload_kib)
@limiter.limit(SUBMIT_ACCEPTED, methods=["POST"], key_func=lambda: "ok:" + _sender_key(), deduct_when=_accepted)
@limiter.limit(SUBMIT_PER_RECIPIENT, methods=["POST"], key_func=_recipient_key, deduct_when=_accepted)
def submit(call_id):
    """Written evidence, with an optional document and a publication choice."""
    call = get_call_or_404(call_id)
    defaults = {}
    if request.method == "GET" and current_user.is_authenticated:
        defaults = {"name": current_user.name, "email": current_user.email,
                    "organisation": current_user.organisation.name if current_user.organisation else "",
                    "respondent_type": current_user.member_type.value,
                    "local_authority": current_user.local_authority.gss_code if current_user.local_authority else ""}
    form = EvidenceForm(data=defaults or None)
    deadline_error = services.closed_reason(call, "written") if request.method == "POST" else None
    if deadline_error:
        form.validate_on_submit()
    elif form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one submission, one email
        if earlier:
            return redirect(earlier, code=303)
        try:
            submission = services.submit_evidence(
                call, name=form.name.data, email=form.email.data.lower(), organisation=form.organisation.data or "",
                respondent_type=MemberType(form.respondent_type.data),
                local_authority=get_local_authority(form.local_authority.data), topics=form.topics.data,
                text=form.text.data, publication=Publication(form.publication.data), upload=form.file.data,
                file_may_publish=form.file_may_publish.data,
                user=current_user if current_user.is_authenticated else None)
        except RuleError as exc:
            db.session.rollback()
            if exc.field and exc.field in form:
                form[exc.field].errors.append(exc.message)
            else:
                deadline_error = exc.message
        else:
            done = url_for("evidence.received", call_id=call.id, reference=submission.reference)
            submissions.complete(done)
            db.session.commit()
            return redirect(done, code=303)
    return render_form("evidence/submit.html", "evidence/_submit_form.html", form, call=call,
                       deadline_error=deadline_error, upload_accept=uploads.ACCEPT,
                       upload_max_bytes=uploads.MAX_BYTES,
                       closed=call.written_closed and request.method == "GET")


@bp.get("/evidence/calls/<int:call_id>/received/<reference>")
def received(call_id, reference):
    """Acknowledgement of written evidence, with the reference (and, until it is, "confirm your address")."""
    call = get_call_or_404(call_id)
    submission = services.submission_by_reference(reference)
    pending = submission is not None and submission.call_id == call.id and submission.confirmed_at is None
    return render("evidence/received.html", call=call, reference=reference[:20], pending=pending)


@bp.route("/evidence/confirm/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
def confirm(token):
    """The link in the confirmation email: a page with a button (a mail scanner fetching the link
    confirms nothing), whose POST confirms the address and sends the acknowledgement."""
    form = CSRFForm()
    try:
        submission = services.submission_from_confirm_token(token)
    except RuleError as exc:
        return render("evidence/confirm.html", message=exc.message, status_code=400)
    if submission.confirmed_at is not None or form.validate_on_submit():
        services.confirm_submission(submission)
        db.session.commit()
        return redirect(url_for("evidence.received", call_id=submission.call_id, reference=submission.reference),
                        code=303)
    return render("evidence/confirm.html", submission=submission, form=form, token=token)


def principle_evidence_panel(principle) -> Markup:
    """The section of a principle's history page listing the published evidence that supports it
    (registered by the app factory: principles sits below evidence and cannot ask for it)."""
    evidence = db.session.scalars(services.library(principle_id=principle.id).limit(20)).all()
    return Markup(render_template("evidence/_principle_evidence.html", evidence=evidence))


LIBRARY_Q_MAX = 200


@bp.get("/evidence/library")
def library():
    """Published evidence: full-text search, filters for topic, principle and who sent it; anonymised
    where the submitter asked. htmx gets the list alone (searching as you type)."""
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    filters = {"q": text_arg("q", LIBRARY_Q_MAX), "topic": choice_arg("topic", TOPICS),
               "principle": choice_arg("principle", [str(p.id) for p in principles]),
               "type": choice_arg("type", [t.value for t in MemberType])}
    stmt = services.library(filters["topic"], int(filters["principle"]) if filters["principle"] else None,
                            q=filters["q"], respondent_type=filters["type"])
    pagination = db.paginate(stmt, page=page_arg(), per_page=20, error_out=False, count=True)
    return render("evidence/library.html", "evidence/_library_list.html", pagination=pagination,
                  details=services.library_details([s.id for s in pagination.items]),
                  filters=filters, args={k: v for k, v in filters.items() if v}, topics=TOPICS,
                  principles=principles, member_types=MEMBER_TYPE_CHOICES, q_max=LIBRARY_Q_MAX)


def get_published_or_404(submission_id: int) -> Submission:
    """A piece of evidence the library publishes, or 404 (private, awaiting review, or no such id)."""
    return services.published_submission(submission_id) or abort(404)


@bp.get("/evidence/library/<int:submission_id>")
def library_item(submission_id):
    """One piece of published evidence in full, with its document when that is published too."""
    return render("evidence/library_item.html", item=get_published_or_404(submission_id), topics=TOPICS)


@bp.get("/evidence/library/<int:submission_id>/file")
@limiter.limit("60 per minute")
def library_file(submission_id):
    """The published copy of the document (its author details removed), always as a download."""
    item = get_published_or_404(submission_id)
    path = services.published_file(item) or abort(404)
    response = send_file(path, mimetype=uploads.KINDS[item.file_kind], as_attachment=True,
                         download_name=item.public_file_name, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
