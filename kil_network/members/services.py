"""Member rules: organisations, the directory, profiles, data export and account deletion."""
import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from kil_network.auth.models import MemberType, Status, User
from kil_network.auth.services import new_session_token, record_consent
from kil_network.core.forms import clean_line
from kil_network.core.params import int_arg
from kil_network.core.personal_data import eraser, export_sections, exporter, run_erasers
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, LocalAuthority, Organisation, Region

ORG_TYPE_FOR_MEMBER = {
    MemberType.THINK_TANK: "think_tank",
    MemberType.ACADEMIC: "university",
    MemberType.COMMUNITY_ORGANISATION: "charity",
}


def organisation_key(name: str) -> str:
    """Fold an organisation name for matching: case and spacing do not make a new record."""
    return " ".join(name.lower().split())[:160]


def find_or_create_organisation(name: str, *, member_type: MemberType | None = None,
                                local_authority: LocalAuthority | None = None) -> Organisation:
    """The organisation with this name, created on first use so members can share it."""
    name = " ".join(name.split())[:160]
    key = organisation_key(name)
    org = db.session.scalar(sa.select(Organisation).where(Organisation.name_key == key))
    if org is None:
        org = Organisation(
            name=name, name_key=key, org_type=ORG_TYPE_FOR_MEMBER.get(member_type, "other"),
            local_authority=local_authority,
        )
        db.session.add(org)
    return org


def _like(q: str) -> str:
    """A LIKE pattern that matches q literally anywhere."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def member_search(q: str = "", member_type: str = "", region_id: str = "", *, directory_only: bool = True):
    """A SELECT of members matching a name/organisation/council search and filters.

    The directory shows only active, confirmed members who opted in; staff see everyone
    but deleted accounts. Organisation, council and region come in one extra query each, so
    the page's total is a count over users alone (no joins: at 100,000 members the joined
    count was most of the page's time); organisation and council names match through small
    subqueries for the same reason.
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
    q = clean_line(q or "")[:100]
    if q:
        pattern = _like(q)
        conditions = [
            User.name.ilike(pattern, escape="\\"),
            User.organisation_id.in_(sa.select(Organisation.id).where(Organisation.name.ilike(pattern, escape="\\"))),
            User.local_authority_id.in_(
                sa.select(LocalAuthority.id).where(LocalAuthority.name.ilike(pattern, escape="\\"))),
        ]
        if not directory_only:
            conditions.append(User.email.ilike(pattern, escape="\\"))
        stmt = stmt.where(sa.or_(*conditions))
    if member_type in {m.value for m in MemberType}:
        stmt = stmt.where(User.member_type == MemberType(member_type))
    if int_arg(region_id) is not None:
        stmt = stmt.where(User.region_id == int_arg(region_id))
    return stmt.order_by(User.name, User.id)


def directory_page(q="", member_type="", region_id="", page=1, per_page=20):
    """One page of the member directory with its total."""
    return db.paginate(member_search(q, member_type, region_id), page=page, per_page=per_page,
                       error_out=False, count=True)


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
        stmt = stmt.where(Organisation.name.ilike(_like(q), escape="\\"))
    pagination = db.paginate(stmt, page=page, per_page=per_page, error_out=False, count=True)
    org_ids = [org.id for org in pagination.items]
    members = {}
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
    user.name = name.strip()
    user.member_type = member_type
    user.job_title = job_title.strip()
    user.involvement = involvement.strip()
    user.local_authority = local_authority
    user.region = local_authority.region if local_authority else region
    if organisation_name.strip():
        user.organisation = find_or_create_organisation(
            organisation_name, member_type=member_type, local_authority=local_authority
        )
    else:
        user.organisation = None
    if consent_marketing != user.consent_marketing:
        user.consent_marketing = consent_marketing
        record_consent(user, "marketing", consent_marketing, "profile")
    if show_in_directory != user.show_in_directory:
        user.show_in_directory = show_in_directory
        record_consent(user, "directory", show_in_directory, "profile")


def _iso(value):
    """ISO 8601 text for a datetime, or None."""
    return value.isoformat() if value else None


@exporter("profile")
def _export_profile(user: User) -> dict:
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


@exporter("consents")
def _export_consents(user: User) -> list:
    """Every consent given or withdrawn, with its time."""
    return [
        {"kind": c.kind, "granted": c.granted, "at": _iso(c.created_at), "source": c.source}
        for c in user.consents
    ]


def export_member(user: User) -> dict:
    """The member's data download: every area's section, with when it was made."""
    return {"exported_at": utcnow().isoformat(), "service": "Keep it Local Network",
            **export_sections(user)}


@eraser
def _erase_profile(user: User) -> None:
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


def delete_account(user: User) -> None:
    """Delete a member's account: personal data removed, contributions kept as 'former member'."""
    run_erasers(user)
    user.status = Status.DELETED
    user.deleted_at = utcnow()
    user.session_token = new_session_token()


class OrganisationError(Exception):
    """An organisation change the rules refuse; the message is shown to the person."""


def can_edit_organisation(user: User, org: Organisation) -> bool:
    """Members of the organisation and staff may edit its record."""
    return user.is_staff or user.organisation_id == org.id


def update_organisation(actor: User, org: Organisation, *, name: str, org_type: str,
                        charity_number: str, company_number: str,
                        local_authority: LocalAuthority | None) -> None:
    """Save an organisation's details; a rename may not take another record's name."""
    key = organisation_key(name)
    clash = db.session.scalar(
        sa.select(Organisation.id).where(Organisation.name_key == key, Organisation.id != org.id)
    )
    if clash:
        raise OrganisationError("Another organisation in the Network already has this name")
    org.name = " ".join(name.split())
    org.name_key = key
    org.org_type = org_type
    org.charity_number = charity_number
    org.company_number = company_number
    org.local_authority = local_authority
    if actor.is_staff:
        from kil_network.core.audit import record

        record(actor, "organisation.update", org, f"Updated organisation #{org.id}")
