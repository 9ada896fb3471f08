"""Calls for evidence (public), the survey one question per page, written evidence, the library."""
import sqlalchemy as sa
from flask import Blueprint, abort, redirect, request, session, url_for
from flask_login import current_user

from kil_network.auth.models import MemberType
from kil_network.auth.services import get_local_authority
from kil_network.core.htmx import render, render_form
from kil_network.core.params import page_arg
from kil_network.evidence import personal_data, services, survey  # noqa: F401 - personal_data registers export/eraser
from kil_network.evidence.forms import CSRFForm, EvidenceForm
from kil_network.evidence.models import TOPICS, Call, Publication
from kil_network.extensions import db
from kil_network.members.models import Region

bp = Blueprint("evidence", __name__)


def get_call_or_404(call_id: int) -> Call:
    """The call, or 404."""
    return db.session.get(Call, call_id) or abort(404)


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
                  resume=survey.first_unanswered(survey.clean(answers)) if answers else None)


@bp.route("/evidence/calls/<int:call_id>/survey/<question_id>", methods=["GET", "POST"])
def survey_question(call_id, question_id):
    """One question per page, GOV.UK style, with a back link; answers kept between pages."""
    call = get_call_or_404(call_id)
    question = survey.BY_ID.get(question_id) or abort(404)
    answers = survey.clean(_load_answers(call))
    if not question.applies(answers):
        return redirect(url_for("evidence.survey_start", call_id=call.id))
    form, regions, changing = CSRFForm(), _region_choices(), bool(request.args.get("change"))
    current, error = answers.get(question.id), None
    state = call.survey_state()
    if state != "open":
        error = services.DEADLINE_PASSED if state == "closed" else "This survey is not open yet."
    elif request.method == "POST":
        raw = request.form.getlist("answer")
        current = raw if question.kind == "checkbox" else (raw[0] if raw else "")
        if not form.validate_on_submit():
            error = " ".join(e for errs in form.errors.values() for e in errs)  # an expired token
        else:
            value, error = survey.check_answer(question, raw, regions)
        if error is None:
            answers = survey.clean({**answers, question.id: value})
            _store_answers(call, answers)
            return redirect(_after_answer(call, question, answers, changing))
    return render("evidence/survey_question.html", call=call, question=question, current=current, error=error,
                  previous=survey.previous_before(question.id, answers), regions=regions, form=form,
                  closed=state != "open", change=changing,
                  status_code=422 if error and request.method == "POST" else 200)


def _after_answer(call: Call, question, answers: dict, changing: bool) -> str:
    """Where to go after an answer: the next question, check your answers, or 'not for you'."""
    if question.id == "council_role" and not survey.in_scope(answers):
        return url_for("evidence.survey_not_for_you", call_id=call.id)
    following = survey.first_unanswered(answers) if changing else survey.next_after(question.id, answers)
    if following is None:
        return url_for("evidence.survey_check", call_id=call.id)
    return url_for("evidence.survey_question", call_id=call.id, question_id=following.id,
                   change=1 if changing else None)


@bp.get("/evidence/calls/<int:call_id>/survey/not-for-you")
def survey_not_for_you(call_id):
    """Screening said the survey is not for this person: point to written evidence instead."""
    return render("evidence/survey_not_for_you.html", call=get_call_or_404(call_id))


@bp.route("/evidence/calls/<int:call_id>/survey/check", methods=["GET", "POST"])
def survey_check(call_id):
    """Check your answers, with change links, then submit."""
    call = get_call_or_404(call_id)
    answers = survey.clean(_load_answers(call))
    missing = survey.first_unanswered(answers)
    if missing is not None:
        return redirect(url_for("evidence.survey_question", call_id=call.id, question_id=missing.id))
    form = CSRFForm()
    error = None
    if request.method == "POST" and not form.validate_on_submit():
        error = " ".join(e for errs in form.errors.values() for e in errs)  # an expired token
    elif request.method == "POST":
        try:
            response = services.submit_survey(call, answers, current_user if current_user.is_authenticated else None,
                                              draft_key=session.get(f"survey-{call.id}"))
        except services.EvidenceError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
            session.pop(f"survey-{call.id}", None)
            return redirect(url_for("evidence.survey_done", call_id=call.id, reference=response.reference), code=303)
    region_names = dict(_region_choices())
    rows = [(q, survey.option_label(q, answers.get(q.id, ""), region_names)) for q in survey.visible(answers)]
    return render("evidence/survey_check.html", call=call, rows=rows, form=form, error=error,
                  status_code=422 if error else 200)


@bp.get("/evidence/calls/<int:call_id>/survey/done/<reference>")
def survey_done(call_id, reference):
    """Confirmation with the reference number."""
    return render("evidence/survey_done.html", call=get_call_or_404(call_id), reference=reference[:20])


@bp.route("/evidence/calls/<int:call_id>/submit", methods=["GET", "POST"])
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
    deadline_error = None
    if request.method == "POST" and call.written_state() != "open":
        deadline_error = services.DEADLINE_PASSED if call.written_state() == "closed" else "Written evidence is not open yet."
        form.validate_on_submit()
    elif form.validate_on_submit():
        try:
            submission = services.submit_evidence(
                call, name=form.name.data, email=form.email.data.lower(), organisation=form.organisation.data or "",
                respondent_type=MemberType(form.respondent_type.data),
                local_authority=get_local_authority(form.local_authority.data), topics=form.topics.data,
                text=form.text.data, publication=Publication(form.publication.data), upload=form.file.data,
                user=current_user if current_user.is_authenticated else None)
        except services.EvidenceError as exc:
            db.session.rollback()
            if exc.field and exc.field in form:
                form[exc.field].errors.append(exc.message)
            else:
                deadline_error = exc.message
        else:
            db.session.commit()
            return redirect(url_for("evidence.received", call_id=call.id, reference=submission.reference), code=303)
    return render_form("evidence/submit.html", "evidence/_submit_form.html", form, call=call,
                       deadline_error=deadline_error, closed=call.written_state() == "closed" and request.method == "GET")


@bp.get("/evidence/calls/<int:call_id>/received/<reference>")
def received(call_id, reference):
    """Acknowledgement of written evidence, with the reference."""
    return render("evidence/received.html", call=get_call_or_404(call_id), reference=reference[:20])


@bp.get("/evidence/library")
def library():
    """Published evidence, filterable by topic; anonymised where the submitter asked."""
    topic = request.args.get("topic", "")
    pagination = db.paginate(services.library(topic), page=page_arg(), per_page=20, error_out=False, count=True)
    return render("evidence/library.html", "evidence/_library_list.html", pagination=pagination, topic=topic, topics=TOPICS)
