"""The Nu HTML Checker (vnu-jar from npm) finds no errors on any page, error states included.

Every page is fetched with the test client for the role that sees it (public pages anonymous,
member pages as a confirmed member and one as an unconfirmed member, staff pages as an
admin), plus forms posted with errors and the error pages. Each is written to a file and
vnu runs once on all of them (the JVM is slow to start). htmx partials are fragments, not
documents, so they are not checked. The templates use `data-hx-*` attributes, which are
valid HTML, so no message is filtered.
"""
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from kil_network.core.models import OutboxEmail
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from tests.support.app import signed_in
from tests.support.vnu import VNU_JAR, needs_java

PASSWORD = "correct horse battery"


@pytest.fixture
def site(make_user):
    """Members, an organisation, a suspended account, audit entries and emails to show."""
    from kil_network.auth.services import make_reset_token
    from kil_network.staff.services import suspend

    admin = make_user(email="admin@example.org", name="Ada Admin", role="admin", member_type="other",
                      organisation="")  # the member creates (and edits) the organisation
    member = make_user(email="member@example.org", name="Morgan <Member> & Co",
                       organisation="Riverside Community Trust")
    make_user(email="unconfirmed@example.org", name="Una Confirmed", confirmed=False)
    other = make_user(email="amara@example.org", name="Amara Okonkwo 🌱", organisation="Hackney Food Bank",
                      job_title="Director", involvement="Running a workshop\nin <b>Hackney</b>")
    make_user(email="councillor@example.org", name="Cllr Chris Boyd", member_type="councillor",
              organisation=None, gss_code="E08000035")
    suspended = make_user(email="sid@example.org", name="Sid Suspended", show_in_directory=False)
    suspend(admin, suspended, "Posting spam")
    other.email_bounce_count, other.email_undeliverable_at = 3, utcnow()  # the staff page's undeliverable notice
    db.session.add_all([
        OutboxEmail(to_address="amara@example.org", subject="Confirm your email address", body_text="Hello",
                    status=OutboxEmail.FAILED, attempts=8, last_error="550 mailbox <unavailable> & gone",
                    user_id=other.id),
        OutboxEmail(to_address="sid@example.org", subject="Reset your password", body_text="Hello <there>",
                    status=OutboxEmail.PENDING, attempts=2, next_attempt_at=utcnow() + timedelta(days=1),
                    last_error="Connection refused"),
        OutboxEmail(to_address="member@example.org", subject="Welcome", body_text="Hello",
                    status=OutboxEmail.SENT, attempts=1),
    ])
    db.session.commit()
    return {"other": other.id, "suspended": suspended.id, "org": member.organisation_id,
            "reset_token": make_reset_token(member)}


def collect_pages(app, site) -> dict[str, tuple[int, str]]:
    """Every page (and error state) as {name: (status, html)}."""
    pages = {}

    def get(client, label, path, expected=200):
        response = client.get(path.format(**site))
        assert response.status_code == expected, f"{label} {path}: {response.status_code}"
        pages[f"{label} GET {path}"] = response.get_data(as_text=True)

    def post(client, label, path, data, expected=200):
        response = client.post_form(path.format(**site), data, token_from=path.format(**site))
        assert response.status_code == expected, f"{label} POST {path}: {response.status_code}"
        pages[f"{label} POST {path}"] = response.get_data(as_text=True)

    anon = signed_in(app, None)
    for path in ("/", "/privacy", "/accessibility", "/contact", "/auth/join", "/auth/login", "/auth/reset",
                 "/auth/reset/{reset_token}"):
        get(anon, "anonymous", path)
    get(anon, "anonymous", "/no-such-page", 404)
    get(anon, "anonymous", "/auth/confirm/not-a-real-token", 400)
    get(anon, "anonymous", "/auth/reset/not-a-real-token", 400)
    post(anon, "anonymous", "/auth/join", {"email": "not-an-email", "name": "<script>x</script>",
                                            "password": "short", "member_type": "councillor"})
    post(anon, "anonymous", "/auth/login", {"email": "nobody@example.org", "password": "wrong"})
    post(anon, "anonymous", "/auth/reset", {"email": ""})
    post(anon, "anonymous", "/auth/reset/{reset_token}", {"password": "short"})
    post(anon, "anonymous (sent)", "/auth/reset", {"email": "nobody@example.org"})
    response = anon.post("/auth/login", data={"email": "x@example.org", "password": "x"})  # no CSRF token
    pages["anonymous POST /auth/login without CSRF"] = response.get_data(as_text=True)

    member = signed_in(app, "member@example.org")
    for path in ("/members/", "/members/?q=Okonkwo", "/members/?q=zzz&type=academic", "/members/{other}",
                 "/organisations/", "/organisations/{org}", "/organisations/{org}/edit", "/account/",
                 "/account/password",
                 "/account/email", "/account/delete", "/auth/check-email"):
        get(member, "member", path)
    get(member, "member", "/staff/", 403)
    get(member, "member", "/members/{suspended}", 404)
    post(member, "member", "/account/", {"name": "", "member_type": "academic", "local_authority": "nope"})
    post(member, "member", "/account/password", {"current_password": "wrong", "new_password": "short"})
    post(member, "member", "/account/email", {"email": "bad", "password": ""})
    post(member, "member", "/account/delete", {"password": "wrong"})

    unconfirmed = signed_in(app, "unconfirmed@example.org")
    get(unconfirmed, "unconfirmed", "/account/")
    assert "Confirm your email address to take part" in pages["unconfirmed GET /account/"]

    admin = signed_in(app, "admin@example.org")
    for path in ("/staff/", "/staff/members/", "/staff/members/?q=Okonkwo&status=active", "/staff/members/{other}",
                 "/staff/members/{suspended}", "/staff/members/?email=undeliverable", "/staff/audit/",
                 "/staff/audit/?action=member.suspend",
                 "/staff/outbox/", "/staff/outbox/?status=failed", "/staff/organisations/", "/organisations/{org}"):
        get(admin, "admin", path)
    return pages


@needs_java
def test_every_page_is_valid_html(app, site, tmp_path):
    """vnu reports no errors on any page."""
    assert VNU_JAR.exists(), f"{VNU_JAR} is missing: run `npm ci`"
    pages = collect_pages(app, site)
    files = {}
    for number, (name, html) in enumerate(pages.items()):
        assert html.lstrip().lower().startswith("<!doctype html>"), f"{name} is not a whole page"
        path = tmp_path / f"page{number:02d}.html"
        path.write_text(html, encoding="utf-8")
        files[path.as_uri()] = name
    result = subprocess.run(
        ["java", "-jar", str(VNU_JAR), "--format", "json", "--stdout",
         *[str(p) for p in sorted(tmp_path.glob("*.html"))]],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(result.stdout)
    errors = [m for m in report["messages"] if m.get("type") == "error"]
    names = {Path(uri.removeprefix("file:")).name: name for uri, name in files.items()}

    def describe(message):
        page = names.get(Path(message.get("url", "").removeprefix("file:")).name, message.get("url"))
        return (f"{page} (line {message.get('lastLine')}): {message['message']}\n"
                f"    {message.get('extract', '').strip()}")

    for message in report["messages"]:
        if message.get("type") != "error":  # warnings are shown with `pytest -s`, not failed on
            print(f"vnu {message.get('subType', message.get('type'))}: {describe(message)}")
    assert not errors, f"{len(errors)} HTML errors:\n" + "\n".join(describe(m) for m in errors)
    assert result.returncode == 0, result.stderr
    assert len(pages) >= 40
