"""Member directory, member pages, organisations and the member's own account."""
import json

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from kil_network.auth import services as auth_services
from kil_network.auth.models import MEMBER_TYPE_LABELS, MemberType
from kil_network.auth.routes import form_email, too_many_on
from kil_network.core.addresses import normalise_email
from kil_network.core.decorators import confirmed_required, staff_required
from kil_network.core.errors import render_error
from kil_network.core.htmx import render, render_form
from kil_network.core.params import choice_arg, id_arg, int_arg, page_arg, text_arg
from kil_network.core.rules import NotPermitted, refused_to, refused_to_flash
from kil_network.extensions import db, limiter
from kil_network.members import services
from kil_network.members.forms import (
    AppointEditorForm,
    DeleteAccountForm,
    EditorDecisionForm,
    EmailChangeForm,
    JoinForm,
    OrganisationForm,
    PasswordChangeForm,
    ProfileForm,
)
from kil_network.members.models import Organisation, Region

bp = Blueprint("members", __name__)
organisations_bp = Blueprint("organisations", __name__)
account_bp = Blueprint("account", __name__)
staff_organisations_bp = Blueprint("staff_organisations", __name__)
# Joining keeps its address under /auth (registered there by the app factory); it creates a member.
joining_bp = Blueprint("joining", __name__)


def _join_key() -> str:
    """Join limit key: the address joined with (each join that goes through emails that address)."""
    return f"join-email:{form_email()}"


def _join_client_key() -> str:
    """Join limit key: the client address and the email address typed.

    A room on the venue's Wi-Fi shares one client address: each person joining counts against
    their own email address, and the address-wide ceiling below is sized for a room."""
    return f"join:{get_remote_address()}:{form_email()}"


@joining_bp.errorhandler(429)
def _join_too_many(error):
    """A join limit bit: the form again with what was typed (never the password), status 429."""
    if request.endpoint != "joining.join":
        return render_error(429)
    form = JoinForm()
    too_many_on(form, "email")
    return render("auth/join.html", "auth/_join_form.html", form=form, status_code=429)


@joining_bp.route("/join", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"], key_func=_join_client_key)
@limiter.limit("1000 per hour", methods=["POST"])
@limiter.limit("3 per hour", methods=["POST"], key_func=_join_key,
               deduct_when=lambda response: response.status_code in (302, 303))
def join():
    """Join the Network (/auth/join): profile, sign-in details and consents.

    The answer is "check your email" whether or not the address already has an account."""
    if current_user.is_authenticated:
        return redirect(url_for("account.profile"))
    form = JoinForm()
    if form.validate_on_submit():
        with refused_to(form, "email") as outcome:
            services.join(
                name=form.name.data, email=form.email.data, password=form.password.data,
                member_type=MemberType(form.member_type.data), organisation_name=form.organisation.data,
                local_authority=services.get_local_authority(form.local_authority.data),
                region=services.get_region(form.region.data), job_title=form.job_title.data,
                involvement=form.involvement.data, consent_privacy=form.consent_privacy.data,
                consent_marketing=form.consent_marketing.data,
                show_in_directory=form.show_in_directory.data,
            )
        if outcome.ok:
            db.session.commit()
            session.clear()
            session["check_email"] = normalise_email(form.email.data)
            return redirect(url_for("auth.check_email"))
    return render_form("auth/join.html", "auth/_join_form.html", form)

def _page_arg() -> int:
    """The ?page= number, at least 1 (and small enough for the database)."""
    return page_arg()


def _regions():
    """All regions, by name, for filter selects."""
    return db.session.scalars(sa.select(Region).order_by(Region.name)).all()


@bp.get("/")
@confirmed_required
def directory():
    """The member directory with active search (htmx swaps just the results)."""
    q = text_arg("q")
    mtype = choice_arg("type", [t.value for t in MEMBER_TYPE_LABELS])
    region = id_arg("region")
    pagination = services.directory_page(q, mtype, region, _page_arg())
    return render(
        "members/directory.html", "members/_results.html", pagination=pagination,
        q=q, mtype=mtype, region=region, regions=_regions(), member_types=MEMBER_TYPE_LABELS,
    )


@bp.get("/<int:member_id>")
@confirmed_required
def member(member_id):
    """A listed member's profile (never their email address)."""
    user = services.visible_member(member_id, current_user)
    if user is None:
        abort(404)
    return render("members/member.html", member=user)


@organisations_bp.get("/")
@confirmed_required
def organisations():
    """Organisations in the Network with their listed members."""
    q = text_arg("q")
    pagination, members = services.organisations_page(q, _page_arg())
    editable = services.editable_organisation_ids(current_user, [org.id for org in pagination.items])
    return render("members/organisations.html", "members/_organisation_results.html",
                  pagination=pagination, members=members, q=q, editable=editable)


@organisations_bp.get("/<int:org_id>")
@confirmed_required
def organisation(org_id):
    """An organisation: its details, listed members and editors; asking to edit, answering requests."""
    org = db.get_or_404(Organisation, org_id)
    view = services.organisation_view(org, current_user)
    appoint = AppointEditorForm()
    appoint.member_id.choices = [(str(m.id), m.name) for m in view["appointable"]]
    return render("members/organisation.html", org=org, view=view, decision_form=EditorDecisionForm(),
                  appoint_form=appoint)


def _editor_change(org_id, change, message: str):
    """Run an editor change (a service call) for an organisation, commit, and go back to its page.

    A change the person may not make at all is a 403; one the rules refuse is explained."""
    org = db.get_or_404(Organisation, org_id)
    try:
        with refused_to_flash() as outcome:
            change(org)
    except NotPermitted:
        db.session.rollback()
        abort(403)
    if outcome.ok:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("organisations.organisation", org_id=org.id), code=303)


@organisations_bp.post("/<int:org_id>/editors/request")
@confirmed_required
def request_to_edit(org_id):
    """A member of the organisation asks to edit its details."""
    return _editor_change(org_id, lambda org: services.request_to_edit(current_user, org),
                          "Your request has been sent. An editor of the organisation or campaign staff will answer it.")


@organisations_bp.post("/<int:org_id>/editors/<int:row_id>/decide")
@confirmed_required
def decide_edit_request(org_id, row_id):
    """An editor or staff approve or refuse a request to edit."""
    form = EditorDecisionForm()
    if not form.validate_on_submit():
        flash("Choose approve or refuse.", "error")
        return redirect(url_for("organisations.organisation", org_id=org_id), code=303)
    approve = form.decision.data == "approve"
    return _editor_change(org_id, lambda org: services.decide_edit_request(current_user, org, row_id, approve),
                          "The member is now an editor." if approve else "The request has been refused.")


@organisations_bp.post("/<int:org_id>/editors/<int:row_id>/remove")
@confirmed_required
def remove_editor(org_id, row_id):
    """Staff remove an editor, or an editor steps down."""
    return _editor_change(org_id, lambda org: services.remove_editor(current_user, org, row_id),
                          "The editor has been removed.")


@organisations_bp.post("/<int:org_id>/editors/appoint")
@staff_required
def appoint_editor(org_id):
    """Staff appoint one of the organisation's members as an editor."""
    member_id = int_arg(request.form.get("member_id"))
    return _editor_change(org_id, lambda org: services.appoint_editor(current_user, org, member_id),
                          "The member is now an editor.")


@staff_organisations_bp.get("/")
@staff_required
def staff_organisations():
    """Every organisation with its editors and waiting requests, for staff."""
    show = choice_arg("show", ("pending", "no_editor"))
    page = _page_arg()
    rows, total = services.organisations_for_staff(show, page)
    return render("members/staff_organisations.html", rows=rows, total=total, show=show, page_number=page,
                  per_page=services.STAFF_ORGANISATIONS_PER_PAGE)


@organisations_bp.route("/<int:org_id>/edit", methods=["GET", "POST"])
@confirmed_required
def edit_organisation(org_id):
    """The organisation's editors (and staff) keep its record up to date."""
    org = db.get_or_404(Organisation, org_id)
    if not services.can_edit_organisation(current_user, org):
        abort(403)
    form = OrganisationForm(data=None if request.method == "POST" else {
        "name": org.name, "org_type": org.org_type, "charity_number": org.charity_number,
        "company_number": org.company_number,
        "local_authority": org.local_authority.gss_code if org.local_authority else "",
    })
    if form.validate_on_submit():
        try:
            with refused_to(form, "name") as outcome:
                services.update_organisation(
                    current_user, org, name=form.name.data, org_type=form.org_type.data,
                    charity_number=form.charity_number.data, company_number=form.company_number.data,
                    local_authority=services.get_local_authority(form.local_authority.data),
                )
        except NotPermitted:
            db.session.rollback()
            abort(403)
        if outcome.ok:
            db.session.commit()
            flash(f"The details of {org.name} have been saved.", "success")
            return redirect(url_for("organisations.organisation", org_id=org.id))
    return render_form("members/organisation_edit.html", "members/_organisation_form.html", form, org=org)


def _profile_defaults(user):
    """The member's current details as form data."""
    return {
        "name": user.name, "member_type": user.member_type.value,
        "organisation": user.organisation.name if user.organisation else "",
        "local_authority": user.local_authority.gss_code if user.local_authority else "",
        "region": str(user.region_id or ""), "job_title": user.job_title,
        "involvement": user.involvement, "consent_marketing": user.consent_marketing,
        "show_in_directory": user.show_in_directory,
    }


@account_bp.route("/", methods=["GET", "POST"])
@login_required
def profile():
    """The member edits their details and consents."""
    form = ProfileForm(data=None if request.method == "POST" else _profile_defaults(current_user))
    if form.validate_on_submit():
        with refused_to(form, "member_type") as outcome:
            services.update_profile(
                current_user, name=form.name.data, member_type=MemberType(form.member_type.data),
                organisation_name=form.organisation.data,
                local_authority=services.get_local_authority(form.local_authority.data),
                region=services.get_region(form.region.data), job_title=form.job_title.data,
                involvement=form.involvement.data, consent_marketing=form.consent_marketing.data,
                show_in_directory=form.show_in_directory.data,
            )
        if outcome.ok:
            db.session.commit()
            flash("Your details have been saved.", "success")
            return redirect(url_for("account.profile"))
    return render_form("account/profile.html", "account/_profile_form.html", form)


@account_bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """Change password (signs out other sessions)."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        with refused_to(form, "current_password") as outcome:
            auth_services.change_password(current_user._get_current_object(), form.current_password.data,
                                          form.new_password.data)
        if outcome.ok:
            db.session.commit()
            login_user(current_user._get_current_object())
            flash("Your password has been changed.", "success")
            return redirect(url_for("account.profile"))
    return render_form("account/password.html", "account/_password_form.html", form)


@account_bp.route("/email", methods=["GET", "POST"])
@login_required
def change_email():
    """Change email address; the new address must be confirmed."""
    form = EmailChangeForm()
    if form.validate_on_submit():
        with refused_to(form, "email") as outcome:
            auth_services.request_email_change(current_user, form.email.data, form.password.data)
        if outcome.ok:
            db.session.commit()
            flash(f"We have sent a link to {normalise_email(form.email.data)}. "
                  "Your email address changes when you follow it.", "success")
            return redirect(url_for("account.profile"))
    return render_form("account/email.html", "account/_email_form.html", form)


@account_bp.get("/export")
@login_required
def export():
    """Download everything held about the member, as JSON."""
    data = services.export_member(current_user)
    body = json.dumps(data, indent=2, ensure_ascii=False)
    return Response(
        body, mimetype="application/json",
        headers={"Content-Disposition": "attachment; filename=keep-it-local-my-data.json"},
    )


@account_bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    """Delete the account after confirming with the password."""
    form = DeleteAccountForm()
    if form.validate_on_submit():
        with refused_to(form, "password") as outcome:
            services.delete_own_account(current_user._get_current_object(), form.password.data)
        if outcome.ok:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your account has been deleted. Thank you for taking part in the Network.", "success")
            return redirect(url_for("site.home"))
    return render_form("account/delete.html", "account/_delete_form.html", form)
