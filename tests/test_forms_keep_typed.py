"""Issue 12, "Forms that never lose what was typed": every form keeps everything typed on every
refusal and shows the GOV.UK error summary; no text is silently cut (a length limit is shown as a
character count before typing and enforced with an error).

The parametrised test goes over every state-changing route of the URL map (the routes of
tests/support/post_matrix.EXPECTED, which a test keeps equal to the URL map): each is posted
invalid, with a distinctive value typed into each of its text fields, and must come back as a page
(not a redirect) with every value typed and an error summary. The routes where this does not
apply are listed in NO_TEXT, each with the reason.
"""
import re

import pytest
import sqlalchemy as sa

from kil_network.evidence import survey
from kil_network.evidence.models import SurveyResponse
from kil_network.extensions import db
from kil_network.principles.models import Round, Suggestion, Vote
from kil_network.workshops import room
from tests.support.post_matrix import (
    EXPECTED,
    POSTED_FROM_ELSEWHERE,
    csrf_role,
    shows,
    text_fields_with_limits,
    words,
    write_method,
)
from tests.support.principles import live_workshop

SUMMARY = "data-error-summary"
HX = {"HX-Request": "true"}

# Routes with no text to keep, and why (a text field added to one of them fails the test below).
NO_TEXT = {
    "/auth/logout": "a button",
    "/auth/logout-everywhere": "a button",
    "/auth/confirm/resend": "a button",
    "/auth/reset/<token>": "passwords only, which are never shown back",
    "/account/password": "passwords only, which are never shown back",
    "/account/delete": "a password and a confirmation box",
    "/account/notifications": "checkboxes only (the notifications wanted, campaign consent)",
    "/unsubscribe/<token>": "a button (or RFC 8058's one-click body)",
    "/account/workshops/calendar": "a button (a new calendar feed address)",
    "/organisations/<int:org_id>/editors/request": "a button",
    "/organisations/<int:org_id>/editors/<int:row_id>/decide": "a choice (approve or refuse)",
    "/organisations/<int:org_id>/editors/<int:row_id>/remove": "a button",
    "/organisations/<int:org_id>/editors/appoint": "a choice of member",
    "/staff/members/<int:member_id>/reactivate": "a button",
    "/staff/members/<int:member_id>/role": "a choice of role",
    "/staff/outbox/<int:mail_id>/retry": "a button",
    "/workshops/<int:workshop_id>/cancel": "a confirmation button",
    "/staff/workshops/<int:workshop_id>/publish": "a button",
    "/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>": "a check-in button",
    "/staff/workshops/<int:workshop_id>/attendance/<int:registration_id>/undo": "a button",
    "/staff/workshops/<int:workshop_id>/live": "a button",
    "/staff/workshops/<int:workshop_id>/control": "the presenter's buttons",
    "/staff/workshops/<int:workshop_id>/attendance/sync": "JSON from the offline check-in queue",
    "/w/sign-in/<token>": "a button (the emailed link's confirmation)",
    "/principles/suggestions/<int:suggestion_id>/endorse": "a button",
    "/staff/rounds/<int:round_id>/open": "a button",
    "/staff/rounds/<int:round_id>/close": "a confirmation button",
    "/staff/rounds/<int:round_id>/adopt": "a confirmation button",
    "/evidence/calls/<int:call_id>/survey/check": "a button (the answers were typed on the question pages)",
    "/evidence/confirm/<token>": "a button",
    "/staff/rounds/<int:round_id>/reopen": "a confirmation button",
    "/staff/moderation/<item_kind>/<int:item_id>/approve": "a button",
    "/staff/messages/<int:message_id>/test": "a button (a test copy to the staff member)",
    "/staff/messages/<int:message_id>/cancel": "a button",
    "/staff/messages/<int:message_id>/send": "a button",
    "/staff/councils/<gss_code>/champions/<int:champion_id>/remove": "a button (a named champion removed on request)",
    "/staff/councils/introductions/<int:introduction_id>/handled": "a button",
    "/councils/<gss_code>/champions/<int:champion_id>/end": "a button",
    "/councils/champions/accept/<token>": "a button (the emailed invitation's confirmation)",
    "/councils/<gss_code>/assessments/new": "a confirmation button",
    "/councils/<gss_code>/assessments/<int:assessment_id>/submit": "a button (the answers were typed on the form)",
    "/councils/<gss_code>/assessments/<int:assessment_id>/publish": "a button",
    "/councils/<gss_code>/assessments/<int:assessment_id>/unpublish": "a button",
}

# Routes with typed text whose refusal is not a form error, each with the test below that checks it.
TESTED_BELOW = {
    "/staff/workshops/<int:workshop_id>/scan": "test_scan_keeps_a_refused_code (a refused ticket is the scan's "
                                              "result, shown in its panel, not a form error)",
    "/staff/messages/<int:message_id>/schedule": "test_messages.test_schedule_and_cancel_over_http (a date and "
                                                 "time only, no length limit: a refused time comes back typed)",
    "/w/<int:workshop_id>/code": "test_room_code.test_per_email_limits_still_bite_and_keep_what_was_typed "
                                 "(the six-digit sign-in code)",
    "/councils/<gss_code>/assessments/<int:assessment_id>": "test_http_journey.test_assessment_form_follows_the_"
                                                            "adopted_drafts_and_saves_a_draft (the form is a "
                                                            "Bristol councillor's: 4,001 characters of evidence "
                                                            "come back whole, with the level and an action)",
}


def typed_value(i: int, name: str, limit: int | None) -> str:
    """A distinctive value; over the field's limit when it has one (so the post is refused, and
    the whole of it must come back: nothing cut)."""
    value = f"Typed{i} {name} kept"
    if limit:
        value += " " + "x" * (limit - len(value))  # limit + 1 characters in all
    return value


# The limits of the text fields of the forms posted from another page (POSTED_FROM_ELSEWHERE).
LIMITS_ELSEWHERE = {
    "/principles/drafts/<int:draft_id>/vote": {"comment": 2000},
    "/principles/drafts/<int:draft_id>/suggestions": {"text": 2000, "reason": 2000},
    "/staff/workshops/<int:workshop_id>/walk-in": {"name": 120},
    "/workshops/<int:workshop_id>/register": {"access_needs": 1000},
    "/staff/members/<int:member_id>/suspend": {"reason": 300},
    "/staff/pledges/<int:pledge_id>": {"note": 1000},
    "/staff/councils/<gss_code>/assessments/<int:assessment_id>/review": {"comments": 4000},
    "/councils/<gss_code>/interest": {"interest-note": 1000},
    "/councils/<gss_code>/endorsement": {"endorsement-link_url": 500},
    "/councils/<gss_code>/champions": {"named-name": 200, "named-job_title": 200},
    "/councils/<gss_code>/conversations": {"conversation-title": 200, "conversation-summary": 2000},
    "/councils/<gss_code>/peers/introduce": {"message": 1000},
}


def _fields_elsewhere(rule: str) -> dict[str, int | None]:
    """The text fields (and limits) of a form posted from another page."""
    return {name: LIMITS_ELSEWHERE.get(rule, {}).get(name) for name in POSTED_FROM_ELSEWHERE[rule]}


def _room_client(app, post_ids, step: str):
    """An anonymous phone in a live workshop's room, at the email step or (a newcomer) the join step."""
    workshop = live_workshop(db.session.get(Round, post_ids["round"]))
    client = app.test_client()
    assert client.get(f"/w/{workshop.id}?code={room.current_code(workshop).code}").status_code == 303
    if step == "join":
        response = client.post_form(f"/w/{workshop.id}/email", {"email": "newcomer@example.org"})
        assert response.status_code == 200 and "newcomer@example.org" in response.get_data(as_text=True)
    return client, workshop


def _survey_text_question(client, call_id: int) -> str:
    """Answer the screening questions so a text question applies; its URL."""
    for qid, answer in (("delivers", "no"), ("delivered_before", "yes")):
        assert client.post_form(f"/evidence/calls/{call_id}/survey/{qid}", {"answer": answer}).status_code == 302
    return f"/evidence/calls/{call_id}/survey/why_stopped"


@pytest.mark.parametrize("rule", EXPECTED)
def test_every_form_keeps_what_was_typed_on_a_refusal(app, post_ids, signed_in, make_user, auth, rule):
    """An invalid post with a value typed in each text field: the form again (200, 409 or 422, not a
    redirect) with every value whole, and the GOV.UK error summary."""
    url_template, outcomes, _valid = EXPECTED[rule]
    if rule in TESTED_BELOW:
        pytest.skip(TESTED_BELOW[rule])
    if rule in NO_TEXT:  # still true: no text field on the form's page
        client, _ = signed_in(csrf_role(outcomes))
        assert rule not in POSTED_FROM_ELSEWHERE, f"{rule} carries text: test it here"
        assert not text_fields_with_limits(client, url_template.format(**post_ids)), f"{rule} has text: test it here"
        return
    url = url_template.format(**post_ids)
    extra: dict = {}
    if rule.startswith("/w/<int:workshop_id>/"):
        step = rule.rsplit("/", 1)[1]
        client, workshop = _room_client(app, post_ids, step)
        url = f"/w/{workshop.id}/{step}"
        fields = {"email": 254} if step == "email" else {"name": 120, "organisation": 160}
    elif rule == "/councils/<gss_code>/pledge":  # only a council's own members pledge
        make_user(email="cllr@example.org", member_type="councillor", gss_code="E06000023")
        client = auth.client
        assert auth.login("cllr@example.org").status_code == 302
        fields = text_fields_with_limits(client, url)
    elif rule == "/evidence/calls/<int:call_id>/survey/<question_id>":
        client = app.test_client()
        url = _survey_text_question(client, post_ids["call"])
        fields = {"answer": survey.TEXT_MAX}
    else:
        client, _ = signed_in(csrf_role(outcomes))
        fields = _fields_elsewhere(rule) if rule in POSTED_FROM_ELSEWHERE else text_fields_with_limits(client, url)
        if rule.endswith("/vote"):
            extra = {"back": "draft"}  # and no stance chosen
    assert fields, f"{rule}: no text field found; list it in NO_TEXT with the reason"
    assert any(fields.values()), f"{rule}: no field with a length limit; give it an invalid case here"
    typed = {name: typed_value(i, name, limit) for i, (name, limit) in enumerate(fields.items())}
    response = client.open(url, method=write_method(app, rule), data={**extra, **typed,
                                                                       "csrf_token": client.csrf_token()})
    body = response.get_data(as_text=True)
    assert response.status_code in (200, 409, 422), f"{rule}: {response.status_code} {response.location}"
    assert SUMMARY in body, f"{rule}: no error summary: {words(response)[:400]}"
    missing = [name for name, value in typed.items() if not shows(response, value)]
    assert not missing, f"{rule}: lost {missing}"
    assert not re.search(r"<(?:input|textarea)\b[^>]*\bmaxlength=", body), f"{rule}: a maxlength cuts typing"
    if rule in HTMX_ELSEWHERE or _posts_with_htmx(client, url):
        # The htmx post of the same form: the fragment (not a page, not HX-Redirect) carries it all.
        response = client.open(url, method=write_method(app, rule), headers=HX,
                               data={**extra, **typed, "csrf_token": client.csrf_token()})
        body = response.get_data(as_text=True)
        assert response.status_code == 422 and "HX-Redirect" not in response.headers, f"{rule} (htmx)"
        assert "<html" not in body and SUMMARY in body, f"{rule} (htmx): {words(response)[:300]}"
        missing = [name for name, value in typed.items() if not shows(response, value)]
        assert not missing, f"{rule} (htmx): lost {missing}"


# Forms posted from another page that htmx posts (the others are found on their own page).
HTMX_ELSEWHERE = {"/principles/drafts/<int:draft_id>/vote", "/workshops/<int:workshop_id>/register"}


def _posts_with_htmx(client, url: str) -> bool:
    """Does the form on `url` that posts back to it post with htmx?"""
    page = client.get(url)
    path = re.escape(url.split("?")[0])
    return page.status_code == 200 and bool(
        re.search(rf'<form\b[^>]*\bdata-hx-post="{path}(?:[?#][^"]*)?"', page.get_data(as_text=True)))


def test_every_write_route_is_in_the_matrix(app):
    """The matrix above is every state-changing route of the URL map."""
    rules = {r.rule for r in app.url_map.iter_rules() if r.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert rules == set(EXPECTED), sorted(rules ^ set(EXPECTED))
    assert set(NO_TEXT) | set(TESTED_BELOW) <= rules


def test_scan_keeps_a_refused_code(client, as_role, ids):
    """A typed ticket code that is not recognised: the scan page again with the code in the box."""
    as_role("staff")
    response = client.post_form(f"/staff/workshops/{ids['workshop']}/scan", {"code": "TYPO-CODE-42"})
    assert response.status_code == 200 and 'value="TYPO-CODE-42"' in response.get_data(as_text=True)


# --- The findings, one by one -------------------------------------------------------------------

def test_suggestion_with_empty_wording_keeps_the_reason(client, as_role, ids):
    """No wording: the draft page again (not a redirect to #suggestions) with the reason typed and
    the error summary linking to the wording box; nothing stored."""
    as_role("member")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Suggestion))
    response = client.post_form(f"/principles/drafts/{ids['draft']}/suggestions",
                                {"text": "", "reason": "Because plain words help everyone"})
    assert response.status_code == 422 and response.location is None
    body = response.get_data(as_text=True)
    assert SUMMARY in body and 'href="#text"' in body and "Enter the wording you suggest" in body
    assert "<title>Error: " in body  # GOV.UK: the title says so too
    assert "Because plain words help everyone" in words(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Suggestion)) == before


def test_suggestion_with_a_long_reason_keeps_both_whole(client, as_role, ids):
    """A "why" of 2,001 characters: refused with an error, both texts whole (not cut to 2,000)."""
    as_role("member")
    reason = "Why: " + "r" * 1996
    response = client.post_form(f"/principles/drafts/{ids['draft']}/suggestions",
                                {"text": "Say neighbourhood", "reason": reason})
    assert response.status_code == 422
    assert "Your reason must be 2,000 characters or fewer" in words(response)
    assert reason in response.get_data(as_text=True) and "Say neighbourhood" in words(response)
    assert 'data-character-count="2000"' in response.get_data(as_text=True)


@pytest.mark.parametrize("where", ["draft page", "cards page", "htmx card"])
def test_vote_comment_survives_a_missing_stance(client, as_role, ids, where):
    """A comment but no stance: the comment comes back with the error summary, in the page or the
    card htmx swaps in; no vote stored."""
    as_role("member")
    votes = db.session.scalar(sa.select(sa.func.count()).select_from(Vote))
    comment = "I would name the council in the first line"
    data = {"comment": comment, **({"back": "draft"} if where == "draft page" else {})}
    response = client.post_form(f"/principles/drafts/{ids['draft']}/vote", data,
                                headers=HX if where == "htmx card" else {})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert comment in words(response) and SUMMARY in body
    assert "Choose support, support with changes, or oppose" in words(response)
    assert re.search(r'href="#stance-(\d+-)?support"', body)  # the summary links to the first choice
    assert ("<html" in body) is (where != "htmx card")
    assert ("<title>Error: " in body) is (where != "htmx card")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vote)) == votes


def test_vote_comment_too_long_is_refused_whole(client, as_role, ids):
    """A 2,001-character comment: refused beside the comment box, kept whole."""
    as_role("member")
    comment = "c" * 2001
    response = client.post_form(f"/principles/drafts/{ids['draft']}/vote",
                                {"stance": "support", "comment": comment}, headers=HX)
    assert response.status_code == 422
    assert comment in response.get_data(as_text=True) and "Comment must be 2,000 characters or fewer" in words(response)


def test_survey_text_over_3000_characters_is_refused_and_kept(client, ids):
    """3,500 characters typed: refused with an error (not cut to 3,000 and accepted), the text whole;
    nothing saved. 3,000 are accepted."""
    url = _survey_text_question(client, ids["call"])
    long_answer = "The contracts grew. " * 175  # 3,500 characters
    assert len(long_answer) == 3500
    response = client.post_form(url, {"answer": long_answer})
    assert response.status_code == 422
    assert "Your answer must be 3,000 characters or fewer (it has 3,499)" in words(response)  # trailing space stripped
    assert long_answer.strip() in response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert SUMMARY in body and 'data-character-count="3000"' in body and "You can enter up to 3,000 characters" in body
    drafts = db.session.scalars(sa.select(SurveyResponse)).all()
    assert all("why_stopped" not in (d.answers or {}) for d in drafts)
    ok = client.post_form(url, {"answer": "x" * 3000})
    assert ok.status_code == 302


def test_survey_answer_kept_after_the_deadline(client, ids):
    """The survey closed while the answer was typed: the refusal shows the answer again."""
    from datetime import timedelta

    from kil_network.core.timeutil import utcnow
    from kil_network.evidence.models import Call

    url = _survey_text_question(client, ids["call"])
    db.session.get(Call, ids["call"]).survey_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.post_form(url, {"answer": "Typed before the deadline"})
    assert response.status_code == 422 and "Typed before the deadline" in words(response)


def test_character_count_is_shown_before_typing_without_maxlength(client, as_role, ids):
    """The count comes from the field's length validator, is there before any typing (without
    JavaScript), and no field stops typing with maxlength."""
    as_role("member")
    body = client.get(f"/principles/drafts/{ids['draft']}").get_data(as_text=True)
    assert 'id="text-info"' in body and "You can enter up to 2,000 characters" in body
    for field_id in ("text", "comment"):
        tag = re.search(rf'<textarea[^>]*\bid="{field_id}"[^>]*>', body).group(0)
        assert re.search(rf'aria-describedby="[^"]*\b{field_id}-info\b', tag), tag
    assert "maxlength" not in body
    join = client.get("/account/").get_data(as_text=True)
    assert "You can enter up to 120 characters" in join and "maxlength" not in join
    assert "js/character-count.js" in join


def test_registration_refused_keeps_access_needs(client, as_role, ids):
    """Access needs over 1,000 characters: the workshop page again (no redirect) with the text whole."""
    as_role("member")
    needs = "Step-free access please. " + "n" * 1000
    for headers in ({}, HX):
        response = client.post_form(f"/workshops/{ids['workshop']}/register", {"access_needs": needs}, headers=headers)
        assert response.status_code == 422 and response.location is None
        assert needs in response.get_data(as_text=True) and SUMMARY in response.get_data(as_text=True)


def test_pledge_review_refused_keeps_the_note(client, as_role, post_ids):
    """No decision chosen: the queue again with the note typed beside that pledge."""
    as_role("staff")
    response = client.post_form(f"/staff/pledges/{post_ids['pledge']}", {"note": "Checked with the council"})
    assert response.status_code == 422
    assert "Checked with the council" in words(response) and "Choose verify or reject" in words(response)


def test_a_rate_limit_on_a_form_shows_what_was_typed(limited_app, ids):
    """Written evidence posted past the hourly limit: the 429 page shows the text typed, to copy."""
    client = limited_app.test_client()
    url = f"/evidence/calls/{ids['call']}/submit"
    token = client.csrf_token(url)
    text = "Referrals to local groups fell by a third after the contract was re-let."
    codes = [client.post(url, data={"csrf_token": token, "text": text}).status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429
    response = client.post(url, data={"csrf_token": token, "text": text, "password": "never shown"})
    assert response.status_code == 429
    assert "What you typed" in words(response) and text in words(response) and "never shown" not in words(response)


def test_room_presence_running_out_keeps_what_was_typed(app, post_ids):
    """A newcomer's short join sent after the room code's presence ran out: the page asking for the
    code again also shows the name and organisation typed, to copy."""
    client, workshop = _room_client(app, post_ids, "join")
    with client.session_transaction() as session:
        session.pop("room_presence")
    response = client.post_form(f"/w/{workshop.id}/join", {"name": "Rhys Evans", "organisation": "Cardiff Food Bank"})
    assert response.status_code == 422
    text = words(response)
    assert "What you typed" in text and "Rhys Evans" in text and "Cardiff Food Bank" in text


def test_a_tag_over_60_characters_is_refused_not_cut(client, as_role, ids):
    """Staff review with one tag of 61 characters: refused beside the tags, every tag kept as typed."""
    from kil_network.evidence.models import Submission

    as_role("staff")
    long_tag = "t" * 61
    response = client.post_form(f"/staff/evidence/{ids['submission']}",
                                {"status": "reviewed", "tags": f"procurement, {long_tag}", "notes": "Read it"})
    assert response.status_code in (200, 422)
    assert "Each tag must be 60 characters or fewer" in words(response)
    assert f"procurement, {long_tag}" in response.get_data(as_text=True) and SUMMARY in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Submission, ids["submission"]).tags == []


@pytest.mark.parametrize("what", ["suggestion", "vote on the draft page", "vote on the cards (htmx)"])
def test_round_closed_while_typing_keeps_the_text(client, as_role, ids, what):
    """The round closed between loading the page and sending: the refusal, and the words typed, to copy."""
    from kil_network.auth.models import User
    from kil_network.principles import services as principles

    as_role("member")
    staff = db.session.scalar(sa.select(User).where(User.email == "organiser@example.org"))
    principles.close_round(staff, db.session.get(Round, ids["round"]))
    db.session.commit()
    words_typed = "Forty minutes of careful wording"
    if what == "suggestion":
        response = client.post_form(f"/principles/drafts/{ids['draft']}/suggestions",
                                    {"text": words_typed, "reason": "And why"})
    else:
        response = client.post_form(f"/principles/drafts/{ids['draft']}/vote",
                                    {"stance": "amend", "comment": words_typed,
                                     **({"back": "draft"} if "draft page" in what else {})},
                                    headers=HX if "htmx" in what else {})
    assert response.status_code == 422
    assert words_typed in words(response) and "What you typed" in words(response)


def test_length_limit_reads_the_fields_validators(app):
    """The character count's limit: a Length's max or a MaxLength's limit (the smaller of both), or None."""
    from flask_wtf import FlaskForm
    from wtforms import StringField
    from wtforms.validators import DataRequired, Length

    from kil_network.core.forms import MaxLength, length_limit

    class Sample(FlaskForm):
        both = StringField(validators=[Length(max=300), MaxLength(200, "Both")])
        length = StringField(validators=[Length(min=10, max=128)])
        minimum_only = StringField(validators=[Length(min=3)])
        neither = StringField(validators=[DataRequired()])

    with app.test_request_context():
        form = Sample(meta={"csrf": False})
        assert [length_limit(f) for f in (form.both, form.length, form.minimum_only, form.neither)] == \
            [200, 128, None, None]


def test_a_server_error_on_a_form_shows_what_was_typed(fresh_app):
    """A post that fails unexpectedly: the 500 page lists what was typed (never a password)."""
    app = fresh_app

    @app.post("/test-boom-form")
    def boom_form():
        """Fail while handling a form."""
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    response = client.post("/test-boom-form", data={"csrf_token": client.csrf_token(), "text": "An hour of writing",
                                                    "password": "correct horse battery"})
    assert response.status_code == 500
    assert "What you typed" in words(response) and "An hour of writing" in words(response)
    assert "correct horse battery" not in response.get_data(as_text=True)
