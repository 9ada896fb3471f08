"""Staff workshop screens: dashboard, schedule and edit, publish, cancel, check-in, exports."""
import csv
import io
import json

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from kil_network.auth.models import MemberType
from kil_network.core import submissions
from kil_network.core.csrf import token_refused
from kil_network.core.csvutil import csv_safe
from kil_network.core.decorators import staff_required
from kil_network.core.htmx import is_htmx, render, render_form
from kil_network.core.params import text_arg
from kil_network.core.rules import RuleError, refused_to, refused_to_flash
from kil_network.core.timeutil import format_london
from kil_network.extensions import db
from kil_network.workshops import queries, services
from kil_network.workshops.forms import CancelWorkshopForm, WalkInForm, WorkshopForm
from kil_network.workshops.models import Registration, Workshop
from kil_network.workshops.routes import get_workshop_or_404

bp = Blueprint("staff_workshops", __name__)


def get_registration_or_404(workshop: Workshop, registration_id: int) -> Registration:
    """A registration of this workshop, or 404."""
    reg = db.get_or_404(Registration, registration_id)
    if reg.workshop_id != workshop.id:
        abort(404)
    return reg


@bp.get("/")
@staff_required
def dashboard():
    """Upcoming workshops with seats and waitlists; past ones with attendance; totals by region."""
    lists = queries.staff_dashboard()
    stats = queries.registration_stats([w.id for w in lists["upcoming"] + lists["past"]])
    return render("workshops/staff/dashboard.html", stats=stats, regions=queries.region_totals(),
                  no_show=queries.no_show_rates(lists["past"], stats), **lists)


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def new():
    """Schedule a new workshop (saved as a draft)."""
    form = WorkshopForm()
    if form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one workshop
        if earlier:
            return redirect(earlier, code=303)
        workshop = services.create_workshop(current_user, form.to_data())
        done = url_for("staff_workshops.show", workshop_id=workshop.id)
        submissions.complete(done)
        db.session.commit()
        flash("The workshop is saved as a draft. Publish it when it is ready.", "success")
        return redirect(done, code=303)
    return render_form("workshops/staff/form.html", "workshops/staff/_form.html", form, workshop=None)


@bp.get("/<int:workshop_id>")
@staff_required
def show(workshop_id):
    """A workshop for staff: status, actions, registrations with access needs."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    return render("workshops/staff/show.html", workshop=workshop, regs=queries.registrations(workshop),
                  seats=services.seats(workshop), counts=queries.attendance_counts(workshop))


@bp.route("/<int:workshop_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(workshop_id):
    """Edit a workshop; a new time or place is emailed to everyone registered."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    with refused_to_flash() as editable:
        services.check_editable(workshop)
    if not editable.ok:
        return redirect(url_for("staff_workshops.show", workshop_id=workshop.id), code=303)
    form = WorkshopForm(obj=None if request.method == "POST" else _FormData(workshop))
    if form.validate_on_submit():
        with refused_to(form, "title") as outcome:
            result = services.update_workshop(current_user, workshop, form.to_data())
        if outcome.ok:
            db.session.commit()
            message = "Changes saved."
            if result["notified"]:
                message += f" {result['notified']} people were emailed the new details."
            if result["promoted"]:
                message += f" {len(result['promoted'])} people were given a place from the waitlist."
            flash(message, "success")
            return redirect(url_for("staff_workshops.show", workshop_id=workshop.id), code=303)
    return render_form("workshops/staff/form.html", "workshops/staff/_form.html", form, workshop=workshop)


class _FormData:
    """A workshop seen as form data, to prefill the edit form (region as its id)."""

    def __init__(self, workshop: Workshop):
        for name in services.WORKSHOP_FIELDS:
            setattr(self, name, getattr(workshop, name))
        self.region = str(workshop.region_id or "")
        self.format = workshop.format.value
        self.round = str(workshop.round_id or "")


@bp.post("/<int:workshop_id>/publish")
@staff_required
def publish(workshop_id):
    """Publish a draft."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    with refused_to_flash() as outcome:
        published = services.publish_workshop(current_user, workshop)
    if outcome.ok:
        db.session.commit()
        flash("The workshop is published and open for registration." if published
              else "The workshop was already published.", "success")
    return redirect(url_for("staff_workshops.show", workshop_id=workshop.id), code=303)


@bp.route("/<int:workshop_id>/cancel", methods=["GET", "POST"])
@staff_required
def cancel(workshop_id):
    """Cancel a workshop, with a reason that is emailed to everyone registered: the reason form,
    then the page that says who is emailed and that it cannot be undone; only its button (which
    posts confirm=1 with the reason) cancels. "Change the reason" (change=1) goes back to the form."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    form = CancelWorkshopForm()
    effects = services.workshop_cancel_effects(workshop)
    valid = form.validate_on_submit()
    confirmed = request.form.get("confirm") == "1" or workshop.is_cancelled  # cancelled already: says so
    if valid and not confirmed and request.form.get("change") != "1":
        return render("workshops/staff/cancel_confirm.html", workshop=workshop, reason=form.reason.data,
                      effects=effects)
    if valid and confirmed:
        with refused_to(form, "reason") as outcome:
            notified = services.cancel_workshop(current_user, workshop, form.reason.data)
        if outcome.ok:
            db.session.commit()
            flash("The workshop was already cancelled. Nobody was emailed again." if notified is None
                  else f"The workshop is cancelled. {notified} people were emailed.", "success")
            return redirect(url_for("staff_workshops.show", workshop_id=workshop.id), code=303)
    return render_form("workshops/staff/cancel.html", "workshops/staff/_cancel_form.html", form,
                       workshop=workshop, seats=services.seats(workshop), effects=effects)


@bp.get("/<int:workshop_id>/attendance")
@staff_required
def attendance(workshop_id):
    """Check-in on the day: search as you type, one tap per person, live count."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    q = text_arg("q", 100)
    return render("workshops/staff/attendance.html", "workshops/staff/_checkin_rows.html", workshop=workshop,
                  q=q, walk_in_form=WalkInForm(), **queries.check_in_page(workshop, q))


@bp.get("/<int:workshop_id>/attendance/count")
@staff_required
def attendance_count(workshop_id):
    """The live 'attended / registered' counter (refreshed after each check-in)."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    return render("workshops/staff/_count.html", workshop=workshop, counts=queries.attendance_counts(workshop))


@bp.get("/<int:workshop_id>/attendance/<int:registration_id>")
@staff_required
def registration(workshop_id, registration_id):
    """One registration, with how and when it was checked in, its history and a check-in button."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    reg = get_registration_or_404(workshop, registration_id)
    return render("workshops/staff/registration.html", workshop=workshop, reg=reg,
                  events=queries.registration_history(reg))


@bp.post("/<int:workshop_id>/attendance/<int:registration_id>")
@staff_required
def check_in(workshop_id, registration_id):
    """Check a person in (a second tap changes nothing); htmx gets the row back and the counter refreshes.
    Someone on the waitlist is checked in only with `confirm=1`: the first tap asks."""
    confirm = request.form.get("confirm") == "1"
    return _attendance_change(workshop_id, registration_id,
                              lambda actor, reg: services.check_in(actor, reg, confirm_waitlisted=confirm))


@bp.post("/<int:workshop_id>/attendance/<int:registration_id>/undo")
@staff_required
def undo_check_in(workshop_id, registration_id):
    """Undo a check-in (its own button and route; a second tap changes nothing)."""
    return _attendance_change(workshop_id, registration_id, services.undo_check_in)


def _attendance_change(workshop_id, registration_id, change):
    """Apply a check-in or an undo, then answer htmx with the row or redirect back. The seat lock
    comes first and reads the workshop; the registration, its member and organisation are then
    read once, under it (one statement each), and the card is made from them."""
    workshop = services.lock_workshop(workshop_id)
    if workshop is None:
        abort(404)
    reg = queries.registration_to_check_in(workshop, registration_id)
    if reg is None:
        abort(404)  # the request's session is rolled back: the lock's write is undone
    ask = False
    with refused_to_flash() as outcome:
        try:
            change(current_user, reg)
        except services.WaitlistedNeedsConfirmation:  # not a refusal: the row (or page) asks to confirm
            db.session.rollback()
            ask = True
    if not outcome.ok:
        return redirect(url_for("staff_workshops.attendance", workshop_id=workshop.id), code=303)
    if ask and not is_htmx():
        flash(f"{reg.person_name} is on the waitlist. Confirm a place and check in?", "warning")
        return redirect(url_for("staff_workshops.registration", workshop_id=workshop.id, registration_id=reg.id),
                        code=303)
    if is_htmx():
        card = queries.check_in_card(reg)  # before the commit expires `reg`
        db.session.commit()
        response = render("workshops/staff/attendance.html", "workshops/staff/_checkin_row.html",
                          workshop_id=workshop_id, reg=card, ask=ask)
        if not ask:
            response.headers["HX-Trigger"] = "attendance-changed"
        return response
    db.session.commit()
    flash(f"{reg.person_name} {'checked in' if reg.attended else 'is no longer checked in'}.", "success")
    back = request.form.get("back")
    if back == "registration":
        return redirect(url_for("staff_workshops.registration", workshop_id=workshop.id, registration_id=reg.id),
                        code=303)
    return redirect(url_for("staff_workshops.attendance", workshop_id=workshop.id), code=303)


@bp.post("/<int:workshop_id>/walk-in")
@staff_required
def walk_in(workshop_id):
    """Add someone who turned up without a place."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    form = WalkInForm()
    if form.validate_on_submit():
        earlier = submissions.claim()  # the same form posted twice: one walk-in, one invitation
        if earlier:
            return redirect(earlier, code=303)
        with refused_to(form, "name") as outcome:
            walk_in = services.admit_walk_in(
                current_user, workshop, name=form.name.data or "", email=form.email.data,
                member_type=MemberType(form.member_type.data) if form.member_type.data else None)
        if outcome.ok:
            submissions.complete(url_for("staff_workshops.attendance", workshop_id=workshop.id))
            db.session.commit()
            flash(walk_in.message, "success")
            return redirect(url_for("staff_workshops.attendance", workshop_id=workshop.id), code=303)
    return render_form("workshops/staff/attendance.html", "workshops/staff/_walk_in_form.html", form,
                       workshop=workshop, q="", walk_in_form=form, **queries.check_in_page(workshop))


# The scan page uses the phone's camera: the rest of the site denies it (core/security.py sets
# camera=() unless a response sets its own policy).
SCAN_PERMISSIONS = "camera=(self), microphone=(), geolocation=()"


@bp.get("/<int:workshop_id>/scan")
@staff_required
def scan(workshop_id):
    """Scan attendees' ticket QR codes with the phone camera (or type the code)."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    response = render("workshops/staff/scan.html", workshop=workshop, result=None, code="", camera=True,
                      counts=queries.attendance_counts(workshop))
    response.headers["Permissions-Policy"] = SCAN_PERMISSIONS
    return response


@bp.post("/<int:workshop_id>/scan")
@staff_required
def scan_check_in(workshop_id):
    """A scanned (or typed) ticket code: check the person in and answer the result (htmx: the result
    alone). A waitlisted person needs `confirm=1`."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    code = request.form.get("code", "")[:300]
    try:
        result = services.scan_ticket(current_user, workshop, code, confirm=request.form.get("confirm") == "1")
    except RuleError as exc:  # the workshop takes no check-ins: that is the scan's result, not a form error
        db.session.rollback()
        result = services.ScanResult(services.ScanKind.REFUSED, None, exc.message)
    else:
        db.session.commit()
    response = render("workshops/staff/scan.html", "workshops/staff/_scan_result.html", workshop=workshop,
                      result=result, code="" if result.kind == services.ScanKind.CHECKED_IN else code,
                      camera=True, counts=queries.attendance_counts(workshop))  # a refused code stays, to correct
    response.headers["Permissions-Policy"] = SCAN_PERMISSIONS
    if result.kind == services.ScanKind.CHECKED_IN:
        response.headers["HX-Trigger"] = "attendance-changed"
    return response


@bp.get("/<int:workshop_id>/sheet")
@staff_required
def sheet(workshop_id):
    """A printable sign-in sheet."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    return render("workshops/staff/sheet.html", workshop=workshop, regs=queries.sign_in_sheet(workshop))


@bp.get("/<int:workshop_id>/attendance.csv")
@staff_required
def attendance_csv(workshop_id):
    """Registrations with attendance, as CSV."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    regs = queries.registrations_for_export(workshop)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["registration_id", "name", "email", "member_type", "state", "walk_in",
                     "registered_at", "attended", "checked_in_at", "access_needs"])
    for reg in regs:
        writer.writerow([csv_safe(v) for v in [
            reg.id, reg.person_name, reg.person_email, reg.member_type.value, reg.state.value,
            "yes" if reg.walk_in else "no", reg.created_at.isoformat(), "yes" if reg.attended else "no",
            reg.checked_in_at.isoformat() if reg.checked_in_at else "", reg.access_needs,
        ]])
    stamp = format_london(workshop.starts_at, "%Y%m%d")
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=workshop-{workshop.id}-{stamp}.csv"})


# --- Check-in on a phone that loses the network (service worker, list as data, offline queue) ----

SYNC_MAX_BYTES = 64 * 1024  # 500 queued taps are about 50 KB


@bp.get("/checkin-sw.js")
def checkin_service_worker():
    """The check-in page's service worker (static/js/checkin-sw.js), served from this path so
    that its scope is /staff/workshops/: a worker controls only the pages under its own path.
    Static code, nothing secret; `no-cache` so the phone checks for a new version each time."""
    response = current_app.send_static_file("js/checkin-sw.js")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/<int:workshop_id>/attendance.json")
@staff_required
def attendance_json(workshop_id):
    """The check-in list as data, for the copy the phone keeps (IndexedDB), with the counter's
    figures, the server's time and a fresh CSRF token (the page a phone kept offline may hold an
    expired one by the time it sends its queue)."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    return jsonify(workshop={"id": workshop.id, "title": workshop.title}, csrf_token=generate_csrf(),
                   **queries.offline_check_in_list(workshop))


@bp.post("/<int:workshop_id>/attendance/sync")
@staff_required
def attendance_sync(workshop_id):
    """Check-ins a phone queued offline: JSON `{"check_ins": [{"registration_id", "at", "id"}]}`
    (or the same document in a form field `payload`), the CSRF token in X-CSRFToken. Answers each
    tap's result (`services.sync_check_ins`); a body too big or not of that shape gets 413 or 400
    and nothing is applied."""
    workshop = get_workshop_or_404(workshop_id, staff=True)
    if token_refused():
        return jsonify(error="The page's security token has expired. Reload the page."), 400
    if (request.content_length or 0) > SYNC_MAX_BYTES:
        return jsonify(error="Too many check-ins in one go."), 413
    raw = request.get_data(cache=False) if request.is_json else request.form.get("payload", "").encode()
    if len(raw) > SYNC_MAX_BYTES:
        return jsonify(error="Too many check-ins in one go."), 413
    try:
        taps = services.offline_taps(json.loads(raw))
    except (ValueError, RecursionError):
        return jsonify(error="The check-ins sent are not valid JSON."), 400
    except RuleError as refused:
        return jsonify(error=refused.message), 400
    results = services.sync_check_ins(current_user, workshop, taps)
    db.session.commit()
    return jsonify(results=results, counts=queries.attendance_counts(workshop))
