"""Call-for-evidence rules: deadlines, survey progress and submission, written evidence, review.

Deadlines are checked on the server at the moment of the POST: a response arriving after the
deadline is refused (the form keeps what was typed), whatever the page showed when it loaded.
"""
import csv
import hashlib
import io
import secrets
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import MEMBER_TYPE_LABELS, MemberType, User
from kil_network.core.addresses import normalise_email
from kil_network.core.audit import record
from kil_network.core.csvutil import csv_safe
from kil_network.core.email import external_url, queue_email
from kil_network.core.forms import clean_text
from kil_network.core.params import int_arg
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import format_london, utcnow
from kil_network.evidence import scrub, search, survey, uploads
from kil_network.evidence.models import (
    TOPICS,
    Call,
    Publication,
    ReviewStatus,
    Submission,
    SubmissionTag,
    SubmissionTopic,
    SurveyResponse,
    submission_principles,
)
from kil_network.extensions import db
from kil_network.members import notifications
from kil_network.principles.models import Principle

DEADLINE_PASSED = "The deadline for responses has now passed"


def new_reference(prefix: str) -> str:
    """A short reference people can quote, e.g. KIL-S-7G3K9Q."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return f"KIL-{prefix}-" + "".join(secrets.choice(alphabet) for _ in range(6))


def calls_by_state() -> dict:
    """Calls grouped as open, forthcoming and closed."""
    calls = db.session.scalars(sa.select(Call).order_by(Call.opens_at.desc())).all()
    groups: dict[str, list[Call]] = {"open": [], "forthcoming": [], "closed": []}
    for call in calls:
        groups[call.state].append(call)
    return groups


def check_open(call: Call, part: str, now=None) -> None:
    """Raise the deadline message if this part of the call is not open now."""
    state = call.survey_state(now) if part == "survey" else call.written_state(now)
    if state == "none":
        raise RuleError("This call does not have that part.")
    if state == "forthcoming":
        raise RuleError(f"This call opens on {format_london(call.opens_at)}.")
    if state == "closed":
        raise RuleError(DEADLINE_PASSED)


def closed_reason(call: Call, part: str, now=None) -> str | None:
    """Why this part of the call ("survey" or "written") takes no responses now, or None while it is open.

    The words its own pages show (the question pages, the written-evidence form)."""
    state = call.survey_state(now) if part == "survey" else call.written_state(now)
    if state == "open":
        return None
    if state == "closed":
        return DEADLINE_PASSED
    return "This survey is not open yet." if part == "survey" else "Written evidence is not open yet."


# --- Staff: calls -------------------------------------------------------------------------

def call_date_problems(opens_at, survey_closes_at, written_closes_at) -> list[RuleError]:
    """Every way a call's deadlines break the rules: each after the opening, at least one part."""
    problems = []
    if survey_closes_at and opens_at and survey_closes_at <= opens_at:
        problems.append(RuleError("The survey deadline must be after the call opens", "survey_closes_at"))
    if not survey_closes_at and not written_closes_at:
        problems.append(RuleError("Give a deadline for the survey, the written evidence, or both",
                                  "survey_closes_at"))
    if written_closes_at and opens_at and written_closes_at <= opens_at:
        problems.append(RuleError("The written evidence deadline must be after the call opens", "written_closes_at"))
    return problems


def check_call_dates(opens_at, survey_closes_at, written_closes_at) -> None:
    """Refuse deadlines that break a rule (call_date_problems), on create and on edit."""
    problems = call_date_problems(opens_at, survey_closes_at, written_closes_at)
    if problems:
        raise problems[0]


def create_call(actor: User, *, title: str, introduction: str, asks: str, opens_at, survey_closes_at,
                written_closes_at) -> Call:
    """A new call for evidence, audited."""
    check_call_dates(opens_at, survey_closes_at, written_closes_at)
    call = Call(title=title, introduction=introduction, asks=asks, opens_at=opens_at,
                survey_closes_at=survey_closes_at, written_closes_at=written_closes_at)
    db.session.add(call)
    db.session.flush()
    record(actor, "call.create", call, f"Created call for evidence #{call.id}")
    return call


def update_call(actor: User, call: Call, *, title: str, introduction: str, asks: str, opens_at, survey_closes_at,
                written_closes_at) -> None:
    """Edit a call and its deadlines, audited."""
    check_call_dates(opens_at, survey_closes_at, written_closes_at)
    call.title, call.introduction, call.asks = title, introduction, asks
    call.opens_at, call.survey_closes_at, call.written_closes_at = opens_at, survey_closes_at, written_closes_at
    record(actor, "call.update", call, f"Edited call for evidence #{call.id}")


# --- Survey -------------------------------------------------------------------------------

SurveyStep = survey.Question | str  # the next question, or "check" (check your answers) or "not_for_you"


def answer_question(call: Call, question: survey.Question, raw: list[str], answers: dict,
                    region_choices: list[tuple[str, str]], now=None) -> dict:
    """The answers with this question's answer in, checked; refused after the survey's deadline.

    The deadline is checked at the moment of the answer, whatever the page showed when it loaded."""
    reason = closed_reason(call, "survey", now)
    if reason:
        raise RuleError(reason)
    if not question.applies(answers):
        raise RuleError("This question does not apply to your earlier answers.")
    value, error = survey.check_answer(question, raw, region_choices)
    if error is not None:
        raise RuleError(error, "answer")
    return survey.clean({**answers, question.id: value})


def after_answer(question: survey.Question, answers: dict, changing: bool) -> SurveyStep:
    """Where the survey goes after an answer: the next question, "check" (all answered), or
    "not_for_you" (screening said the survey is not for this person). While changing an answer
    from the check page, the next unanswered question (or back to the check page)."""
    if question.id == "council_role" and not survey.in_scope(answers):
        return "not_for_you"
    following = survey.first_unanswered(answers) if changing else survey.next_after(question.id, answers)
    return "check" if following is None else following



def member_draft(call: Call, user: User) -> SurveyResponse | None:
    """A member's in-progress answers for this call (kept across sessions)."""
    return db.session.scalar(sa.select(SurveyResponse).where(
        SurveyResponse.call_id == call.id, SurveyResponse.user_id == user.id, SurveyResponse.status == "in_progress"))


def save_member_answers(call: Call, user: User, answers: dict) -> None:
    """Keep a member's answers so they can carry on later, on any device."""
    draft = member_draft(call, user)
    if draft is None:
        draft = SurveyResponse(call_id=call.id, user_id=user.id, status="in_progress")
        db.session.add(draft)
    draft.answers = dict(answers)


def visitor_draft(call: Call, key: str | None) -> SurveyResponse | None:
    """A signed-out visitor's in-progress answers for this call, found by their session's key."""
    if not key or not isinstance(key, str):
        return None
    return db.session.scalar(sa.select(SurveyResponse).where(
        SurveyResponse.call_id == call.id, SurveyResponse.draft_key == key, SurveyResponse.status == "in_progress"))


def save_visitor_answers(call: Call, key: str | None, answers: dict) -> str:
    """Keep a visitor's answers on the server (a cookie is too small); returns the key to remember."""
    draft = visitor_draft(call, key)
    if draft is None or not key:  # (no key: no draft either)
        key = secrets.token_urlsafe(32)
        draft = SurveyResponse(call_id=call.id, status="in_progress", draft_key=key)
        db.session.add(draft)
    draft.answers = dict(answers)
    return key


def adopt_visitor_draft(call_id: int, key: str | None, user: User) -> SurveyResponse | None:
    """At sign-in, a visitor's answers in progress become the member's (their session is about to go).

    If the member already has answers in progress for that call, the visitor's (typed just now,
    so the newer) win and the member's fill any question the visitor had not answered."""
    if not key or not isinstance(key, str):
        return None
    draft = db.session.scalar(sa.select(SurveyResponse).where(
        SurveyResponse.call_id == call_id, SurveyResponse.draft_key == key, SurveyResponse.status == "in_progress"))
    if draft is None:
        return None
    mine = db.session.scalar(sa.select(SurveyResponse).where(
        SurveyResponse.call_id == call_id, SurveyResponse.user_id == user.id, SurveyResponse.status == "in_progress"))
    if mine is None:
        draft.user_id, draft.draft_key = user.id, None
        return draft
    mine.answers = survey.clean({**(mine.answers or {}), **(draft.answers or {})})
    db.session.delete(draft)
    return mine


def submit_survey(call: Call, answers: dict, user: User | None = None, now=None,
                  draft_key: str | None = None) -> SurveyResponse:
    """Submit a complete survey response and return it with its reference."""
    check_open(call, "survey", now)
    answers = survey.clean(answers)
    missing = survey.first_unanswered(answers)
    if missing is not None:
        raise RuleError("Answer every question before you submit.")
    if not survey.in_scope(answers):
        raise RuleError("This survey is for community organisations, commissioners and councillors.")
    response = member_draft(call, user) if user is not None else visitor_draft(call, draft_key)
    if response is None:
        response = SurveyResponse(call_id=call.id, user_id=getattr(user, "id", None))
        db.session.add(response)
    response.answers = answers
    response.status = "submitted"
    response.draft_key = None
    response.reference = new_reference("S")
    response.respondent_type = survey.respondent_type(answers)
    response.region_id = int(answers["region"]) if str(answers.get("region", "")).isdecimal() else None
    response.submitted_at = utcnow()
    db.session.flush()
    return response


def survey_results(call: Call, respondent_type: str = "", region: str = "") -> dict:
    """Counts per option for every question, with the filters applied; one query."""
    stmt = sa.select(SurveyResponse.answers).where(SurveyResponse.call_id == call.id,
                                                   SurveyResponse.status == "submitted")
    if respondent_type:
        stmt = stmt.where(SurveyResponse.respondent_type == respondent_type[:32])
    if int_arg(region) is not None:
        stmt = stmt.where(SurveyResponse.region_id == int_arg(region))
    rows = db.session.scalars(stmt).all()
    results = {}
    for q in survey.QUESTIONS:
        if q.kind == "text":
            answers = [a.get(q.id) for a in rows if a.get(q.id)]
            results[q.id] = {"question": q, "count": len(answers), "texts": answers[:200]}
            continue
        counts: dict[str, int] = {}
        answered = 0
        for a in rows:
            value = a.get(q.id)
            if value in (None, "", []):
                continue
            answered += 1
            for v in value if isinstance(value, list) else [value]:
                counts[str(v)] = counts.get(str(v), 0) + 1
        results[q.id] = {"question": q, "count": answered, "counts": counts}
    return {"total": len(rows), "results": results}


def survey_responses_page(call: Call, page: int, respondent_type: str = "", region: str = ""):
    """Submitted responses for staff to read one by one."""
    stmt = (sa.select(SurveyResponse).options(selectinload(SurveyResponse.region))
            .where(SurveyResponse.call_id == call.id, SurveyResponse.status == "submitted")
            .order_by(SurveyResponse.submitted_at.desc()))
    if respondent_type:
        stmt = stmt.where(SurveyResponse.respondent_type == respondent_type[:32])
    if int_arg(region) is not None:
        stmt = stmt.where(SurveyResponse.region_id == int_arg(region))
    return db.paginate(stmt, page=page, per_page=20, error_out=False, count=True)


def survey_csv(call: Call) -> str:
    """Every submitted response, one row each, one column per question."""
    out = io.StringIO()
    writer = csv.writer(out)
    ids = [q.id for q in survey.QUESTIONS]
    writer.writerow(["reference", "submitted_at", "respondent_type"] + ids)
    rows = db.session.scalars(sa.select(SurveyResponse).where(
        SurveyResponse.call_id == call.id, SurveyResponse.status == "submitted").order_by(SurveyResponse.id))
    for r in rows:
        values = [";".join(v) if isinstance(v, list) else v for v in (r.answers.get(i, "") for i in ids)]
        submitted = r.submitted_at.isoformat() if r.submitted_at else ""  # (always set once submitted)
        writer.writerow([r.reference, submitted, r.respondent_type] + [csv_safe(v) for v in values])
    return out.getvalue()


# --- Written evidence ---------------------------------------------------------------------

def submit_evidence(call: Call, *, name: str, email: str, organisation: str, respondent_type: MemberType,
                    local_authority, topics: list[str], text: str, publication: Publication,
                    upload: FileStorage | None = None, user: User | None = None, now=None,
                    file_may_publish: bool = False) -> Submission:
    """Store written evidence (and its file), and queue the acknowledgement email.

    `file_may_publish`: the submitter agreed to publishing the attached document with their
    evidence (kept only with a document; staff must still approve it)."""
    email = normalise_email(email)
    check_open(call, "written", now)
    topics = [t for t in dict.fromkeys(topics) if t in TOPICS]
    if not topics:
        raise RuleError("Select at least one topic your evidence covers", "topics")
    if not text.strip():
        raise RuleError("Enter your evidence", "text")
    data, kind, filename = None, "", ""
    if upload is not None and upload.filename:  # (Flask-WTF's FileField gives a FileStorage or None)
        data, kind = uploads.check_upload(upload)  # an UploadError is a RuleError on the "file" field
        filename = upload.filename
    submission = Submission(
        call_id=call.id, user_id=getattr(user, "id", None), reference=new_reference("E"), name=name, email=email,
        organisation=organisation, respondent_type=respondent_type, local_authority=local_authority, text=text,
        publication=publication, status=ReviewStatus.NEW,
        topic_rows=[SubmissionTopic(topic=t) for t in topics],
    )
    if data is not None:
        submission.file_key = uploads.save(data)  # `<key>.part` until the commit; UploadError if it cannot be
        submission.file_kind = kind
        submission.file_size = len(data)
        submission.file_name = uploads.clean_filename(filename, kind)
        submission.file_may_publish = bool(file_may_publish)
    db.session.add(submission)
    db.session.flush()
    if user is not None and user.is_confirmed and user.email == email:
        submission.confirmed_at = utcnow()  # their own address, already proven
        _acknowledge(submission, user)
    else:
        _ask_to_confirm(submission, user)
    return submission


# Confirming the submitter's address. Anyone can type any address into the form, so until the
# address is proven it gets one email only, in the campaign's own fixed words (the call's title,
# the reference and a link: nothing the sender typed), which is no use to a spammer; the
# acknowledgement with their details follows once they follow the link. The route limits how
# many a sender and an address get (see routes.submit).

CONFIRM_MAX_AGE = 7 * 24 * 3600


def _confirm_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kil-evidence-confirm")


def _fingerprint(submission: Submission) -> str:
    return hashlib.sha256(f"{submission.id}:{submission.email}".encode()).hexdigest()[:16]


def confirm_token(submission: Submission) -> str:
    """A signed link token for this submission and address (valid for CONFIRM_MAX_AGE)."""
    return _confirm_serializer().dumps({"s": submission.id, "f": _fingerprint(submission)})


def submission_from_confirm_token(token: str) -> Submission:
    """The submission a confirmation link is for, or RuleError if it is invalid or expired."""
    try:
        data = _confirm_serializer().loads(str(token)[:500], max_age=CONFIRM_MAX_AGE)
        submission = db.session.get(Submission, int(data["s"]))
    except SignatureExpired:
        raise RuleError("This link has expired. Links to confirm evidence last 7 days.") from None
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError):
        raise RuleError("This link is not valid. Check you copied the whole link from the email.") from None
    if submission is None or _fingerprint(submission) != data.get("f"):
        raise RuleError("This link is not valid. Check you copied the whole link from the email.")
    return submission


def confirm_submission(submission: Submission) -> bool:
    """The address is proven: record it and send the acknowledgement. False if it already was."""
    if submission.confirmed_at is not None:
        return False
    submission.confirmed_at = utcnow()
    _acknowledge(submission, db.session.get(User, submission.user_id) if submission.user_id else None)
    return True


def submission_by_reference(reference: str) -> Submission | None:
    """A submission by the reference quoted to its sender."""
    return db.session.scalar(sa.select(Submission).where(Submission.reference == str(reference)[:20]))


def _ask_to_confirm(submission: Submission, user: User | None) -> None:
    queue_email(submission.email, "Confirm your evidence to the Keep it Local Network", "evidence_confirm",
                kind="evidence_confirm", secret=True, user=user, call=submission.call, reference=submission.reference,
                confirm_url=external_url("evidence.confirm", token=confirm_token(submission)),
                max_days=CONFIRM_MAX_AGE // 86400)


def _acknowledge(submission: Submission, user: User | None) -> None:
    queue_email(submission.email, f"We have received your evidence ({submission.reference})", "evidence_received",
                kind="evidence", user=user, submission=submission, call=submission.call,
                topics=[TOPICS[t] for t in submission.topics], library_url=external_url("evidence.library"))


TAG_MAX = 60  # one tag's length (the column's size)


UNCHANGED = object()  # review(): leave the published wording as it is


def review(actor: User, submission: Submission, *, status: ReviewStatus, tags: list[str], principle_ids: list[int],
           notes: str, published_text=UNCHANGED, file_approved: bool | None = None) -> None:
    """Staff review: status, tags, the principles it supports, notes; and what the library
    publishes (`set_published_wording`, `set_file_approval`; None or UNCHANGED leave them)."""
    submission.status = status
    if published_text is not UNCHANGED:
        set_published_wording(actor, submission, published_text)
    if file_approved is not None:
        set_file_approval(actor, submission, file_approved)
    first_public = False
    if submission.is_published and submission.published_at is None:
        submission.published_at = utcnow()  # the first time it becomes public
        first_public = True
    clean_tags = sorted({t.strip().lower() for t in tags if t.strip()})
    too_long = [t for t in clean_tags if len(t) > TAG_MAX]
    if too_long:  # refused, never cut: the staff member shortens it
        raise RuleError(f"Each tag must be {TAG_MAX} characters or fewer: ‘{too_long[0]}’ has {len(too_long[0])}",
                        "tags")
    submission.tag_rows = [SubmissionTag(tag=t) for t in clean_tags]
    submission.principles = db.session.scalars(sa.select(Principle).where(Principle.id.in_(principle_ids))).all() \
        if principle_ids else []
    submission.notes = notes
    record(actor, "evidence.review", submission, f"Reviewed evidence {submission.reference}: {status.value}",
           tags=clean_tags, principles=sorted(principle_ids))
    if first_public and submission.user_id is not None:  # a member's: tell them (once, the first time)
        notifications.notify(sa.select(User.id).where(User.id == submission.user_id), "evidence_published",
                             "Your evidence is published", "notify_evidence_published",
                             reference=submission.reference,
                             library_url=external_url("evidence.library_item", submission_id=submission.id))


def staff_search(q: str = "", status: str = "", topic: str = "", tag: str = "", principle: str = ""):
    """Submissions for the review queue, newest first, filtered."""
    stmt = sa.select(Submission).options(selectinload(Submission.topic_rows), selectinload(Submission.tag_rows),
                                         selectinload(Submission.principles)).order_by(Submission.id.desc())
    q = (q or "").strip()[:100]
    if q:
        stmt = stmt.where(sa.or_(*(column.icontains(q, autoescape=True) for column in (
            Submission.name, Submission.organisation, Submission.reference, Submission.text))))
    if status in {s.value for s in ReviewStatus}:
        stmt = stmt.where(Submission.status == ReviewStatus(status))
    if topic in TOPICS:
        stmt = stmt.where(Submission.id.in_(
            sa.select(SubmissionTopic.submission_id).where(SubmissionTopic.topic == topic)))
    if tag:
        stmt = stmt.where(Submission.id.in_(
            sa.select(SubmissionTag.submission_id).where(SubmissionTag.tag == tag.lower()[:60])))
    if int_arg(principle) is not None:
        stmt = stmt.where(Submission.id.in_(sa.select(submission_principles.c.submission_id)
                                            .where(submission_principles.c.principle_id == int_arg(principle))))
    return stmt


def _published():
    """The SQL of Submission.is_published (and of migration 0014's search triggers)."""
    return sa.and_(Submission.publication != Publication.PRIVATE,
                   Submission.status.in_([ReviewStatus.REVIEWED, ReviewStatus.FEATURED]))


def library(topic: str = "", principle_id: int | None = None, q: str = "", respondent_type: str = ""):
    """Published evidence: consent to publish and reviewed by staff; featured first, then newest;
    with words to search for (`search.search_submissions`), the best matches first.

    New submissions wait for review (the acknowledgement email says so): a library anyone can
    post into unmoderated would publish spam and personal data the submitter did not mean to."""
    stmt = sa.select(Submission).where(_published())  # topics and principles: library_details
    found = search.search_submissions(q)
    if found is not None:
        stmt = stmt.join(found, found.c.id == Submission.id).order_by(found.c.rank.desc(), Submission.id.desc())
    else:
        stmt = stmt.order_by(sa.case((Submission.status == ReviewStatus.FEATURED, 0), else_=1), Submission.id.desc())
    if topic in TOPICS:
        stmt = stmt.where(Submission.id.in_(
            sa.select(SubmissionTopic.submission_id).where(SubmissionTopic.topic == topic)))
    if principle_id is not None:
        stmt = stmt.where(Submission.id.in_(sa.select(submission_principles.c.submission_id)
                                            .where(submission_principles.c.principle_id == principle_id)))
    if respondent_type in {t.value for t in MemberType}:
        stmt = stmt.where(Submission.respondent_type == MemberType(respondent_type))
    return stmt


class PrincipleRef(NamedTuple):
    """A principle a piece of evidence supports, as the library lists it."""

    number: int
    short_name: str


def library_details(ids: list[int]) -> dict[int, dict]:
    """A page of library entries' topics (keys, in order) and principles (PrincipleRef, by number),
    by submission id: plain rows in two queries (loading them as relationships was a quarter of
    the library's CPU: bench/profile_reads.py)."""
    details: dict[int, dict] = {i: {"topics": [], "principles": []} for i in ids}
    if not ids:
        return details
    for sid, topic in db.session.execute(
            sa.select(SubmissionTopic.submission_id, SubmissionTopic.topic)
            .where(SubmissionTopic.submission_id.in_(ids)).order_by(SubmissionTopic.topic)):
        details[sid]["topics"].append(topic)
    for sid, number, short_name in db.session.execute(
            sa.select(submission_principles.c.submission_id, Principle.number, Principle.short_name)
            .join(Principle, Principle.id == submission_principles.c.principle_id)
            .where(submission_principles.c.submission_id.in_(ids)).order_by(Principle.number)):
        details[sid]["principles"].append(PrincipleRef(number, short_name))
    return details


def published_submission(submission_id: int) -> Submission | None:
    """One piece of evidence as the library publishes it, or None if it is not published."""
    return db.session.scalar(
        sa.select(Submission).options(selectinload(Submission.topic_rows), selectinload(Submission.principles),
                                      selectinload(Submission.call))
        .where(Submission.id == submission_id, _published()))


def evidence_csv(stmt) -> str:
    """The filtered review queue as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["reference", "received_at", "name", "email", "organisation", "respondent_type", "council",
                     "topics", "publication", "status", "tags", "principles", "file", "text", "notes"])
    for s in db.session.scalars(stmt).unique():
        writer.writerow([csv_safe(v) for v in [
            s.reference, s.created_at.isoformat(), s.name, s.email, s.organisation,
            MEMBER_TYPE_LABELS[s.respondent_type], s.local_authority.name if s.local_authority else "",
            ";".join(s.topics), s.publication.value, s.status.value, ";".join(s.tags),
            ";".join(str(p.number) for p in s.principles), s.file_name, s.text, s.notes]])
    return out.getvalue()


# --- What the library publishes -----------------------------------------------------------

def set_published_wording(actor: User, submission: Submission, wording: str | None) -> None:
    """Staff's redaction: the wording the library publishes instead of the text as sent (which is
    kept). None, or the text as sent, publishes the text as sent. Each change is audited with the
    wording before and after."""
    if wording is not None and not wording.strip():
        raise RuleError("Enter the wording to publish (to publish nothing, choose not to publish it)",
                        "published_text")
    # The text as sent (line endings and edge spaces aside, as the review form cleans them) is no redaction.
    new = None if wording is None or clean_text(wording) == clean_text(submission.text) else wording
    if new == submission.published_text:
        return
    before = submission.published_wording
    submission.published_text = new
    record(actor, "evidence.redact", submission,
           f"{'Redacted' if new is not None else 'Removed the redaction of'} the published wording of evidence "
           f"{submission.reference}", before=before, after=submission.published_wording)


def set_file_approval(actor: User, submission: Submission, approved: bool) -> None:
    """Staff approve (or withdraw) publishing the attached document: only a document the submitter
    agreed to publish. Approving stores the published copy, its metadata stripped (scrub), once;
    a document whose metadata cannot be stripped is refused. Audited."""
    if bool(approved) == submission.file_approved:
        return
    if approved:
        if not submission.has_file:
            raise RuleError("There is no document to publish", "file_approved")
        if not submission.file_may_publish:
            raise RuleError("The submitter did not agree to publishing their document, so it cannot be published",
                            "file_approved")
        try:
            original = uploads.read(submission.file_key)
        except uploads.UploadError:
            raise RuleError("The document is missing from storage, so it cannot be published",
                            "file_approved") from None
        uploads.save(scrub.strip_metadata(original, submission.file_kind), uploads.published_key(submission.file_key))
    else:
        uploads.delete_published_after_commit(submission.file_key)
    submission.file_approved = bool(approved)
    record(actor, "evidence.file_approve" if approved else "evidence.file_withdraw", submission,
           f"{'Approved' if approved else 'Withdrew'} publishing the document of evidence {submission.reference}")


def published_file(submission: Submission):
    """The published copy of a published submission's document (a Path), or None."""
    if not submission.file_published:
        return None
    try:
        path = uploads.path_for(uploads.published_key(submission.file_key))
    except uploads.UploadError:
        return None
    return path if path.exists() else None
