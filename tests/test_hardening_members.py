"""Regression tests for the hardening findings of issue 9 in the members area.

Each test is named after its finding and acts as an attacker (or a careful user) would: over HTTP.
"""
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import current_app, url_for
from flask_migrate import upgrade
from werkzeug.routing.converters import NumberConverter

from kil_network.auth.models import User
from kil_network.core.models import AuditLog
from kil_network.extensions import db
from kil_network.members.models import Organisation, OrganisationEditor
from tests.support.app import make_app

PASSWORD = "correct horse battery"

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # man ZWJ woman ZWJ girl: one family emoji
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # "mikhaham" with its ZWNJ
HINDI = "\u0915\u094d\u200d\u0937"  # ka virama ZWJ ssa (half form)
MALAYALAM = "\u0d2e\u0d28\u0d4d\u200d"  # ma na virama ZWJ: the chillu form of na
MALAYALAM_WORD = MALAYALAM + "\u0d24\u0d4d\u0d30\u0d3f"


def profile_data(**changes):
    """A complete, valid profile form with some fields changed."""
    return {"name": "Mem Ber", "member_type": "think_tank", "organisation": "Localis Lab",
            "local_authority": "E08000003", "region": "", "job_title": "Researcher",
            "involvement": "Evidence", **changes}


def _user(email):
    """The user with this email address."""
    return db.session.scalar(sa.select(User).where(User.email == email))


# --- LOW: name cleaning keeps joiners inside words ------------------------------------------

def test_finding_low_name_cleaning_keeps_zwj_and_zwnj_inside_words(client, as_role):
    """Emoji sequences and Persian and Indic names survive the profile form unchanged."""
    as_role("member")
    name = f"{PERSIAN} {HINDI} {MALAYALAM_WORD} {FAMILY}"
    involvement = f"Family {FAMILY}\n{PERSIAN}"
    response = client.post_form("/account/", profile_data(name=name, job_title=MALAYALAM_WORD,
                                                          involvement=involvement), token_from="/account/")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    user = _user("member@example.org")
    assert user.name == name
    assert user.job_title == MALAYALAM_WORD
    assert user.involvement == involvement
    assert FAMILY in client.get("/account/").get_data(as_text=True)


def test_finding_low_name_cleaning_strips_bidi_overrides_and_edge_invisibles(client, as_role):
    """An RTL override (shows 'evil.exe' as 'exe.live') and invisible padding do not reach the record."""
    as_role("member")
    attack = "\u202eexe.live\u202c \u200bAnn\u200d \u200fLee\u200e\u2066x\u2069\x07"
    response = client.post_form("/account/", profile_data(name=attack, involvement="a\u202eb\u200b\nc\u200d"),
                                token_from="/account/")
    assert response.status_code == 302
    user = _user("member@example.org")
    assert user.name == "exe.live Ann Lee x"
    assert user.involvement == "ab\nc"
    for bad in "\u202e\u202c\u2066\u2069\x07\u200b\u200d\u200f\u200e":
        assert bad not in user.name


# --- LOW: Cache-Control: no-store on every response with personal data ------------------------

URL_VALUES = {"token": "x", "gss_code": "E06000023", "question_id": "x", "reference": "x", "name": "x"}
SKIP_ENDPOINTS = {"static", "core.vendor"}


def _get_urls(app):
    """One URL for every GET route in the URL map (ids that may not exist: the answer still counts)."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in SKIP_ENDPOINTS:
                continue
            values = {arg: 1 if isinstance(rule._converters[arg], NumberConverter) else URL_VALUES.get(arg, "x")
                      for arg in rule.arguments}
            urls.append(url_for(rule.endpoint, **values))
    return urls


@pytest.mark.parametrize("role", ["staff", "member"])
def test_finding_low_cache_control_no_store_on_every_route_for_signed_in(app, client, as_role, role):
    """Every GET route in the URL map, as staff and as a member, answers with no-store."""
    as_role(role)
    missing = []
    for url in _get_urls(app):
        response = client.get(url)
        if "no-store" not in response.headers.get("Cache-Control", ""):
            missing.append((url, response.status_code))
    assert not missing


def test_finding_low_cache_control_on_exports_and_staff_pages(client, as_role, make_user):
    """The data download, staff pages and CSV exports are never stored; so are redirects from them."""
    assert "no-store" in client.get("/account/export").headers.get("Cache-Control", "")  # anonymous: redirect
    as_role("staff")
    for url in ("/staff/members/", "/staff/members.csv", "/account/export"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url


def test_finding_low_cache_control_public_pages_stay_cacheable_for_visitors(client):
    """Public pages for an anonymous visitor (even with a CSRF token in the session) and static files."""
    client.get("/auth/login")  # a form page: puts a CSRF token in the session
    for url in ("/", "/councils/", "/privacy"):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" not in response.headers.get("Cache-Control", ""), url
    static = client.get("/static/" + _a_static_file())
    assert "no-store" not in static.headers.get("Cache-Control", "")


def _a_static_file():
    """The name of one file in the app's static folder."""
    folder = Path(current_app.static_folder)
    return next(p for p in folder.rglob("*") if p.is_file()).relative_to(folder).as_posix()


# --- Finding 5: any member could take over an organisation record ---------------------------

ORG = "Riverside Community Trust"
EDIT = {"name": ORG, "org_type": "cic", "charity_number": "1234567", "company_number": "",
        "local_authority": "E06000023"}


def _org(name=ORG):
    """The organisation with this name."""
    return db.session.scalar(sa.select(Organisation).where(Organisation.name == name))


def _audit(action):
    """Audit entries with this action, oldest first."""
    return db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def _join_org_via_profile(client, email, org_name=ORG):
    """Sign in and name the organisation on the profile, as the attacker did."""
    client.post_form("/auth/login", {"email": email, "password": PASSWORD})
    response = client.post_form("/account/", profile_data(organisation=org_name, member_type="community_organisation"),
                                token_from="/account/")
    assert response.status_code == 302


@pytest.fixture
def riverside(make_user):
    """An organisation created by its first member (its editor) with four more real members."""
    owner = make_user(email="owner@example.org", name="Olive Owner", organisation=ORG)
    for n in range(4):
        make_user(email=f"real{n}@example.org", organisation=ORG)
    make_user(email="attacker@example.org", name="Mallory", organisation="Mallory Ltd")
    return owner


def _request_id(org, email):
    """The id of this member's editor row (pending or approved) for the organisation."""
    return db.session.scalar(sa.select(OrganisationEditor.id).join(User, OrganisationEditor.user_id == User.id)
                             .where(OrganisationEditor.organisation_id == org.id, User.email == email))


def test_finding_05_naming_an_organisation_joins_it_but_cannot_edit_or_rename_it(client, riverside):
    """The attack: name an existing organisation on the profile, then edit and rename it. Refused."""
    _join_org_via_profile(client, "attacker@example.org", "riverside  COMMUNITY trust")
    org = _org()
    assert _user("attacker@example.org").organisation_id == org.id  # joined it as a member
    assert client.get(f"/organisations/{org.id}/edit").status_code == 403
    response = client.post_form(f"/organisations/{org.id}/edit", {**EDIT, "name": "Mallory's Trust"},
                                token_from=f"/organisations/{org.id}")
    assert response.status_code == 403
    assert db.session.get(Organisation, org.id).name == ORG
    assert _audit("organisation.update") == []
    page = client.get(f"/organisations/{org.id}").get_data(as_text=True)
    assert "Edit details" not in page and "Ask to edit these details" in page
    listing = client.get("/organisations/").get_data(as_text=True)
    assert f"/organisations/{org.id}/edit" not in listing
    # A look-alike name with invisible characters is the same record, not a second one to pass off.
    _join_org_via_profile(client, "attacker@example.org", "Riverside\u200b Community\u200d Trust")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation).where(
        Organisation.name.like("Riverside%"))) == 1


def test_finding_05_creator_edits_and_every_change_is_audited_with_what_changed(client, riverside, auth):
    """The member who created the record edits it; the audit entry names them and the changes."""
    auth.login("owner@example.org")
    org = _org()
    response = client.post_form(f"/organisations/{org.id}/edit",
                                {**EDIT, "name": "Riverside Trust", "local_authority": "E08000003"},
                                token_from=f"/organisations/{org.id}/edit")
    assert response.status_code == 302
    [entry] = _audit("organisation.update")
    assert entry.actor_id == riverside.id and entry.target_id == org.id
    assert entry.details["changes"]["name"] == [ORG, "Riverside Trust"]
    assert entry.details["changes"]["org_type"] == ["charity", "cic"]
    assert entry.details["changes"]["local_authority"] == ["E06000023", "E08000003"]
    assert "Renamed" in entry.summary


def test_finding_05_request_to_edit_is_approved_by_an_editor_not_by_the_requester(app, riverside):
    """A member asks; they cannot approve themselves, an outsider cannot answer; the editor approves."""
    mallory, owner, outsider = app.test_client(), app.test_client(), app.test_client()
    _join_org_via_profile(mallory, "attacker@example.org")
    org = _org()
    assert mallory.post_form(f"/organisations/{org.id}/editors/request",
                             token_from=f"/organisations/{org.id}").status_code == 303
    row_id = _request_id(org, "attacker@example.org")
    assert row_id is not None
    # The requester may not answer their own request, nor edit while it waits.
    assert mallory.post_form(f"/organisations/{org.id}/editors/{row_id}/decide", {"decision": "approve"},
                             token_from=f"/organisations/{org.id}").status_code == 403
    assert mallory.get(f"/organisations/{org.id}/edit").status_code == 403
    # A member of another organisation can neither ask nor answer.
    outsider.post_form("/auth/login", {"email": "real0@example.org", "password": PASSWORD})
    assert outsider.post_form(f"/organisations/{org.id}/editors/{row_id}/decide", {"decision": "approve"},
                              token_from=f"/organisations/{org.id}").status_code == 403
    # The editor sees the request on the organisation page and approves it.
    owner.post_form("/auth/login", {"email": "owner@example.org", "password": PASSWORD})
    assert "Mem Ber asked on" in owner.get(f"/organisations/{org.id}").get_data(as_text=True)
    assert owner.post_form(f"/organisations/{org.id}/editors/{row_id}/decide", {"decision": "approve"},
                           token_from=f"/organisations/{org.id}").status_code == 303
    assert mallory.get(f"/organisations/{org.id}/edit").status_code == 200
    assert [e.actor_id for e in _audit("organisation.editor_request")] == [_user("attacker@example.org").id]
    assert [e.actor_id for e in _audit("organisation.editor_approve")] == [riverside.id]


def test_finding_05_members_outside_the_organisation_cannot_ask_to_edit_it(client, riverside, auth):
    """Asking to edit needs membership of the organisation."""
    auth.login("attacker@example.org")
    org = _org()
    assert client.post_form(f"/organisations/{org.id}/editors/request",
                            token_from=f"/organisations/{org.id}").status_code == 403
    assert _request_id(org, "attacker@example.org") is None


def test_finding_05_refused_request_and_staff_appoint_and_remove_editors(app, riverside, make_user):
    """The editor refuses; staff see waiting requests, appoint an editor and remove one; all audited."""
    member, owner, staff = app.test_client(), app.test_client(), app.test_client()
    make_user(email="staff@example.org", role="staff")
    _join_org_via_profile(member, "attacker@example.org")
    org = _org()
    member.post_form(f"/organisations/{org.id}/editors/request", token_from=f"/organisations/{org.id}")
    row_id = _request_id(org, "attacker@example.org")
    owner.post_form("/auth/login", {"email": "owner@example.org", "password": PASSWORD})
    owner.post_form(f"/organisations/{org.id}/editors/{row_id}/decide", {"decision": "refuse"},
                    token_from=f"/organisations/{org.id}")
    assert _request_id(org, "attacker@example.org") is None
    assert member.get(f"/organisations/{org.id}/edit").status_code == 403
    member.post_form(f"/organisations/{org.id}/editors/request", token_from=f"/organisations/{org.id}")

    staff.post_form("/auth/login", {"email": "staff@example.org", "password": PASSWORD})
    waiting = staff.get("/staff/organisations/?show=pending").get_data(as_text=True)
    assert ORG in waiting and "1 waiting" in waiting
    # A member may not use the staff-only appoint action.
    real = _user("real1@example.org")
    assert member.post_form(f"/organisations/{org.id}/editors/appoint", {"member_id": str(real.id)},
                            token_from=f"/organisations/{org.id}").status_code == 403
    assert staff.post_form(f"/organisations/{org.id}/editors/appoint", {"member_id": str(real.id)},
                           token_from=f"/organisations/{org.id}").status_code == 303
    owner_row = _request_id(org, "owner@example.org")
    assert staff.post_form(f"/organisations/{org.id}/editors/{owner_row}/remove",
                           token_from=f"/organisations/{org.id}").status_code == 303
    assert owner.get(f"/organisations/{org.id}/edit").status_code == 403
    # Staff can always edit, and their edit is audited too.
    assert staff.post_form(f"/organisations/{org.id}/edit", EDIT,
                           token_from=f"/organisations/{org.id}/edit").status_code == 302
    assert [e.action for e in _audit("organisation.editor_refuse")] == ["organisation.editor_refuse"]
    assert len(_audit("organisation.editor_appoint")) == 1 and len(_audit("organisation.editor_remove")) == 1
    assert _audit("organisation.update")[0].actor_id == _user("staff@example.org").id
    # An editor may not remove another editor: only staff can.
    real_client = app.test_client()
    real_client.post_form("/auth/login", {"email": "real1@example.org", "password": PASSWORD})
    staff.post_form(f"/organisations/{org.id}/editors/appoint", {"member_id": str(riverside.id)},
                    token_from=f"/organisations/{org.id}")
    assert real_client.post_form(f"/organisations/{org.id}/editors/{_request_id(org, 'owner@example.org')}/remove",
                                 token_from=f"/organisations/{org.id}").status_code == 403


def test_finding_05_editor_who_leaves_or_deletes_their_account_stops_being_editor(client, riverside, auth):
    """Editing rights do not outlive membership: leave and come back, and you must ask again."""
    auth.login("owner@example.org")
    org = _org()
    client.post_form("/account/", profile_data(organisation="Elsewhere CIC"), token_from="/account/")
    assert _request_id(org, "owner@example.org") is None
    client.post_form("/account/", profile_data(organisation=ORG), token_from="/account/")
    assert client.get(f"/organisations/{org.id}/edit").status_code == 403
    # The creator of Elsewhere CIC was its editor, and stopped being one on leaving it too.
    elsewhere = _org("Elsewhere CIC")
    assert _request_id(elsewhere, "owner@example.org") is None
    assert [e.target_id for e in _audit("organisation.editor_left")] == [org.id, elsewhere.id]
    assert [e.target_id for e in _audit("organisation.create")] == [elsewhere.id]
    # Deleting the account ends every editor right at once.
    client.post_form("/account/", profile_data(organisation="Third Group"), token_from="/account/")
    third = _org("Third Group")
    assert _request_id(third, "owner@example.org") is not None
    assert client.post_form("/account/delete", {"password": PASSWORD, "confirm": "y"},
                            token_from="/account/delete").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OrganisationEditor).where(
        OrganisationEditor.organisation_id == third.id)) == 0


def test_finding_05_migration_makes_each_organisations_earliest_member_its_editor(tmp_path):
    """Existing organisations get their earliest active, confirmed member as editor; no one else."""
    app = make_app(f"sqlite:///{tmp_path / 'migrate.db'}")
    with app.app_context():
        upgrade(revision="0009_submission_keys")
        conn = db.session.connection()
        conn.execute(sa.text("INSERT INTO organisations (id, name, name_key, org_type, charity_number, company_number,"
                             " created_at) VALUES (1, 'A', 'a', 'other', '', '', :t),"
                             " (2, 'B', 'b', 'other', '', '', :t)"),
                     {"t": datetime(2026, 1, 1)})
        users = [(1, 1, "active", datetime(2026, 1, 3), datetime(2026, 1, 1)),
                 (2, 1, "active", datetime(2026, 1, 2), datetime(2026, 1, 1)),  # earliest of A: editor
                 (3, 1, "deleted", datetime(2026, 1, 1), datetime(2026, 1, 1)),
                 (4, 2, "active", datetime(2026, 1, 1), None)]  # B's only member is unconfirmed
        for uid, org_id, status, created, confirmed in users:
            conn.execute(sa.text(
                "INSERT INTO users (id, email, password_hash, name, member_type, role, status, job_title, involvement,"
                " organisation_id, email_confirmed_at, consent_marketing, show_in_directory, created_at, session_token)"
                " VALUES (:id, :email, '', 'n', 'other', 'member', :status, '', '', :org, :confirmed, false, false,"
                " :created, :token)"),
                {"id": uid, "email": f"u{uid}@example.org", "status": status, "org": org_id, "confirmed": confirmed,
                 "created": created, "token": f"t{uid}"})
        db.session.commit()
        upgrade(revision="0010_organisation_editors")
        rows = db.session.execute(sa.text("SELECT organisation_id, user_id, status FROM organisation_editors")).all()
        assert [tuple(r) for r in rows] == [(1, 2, "approved")]
        db.session.remove()
        db.engine.dispose()


def test_finding_05_same_class_pledge_submission_is_audited(client, make_user, auth):
    """The other shared record a member creates for others to see (a council's pledge) is audited too.

    Members cannot edit a pledge once sent (only staff verify or reject it), so it cannot be taken
    over; its submission is now in the audit log with who sent it."""
    cllr = make_user(email="cllr@example.org", member_type="councillor", gss_code="E06000023")
    auth.login("cllr@example.org")
    response = client.post_form("/councils/E06000023/pledge", {
        "signed_by": "leader_and_chief_executive", "signatories": "Cllr Jane Smith, Leader",
        "pledged_on-day": "27", "pledged_on-month": "3", "pledged_on-year": "2025", "champions": "Cllr Priya Patel"})
    assert response.status_code == 303
    [entry] = _audit("pledge.submit")
    assert entry.actor_id == cllr.id and "E06000023" in entry.summary


def test_finding_05_editor_rights_are_in_the_data_download(client, riverside, auth):
    """Being an organisation's editor is data about the member: it is in "download my data"."""
    auth.login("owner@example.org")
    data = client.get("/account/export").get_json()
    assert data["organisation_editor"] == [
        {"organisation": ORG, "status": "approved", "requested_at": data["organisation_editor"][0]["requested_at"],
         "decided_at": data["organisation_editor"][0]["decided_at"]}]
