"""Staff: calls, the review queue, a submission's review, files, survey results, exports."""
import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user

from kil_network.core import submissions
from kil_network.core.audit import record
from kil_network.core.decorators import staff_required
from kil_network.core.htmx import render, render_form
from kil_network.core.params import choice_arg, id_arg, page_arg, text_arg
from kil_network.core.rules import refused_to
from kil_network.core.timeutil import utcnow
from kil_network.evidence import services, survey, survey_summary, uploads
from kil_network.evidence.forms import CallForm, ReviewForm
from kil_network.evidence.models import TOPICS, Call, ReviewStatus, Submission, SubmissionTag, SurveyResponse
from kil_network.evidence.routes import get_call_or_404
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.principles.models import Principle

bp = Blueprint("staff_evidence", __name__)

FILTERS = ("q", "status", "topic", "tag", "principle")


def _filters() -> dict:
    """The review-queue filters from the query string."""
    return {"q": text_arg("q", 100), "status": choice_arg("status", [s.value for s in ReviewStatus]),
            "topic": choice_arg("topic", TOPICS), "tag": text_arg("tag", 60), "principle": id_arg("principle")}


@bp.get("/evidence/")
@staff_required
def queue():
    """Written evidence to review, with search and filters."""
    filters = _filters()
    pagination = db.paginate(services.staff_search(**filters), page=page_arg(), per_page=30, error_out=False,
                             count=True)
    tags = db.session.scalars(sa.select(SubmissionTag.tag).distinct().order_by(SubmissionTag.tag)).all()
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    calls = db.session.scalars(sa.select(Call).order_by(Call.opens_at.desc())).all()
    return render("evidence/staff/queue.html", "evidence/staff/_queue_table.html", pagination=pagination,
                  filters=filters, tags=tags, principles=principles, topics=TOPICS, calls=calls,
                  statuses=list(ReviewStatus), args={k: v for k, v in filters.items() if v})


@bp.get("/evidence.csv")
@staff_required
def queue_csv():
    """The filtered review queue as CSV."""
    body = services.evidence_csv(services.staff_search(**_filters()))
    record(current_user, "evidence.export", None, "Exported written evidence as CSV")
    db.session.commit()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=evidence-{utcnow():%Y%m%d-%H%M}.csv"})


@bp.route("/evidence/<int:submission_id>", methods=["GET", "POST"])
@staff_required
def submission(submission_id):
    """Read a submission and review it: status, tags, principles, notes, the wording to publish and
    whether its document is published."""
    item = db.get_or_404(Submission, submission_id)
    principles = db.session.scalars(sa.select(Principle).order_by(Principle.number)).all()
    form = ReviewForm(data=None if request.method == "POST" else {
        "status": item.status.value, "tags": ", ".join(item.tags), "notes": item.notes,
        "principles": [p.id for p in item.principles], "published_text": item.published_wording,
        "file_approved": item.file_approved})
    form.principles.choices = [(p.id, f"{p.number}. {p.short_name}") for p in principles]
    if form.validate_on_submit():
        with refused_to(form, "tags") as outcome:
            services.review(current_user, item, status=ReviewStatus(form.status.data),
                            tags=(form.tags.data or "").split(","), principle_ids=form.principles.data or [],
                            notes=form.notes.data or "",
                            # (a post without the field, from an older page, leaves the wording as it is)
                            published_text=form.published_text.data if form.published_text.raw_data
                            else services.UNCHANGED,
                            file_approved=form.file_approved.data if item.file_may_be_approved else None)
        if outcome.ok:
            db.session.commit()
            flash(f"Review of {item.reference} saved.", "success")
            return redirect(url_for("staff_evidence.submission", submission_id=item.id), code=303)
    return render_form("evidence/staff/submission.html", "evidence/staff/_review_form.html", form,
                       item=item, topics=TOPICS)


@bp.get("/evidence/<int:submission_id>/file")
@staff_required
def download(submission_id):
    """The attached document, for staff only, always as a download."""
    item = db.get_or_404(Submission, submission_id)
    if not item.file_key:
        abort(404)
    try:
        path = uploads.path_for(item.file_key)
    except uploads.UploadError:
        abort(404)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=uploads.KINDS[item.file_kind], as_attachment=True,
                     download_name=f"{item.reference}.{item.file_kind}")


@bp.get("/evidence/calls/")
@staff_required
def calls():
    """Every call with its deadlines and response counts."""
    calls = db.session.scalars(sa.select(Call).order_by(Call.opens_at.desc())).all()
    surveys = dict(db.session.execute(sa.select(SurveyResponse.call_id, sa.func.count()).where(
        SurveyResponse.status == "submitted").group_by(SurveyResponse.call_id)).tuples().all())
    written = dict(db.session.execute(
        sa.select(Submission.call_id, sa.func.count()).group_by(Submission.call_id)).tuples().all())
    return render("evidence/staff/calls.html", calls=calls, surveys=surveys, written=written)


def _call_fields(form: CallForm) -> dict:
    """What the call form parsed, as the services take it."""
    return {"title": form.title.data, "introduction": form.introduction.data, "asks": form.asks.data or "",
            "opens_at": form.opens_at.data, "survey_closes_at": form.survey_closes_at.data,
            "written_closes_at": form.written_closes_at.data}


@bp.route("/evidence/calls/new", methods=["GET", "POST"])
@staff_required
def new_call():
    """Create a call for evidence."""
    form = CallForm()
    if form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one call
        if earlier:
            return redirect(earlier, code=303)
        with refused_to(form, "title") as outcome:
            services.create_call(current_user, **_call_fields(form))
        if outcome.ok:
            submissions.complete(url_for("staff_evidence.calls"))
            db.session.commit()
            flash("Call created.", "success")
            return redirect(url_for("staff_evidence.calls"), code=303)
    return render_form("evidence/staff/call_form.html", "evidence/staff/_call_form.html", form, call=None)


@bp.route("/evidence/calls/<int:call_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_call(call_id):
    """Edit a call and its deadlines."""
    call = get_call_or_404(call_id)
    form = CallForm(obj=None if request.method == "POST" else call)
    if form.validate_on_submit():
        with refused_to(form, "title") as outcome:
            services.update_call(current_user, call, **_call_fields(form))
        if outcome.ok:
            db.session.commit()
            flash("Call saved.", "success")
            return redirect(url_for("staff_evidence.calls"), code=303)
    return render_form("evidence/staff/call_form.html", "evidence/staff/_call_form.html", form, call=call)


@bp.get("/evidence/calls/<int:call_id>/survey-results")
@staff_required
def survey_results(call_id):
    """Survey results as charts with tables, filtered by respondent type and region; responses below."""
    call = get_call_or_404(call_id)
    rtype, region = choice_arg("type", survey.RESPONDENT_TYPES), id_arg("region")
    data = services.survey_results(call, rtype, region)
    regions = db.session.scalars(sa.select(Region).order_by(Region.name)).all()
    region_names = {str(r.id): r.name for r in regions}
    return render("evidence/staff/survey_results.html", "evidence/staff/_survey_results.html", call=call,
                  data=data, regions=regions, region_names=region_names, rtype=rtype, region=region,
                  respondent_types=survey.RESPONDENT_TYPES,
                  responses=services.survey_responses_page(call, page_arg(), rtype, region), survey=survey)


@bp.get("/evidence/calls/<int:call_id>/survey.csv")
@staff_required
def survey_csv(call_id):
    """Every survey response as CSV."""
    call = get_call_or_404(call_id)
    return Response(services.survey_csv(call), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=survey-{call.id}.csv"})


@bp.get("/evidence/calls/<int:call_id>/survey-summary.csv")
@staff_required
def survey_summary_csv(call_id):
    """The survey's counts overall, by respondent type and by region, as they may be published
    (small and one-sided groups hidden: kil_network.core.disclosure)."""
    call = get_call_or_404(call_id)
    return Response(survey_summary.summary_csv(call), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=survey-{call.id}-summary.csv"})
