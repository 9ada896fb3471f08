"""Staff screens of the council journey: every council's stage at a glance (with its CSV), a
council's whole history, reviewing a submitted self-assessment, removing a named champion on
request and marking a peer introduction as made."""
from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user

from kil_network.core.decorators import staff_required
from kil_network.core.htmx import render
from kil_network.core.params import choice_arg, id_arg, text_arg
from kil_network.core.rules import refused_to, refused_to_flash
from kil_network.core.timeutil import utcnow
from kil_network.councils.services import get_council
from kil_network.extensions import db
from kil_network.journey import overview, services
from kil_network.journey.models import Assessment, Champion, PeerIntroduction
from kil_network.journey.services import STAGES, Stage
from kil_network.journey.staff_forms import ReviewForm
from kil_network.members.models import LocalAuthority

bp = Blueprint("staff_councils", __name__)

SEARCH_LIMIT = 100


def _filters() -> dict:
    """The staff list's filters and search from the query string (core.params)."""
    return {"q": text_arg("q", SEARCH_LIMIT),
            "stage": choice_arg("stage", [s.value for s in [Stage.NOT_STARTED, *STAGES]]),
            "region": id_arg("region"), "tier": text_arg("tier", 30),  # one of the tiers: overview.staff_list
            "due": choice_arg("due", [value for value, _ in overview.DUE_CHOICES])}


def get_council_or_404(gss_code: str):
    """The council with this GSS code, or 404."""
    council = get_council(gss_code)
    if council is None:
        abort(404)
    return council


@bp.get("/councils/")
@staff_required
def index():
    """Every council with its stage, region, tier and re-assessment; filters and search (htmx swaps the table)."""
    listing = overview.staff_list(_filters())
    csv_args = {key: value for key, value in listing["filters"].items() if value}
    return render("journey/staff_councils.html", "journey/_staff_councils_table.html",
                  csv_args=csv_args, stages=[Stage.NOT_STARTED, *STAGES], due_choices=overview.DUE_CHOICES,
                  introductions=overview.waiting_introductions(), **listing)


@bp.get("/councils.csv")
@staff_required
def councils_csv():
    """The filtered list as a CSV download (UTF-8, formula-safe)."""
    body = overview.staff_csv(_filters(), current_user)
    db.session.commit()  # the export's audit entry
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=council-journeys-{stamp}.csv"})


@bp.get("/councils/<gss_code>")
@staff_required
def council(gss_code):
    """A council's whole journey: pledge, endorsement, champions, conversations, assessments, reminders."""
    return _council_page(get_council_or_404(gss_code))


def _council_page(council, form: ReviewForm | None = None, reviewed: Assessment | None = None,
                  status_code: int = 200):
    """The council's staff page; after a refused review, that assessment's form with what was typed.
    An assessment no longer waiting for review (decided meanwhile) has no form to hold the errors:
    they go in the summary at the top."""
    history = overview.council_history(council)
    form = form or ReviewForm()
    formless = [(None, message) for messages in form.errors.values() for message in messages] \
        if reviewed is not None and reviewed.id not in history["reviewable"] else []
    return render("journey/staff_council.html", council=council, form=form, formless_errors=formless,
                  reviewed_id=reviewed.id if reviewed else None, status_code=status_code, **history)


def _assessment_or_404(council, assessment_id: int) -> Assessment:
    """The council's assessment with this id, or 404 (another council's is not found here)."""
    assessment = db.session.get(Assessment, assessment_id)
    if assessment is None or assessment.local_authority_id != council.id:
        abort(404)
    return assessment


@bp.post("/councils/<gss_code>/assessments/<int:assessment_id>/review")
@staff_required
def review(gss_code, assessment_id):
    """Accept a submitted assessment, or return it to the council with comments."""
    council = get_council_or_404(gss_code)
    assessment = _assessment_or_404(council, assessment_id)
    form = ReviewForm()
    if form.validate_on_submit():
        with refused_to(form, "comments") as outcome:
            if form.decision.data == "accept":
                services.accept_assessment(current_user, assessment, form.comments.data or "")
            else:
                services.return_assessment(current_user, assessment, form.comments.data or "")
        if outcome.ok:
            db.session.commit()
            flash(f"{council.display_name}'s {assessment.year} assessment has been "
                  f"{'accepted' if form.decision.data == 'accept' else 'returned to the council'}.", "success")
            return redirect(url_for("staff_councils.council", gss_code=council.gss_code), code=303)
    return _council_page(council, form, assessment, status_code=422)  # what was typed is kept


@bp.post("/councils/<gss_code>/champions/<int:champion_id>/remove")
@staff_required
def remove_champion(gss_code, champion_id):
    """Remove a named champion's name and job title, at their request (the role stays as a former champion)."""
    council = get_council_or_404(gss_code)
    champion = db.session.get(Champion, champion_id)
    if champion is None or champion.local_authority_id != council.id:
        abort(404)
    with refused_to_flash() as outcome:
        services.remove_named_champion(current_user, champion)
    if outcome.ok:
        db.session.commit()
        flash("The champion's name and job title have been removed.", "success")
    return redirect(url_for("staff_councils.council", gss_code=council.gss_code), code=303)


@bp.post("/councils/introductions/<int:introduction_id>/handled")
@staff_required
def introduction_handled(introduction_id):
    """Mark a peer introduction as made (a set: a second click changes nothing)."""
    introduction = db.get_or_404(PeerIntroduction, introduction_id)
    with refused_to_flash() as outcome:
        changed = services.mark_introduction_handled(current_user, introduction)
    if outcome.ok:
        db.session.commit()
        flash("The introduction is marked as made." if changed else "That introduction was already marked as made.",
              "success")
    if request.form.get("back") == "list":
        return redirect(url_for("staff_councils.index"), code=303)
    council = db.session.get_one(LocalAuthority, introduction.from_local_authority_id)
    return redirect(url_for("staff_councils.council", gss_code=council.gss_code), code=303)
