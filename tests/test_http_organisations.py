"""Organisation records: members of an organisation (and staff) edit its details."""
import pytest
import sqlalchemy as sa

from kil_network.core.models import AuditLog
from kil_network.extensions import db
from kil_network.members.models import Organisation

VALID = {"name": "Riverside Community Trust", "org_type": "cic", "charity_number": "1234567",
         "company_number": "ab123456", "local_authority": "E06000023"}


def _org(name="Riverside Community Trust"):
    """The organisation with this name."""
    return db.session.scalar(sa.select(Organisation).where(Organisation.name == name))


@pytest.mark.parametrize("role, status", [("anonymous", 302), ("unconfirmed", 302), ("outsider", 403), ("staff", 200)])
def test_edit_page_access_for_non_members_of_the_org(client, make_user, as_role, auth, role, status):
    """Only the organisation's own members and staff may open its edit page."""
    make_user(email="owner@example.org")
    org_id = _org().id
    if role == "outsider":
        make_user(email="other@example.org", organisation="Another Group")
        auth.login("other@example.org")
    else:
        as_role(role)
    assert client.get(f"/organisations/{org_id}/edit").status_code == status


def test_member_of_org_saves_details(client, make_user, auth):
    """A member of the organisation saves its type, numbers and council."""
    make_user(email="owner@example.org")
    auth.login("owner@example.org")
    org_id = _org().id
    response = client.post_form(f"/organisations/{org_id}/edit", VALID)
    assert response.status_code == 302
    org = db.session.get(Organisation, org_id)
    assert (org.org_type, org.charity_number, org.company_number) == ("cic", "1234567", "AB123456")
    assert org.local_authority.gss_code == "E06000023"
    assert "Company AB123456" in client.get("/organisations/").get_data(as_text=True)


@pytest.mark.parametrize("left_out", ["charity_number", "company_number"])
def test_a_number_left_out_of_the_post_is_saved_empty(client, make_user, auth, left_out):
    """A post without one of the optional number fields (a hand-made request, found by the
    form fuzzer) saves it empty instead of failing on the NOT NULL column."""
    make_user(email="owner@example.org")
    auth.login("owner@example.org")
    org_id = _org().id
    data = {k: v for k, v in VALID.items() if k != left_out}
    assert client.post_form(f"/organisations/{org_id}/edit", data).status_code == 302
    assert getattr(db.session.get(Organisation, org_id), left_out) == ""


def test_invalid_numbers_and_name_clash_are_refused(client, make_user, auth):
    """Malformed numbers and another organisation's name give field errors; nothing changes."""
    make_user(email="owner@example.org")
    make_user(email="x@example.org", organisation="Hillside Collective")
    auth.login("owner@example.org")
    org_id = _org().id
    bad = client.post_form(f"/organisations/{org_id}/edit", {**VALID, "charity_number": "12", "company_number": "nope"},
                           headers={"HX-Request": "true"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "Enter a charity number like 1234567" in body and "Enter a company number" in body
    assert "<html" not in body
    clash = client.post_form(f"/organisations/{org_id}/edit", {**VALID, "name": "hillside  collective"})
    assert "already has this name" in clash.get_data(as_text=True)
    assert db.session.get(Organisation, org_id).charity_number == ""


def test_staff_edit_is_audited(client, make_user, as_role):
    """A staff edit of an organisation is written to the audit log."""
    make_user(email="owner@example.org")
    org_id = _org().id
    as_role("staff")
    assert client.post_form(f"/organisations/{org_id}/edit", VALID).status_code == 302
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "organisation.update"))
    assert entry is not None and entry.target_id == org_id
