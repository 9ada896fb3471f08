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
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from kil_network.extensions import db
from tests.conftest import CSRF_RE
from tests.helpers_ids import ids, listed  # noqa: F401 - fixtures
from tests.test_security_matrix import (EXPECTED, csrf_role, changes, post_ids, signed_in,  # noqa: F401
                                        snapshot, write_method)

EXPIRED = "Your session had expired. Check your answers and send again."
BAD = {"csrf_token": "not-a-real-token"}
HX_BAD = {"HX-Request": "true", "X-CSRFToken": "not-a-real-token"}


def words(response) -> str:
    """The response's text with tags removed and entities decoded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def shows(response, value: str) -> bool:
    """The value is on the page: as text (a textarea) or as a field's value."""
    if value in words(response) or f'value="{html.escape(value)}"' in response.get_data(as_text=True):
        return True
    squeezed = "".join(html.unescape(response.get_data(as_text=True)).split()).lower()
    return "".join(value.split()).lower() in squeezed  # kept, but normalised by a filter (a postcode)


def token_in(response) -> str:
    """The CSRF token the response carries."""
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "no fresh token in the response"
    return match.group(1) or match.group(2)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- Finding 11: typed text survives a refused token ------------------------------------

def test_finding_11_evidence_form_keeps_text_when_token_refused(client, ids):
    """Written evidence posted with a bad token: the form again with every answer, a fresh token, 400."""
    from kil_network.evidence.models import Submission

    url = f"/evidence/calls/{ids['call']}/submit"
    form = {"name": "Ada Lovelace", "email": "ada@example.org", "organisation": "Analytical Engines",
            "respondent_type": "community_organisation", "local_authority": "E06000023", "topics": ["trends"],
            "text": "Referrals to local groups fell by a third.", "publication": "named"}
    before = snapshot()
    response = client.post(url, data={**form, **BAD})
    assert response.status_code == 400
    text = words(response)
    assert EXPIRED in text
    for value in ("Ada Lovelace", "ada@example.org", "Analytical Engines", "Referrals to local groups fell by a third."):
        assert shows(response, value), value
    assert changes(before, snapshot()) == {}
    # The fresh token in the page works: sending again stores it once.
    again = client.post(url, data={**form, "csrf_token": token_in(response)})
    assert again.status_code == 303
    assert count(Submission) == 2  # the fixture's and this one


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
    assert count(Vote) == 0


def test_finding_11_survey_answer_kept_when_token_refused(client, ids):
    """A survey answer with a bad token: the question again with the text typed, 400, nothing saved."""
    call = ids["call"]
    token = client.csrf_token(f"/evidence/calls/{call}/survey")
    for qid, answer in (("delivers", "no"), ("delivered_before", "yes")):
        assert client.post(f"/evidence/calls/{call}/survey/{qid}", data={"answer": answer, "csrf_token": token}).status_code == 302
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


TEXT_INPUT = re.compile(r'<input\b(?=[^>]*\bname="([^"]+)")(?![^>]*type="(?:hidden|password|radio|checkbox|submit|file)")[^>]*>'
                        r'|<textarea\b[^>]*\bname="([^"]+)"', re.S)
FORM_RE = re.compile(r'<form\b[^>]*action="([^"]*)"[^>]*>(.*?)</form>', re.S)
# Forms posted from another page (no GET on their own URL): the text fields they carry.
POSTED_FROM_ELSEWHERE = {
    "/principles/drafts/<int:draft_id>/vote": ["comment"],
    "/principles/drafts/<int:draft_id>/suggestions": ["text", "reason"],
    "/staff/workshops/<int:workshop_id>/walk-in": ["name"],
}
# Text fields that come back as the generic 400 page without what was typed, and why.
KNOWN_GAPS = {
    # A one-line reason beside a button on the member page; the staff area answers every form
    # error with a flash and a redirect, so there is no form page to re-render.
    "/staff/members/<int:member_id>/suspend": "staff action with a flash and a redirect",
    # The workshop page's register button answers errors with a flash and a redirect (H4's area).
    "/workshops/<int:workshop_id>/register": "registration answers with a flash and a redirect",
}


def text_fields(client, url: str) -> list[str]:
    """The names of the text inputs and textareas of the form on `url` that posts back to it."""
    response = client.get(url)
    if response.status_code != 200:
        return []
    for action, inner in FORM_RE.findall(response.get_data(as_text=True)):
        if urlsplit(html.unescape(action)).path in ("", urlsplit(url).path):
            names = [a or b for a, b in TEXT_INPUT.findall(inner)]
            return [n for n in names if not re.search(r"-(day|month|year|time)$", n) and n != "q"]
    return []


@pytest.mark.parametrize("rule", EXPECTED)
def test_finding_11_every_post_route_keeps_text_and_writes_nothing(app, post_ids, signed_in, rule):
    """Every state-changing route, posted with a bad token by a role it lets through.

    Answer 400; no row of any table changes; each text field typed (found on the form's own page,
    or listed in POSTED_FROM_ELSEWHERE) comes back in the response, unless KNOWN_GAPS says why not.
    """
    url_template, outcomes, form = EXPECTED[rule]
    url = url_template.format(**post_ids)
    client, _token = signed_in(csrf_role(outcomes))
    names = POSTED_FROM_ELSEWHERE.get(rule) or text_fields(client, url)
    typed = {name: f"Typed text {i} for {name}" for i, name in enumerate(names)}
    before = snapshot()
    response = client.open(url, method=write_method(app, rule), data={**form, **typed, **BAD})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert changes(before, snapshot()) == {}
    if typed and rule not in KNOWN_GAPS:
        text = words(response)
        assert EXPIRED in text, f"{rule}: {text[:300]}"
        missing = [value for value in typed.values() if not shows(response, value)]
        assert not missing, f"{rule}: lost {missing}"
