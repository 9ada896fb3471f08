"""The member directory, member pages, organisations and the member's own account, over HTTP."""
import json
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from kil_network.auth.models import Status, User
from kil_network.core.email import deliver_due
from kil_network.core.models import OutboxEmail
from kil_network.extensions import db
from kil_network.members.models import ConsentRecord, Region
from tests.support.app import AuthActions
from tests.support.mail import first_link

PASSWORD = "correct horse battery"


def region_id(name):
    """The id of a region by name."""
    return db.session.scalar(sa.select(Region.id).where(Region.name == name))


def names_in(html):
    """Member names linked from directory cards."""
    return re.findall(r'<h2 class="card__title heading-s"><a href="/members/\d+">([^<]+)</a></h2>', html)


@pytest.fixture
def people(make_user):
    """A mix of members: listed and not, confirmed and not, active, suspended and deleted."""
    made = {
        "alice": make_user(email="alice@example.org", name="Alice Archer", member_type="community_organisation",
                           organisation="Hackney Food Hub", gss_code="E09000012"),
        "bob": make_user(email="bob@example.org", name="Bob Baker", member_type="councillor",
                         organisation="", gss_code="E08000035"),
        "cara": make_user(email="cara@example.org", name="Cara Cole", member_type="academic",
                          organisation="University of Cardiff", gss_code="W06000015"),
        "hidden": make_user(email="hidden@example.org", name="Hidden Hughes", show_in_directory=False,
                            organisation="Hackney Food Hub", gss_code="E09000012"),
        "unconfirmed": make_user(email="unconfirmed@example.org", name="Una Unconfirmed", confirmed=False,
                                 organisation="Hackney Food Hub", gss_code="E09000012"),
        "suspended": make_user(email="suspended@example.org", name="Sam Suspended",
                               organisation="Hackney Food Hub", gss_code="E09000012"),
        "deleted": make_user(email="deleted@example.org", name="Dee Deleted", gss_code="E09000012"),
    }
    made["suspended"].status = Status.SUSPENDED
    made["deleted"].status = Status.DELETED
    db.session.commit()
    return made


@pytest.fixture
def viewer(as_role):
    """A confirmed member signed in as the client, not listed (so they do not crowd results)."""
    user = as_role("member")
    user.show_in_directory = False
    db.session.commit()
    return user


# --- Directory ----------------------------------------------------------------------------------

def test_directory_lists_only_listed_confirmed_active(client, people, viewer):
    """Only opted-in, confirmed, active members appear; never an email address."""
    response = client.get("/members/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert names_in(html) == ["Alice Archer", "Bob Baker", "Cara Cole"]
    for name in ("Hidden Hughes", "Una Unconfirmed", "Sam Suspended", "Dee Deleted"):
        assert name not in html
    assert "3 members" in html
    assert "@example.org" not in html
    assert "Hackney Food Hub" in html and "Hackney" in html and "London" in html


@pytest.mark.parametrize(("q", "expected"), [
    ("alice", ["Alice Archer"]),
    ("ARCHER", ["Alice Archer"]),
    ("food hub", ["Alice Archer"]),
    ("leeds", ["Bob Baker"]),
    ("cardiff", ["Cara Cole"]),
    ("hackney", ["Alice Archer"]),
    ("%", []),
    ("_", []),
    ("alice@example.org", []),
    ("nobody at all", []),
])
def test_directory_search(client, people, viewer, q, expected):
    """q matches name, organisation or council (case-insensitive, literally), never email."""
    html = client.get("/members/", query_string={"q": q}).get_data(as_text=True)
    assert names_in(html) == expected
    count = "1 member" if len(expected) == 1 else f"{len(expected)} members"
    assert f"{count}\n" in html or f"{count} " in html
    if expected:
        assert "matching" in html
    else:
        assert "No members match" in html


@pytest.mark.parametrize(("args", "expected"), [
    ({"type": "councillor"}, ["Bob Baker"]),
    ({"type": "academic"}, ["Cara Cole"]),
    ({"type": "think_tank"}, []),
    ({"region": "London"}, ["Alice Archer"]),
    ({"region": "Wales"}, ["Cara Cole"]),
    ({"region": "Wales", "type": "councillor"}, []),
    ({"type": "not-a-type"}, ["Alice Archer", "Bob Baker", "Cara Cole"]),
])
def test_directory_filters(client, people, viewer, args, expected):
    """type and region filter the directory; an unknown type is ignored."""
    if "region" in args:
        args = {**args, "region": region_id(args["region"])}
    html = client.get("/members/", query_string=args).get_data(as_text=True)
    assert names_in(html) == expected


def test_directory_pagination(client, make_user, viewer):
    """Twenty members a page; page 2 has the rest; the count covers every page."""
    for i in range(25):
        make_user(email=f"p{i:02d}@example.org", name=f"Paged Person {i:02d}")
    first = client.get("/members/").get_data(as_text=True)
    second = client.get("/members/?page=2").get_data(as_text=True)
    assert names_in(first) == [f"Paged Person {i:02d}" for i in range(20)]
    assert names_in(second) == [f"Paged Person {i:02d}" for i in range(20, 25)]
    assert "25 members" in first and "25 members" in second
    assert 'href="/members/?page=2' in first
    assert 'rel="prev"' in second
    beyond = client.get("/members/?page=9")
    assert beyond.status_code == 200
    assert names_in(beyond.get_data(as_text=True)) == []


def test_directory_htmx_returns_results_partial(client, people, viewer):
    """With HX-Request the directory returns only the results partial, varying on HX-Request."""
    response = client.get("/members/?q=alice", headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="directory-results"')
    assert names_in(html) == ["Alice Archer"]
    assert "HX-Request" in response.headers["Vary"]
    full = client.get("/members/?q=alice")
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]


def test_directory_boosted_request_gets_full_page(client, people, viewer):
    """A boosted htmx navigation (HX-Boosted) gets the whole page."""
    response = client.get("/members/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in response.get_data(as_text=True)


@pytest.mark.parametrize("args", [  # a NUL is a 400 (tests/test_hardening_params.py)
    {"q": "x" * 5000}, {"q": "<script>alert(1)</script>"}, {"q": "🌳"},
    {"region": "²"}, {"region": "99999999999999999999"}, {"region": "-1"},
    {"page": "99999999999999999999"}, {"page": "-5"}, {"page": "abc"}, {"type": "<b>"},
])
def test_directory_odd_parameters_never_500(client, people, viewer, args):
    """Odd query values (NUL, huge numbers, HTML, emoji) give a page, never a server error."""
    response = client.get("/members/", query_string=args)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html


# --- Member pages ---------------------------------------------------------------------------

def test_member_page_shows_profile_without_email(client, people, viewer):
    """A listed member's page shows their details but not their email address."""
    response = client.get(f"/members/{people['alice'].id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Alice Archer" in html and "Hackney Food Hub" in html
    assert "alice@example.org" not in html


@pytest.mark.parametrize("who", ["hidden", "unconfirmed", "suspended", "deleted"])
def test_member_page_404_for_unlisted(client, people, viewer, who):
    """Members who are not listed (or not active) are not found by other members."""
    response = client.get(f"/members/{people[who].id}")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_member_page_404_for_missing_id(client, viewer):
    """An id that does not exist is 404, even a very large one."""
    assert client.get("/members/987654").status_code == 404
    assert client.get("/members/99999999999999999999").status_code == 404


def test_unlisted_member_sees_own_page(client, viewer):
    """An unlisted member can still see their own profile page."""
    response = client.get(f"/members/{viewer.id}")
    assert response.status_code == 200
    assert "This profile is not listed in the directory" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_see_unlisted_member_page(client, people, as_role, role):
    """Staff can open an unlisted (or suspended) member's page; deleted accounts stay 404."""
    as_role(role)
    assert client.get(f"/members/{people['hidden'].id}").status_code == 200
    assert client.get(f"/members/{people['suspended'].id}").status_code == 200
    assert client.get(f"/members/{people['deleted'].id}").status_code == 404


# --- Organisations --------------------------------------------------------------------------

def test_organisations_list_listed_members_only(client, people, viewer):
    """Organisations with listed members appear, with only those members."""
    response = client.get("/organisations/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Hackney Food Hub" in html and "University of Cardiff" in html
    assert "Alice Archer" in html and "Cara Cole" in html
    for name in ("Hidden Hughes", "Una Unconfirmed", "Sam Suspended"):
        assert name not in html
    assert "Riverside Community Trust" not in html  # the viewer's organisation has nobody listed
    assert "2 organisations" in html
    assert "@example.org" not in html


def test_organisations_search_and_htmx(client, people, viewer):
    """q filters organisations; htmx gets the results fragment."""
    response = client.get("/organisations/?q=cardiff", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="organisation-results"')
    assert "University of Cardiff" in html and "Hackney Food Hub" not in html
    assert "1 organisation" in html


# --- Profile --------------------------------------------------------------------------------

def profile_data(**changes):
    """A complete, valid profile form with some fields changed; None removes a field."""
    data = {"name": "Mem Ber", "member_type": "think_tank", "organisation": "Localis Lab",
            "local_authority": "E08000003", "region": "", "job_title": "Researcher",
            "involvement": "Evidence", **changes}
    return {k: v for k, v in data.items() if v is not None}


def test_profile_page_shows_current_details(client, viewer):
    """The profile form is filled with the member's details."""
    html = client.get("/account/").get_data(as_text=True)
    assert f'value="{viewer.name}"' in html
    assert "member@example.org" in html
    assert re.search(r'<option selected value="E06000023">|<option value="E06000023" selected>', html)


def test_profile_save(client, viewer):
    """A valid profile is saved and the member is redirected back with a message."""
    response = client.post_form("/account/", profile_data(), token_from="/account/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    db.session.refresh(viewer)
    assert viewer.name == "Mem Ber"
    assert viewer.member_type.value == "think_tank"
    assert viewer.organisation.name == "Localis Lab"
    assert viewer.local_authority.gss_code == "E08000003"
    assert viewer.region.name == "North West"
    assert "Your details have been saved." in client.get("/account/").get_data(as_text=True)


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": ""}, "name", "Enter your full name"),
    ({"name": "n" * 121}, "name", "Full name must be 120 characters or fewer"),
    ({"organisation": ""}, "organisation", "Enter the name of your organisation"),
    ({"member_type": "councillor", "local_authority": ""}, "local_authority",
     "Select the council you work for or represent"),
    ({"local_authority": "X00000000"}, "local_authority", "Select a council from the list"),
    ({"member_type": "emperor"}, "member_type", "Select what kind of member you are"),
    ({"local_authority": "", "member_type": "other"}, "region", "Select your region, or choose a council above"),
    ({"involvement": "i" * 2001}, "involvement", "How you would like to be involved must be 2,000 characters or fewer"),
])
def test_profile_errors(client, viewer, changes, field, message):
    """Invalid profile details show the error summary and the message beside the field; nothing saved."""
    before = viewer.name
    response = client.post_form("/account/", profile_data(**changes), token_from="/account/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<a href="#{field}">{message}</a>' in html
    assert f'id="{field}-error"' in html
    db.session.refresh(viewer)
    assert viewer.name == before


def test_profile_htmx_error_is_422_partial(client, viewer):
    """An invalid htmx profile post returns the form partial with 422."""
    token = client.csrf_token("/account/")
    response = client.post("/account/", data=profile_data(name=""),
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'id="profile-form"' in html and "Enter your full name" in html


def test_profile_save_with_optional_fields_left_out(client, viewer):
    """A post without the optional fields at all (a script, an old form) saves them as empty."""
    token = client.csrf_token("/account/")
    response = client.post("/account/", data={"name": "Short Post", "member_type": "other",
                                              "local_authority": "E06000023", "csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(viewer)
    assert (viewer.name, viewer.job_title, viewer.involvement, viewer.organisation) == ("Short Post", "", "", None)


def test_profile_consent_change_recorded(client, viewer):
    """Changing a consent records a timestamped event; an unchanged consent records none."""
    before = db.session.scalar(sa.select(sa.func.count(ConsentRecord.id)).where(ConsentRecord.user_id == viewer.id))
    client.post_form("/account/", profile_data(consent_marketing="y"), token_from="/account/")
    db.session.refresh(viewer)
    assert viewer.consent_marketing is True
    records = db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.user_id == viewer.id).order_by(ConsentRecord.id)
    ).all()
    assert len(records) == before + 1
    assert (records[-1].kind, records[-1].granted, records[-1].source) == ("marketing", True, "profile")
    assert records[-1].created_at is not None
    client.post_form("/account/", profile_data(consent_marketing="y"), token_from="/account/")
    count = db.session.scalar(sa.select(sa.func.count(ConsentRecord.id)).where(ConsentRecord.user_id == viewer.id))
    assert count == before + 1
    client.post_form("/account/", profile_data(consent_marketing="y", show_in_directory="y"), token_from="/account/")
    latest = db.session.scalars(
        sa.select(ConsentRecord).where(ConsentRecord.user_id == viewer.id).order_by(ConsentRecord.id.desc())
    ).first()
    assert (latest.kind, latest.granted) == ("directory", True)


# --- Password -------------------------------------------------------------------------------

def test_change_password_wrong_current_refused(client, viewer):
    """The current password must be right; nothing changes otherwise."""
    old_hash = viewer.password_hash
    response = client.post_form("/account/password", {"current_password": "not it at all",
                                                       "new_password": "a new long password"},
                                token_from="/account/password")
    assert response.status_code == 200
    assert '<a href="#current_password">Your current password is not correct</a>' in response.get_data(as_text=True)
    db.session.refresh(viewer)
    assert viewer.password_hash == old_hash


def test_change_password_signs_out_other_sessions(app, client, viewer):
    """A new password rotates the session token: other sessions end, this one continues."""
    other = app.test_client()
    AuthActions(other).login("member@example.org")
    assert other.get("/account/").status_code == 200
    old_token = viewer.session_token
    response = client.post_form("/account/password", {"current_password": PASSWORD,
                                                      "new_password": "a new long password"},
                                token_from="/account/password")
    assert response.status_code == 302
    db.session.refresh(viewer)
    assert viewer.session_token != old_token
    assert client.get("/account/").status_code == 200
    assert other.get("/account/").status_code == 302
    assert AuthActions(other).login("member@example.org", PASSWORD).status_code == 200
    assert AuthActions(other).login("member@example.org", "a new long password").status_code == 302


# --- Email change ---------------------------------------------------------------------------

def test_change_email_confirmed_by_link_to_new_address(client, viewer, mail, auth):
    """The confirmation goes to the new address and the email changes only when it is followed."""
    response = client.post_form("/account/email", {"email": "New.Address@example.org", "password": PASSWORD},
                                token_from="/account/email")
    assert response.status_code == 302
    db.session.refresh(viewer)
    assert viewer.email == "member@example.org"
    assert viewer.pending_email == "new.address@example.org"
    deliver_due()
    confirm = mail.wait_for(lambda m: m["To"] == "new.address@example.org")
    notice = mail.wait_for(lambda m: m["To"] == "member@example.org")
    assert notice["Subject"] == "Your email address is changing"
    assert "/auth/confirm/" not in str(notice.get_body(preferencelist=("plain",)).get_content())
    link = urlsplit(first_link(confirm, "/auth/confirm/")).path
    assert client.get(link).status_code == 302
    db.session.refresh(viewer)
    assert viewer.email == "new.address@example.org" and viewer.pending_email is None
    auth.logout()
    assert auth.login("member@example.org").status_code == 200
    assert auth.login("new.address@example.org").status_code == 302


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"email": "other@example.org", "password": "wrong password"}, "password", "Your password is not correct"),
    ({"email": "taken@example.org", "password": PASSWORD}, "email", "An account already uses this email address"),
    ({"email": "MEMBER@example.org", "password": PASSWORD}, "email", "That is already your email address"),
    ({"email": "not-an-address", "password": PASSWORD}, "email",
     "Enter an email address in the correct format, like name@example.org"),
])
def test_change_email_refused(client, viewer, make_user, data, field, message):
    """Wrong password, an address in use, the same address or a bad format are refused."""
    make_user(email="taken@example.org")
    response = client.post_form("/account/email", data, token_from="/account/email")
    assert response.status_code == 200
    assert f'<a href="#{field}">{message}</a>' in response.get_data(as_text=True)
    db.session.refresh(viewer)
    assert viewer.pending_email is None
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id))) == 0


# --- Export ---------------------------------------------------------------------------------

def test_export_is_json_attachment_with_profile_and_consents(client, viewer):
    """Download my data: a JSON attachment holding the profile and every consent."""
    response = client.get("/account/export")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert ".json" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert data["profile"]["email"] == "member@example.org"
    assert data["profile"]["name"] == viewer.name
    assert data["profile"]["organisation"] == "Riverside Community Trust"
    assert data["profile"]["local_authority"]["gss_code"] == "E06000023"
    assert {c["kind"] for c in data["consents"]} == {"privacy", "marketing", "directory"}
    assert all(c["at"] for c in data["consents"])
    assert "password_hash" not in json.dumps(data)


# --- Delete ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "field", "message"), [
    ({"password": "wrong password", "confirm": "y"}, "password", "Your password is not correct"),
    ({"password": PASSWORD}, "confirm", "Tick the box to confirm you want to delete your account"),
    ({"confirm": "y"}, "password", "Enter your password"),
])
def test_delete_refused(client, viewer, data, field, message):
    """Deleting needs the right password and the box ticked; otherwise nothing happens."""
    response = client.post_form("/account/delete", data, token_from="/account/delete")
    assert response.status_code == 200
    assert f'<a href="#{field}">{message}</a>' in response.get_data(as_text=True)
    db.session.refresh(viewer)
    assert viewer.status == Status.ACTIVE and viewer.email == "member@example.org"
    assert client.get("/account/").status_code == 200


def test_delete_anonymises_and_signs_out(client, viewer, auth):
    """A confirmed deletion removes personal data, signs out and stops sign-in."""
    client.post_form("/auth/confirm/resend")  # leave an email in the outbox for this member
    response = client.post_form("/account/delete", {"password": PASSWORD, "confirm": "y"},
                                token_from="/account/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    user = db.session.get(User, viewer.id)
    assert user.status == Status.DELETED and user.deleted_at is not None
    assert user.name == "Former member" and user.display_name == "Former member"
    assert user.email.endswith("@deleted.invalid") and "member@" not in user.email
    assert user.password_hash == "" and user.job_title == "" and user.organisation is None
    assert user.local_authority is None and not user.show_in_directory
    assert db.session.scalar(sa.select(sa.func.count(ConsentRecord.id)).where(ConsentRecord.user_id == user.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count(OutboxEmail.id)).where(OutboxEmail.user_id == user.id)) == 0
    assert "Your account has been deleted" in client.get("/").get_data(as_text=True)
    assert client.get("/account/").status_code == 302
    response = auth.login("member@example.org")
    assert response.status_code == 200
    assert "Enter the email address and password for your account" in response.get_data(as_text=True)
