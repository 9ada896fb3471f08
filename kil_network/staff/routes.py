"""Staff screens: members, a member's page, role and suspension, CSV, audit log, outbox."""
import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, flash, redirect, url_for
from flask_login import current_user

from kil_network.auth.models import MEMBER_TYPE_LABELS, Role, Status, User
from kil_network.core.decorators import admin_required, staff_required
from kil_network.core.htmx import render
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.params import choice_arg, id_arg, page_arg, text_arg
from kil_network.core.rules import refused_to, refused_to_flash
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.principles import moderation
from kil_network.staff import services
from kil_network.staff.forms import RoleForm, SuspendForm

bp = Blueprint("staff", __name__)

FILTER_KEYS = ("q", "type", "region", "status", "role", "email")
EMAIL_FILTERS = [("undeliverable", "Undeliverable")]


def _filters() -> dict:
    """The member-list filters from the query string."""
    return {"q": text_arg("q"), "type": choice_arg("type", [t.value for t in MEMBER_TYPE_LABELS]),
            "region": id_arg("region"), "status": choice_arg("status", [s.value for s in Status]),
            "role": choice_arg("role", [r.value for r in Role]),
            "email": choice_arg("email", [value for value, _ in EMAIL_FILTERS])}


def _search(filters):
    """The staff member search for these filters."""
    return services.staff_member_search(filters["q"], filters["type"], filters["region"],
                                        filters["status"], filters["role"], filters["email"])


def get_member_or_404(member_id: int) -> User:
    """The (not deleted) member with this id, or 404."""
    member = db.get_or_404(User, member_id)
    if member.status == Status.DELETED:
        abort(404)
    return member


@bp.get("/")
@staff_required
def dashboard():
    """Staff home: the areas staff look after."""
    return render("staff/dashboard.html", counts=services.outbox_counts(),
                  moderation_waiting=moderation.pending_count())


@bp.get("/members/")
@staff_required
def members():
    """All members with search, filters and pagination (htmx swaps the table)."""
    filters = _filters()
    page = page_arg()
    pagination = services.staff_members_page(filters, page)
    regions = db.session.scalars(sa.select(Region).order_by(Region.name)).all()
    csv_args = {k: v for k, v in filters.items() if v}
    return render("staff/members.html", "staff/_members_table.html", pagination=pagination,
                  filters=filters, regions=regions, member_types=MEMBER_TYPE_LABELS,
                  statuses=[Status.ACTIVE, Status.SUSPENDED], roles=list(Role), email_filters=EMAIL_FILTERS,
                  csv_args=csv_args)


@bp.get("/members.csv")
@staff_required
def members_csv():
    """The current filtered member list as a CSV download."""
    body = services.members_csv(_search(_filters()), current_user)
    db.session.commit()
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(body, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=members-{stamp}.csv"})


@bp.get("/members/<int:member_id>")
@staff_required
def member(member_id):
    """A member's details, consents and the actions staff can take."""
    return _member_page(get_member_or_404(member_id))


def _member_page(member, suspend_form: SuspendForm | None = None, status_code: int = 200):
    """The member's page; after a refused suspension, with the reason typed and the error summary."""
    history = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.target_type == "user", AuditLog.target_id == member.id)
        .order_by(AuditLog.id.desc()).limit(20)
    ).all()
    return render("staff/member.html", "staff/_member_actions.html", member=member,
                  role_form=RoleForm(role=member.role.value), suspend_form=suspend_form or SuspendForm(),
                  history=history, delivery=services.email_delivery_notice(member), status_code=status_code)


def _after_action(member, message):
    """Re-render the member's action panel for htmx, or redirect back."""
    flash(message, "success")
    return redirect(url_for("staff.member", member_id=member.id), code=303)


def _action_error(member, message):
    """Show why a staff action was refused."""
    flash(message, "error")
    return _back_to(member)


def _back_to(member):
    """Back to the member's page (a refusal has been flashed)."""
    return redirect(url_for("staff.member", member_id=member.id), code=303)


@bp.post("/members/<int:member_id>/suspend")
@staff_required
def suspend(member_id):
    """Suspend a member."""
    member = get_member_or_404(member_id)
    form = SuspendForm()
    if not form.validate_on_submit():
        return _member_page(member, form, status_code=422)  # the reason typed is kept, never lost
    with refused_to(form, "reason") as outcome:
        services.suspend(current_user, member, form.reason.data)
    if not outcome.ok:
        return _member_page(member, form, status_code=422)
    db.session.commit()
    return _after_action(member, f"{member.name} has been suspended and signed out.")


@bp.post("/members/<int:member_id>/reactivate")
@staff_required
def reactivate(member_id):
    """Reactivate a suspended member."""
    member = get_member_or_404(member_id)
    with refused_to_flash() as outcome:
        services.reactivate(current_user, member)
    if not outcome.ok:
        return _back_to(member)
    db.session.commit()
    return _after_action(member, f"{member.name} can sign in again.")


@bp.post("/members/<int:member_id>/role")
@staff_required
def change_role(member_id):
    """Change a member's role."""
    member = get_member_or_404(member_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _action_error(member, "Select a role")
    with refused_to_flash() as outcome:
        services.change_role(current_user, member, Role(form.role.data))
    if not outcome.ok:
        return _back_to(member)
    db.session.commit()
    return _after_action(member, f"{member.name} is now {member.role.value}.")


@bp.get("/audit/")
@admin_required
def audit():
    """The audit log: who did what, when (admins only)."""
    page = page_arg()
    action = text_arg("action", 64)
    actions = db.session.scalars(sa.select(AuditLog.action).distinct().order_by(AuditLog.action)).all()
    return render("staff/audit.html", pagination=services.audit_page(page, action),
                  action=action, actions=actions)


@bp.get("/outbox/")
@staff_required
def outbox():
    """Email deliveries: pending, sent and failed; bodies only when mail goes to the console,
    and never those of secret emails (sign-in, confirmation and reset links)."""
    page = page_arg()
    status = choice_arg("status", (OutboxEmail.PENDING, OutboxEmail.SENT, OutboxEmail.FAILED))
    return render("staff/outbox.html", pagination=services.outbox_page(page, status),
                  status=status, counts=services.outbox_counts(),
                  show_bodies=not current_app.config["MAIL_SERVER"])


@bp.post("/outbox/<int:mail_id>/retry")
@staff_required
def retry_email(mail_id):
    """Send a failed email again."""
    mail = db.get_or_404(OutboxEmail, mail_id)
    if not services.retry_email(current_user, mail):
        flash(f"Email #{mail.id} is being sent right now, so it was not sent again."
              if mail.status == OutboxEmail.SENDING
              else f"Email #{mail.id} has already been sent, so it was not sent again.", "error")
        return redirect(url_for("staff.outbox"), code=303)
    db.session.commit()
    flash(f"Email #{mail.id} will be sent again within a few seconds.", "success")
    return redirect(url_for("staff.outbox", status="failed"), code=303)
