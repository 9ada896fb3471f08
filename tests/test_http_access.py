"""Who may GET what: every GET route in the app for every role, with status and redirect target."""
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.get_matrix import EXPECTED, ROLES

CASES = [(rule, role) for rule in EXPECTED for role in ROLES]


def test_every_get_route_has_an_expectation(app):
    """A GET route added to the app without a row in EXPECTED fails here."""
    rules = {rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    missing = rules - EXPECTED.keys()
    assert not missing, f"add these GET routes to EXPECTED: {sorted(missing)}"
    stale = EXPECTED.keys() - rules
    assert not stale, f"EXPECTED lists routes the app no longer has: {sorted(stale)}"


@pytest.mark.parametrize(("rule", "role"), CASES, ids=[f"{rule}-{role}" for rule, role in CASES])
def test_get_route_access(client, as_role, ids, rule, role):
    """GET each route as each role: status, and where redirects go."""
    url = EXPECTED[rule][0].format(**ids)
    expected = EXPECTED[rule][1][role]
    as_role(role)
    response = client.get(url)
    body = response.get_data().decode("utf-8", "replace")  # (a download may be binary)
    if expected == "login":
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/auth/login"
        assert parse_qs(location.query)["next"] == [url]
    elif str(expected).startswith("redirect:"):
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == expected.split(":", 1)[1].format(**ids)
    elif expected == "account":
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/account/"
    else:
        assert response.status_code == expected, body[:300]
        assert "Location" not in response.headers
    if expected == 403:
        assert "You do not have permission to see this page" in body
    if expected == 400:
        assert "That link did not work" in body


@pytest.mark.parametrize("role", ["member", "staff", "admin"])
def test_unlisted_member_page_hidden_from_members_only(client, as_role, make_user, role):
    """An unlisted member's page is 404 for other members, visible to staff and admins."""
    hidden = make_user(email="hidden@example.org", name="Hidden Person", show_in_directory=False)
    as_role(role)
    response = client.get(f"/members/{hidden.id}")
    assert response.status_code == (404 if role == "member" else 200)
    assert ("Hidden Person" in response.get_data(as_text=True)) is (role != "member")


@pytest.mark.parametrize("role", ["anonymous", "member", "staff", "admin"])
def test_navigation_changes_with_role(client, as_role, role):
    """The header shows join/sign-in to visitors, sign-out to members, the staff link to staff."""
    as_role(role)
    html = client.get("/").get_data(as_text=True)
    assert ('href="/auth/join"' in html) is (role == "anonymous")
    assert ("Sign out" in html) is (role != "anonymous")
    assert ('href="/staff/"' in html) is (role in ("staff", "admin"))
    assert ('href="/members/"' in html) is (role != "anonymous")


def test_unconfirmed_member_redirect_explains_why(client, as_role):
    """An unconfirmed member sent away from the directory is told to confirm their email."""
    as_role("unconfirmed")
    response = client.get("/members/", follow_redirects=True)
    assert response.request.path == "/account/"
    assert "Confirm your email address to take part" in response.get_data(as_text=True)


def test_sign_in_redirect_comes_back_to_the_page(client, make_user, auth):
    """Signing in from a members-only page's redirect returns to that page."""
    make_user(email="member1@example.org")
    response = client.get("/members/?q=trust")
    location = response.headers["Location"]
    token = client.csrf_token("/auth/login")
    response = client.post(location, data={"email": "member1@example.org",
                                           "password": "correct horse battery", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/members/?q=trust"
