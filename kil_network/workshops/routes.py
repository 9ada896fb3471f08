"""Public workshop pages, registering and cancelling, My workshops and calendar feeds."""
from datetime import datetime

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from kil_network.core.commits import commit_keeping_loaded
from kil_network.core.email import external_url
from kil_network.core.htmx import is_htmx, render
from kil_network.core.lookups import by_id
from kil_network.core.params import choice_arg, id_arg, month_arg, page_arg
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import LONDON, utcnow
from kil_network.extensions import db
from kil_network.workshops import queries, services
from kil_network.workshops.calendar import feed_ics, workshop_ics
from kil_network.workshops.forms import RegisterForm
from kil_network.workshops.models import Workshop, WorkshopFormat
from kil_network.workshops.notifications import check_in_url
from kil_network.workshops.qr import qr_svg

bp = Blueprint("workshops", __name__)


def _visible_or_404(workshop: Workshop | None, staff: bool = False) -> Workshop:
    """The workshop, unless there is none or it is a draft (drafts exist only for staff)."""
    if workshop is None or (workshop.is_draft and not (staff or (current_user.is_authenticated
                                                                 and current_user.is_staff))):
        abort(404)
    return workshop


def get_workshop_or_404(workshop_id: int, *, staff: bool = False) -> Workshop:
    """The workshop; drafts exist only for staff."""
    return _visible_or_404(by_id(Workshop, workshop_id), staff)


def _month_choices(when: str) -> list[tuple[str, str]]:
    """The next (or last) twelve months as (YYYY-MM, 'March 2027')."""
    today = utcnow().astimezone(LONDON)
    step = -1 if when == "past" else 1
    year, month = today.year, today.month
    months = []
    for _ in range(12):
        months.append((f"{year}-{month:02d}", datetime(year, month, 1).strftime("%B %Y")))
        month += step
        if month == 13:
            year, month = year + 1, 1
        elif month == 0:
            year, month = year - 1, 12
    return months


@bp.get("/workshops/")
def index():
    """Upcoming (or past) workshops, filtered by region, format and month."""
    args = {"region": id_arg("region"), "format": choice_arg("format", [f.value for f in WorkshopFormat]),
            "month": month_arg("month"), "when": choice_arg("when", ("past", "upcoming"), "upcoming")}
    page = page_arg()
    pagination = db.paginate(queries.public_workshops(region=args["region"], fmt=args["format"],
                                                       month=args["month"], when=args["when"]),
                             page=page, per_page=20, error_out=False, count=True)
    stats = queries.registration_stats([w.id for w in pagination.items])
    regions = queries.regions()
    return render("workshops/index.html", "workshops/_list.html", pagination=pagination, stats=stats,
                  args=args, regions=regions, formats=list(WorkshopFormat), months=_month_choices(args["when"]))


def _registration_context(workshop: Workshop, change: services.PlaceChange | None = None) -> dict:
    """What the registration panel needs for the current visitor (after their register or cancel:
    what it wrote and counted, with nothing read again)."""
    reg = position = waitlist_reason = None
    if change is not None:
        seats, reg, position = change.seats, change.reg, change.position
    else:
        seats = services.seats(workshop)
    if current_user.is_authenticated:
        if change is None:
            reg = queries.registration_for(workshop, current_user)
            if reg is not None:
                position = queries.waitlist_position(reg)
        if reg is not None and reg.is_waitlisted:
            waitlist_reason = services.waitlist_reason(workshop, reg.member_type, seats)
        elif reg is None or reg.is_cancelled:  # said before they register: why it would be the waitlist
            waitlist_reason = services.waitlist_reason(workshop, current_user.member_type, seats)
    reason = services.closed_reason(workshop)
    return {"workshop": workshop, "reg": reg, "position": position, "closed_reason": reason,
            "seats": seats, "waitlist_reason": waitlist_reason, "form": RegisterForm()}


@bp.get("/workshops/<int:workshop_id>")
def detail(workshop_id):
    """A workshop's details and, for members, the register or cancel button."""
    workshop = _visible_or_404(queries.workshop_page(workshop_id))
    return render("workshops/detail.html", **_registration_context(workshop))


def _after_registration_change(workshop, message, category="success", change=None):
    """Re-render the registration panel for htmx (from what the change wrote, if given), or
    redirect back to the workshop."""
    if is_htmx():
        return render("workshops/detail.html", "workshops/_registration.html",
                      message=message, message_category=category, **_registration_context(workshop, change))
    flash(message, category)
    return redirect(url_for("workshops.detail", workshop_id=workshop.id), code=303)


def _registration_refused(workshop, form):
    """A refused registration: the panel (htmx) or the whole page again, never a redirect, with the
    access needs typed kept and the error summary (the form's errors)."""
    return render("workshops/detail.html", "workshops/_registration.html", status_code=422,
                  **{**_registration_context(workshop), "form": form})


def _locked_workshop_or_404(workshop_id: int) -> Workshop:
    """The workshop read by taking its seat lock (one statement for both); drafts exist only for staff."""
    workshop = services.lock_workshop(workshop_id)
    if workshop is None or (workshop.is_draft and not current_user.is_staff):
        abort(404)  # the request's session is rolled back: the lock's write is undone
    return workshop


@bp.post("/workshops/<int:workshop_id>/register")
@login_required
def register(workshop_id):
    """Register the signed-in member: a seat if one is free, else the waitlist."""
    form = RegisterForm()
    if not form.validate_on_submit():
        return _registration_refused(get_workshop_or_404(workshop_id), form)
    workshop = _locked_workshop_or_404(workshop_id)
    try:
        change = services.register_place(workshop, current_user, form.access_needs.data or "")
    except RuleError as exc:  # registration closed, already registered: the form's error summary
        db.session.rollback()
        form.form_errors.append(exc.message)
        return _registration_refused(workshop, form)
    commit_keeping_loaded()
    if change.position:
        why = change.reason
        message = (f"{why.message if why else 'Every place is taken.'} You are number {change.position} on the "
                   "waitlist; we will email you if a place comes up.")
    else:
        message = "Your place is confirmed. We have emailed you the details and a calendar entry."
    return _after_registration_change(workshop, message, change=change)


@bp.route("/workshops/<int:workshop_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(workshop_id):
    """Cancel the signed-in member's registration or leave the waitlist, once they confirm on the
    page that says what happens (whether someone on the waitlist gets the seat). A GET, or a POST
    without confirm=1, shows that page (for htmx: the question in the registration panel)."""
    if request.method == "POST" and request.form.get("confirm") == "1":
        workshop = _locked_workshop_or_404(workshop_id)
        try:
            change = services.cancel_place(workshop, current_user)
        except RuleError as exc:  # shown in the registration panel (htmx) or flashed: see _after_registration_change
            db.session.rollback()
            return _after_registration_change(workshop, exc.message, "error")
        if change is None:
            db.session.rollback()  # nothing changed: the lock's write is undone
            return _after_registration_change(workshop, "You are not registered for this workshop.", "error")
        commit_keeping_loaded()
        return _after_registration_change(workshop, "Your registration has been cancelled.", change=change)
    workshop = get_workshop_or_404(workshop_id)
    reg = queries.registration_for(workshop, current_user)
    if reg is None or not reg.is_active:
        if request.method == "GET":  # the page, saying there is nothing to cancel
            return render("workshops/cancel_confirm.html", workshop=workshop, reg=None, effects=None)
        return _after_registration_change(workshop, "You are not registered for this workshop.", "error")
    return render("workshops/cancel_confirm.html", "workshops/_cancel_confirm.html", workshop=workshop,
                  reg=reg, effects=services.place_cancel_effects(reg))


@bp.get("/workshops/<int:workshop_id>.ics")
def ics(workshop_id):
    """The workshop as a calendar file, for anyone (no joining link)."""
    workshop = get_workshop_or_404(workshop_id)
    return Response(workshop_ics(workshop), mimetype="text/calendar",
                    headers={"Content-Disposition": f"attachment; filename=workshop-{workshop.id}.ics"})


@bp.get("/account/workshops")
@login_required
def my_workshops():
    """The member's workshops: upcoming (with waitlist position) and past, with check-in QR codes."""
    data = queries.member_workshops(current_user)
    qr = {reg.id: qr_svg(check_in_url(reg), f"Check-in code for {reg.workshop.title}")
          for reg in data["upcoming"] if reg.is_confirmed}
    feed_url = (external_url("workshops.calendar_feed", token=current_user.calendar_token)
                if current_user.calendar_token else None)
    return render("workshops/my_workshops.html", qr=qr, feed_url=feed_url, **data)


@bp.post("/account/workshops/calendar")
@login_required
def reset_calendar():
    """Create (or replace) the secret address of the member's calendar feed."""
    services.reset_calendar_token(current_user)
    db.session.commit()
    flash("Your calendar address has been created. Any old address no longer works.", "success")
    return redirect(url_for("workshops.my_workshops"), code=303)


@bp.get("/calendar/<token>.ics")
def calendar_feed(token):
    """A member's private feed of their confirmed and waitlisted workshops."""
    user = queries.calendar_feed_owner(token)
    if user is None:
        abort(404)
    workshops, confirmed = queries.calendar_feed(user)
    return Response(feed_ics(workshops, queries.CALENDAR_NAME, confirmed), mimetype="text/calendar")


@bp.get("/t/<code>")
def ticket(code):
    """What an attendee's QR code opens (an unguessable code, not a database id). Staff get the
    door's check-in result for it (a tap checks them in); the attendee signed in gets their ticket;
    anyone else a page that says whose workshop this ticket is for, with no personal data."""
    reg = services.registration_by_ticket(code)
    if reg is None or reg.workshop.is_draft:
        abort(404)
    workshop = reg.workshop
    mine = current_user.is_authenticated and reg.user_id == current_user.id
    if not mine and current_user.is_authenticated and current_user.is_staff:
        result = services.scan_ticket(current_user, workshop, code, check_in_now=False)
        return render("workshops/staff/scan.html", workshop=workshop, result=result, code="")
    qr = qr_svg(check_in_url(reg), f"Your ticket for {workshop.title}") if mine and reg.is_active else None
    return render("workshops/ticket.html", workshop=workshop, reg=reg if mine else None, qr=qr)
