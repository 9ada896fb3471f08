"""Member and staff rules (kil_network/members/services.py, kil_network/staff/services.py), without HTTP."""
import csv
import io
import json

import pytest
import sqlalchemy as sa

from kil_network.auth import services as auth_services
from kil_network.auth.models import MemberType, Role, SignInCode, Status, User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.extensions import db
from kil_network.members import services
from kil_network.members.models import ConsentRecord, LocalAuthority, Region
from kil_network.staff import services as staff_services

PASSWORD = "correct horse battery"


def names(stmt_or_items) -> list[str]:
    """Member names from a SELECT or a list of users."""
    items = stmt_or_items
    if isinstance(stmt_or_items, sa.Select):
        items = db.session.scalars(stmt_or_items).unique().all()
    return [user.name for user in items]


def region_id(name: str) -> str:
    """The id of a region, as the query string carries it."""
    return str(db.session.scalar(sa.select(Region.id).where(Region.name == name)))


def council(gss_code: str) -> LocalAuthority:
    """The local authority with this GSS code."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


def audit_rows() -> list[AuditLog]:
    """Every audit log entry, oldest first."""
    return list(db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)))


# --- directory ---------------------------------------------------------------------------

def test_directory_lists_only_active_confirmed_opted_in(app, make_user):
    """Unlisted, unconfirmed, suspended and deleted members never appear in the directory."""
    make_user(name="Listed Person")
    make_user(name="Unlisted Person", show_in_directory=False)
    make_user(name="Unconfirmed Person", confirmed=False)
    suspended = make_user(name="Suspended Person")
    deleted = make_user(name="Deleted Person")
    suspended.status = Status.SUSPENDED
    services.delete_account(deleted)
    db.session.commit()
    assert names(services.member_search()) == ["Listed Person"]
    assert services.directory_page().total == 1


@pytest.mark.parametrize("query", ["amara", "AMARA OKAFOR", "okaf"])
def test_directory_search_by_name_case_insensitive(app, make_user, query):
    """A name matches in any case and by any part."""
    make_user(name="Amara Okafor")
    make_user(name="Ben Jones")
    assert names(services.member_search(query)) == ["Amara Okafor"]


def test_directory_search_by_organisation(app, make_user):
    """Searching an organisation name finds its members."""
    make_user(name="Ann", organisation="Harbour Youth Project")
    make_user(name="Bob", organisation="Riverside Community Trust")
    make_user(name="Cat", organisation="harbour youth project")
    assert names(services.member_search("HARBOUR youth")) == ["Ann", "Cat"]


def test_directory_search_by_council_name(app, make_user):
    """Searching a council's name finds members who picked that council."""
    make_user(name="Hackney Councillor", member_type="councillor", organisation="", gss_code="E09000012")
    make_user(name="Bristol Person", gss_code="E06000023")
    assert names(services.member_search("hackney")) == ["Hackney Councillor"]
    assert names(services.member_search("bristol")) == ["Bristol Person"]


def test_directory_search_does_not_match_email(app, make_user):
    """Email addresses are private: the directory does not search them, staff search does."""
    make_user(name="Quiet Person", email="secret.handle@example.org")
    assert names(services.member_search("secret.handle")) == []
    assert names(staff_services.staff_member_search("secret.handle")) == ["Quiet Person"]


def test_directory_search_punctuation_separates_words_and_is_never_a_wildcard(app, make_user):
    """'%', '_' and '\\' in a search are separators (members.search matches words), never wildcards:
    a search of punctuation alone holds no word and finds nobody; a blank one lists everyone."""
    make_user(name="Ann_Lee", organisation="1000 Local")
    make_user(name="AnnXLee", organisation="100% Local")
    make_user(name="Back\\Slash", organisation="", member_type="other")
    make_user(name="Plain Name", organisation="", member_type="other")
    assert names(services.member_search("Lee_")) == ["Ann_Lee"]
    assert names(services.member_search("\\slash")) == ["Back\\Slash"]
    assert names(services.member_search("100%")) == ["AnnXLee", "Ann_Lee"]  # "100" starts "1000" too
    assert names(services.member_search("100% plain")) == []
    for query in ("_", "%", "\\", "%_\\"):
        assert names(services.member_search(query)) == []
    assert names(services.member_search("  ")) == ["AnnXLee", "Ann_Lee", "Back\\Slash", "Plain Name"]


def test_directory_filters_by_member_type_and_region(app, make_user):
    """Type and region filters narrow the list and combine with each other."""
    make_user(name="Cardiff Councillor", member_type="councillor", organisation="", gss_code="W06000015")
    make_user(name="Cardiff Charity", gss_code="W06000015")
    make_user(name="Bristol Councillor", member_type="councillor", organisation="", gss_code="E06000023")
    assert names(services.member_search(member_type="councillor")) == ["Bristol Councillor", "Cardiff Councillor"]
    assert names(services.member_search(region_id=region_id("Wales"))) == ["Cardiff Charity", "Cardiff Councillor"]
    assert names(services.member_search(member_type="councillor", region_id=region_id("Wales"))) == [
        "Cardiff Councillor"
    ]


def test_directory_ignores_unknown_filter_values(app, make_user):
    """A made-up type or a non-numeric region is ignored rather than an error."""
    make_user(name="Someone")
    assert names(services.member_search(member_type="wizard", region_id="'; DROP TABLE users")) == ["Someone"]


def test_directory_pagination_totals(app, make_user):
    """25 listed members over pages of 10: three pages, the last with 5, in name order."""
    for i in range(25):
        make_user(name=f"Member {i:02d}")
    make_user(name="Hidden", show_in_directory=False)
    first = services.directory_page(per_page=10)
    assert first.total == 25 and first.pages == 3
    assert names(first.items) == [f"Member {i:02d}" for i in range(10)]
    last = services.directory_page(page=3, per_page=10)
    assert names(last.items) == [f"Member {i:02d}" for i in range(20, 25)]
    assert services.directory_page(page=9, per_page=10).items == []
    assert services.directory_page(q="Member 1", per_page=10).total == 10


# --- visible_member ----------------------------------------------------------------------

def test_visible_member_rules(app, make_user):
    """Listed members are visible to members; unlisted ones only to themselves and staff."""
    viewer = make_user(name="Viewer")
    listed = make_user(name="Listed")
    unlisted = make_user(name="Unlisted", show_in_directory=False)
    unconfirmed = make_user(name="Unconfirmed", confirmed=False)
    staff = make_user(name="Staff", role="staff", show_in_directory=False)
    assert services.visible_member(listed.id, viewer) is listed
    assert services.visible_member(unlisted.id, viewer) is None
    assert services.visible_member(unconfirmed.id, viewer) is None
    assert services.visible_member(unlisted.id, unlisted) is unlisted
    assert services.visible_member(unlisted.id, staff) is unlisted
    assert services.visible_member(999999, staff) is None


def test_visible_member_suspended_and_deleted(app, make_user):
    """Suspended members are hidden from members but not staff; deleted ones from everyone."""
    viewer = make_user(name="Viewer")
    staff = make_user(name="Staff", role="admin")
    suspended = make_user(name="Suspended")
    deleted = make_user(name="Deleted")
    suspended.status = Status.SUSPENDED
    services.delete_account(deleted)
    db.session.commit()
    assert services.visible_member(suspended.id, viewer) is None
    assert services.visible_member(suspended.id, staff) is suspended
    assert services.visible_member(deleted.id, staff) is None
    assert services.visible_member(deleted.id, deleted) is None


# --- organisations -----------------------------------------------------------------------

def test_organisations_page_lists_only_orgs_with_listed_members(app, make_user):
    """An organisation appears only with its listed members; unlisted members stay hidden."""
    make_user(name="Ann", organisation="Harbour Youth Project")
    make_user(name="Hidden Harbour", organisation="Harbour Youth Project", show_in_directory=False)
    make_user(name="Bob", organisation="Quiet Trust", show_in_directory=False)
    make_user(name="Cat", organisation="Unconfirmed Org", confirmed=False)
    pagination, members = services.organisations_page()
    assert [org.name for org in pagination.items] == ["Harbour Youth Project"]
    assert pagination.total == 1
    assert names(members[pagination.items[0].id]) == ["Ann"]


def test_organisations_page_search(app, make_user):
    """The organisation search matches part of the name, case-insensitively."""
    make_user(name="Ann", organisation="Harbour Youth Project")
    make_user(name="Bob", organisation="Valleys Family Centre")
    pagination, _ = services.organisations_page(q="VALLEYS")
    assert [org.name for org in pagination.items] == ["Valleys Family Centre"]


# --- profile -----------------------------------------------------------------------------

def profile_values(user: User, **changes) -> dict:
    """The user's current profile as update_profile arguments, with some changed."""
    values = dict(
        name=user.name, member_type=user.member_type,
        organisation_name=user.organisation.name if user.organisation else "",
        local_authority=user.local_authority, region=user.region, job_title=user.job_title,
        involvement=user.involvement, consent_marketing=user.consent_marketing,
        show_in_directory=user.show_in_directory,
    )
    values.update(changes)
    return values


def consent_log(user: User) -> list[tuple]:
    """The member's consent records as (kind, granted, source)."""
    return [(c.kind, c.granted, c.source) for c in db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.user_id == user.id).order_by(ConsentRecord.id)
    )]


def test_update_profile_records_consent_only_when_it_changes(app, make_user):
    """Saving unchanged consents adds no record; each change adds exactly one."""
    user = make_user(consent_marketing=False, show_in_directory=True)
    assert len(consent_log(user)) == 3
    services.update_profile(user, **profile_values(user, job_title="Director"))
    db.session.commit()
    assert len(consent_log(user)) == 3
    services.update_profile(user, **profile_values(user, consent_marketing=True))
    db.session.commit()
    services.update_profile(user, **profile_values(user, show_in_directory=False))
    db.session.commit()
    assert consent_log(user)[3:] == [("marketing", True, "profile"), ("directory", False, "profile")]
    assert user.consent_marketing is True and user.show_in_directory is False


def test_update_profile_changes_details_and_region(app, make_user):
    """Details are trimmed, the region follows the new council and the organisation is shared."""
    other = make_user(organisation="Valleys Family Centre", gss_code="W06000015")
    user = make_user(organisation="Riverside Community Trust")
    services.update_profile(user, **profile_values(
        user, name="  New Name  ", organisation_name="valleys  family CENTRE",
        local_authority=council("W06000015"), job_title=" Chair ",
    ))
    db.session.commit()
    assert user.name == "New Name" and user.job_title == "Chair"
    assert user.region.name == "Wales"
    assert user.organisation_id == other.organisation_id
    services.update_profile(user, **profile_values(user, member_type=MemberType.OTHER, organisation_name=""))
    db.session.commit()
    assert user.organisation is None


# --- what a member type must give (the rule the join and profile forms show) ---------------

JOINER = dict(name="New Member", password=PASSWORD, consent_privacy=True)


@pytest.mark.parametrize("member_type", [MemberType.COMMUNITY_ORGANISATION, MemberType.THINK_TANK,
                                         MemberType.ACADEMIC])
def test_create_member_refuses_an_organisation_type_without_its_organisation(app, member_type):
    """The service itself refuses (the CLI and demo data too), on the organisation field; nothing is created."""
    with pytest.raises(RuleError) as excinfo:
        services.create_member(email="new@example.org", member_type=member_type, organisation_name="  ",
                               local_authority=council("E06000023"), **JOINER)
    assert (excinfo.value.field, excinfo.value.message) == ("organisation", "Enter the name of your organisation")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


@pytest.mark.parametrize("member_type", [MemberType.COUNCILLOR, MemberType.COMMISSIONER,
                                         MemberType.COUNCIL_OFFICER])
def test_create_member_refuses_a_council_type_without_its_council(app, member_type):
    """Councillors, commissioners and officers pick their council: refused on the council field."""
    region = db.session.scalar(sa.select(Region).where(Region.name == "Wales"))
    with pytest.raises(RuleError) as excinfo:
        services.create_member(email="new@example.org", member_type=member_type, region=region, **JOINER)
    assert (excinfo.value.field, excinfo.value.message) == (
        "local_authority", "Select the council you work for or represent")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_join_refuses_a_missing_organisation_for_a_taken_address_too(app, make_user):
    """Joining with an address that has an account is refused the same way as a new one (the answer
    never tells who is a member), and no 'someone tried to join' email goes."""
    make_user(email="taken@example.org")
    with pytest.raises(RuleError) as excinfo:
        services.join(email="taken@example.org", member_type=MemberType.THINK_TANK, organisation_name="",
                      local_authority=council("E06000023"), **JOINER)
    assert excinfo.value.field == "organisation"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail)) == 0


def test_update_profile_refuses_what_the_member_type_needs(app, make_user):
    """A profile change to a council type without a council, or that drops an organisation's name, is refused."""
    user = make_user(organisation="Riverside Community Trust")
    with pytest.raises(RuleError) as excinfo:
        services.update_profile(user, **profile_values(user, member_type=MemberType.COUNCILLOR, local_authority=None))
    assert excinfo.value.field == "local_authority"
    db.session.rollback()
    with pytest.raises(RuleError) as excinfo:
        services.update_profile(user, **profile_values(user, organisation_name=""))
    assert excinfo.value.field == "organisation"
    db.session.rollback()
    db.session.refresh(user)
    assert user.member_type == MemberType.COMMUNITY_ORGANISATION
    assert user.organisation.name == "Riverside Community Trust"


# --- data export -------------------------------------------------------------------------

def test_export_member_contains_profile_and_consents_only_of_that_member(app, make_user):
    """The download holds the member's profile and consent history and nothing about others."""
    user = make_user(name="Exporting Person", email="exporter@example.org", job_title="Treasurer")
    make_user(name="Someone Else Entirely", email="other.person@example.org", organisation="Other Org")
    data = services.export_member(user)
    text = json.dumps(data)
    assert data["profile"]["name"] == "Exporting Person"
    assert data["profile"]["email"] == "exporter@example.org"
    assert data["profile"]["job_title"] == "Treasurer"
    assert data["profile"]["local_authority"]["gss_code"] == "E06000023"
    assert data["profile"]["region"] == "South West"
    assert data["profile"]["organisation"] == "Riverside Community Trust"
    assert [c["kind"] for c in data["consents"]] == ["privacy", "marketing", "directory"]
    assert all(c["at"] for c in data["consents"])
    assert "exported_at" in data
    assert "Someone Else Entirely" not in text and "other.person@example.org" not in text
    assert "Other Org" not in text
    assert user.password_hash not in text and "password" not in text


# --- account deletion --------------------------------------------------------------------

def test_delete_account_anonymises(app, make_user):
    """Deleting removes personal data, consents and queued emails, and marks the account deleted."""
    user = make_user(name="Leaving Person", email="leaving@example.org", job_title="Chair",
                     involvement="Lots", consent_marketing=True)
    keeper = make_user(name="Staying Person")
    auth_services.send_confirmation(user)
    auth_services.send_confirmation(keeper)
    auth_services.issue_sign_in_code(user, "sign_in", None)
    auth_services.issue_sign_in_code(keeper, "sign_in", None)
    db.session.commit()
    old_token = user.session_token
    services.delete_account(user)
    db.session.commit()
    db.session.expire_all()
    assert user.name == "Former member" and user.display_name == "Former member"
    assert user.email != "leaving@example.org" and user.email.endswith(".invalid")
    assert user.password_hash == ""
    assert user.job_title == "" and user.involvement == ""
    assert user.organisation is None and user.local_authority is None
    assert user.consent_marketing is False and user.show_in_directory is False
    assert user.status == Status.DELETED and user.deleted_at is not None
    assert user.session_token != old_token
    assert consent_log(user) == []
    assert db.session.scalars(sa.select(SignInCode.user_id)).all() == [keeper.id]  # one-time codes go too
    assert db.session.scalars(sa.select(OutboxEmail.to_address)).all() == [keeper.email]
    assert len(consent_log(keeper)) == 3
    assert auth_services.authenticate("leaving@example.org", PASSWORD) is None


def test_delete_own_account_needs_the_password(app, make_user):
    """The service refuses a member's own deletion with a wrong password (on the password field)."""
    user = make_user(email="leaving@example.org")
    with pytest.raises(RuleError) as excinfo:
        services.delete_own_account(user, "not my password")
    assert (excinfo.value.field, excinfo.value.message) == ("password", "Your password is not correct")
    db.session.rollback()
    assert user.status == Status.ACTIVE
    services.delete_own_account(user, PASSWORD)
    db.session.commit()
    assert user.status == Status.DELETED


def test_deleted_email_can_join_again(app, make_user):
    """After deletion the same address (any case) can be used to join again as a new account."""
    user = make_user(email="again@example.org")
    services.delete_account(user)
    db.session.commit()
    fresh = make_user(email="Again@Example.org", name="Returning Person")
    assert fresh.id != user.id
    assert auth_services.authenticate("again@example.org", PASSWORD).id == fresh.id


# --- staff actions -----------------------------------------------------------------------

def test_suspend_and_reactivate_are_audited(app, make_user):
    """Suspending signs the member out; both actions write an audit row naming actor and target."""
    staff = make_user(name="Staff", role="staff")
    member = make_user(name="Member")
    old_token = member.session_token
    staff_services.suspend(staff, member, reason="Spam")
    db.session.commit()
    assert member.status == Status.SUSPENDED and not member.is_active
    assert member.session_token != old_token
    assert auth_services.load_user(member.session_token) is None
    staff_services.reactivate(staff, member)
    db.session.commit()
    assert member.status == Status.ACTIVE
    rows = audit_rows()
    assert [(r.actor_id, r.action, r.target_type, r.target_id) for r in rows] == [
        (staff.id, "member.suspend", "user", member.id),
        (staff.id, "member.reactivate", "user", member.id),
    ]
    assert rows[0].details == {"reason": "Spam"}
    assert rows[0].created_at is not None


def test_nobody_suspends_themselves(app, make_user):
    """Even an admin cannot suspend their own account."""
    admin = make_user(role="admin")
    with pytest.raises(RuleError):
        staff_services.suspend(admin, admin)
    assert admin.status == Status.ACTIVE
    assert audit_rows() == []


def test_staff_cannot_suspend_staff_but_admin_can(app, make_user):
    """Suspending or reactivating staff needs an admin."""
    staff = make_user(role="staff")
    colleague = make_user(role="staff")
    admin = make_user(role="admin")
    with pytest.raises(RuleError, match="admin"):
        staff_services.suspend(staff, colleague)
    assert colleague.status == Status.ACTIVE
    staff_services.suspend(admin, colleague)
    with pytest.raises(RuleError, match="admin"):
        staff_services.reactivate(staff, colleague)
    staff_services.reactivate(admin, colleague)
    db.session.commit()
    assert [(r.actor_id, r.action) for r in audit_rows()] == [
        (admin.id, "member.suspend"), (admin.id, "member.reactivate"),
    ]


def test_suspend_and_reactivate_need_the_right_state(app, make_user):
    """Only active accounts can be suspended and only suspended ones reactivated."""
    staff = make_user(role="staff")
    member = make_user()
    with pytest.raises(RuleError):
        staff_services.reactivate(staff, member)
    staff_services.suspend(staff, member)
    with pytest.raises(RuleError):
        staff_services.suspend(staff, member)
    assert len(audit_rows()) == 1


@pytest.mark.parametrize("new_role", [Role.STAFF, Role.ADMIN])
def test_staff_cannot_grant_staff_or_admin(app, make_user, new_role):
    """Only an admin grants staff or admin rights."""
    staff = make_user(role="staff")
    member = make_user()
    with pytest.raises(RuleError, match="Only an admin"):
        staff_services.change_role(staff, member, new_role)
    assert member.role == Role.MEMBER
    assert audit_rows() == []


def test_staff_cannot_demote_staff(app, make_user):
    """Staff cannot remove another member of staff's rights."""
    staff = make_user(role="staff")
    colleague = make_user(role="staff")
    with pytest.raises(RuleError):
        staff_services.change_role(staff, colleague, Role.MEMBER)
    assert colleague.role == Role.STAFF


def test_admin_changes_role_and_it_is_audited(app, make_user):
    """An admin grants staff; the member's sessions rotate; the audit row records old and new."""
    admin = make_user(role="admin")
    member = make_user()
    old_token = member.session_token
    staff_services.change_role(admin, member, Role.STAFF)
    db.session.commit()
    assert member.role == Role.STAFF and member.session_token != old_token
    [row] = audit_rows()
    assert (row.actor_id, row.action, row.target_type, row.target_id) == (admin.id, "member.role", "user", member.id)
    assert row.details == {"old": "member", "new": "staff"}
    staff_services.change_role(admin, member, Role.STAFF)  # no change, no new row
    assert len(audit_rows()) == 1


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_nobody_changes_their_own_role(app, make_user, role):
    """Neither staff nor admins can change their own role."""
    actor = make_user(role=role)
    with pytest.raises(RuleError, match="own role"):
        staff_services.change_role(actor, actor, Role.MEMBER)
    assert actor.role == Role(role)


def test_staff_member_search_filters(app, make_user):
    """Staff see unlisted and unconfirmed members, never deleted ones, and can filter by status and role."""
    staff = make_user(name="Staff Person", role="staff")
    make_user(name="Unlisted", show_in_directory=False)
    make_user(name="Unconfirmed", confirmed=False)
    suspended = make_user(name="Suspended")
    gone = make_user(name="Gone")
    staff_services.suspend(staff, suspended)
    services.delete_account(gone)
    db.session.commit()
    assert names(staff_services.staff_member_search()) == ["Staff Person", "Suspended", "Unconfirmed", "Unlisted"]
    assert names(staff_services.staff_member_search(status="suspended")) == ["Suspended"]
    assert names(staff_services.staff_member_search(role="staff")) == ["Staff Person"]
    assert "Former member" not in names(staff_services.staff_member_search(status="deleted"))


# --- CSV export --------------------------------------------------------------------------

def parse_csv(text: str) -> list[dict]:
    """CSV text as a list of row dicts."""
    return list(csv.DictReader(io.StringIO(text)))


def test_members_csv_neutralises_formulas(app, make_user):
    """Cells starting with =, +, - or @ are prefixed so spreadsheets do not run them."""
    staff = make_user(role="staff", name="Staff")
    make_user(name='=HYPERLINK("http://evil.example","click")', job_title="+SUM(A1:A2)")
    make_user(name="@cmd", job_title="-2+3")
    rows = parse_csv(staff_services.members_csv(staff_services.staff_member_search(), staff))
    by_name = {row["name"]: row for row in rows}
    assert "'=HYPERLINK(\"http://evil.example\",\"click\")" in by_name
    assert by_name["'=HYPERLINK(\"http://evil.example\",\"click\")"]["job_title"] == "'+SUM(A1:A2)"
    assert by_name["'@cmd"]["job_title"] == "'-2+3"
    assert not any(value[:1] in "=+-@" for row in rows for value in row.values() if value)


def test_members_csv_includes_only_filtered_rows_and_is_audited(app, make_user):
    """The export holds exactly the filtered members and records who exported how many."""
    staff = make_user(role="staff", name="Staff")
    make_user(name="Cardiff Councillor", member_type="councillor", organisation="", gss_code="W06000015",
              email="cllr@example.org")
    make_user(name="Bristol Charity")
    text = staff_services.members_csv(staff_services.staff_member_search(member_type="councillor"), staff)
    db.session.commit()
    rows = parse_csv(text)
    assert [row["name"] for row in rows] == ["Cardiff Councillor"]
    assert rows[0]["email"] == "cllr@example.org"
    assert rows[0]["council"] == "Cardiff" and rows[0]["gss_code"] == "W06000015"
    assert rows[0]["region"] == "Wales" and rows[0]["member_type"] == "Councillor"
    assert list(rows[0]) == staff_services.CSV_COLUMNS
    [row] = audit_rows()
    assert (row.actor_id, row.action, row.target_type) == (staff.id, "member.export", "system")
    assert "1 members" in row.summary
