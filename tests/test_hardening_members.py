"""Regression tests for the hardening findings of issue 9 in the members area.

Each test is named after its finding and acts as an attacker (or a careful user) would: over HTTP.
"""
import pytest
import sqlalchemy as sa
from flask import url_for

from kil_network.auth.models import User
from kil_network.core.models import AuditLog
from kil_network.extensions import db
from kil_network.members.models import Organisation

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
            values = {arg: 1 if rule._converters[arg].regex.startswith("\\d") else URL_VALUES.get(arg, "x")
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
    from pathlib import Path

    from flask import current_app

    folder = Path(current_app.static_folder)
    return next(p for p in folder.rglob("*") if p.is_file()).relative_to(folder).as_posix()
