"""The council journey's public and council-facing pages: the /councils/ overview, a council's
public page, its journey page (what is next, who can do it, the forms to do it), champions
accepting by email, the yearly self-assessment (draft, check answers, submit, publish) and asking
the campaign for an introduction to a peer council.

Thin: parse, call journey.services (every rule is there), commit once, render or redirect. A
refusal (`RuleError`, and `NotPermitted` for someone who may not act at all) comes back on the form
with everything typed (422); an assessment the viewer may not see is a 403 (sign-in for visitors).
"""
import io

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, request, send_file, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from kil_network.core import submissions
from kil_network.core.decorators import confirmed_required
from kil_network.core.htmx import render
from kil_network.core.rules import NotPermitted, RuleError
from kil_network.councils import services as councils
from kil_network.evidence import uploads
from kil_network.extensions import db, limiter
from kil_network.journey import charts, overview, services
from kil_network.journey.forms import (
    ButtonForm,
    ConversationForm,
    EndorsementForm,
    InterestForm,
    IntroductionForm,
    MemberChampionForm,
    NamedChampionForm,
    assessment_form,
)
from kil_network.journey.models import Assessment, AssessmentAnswer, Champion, ChampionRole
from kil_network.members.models import LocalAuthority
from kil_network.workshops.models import Workshop

bp = Blueprint("journey", __name__)


def get_council_or_404(gss_code: str):
    """The local authority with this GSS code, or 404."""
    council = councils.get_council(gss_code)
    if council is None:
        abort(404)
    return council


def get_assessment_or_404(council, assessment_id: int) -> Assessment:
    """The council's assessment with this id (404 for another council's), which the viewer may see:
    anonymous visitors of an unpublished one are sent to sign in, other members get 403."""
    assessment = db.session.scalar(  # its answers with their wording, in two more statements
        sa.select(Assessment).options(selectinload(Assessment.answers).selectinload(AssessmentAnswer.draft))
        .where(Assessment.id == assessment_id))
    if assessment is None or assessment.local_authority_id != council.id:
        abort(404)
    if not services.can_view_assessment(current_user, assessment):
        if not current_user.is_authenticated:
            abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
        abort(403)
    return assessment


def _journey_url(council, anchor: str | None = None) -> str:
    """The council's journey page (at a section)."""
    return url_for("journey.journey", gss_code=council.gss_code, _anchor=anchor)


# --- Public pages ---------------------------------------------------------------------------

@bp.get("/councils/")
def index():
    """Every region's councils at each stage of the journey, and the councils that have pledged."""
    groups = councils.pledged_by_region()
    total = sum(len(g["pledges"]) for g in groups)
    return render("journey/index.html", groups=groups, total=total, overview=overview.stage_counts_by_region(),
                  stages=[services.Stage.NOT_STARTED, *services.STAGES])


@bp.get("/councils/<gss_code>")
def council(gss_code):
    """A council: its pledge (when verified), the stages it has reached, its published
    self-assessment with a chart of its levels year on year, and the Network members from it."""
    council = get_council_or_404(gss_code)
    facts = services.council_facts(council)
    progress = services.progress(council, published_only=True)
    published = services.published_assessments(council)
    return render("journey/council.html", council=council, facts=facts, stages=services.STAGES,
                  published=published[0] if published else None, levels=services.LEVELS,
                  progress=progress, chart=charts.progress_chart(progress, services.LEVELS),
                  **councils.council_page(council, current_user))


@bp.get("/councils/<gss_code>/endorsement")
@limiter.limit("60 per minute")
def endorsement_file(gss_code):
    """The signed endorsement document behind the verified pledge (staff: the pending pledge's too),
    its author metadata stripped, always as a download that no browser runs or sniffs."""
    council = get_council_or_404(gss_code)
    found = services.endorsement_document(current_user, council) or abort(404)
    endorsement, data = found
    response = send_file(io.BytesIO(data), mimetype=uploads.KINDS[endorsement.file_kind], as_attachment=True,
                         download_name=services.endorsement_download_name(council, endorsement), max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


# --- The journey page and its forms ---------------------------------------------------------

def _workshop_choices(council) -> list[tuple[str, str]]:
    """The held workshops of the council's region, for linking one as its conversation."""
    held = services.conversation_workshops(council)[:50]
    return [("", "None: we held our own")] + [
        (str(w.id), f"{w.title}, {w.starts_at.strftime('%-d %B %Y')}") for w in held]


def _journey_page(council, *, status_code: int = 200, **forms):
    """The journey page with its forms (a refused one as posted, the others empty)."""
    data = services.journey(council, current_user)
    conversation = forms.get("conversation") or ConversationForm(formdata=None, prefix="conversation")
    conversation.workshop.choices = _workshop_choices(council)
    peers = data.get("peers") or {}
    typed_intro = forms.get("introduction")
    return render(
        "journey/journey.html", status_code=status_code, council=council, j=data, levels=services.LEVELS,
        interest_form=forms.get("interest") or InterestForm(formdata=None, prefix="interest"),
        endorsement_form=forms.get("endorsement") or EndorsementForm(formdata=None, prefix="endorsement"),
        member_form=forms.get("member") or MemberChampionForm(formdata=None, prefix="member"),
        named_form=forms.get("named") or NamedChampionForm(formdata=None, prefix="named"),
        conversation_form=conversation, button_form=ButtonForm(formdata=None), peers=peers,
        introduction_form=typed_intro, intro_unmatched=typed_intro is not None and not any(
            p.council.gss_code == typed_intro.peer.data for p in peers.get(typed_intro.number_value(), [])),
        refused=[f for f in forms.values() if f.errors],
        champion_name=services.champion_name)


@bp.get("/councils/<gss_code>/journey")
def journey(gss_code):
    """Where the council is on its journey, what is next and who can do it."""
    return _journey_page(get_council_or_404(gss_code))


def _refuse(form, exc: RuleError, field: str, aliases: dict | None = None) -> None:
    """Put a refusal on the form: on the field it names (or its alias on this form), else on
    `field`; a refusal of the person (NotPermitted) is the form's own error, with no field."""
    db.session.rollback()
    if isinstance(exc, NotPermitted):
        form.form_errors.append(exc.message)
        return
    name = (aliases or {}).get(exc.field, exc.field)
    target = getattr(form, name, None) if name else None
    (target if target is not None else getattr(form, field)).errors.append(exc.message)


def _act(council, form, field: str, action, done: str, anchor: str, key: str, aliases: dict | None = None):
    """Run one journey action for a valid form: commit and go back to the journey page, or show
    the refusal on the form with what was typed (422)."""
    if form.validate_on_submit():
        try:
            action()
        except RuleError as exc:  # NotPermitted too: the page says who can do this
            _refuse(form, exc, field, aliases)
        else:
            db.session.commit()
            flash(done, "success")
            return redirect(_journey_url(council, anchor), code=303)
    return _journey_page(council, status_code=422, **{key: form})


@bp.post("/councils/<gss_code>/interest")
@confirmed_required
def interest(gss_code):
    """A member from the council says it is working towards Keep it Local."""
    council = get_council_or_404(gss_code)
    form = InterestForm(prefix="interest")
    return _act(council, form, "note", lambda: services.declare_interest(current_user, council, form.note.data or ""),
                f"Thank you. {council.display_name} is now shown as interested.", "stage-interested", "interest")


@bp.post("/councils/<gss_code>/endorsement")
@confirmed_required
def endorsement(gss_code):
    """Add the signed endorsement behind the pledge: a link to the decision, a document, or both."""
    council = get_council_or_404(gss_code)
    form = EndorsementForm(prefix="endorsement")
    upload = form.document.data if form.document.data and getattr(form.document.data, "filename", "") else None
    return _act(council, form, "link_url",
                lambda: services.set_endorsement(current_user, council, link_url=form.link_url.data or "",
                                                 upload=upload),
                "The endorsement is saved.", "stage-endorsed", "endorsement")


@bp.post("/councils/<gss_code>/champions")
@confirmed_required
def champions(gss_code):
    """Appoint a champion: a member from the council (invited by email) or a named person."""
    council = get_council_or_404(gss_code)
    if request.form.get("kind") == "member":
        form = MemberChampionForm(prefix="member")
        return _act(council, form, "email",
                    lambda: services.appoint_champion(current_user, council, ChampionRole(form.role.data),
                                                      email=form.email.data or ""),
                    "We have emailed them a link to accept. They count as champion once they accept.",
                    "stage-champions", "member", aliases={"member": "email"})
    form = NamedChampionForm(prefix="named")
    return _act(council, form, "name",
                lambda: services.appoint_champion(current_user, council, ChampionRole(form.role.data),
                                                  name=form.name.data or "", job_title=form.job_title.data or ""),
                "The champion is recorded.", "stage-champions", "named")


@bp.post("/councils/<gss_code>/champions/<int:champion_id>/end")
@confirmed_required
def end_champion(gss_code, champion_id):
    """A champion steps down (the role is then open for someone new)."""
    council = get_council_or_404(gss_code)
    champion = db.session.get(Champion, champion_id)
    if champion is None or champion.local_authority_id != council.id:
        abort(404)
    # A button with no form to re-render: a refused CSRF token answers the generic 400 page (core.csrf).
    try:
        services.end_champion(current_user, champion)
    except RuleError as exc:  # NotPermitted too: the page says who can do this
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(_journey_url(council, "stage-champions"), code=303)
    db.session.commit()
    flash(f"{champion.role.label}: the appointment has ended.", "success")
    return redirect(_journey_url(council, "stage-champions"), code=303)


@bp.post("/councils/<gss_code>/conversations")
@confirmed_required
def conversations(gss_code):
    """Record the community conversation: a workshop in the region, or an event with a summary."""
    council = get_council_or_404(gss_code)
    form = ConversationForm(prefix="conversation")
    form.workshop.choices = _workshop_choices(council)
    earlier = submissions.earlier_result()  # the same form posted twice: one conversation
    if earlier:
        return redirect(earlier, code=303)

    def record():
        if submissions.claim():
            raise RuleError("You had already sent this.")
        workshop_id = form.workshop_id()
        workshop = db.session.get(Workshop, workshop_id) if workshop_id else None
        if workshop_id and workshop is None:
            raise RuleError("Choose a workshop from the list", "workshop")
        services.record_conversation(current_user, council, held_on=form.held_on.data, title=form.title.data or "",
                                     summary=form.summary.data or "", workshop=workshop)
        submissions.complete(_journey_url(council, "stage-conversation"))

    return _act(council, form, "summary", record, "The community conversation is recorded.",
                "stage-conversation", "conversation")


@bp.route("/councils/champions/accept/<token>", methods=["GET", "POST"])
@confirmed_required
def accept(token):
    """The member invited as a champion accepts (the signed link from their email)."""
    form = ButtonForm()
    try:
        champion = services.champion_from_token(token)
    except RuleError as exc:  # not valid, expired or withdrawn: the page says which (400, like other links)
        return render("journey/accept.html", champion=None, council=None, form=form, error=exc.message,
                      status_code=400)
    council = db.session.get_one(LocalAuthority, champion.local_authority_id)
    error = None
    if form.validate_on_submit():
        try:
            services.accept_champion(current_user, token)
        except RuleError as exc:  # NotPermitted too: the invitation is for another member
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
            flash(f"Thank you. You are now the {champion.role.label.lower()} of {council.display_name}.", "success")
            return redirect(_journey_url(council, "stage-champions"), code=303)
    elif request.method == "POST":
        error = "; ".join(m for messages in form.errors.values() for m in messages)
    return render("journey/accept.html", champion=champion, council=council, form=form, error=error,
                  champion_name=services.champion_name(champion), status_code=422 if error else 200)


# --- Peer introductions -------------------------------------------------------------------

@bp.post("/councils/<gss_code>/peers/introduce")
@confirmed_required
def introduce(gss_code):
    """Ask the campaign to introduce the council to a peer council's champion on one principle."""
    council = get_council_or_404(gss_code)
    form = IntroductionForm()

    def ask():
        peer = councils.get_council(form.peer.data or "")
        number = form.number_value()
        if peer is None or number is None:
            raise RuleError("Choose one of the councils suggested below", "message")
        services.request_introduction(current_user, council, peer, number, form.message.data or "")

    return _act(council, form, "message", ask,
                "Thank you. The campaign will introduce you by email; your address is not shown to the other "
                "council.", "peers", "introduction")


# --- The self-assessment ------------------------------------------------------------------

@bp.route("/councils/<gss_code>/assessments/new", methods=["GET", "POST"])
@confirmed_required
def new_assessment(gss_code):
    """Start this year's self-assessment (a confirmation page: the wording it will answer)."""
    council = get_council_or_404(gss_code)
    round_, drafts = services.adopted_drafts()
    form = ButtonForm()
    status = 200
    if request.method == "POST":
        earlier = submissions.earlier_result()  # a double click: one assessment
        if earlier:
            return redirect(earlier, code=303)
        status = 422
        if form.validate_on_submit():
            try:
                earlier = submissions.claim()
                if earlier:
                    return redirect(earlier, code=303)
                started = services.start_assessment(current_user, council)
            except RuleError as exc:  # NotPermitted too: the page says who can start it
                db.session.rollback()
                form.form_errors.append(exc.message)
            else:
                url = url_for("journey.assessment", gss_code=council.gss_code, assessment_id=started.id)
                submissions.complete(url)
                db.session.commit()
                flash("The self-assessment is started. Save your answers as a draft whenever you like and come "
                      "back later.", "success")
                return redirect(url, code=303)
    return render("journey/assessment_new.html", council=council, round=round_, drafts=drafts, form=form,
                  refusal=services.start_refusal(current_user, council), status_code=status)


def _form_for(assessment, **kwargs):
    """The assessment form for the drafts it answers."""
    drafts = [a.draft for a in assessment.answers]
    descriptors = {d.number: services.level_descriptors(d.number) for d in drafts}
    return assessment_form(drafts, services.LEVELS, descriptors, **kwargs)


def _typed(assessment) -> dict:
    """The saved answers as the form's data."""
    data = {}
    for a in assessment.answers:
        data[f"level_{a.number}"] = str(a.level) if a.level else None
        data[f"evidence_{a.number}"] = a.evidence
        data[f"action_{a.number}"] = a.action
    return data


def _assessment_page(council, assessment, form=None, *, status_code: int = 200):
    """The draft's form for who may edit it, else the assessment as submitted, accepted or published."""
    can_edit = services.can_edit(current_user, council)
    if form is None and assessment.status in services.EDITABLE and can_edit:
        form = _form_for(assessment, formdata=None, data=_typed(assessment))
    return render("journey/assessment.html", status_code=status_code, council=council, assessment=assessment,
                  form=form, can_edit=can_edit, levels=services.LEVELS,
                  show_comments=can_edit or services.can_view_assessment(current_user, assessment)
                  and not services.is_published(assessment),
                  is_champion=services.is_champion(current_user, council), button_form=ButtonForm(formdata=None),
                  descriptors={a.number: services.level_descriptors(a.number) for a in assessment.answers})


@bp.route("/councils/<gss_code>/assessments/<int:assessment_id>", methods=["GET", "POST"])
def assessment(gss_code, assessment_id):
    """The draft to fill in (save as draft, or go on to check the answers), or the assessment as
    submitted, accepted or published."""
    council = get_council_or_404(gss_code)
    if request.method == "POST" and not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))
    assessment = get_assessment_or_404(council, assessment_id)
    if request.method == "GET":
        return _assessment_page(council, assessment)
    form = _form_for(assessment)
    if form.validate_on_submit():
        try:
            services.save_answers(current_user, assessment, form.answers())
        except RuleError as exc:  # NotPermitted too (staff may read a draft, not change it)
            _refuse(form, exc, "csrf_token")
        else:
            db.session.commit()
            if request.form.get("action") == "check":
                return redirect(url_for("journey.check", gss_code=council.gss_code, assessment_id=assessment.id),
                                code=303)
            flash("Your answers are saved as a draft. You can come back to them at any time.", "success")
            return redirect(url_for("journey.assessment", gss_code=council.gss_code, assessment_id=assessment.id),
                            code=303)
    return _assessment_page(council, assessment, form, status_code=422)


def _check_page(council, assessment, error=None, *, status_code: int = 200):
    """Check your answers: each principle's level, evidence and action with a change link."""
    return render("journey/check.html", status_code=status_code, council=council, assessment=assessment,
                  missing=services.missing_answers(assessment), error=error, levels=services.LEVELS,
                  is_champion=services.is_champion(current_user, council),
                  can_edit=services.can_edit(current_user, council), form=ButtonForm(formdata=None))


@bp.get("/councils/<gss_code>/assessments/<int:assessment_id>/check")
def check(gss_code, assessment_id):
    """Check your answers before a champion submits the assessment to the campaign."""
    council = get_council_or_404(gss_code)
    assessment = get_assessment_or_404(council, assessment_id)
    if assessment.status not in services.EDITABLE:
        return redirect(url_for("journey.assessment", gss_code=council.gss_code, assessment_id=assessment.id))
    return _check_page(council, assessment)


def _assessment_action(gss_code, assessment_id, action, done: str, page):
    """A champion's button on an assessment (submit, publish, unpublish)."""
    council = get_council_or_404(gss_code)
    assessment = get_assessment_or_404(council, assessment_id)
    # A button with no form to re-render: a refused CSRF token answers the generic 400 page (core.csrf).
    try:
        action(assessment)
    except RuleError as exc:  # NotPermitted too: the page says who can do this
        db.session.rollback()
        return page(council, assessment, exc.message)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("journey.assessment", gss_code=council.gss_code, assessment_id=assessment.id), code=303)


def _refused_view(council, assessment, message):
    """The assessment page again with the refusal."""
    flash(message, "error")
    return _assessment_page(council, assessment, status_code=422)


@bp.post("/councils/<gss_code>/assessments/<int:assessment_id>/submit")
@confirmed_required
def submit(gss_code, assessment_id):
    """A champion submits the checked assessment to the campaign."""
    return _assessment_action(gss_code, assessment_id, lambda a: services.submit_assessment(current_user, a),
                              "The self-assessment is submitted. Campaign staff will review it.",
                              lambda c, a, m: _check_page(c, a, m, status_code=422))


@bp.post("/councils/<gss_code>/assessments/<int:assessment_id>/publish")
@confirmed_required
def publish(gss_code, assessment_id):
    """A champion publishes the accepted assessment on the council's public page."""
    return _assessment_action(gss_code, assessment_id, lambda a: services.publish_assessment(current_user, a),
                              "The self-assessment is published on the council's page.", _refused_view)


@bp.post("/councils/<gss_code>/assessments/<int:assessment_id>/unpublish")
@confirmed_required
def unpublish(gss_code, assessment_id):
    """A champion takes the assessment off the council's public page."""
    return _assessment_action(gss_code, assessment_id, lambda a: services.unpublish_assessment(current_user, a),
                              "The self-assessment is no longer published.", _refused_view)
