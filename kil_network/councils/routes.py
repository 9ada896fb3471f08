"""Submitting a council's pledge, and the staff queue (the public council pages are the journey's)."""
from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user

from kil_network.core import submissions
from kil_network.core.decorators import confirmed_required, staff_required
from kil_network.core.htmx import render, render_form
from kil_network.core.params import choice_arg
from kil_network.core.rules import RuleError, refused_to
from kil_network.councils import services
from kil_network.councils.forms import PledgeForm, PledgeReviewForm
from kil_network.councils.models import Pledge, PledgeStatus, SignedBy
from kil_network.extensions import db

bp = Blueprint("councils", __name__)
staff_bp = Blueprint("staff_pledges", __name__)


def get_council_or_404(gss_code: str):
    """The local authority with this GSS code, or 404."""
    council = services.get_council(gss_code)
    if council is None:
        abort(404)
    return council


@bp.route("/councils/<gss_code>/pledge", methods=["GET", "POST"])
@confirmed_required
def pledge(gss_code):
    """A councillor or officer of the council submits its pledge for staff to verify."""
    council = get_council_or_404(gss_code)
    earlier = submissions.earlier_result()  # sent already: its pending pledge would refuse a second
    if earlier:
        return redirect(earlier, code=303)
    reason = services.pledge_error(current_user, council)
    form = PledgeForm()
    if reason is None and form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one pledge
        if earlier:
            return redirect(earlier, code=303)
        try:
            services.submit_pledge(current_user, council, signed_by=SignedBy(form.signed_by.data),
                                   signatories=form.signatories.data, pledged_on=form.pledged_on.data,
                                   champions=form.champions.data, statement=form.statement.data or "")
        except RuleError as exc:  # not refused_to: a refusal about no field is the page's notice, not a form error
            db.session.rollback()
            if exc.field:
                getattr(form, exc.field).errors.append(exc.message)
            else:
                reason = exc.message
        else:
            submissions.complete(url_for("journey.council", gss_code=council.gss_code))
            db.session.commit()
            flash("Thank you. Campaign staff will check the pledge and then list the council.", "success")
            return redirect(url_for("journey.council", gss_code=council.gss_code), code=303)
    earlier = submissions.earlier_result() if reason else None  # an identical post won the race meanwhile
    if earlier:
        return redirect(earlier, code=303)
    return render_form("councils/pledge.html", "councils/_pledge_form.html", form, council=council, reason=reason)


@staff_bp.get("/pledges/")
@staff_required
def queue():
    """Pledges to verify, and those already verified or rejected."""
    return _queue_page(PledgeReviewForm())


def _queue_page(form: PledgeReviewForm, reviewed: Pledge | None = None, status_code: int = 200):
    """The pledges; after a refused review, that pledge's form with the decision and note typed."""
    status = choice_arg("status", [s.value for s in PledgeStatus])
    # A pledge that is no longer pending has no form on the page to hold its errors (a stale page
    # posted after someone else decided): they go in the summary at the top, with no field.
    formless = [(None, m) for messages in form.errors.values() for m in messages] \
        if reviewed is not None and not reviewed.is_pending else []
    return render("councils/staff_pledges.html", pledges=services.pledges_for_staff(status), status=status,
                  statuses=list(PledgeStatus), form=form, reviewed_id=reviewed.id if reviewed else None,
                  formless_errors=formless, status_code=status_code)


@staff_bp.post("/pledges/<int:pledge_id>")
@staff_required
def review(pledge_id):
    """Verify or reject a pledge."""
    pledge = db.get_or_404(Pledge, pledge_id)
    form = PledgeReviewForm()
    if form.validate_on_submit():
        with refused_to(form, "decision") as outcome:
            services.review_pledge(current_user, pledge, PledgeStatus(form.decision.data), form.note.data or "")
        if outcome.ok:
            db.session.commit()
            flash(f"The pledge of {pledge.local_authority.display_name} is {pledge.status.value}.", "success")
            return redirect(url_for("staff_pledges.queue"), code=303)
    return _queue_page(form, pledge, status_code=422)  # the decision and note typed are kept, never lost
