"""Staff screens over HTTP: the members table, CSV export, suspend/reactivate/role, audit log, outbox."""
import csv
import io
import re

import pytest
import sqlalchemy as sa

from kil_network.auth.models import Role, Status
from kil_network.core.email import deliver_due, queue_email
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.staff.services import CSV_COLUMNS
from tests.support.app import AuthActions, free_port

PASSWORD = "correct horse battery"


def names_in(html):
    """Member names linked from the staff members table, in order."""
    return re.findall(r'<td><a href="/staff/members/\d+">([^<]+)</a></td>', html)


def region_id(name):
    """The id of a region by name."""
    return db.session.scalar(sa.select(Region.id).where(Region.name == name))


def audit_entries(action=None):
    """Audit log rows (optionally of one action), oldest first."""
    stmt = sa.select(AuditLog).order_by(AuditLog.id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return db.session.scalars(stmt).all()


def sign_in_staff(as_role, role="staff"):
    """Sign the client in as staff (or admin) named Stella Staff."""
    user = as_role(role)
    user.name = "Stella Staff"
    db.session.commit()
    return user


def signed_in_client(app, email):
    """Another browser, signed in as `email`."""
    other = app.test_client()
    response = AuthActions(other).login(email)
    assert response.status_code == 302
    return other


@pytest.fixture
def people(make_user):
    """Members of different types, regions, states and roles."""
    made = {
        "alice": make_user(email="alice@example.org", name="Alice Archer", member_type="community_organisation",
                           organisation="Hackney Food Hub", gss_code="E09000012"),
        "bob": make_user(email="bob@example.org", name="Bob Baker", member_type="councillor",
                         organisation="", gss_code="E08000035", show_in_directory=False),
        "cara": make_user(email="cara@example.org", name="Cara Cole", member_type="academic",
                          organisation="University of Cardiff", gss_code="W06000015", confirmed=False),
        "sam": make_user(email="sam@example.org", name="Sam Suspended", gss_code="E09000012"),
        "dee": make_user(email="dee@example.org", name="Dee Deleted", gss_code="E09000012"),
        "olly": make_user(email="olly@example.org", name="Olly Officer", role="staff", member_type="other",
                          organisation="", gss_code=None, region=db.session.get(Region, region_id("Wales"))),
    }
    made["sam"].status = Status.SUSPENDED
    made["dee"].status = Status.DELETED
    db.session.commit()
    return made


# --- Members table ------------------------------------------------------------------------------

def test_members_table_lists_everyone_but_deleted(client, people, as_role):
    """Staff see listed, unlisted, unconfirmed and suspended members with emails; never deleted ones."""
    sign_in_staff(as_role)
    response = client.get("/staff/members/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert names_in(html) == ["Alice Archer", "Bob Baker", "Cara Cole", "Olly Officer", "Sam Suspended",
                              "Stella Staff"]
    assert "Dee Deleted" not in html
    assert "bob@example.org" in html and "Unconfirmed" in html
    assert "6 members" in html
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize(("args", "expected"), [
    ({"q": "alice"}, ["Alice Archer"]),
    ({"q": "bob@example"}, ["Bob Baker"]),
    ({"q": "food hub"}, ["Alice Archer"]),
    ({"q": "leeds"}, ["Bob Baker"]),
    ({"q": "%"}, []),
    ({"type": "councillor"}, ["Bob Baker"]),
    ({"type": "academic"}, ["Cara Cole"]),
    ({"region": "London"}, ["Alice Archer", "Sam Suspended"]),
    ({"region": "Wales"}, ["Cara Cole", "Olly Officer"]),
    ({"status": "suspended"}, ["Sam Suspended"]),
    ({"status": "active", "region": "London"}, ["Alice Archer"]),
    ({"status": "deleted"},
     ["Alice Archer", "Bob Baker", "Cara Cole", "Olly Officer", "Sam Suspended", "Stella Staff"]),
    ({"role": "staff"}, ["Olly Officer", "Stella Staff"]),
    ({"role": "admin"}, []),
    ({"role": "member", "type": "community_organisation"}, ["Alice Archer", "Sam Suspended"]),
])
def test_members_table_filters(client, people, as_role, args, expected):
    """q (name, email, organisation, council), type, region, status and role filter the table."""
    sign_in_staff(as_role)
    if "region" in args:
        args = {**args, "region": region_id(args["region"])}
    html = client.get("/staff/members/", query_string=args).get_data(as_text=True)
    assert names_in(html) == expected


def test_members_table_pagination(client, make_user, as_role):
    """Fifty members a page; page 2 holds the rest and the count covers all pages."""
    sign_in_staff(as_role)
    for i in range(54):
        make_user(email=f"p{i:02d}@example.org", name=f"Paged {i:02d}", member_type="academic")
    first = client.get("/staff/members/?type=academic").get_data(as_text=True)
    second = client.get("/staff/members/?type=academic&page=2").get_data(as_text=True)
    assert names_in(first) == [f"Paged {i:02d}" for i in range(50)]
    assert names_in(second) == [f"Paged {i:02d}" for i in range(50, 54)]
    assert "54 members" in first
    assert "page=2" in first and "type=academic" in first


def test_members_table_htmx_partial(client, people, as_role):
    """htmx gets only the table fragment."""
    sign_in_staff(as_role)
    response = client.get("/staff/members/?q=cara", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="members-table"')
    assert names_in(html) == ["Cara Cole"]
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("args",
                         [{"region": "²"}, {"page": "99999999999999999999"},  # a NUL: a 400 (test_hardening_params)
                                  {"status": "<b>"}, {"role": "<b>"}])
def test_members_table_odd_parameters(client, people, as_role, args):
    """Odd filter values give the table, never a server error."""
    sign_in_staff(as_role)
    assert client.get("/staff/members/", query_string=args).status_code == 200


def test_member_detail_for_staff(client, people, as_role):
    """A member's staff page shows email, consents and the actions."""
    sign_in_staff(as_role)
    html = client.get(f"/staff/members/{people['bob'].id}").get_data(as_text=True)
    assert "bob@example.org" in html
    assert "Listed in directory: no" in html
    assert "Suspend account" in html
    assert client.get(f"/staff/members/{people['dee'].id}").status_code == 404
    assert client.get("/staff/members/99999999999999999999").status_code == 404


# --- CSV -----------------------------------------------------------------------------------------

def read_csv(response):
    """The rows of a CSV response."""
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export_honours_filters_and_is_audited(client, people, as_role):
    """The CSV has a header row, only the filtered members, and the export is in the audit log."""
    staff = sign_in_staff(as_role)
    response = client.get("/staff/members.csv", query_string={"region": region_id("London")})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=members-")
    rows = read_csv(response)
    assert rows[0] == CSV_COLUMNS
    assert sorted(row[1] for row in rows[1:]) == ["Alice Archer", "Sam Suspended"]
    alice = next(row for row in rows if row[1] == "Alice Archer")
    record = dict(zip(CSV_COLUMNS, alice, strict=True))
    assert record["email"] == "alice@example.org"
    assert record["gss_code"] == "E09000012" and record["region"] == "London"
    assert record["organisation"] == "Hackney Food Hub" and record["status"] == "active"
    entries = audit_entries("member.export")
    assert len(entries) == 1
    assert entries[0].actor_id == staff.id
    assert "Exported 2 members" in entries[0].summary


def test_csv_export_everyone_and_status_filter(client, people, as_role):
    """Without filters every (not deleted) member is exported; status=suspended only those."""
    sign_in_staff(as_role)
    everyone = read_csv(client.get("/staff/members.csv"))
    assert len(everyone) == 1 + 6
    assert "Dee Deleted" not in {row[1] for row in everyone}
    suspended = read_csv(client.get("/staff/members.csv?status=suspended"))
    assert [row[1] for row in suspended[1:]] == ["Sam Suspended"]
    assert len(audit_entries("member.export")) == 2


def test_csv_neutralises_formulas(client, make_user, as_role):
    """Text that a spreadsheet would run as a formula is prefixed with a quote."""
    sign_in_staff(as_role)
    make_user(email="formula@example.org", name="=HYPERLINK(\"http://evil.example\")", job_title="+SUM(A1)")
    rows = read_csv(client.get("/staff/members.csv?q=formula"))
    record = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert record["name"] == "'=HYPERLINK(\"http://evil.example\")"
    assert record["job_title"] == "'+SUM(A1)"


def test_members_page_csv_link_carries_filters(client, people, as_role):
    """The download link on the table repeats the current filters."""
    sign_in_staff(as_role)
    html = client.get("/staff/members/?q=alice&status=active").get_data(as_text=True)
    link = re.search(r'href="(/staff/members\.csv[^"]*)"', html).group(1).replace("&amp;", "&")
    assert "q=alice" in link and "status=active" in link
    assert [row[1] for row in read_csv(client.get(link))[1:]] == ["Alice Archer"]


# --- Suspend, reactivate, role ---------------------------------------------------------------------

def test_staff_suspends_member(app, client, people, as_role, auth):
    """Suspending signs the member out at once, stops sign-in, and is audited with the reason."""
    staff = sign_in_staff(as_role)
    alice = people["alice"]
    alice_browser = signed_in_client(app, "alice@example.org")
    assert alice_browser.get("/account/").status_code == 200
    response = client.post_form(f"/staff/members/{alice.id}/suspend", {"reason": "Spam <b>posts</b>"},
                                token_from=f"/staff/members/{alice.id}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/members/{alice.id}"
    db.session.refresh(alice)
    assert alice.status == Status.SUSPENDED
    page = client.get(f"/staff/members/{alice.id}").get_data(as_text=True)
    assert "Alice Archer has been suspended and signed out." in page
    assert "Spam &lt;b&gt;posts&lt;/b&gt;" in page and "Reactivate account" in page
    assert alice_browser.get("/account/").status_code == 302
    response = AuthActions(app.test_client()).login("alice@example.org")
    assert "This account is suspended" in response.get_data(as_text=True)
    entry = audit_entries("member.suspend")[-1]
    assert (entry.actor_id, entry.target_id, entry.details["reason"]) == (staff.id, alice.id, "Spam <b>posts</b>")


def test_staff_reactivates_member(app, client, people, as_role):
    """Reactivating lets the member sign in again, and is audited."""
    sign_in_staff(as_role)
    sam = people["sam"]
    response = client.post_form(f"/staff/members/{sam.id}/reactivate", token_from=f"/staff/members/{sam.id}")
    assert response.status_code == 303
    db.session.refresh(sam)
    assert sam.status == Status.ACTIVE
    assert AuthActions(app.test_client()).login("sam@example.org").status_code == 302
    assert len(audit_entries("member.reactivate")) == 1


@pytest.mark.parametrize(("action", "who", "message"), [
    ("suspend", "sam", "Only an active account can be suspended."),
    ("reactivate", "alice", "Only a suspended account can be reactivated."),
    ("suspend", "olly", "Only an admin can suspend a member of staff."),
    ("suspend", "self", "You cannot suspend your own account."),
])
def test_staff_action_refused(client, people, as_role, action, who, message):
    """Actions the rules refuse are explained and change nothing."""
    staff = sign_in_staff(as_role)
    target = staff if who == "self" else people[who]
    before = target.status
    response = client.post_form(f"/staff/members/{target.id}/{action}", token_from="/staff/")
    if action == "suspend":  # a form with a reason: the page again with the reason kept (issue 12)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert message in page and "data-error-summary" in page
    else:
        assert response.status_code == 303
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert message in page and 'class="notice notice--error"' in page
    db.session.refresh(target)
    assert target.status == before
    assert not audit_entries(f"member.{action}")


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_cannot_grant_staff_or_admin(client, people, as_role, role):
    """Only an admin grants staff or admin rights: staff get an error and nothing changes."""
    sign_in_staff(as_role)
    alice = people["alice"]
    response = client.post_form(f"/staff/members/{alice.id}/role", {"role": role}, token_from="/staff/")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Only an admin can grant or remove staff or admin rights." in page
    db.session.refresh(alice)
    assert alice.role == Role.MEMBER
    assert not audit_entries("member.role")


def test_staff_cannot_remove_staff_rights(client, people, as_role):
    """Staff cannot demote another member of staff either."""
    sign_in_staff(as_role)
    olly = people["olly"]
    client.post_form(f"/staff/members/{olly.id}/role", {"role": "member"}, token_from="/staff/")
    db.session.refresh(olly)
    assert olly.role == Role.STAFF


def test_admin_grants_staff(app, client, people, as_role):
    """An admin can make a member staff: audited, and the member's sessions restart."""
    admin = sign_in_staff(as_role, "admin")
    alice = people["alice"]
    alice_browser = signed_in_client(app, "alice@example.org")
    assert alice_browser.get("/staff/").status_code == 403
    response = client.post_form(f"/staff/members/{alice.id}/role", {"role": "staff"}, token_from="/staff/")
    assert response.status_code == 303
    assert "Alice Archer is now staff." in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.refresh(alice)
    assert alice.role == Role.STAFF
    entry = audit_entries("member.role")[-1]
    assert (entry.actor_id, entry.details) == (admin.id, {"old": "member", "new": "staff"})
    assert alice_browser.get("/account/").status_code == 302
    assert signed_in_client(app, "alice@example.org").get("/staff/").status_code == 200


def test_admin_makes_admin_and_suspends_staff(client, people, as_role):
    """An admin can grant admin and suspend a member of staff."""
    sign_in_staff(as_role, "admin")
    olly = people["olly"]
    client.post_form(f"/staff/members/{olly.id}/role", {"role": "admin"}, token_from="/staff/")
    client.post_form(f"/staff/members/{olly.id}/suspend", {"reason": ""}, token_from="/staff/")
    db.session.refresh(olly)
    assert olly.role == Role.ADMIN and olly.status == Status.SUSPENDED


def test_invalid_role_refused(client, people, as_role):
    """A role that does not exist is refused."""
    sign_in_staff(as_role, "admin")
    alice = people["alice"]
    response = client.post_form(f"/staff/members/{alice.id}/role", {"role": "emperor"}, token_from="/staff/")
    assert response.status_code == 303
    assert "Select a role" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.refresh(alice)
    assert alice.role == Role.MEMBER


@pytest.mark.parametrize("action", ["suspend", "reactivate", "role"])
def test_members_cannot_post_staff_actions(client, people, as_role, action):
    """A member posting a staff action (with a valid token) gets 403 and nothing changes."""
    as_role("member")
    sam = people["sam"]
    response = client.post_form(f"/staff/members/{sam.id}/{action}", {"role": "admin"})
    assert response.status_code == 403
    db.session.refresh(sam)
    assert sam.status == Status.SUSPENDED and sam.role == Role.MEMBER
    assert not audit_entries()


def test_staff_action_on_missing_member_404(client, as_role):
    """Acting on a member who does not exist is 404."""
    sign_in_staff(as_role, "admin")
    assert client.post_form("/staff/members/987654/suspend", token_from="/staff/").status_code == 404


# --- Audit log --------------------------------------------------------------------------------------

def test_every_staff_action_visible_to_admin(app, client, people, as_role):
    """Suspend, reactivate, role change, export and retry all show on an admin's audit log."""
    staff = sign_in_staff(as_role)
    alice, sam, olly = people["alice"], people["sam"], people["olly"]
    client.post_form(f"/staff/members/{alice.id}/suspend", {"reason": "Checking"}, token_from="/staff/")
    client.post_form(f"/staff/members/{sam.id}/reactivate", token_from="/staff/")
    client.get("/staff/members.csv")
    mail = queue_email("x@example.org", "Hello", "confirm_email", user_obj=staff, url="http://x")
    db.session.commit()
    client.post_form(f"/staff/outbox/{mail.id}/retry", token_from="/staff/")
    olly.role = Role.ADMIN
    db.session.commit()
    admin_browser = signed_in_client(app, "olly@example.org")
    admin_browser.post_form(f"/staff/members/{sam.id}/role", {"role": "staff"}, token_from="/staff/")
    response = admin_browser.get("/staff/audit/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for action in ("member.suspend", "member.reactivate", "member.export", "email.retry", "member.role"):
        assert f"<code>{action}</code>" in html
    assert "(reason: Checking)" in html
    assert f"Changed role of member #{sam.id} from member to staff" in html
    assert html.count('<td data-label="Who">Stella Staff</td>') == 4
    assert html.count('<td data-label="Who">Olly Officer</td>') == 1
    assert f"{len(audit_entries())} entries" in html and len(audit_entries()) == 5
    filtered = admin_browser.get("/staff/audit/?action=member.suspend").get_data(as_text=True)
    assert "<code>member.suspend</code>" in filtered and "<code>member.export</code>" not in filtered
    assert "1 entries" in filtered


def test_audit_log_admin_only(client, as_role):
    """Staff who are not admins cannot read the audit log."""
    sign_in_staff(as_role)
    assert client.get("/staff/audit/").status_code == 403


@pytest.mark.parametrize("args", [{"action": "x" * 500}, {"page": "-1"},  # a NUL: a 400 (test_hardening_params)
                                  {"page": "99999999999999999999"}])
def test_audit_odd_parameters(client, as_role, args):
    """Odd audit filters give the page, never a server error."""
    sign_in_staff(as_role, "admin")
    assert client.get("/staff/audit/", query_string=args).status_code == 200


# --- Outbox -----------------------------------------------------------------------------------------

def test_outbox_lists_emails_and_retry_requeues_failed(app, client, as_role, mail):
    """A failed email is listed with its error; retry puts it back in the queue and it is sent."""
    staff = sign_in_staff(as_role)
    queue_email("member-x@example.org", "Confirm your email address", "confirm_email",
                kind="confirm", user_obj=staff, url="http://localhost/auth/confirm/abc")
    db.session.commit()
    app.config.update(MAIL_PORT=free_port(), MAIL_MAX_ATTEMPTS=1)  # nothing listens there
    assert deliver_due() == {"sent": 0, "retry": 0, "failed": 1}
    failed = db.session.scalar(sa.select(OutboxEmail))
    assert failed.status == OutboxEmail.FAILED and failed.last_error
    html = client.get("/staff/outbox/?status=failed").get_data(as_text=True)
    assert "member-x@example.org" in html and "Confirm your email address" in html
    assert "Retry now" in html and f"/staff/outbox/{failed.id}/retry" in html
    assert "1 failed" in html
    response = client.post_form(f"/staff/outbox/{failed.id}/retry", token_from="/staff/outbox/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/outbox/?status=failed"
    db.session.refresh(failed)
    assert failed.status == OutboxEmail.PENDING
    assert audit_entries("email.retry")[-1].target_id == failed.id
    app.config.update(MAIL_PORT=mail.port, MAIL_MAX_ATTEMPTS=8)
    assert deliver_due()["sent"] == 1
    mail.wait_for(lambda m: m["To"] == "member-x@example.org")
    db.session.refresh(failed)
    assert failed.status == OutboxEmail.SENT
    html = client.get("/staff/outbox/").get_data(as_text=True)
    assert "Sent" in html and "0 failed" in html


def test_outbox_shows_bodies_only_without_mail_server(app, client, as_role):
    """With no SMTP server configured the outbox shows each email's text (development)."""
    staff = sign_in_staff(as_role)
    queue_email("dev@example.org", "Hello there", "confirm_email", user_obj=staff, url="http://localhost/x/SECRET")
    db.session.commit()
    assert "http://localhost/x/SECRET" in client.get("/staff/outbox/").get_data(as_text=True)
    app.config["MAIL_SERVER"] = "127.0.0.1"
    assert "http://localhost/x/SECRET" not in client.get("/staff/outbox/").get_data(as_text=True)


def test_outbox_retry_missing_email_404(client, as_role):
    """Retrying an email that does not exist is 404."""
    sign_in_staff(as_role)
    assert client.post_form("/staff/outbox/987654/retry", token_from="/staff/").status_code == 404
