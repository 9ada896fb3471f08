"""Issue 9, findings 11 and 13: forms that keep what was typed, and create forms that act once.

Finding 11: a post whose CSRF token is refused (expired session, wrong token) comes back as the
same form with what was typed, a fresh token and "Your session had expired...", status 400, and
nothing written (core/csrf.py). Finding 13: a create form carries a one-time submission key, so
posting it twice (a double click, two identical posts at once) creates one row and sends one
email (core/submissions.py).
"""
import html
import re
import threading

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from kil_network.councils.models import Pledge
from kil_network.evidence.models import Call, Submission, SurveyResponse
from kil_network.extensions import db
from kil_network.principles.models import Endorsement, Round, Suggestion
from kil_network.workshops.models import Registration, Workshop
from tests.support.app import CSRF_RE
from tests.support.browser import sign_in
from tests.support.post_matrix import (
    CSRF_EXEMPT,
    EXPECTED,
    FORM_RE,
    POSTED_FROM_ELSEWHERE,
    changes,
    csrf_role,
    shows,
    snapshot,
    text_fields,
    words,
    write_method,
)
from tests.support.principles import card, open_round

EXPIRED = "Your session had expired. Check your answers and send again."
BAD = {"csrf_token": "not-a-real-token"}
HX_BAD = {"HX-Request": "true", "X-CSRFToken": "not-a-real-token"}


def token_in(response) -> str:
    """The CSRF token the response carries."""
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "no fresh token in the response"
    return match.group(1) or match.group(2)


def count(model) -> int:
    """Rows of a model (or of a (model, condition) pair)."""
    model, *where = model if isinstance(model, tuple) else (model,)
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# --- Finding 11: typed text survives a refused token ------------------------------------

def test_finding_11_evidence_form_keeps_text_when_token_refused(client, ids):
    """Written evidence posted with a bad token: the form again with every answer, a fresh token, 400."""
    from kil_network.evidence.models import Submission

    url = f"/evidence/calls/{ids['call']}/submit"
    form = {"name": "Ada Lovelace", "email": "ada@example.org", "organisation": "Analytical Engines",
            "respondent_type": "community_organisation", "local_authority": "E06000023", "topics": ["trends"],
            "text": "Referrals to local groups fell by a third.", "publication": "named"}
    before, submissions = snapshot(), count(Submission)
    response = client.post(url, data={**form, **BAD})
    assert response.status_code == 400
    text = words(response)
    assert EXPIRED in text
    for value in ("Ada Lovelace", "ada@example.org", "Analytical Engines",
                  "Referrals to local groups fell by a third."):
        assert shows(response, value), value
    assert changes(before, snapshot()) == {}
    # The fresh token in the page works: sending again stores it once.
    again = client.post(url, data={**form, "csrf_token": token_in(response)})
    assert again.status_code == 303
    assert count(Submission) == submissions + 1  # once


def test_finding_11_suggestion_keeps_text_when_token_refused(client, as_role, ids):
    """A suggestion with a bad token: the draft page with the wording and reason typed, 400, nothing stored."""
    from kil_network.principles.models import Suggestion

    as_role("member")
    before = snapshot()
    response = client.post(f"/principles/drafts/{ids['draft']}/suggestions",
                           data={"text": "Say neighbourhood, not locality", "reason": "Plainer English", **BAD})
    assert response.status_code == 400
    text = words(response)
    assert EXPIRED in text and "Say neighbourhood, not locality" in text and "Plainer English" in text
    assert changes(before, snapshot()) == {}
    assert count(Suggestion) == 1


def test_finding_11_htmx_vote_card_keeps_comment_when_token_refused(client, as_role, ids):
    """The htmx vote with a bad header token: the card comes back with the comment, the stance and the message."""
    from kil_network.principles.models import Vote

    as_role("member")
    before = snapshot()
    response = client.post(f"/principles/drafts/{ids['draft']}/vote",
                           data={"stance": "amend", "comment": "Name the council, please"}, headers=HX_BAD)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "<html" not in body and f'id="draft-{ids["draft"]}"' in body  # the card, for htmx to swap in
    assert EXPIRED in words(response) and "Name the council, please" in words(response)
    assert re.search(r'value="amend"[^>]* checked', body)
    assert changes(before, snapshot()) == {}
    assert db.session.scalar(sa.select(Vote.id).where(Vote.comment == "Name the council, please")) is None


def test_finding_11_survey_answer_kept_when_token_refused(client, ids):
    """A survey answer with a bad token: the question again with the text typed, 400, nothing saved."""
    call = ids["call"]
    token = client.csrf_token(f"/evidence/calls/{call}/survey")
    for qid, answer in (("delivers", "no"), ("delivered_before", "yes")):
        assert client.post(f"/evidence/calls/{call}/survey/{qid}",
                           data={"answer": answer, "csrf_token": token}).status_code == 302
    before = snapshot()
    response = client.post(f"/evidence/calls/{call}/survey/why_stopped",
                           data={"answer": "The contracts became too large for us.", **BAD})
    assert response.status_code == 400
    assert EXPIRED in words(response) and "The contracts became too large for us." in words(response)
    assert changes(before, snapshot()) == {}


def test_finding_11_plain_button_post_refused_and_session_kept(client, as_role):
    """A post with no form to re-render (sign out) gets the generic 400 page and signs nobody out."""
    as_role("member")
    response = client.post("/auth/logout", data=BAD)
    assert response.status_code == 400
    assert "The form had expired or was sent from somewhere else" in words(response)
    assert client.get("/account/").status_code == 200  # still signed in


def test_finding_11_signed_out_member_keeps_text(client, ids):
    """A member whose session ended (signed out) sends a suggestion: not a bare redirect to sign in
    that drops it, but a 400 page showing what was typed; nothing stored."""
    before = snapshot()
    response = client.post(f"/principles/drafts/{ids['draft']}/suggestions",
                           data={"text": "Words I spent ten minutes on", "reason": "And my reasons", **BAD})
    assert response.status_code == 400
    assert "Words I spent ten minutes on" in words(response) and "And my reasons" in words(response)
    assert changes(before, snapshot()) == {}


def test_finding_11_refused_page_never_shows_a_password(client, as_role):
    """The 400 page shows what was posted, but never a password field."""
    as_role("member")
    response = client.post("/auth/logout", data={"password": "correct horse battery", "note": "Keep this", **BAD})
    assert response.status_code == 400
    assert "Keep this" in words(response) and "correct horse battery" not in response.get_data(as_text=True)


@pytest.mark.parametrize("rule", EXPECTED)
def test_finding_11_every_post_route_keeps_text_and_writes_nothing(app, post_ids, signed_in, rule):
    """Every state-changing route, posted with a bad token by a role it lets through.

    Answer 400; no row of any table changes; each text field typed (found on the form's own page,
    or listed in POSTED_FROM_ELSEWHERE) comes back in the response: in the form again, or (a view
    that answers errors with a redirect) on the 400 page under "What you typed".
    """
    if rule in CSRF_EXEMPT:
        pytest.skip(CSRF_EXEMPT[rule])
    url_template, outcomes, form = EXPECTED[rule]
    url = url_template.format(**post_ids)
    client, _token = signed_in(csrf_role(outcomes))
    names = POSTED_FROM_ELSEWHERE.get(rule) or text_fields(client, url)
    typed = {name: f"Typed text {i} for {name}" for i, name in enumerate(names)}
    before = snapshot()
    response = client.open(url, method=write_method(app, rule), data={**form, **typed, **BAD})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert changes(before, snapshot()) == {}
    if typed:
        text = words(response)
        assert EXPIRED in text or "What you typed" in text, f"{rule}: {text[:300]}"
        missing = [value for value in typed.values() if not shows(response, value)]
        assert not missing, f"{rule}: lost {missing}"


# --- Finding 13: a create form posted twice creates one thing ---------------------------

KEY_RE = re.compile(r'name="submission_key" value="([^"]+)"')
NEXT_YEAR = str(__import__("datetime").date.today().year + 1)


def _models():
    """The models the scenes count, by class name."""
    return {model.__name__: model for model in
            (Pledge, Call, Submission, SurveyResponse, Endorsement, Round, Suggestion, Registration, Workshop)}


def _scene(name, client, ids, make_user, auth):
    """Sign in as the form's user; return (the page with the form, the URL it posts to, the data, the model)."""
    from kil_network.evidence import services as evidence
    from kil_network.evidence.models import Call

    models = _models()
    staff = ("staff@example.org", "staff")
    if name == "suggestion":
        who, page, url = ("member@example.org", "member"), f"/principles/drafts/{ids['draft']}", \
            f"/principles/drafts/{ids['draft']}/suggestions"
        data, model = {"text": "Say neighbourhood", "reason": "Plainer"}, models["Suggestion"]
    elif name == "endorsement":
        who, page, url = ("member@example.org", "member"), f"/principles/drafts/{ids['draft']}", \
            f"/principles/suggestions/{ids['suggestion']}/endorse"
        data, model = {}, models["Endorsement"]
    elif name == "evidence":
        who, page = None, f"/evidence/calls/{ids['call']}/submit"
        url, model = page, models["Submission"]
        data = {"name": "Ada Lovelace", "email": "ada@example.org", "organisation": "", "respondent_type": "academic",
                "local_authority": "", "topics": ["trends"], "text": "Referrals fell by a third.",
                "publication": "named"}
    elif name == "survey":
        who, page = ("member@example.org", "member"), f"/evidence/calls/{ids['call']}/survey/check"
        url, data = page, {}
        model = (models["SurveyResponse"], models["SurveyResponse"].status == "submitted")
    elif name == "walk-in":
        who, page = staff, f"/staff/workshops/{ids['workshop']}/attendance"
        url, model = f"/staff/workshops/{ids['workshop']}/walk-in", models["Registration"]
        data = {"name": "Wanda Walk-in", "email": "wanda@example.org", "member_type": "academic"}
    elif name == "workshop":
        who, page, url, model = staff, "/staff/workshops/new", "/staff/workshops/new", models["Workshop"]
        data = {"title": "Commissioning locally", "description": "Three hours.", "region": "", "format": "online",
                "venue": "", "address": "", "postcode": "", "online_url": "https://meet.example.org/kil",
                "starts_at-day": "15", "starts_at-month": "7", "starts_at-year": NEXT_YEAR, "starts_at-time": "18:30",
                "ends_at-day": "15", "ends_at-month": "7", "ends_at-year": NEXT_YEAR, "ends_at-time": "21:00",
                "registration_closes_at-day": "14", "registration_closes_at-month": "7",
                "registration_closes_at-year": NEXT_YEAR, "registration_closes_at-time": "12:00",
                "capacity": "30", "mix_max_percent": "", "accessibility_info": ""}
    elif name == "round":
        who, page, url, model = staff, "/staff/rounds/new", "/staff/rounds/new", models["Round"]
        data = {"name": "Round three", "introduction": "", "closes_at-day": "1", "closes_at-month": "3",
                "closes_at-year": NEXT_YEAR, "closes_at-time": "17:00", "eligibility": "members"}
    elif name == "call":
        who, page, url, model = staff, "/staff/evidence/calls/new", "/staff/evidence/calls/new", models["Call"]
        data = {"title": "Keep it Local 2030", "introduction": "Tell us.", "asks": "Evidence.",
                "opens_at-day": "1", "opens_at-month": "7", "opens_at-year": NEXT_YEAR, "opens_at-time": "09:00",
                "survey_closes_at-day": "17", "survey_closes_at-month": "7", "survey_closes_at-year": NEXT_YEAR,
                "survey_closes_at-time": "23:59", "written_closes_at-day": "31", "written_closes_at-month": "7",
                "written_closes_at-year": NEXT_YEAR, "written_closes_at-time": "23:59"}
    elif name == "pledge":
        who, page = ("cllr@example.org", "councillor"), "/councils/E06000023/pledge"
        url, model = page, models["Pledge"]
        data = {"signed_by": "leader_and_chief_executive", "signatories": "Cllr Jane Smith, Leader",
                "pledged_on-day": "27", "pledged_on-month": "3", "pledged_on-year": "2025",
                "champions": "Cllr Priya Patel"}
    if who:
        email, kind = who
        user = make_user(email=email, role=kind if kind == "staff" else "member",
                         member_type="councillor" if kind == "councillor" else "community_organisation")
        assert auth.login(email).status_code == 302
        if name == "survey":
            evidence.save_member_answers(db.session.get(Call, ids["call"]), user, {
                "delivers": "yes", "council_role": "neither", "contract_size": "under_100k", "contract_length": "1_3",
                "barriers": ["size", "price"], "large_contracts": "A prime contractor took it.",
                "what_would_help": "Grants.", "region": str(db.session.scalar(sa.text("SELECT min(id) FROM regions")))})
            db.session.commit()
    return page, url, data, model


def _form_page(client, page, url):
    """The CSRF token and the submission key of the form posting to `url` on `page`."""
    body = client.get(page).get_data(as_text=True)
    for action, inner in FORM_RE.findall(body):
        if html.unescape(action).split("#")[0] == url:  # a fragment opens the refused page at the form
            key = KEY_RE.search(inner)
            assert key, f"no submission key in the form posting to {url}"
            return CSRF_RE.search(body).group(1) or CSRF_RE.search(body).group(2), key.group(1)
    raise AssertionError(f"no form posting to {url} on {page}")


def _outbox() -> int:
    from kil_network.core.models import OutboxEmail

    return count(OutboxEmail)


CREATE_FORMS = ["suggestion", "endorsement", "evidence", "survey", "walk-in", "workshop", "round", "call", "pledge"]


@pytest.mark.parametrize("name", CREATE_FORMS)
def test_finding_13_create_form_posted_twice_makes_one(client, ids, make_user, auth, name):
    """The same form posted twice (a double click, a resend): one row, one email, both sent to the result."""
    page, url, data, model = _scene(name, client, ids, make_user, auth)
    token, key = _form_page(client, page, url)
    rows, mails = count(model), _outbox()
    first = client.post(url, data={**data, "csrf_token": token, "submission_key": key})
    assert first.status_code == 303, words(first)[:500]
    made_mail = _outbox() - mails
    second = client.post(url, data={**data, "csrf_token": token, "submission_key": key})
    assert second.status_code == 303, words(second)[:500]
    assert second.headers["Location"] == first.headers["Location"]
    assert count(model) == rows + 1
    assert _outbox() - mails == made_mail
    if name in ("suggestion", "evidence", "walk-in", "workshop", "round", "call"):
        # A fresh form gets a fresh key: a deliberate second one is still possible.
        assert _form_page(client, page, url)[1] != key


def test_finding_13_evidence_posted_twice_sends_one_email(client, ids):
    """Written evidence posted twice sends its email once."""
    _page, url, data, model = _scene("evidence", client, ids, None, None)
    token, key = _form_page(client, url, url)
    mails = _outbox()
    for _ in range(2):
        assert client.post(url, data={**data, "csrf_token": token, "submission_key": key}).status_code == 303
    assert _outbox() - mails == 1


def test_finding_13_key_kept_when_the_form_comes_back_with_errors(client, ids):
    """A form with an error comes back with the same key, so fixing it and sending saves it once."""
    url = f"/evidence/calls/{ids['call']}/submit"
    token, key = _form_page(client, url, url)
    response = client.post(url, data={"csrf_token": token, "submission_key": key, "name": "Ada"})
    assert f'name="submission_key" value="{key}"' in response.get_data(as_text=True)


@pytest.mark.postgresql_only
@pytest.mark.parametrize("name", CREATE_FORMS)
def test_finding_13_identical_posts_at_the_same_moment_make_one(app, thread_app, client, ids, make_user, auth,
                                                                database_url, name):
    """Several identical posts released together: one row, one email; every one sent to the same result.

    On PostgreSQL the unique key decides (the losers wait for the winner's commit, roll back and
    answer with its result); SQLite queues its writers."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is decided by PostgreSQL's unique index; SQLite serialises writers")
    page, url, data, model = _scene(name, client, ids, make_user, auth)
    token, key = _form_page(client, page, url)
    cookie = client.get_cookie("session")
    rows, mails = count(model), _outbox()
    threads_n = 6
    barrier = threading.Barrier(threads_n)
    results, errors = [], []

    def post():
        try:
            other = thread_app.test_client()
            if cookie is not None:
                other.set_cookie("session", cookie.value)
            barrier.wait(timeout=30)
            response = other.post(url, data={**data, "csrf_token": token, "submission_key": key})
            results.append((response.status_code, response.headers.get("Location")))
        except Exception as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=post) for _ in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    assert not errors, errors
    assert len(results) == threads_n and {status for status, _ in results} == {303}, results
    assert len({location for _, location in results}) == 1, results
    db.session.expire_all()
    assert count(model) == rows + 1
    assert _outbox() - mails <= 1


@pytest.mark.browser
def test_finding_11_browser_vote_card_keeps_comment_after_token_broken(page, make_user):
    """In Chromium: the token is broken, the member votes with a comment; htmx swaps the card back
    with the comment, the stance and the message; sending again (its fresh token) saves the vote."""
    staff = make_user(email="staff@example.org", role="staff")
    make_user(email="nia@example.org", name="Nia Roberts", member_type="councillor")
    open_round(staff)
    sign_in(page, "nia@example.org")
    page.goto("/principles/")
    page.evaluate("""() => {
        document.querySelectorAll('input[name=csrf_token]').forEach(i => { i.value = 'broken'; });
        document.body.setAttribute('data-hx-headers', '{"X-CSRFToken": "broken"}');
        window.__marker = 1;
    }""")
    item = card(page, 2)
    item.get_by_label("Support with changes", exact=True).check()
    item.get_by_label("Comment (optional)").fill("Say which neighbourhood, please.")
    with page.expect_response(lambda r: r.url.endswith("/vote") and r.request.method == "POST") as info:
        item.get_by_role("button", name="Save my vote on principle 2").click()
    assert info.value.status == 400
    item = card(page, 2)
    expect(item.get_by_role("alert")).to_contain_text(EXPIRED)  # the error summary (issue 12)
    expect(item.locator("[data-error-summary]")).to_be_focused()
    expect(item.get_by_label("Comment (optional)")).to_have_value("Say which neighbourhood, please.")
    expect(item.get_by_label("Support with changes", exact=True)).to_be_checked()
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    with page.expect_response(lambda r: r.url.endswith("/vote") and r.request.method == "POST") as info:
        item.get_by_role("button", name="Save my vote on principle 2").click()
    assert info.value.status == 200
    expect(card(page, 2).locator(".principle-card__vote")).to_have_text("Your vote: Support with changes")
    page.reload()
    expect(card(page, 2).get_by_label("Comment (optional)")).to_have_value("Say which neighbourhood, please.")
    assert page.js_errors == []
