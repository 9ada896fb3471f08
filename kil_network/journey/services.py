"""The council journey's rules: stages derived from what is recorded, who may do what, the yearly
self-assessment against the adopted principles, champions, the community conversation, peer
suggestions and introductions.

Stages are never stored. `facts_for` reads everything a stage depends on for any number of
councils in a fixed number of queries, and `_derive` turns those facts into the stages reached
and the council's current stage: the furthest stage such that it and every earlier stage are
reached ("furthest consecutive").

Refusals are `RuleError`s (with the form field when the refusal is about one field);
`NotPermitted` (a RuleError too) when the person may not do the thing at all, which routes
answer with 403. Every change calls `core.audit.record(actor, "journey.<verb>", ...)`.
"""
import csv
import enum
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from kil_network.auth.models import Status, User
from kil_network.auth.services import get_user_by_email
from kil_network.core.audit import record
from kil_network.core.email import SecretURL, queue_email
from kil_network.core.rules import NotPermitted, RuleError
from kil_network.core.timeutil import to_london, utcnow
from kil_network.councils.models import Pledge, PledgeStatus
from kil_network.evidence import scrub, uploads
from kil_network.extensions import db
from kil_network.journey.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentStatus,
    Champion,
    ChampionRole,
    CommunityConversation,
    CouncilEndorsement,
    CouncilInterest,
    PeerIntroduction,
)
from kil_network.members.models import LocalAuthority
from kil_network.principles.models import Draft, Round
from kil_network.principles.services import adopted_round, drafts_of
from kil_network.workshops.models import Workshop, WorkshopStatus

LEVELS_CSV = Path(__file__).resolve().parents[1] / "data" / "assessment_levels.csv"

# Limits (the forms' length validators use the same numbers).
NOTE_MAX = 1000
LINK_MAX = 500
NAME_MAX = 200
TITLE_MAX = 200
SUMMARY_MAX = 2000
EVIDENCE_MAX = 4000
ACTION_MAX = 1000
COMMENTS_MAX = 4000
MESSAGE_MAX = 2000

CHAMPION_INVITE_DAYS = 14
YEAR = timedelta(days=365)
REMINDER_WINDOW = timedelta(days=30)
PEERS_PER_PRINCIPLE = 3

IN_PROGRESS = (AssessmentStatus.DRAFT, AssessmentStatus.SUBMITTED, AssessmentStatus.RETURNED)
EDITABLE = (AssessmentStatus.DRAFT, AssessmentStatus.RETURNED)


# --- Stages and levels ----------------------------------------------------------------------

class Stage(enum.StrEnum):
    """Where a council is on its Keep it Local journey (derived, never typed)."""

    NOT_STARTED = "not_started"
    INTERESTED = "interested"
    ENDORSED = "endorsed"
    CHAMPIONS = "champions"
    CONVERSATION = "conversation"
    ASSESSED = "assessed"
    REASSESSED = "reassessed"

    @property
    def label(self) -> str:
        """Its name on pages and filters."""
        return {"not_started": "Not started", "interested": "Interested", "endorsed": "Endorsed",
                "champions": "Champions appointed", "conversation": "Community conversation held",
                "assessed": "Assessed", "reassessed": "Re-assessed"}[self.value]

    @property
    def number(self) -> int:
        """0 (not started) to 6 (re-assessed), in journey order."""
        return list(Stage).index(self)


STAGES: list[Stage] = [s for s in Stage if s is not Stage.NOT_STARTED]

LEVELS = {1: "Starting", 2: "Developing", 3: "Established", 4: "Leading"}


@functools.cache
def _descriptors() -> dict[int, dict[int, str]]:
    with open(LEVELS_CSV, encoding="utf-8") as rows:
        table: dict[int, dict[int, str]] = {}
        for row in csv.DictReader(rows):
            table.setdefault(int(row["principle"]), {})[int(row["level"])] = row["descriptor"]
    return table


def level_descriptors(number: int) -> dict[int, str]:
    """The campaign's short description of each level (1-4) for principle `number`."""
    return dict(_descriptors().get(number, {}))


def today() -> date:
    """Today in the UK (held-on dates and re-assessment dates are UK dates)."""
    return to_london(utcnow()).date()


def _uk_date(value: datetime | None) -> date | None:
    return to_london(value).date() if value is not None else None


# --- Facts: everything the stages depend on, for many councils at once ----------------------

@dataclass(frozen=True)
class Facts:
    """What is recorded about one council's journey, and the stages derived from it."""

    council_id: int
    interested_at: datetime | None
    pledge: Pledge | None                       # verified only
    endorsement: CouncilEndorsement | None
    champions: dict                             # {ChampionRole: Champion | None}, current and counting
    conversation_on: date | None                # the latest conversation held (not in the future)
    published_years: tuple[int, ...]            # years of accepted, published assessments, ascending
    latest_accepted: Assessment | None
    in_progress: Assessment | None              # draft, submitted or returned
    reached: frozenset                          # each stage's own condition
    stage: Stage                                # the furthest consecutive stage
    reassessment_due_on: date | None
    due: bool                                   # the reminder window is open (or overdue)
    overdue: bool

    @property
    def endorsed(self) -> bool:
        """The verified pledge has its signed endorsement (a document or a link)."""
        return Stage.ENDORSED in self.reached


def _counts(champion: Champion) -> bool:
    """A current champion counts: a named person at once, a member once they accepted."""
    if champion.ended_at is not None or champion.erased_at is not None:
        return False
    if champion.user_id is None:
        return bool(champion.name)
    return champion.accepted_at is not None


def _derive(council_id: int, *, interested_at, pledge, endorsement, champions, conversation_on,
            assessments: list[Assessment], on: date) -> Facts:
    """The stages from the records (pure: no queries)."""
    published = sorted({a.year for a in assessments
                        if a.status == AssessmentStatus.ACCEPTED and a.published_at is not None})
    accepted = [a for a in assessments if a.status == AssessmentStatus.ACCEPTED]
    latest_accepted = max(accepted, key=lambda a: a.year, default=None)
    in_progress = max((a for a in assessments if a.status in IN_PROGRESS), key=lambda a: a.year, default=None)
    has_document = endorsement is not None and bool(endorsement.file_key or endorsement.link_url)
    own = {
        Stage.ENDORSED: pledge is not None and has_document,
        Stage.CHAMPIONS: all(champions.get(role) is not None for role in ChampionRole),
        Stage.CONVERSATION: conversation_on is not None,
        Stage.ASSESSED: bool(published),
        Stage.REASSESSED: len(published) >= 2,
    }
    # A pledge (or anything later) implies interest.
    own[Stage.INTERESTED] = interested_at is not None or pledge is not None or any(own.values())
    reached = frozenset(s for s in STAGES if own[s])
    stage = Stage.NOT_STARTED
    for s in STAGES:
        if s not in reached:
            break
        stage = s
    due_on, due, overdue = None, False, False
    if latest_accepted is not None and latest_accepted.accepted_at is not None:
        due_on = to_london(latest_accepted.accepted_at).date() + YEAR
        newer = any(a.year > latest_accepted.year for a in assessments)
        if not newer:
            due = on >= due_on - REMINDER_WINDOW
            overdue = on > due_on
    return Facts(council_id=council_id, interested_at=interested_at, pledge=pledge, endorsement=endorsement,
                 champions=dict(champions), conversation_on=conversation_on, published_years=tuple(published),
                 latest_accepted=latest_accepted, in_progress=in_progress, reached=reached, stage=stage,
                 reassessment_due_on=due_on, due=due, overdue=overdue)


def facts_for(council_ids: list[int] | None = None) -> dict[int, Facts]:
    """The journey facts of these councils (every council when None), in six queries whatever
    their number (seven for every council: their ids)."""
    if council_ids is None:
        ids = list(db.session.scalars(sa.select(LocalAuthority.id).order_by(LocalAuthority.id)))
        where = lambda column: sa.true()  # noqa: E731  (no filter: every council)
    else:
        ids = list(dict.fromkeys(council_ids))
        if not ids:
            return {}
        where = lambda column: column.in_(ids)  # noqa: E731
    interests = dict(db.session.execute(
        sa.select(CouncilInterest.local_authority_id, sa.func.min(CouncilInterest.created_at))
        .where(where(CouncilInterest.local_authority_id))
        .group_by(CouncilInterest.local_authority_id)).tuples().all())
    pledges: dict[int, tuple[Pledge | None, CouncilEndorsement | None]] = {}
    for pledge, endorsement in db.session.execute(
            sa.select(Pledge, CouncilEndorsement)
            .outerjoin(CouncilEndorsement, CouncilEndorsement.pledge_id == Pledge.id)
            .where(Pledge.status == PledgeStatus.VERIFIED, where(Pledge.local_authority_id))).tuples():
        pledges[pledge.local_authority_id] = (pledge, endorsement)
    champions: dict[int, dict] = {}
    for champion in db.session.scalars(
            sa.select(Champion).where(where(Champion.local_authority_id), Champion.ended_at.is_(None),
                                      Champion.erased_at.is_(None)).order_by(Champion.id)):
        if _counts(champion):  # the newest counting one per role (older ones are ended when it counts)
            champions.setdefault(champion.local_authority_id, {})[champion.role] = champion
    on = today()
    conversations = dict(db.session.execute(
        sa.select(CommunityConversation.local_authority_id, sa.func.max(CommunityConversation.held_on))
        .where(where(CommunityConversation.local_authority_id), CommunityConversation.held_on <= on)
        .group_by(CommunityConversation.local_authority_id)).tuples().all())
    assessments: dict[int, list[Assessment]] = {}
    for a in db.session.scalars(sa.select(Assessment).where(where(Assessment.local_authority_id))):
        assessments.setdefault(a.local_authority_id, []).append(a)
    result = {}
    for cid in ids:
        verified, document = pledges.get(cid, (None, None))
        result[cid] = _derive(
            cid, interested_at=interests.get(cid), pledge=verified, endorsement=document,
            champions={role: champions.get(cid, {}).get(role) for role in ChampionRole},
            conversation_on=conversations.get(cid), assessments=assessments.get(cid, []), on=on)
    return result


def council_facts(council: LocalAuthority) -> Facts:
    """One council's journey facts."""
    return facts_for([council.id])[council.id]


# --- Permissions ----------------------------------------------------------------------------

def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and user.status == Status.ACTIVE and user.is_confirmed)


def _is_staff(user) -> bool:
    return _signed_in(user) and user.is_staff


def is_champion(user, council: LocalAuthority) -> bool:
    """A current, accepted member champion of that council."""
    if not _signed_in(user):
        return False
    return db.session.scalar(
        sa.select(Champion.id).where(Champion.local_authority_id == council.id, Champion.user_id == user.id,
                                     Champion.accepted_at.is_not(None), Champion.ended_at.is_(None),
                                     Champion.erased_at.is_(None)).limit(1)) is not None


def _council_member(user, council: LocalAuthority) -> bool:
    return (_signed_in(user) and user.local_authority_id == council.id
            and user.member_type is not None and user.member_type.needs_council)


def can_edit(user, council: LocalAuthority) -> bool:
    """A confirmed, active councillor, commissioner or officer of this council, or one of its
    current member champions."""
    return _council_member(user, council) or is_champion(user, council)


def _require_edit(user, council: LocalAuthority, *, staff_too: bool = False) -> None:
    if can_edit(user, council) or (staff_too and _is_staff(user)):
        return
    raise NotPermitted(f"Only councillors, commissioners and officers of {council.display_name} who are "
                       "members of the Network can do this.")


def _require_staff(user) -> None:
    if not _is_staff(user):
        raise NotPermitted("Only the campaign's staff can do this.")


def _council_of(assessment: Assessment) -> LocalAuthority:
    return db.session.get_one(LocalAuthority, assessment.local_authority_id)


def can_view_assessment(user, assessment: Assessment) -> bool:
    """A published assessment is public; otherwise the council's members who can edit, and staff."""
    if assessment.status == AssessmentStatus.ACCEPTED and assessment.published_at is not None:
        return True
    return _is_staff(user) or can_edit(user, _council_of(assessment))


# --- Interest and endorsement ---------------------------------------------------------------

def declare_interest(user, council: LocalAuthority, note: str = "") -> CouncilInterest:
    """The member says their council is working towards Keep it Local (idempotent)."""
    _require_edit(user, council)
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise RuleError(f"Note must be {NOTE_MAX:,} characters or fewer", "note")
    existing = db.session.scalar(sa.select(CouncilInterest).where(
        CouncilInterest.local_authority_id == council.id, CouncilInterest.user_id == user.id))
    if existing is not None:
        return existing
    interest = CouncilInterest(local_authority_id=council.id, user_id=user.id, note=note)
    db.session.add(interest)
    db.session.flush()
    record(user, "journey.interest", interest, f"Member #{user.id} said {council.gss_code} is working towards "
                                               "Keep it Local")
    return interest


def verified_pledge(council: LocalAuthority) -> Pledge | None:
    """The council's verified pledge."""
    return db.session.scalar(sa.select(Pledge).where(Pledge.local_authority_id == council.id,
                                                     Pledge.status == PledgeStatus.VERIFIED))


def endorsement_of(council: LocalAuthority) -> CouncilEndorsement | None:
    """The endorsement document or link behind the council's verified pledge."""
    return db.session.scalar(sa.select(CouncilEndorsement).join(Pledge, CouncilEndorsement.pledge_id == Pledge.id)
                             .where(Pledge.local_authority_id == council.id, Pledge.status == PledgeStatus.VERIFIED))


def set_endorsement(user, council: LocalAuthority, *, link_url: str = "", upload=None) -> CouncilEndorsement:
    """Record the signed endorsement: a link to the published decision (https) and/or an uploaded
    document (PDF, DOCX or ODT, checked by its content like evidence files)."""
    _require_edit(user, council, staff_too=True)
    pledge = verified_pledge(council)
    if pledge is None:
        raise RuleError(f"{council.display_name} needs a verified pledge before its endorsement can be added.")
    link_url = (link_url or "").strip()
    if link_url:
        if len(link_url) > LINK_MAX:
            raise RuleError(f"Link must be {LINK_MAX} characters or fewer", "link_url")
        if not link_url.lower().startswith("https://") or len(link_url) <= len("https://") or any(
                c.isspace() for c in link_url):
            raise RuleError("Enter a link that starts with https://", "link_url")
    data, kind, public = None, "", None
    if upload is not None and upload.filename:
        data, kind = uploads.check_upload(upload)  # UploadError: a RuleError on the "file" field
        public = _public_copy(data, kind)
    endorsement = db.session.scalar(sa.select(CouncilEndorsement).where(CouncilEndorsement.pledge_id == pledge.id))
    if endorsement is None:
        if not link_url and data is None:
            raise RuleError("Upload the signed endorsement or give a link to the published decision", "link_url")
        endorsement = CouncilEndorsement(pledge_id=pledge.id)
        db.session.add(endorsement)
    elif not link_url and data is None and not endorsement.file_key:
        raise RuleError("Upload the signed endorsement or give a link to the published decision", "link_url")
    endorsement.link_url = link_url
    if data is not None:
        if endorsement.file_key:
            uploads.delete_after_commit(endorsement.file_key)
        endorsement.file_key = uploads.save(data)
        if public is None:  # made with `data` above, from the same upload
            raise RuntimeError("an endorsement upload without its published copy")
        uploads.save(public, uploads.published_key(endorsement.file_key))  # what endorsement_document serves
        endorsement.file_kind = kind
        endorsement.file_size = len(data)
        endorsement.file_name = uploads.clean_filename(upload.filename, kind)
    endorsement.added_by_id = user.id
    endorsement.updated_at = utcnow()
    db.session.flush()
    record(user, "journey.endorsement", endorsement,
           f"Endorsement of {council.gss_code} recorded"
           + (f" (document {endorsement.file_name})" if endorsement.file_key else "")
           + (" (link)" if endorsement.link_url else ""))
    return endorsement


ENDORSEMENT_UNCLEAN = ("The signed endorsement is shown to everyone, so its author details (metadata) are removed "
                      "first, and they could not be removed from this document. Upload a copy without a password "
                      "(saved again as PDF, DOCX or ODT), or give a link to the published decision.")


def _public_copy(data: bytes, kind: str) -> bytes:
    """The document as the council's page offers it: its author metadata stripped (evidence.scrub,
    as the evidence library publishes documents); UploadError on the "file" field if it cannot be."""
    try:
        return scrub.strip_metadata(data, kind)
    except RuleError as exc:
        raise uploads.UploadError(ENDORSEMENT_UNCLEAN) from exc


def _live_pledge_endorsement(council: LocalAuthority) -> CouncilEndorsement | None:
    """The endorsement of the council's live pledge (pending or verified: one at most)."""
    return db.session.scalar(sa.select(CouncilEndorsement).join(Pledge, CouncilEndorsement.pledge_id == Pledge.id)
                             .where(Pledge.local_authority_id == council.id, Pledge.status != PledgeStatus.REJECTED))


def downloadable_endorsement(viewer, council: LocalAuthority) -> CouncilEndorsement | None:
    """The endorsement whose document this viewer may download: the verified pledge's for everyone
    (the council's signed endorsement is a public commitment); staff also while the pledge is pending."""
    endorsement = _live_pledge_endorsement(council) if _is_staff(viewer) else endorsement_of(council)
    return endorsement if endorsement is not None and endorsement.file_key else None


def endorsement_download_name(council: LocalAuthority, endorsement: CouncilEndorsement) -> str:
    """The download's file name: the council's code, never the name it was uploaded with."""
    return f"keep-it-local-endorsement-{council.gss_code}.{endorsement.file_kind}"


def endorsement_document(viewer, council: LocalAuthority) -> tuple[CouncilEndorsement, bytes] | None:
    """The endorsement and its document's bytes, author metadata stripped, if this viewer may read it
    (downloadable_endorsement) and it is stored; None otherwise. The stripped copy was made on upload;
    if it is missing it is made again from the original."""
    endorsement = downloadable_endorsement(viewer, council)
    if endorsement is None or endorsement.file_kind not in uploads.KINDS:
        return None
    try:
        return endorsement, uploads.read(uploads.published_key(endorsement.file_key))
    except uploads.UploadError:
        pass
    try:
        return endorsement, _public_copy(uploads.read(endorsement.file_key), endorsement.file_kind)
    except uploads.UploadError:
        current_app.logger.warning("The endorsement document of %s is missing from storage or cannot be cleaned",
                                   council.gss_code)
        return None


# --- Champions ------------------------------------------------------------------------------

def _champion_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="kil-journey-champion")


def _champion_fingerprint(champion: Champion) -> str:
    return hashlib.sha256(f"{champion.id}:{champion.user_id}:{champion.role}".encode()).hexdigest()[:16]


def champion_token(champion: Champion) -> str:
    """The signed token in the invitation link (valid CHAMPION_INVITE_DAYS)."""
    return _champion_serializer().dumps({"c": champion.id, "f": _champion_fingerprint(champion)})


def _site_url(path: str) -> str:
    """An absolute link to a contract path, from BASE_URL alone (like core.email.external_url)."""
    return current_app.config["BASE_URL"].rstrip("/") + path


def champion_accept_url(champion: Champion) -> SecretURL:
    """The invitation link (a secret link: the email holding it is never shown in the outbox page)."""
    return SecretURL(_site_url(f"/councils/champions/accept/{champion_token(champion)}"))


def champion_name(champion: Champion) -> str:
    """The champion's name as shown: the member's name, the named person, or 'Former champion'."""
    if champion.erased_at is not None:
        return "Former champion"
    if champion.user_id is not None and champion.user is not None:
        return champion.user.display_name
    return champion.name or "Former champion"


def current_champions(council: LocalAuthority) -> list[Champion]:
    """The council's current champions (counting ones and invitations waiting), by role."""
    rows = db.session.scalars(sa.select(Champion).where(
        Champion.local_authority_id == council.id, Champion.ended_at.is_(None), Champion.erased_at.is_(None))
        .order_by(Champion.role, Champion.id)).all()
    return list(rows)


def _end_others(champion: Champion, now: datetime) -> None:
    """A champion who starts counting ends the other current champions of that role."""
    for other in db.session.scalars(sa.select(Champion).where(
            Champion.local_authority_id == champion.local_authority_id, Champion.role == champion.role,
            Champion.id != champion.id, Champion.ended_at.is_(None))):
        other.ended_at = now


def _not_a_member_of(council: LocalAuthority) -> RuleError:
    """The one refusal for an address that is nobody's, an unconfirmed account's, or a member's of
    another council or another kind: no answer tells which addresses belong to members."""
    return RuleError(f"Enter the email address of a Network member who is a councillor, commissioner or officer "
                     f"of {council.display_name}", "member")


def appoint_champion(actor, council: LocalAuthority, role: ChampionRole, *, member: User | None = None,
                     email: str | None = None, name: str = "", job_title: str = "") -> Champion:
    """Appoint a champion: a member of the council (given as `member` or by their `email`; invited
    by email, counts once they accept) or a named person (counts at once)."""
    _require_edit(actor, council, staff_too=True)
    if email is not None:
        if member is not None:
            raise ValueError("Give a member or an email address, not both")
        member = get_user_by_email(email.strip()) if email.strip() else None
        if member is None:
            raise _not_a_member_of(council)
    try:
        role = ChampionRole(role)
    except ValueError as exc:
        raise RuleError("Choose the cabinet champion or the senior management champion", "role") from exc
    name, job_title = (name or "").strip(), (job_title or "").strip()
    if len(job_title) > NAME_MAX:
        raise RuleError(f"Job title must be {NAME_MAX} characters or fewer", "job_title")
    now = utcnow()
    if member is not None:
        if name:
            raise RuleError("Choose a member or type a name, not both", "name")
        if not (_signed_in(member) and member.local_authority_id == council.id and member.member_type is not None
                and member.member_type.needs_council):
            raise _not_a_member_of(council)
        if is_champion(member, council) and db.session.scalar(sa.select(Champion.id).where(
                Champion.local_authority_id == council.id, Champion.user_id == member.id, Champion.role == role,
                Champion.ended_at.is_(None), Champion.accepted_at.is_not(None))) is not None:
            raise RuleError(f"{member.display_name} is already the {role.label.lower()}", "member")
        # A newer invitation for the role replaces an earlier one still waiting.
        for waiting in db.session.scalars(sa.select(Champion).where(
                Champion.local_authority_id == council.id, Champion.role == role, Champion.ended_at.is_(None),
                Champion.user_id.is_not(None), Champion.accepted_at.is_(None))):
            waiting.ended_at = now
        champion = Champion(local_authority_id=council.id, role=role, user_id=member.id, job_title=job_title,
                            appointed_by_id=actor.id, invited_at=now)
        db.session.add(champion)
        db.session.flush()
        queue_email(member.email, f"You have been asked to be {council.display_name}'s {role.label.lower()}",
                    "journey_champion_invitation", kind="journey", user=member, name=member.display_name,
                    council=council.display_name, role=role.label.lower(), appointed_by=actor.display_name,
                    accept_url=champion_accept_url(champion), days=CHAMPION_INVITE_DAYS)
        record(actor, "journey.champion_invite", champion,
               f"Invited member #{member.id} as {role.label.lower()} of {council.gss_code}")
        return champion
    if not name:
        raise RuleError("Enter the champion's name, or choose a member", "name")
    if len(name) > NAME_MAX:
        raise RuleError(f"Name must be {NAME_MAX} characters or fewer", "name")
    champion = Champion(local_authority_id=council.id, role=role, name=name, job_title=job_title,
                        appointed_by_id=actor.id)
    db.session.add(champion)
    db.session.flush()
    _end_others(champion, now)
    record(actor, "journey.champion_named", champion, f"Named the {role.label.lower()} of {council.gss_code}")
    return champion


def champion_from_token(token: str) -> Champion:
    """The invitation a link is for, or RuleError if it is invalid, expired or withdrawn."""
    invalid = "This link is not valid. Check you copied the whole link from the email."
    try:
        data = _champion_serializer().loads(str(token)[:500], max_age=CHAMPION_INVITE_DAYS * 24 * 3600)
        champion = db.session.get(Champion, int(data["c"]))
    except SignatureExpired:
        raise RuleError(f"This invitation has expired: invitations last {CHAMPION_INVITE_DAYS} days. "
                        "Ask to be invited again.") from None
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError):
        raise RuleError(invalid) from None
    if champion is None or champion.user_id is None or _champion_fingerprint(champion) != data.get("f"):
        raise RuleError(invalid)
    if champion.ended_at is not None and champion.accepted_at is None:
        raise RuleError("This invitation has been withdrawn or replaced by a newer one.")
    if (champion.accepted_at is None and champion.invited_at is not None
            and utcnow() - champion.invited_at > timedelta(days=CHAMPION_INVITE_DAYS)):
        raise RuleError(f"This invitation has expired: invitations last {CHAMPION_INVITE_DAYS} days. "
                        "Ask to be invited again.")
    return champion


def accept_champion(user, token: str) -> Champion:
    """The invited member accepts: from now on they count as the council's champion for the role
    (the previous champion of that role ends). Accepting twice changes nothing."""
    champion = champion_from_token(token)
    if not _signed_in(user) or champion.user_id != user.id:
        raise NotPermitted("This invitation is for another member. Sign in with the account it was sent to.")
    if champion.accepted_at is not None:
        return champion
    now = utcnow()
    champion.accepted_at = now
    _end_others(champion, now)
    council = db.session.get_one(LocalAuthority, champion.local_authority_id)
    record(user, "journey.champion_accept", champion,
           f"Member #{user.id} accepted being {champion.role.label.lower()} of {council.gss_code}")
    return champion


def end_champion(actor, champion: Champion) -> None:
    """End a champion's appointment (or withdraw an invitation). A second end changes nothing."""
    council = db.session.get_one(LocalAuthority, champion.local_authority_id)
    _require_edit(actor, council, staff_too=True)
    if champion.ended_at is not None:
        return
    champion.ended_at = utcnow()
    record(actor, "journey.champion_end", champion, f"Ended the {champion.role.label.lower()} of {council.gss_code}")


def remove_named_champion(staff, champion: Champion) -> None:
    """Staff remove a named (non-member) champion's details on request; the role stays as
    'former champion'."""
    _require_staff(staff)
    if champion.user_id is not None:
        raise RuleError("This champion is a member: their details go when they delete their account.")
    if champion.erased_at is not None:
        return
    now = utcnow()
    champion.name, champion.job_title = "", ""
    champion.erased_at = now
    champion.ended_at = champion.ended_at or now
    council = db.session.get_one(LocalAuthority, champion.local_authority_id)
    record(staff, "journey.champion_remove", champion,
           f"Removed a named {champion.role.label.lower()} of {council.gss_code} on request")


# --- Community conversation -----------------------------------------------------------------

def conversation_workshops(council: LocalAuthority) -> list[Workshop]:
    """Workshops that can be linked as the council's conversation: published, in its region,
    already started."""
    return list(db.session.scalars(sa.select(Workshop).where(
        Workshop.region_id == council.region_id, Workshop.status == WorkshopStatus.PUBLISHED,
        Workshop.starts_at <= utcnow()).order_by(Workshop.starts_at.desc())))


def conversations_of(council: LocalAuthority) -> list[CommunityConversation]:
    """The council's recorded conversations, newest first."""
    return list(db.session.scalars(sa.select(CommunityConversation).where(
        CommunityConversation.local_authority_id == council.id)
        .order_by(CommunityConversation.held_on.desc(), CommunityConversation.id.desc())))


def record_conversation(actor, council: LocalAuthority, *, held_on: date | None, title: str = "",
                        summary: str = "", workshop: Workshop | None = None) -> CommunityConversation:
    """Record the council's conversation with its community: a workshop in the council's region,
    or an event with its date and a short summary."""
    _require_edit(actor, council, staff_too=True)
    title, summary = (title or "").strip(), (summary or "").strip()
    if workshop is not None:
        if workshop.region_id != council.region_id:
            raise RuleError(f"Choose a workshop in {council.region.name}, the region of {council.display_name}",
                            "workshop")
        if workshop.status != WorkshopStatus.PUBLISHED:
            raise RuleError("Choose a workshop that took place (this one is not published or was cancelled)",
                            "workshop")
        if held_on is None:
            held_on = _uk_date(workshop.starts_at)
        title = title or workshop.title[:TITLE_MAX]
    if held_on is None:
        raise RuleError("Enter the date the conversation was held", "held_on")
    if held_on > today():
        raise RuleError("The date the conversation was held must be today or in the past", "held_on")
    if len(title) > TITLE_MAX:
        raise RuleError(f"Title must be {TITLE_MAX} characters or fewer", "title")
    if workshop is None and not summary:
        raise RuleError("Enter a short summary of the conversation", "summary")
    if len(summary) > SUMMARY_MAX:
        raise RuleError(f"Summary must be {SUMMARY_MAX:,} characters or fewer", "summary")
    conversation = CommunityConversation(local_authority_id=council.id, workshop_id=workshop.id if workshop else None,
                                         title=title, held_on=held_on, summary=summary, recorded_by_id=actor.id)
    db.session.add(conversation)
    db.session.flush()
    record(actor, "journey.conversation", conversation,
           f"Recorded the community conversation of {council.gss_code} held on {held_on.isoformat()}")
    return conversation


# --- Assessments ----------------------------------------------------------------------------

def adopted_drafts() -> tuple[Round | None, list[Draft]]:
    """The adopted round and its drafts (the wording an assessment started now answers)."""
    round_ = adopted_round()
    return (round_, drafts_of(round_)) if round_ is not None else (None, [])


def assessments_of(council: LocalAuthority) -> list[Assessment]:
    """The council's assessments, newest year first."""
    return list(db.session.scalars(sa.select(Assessment).where(Assessment.local_authority_id == council.id)
                                   .order_by(Assessment.year.desc())))


def published_assessments(council: LocalAuthority) -> list[Assessment]:
    """The council's accepted and published assessments (its public page), newest year first."""
    return list(db.session.scalars(sa.select(Assessment).where(
        Assessment.local_authority_id == council.id, Assessment.status == AssessmentStatus.ACCEPTED,
        Assessment.published_at.is_not(None)).order_by(Assessment.year.desc())))


def start_refusal(user, council: LocalAuthority) -> str | None:
    """Why this person cannot start an assessment for this council now, or None."""
    return _start_refusal(council, editor=can_edit(user, council))


def _start_refusal(council: LocalAuthority, *, editor: bool,
                   existing: Sequence[Assessment] | None = None) -> str | None:
    """start_refusal for someone whose right to edit is known (and the council's assessments, when read)."""
    if not editor:
        return (f"Only councillors, commissioners and officers of {council.display_name} who are members of the "
                "Network can start its assessment.")
    if adopted_round() is None:
        return "The assessment opens once the campaign has adopted the principles."
    if verified_pledge(council) is None:
        return f"{council.display_name} can assess itself once its Keep it Local pledge is verified."
    if existing is None:
        existing = db.session.scalars(sa.select(Assessment).where(Assessment.local_authority_id == council.id)).all()
    if any(a.status in IN_PROGRESS for a in existing):
        return "An assessment is already in progress. Finish that one first."
    year = utcnow().year
    if any(a.year == year for a in existing):
        return f"{council.display_name} has already assessed itself for {year}."
    return None


def start_assessment(user, council: LocalAuthority) -> Assessment:
    """Start this year's self-assessment: one answer per adopted principle, in the adopted wording."""
    if not can_edit(user, council):
        raise NotPermitted(start_refusal(user, council) or "You cannot start this assessment.")
    reason = start_refusal(user, council)
    if reason:
        raise RuleError(reason)
    round_, drafts = adopted_drafts()
    if round_ is None:  # (start_refusal said so already)
        raise RuleError("The assessment opens once the campaign has adopted the principles.")
    now = utcnow()
    assessment = Assessment(local_authority_id=council.id, round_id=round_.id, year=now.year,
                            status=AssessmentStatus.DRAFT, created_by_id=user.id, updated_by_id=user.id,
                            created_at=now, updated_at=now,
                            answers=[AssessmentAnswer(draft_id=d.id, number=d.number) for d in drafts])
    try:
        with db.session.begin_nested():
            db.session.add(assessment)
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise RuleError(f"{council.display_name} has just started its assessment for {now.year}.") from exc
    record(user, "journey.assessment_start", assessment,
           f"Started the {now.year} assessment of {council.gss_code} (round #{round_.id})")
    return assessment


def _clean_level(value, number: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        level = int(value)
    except (TypeError, ValueError):
        level = 0
    if level not in LEVELS:
        raise RuleError("Choose a level from starting to leading", f"level_{number}")
    return level


def _lock(assessment: Assessment) -> None:
    """Take the assessment's row lock and read it again as locked (one UPDATE ... RETURNING), so
    two steps at once (a double click, staff accepting while a champion publishes) are applied one
    after the other, each seeing the status the other left."""
    db.session.scalar(sa.update(Assessment).where(Assessment.id == assessment.id)
                      .values(updated_at=Assessment.updated_at).returning(Assessment)
                      .execution_options(synchronize_session=False, populate_existing=True))


def save_answers(user, assessment: Assessment, answers: dict[int, dict]) -> None:
    """Save a draft's answers, keyed by principle number: {"level", "evidence", "action"}.
    Only a draft or a returned assessment can be changed, by the council's members."""
    council = _council_of(assessment)
    _require_edit(user, council)
    _lock(assessment)
    if assessment.status not in EDITABLE:
        raise RuleError("This assessment has been submitted, so it cannot be changed now.")
    by_number = {a.number: a for a in assessment.answers}
    cleaned = {}
    for number, values in answers.items():
        if number not in by_number:
            continue
        evidence = (values.get("evidence") or "").strip()
        action = (values.get("action") or "").strip()
        if len(evidence) > EVIDENCE_MAX:
            raise RuleError(f"Evidence must be {EVIDENCE_MAX:,} characters or fewer", f"evidence_{number}")
        if len(action) > ACTION_MAX:
            raise RuleError(f"Action must be {ACTION_MAX:,} characters or fewer", f"action_{number}")
        cleaned[number] = (_clean_level(values.get("level"), number), evidence, action)
    changed = False
    for number, (level, evidence, action) in cleaned.items():
        answer = by_number[number]
        if (answer.level, answer.evidence, answer.action) != (level, evidence, action):
            answer.level, answer.evidence, answer.action = level, evidence, action
            changed = True
    if changed:
        assessment.updated_by_id = user.id
        assessment.updated_at = utcnow()
        record(user, "journey.assessment_save", assessment,
               f"Saved answers of the {assessment.year} assessment of {council.gss_code}")


def missing_answers(assessment: Assessment) -> list[tuple[int, str, str]]:
    """What must be answered before the assessment can be submitted: (number, field, message)."""
    missing = []
    for answer in sorted(assessment.answers, key=lambda a: a.number):
        n = answer.number
        if answer.level is None:
            missing.append((n, "level", f"Choose a level for principle {n}"))
        if not answer.evidence.strip():
            missing.append((n, "evidence", f"Enter your evidence for principle {n}"))
        if not answer.action.strip():
            missing.append((n, "action", f"Enter one action for the year ahead for principle {n}"))
    return missing


def submit_assessment(user, assessment: Assessment) -> None:
    """A champion submits the assessment to the campaign's staff for review."""
    council = _council_of(assessment)
    if not is_champion(user, council):
        raise NotPermitted(f"Only a champion of {council.display_name} can submit its assessment.")
    _lock(assessment)
    if assessment.status not in EDITABLE:
        raise RuleError("This assessment has already been submitted.")
    missing = missing_answers(assessment)
    if missing:
        number, field, message = missing[0]
        raise RuleError(message, f"{field}_{number}")
    now = utcnow()
    assessment.status = AssessmentStatus.SUBMITTED
    assessment.submitted_by_id, assessment.submitted_at = user.id, now
    assessment.updated_by_id, assessment.updated_at = user.id, now
    record(user, "journey.assessment_submit", assessment,
           f"Submitted the {assessment.year} assessment of {council.gss_code}")
    queue_email(current_app.config["CONTACT_EMAIL"],
                f"Assessment to review: {council.display_name}, {assessment.year}", "journey_assessment_submitted",
                kind="journey_review", council=council.display_name, year=assessment.year,
                submitter=user.display_name, staff_url=_site_url(f"/staff/councils/{council.gss_code}"))


def _tell_council(assessment: Assessment, council: LocalAuthority, subject: str, **context) -> int:
    """Email the assessment's submitter and the council's current member champions (active,
    confirmed, deliverable addresses), once each."""
    champion_ids = sa.select(Champion.user_id).where(
        Champion.local_authority_id == council.id, Champion.user_id.is_not(None),
        Champion.accepted_at.is_not(None), Champion.ended_at.is_(None), Champion.erased_at.is_(None))
    people = db.session.scalars(sa.select(User).where(
        sa.or_(User.id == assessment.submitted_by_id, User.id.in_(champion_ids)), User.status == Status.ACTIVE,
        User.email_confirmed_at.is_not(None), User.email_undeliverable_at.is_(None)).order_by(User.id)).all()
    url = _site_url(f"/councils/{council.gss_code}/assessments/{assessment.id}")
    for person in people:
        queue_email(person.email, subject, "journey_assessment_reviewed", kind="journey_review", user=person,
                    name=person.display_name, council=council.display_name, year=assessment.year,
                    assessment_url=url, **context)
    return len(people)


def return_assessment(staff, assessment: Assessment, comments: str) -> None:
    """Staff return a submitted assessment to the council with comments."""
    _require_staff(staff)
    comments = (comments or "").strip()
    _lock(assessment)
    if assessment.status != AssessmentStatus.SUBMITTED:
        raise RuleError("Only a submitted assessment can be returned.")
    if not comments:
        raise RuleError("Enter comments saying what the council should change", "comments")
    if len(comments) > COMMENTS_MAX:
        raise RuleError(f"Comments must be {COMMENTS_MAX:,} characters or fewer", "comments")
    now = utcnow()
    assessment.status = AssessmentStatus.RETURNED
    assessment.reviewed_by_id, assessment.reviewed_at, assessment.review_comments = staff.id, now, comments
    assessment.updated_at = now
    council = _council_of(assessment)
    record(staff, "journey.assessment_return", assessment,
           f"Returned the {assessment.year} assessment of {council.gss_code}", comments=comments)
    _tell_council(assessment, council, f"{council.display_name}'s {assessment.year} assessment: changes needed",
                  accepted=False, comments=comments)


def accept_assessment(staff, assessment: Assessment, comments: str = "") -> None:
    """Staff accept a submitted assessment (the council then chooses whether to publish it)."""
    _require_staff(staff)
    comments = (comments or "").strip()
    _lock(assessment)
    if assessment.status != AssessmentStatus.SUBMITTED:
        raise RuleError("Only a submitted assessment can be accepted.")
    if len(comments) > COMMENTS_MAX:
        raise RuleError(f"Comments must be {COMMENTS_MAX:,} characters or fewer", "comments")
    now = utcnow()
    assessment.status = AssessmentStatus.ACCEPTED
    assessment.reviewed_by_id, assessment.reviewed_at, assessment.review_comments = staff.id, now, comments
    assessment.accepted_at = now
    assessment.updated_at = now
    council = _council_of(assessment)
    record(staff, "journey.assessment_accept", assessment,
           f"Accepted the {assessment.year} assessment of {council.gss_code}", comments=comments)
    _tell_council(assessment, council, f"{council.display_name}'s {assessment.year} assessment has been accepted",
                  accepted=True, comments=comments)


def _require_publisher(user, assessment: Assessment) -> LocalAuthority:
    council = _council_of(assessment)
    if not is_champion(user, council):
        raise NotPermitted(f"Only a champion of {council.display_name} can choose whether its assessment is "
                           "published.")
    _lock(assessment)
    if assessment.status != AssessmentStatus.ACCEPTED:
        raise RuleError("An assessment can be published once the campaign has accepted it.")
    return council


def publish_assessment(user, assessment: Assessment) -> None:
    """A champion publishes the accepted assessment (a second publish changes nothing)."""
    council = _require_publisher(user, assessment)
    if assessment.published_at is not None:
        return
    assessment.published_at, assessment.published_by_id = utcnow(), user.id
    record(user, "journey.assessment_publish", assessment,
           f"Published the {assessment.year} assessment of {council.gss_code}")


def unpublish_assessment(user, assessment: Assessment) -> None:
    """A champion takes the assessment off the public pages (a second time changes nothing)."""
    council = _require_publisher(user, assessment)
    if assessment.published_at is None:
        return
    assessment.published_at, assessment.published_by_id = None, None
    record(user, "journey.assessment_unpublish", assessment,
           f"Unpublished the {assessment.year} assessment of {council.gss_code}")


def is_published(assessment: Assessment) -> bool:
    """Accepted and published: on the public pages."""
    return assessment.status == AssessmentStatus.ACCEPTED and assessment.published_at is not None


# --- Progress and peers ---------------------------------------------------------------------

def progress(council: LocalAuthority, *, published_only: bool) -> dict:
    """Levels per principle year on year, for the chart and its data table: the published
    assessments only (the public page), or every assessment (the council's own view)."""
    stmt = sa.select(Assessment).where(Assessment.local_authority_id == council.id).order_by(Assessment.year)
    if published_only:
        stmt = stmt.where(Assessment.status == AssessmentStatus.ACCEPTED, Assessment.published_at.is_not(None))
    assessments = db.session.scalars(stmt).all()
    ids = [a.id for a in assessments]
    answers = db.session.execute(
        sa.select(Assessment.year, AssessmentAnswer.number, AssessmentAnswer.level, Draft.title)
        .join(Assessment, AssessmentAnswer.assessment_id == Assessment.id)
        .join(Draft, AssessmentAnswer.draft_id == Draft.id)
        .where(AssessmentAnswer.assessment_id.in_(ids)).order_by(Assessment.year, AssessmentAnswer.number)
    ).all() if ids else []
    titles: dict[int, str] = {}
    levels: dict[tuple[int, int], int] = {}
    for year, number, level, title in answers:
        titles[number] = title  # the newest year's wording wins (rows come in year order)
        if level is not None:
            levels[(year, number)] = level
    if not titles:
        titles = {d.number: d.title for d in adopted_drafts()[1]}
    return {"years": [a.year for a in assessments], "numbers": sorted(titles) or list(range(1, 7)),
            "titles": titles, "levels": levels}


@dataclass(frozen=True)
class Peer:
    """A council at established or leading on a principle, whose assessment is published."""

    council: LocalAuthority
    level: int
    evidence: str
    year: int
    has_champion: bool


def _latest_answers(council: LocalAuthority) -> dict[int, AssessmentAnswer]:
    latest = db.session.scalar(sa.select(Assessment).where(Assessment.local_authority_id == council.id)
                               .order_by(Assessment.year.desc()).limit(1))
    return {a.number: a for a in latest.answers} if latest is not None else {}


def peer_suggestions(council: LocalAuthority) -> dict[int, list[Peer]]:
    """For each principle where the council's latest assessment is at starting or developing: up
    to three other councils at established or leading on it in their latest published assessment,
    same region first, then same tier, then the rest (higher level, newer year, then name)."""
    weak = sorted(n for n, a in _latest_answers(council).items() if a.level in (1, 2))
    if not weak:
        return {}
    published = db.session.execute(
        sa.select(Assessment.id, Assessment.local_authority_id, Assessment.year)
        .where(Assessment.status == AssessmentStatus.ACCEPTED, Assessment.published_at.is_not(None),
               Assessment.local_authority_id != council.id)).all()
    latest: dict[int, tuple[int, int]] = {}
    for aid, cid, year in published:
        if cid not in latest or year > latest[cid][1]:
            latest[cid] = (aid, year)
    if not latest:
        return {}
    year_of = {aid: year for aid, year in latest.values()}
    strong = db.session.execute(
        sa.select(Assessment.local_authority_id, AssessmentAnswer.assessment_id, AssessmentAnswer.number,
                  AssessmentAnswer.level, AssessmentAnswer.evidence)
        .join(Assessment, AssessmentAnswer.assessment_id == Assessment.id)
        .where(AssessmentAnswer.assessment_id.in_(list(year_of)), AssessmentAnswer.number.in_(weak),
               AssessmentAnswer.level.in_((3, 4)))).all()
    council_ids = {row[0] for row in strong}
    councils = {c.id: c for c in db.session.scalars(
        sa.select(LocalAuthority).where(LocalAuthority.id.in_(council_ids)))} if council_ids else {}
    # A champion the campaign can introduce them to: a named person, or a member who accepted.
    champions = set(db.session.scalars(sa.select(Champion.local_authority_id).where(
        Champion.local_authority_id.in_(council_ids), Champion.ended_at.is_(None), Champion.erased_at.is_(None),
        sa.or_(Champion.accepted_at.is_not(None), sa.and_(Champion.user_id.is_(None), Champion.name != ""))))
    ) if council_ids else set()
    result: dict[int, list[Peer]] = {}
    for number in weak:
        candidates = [Peer(councils[cid], level, evidence, year_of[aid], cid in champions)
                      for cid, aid, n, level, evidence in strong if n == number]

        def order(peer: Peer):
            closeness = (0 if peer.council.region_id == council.region_id
                         else 1 if peer.council.tier == council.tier else 2)
            return closeness, -peer.level, -peer.year, peer.council.name

        chosen = sorted(candidates, key=order)[:PEERS_PER_PRINCIPLE]
        if chosen:
            result[number] = chosen
    return result


def request_introduction(user, from_council: LocalAuthority, to_council: LocalAuthority, number: int,
                         message: str) -> PeerIntroduction:
    """Ask the campaign to introduce the council to a suggested peer's champion on one principle.
    Staff get an email (no address is shown to either council). Asking again while the first
    request waits changes nothing."""
    _require_edit(user, from_council)
    message = (message or "").strip()
    if not message:
        raise RuleError("Say what you would like to ask the other council", "message")
    if len(message) > MESSAGE_MAX:
        raise RuleError(f"Message must be {MESSAGE_MAX:,} characters or fewer", "message")
    peers = peer_suggestions(from_council).get(number, [])
    if to_council.id not in {p.council.id for p in peers}:
        raise RuleError(f"{to_council.display_name} is not one of the councils suggested for principle {number}.")
    existing = db.session.scalar(sa.select(PeerIntroduction).where(
        PeerIntroduction.from_local_authority_id == from_council.id,
        PeerIntroduction.to_local_authority_id == to_council.id, PeerIntroduction.principle_number == number,
        PeerIntroduction.handled_at.is_(None)))
    if existing is not None:
        return existing
    intro = PeerIntroduction(requested_by_id=user.id, from_local_authority_id=from_council.id,
                             to_local_authority_id=to_council.id, principle_number=number, message=message)
    db.session.add(intro)
    db.session.flush()
    queue_email(current_app.config["CONTACT_EMAIL"],
                f"Introduction requested: {from_council.display_name} to {to_council.display_name}",
                "journey_introduction_requested", kind="journey", from_council=from_council.display_name,
                to_council=to_council.display_name, number=number, requester=user.display_name,
                message=message, staff_url=_site_url(f"/staff/councils/{from_council.gss_code}"))
    record(user, "journey.introduction_request", intro,
           f"Member #{user.id} asked for {from_council.gss_code} to be introduced to {to_council.gss_code} "
           f"on principle {number}")
    return intro


def mark_introduction_handled(staff: User, introduction: PeerIntroduction) -> bool:
    """Staff have made the introduction: set once (a second click changes nothing, audits nothing).
    Returns whether it changed."""
    if not _is_staff(staff):
        raise RuleError("Only campaign staff introduce councils.")
    # Lock the row and read it again: two members of staff clicking at once audit it once.
    db.session.execute(sa.update(PeerIntroduction).where(PeerIntroduction.id == introduction.id)
                       .values(handled_by_id=PeerIntroduction.handled_by_id))
    db.session.refresh(introduction)
    if introduction.handled_at is not None:
        return False
    introduction.handled_at = utcnow()
    introduction.handled_by_id = staff.id
    record(staff, "journey.introduction_handled", introduction,
           f"Marked introduction #{introduction.id} (principle {introduction.principle_number}) as made")
    return True


# --- The journey page -----------------------------------------------------------------------

WHO = {
    Stage.INTERESTED: "Any councillor, commissioner or officer of the council who is a member of the Network",
    Stage.ENDORSED: "The council (its leader or a cabinet member with the chief executive, or a cabinet "
                    "decision); then one of its members adds the signed endorsement here",
    Stage.CHAMPIONS: "A councillor, commissioner or officer of the council who is a member, or the campaign team",
    Stage.CONVERSATION: "A councillor, commissioner or officer of the council who is a member, or the campaign team",
    Stage.ASSESSED: "The council's members start and fill in the assessment, a champion submits it, the "
                    "campaign reviews it and a champion publishes it",
    Stage.REASSESSED: "The council's members, a year after the last assessment was accepted",
}
ACTIONS = {
    Stage.INTERESTED: ("interest", "journey.interest"),
    Stage.ENDORSED: ("endorsement", "journey.endorsement"),
    Stage.CHAMPIONS: ("champions", "journey.champions"),
    Stage.CONVERSATION: ("conversation", "journey.conversations"),
    Stage.ASSESSED: ("assessment", "journey.new_assessment"),
    Stage.REASSESSED: ("assessment", "journey.new_assessment"),
}


def _next_text(stage: Stage, facts: Facts, council: LocalAuthority) -> str:
    name = council.display_name
    if stage is Stage.INTERESTED:
        return f"Say that {name} is working towards Keep it Local."
    if stage is Stage.ENDORSED:
        if facts.pledge is None:
            return (f"{name} endorses the six principles and submits its Keep it Local pledge for the campaign "
                    "to verify.")
        return "Add the signed endorsement: upload the document or link to the published cabinet decision."
    if stage is Stage.CHAMPIONS:
        missing = [r.label.lower() for r in ChampionRole if facts.champions.get(r) is None]
        return f"Appoint the {' and the '.join(missing)}."
    if stage is Stage.CONVERSATION:
        return (f"Hold a conversation with the local community about what keeping it local means in {name}, and "
                "record it (or link a workshop held in the region).")
    if stage is Stage.ASSESSED:
        if facts.in_progress is not None:
            return f"Finish the {facts.in_progress.year} self-assessment ({facts.in_progress.status.label.lower()})."
        if facts.latest_accepted is not None:
            return "Publish the accepted self-assessment so others can see it."
        return "Assess current practice against the six principles."
    if facts.in_progress is not None:
        return f"Finish the {facts.in_progress.year} self-assessment ({facts.in_progress.status.label.lower()})."
    if facts.reassessment_due_on is not None:
        return f"Assess again: the next self-assessment is due by {facts.reassessment_due_on:%-d %B %Y}."
    return "Assess again a year after the last assessment."


def _done_on(stage: Stage, facts: Facts, assessments: list[Assessment]) -> date | None:
    if stage not in facts.reached:
        return None
    if stage is Stage.INTERESTED:
        dates = [d for d in (_uk_date(facts.interested_at), facts.pledge.pledged_on if facts.pledge else None) if d]
        return min(dates) if dates else None
    if stage is Stage.ENDORSED:
        return _uk_date(facts.endorsement.updated_at) if facts.endorsement else None
    if stage is Stage.CHAMPIONS:
        dates = [to_london(c.accepted_at or c.created_at).date() for c in facts.champions.values() if c is not None]
        return max(dates) if dates else None
    if stage is Stage.CONVERSATION:
        return facts.conversation_on
    published = sorted((a for a in assessments if is_published(a)), key=lambda a: a.year)
    index = 0 if stage is Stage.ASSESSED else 1
    return _uk_date(published[index].published_at) if len(published) > index else None


def _detail(stage: Stage, facts: Facts) -> str:
    if stage is Stage.INTERESTED:
        return "A member from the council said it is working on it." if facts.interested_at else (
            "The council has pledged." if facts.pledge else "")
    if stage is Stage.ENDORSED:
        if facts.pledge is None:
            return "No verified pledge yet."
        if facts.endorsement is None or not (facts.endorsement.file_key or facts.endorsement.link_url):
            return "Pledge verified; the signed endorsement is not added yet."
        return "Pledge verified, with the signed endorsement."
    if stage is Stage.CHAMPIONS:
        return "; ".join(f"{r.label}: {champion_name(c) if c else 'not appointed'}"
                         for r, c in facts.champions.items())
    if stage is Stage.CONVERSATION:
        return f"Held on {facts.conversation_on:%-d %B %Y}." if facts.conversation_on else "Not held yet."
    if stage is Stage.ASSESSED:
        return (f"Published: {', '.join(str(y) for y in facts.published_years)}." if facts.published_years
                else "No published assessment yet.")
    return (f"Published in {len(facts.published_years)} years." if len(facts.published_years) >= 2
            else "Needs published assessments in two different years.")


def journey(council: LocalAuthority, viewer) -> dict:
    """Everything /councils/<gss>/journey shows this viewer."""
    facts = council_facts(council)
    assessments = assessments_of(council)
    stages = [{"stage": s, "reached": s in facts.reached, "done_on": _done_on(s, facts, assessments),
               "detail": _detail(s, facts)} for s in STAGES]
    upcoming = next((s for s in STAGES if s.number > facts.stage.number), None)
    if upcoming is Stage.REASSESSED or (upcoming is None and facts.stage is Stage.REASSESSED):
        upcoming = Stage.REASSESSED
    next_step = None
    if upcoming is not None:
        action, endpoint = ACTIONS[upcoming]
        next_step = {"stage": upcoming, "text": _next_text(upcoming, facts, council), "who": WHO[upcoming],
                     "action": action, "action_endpoint": endpoint}
    champion = is_champion(viewer, council)  # once: can_edit would ask again
    editor = _council_member(viewer, council) or champion
    staff = _is_staff(viewer)
    refusal = _start_refusal(council, editor=editor, existing=assessments)
    return {
        "council": council,
        "facts": facts,
        "stages": stages,
        "next_step": next_step,
        "champions": current_champions(council),
        "conversations": conversations_of(council),
        "assessments": [a for a in assessments if is_published(a) or editor or staff],
        "permissions": {"can_edit": editor, "is_champion": champion,
                        "can_appoint": editor or staff, "can_record_conversation": editor or staff,
                        "can_start_assessment": refusal is None, "start_refusal": refusal,
                        "is_staff": staff},
        "peers": peer_suggestions(council) if editor or staff else {},
    }
