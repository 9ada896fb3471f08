"""Member rules: joining, consents, councils and regions, organisations, the directory, profiles,
data export and account deletion."""
from typing import NamedTuple

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from kil_network.auth import services as auth_services
from kil_network.auth.models import MemberType, Role, SignInCode, Status, User
from kil_network.core.addresses import normalise_email
from kil_network.core.audit import record
from kil_network.core.email import external_url, queue_email
from kil_network.core.forms import clean_line
from kil_network.core.params import int_arg
from kil_network.core.personal_data import export_sections, run_erasers
from kil_network.core.rules import NotPermitted, RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members import search
from kil_network.members.models import (
    ConsentRecord,
    LocalAuthority,
    Organisation,
    OrganisationEditor,
    Region,
    council_display_name,
)

# Looked up with the joining member's type, if any (other types and none: "other").
ORGANISATION_NAME_MAX = 160
ORG_TYPE_FOR_MEMBER: dict[MemberType | None, str] = {
    MemberType.THINK_TANK: "think_tank",
    MemberType.ACADEMIC: "university",
    MemberType.COMMUNITY_ORGANISATION: "charity",
}


# Invisible characters ignored when matching names, so a look-alike ("Riverside\u200b Trust")
# is the same record, not a second one that passes for it.
_INVISIBLE_IN_KEYS = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u061c"))


def organisation_key(name: str) -> str:
    """Fold an organisation name for matching: case, spacing and invisible characters do not make a new record."""
    return " ".join(name.translate(_INVISIBLE_IN_KEYS).lower().split())[:160]


def find_or_create_organisation(name: str, *, member_type: MemberType | None = None,
                                local_authority: LocalAuthority | None = None,
                                creator: User | None = None) -> Organisation:
    """The organisation with this name, created on first use so members can share it.

    Naming an existing organisation makes a member one of its members, never its editor; the
    member who creates the record (`creator`) is its first editor.
    """
    name = " ".join(name.split())
    if len(name) > ORGANISATION_NAME_MAX:  # refused, never cut (the forms say so first)
        raise RuleError(f"Organisation name must be {ORGANISATION_NAME_MAX} characters or fewer", "organisation")
    key = organisation_key(name)
    org = db.session.scalar(sa.select(Organisation).where(Organisation.name_key == key))
    if org is None:
        org = Organisation(
            name=name, name_key=key, org_type=ORG_TYPE_FOR_MEMBER.get(member_type, "other"),
            local_authority=local_authority,
        )
        db.session.add(org)
        if creator is not None:
            org.editors.append(OrganisationEditor(user=creator, status=OrganisationEditor.APPROVED,
                                                  requested_at=utcnow(), decided_at=utcnow()))
    return org


# --- Joining: a new member with their consents, council and organisation ------------------------

def get_local_authority(gss_code: str | None) -> LocalAuthority | None:
    """The local authority with this GSS code, or None."""
    if not gss_code:
        return None
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


def get_region(region_id) -> Region | None:
    """The region with this id, or None (a 20-digit id too: it never reaches the database)."""
    number = int_arg(region_id)
    return db.session.get(Region, number) if number else None


def record_consent(user: User, kind: str, granted: bool, source: str) -> None:
    """Keep a timestamped record of a consent given or withdrawn."""
    user.consents.append(ConsentRecord(kind=kind, granted=granted, source=source, created_at=utcnow()))


def member_type_problems(member_type: MemberType | None, organisation_name: str, local_authority) -> list[RuleError]:
    """What this member type must give and was not given, each naming its form field: community
    organisations, think tanks and academics name their organisation; councillors, commissioners and
    council officers pick their council (`local_authority`: the council or its code, empty for none).

    The join and profile forms show every problem at once from here (a member type the form could
    not read, None, is not judged); `check_member_type_details` refuses the first."""
    problems = []
    if member_type is not None and member_type.needs_organisation and not (organisation_name or "").strip():
        problems.append(RuleError("Enter the name of your organisation", "organisation"))
    if member_type is not None and member_type.needs_council and not local_authority:
        problems.append(RuleError("Select the council you work for or represent", "local_authority"))
    return problems


def check_member_type_details(member_type: MemberType, organisation_name: str,
                              local_authority: LocalAuthority | None) -> None:
    """Refuse a member whose type's details are missing (`member_type_problems`). Checked when a member
    joins, is created (the CLI, demo and bulk data too) and changes their profile."""
    problems = member_type_problems(member_type, organisation_name, local_authority)
    if problems:
        raise problems[0]


class EmailTaken(RuleError):
    """The address already has an account (staff creating a user are told so; joining is not)."""


def create_member(*, name: str, email: str, password: str, member_type: MemberType,
                  organisation_name: str = "", local_authority: LocalAuthority | None = None,
                  region: Region | None = None, job_title: str = "", involvement: str = "",
                  consent_privacy: bool, consent_marketing: bool = False,
                  show_in_directory: bool = False, role: Role = Role.MEMBER,
                  confirmed: bool = False, source: str = "join") -> User:
    """Create an account with its consents recorded. The caller commits."""
    if not consent_privacy:
        raise RuleError("Agree to the privacy notice to join the Network", "consent_privacy")
    check_member_type_details(member_type, organisation_name, local_authority)
    email = normalise_email(email)
    if auth_services.get_user_by_email(email) is not None:
        raise EmailTaken("An account already uses this email address. Sign in, or reset your password.", "email")
    now = utcnow()
    user = User(
        name=name.strip(), email=email,
        password_hash=auth_services.hash_password(password) if password else "",  # "": signs in by emailed code
        member_type=member_type, role=role, status=Status.ACTIVE, job_title=job_title.strip(),
        involvement=involvement.strip(), local_authority=local_authority,
        region=local_authority.region if local_authority else region,
        consent_privacy_at=now, consent_marketing=consent_marketing,
        show_in_directory=show_in_directory, session_token=auth_services.new_session_token(),
        email_confirmed_at=now if confirmed else None, created_at=now,
    )
    if organisation_name.strip():
        user.organisation = find_or_create_organisation(
            organisation_name, member_type=member_type, local_authority=local_authority, creator=user
        )
    record_consent(user, "privacy", True, source)
    record_consent(user, "marketing", consent_marketing, source)
    record_consent(user, "directory", show_in_directory, source)
    db.session.add(user)
    db.session.flush()
    return user


def join(*, email: str, password: str, **details) -> User | None:
    """Join: a new account with its confirmation email, or, if the address already has an
    account, an email to that address saying someone tried to join with it.

    The person joining sees the same answer either way ("check your email"), so join does
    not reveal who is a member; the password is hashed either way (the same work). Two joins
    with one address at once: the loser's unique-constraint error, or the other join's account
    committed between the two lookups (EmailTaken), is the same "address taken" case. Returns the
    new account or None. The caller commits."""
    email = normalise_email(email)
    existing = auth_services.get_user_by_email(email)
    if existing is None:
        try:
            user = create_member(email=email, password=password, **details)
        except (IntegrityError, EmailTaken):
            db.session.rollback()
            existing = auth_services.get_user_by_email(email)
            if existing is None:
                raise
        else:
            auth_services.send_confirmation(user)
            return user
    else:
        if not details.get("consent_privacy"):
            raise RuleError("Agree to the privacy notice to join the Network", "consent_privacy")
        # The same refusals as a new address gets: the answer does not tell who is a member.
        check_member_type_details(details["member_type"], details.get("organisation_name", ""),
                                  details.get("local_authority"))
        auth_services.hash_password(password)
    if existing.status != Status.DELETED:
        queue_email(existing.email, "Someone tried to join with your email address", "join_attempt",
                    kind="notice", user=existing, user_obj=existing,
                    login_url=external_url("auth.login"), reset_url=external_url("auth.reset_request"))
    return None


def join_in_the_room(*, name: str, email: str, member_type: MemberType, organisation_name: str = "",
                     local_authority: LocalAuthority | None = None, consent_privacy: bool,
                     consent_marketing: bool = False, show_in_directory: bool = False) -> User:
    """The short join on a workshop's live page: a member with no password, not yet confirmed
    (the emailed sign-in code confirms the address), privacy consent required and recorded, the
    other consents only if ticked. The caller issues the code and commits.

    The address already has an account (the same form sent twice, or a member who typed their
    address into the join form): that account, not a second one. A suspended account is refused."""
    if not consent_privacy:
        raise RuleError("Agree to the privacy notice to join the Network", "consent_privacy")
    check_member_type_details(member_type, organisation_name, local_authority)
    existing = auth_services.get_user_by_email(email)
    if existing is None:
        try:
            with db.session.begin_nested():
                return create_member(name=name, email=email, password="", member_type=member_type,
                                     organisation_name=organisation_name, local_authority=local_authority,
                                     consent_privacy=True, consent_marketing=consent_marketing,
                                     show_in_directory=show_in_directory, source="room_code")
        except (IntegrityError, EmailTaken):  # joined at the same moment by the other submit
            existing = auth_services.get_user_by_email(email)
            if existing is None:
                raise
    if existing.status != Status.ACTIVE:
        raise RuleError("This account is suspended. Speak to a member of the campaign team here.", "email")
    return existing


def member_search(q: str = "", member_type: str = "", region_id: str = "", *, directory_only: bool = True):
    """A SELECT of members matching a search (members.search: the start of words of their name,
    organisation or council, accents and case folded; staff also their email address) and filters.

    The directory shows only active, confirmed members who opted in; staff see everyone
    but deleted accounts. Organisation, council and region come in one extra query each, so
    the page's total is a count over users alone (no joins: at 100,000 members the joined
    count was most of the page's time); the words match in the search index (full text: FTS5
    or a tsvector's GIN index), never by reading every member's name.
    """
    stmt = (
        sa.select(User)
        .options(
            selectinload(User.organisation),
            selectinload(User.local_authority),
            selectinload(User.region),
        )
        .where(User.status != Status.DELETED)
    )
    if directory_only:
        stmt = stmt.where(
            User.status == Status.ACTIVE,
            User.show_in_directory.is_(True),
            User.email_confirmed_at.is_not(None),
        )
    found = search.matching(q, staff=not directory_only)
    if found is not None:
        stmt = stmt.where(User.id.in_(found))
    elif (q or "").strip():  # typed, but not a letter or digit in it ("%"): nobody matches
        stmt = stmt.where(sa.false())
    if member_type in {m.value for m in MemberType}:
        stmt = stmt.where(User.member_type == MemberType(member_type))
    if int_arg(region_id) is not None:
        stmt = stmt.where(User.region_id == int_arg(region_id))
    return stmt.order_by(User.name, User.id)


class DirectoryCard(NamedTuple):
    """A member as the directory's results show them: only what the card shows."""

    id: int
    name: str
    member_type: MemberType
    job_title: str
    organisation: str  # its name, or ""
    council: str  # its display name, or ""
    region: str  # its name, or ""

    @classmethod
    def of(cls, user: User) -> "DirectoryCard":
        """The card of a loaded member (their organisation, council and region loaded with them)."""
        return cls(user.id, user.name, user.member_type, user.job_title or "",
                   user.organisation.name if user.organisation else "",
                   user.local_authority.display_name if user.local_authority else "",
                   user.region.name if user.region else "")


def directory_cards(ids: list[int]) -> list[DirectoryCard]:
    """The cards of these members, in this order: one query of only the columns shown."""
    if not ids:
        return []
    rows = db.session.execute(
        sa.select(User.id, User.name, User.member_type, User.job_title, Organisation.name,
                  LocalAuthority.name, Region.name)
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .outerjoin(LocalAuthority, LocalAuthority.id == User.local_authority_id)
        .outerjoin(Region, Region.id == User.region_id)
        .where(User.id.in_(ids)))
    cards = {row[0]: DirectoryCard(row[0], row[1], row[2], row[3] or "", row[4] or "",
                                   council_display_name(row[5]) if row[5] else "", row[6] or "") for row in rows}
    return [cards[i] for i in ids if i in cards]


class SearchPagination(Pagination):
    """A page of a member search answered by the search index (members.search.page_ids: the page's
    matches in name order and how many there are, never a scan of every member). The directory's
    page is DirectoryCards (one query of the columns shown) and counts up to
    members.search.COUNT_CAP (`more`: there are more than that; the pages stop there); staff's page
    is the members with their organisation, council and region (one query), counted exactly."""

    _total = 0
    more = False

    def _query_items(self) -> list:
        q, staff = self._query_args["q"], self._query_args["staff"]
        cap = None if staff else search.COUNT_CAP
        ids, total = search.page_ids(q, staff=staff, offset=self._query_offset, limit=self.per_page, cap=cap)
        self.more = cap is not None and total > cap
        self._total = min(total, cap) if cap is not None else total
        if not staff:
            return directory_cards(ids)
        if not ids:
            return []
        users = db.session.scalars(sa.select(User).where(User.id.in_(ids)).options(  # one query for the page
            joinedload(User.organisation), joinedload(User.local_authority), joinedload(User.region)))
        by_id = {user.id: user for user in users}
        return [by_id[i] for i in ids if i in by_id]

    def _query_count(self) -> int:
        return self._total


def search_page(q: str, *, staff: bool = False, page: int = 1, per_page: int = 20) -> Pagination:
    """One page of the members a search finds, with its total, from the search index (the
    directory: listed members, counted up to COUNT_CAP; staff: every member not deleted). For a
    search with no other filter."""
    return SearchPagination(page=page, per_page=per_page, error_out=False, count=True, q=q, staff=staff)


def directory_page(q="", member_type="", region_id="", page=1, per_page=20):
    """One page of the member directory (DirectoryCards) with its total: a search alone is answered
    by the search index (`search_page`), the list or a search with a type or region filter by
    `member_search`."""
    if search.words(q) and member_type not in {m.value for m in MemberType} and int_arg(region_id) is None:
        return search_page(q, page=page, per_page=per_page)
    pagination = db.paginate(member_search(q, member_type, region_id), page=page, per_page=per_page,
                             error_out=False, count=True)
    pagination.items = [DirectoryCard.of(user) for user in pagination.items]
    return pagination


def visible_member(member_id: int, viewer: User) -> User | None:
    """A member's profile if the viewer may see it: listed members, oneself, or staff."""
    user = db.session.get(User, member_id)
    if user is None or user.status == Status.DELETED:
        return None
    if viewer.is_staff or viewer.id == user.id:
        return user
    if user.status == Status.ACTIVE and user.show_in_directory and user.is_confirmed:
        return user
    return None


def organisations_page(q: str = "", page: int = 1, per_page: int = 20):
    """Organisations that have at least one listed member, with those members."""
    listed = sa.and_(
        User.organisation_id == Organisation.id,
        User.status == Status.ACTIVE,
        User.show_in_directory.is_(True),
        User.email_confirmed_at.is_not(None),
    )
    stmt = (
        sa.select(Organisation)
        .where(sa.exists().where(listed))
        .options(joinedload(Organisation.local_authority))
        .order_by(Organisation.name)
    )
    q = clean_line(q or "")[:100]
    if q:
        stmt = stmt.where(Organisation.name.icontains(q, autoescape=True))
    pagination = db.paginate(stmt, page=page, per_page=per_page, error_out=False, count=True)
    org_ids = [org.id for org in pagination.items]
    members: dict[int | None, list[User]] = {}  # by organisation_id
    if org_ids:
        rows = db.session.scalars(
            sa.select(User)
            .where(User.organisation_id.in_(org_ids), User.status == Status.ACTIVE,
                   User.show_in_directory.is_(True), User.email_confirmed_at.is_not(None))
            .order_by(User.name)
        )
        for user in rows:
            members.setdefault(user.organisation_id, []).append(user)
    return pagination, members


def update_profile(user: User, *, name: str, member_type: MemberType, organisation_name: str,
                   local_authority: LocalAuthority | None, region: Region | None, job_title: str,
                   involvement: str, consent_marketing: bool, show_in_directory: bool) -> None:
    """Save profile changes; record a consent event whenever a consent changes."""
    check_member_type_details(member_type, organisation_name, local_authority)
    user.name = name.strip()
    user.member_type = member_type
    user.job_title = job_title.strip()
    user.involvement = involvement.strip()
    user.local_authority = local_authority
    user.region = local_authority.region if local_authority else region
    previous, created = user.organisation, None
    if organisation_name.strip():
        user.organisation = find_or_create_organisation(
            organisation_name, member_type=member_type, local_authority=local_authority, creator=user
        )
        if sa.inspect(user.organisation).pending:
            created = user.organisation
    else:
        user.organisation = None
    if previous is not None and user.organisation is not previous:
        _leave_organisation(user, previous)
    if created is not None:
        db.session.flush()
        record(user, "organisation.create", created,
               f"Member #{user.id} created organisation #{created.id} and is its editor",
               name=created.name)
    if consent_marketing != user.consent_marketing:
        user.consent_marketing = consent_marketing
        record_consent(user, "marketing", consent_marketing, "profile")
    if show_in_directory != user.show_in_directory:
        user.show_in_directory = show_in_directory
        record_consent(user, "directory", show_in_directory, "profile")


def _iso(value):
    """ISO 8601 text for a datetime, or None."""
    return value.isoformat() if value else None


def export_profile(user: User) -> dict:
    """Everything on the member's own record."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "pending_email": user.pending_email,
        "member_type": user.member_type.value,
        "role": user.role.value,
        "status": user.status.value,
        "job_title": user.job_title,
        "organisation": user.organisation.name if user.organisation else None,
        "local_authority": (
            {"gss_code": user.local_authority.gss_code, "name": user.local_authority.name}
            if user.local_authority else None
        ),
        "region": user.region.name if user.region else None,
        "involvement": user.involvement,
        "email_confirmed_at": _iso(user.email_confirmed_at),
        "created_at": _iso(user.created_at),
        "last_login_at": _iso(user.last_login_at),
        "consent_marketing": user.consent_marketing,
        "show_in_directory": user.show_in_directory,
        "consent_privacy_at": _iso(user.consent_privacy_at),
    }


def export_consents(user: User) -> list:
    """Every consent given or withdrawn, with its time."""
    return [
        {"kind": c.kind, "granted": c.granted, "at": _iso(c.created_at), "source": c.source}
        for c in user.consents
    ]


def export_organisation_editor(user: User) -> list:
    """The organisations the member edits or has asked to edit."""
    rows = db.session.scalars(sa.select(OrganisationEditor).where(OrganisationEditor.user_id == user.id)
                              .order_by(OrganisationEditor.id))
    return [{"organisation": row.organisation.name, "status": row.status, "requested_at": _iso(row.requested_at),
             "decided_at": _iso(row.decided_at)} for row in rows]


def export_member(user: User) -> dict:
    """The member's data download: every area's section, with when it was made."""
    return {"exported_at": utcnow().isoformat(), "service": "Keep it Local Network",
            **export_sections(user)}


def erase_profile(user: User) -> None:
    """Remove personal details from the member's record; keep the row for anonymised contributions."""
    user.name = "Former member"
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.pending_email = None
    user.password_hash = ""
    user.job_title = ""
    user.involvement = ""
    user.organisation = None
    user.local_authority = None
    user.consent_marketing = False
    user.show_in_directory = False
    db.session.execute(sa.delete(ConsentRecord).where(ConsentRecord.user_id == user.id))
    db.session.execute(sa.delete(SignInCode).where(SignInCode.user_id == user.id))
    for row in db.session.scalars(sa.select(OrganisationEditor).where(OrganisationEditor.user_id == user.id)):
        record(user, "organisation.editor_left", row.organisation,
               f"Member #{user.id} deleted their account and is no longer an editor of organisation "
               f"#{row.organisation_id}")
        db.session.delete(row)


def delete_own_account(user: User, password: str) -> None:
    """A member deletes their own account: only with their password."""
    auth_services.check_password(user, password)
    delete_account(user)


def delete_account(user: User) -> None:
    """Delete a member's account: personal data removed, contributions kept as 'former member'."""
    run_erasers(user)
    user.status = Status.DELETED
    user.deleted_at = utcnow()
    user.session_token = auth_services.new_session_token()


# --- Organisation records: who may edit them -------------------------------------------------
#
# The rule: the member who creates an organisation's record is its first editor. Other members
# may name it as their organisation (they are then listed as its members) but may not edit it;
# they may ask to, and an existing editor or staff approve or refuse. Staff may always edit, and
# appoint or remove editors. An editor who leaves the organisation or deletes their account stops
# being one. Every change to a record, and to who may edit it, is in the audit log.

def _editor_row(user: User, org: Organisation) -> OrganisationEditor | None:
    """The user's editor row (approved or pending) for this organisation."""
    if user is None or not getattr(user, "id", None):
        return None
    return db.session.scalar(sa.select(OrganisationEditor).where(
        OrganisationEditor.organisation_id == org.id, OrganisationEditor.user_id == user.id))


def is_organisation_editor(user: User, org: Organisation) -> bool:
    """An approved editor of this organisation who still belongs to it."""
    row = _editor_row(user, org)
    return row is not None and row.approved and user.organisation_id == org.id


def can_edit_organisation(user: User, org: Organisation) -> bool:
    """Staff, and the organisation's approved editors."""
    return user.is_staff or is_organisation_editor(user, org)


def can_manage_editors(user: User, org: Organisation) -> bool:
    """Who may approve or refuse requests to edit: staff and the organisation's editors."""
    return can_edit_organisation(user, org)


def editable_organisation_ids(user: User, org_ids) -> set[int]:
    """Of these organisations, those the user may edit (for links on a list)."""
    org_ids = list(org_ids)
    if not user.is_authenticated or not org_ids:
        return set()
    if user.is_staff:
        return set(org_ids)
    # One query whatever the page holds, so the list costs the same with its own organisation on it or not.
    rows = db.session.scalars(sa.select(OrganisationEditor.organisation_id).where(
        OrganisationEditor.user_id == user.id, OrganisationEditor.status == OrganisationEditor.APPROVED,
        OrganisationEditor.organisation_id.in_(org_ids)))
    return {org_id for org_id in rows if org_id == user.organisation_id}


def organisation_view(org: Organisation, viewer: User) -> dict:
    """What the organisation page shows this viewer, and what they may do there."""
    listed = [m for m in org.members
              if m.status == Status.ACTIVE and m.show_in_directory and m.is_confirmed]
    own = _editor_row(viewer, org)
    manage = can_manage_editors(viewer, org)
    rows = list(org.editors)
    editors = [r for r in rows if r.approved]
    if not viewer.is_staff:  # members see editors who are listed in the directory, or themselves
        editors = [r for r in editors if r.user in listed or r.user_id == viewer.id]
    approved_ids = {r.user_id for r in rows if r.approved}
    return {
        "members": listed,
        "editors": editors,
        "pending": [r for r in rows if not r.approved] if manage else [],
        "can_edit": can_edit_organisation(viewer, org),
        "can_manage": manage,
        # Staff remove any editor; an editor may step down. Nobody answers their own request.
        "removable": {r.id for r in editors if viewer.is_staff or r.user_id == viewer.id},
        "answerable": {r.id for r in rows if not r.approved and r.user_id != viewer.id} if manage else set(),
        "own_request": own,
        "can_request": (viewer.organisation_id == org.id and own is None and not viewer.is_staff
                        and viewer.is_confirmed),
        "appointable": ([m for m in org.members if m.status == Status.ACTIVE and m.id not in approved_ids]
                        if viewer.is_staff else []),
    }


def request_to_edit(user: User, org: Organisation) -> OrganisationEditor:
    """A member of the organisation asks to become one of its editors."""
    if user.organisation_id != org.id:
        raise NotPermitted("Only members of this organisation can ask to edit its details. "
                                    "Set it as your organisation on your account page first.")
    if not user.is_confirmed:
        raise NotPermitted("Confirm your email address first.")
    if user.is_staff:
        raise RuleError("Staff can always edit an organisation's details.")
    existing = _editor_row(user, org)
    if existing is not None:
        raise RuleError("You are already an editor of this organisation." if existing.approved
                                else "Your request to edit this organisation is waiting for an answer.")
    row = OrganisationEditor(organisation=org, user=user, status=OrganisationEditor.PENDING, requested_at=utcnow())
    db.session.add(row)
    record(user, "organisation.editor_request", org, f"Member #{user.id} asked to edit organisation #{org.id}",
           user_id=user.id)
    return row


def _editor_row_by_id(org: Organisation, row_id: int) -> OrganisationEditor:
    """An editor or request to edit of this organisation; gone (answered or removed, perhaps by a
    second click) is explained, not an error page."""
    row = db.session.get(OrganisationEditor, row_id)
    if row is None or row.organisation_id != org.id:
        raise RuleError("This request has already been answered, or the editor removed.")
    return row


def decide_edit_request(actor: User, org: Organisation, row_id: int, approve: bool) -> OrganisationEditor:
    """An editor of the organisation, or staff, approve or refuse a member's request to edit."""
    if not can_manage_editors(actor, org):
        raise NotPermitted("Only the organisation's editors and staff can answer requests to edit it.")
    row = _editor_row_by_id(org, row_id)
    if row.approved:
        raise RuleError("This member is already an editor.")
    if row.user_id == actor.id:
        raise NotPermitted("You cannot answer your own request.")
    if approve and row.user.organisation_id != org.id:
        raise RuleError("This member is no longer in the organisation.")
    if approve:
        row.status = OrganisationEditor.APPROVED
        row.decided_at = utcnow()
        row.decided_by_id = actor.id
        record(actor, "organisation.editor_approve", org,
               f"Approved member #{row.user_id} as an editor of organisation #{org.id}", user_id=row.user_id)
    else:
        record(actor, "organisation.editor_refuse", org,
               f"Refused member #{row.user_id}'s request to edit organisation #{org.id}", user_id=row.user_id)
        db.session.delete(row)
    return row


def appoint_editor(actor: User, org: Organisation, member_id: int | None) -> OrganisationEditor:
    """Staff make one of the organisation's members an editor (approving any request of theirs)."""
    if not actor.is_staff:
        raise NotPermitted("Only staff can appoint editors.")
    member = db.session.get(User, member_id) if member_id else None
    if member is None or member.organisation_id != org.id or member.status != Status.ACTIVE:
        raise RuleError("Choose one of the organisation's members.")
    row = _editor_row(member, org)
    if row is not None and row.approved:
        raise RuleError("This member is already an editor.")
    if row is None:
        row = OrganisationEditor(organisation=org, user=member, requested_at=utcnow())
        db.session.add(row)
    row.status = OrganisationEditor.APPROVED
    row.decided_at = utcnow()
    row.decided_by_id = actor.id
    record(actor, "organisation.editor_appoint", org,
           f"Appointed member #{member.id} as an editor of organisation #{org.id}", user_id=member.id)
    return row


def remove_editor(actor: User, org: Organisation, row_id: int) -> None:
    """Staff remove an editor; an editor may also step down."""
    row = _editor_row_by_id(org, row_id)
    if not (actor.is_staff or row.user_id == actor.id):
        raise NotPermitted("Only staff can remove an editor.")
    record(actor, "organisation.editor_remove", org,
           f"Removed member #{row.user_id} as an editor of organisation #{org.id}", user_id=row.user_id)
    db.session.delete(row)


def _leave_organisation(user: User, org: Organisation) -> None:
    """A member who leaves an organisation stops being (or asking to be) its editor."""
    row = _editor_row(user, org)
    if row is not None:
        record(user, "organisation.editor_left", org,
               f"Member #{user.id} left organisation #{org.id} and is no longer its editor", user_id=user.id)
        db.session.delete(row)


ORGANISATION_FIELDS = ("name", "org_type", "charity_number", "company_number", "local_authority")


def _field_value(org: Organisation, field: str):
    """A field's value as the audit log keeps it."""
    if field == "local_authority":
        return org.local_authority.gss_code if org.local_authority else None
    return getattr(org, field)


def update_organisation(actor: User, org: Organisation, *, name: str, org_type: str,
                        charity_number: str, company_number: str,
                        local_authority: LocalAuthority | None) -> dict:
    """Save an organisation's details (editors and staff only); a rename may not take another
    record's name. Returns what changed ({field: [before, after]}), as written to the audit log."""
    if not can_edit_organisation(actor, org):
        raise NotPermitted("Only the organisation's editors and staff can edit its details.")
    key = organisation_key(name)
    clash = db.session.scalar(
        sa.select(Organisation.id).where(Organisation.name_key == key, Organisation.id != org.id)
    )
    if clash:
        raise RuleError("Another organisation in the Network already has this name")
    before = {field: _field_value(org, field) for field in ORGANISATION_FIELDS}
    org.name = " ".join(name.split())
    org.name_key = key
    org.org_type = org_type
    org.charity_number = charity_number or ""  # a field left out of the post is empty, not NULL
    org.company_number = company_number or ""
    org.local_authority = local_authority
    changes = {field: [before[field], _field_value(org, field)] for field in ORGANISATION_FIELDS
               if before[field] != _field_value(org, field)}
    if changes:
        summary = (f"Renamed organisation #{org.id} from {before['name']!r} to {org.name!r}"
                   if "name" in changes else f"Updated organisation #{org.id}: {', '.join(changes)}")
        record(actor, "organisation.update", org, summary, changes=changes)
    return changes


STAFF_ORGANISATIONS_PER_PAGE = 50


def organisations_for_staff(show: str = "", page: int = 1, per_page: int = STAFF_ORGANISATIONS_PER_PAGE):
    """Every organisation for staff, with its editor and pending-request counts.

    `show` is "" (all), "pending" (someone is waiting for an answer) or "no_editor".
    """
    approved = (sa.select(sa.func.count()).where(OrganisationEditor.organisation_id == Organisation.id,
                                                  OrganisationEditor.status == OrganisationEditor.APPROVED)
                .correlate(Organisation).scalar_subquery())
    pending = (sa.select(sa.func.count()).where(OrganisationEditor.organisation_id == Organisation.id,
                                                 OrganisationEditor.status == OrganisationEditor.PENDING)
               .correlate(Organisation).scalar_subquery())
    members = (sa.select(sa.func.count()).where(User.organisation_id == Organisation.id, User.status != Status.DELETED)
               .correlate(Organisation).scalar_subquery())
    stmt = sa.select(Organisation, approved.label("editors"), pending.label("pending"), members.label("members"))
    if show == "pending":
        stmt = stmt.where(pending > 0)
    elif show == "no_editor":
        stmt = stmt.where(approved == 0)
    stmt = stmt.order_by(pending.desc(), Organisation.name, Organisation.id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = db.session.execute(stmt.limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return rows, total
