"""Principles over HTTP, per role: the current round's cards and voting (htmx and without JS), draft
pages with suggestions and endorsements, results, CSV, history, "you said, we did", the staff round
screens, responses and the live projector, and query counts that do not grow with the votes."""
import csv
import html
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kil_network.core.models import AuditLog
from kil_network.core.timeutil import to_london, utcnow
from kil_network.extensions import db
from kil_network.principles import moderation, services
from kil_network.principles.models import (
    Draft,
    Eligibility,
    Endorsement,
    ResponseStatus,
    Round,
    RoundState,
    Stance,
    Suggestion,
    Vote,
)
from kil_network.principles.tallies import SUPPRESS_BELOW
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat, WorkshopStatus
from tests.support.db import count, counting_queries

HX = {"HX-Request": "true"}
ROLES = ["anonymous", "unconfirmed", "member", "staff", "admin"]
PARTICIPANTS = ["member", "staff", "admin"]


def text(response) -> str:
    """The response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def words(response) -> str:
    """The visible text of a response: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def flashes(client, url="/principles/") -> str:
    """The page's visible text, including the flashed message left by the last redirect."""
    return words(client.get(url))


@pytest.fixture
def organiser(make_user):
    """The member of staff who runs the rounds (not the one signed in)."""
    return make_user(email="organiser@example.org", name="Olu Organiser", role="staff")


@pytest.fixture
def make_round(organiser):
    """Create a round through the services in a state, optionally with new wording, and commit."""
    counter = {"n": 0}

    def factory(state="open", *, texts=None, eligibility=Eligibility.MEMBERS):
        counter["n"] += 1
        round_ = services.create_round(organiser, name=f"Round {counter['n']}", eligibility=eligibility,
                                       closes_at=utcnow() + timedelta(days=30))
        if texts:
            drafts = {d.number: d for d in services.drafts_of(round_)}
            services.update_round(organiser, round_, name=round_.name, introduction="", opens_at=None,
                                  closes_at=round_.closes_at, eligibility=eligibility,
                                  drafts={drafts[n].id: {"title": f"Principle title {n}", "text": t, "what_changed": ""}
                                          for n, t in texts.items()})
        if state in ("open", "closed"):
            services.open_round_for_votes(organiser, round_)
        if state == "closed":
            services.close_round(organiser, round_)
        db.session.commit()
        return round_

    return factory


@pytest.fixture
def make_workshop():
    """A published workshop happening now, linked to a round, with live voting on or off."""

    def factory(round_, *, live=True, title="Leeds principles workshop"):
        starts = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
        workshop = Workshop(title=title, format=WorkshopFormat.IN_PERSON, starts_at=starts,
                            ends_at=starts + timedelta(hours=2), registration_closes_at=starts - timedelta(days=1),
                            capacity=50, status=WorkshopStatus.PUBLISHED, round_id=round_.id if round_ else None,
                            live_voting=live, venue="Leeds Civic Hall", postcode="LS1 1UR")
        db.session.add(workshop)
        db.session.commit()
        return workshop

    return factory


@pytest.fixture
def voters(make_people):
    """Make n confirmed members (each call makes new people)."""
    return make_people


def cast(user, draft, stance="support", comment="", workshop=None):
    """Cast a vote through the services and commit; through a workshop, as an attendee checked in there
    (only attendees count in a workshop's tally)."""
    if workshop is not None:
        check_in_at(workshop, user)
    services.cast_vote(user, draft, Stance(stance), comment, workshop)
    db.session.commit()


def check_in_at(workshop_id, user):
    """Give the member a confirmed place at the workshop, checked in (once)."""
    if db.session.scalar(sa.select(Registration.id).where(
            Registration.workshop_id == workshop_id, Registration.user_id == user.id)) is None:
        db.session.add(Registration(workshop_id=workshop_id, user_id=user.id, member_type=user.member_type,
                                    state=RegistrationState.CONFIRMED, checked_in_at=utcnow()))
        db.session.commit()


def drafts(round_) -> list[Draft]:
    """The round's drafts in order."""
    return services.drafts_of(round_)


# --- /principles/ -------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_index_with_an_open_round(client, as_role, make_round, role):
    """Every role sees the six cards and the progress line; only confirmed members get vote forms."""
    round_ = make_round("open")
    as_role(role)
    response = client.get("/principles/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert round_.name in body
    assert body.count('class="card principle-card"') == 6
    for draft in drafts(round_):
        assert f'id="draft-{draft.id}"' in body
    assert "You have responded to 0 of 6" in words(response)
    if role in PARTICIPANTS:
        assert body.count('name="stance"') == 18
    else:
        assert 'name="stance"' not in body
        assert {"anonymous": "Sign in to take part.",
                "unconfirmed": "Confirm your email address"}[role] in words(response)


@pytest.mark.parametrize("role", PARTICIPANTS)
def test_index_shows_own_votes_and_progress(client, as_role, make_round, voters, role):
    """The member's own votes show on their cards and the progress line counts them (not other people's)."""
    round_ = make_round("open")
    me = as_role(role)
    six = drafts(round_)
    cast(me, six[0], "support")
    cast(me, six[3], "oppose", "Too vague")
    for other in voters(2):
        cast(other, six[1], "amend")
    response = client.get("/principles/")
    page = words(response)
    assert "You have responded to 2 of 6" in page
    assert "Your vote: Support" in page and "Your vote: Oppose" in page
    assert "Your vote: Support with changes" not in page
    assert "Too vague" in text(response)


def test_index_without_open_round_shows_the_adopted_six(client, make_round, organiser):
    """After adoption /principles/ shows the adopted six, not a later draft round."""
    adopted = make_round("closed", texts={n: f"Adopted wording number {n}" for n in range(1, 7)})
    services.adopt_round(organiser, adopted)
    db.session.commit()
    make_round("draft", texts={1: "Staff-only next wording"})
    page = words(client.get("/principles/"))
    assert "The six Keep it Local principles" in page
    assert all(f"Adopted wording number {n}" in page for n in range(1, 7))
    assert "Staff-only next wording" not in page
    assert 'name="stance"' not in client.get("/principles/").get_data(as_text=True)


def test_index_without_open_round_shows_the_latest_drafts(client, make_round):
    """With nothing open or adopted, the latest closed round's drafts are shown with a link to results."""
    make_round("closed", texts={1: "Old first wording"})
    latest = make_round("closed", texts={1: "Newer first wording"})
    response = client.get("/principles/")
    page = words(response)
    assert "No round is open for votes" in page and f"These are the drafts from {latest.name}" in page
    assert "Newer first wording" in page and "Old first wording" not in page
    assert f"/principles/rounds/{latest.id}/results" in response.get_data(as_text=True)


def test_index_with_no_rounds_at_all(client):
    """A fresh site still answers /principles/."""
    response = client.get("/principles/")
    assert response.status_code == 200
    assert "No round is open for votes" in words(response)


def test_home_page_shows_adopted_principles(client, make_round, organiser):
    """Once adopted, the home page shows the adopted wording."""
    adopted = make_round("closed", texts={3: "Spend locally to grow the local economy"})
    services.adopt_round(organiser, adopted)
    db.session.commit()
    assert "Spend locally to grow the local economy" in words(client.get("/"))


# --- Voting -------------------------------------------------------------------------------

def test_anonymous_vote_goes_to_sign_in(client, make_round):
    """Not signed in: redirected to sign in, nothing stored."""
    draft = drafts(make_round())[0]
    response = client.post_form(f"/principles/drafts/{draft.id}/vote", {"stance": "support"})
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")
    assert count(Vote) == 0


def test_unconfirmed_vote_refused_with_message(client, as_role, make_round):
    """An unconfirmed member is told to confirm their email; nothing stored."""
    draft = drafts(make_round())[0]
    as_role("unconfirmed")
    response = client.post_form(f"/principles/drafts/{draft.id}/vote", {"stance": "support"})
    assert response.status_code == 422  # the page again, with the message (finding 11: nothing typed is lost)
    assert "Confirm your email address to take part." in words(response)
    assert count(Vote) == 0
    response = client.post_form(f"/principles/drafts/{draft.id}/vote", {"stance": "support"}, headers=HX)
    assert response.status_code == 422
    assert "Confirm your email address to take part." in words(response)
    assert count(Vote) == 0


@pytest.mark.parametrize("role", PARTICIPANTS)
def test_vote_without_javascript_redirects_back(client, as_role, make_round, role):
    """A plain form post stores the vote and redirects (303) back to the card."""
    draft = drafts(make_round())[2]
    me = as_role(role)
    response = client.post_form(f"/principles/drafts/{draft.id}/vote", {"stance": "amend", "comment": "Nearly"})
    assert response.status_code == 303
    assert response.location == f"/principles/#draft-{draft.id}"
    vote = db.session.scalar(sa.select(Vote))
    assert (vote.user_id, vote.draft_id, vote.stance, vote.comment) == (me.id, draft.id, Stance.AMEND, "Nearly")
    assert "Your vote has been saved." in flashes(client)


def test_vote_from_draft_page_returns_there(client, as_role, make_round):
    """A vote posted from the draft page (back=draft) returns to the draft page."""
    draft = drafts(make_round())[0]
    as_role("member")
    response = client.post_form(f"/principles/drafts/{draft.id}/vote", {"stance": "oppose", "back": "draft"})
    assert response.status_code == 303 and response.location == f"/principles/drafts/{draft.id}"


def test_vote_with_htmx_returns_the_card_and_progress(client, as_role, make_round):
    """htmx gets 200 with just the card and an out-of-band progress line; a second vote changes it."""
    six = drafts(make_round())
    as_role("member")
    response = client.post_form(f"/principles/drafts/{six[1].id}/vote", {"stance": "support"}, headers=HX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and body.count('class="card principle-card"') == 1
    assert f'id="draft-{six[1].id}"' in body
    progress = re.search(r'<p id="progress"[^>]*>.*?</p>', body, re.S).group(0)
    assert 'data-hx-swap-oob="true"' in progress
    assert "You have responded to 1 of 6" in words(response)
    assert "Your vote: Support" in words(response) and "Vote saved." in words(response)
    response = client.post_form(f"/principles/drafts/{six[4].id}/vote", {"stance": "oppose"}, headers=HX)
    assert "You have responded to 2 of 6" in words(response)
    assert count(Vote) == 2


@pytest.mark.parametrize("stance", ["maybe", "", "SUPPORT"])
def test_invalid_stance_with_htmx_is_422(client, as_role, make_round, stance):
    """A stance outside the three values: 422, the card with the error, nothing stored."""
    draft = drafts(make_round())[0]
    as_role("member")
    data = {"stance": stance} if stance else {}
    response = client.post_form(f"/principles/drafts/{draft.id}/vote", data, headers=HX)
    assert response.status_code == 422
    assert f'id="draft-{draft.id}"' in response.get_data(as_text=True)
    assert "Choose support, support with changes, or oppose" in words(response)
    assert count(Vote) == 0


def test_invalid_stance_without_javascript(client, as_role, make_round):
    """Without JS the page comes back with the message and the comment typed; nothing stored."""
    draft = drafts(make_round())[0]
    as_role("member")
    response = client.post_form(f"/principles/drafts/{draft.id}/vote",
                                {"stance": "abstain", "comment": "Keep my words"})
    assert response.status_code == 422
    assert "Choose support, support with changes, or oppose" in words(response)
    assert "Keep my words" in words(response)
    assert count(Vote) == 0


def test_vote_without_csrf_token_refused(client, as_role, make_round):
    """A post without the CSRF token is refused and stores nothing."""
    draft = drafts(make_round())[0]
    as_role("member")
    response = client.post(f"/principles/drafts/{draft.id}/vote", data={"stance": "support"})
    assert response.status_code == 400
    assert count(Vote) == 0


def test_vote_on_closed_round_refused(client, as_role, make_round):
    """A draft of a closed round: 'has closed', nothing stored."""
    closed = make_round("closed")
    make_round("open")
    as_role("member")
    response = client.post_form(f"/principles/drafts/{drafts(closed)[0].id}/vote", {"stance": "support"}, headers=HX)
    assert response.status_code == 422
    assert "This round has closed" in words(response)
    assert count(Vote) == 0


def test_vote_on_staff_only_draft_round_is_404(client, as_role, make_round):
    """Members cannot even see drafts of a round staff are still preparing."""
    draft_round = make_round("draft")
    as_role("member")
    assert client.post_form(f"/principles/drafts/{drafts(draft_round)[0].id}/vote",
                            {"stance": "support"}).status_code == 404
    assert client.get(f"/principles/drafts/{drafts(draft_round)[0].id}").status_code == 404
    assert count(Vote) == 0


def test_attendees_only_round_refuses_non_attendees(client, as_role, make_round):
    """An attendees-only round explains who can take part and stores nothing for others."""
    round_ = make_round("open", eligibility=Eligibility.ATTENDEES)
    as_role("member")
    page = words(client.get("/principles/"))
    assert "Only members who attended one of this round's workshops" in page
    response = client.post_form(f"/principles/drafts/{drafts(round_)[0].id}/vote", {"stance": "support"}, headers=HX)
    assert response.status_code == 422 and count(Vote) == 0


def test_vote_through_workshop_link_recorded_with_workshop(client, as_role, make_round, make_workshop):
    """The hidden workshop field from the /w/ link records the vote with a live workshop."""
    round_ = make_round()
    workshop = make_workshop(round_)
    check_in_at(workshop.id, as_role("member"))
    page = client.get(f"/principles/?workshop={workshop.id}").get_data(as_text=True)
    assert f'name="workshop" value="{workshop.id}"' in page
    response = client.post_form(f"/principles/drafts/{drafts(round_)[0].id}/vote",
                                {"stance": "support", "workshop": str(workshop.id)})
    assert response.location == f"/principles/?workshop={workshop.id}#draft-{drafts(round_)[0].id}"
    assert db.session.scalar(sa.select(Vote.workshop_id)) == workshop.id


def test_comment_is_escaped(client, as_role, make_round):
    """A comment is plain text: shown escaped, never as markup."""
    draft = drafts(make_round())[0]
    as_role("member")
    client.post_form(f"/principles/drafts/{draft.id}/vote",
                     {"stance": "support", "comment": "<script>alert(1)</script>"})
    body = client.get("/principles/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_workshop_short_link_redirects_to_voting(client, make_round, make_workshop):
    """/w/<id> (the projector's short URL) takes a phone to the voting page for that workshop."""
    workshop = make_workshop(make_round())
    response = client.get(f"/w/{workshop.id}")
    assert response.status_code == 302
    assert response.location == f"/principles/?workshop={workshop.id}"


# --- Draft page, suggestions, endorsements ------------------------------------------------

def test_draft_page_sorts_suggestions_by_endorsements(client, as_role, make_round, voters, organiser):
    """Suggestions are listed most endorsed first, each with an endorse button for other members."""
    round_ = make_round()
    draft = drafts(round_)[0]
    authors = voters(3)
    fans = voters(3)
    few = services.suggest(authors[0], draft, "Wording with no endorsements")
    most = services.suggest(authors[1], draft, "Wording with two endorsements")
    some = services.suggest(authors[2], draft, "Wording with one endorsement")
    for published in (few, most, some):
        moderation.approve(organiser, published)  # only published suggestions are listed
    for fan in fans[:2]:
        services.endorse(fan, most)
    services.endorse(fans[2], some)
    db.session.commit()
    me = as_role("member")
    mine = services.suggest(me, draft, "My own wording")
    db.session.commit()
    response = client.get(f"/principles/drafts/{draft.id}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    positions = [body.index(f'id="suggestion-{s.id}"') for s in (most, some, few, mine)]
    assert positions == sorted(positions)
    assert draft.text in text(response) and "Suggestions (4)" in words(response)
    assert body.count("/endorse") == 3  # not on my own
    assert f"/principles/suggestions/{mine.id}/endorse" not in body


def test_draft_page_for_anonymous_has_no_forms(client, make_round, voters, organiser):
    """The public can read a draft and its suggestions but gets no forms."""
    round_ = make_round()
    draft = drafts(round_)[0]
    moderation.approve(organiser, services.suggest(voters(1)[0], draft, "Public wording"))
    db.session.commit()
    response = client.get(f"/principles/drafts/{draft.id}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Public wording" in body
    assert "/endorse" not in body and 'name="stance"' not in body and "Sign in to take part." in words(response)


def test_suggestion_posted_and_refused(client, as_role, make_round):
    """A member's suggestion is stored and shown; an empty one is refused with a message; anonymous must sign in."""
    draft = drafts(make_round())[0]
    url = f"/principles/drafts/{draft.id}/suggestions"
    response = client.post_form(url, {"text": "Anonymous words"})
    assert response.status_code == 302 and response.location.startswith("/auth/login")
    me = as_role("member")
    response = client.post_form(url, {"text": "  Say neighbourhood  ", "reason": "Plainer"})
    assert response.status_code == 303 and response.location == f"/principles/drafts/{draft.id}#suggestions"
    suggestion = db.session.scalar(sa.select(Suggestion))
    assert (suggestion.text, suggestion.reason, suggestion.user_id) == ("Say neighbourhood", "Plainer", me.id)
    assert "Say neighbourhood" in words(client.get(f"/principles/drafts/{draft.id}"))
    response = client.post_form(url, {"text": "   ", "reason": "My reason stays"})
    assert response.status_code == 422  # the draft page again, with what was typed
    assert "Enter the wording you suggest" in words(response) and "My reason stays" in words(response)
    response = client.post_form(url, {"text": "x" * 2001})
    assert "Suggested wording must be 2,000 characters or fewer" in words(response)
    assert count(Suggestion) == 1


def test_endorse_over_http(client, as_role, make_round, voters, organiser):
    """Endorse once (count goes up); twice and one's own are refused with a message."""
    draft = drafts(make_round())[0]
    theirs = services.suggest(voters(1)[0], draft, "Their wording")
    moderation.approve(organiser, theirs)
    db.session.commit()
    me = as_role("member")
    mine = services.suggest(me, draft, "My wording")
    db.session.commit()
    page = f"/principles/drafts/{draft.id}"
    response = client.post_form(f"/principles/suggestions/{theirs.id}/endorse")
    assert response.status_code == 303 and response.location == f"{page}#suggestion-{theirs.id}"
    assert "You have endorsed this suggestion." in flashes(client, page)
    db.session.expire_all()
    assert theirs.endorsement_count == 1
    client.post_form(f"/principles/suggestions/{theirs.id}/endorse")
    assert "already endorsed" in flashes(client, page)
    client.post_form(f"/principles/suggestions/{mine.id}/endorse")
    assert "cannot endorse your own" in flashes(client, page)
    db.session.expire_all()
    assert (theirs.endorsement_count, mine.endorsement_count, count(Endorsement)) == (1, 0, 1)
    assert client.post_form("/principles/suggestions/999999/endorse").status_code == 404


# --- Results, CSV, history, responses -----------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_results_while_open_only_for_staff(client, as_role, make_round, role):
    """While a round is open: 403 'not published yet' for the public and members, 200 for staff."""
    round_ = make_round("open")
    as_role(role)
    response = client.get(f"/principles/rounds/{round_.id}/results")
    if role in ("staff", "admin"):
        assert response.status_code == 200 and "still open: only staff" in words(response)
    else:
        assert response.status_code == 403 and "not published yet" in words(response)
    csv_response = client.get(f"/principles/rounds/{round_.id}/results.csv")
    assert csv_response.status_code == (200 if role in ("staff", "admin") else 403)


@pytest.mark.parametrize("role", ROLES)
def test_results_after_close_for_everyone(client, as_role, make_round, voters, organiser, role):
    """After closing, everyone sees results; a draft with 5+ votes has percentages, smaller groups 'fewer than 5'."""
    round_ = make_round("open")
    six = drafts(round_)
    for person, stance in zip(voters(5), ["support", "support", "support", "amend", "oppose"], strict=True):
        cast(person, six[0], stance)
    for person in voters(2, "councillor"):
        cast(person, six[1], "oppose")
    services.close_round(organiser, round_)
    db.session.commit()
    as_role(role)
    response = client.get(f"/principles/rounds/{round_.id}/results")
    assert response.status_code == 200
    page = words(response)
    assert "Support 60% (3)" in page and "Oppose 20% (1)" in page
    assert "fewer than 5" in page.lower()
    assert "Fewer than 5: not shown" in page  # principle 2's two votes are not shown as a count
    assert "Voter Person" not in page


def test_fewer_than_text_comes_from_the_tallies_threshold(client, app, make_round, voters, organiser):
    """The results and history pages say "fewer than N" with the threshold the tallies use (SUPPRESS_BELOW,
    the template global `suppress_below`), not a number written in the templates."""
    round_ = make_round("open")
    cast(voters(1)[0], drafts(round_)[0], "support")
    services.close_round(organiser, round_)
    db.session.commit()
    assert app.jinja_env.globals["suppress_below"] == SUPPRESS_BELOW
    page = words(client.get(f"/principles/rounds/{round_.id}/results"))
    assert f"a group with fewer than {SUPPRESS_BELOW} responses reads" in page
    assert f"Fewer than {SUPPRESS_BELOW}: not shown" in page
    assert f"Fewer than {SUPPRESS_BELOW}" in words(client.get("/principles/1/history"))
    root = Path(__file__).resolve().parent.parent / "templates" / "principles"
    written = [path.name for path in root.rglob("*.html") if re.search(r"(?i)fewer than \d", path.read_text())]
    assert written == []


def test_round_state_predicates():
    """What the templates ask a round instead of comparing its state's value."""
    draft, voting, closed = Round(state=RoundState.DRAFT), Round(state=RoundState.OPEN), Round(state=RoundState.CLOSED)
    assert (draft.is_draft, draft.is_voting, draft.is_closed, draft.can_be_adopted) == (True, False, False, False)
    assert (voting.is_draft, voting.is_voting, voting.is_closed, voting.can_be_adopted) == (False, True, False, False)
    assert (closed.is_draft, closed.is_voting, closed.is_closed, closed.can_be_adopted) == (False, False, True, True)
    closed.adopted_at = utcnow()
    assert not closed.can_be_adopted


def test_one_vote_form_for_the_cards_and_the_draft_page():
    """The index's cards and the draft page render the same vote form macro; no template writes its own."""
    root = Path(__file__).resolve().parent.parent / "templates" / "principles"
    writers = {path.name for path in root.rglob("*.html") if "url_for('principles.vote'" in path.read_text()}
    assert writers == {"_macros.html"}
    users = {path.name for path in root.rglob("*.html") if "vote_form(" in path.read_text()}
    assert {"_card.html", "draft.html"} <= users


def test_principle_and_evidence_templates_compare_no_enum_values():
    """Templates decide nothing: no `.value == '...'` comparisons in the principles and evidence templates."""
    root = Path(__file__).resolve().parent.parent / "templates"
    found = [f"{path.relative_to(root)}: {line.strip()}" for area in ("principles", "evidence")
             for path in sorted((root / area).rglob("*.html"))
             for line in path.read_text().splitlines() if re.search(r"\.value\s*(==|!=)", line)]
    assert found == []


@pytest.mark.parametrize(("role", "status"), [("member", 404), ("staff", 403)])
def test_results_of_a_draft_round_hidden(client, as_role, make_round, role, status):
    """A draft round's results page: 404 for members (it does not exist for them), 403 for staff (nothing yet)."""
    round_ = make_round("draft")
    as_role(role)
    assert client.get(f"/principles/rounds/{round_.id}/results").status_code == status
    assert client.get("/principles/rounds/999999/results").status_code == 404


def test_results_csv_download(client, make_round, voters, organiser):
    """The CSV is an attachment with aggregates and anonymous comments: no names or emails."""
    round_ = make_round("open")
    people = voters(6)
    for i, person in enumerate(people):
        cast(person, drafts(round_)[0], "support" if i % 2 else "amend", f"Thought number {i}")
    cast(voters(1, "academic")[0], drafts(round_)[0], "oppose")
    for vote in db.session.scalars(sa.select(Vote).where(Vote.comment != "")):
        moderation.approve(organiser, vote)  # comments are published once staff approve them
    services.close_round(organiser, round_)
    db.session.commit()
    response = client.get(f"/principles/rounds/{round_.id}/results.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"round-{round_.id}-results.csv" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert "@example.org" not in body and "Voter Person" not in body
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[1][:6] == ["results", "1", drafts(round_)[0].title, "all", "All voters", "7"]
    academic = [r for r in rows if r[:1] == ["results"] and r[4] == "Academic"]
    assert academic[0][5] == "fewer than 5"
    assert ["comment", "1", "Support", "Thought number 1"] in rows


def test_history_page_shows_word_diff(client, make_round):
    """The history of a principle shows each round with <ins>/<del> word changes."""
    first = make_round("closed", texts={4: "Invest in prevention"})
    second = make_round("open", texts={4: "Invest in early intervention"})
    response = client.get("/principles/4/history")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert first.name in body and second.name in body
    assert re.search(r"<ins[^>]*>.*?early intervention.*?</ins>", body, re.S)
    assert re.search(r"<del[^>]*>.*?prevention.*?</del>", body, re.S)
    assert "Results published when the round closes" in words(response)
    assert client.get("/principles/9/history").status_code == 404


def test_responses_page_you_said_we_did(client, make_round, voters, organiser):
    """Every suggestion in a round with the staff response or 'awaiting a response'; no author names."""
    round_ = make_round()
    author = voters(1)[0]
    answered = services.suggest(author, drafts(round_)[0], "Answered wording")
    waiting = services.suggest(author, drafts(round_)[1], "Waiting wording")
    for published in (answered, waiting):
        moderation.approve(organiser, published)  # 'you said, we did' lists what staff published
    services.respond(organiser, answered, ResponseStatus.ACCEPTED, "We put it in round 2.")
    db.session.commit()
    response = client.get(f"/principles/rounds/{round_.id}/responses")
    page = words(response)
    assert response.status_code == 200
    assert "Answered wording" in page and "We did: Accepted into the next draft. We put it in round 2." in page
    assert "Waiting wording" in page and "awaiting a response" in page
    assert author.name not in page
    draft_round = make_round("draft")
    assert client.get(f"/principles/rounds/{draft_round.id}/responses").status_code == 404


# --- Staff --------------------------------------------------------------------------------

STAFF_GETS = ["/staff/rounds/", "/staff/rounds/new", "/staff/rounds/{round}/edit",
              "/staff/suggestions/{suggestion}/respond", "/staff/workshops/{workshop}/live",
              "/staff/workshops/{workshop}/control", "/staff/workshops/{workshop}/present",
              "/staff/workshops/{workshop}/present/poll", "/staff/workshops/{workshop}/room-code"]
STAFF_POSTS = ["/staff/rounds/{draft_round}/open", "/staff/rounds/{round}/close", "/staff/rounds/{closed}/adopt",
               "/staff/rounds/new", "/staff/rounds/{draft_round}/edit", "/staff/suggestions/{suggestion}/respond",
               "/staff/workshops/{workshop}/live", "/staff/workshops/{workshop}/control"]


@pytest.fixture
def staff_scene(make_round, make_workshop, voters, organiser):
    """A closed round, an open round with a (published) suggestion and a workshop, and a draft round: ids by name."""
    closed = make_round("closed")
    round_ = make_round("open")
    suggestion = services.suggest(voters(1)[0], drafts(round_)[0], "Staff must answer this")
    moderation.approve(organiser, suggestion)
    db.session.commit()
    workshop = make_workshop(round_, live=False)
    draft_round = make_round("draft")
    return {"closed": closed.id, "round": round_.id, "suggestion": suggestion.id, "workshop": workshop.id,
            "draft_round": draft_round.id}


def state_snapshot():
    """Everything a staff POST could change."""
    db.session.expire_all()
    rounds = db.session.execute(sa.select(Round.id, Round.state, Round.adopted_at, Round.name)).all()
    return (sorted(rounds), db.session.scalar(sa.select(sa.func.count(Round.id))),
            db.session.execute(sa.select(Suggestion.response_status, Suggestion.response_text)).all(),
            db.session.scalars(sa.select(Workshop.live_voting)).all(), count(AuditLog))


@pytest.mark.parametrize("role", ["member", "unconfirmed"])
def test_members_get_403_on_every_staff_route(client, as_role, staff_scene, role):
    """Members (confirmed or not) get 403 on every staff principles route, GET or POST, and change nothing."""
    as_role(role)
    for url in STAFF_GETS:
        assert client.get(url.format(**staff_scene)).status_code == 403, url
    before = state_snapshot()
    for url in STAFF_POSTS:
        response = client.post_form(url.format(**staff_scene), {"name": "Hijack", "status": "accepted",
                                                                 "response_text": "Hijacked"})
        assert response.status_code == 403, url
    assert state_snapshot() == before


def test_anonymous_sent_to_sign_in_on_staff_routes(client, staff_scene):
    """Not signed in: every staff route redirects to sign in."""
    for url in STAFF_GETS:
        response = client.get(url.format(**staff_scene))
        assert response.status_code == 302 and response.location.startswith("/auth/login"), url
    before = state_snapshot()
    for url in STAFF_POSTS:
        assert client.post_form(url.format(**staff_scene)).status_code == 302, url
    assert state_snapshot() == before


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_rounds_list(client, as_role, staff_scene, role):
    """Staff see every round, newest first, with the actions its state allows and waiting suggestions."""
    as_role(role)
    response = client.get("/staff/rounds/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert [int(i) for i in re.findall(r'/staff/rounds/(\d+)/edit"', body)] == sorted(
        [staff_scene["closed"], staff_scene["round"], staff_scene["draft_round"]], reverse=True)
    assert f'/staff/rounds/{staff_scene["draft_round"]}/open' in body
    assert f'/staff/rounds/{staff_scene["round"]}/close' in body
    assert f'/staff/rounds/{staff_scene["closed"]}/adopt' in body
    assert f'/principles/rounds/{staff_scene["round"]}/responses' in body  # one suggestion awaits a response


def test_staff_create_round_copies_latest_drafts(client, as_role, make_round):
    """POST /staff/rounds/new makes a draft round whose six drafts are copies of the latest round's, audited."""
    earlier = make_round("closed", texts={n: f"Earlier wording {n}" for n in range(1, 7)})
    as_role("staff")
    assert client.get("/staff/rounds/new").status_code == 200
    response = client.post_form("/staff/rounds/new", {
        "name": "Round three", "introduction": "Last look", "closes_at-day": "1", "closes_at-month": "3",
        "closes_at-year": str(utcnow().year + 1), "closes_at-time": "17:00", "eligibility": "members"})
    new = db.session.scalar(sa.select(Round).where(Round.name == "Round three"))
    assert response.status_code == 303 and response.location == f"/staff/rounds/{new.id}/edit"
    assert new.state == RoundState.DRAFT and new.previous_round_id == earlier.id
    assert [d.text for d in drafts(new)] == [f"Earlier wording {n}" for n in range(1, 7)]
    assert to_london(new.closes_at).strftime("%d %m %H:%M") == "01 03 17:00"
    assert count(AuditLog, AuditLog.action == "round.create", AuditLog.target_id == new.id) == 1


def test_staff_create_round_validation(client, as_role, make_round):
    """No name and no closing date: errors shown (422 for htmx), no round made."""
    make_round("closed")
    as_role("staff")
    response = client.post_form("/staff/rounds/new", {"name": "", "eligibility": "members"})
    assert response.status_code == 200
    page = words(response)
    assert "There is a problem" in page and "Enter a name for the round" in page
    assert "Enter when the round closes" in page
    response = client.post_form("/staff/rounds/new", {"name": "", "eligibility": "members"}, headers=HX)
    assert response.status_code == 422 and "<html" not in response.get_data(as_text=True)
    assert count(Round) == 1


def test_staff_create_round_closing_before_opening_refused(client, as_role, make_round):
    """The bug: a new round closing five days before it opens was stored (303). Now the error shows, nothing
    is stored."""
    make_round("closed")
    as_role("staff")
    year = str(utcnow().year + 1)
    data = {"name": "Backwards round", "eligibility": "members",
            "opens_at-day": "10", "opens_at-month": "3", "opens_at-year": year, "opens_at-time": "09:00",
            "closes_at-day": "5", "closes_at-month": "3", "closes_at-year": year, "closes_at-time": "09:00"}
    response = client.post_form("/staff/rounds/new", data)
    assert response.status_code == 200
    page = words(response)
    assert "There is a problem" in page and "The round must close after it opens" in page
    response = client.post_form("/staff/rounds/new", data, headers=HX)
    assert response.status_code == 422 and "The round must close after it opens" in words(response)
    assert count(Round) == 1 and count(Round, Round.name == "Backwards round") == 0
    assert count(AuditLog, AuditLog.action == "round.create") == 1


def edit_data(round_, **changes) -> dict:
    """The edit form as a browser would post it, from the round as stored, with changes."""
    closes = to_london(round_.closes_at)
    data = {"name": round_.name, "introduction": round_.introduction, "eligibility": round_.eligibility.value,
            "closes_at-day": str(closes.day), "closes_at-month": str(closes.month),
            "closes_at-year": str(closes.year), "closes_at-time": closes.strftime("%H:%M")}
    for i, draft in enumerate(drafts(round_)):
        data.update({f"drafts-{i}-draft_id": str(draft.id), f"drafts-{i}-title": draft.title,
                     f"drafts-{i}-text": draft.text, f"drafts-{i}-what_changed": draft.what_changed})
    data.update(changes)
    return data


def test_staff_edit_drafts_while_draft(client, as_role, make_round):
    """A draft round's six drafts are editable; the new wording is saved."""
    round_ = make_round("draft")
    as_role("staff")
    page = client.get(f"/staff/rounds/{round_.id}/edit").get_data(as_text=True)
    assert page.count('name="drafts-') == 6 * 4
    response = client.post_form(f"/staff/rounds/{round_.id}/edit", edit_data(
        round_, **{"drafts-0-text": "Brand new wording", "drafts-0-what_changed": "Shorter"}))
    assert response.status_code == 303
    db.session.expire_all()
    assert (drafts(round_)[0].text, drafts(round_)[0].what_changed) == ("Brand new wording", "Shorter")


def test_staff_edit_validation_errors(client, as_role, make_round):
    """An empty draft title or a round closing before it opens: errors shown, nothing saved."""
    round_ = make_round("draft")
    as_role("staff")
    original = drafts(round_)[0].title
    response = client.post_form(f"/staff/rounds/{round_.id}/edit", edit_data(
        round_, **{"drafts-0-title": "", "drafts-1-text": "Changed too"}))
    assert response.status_code == 200 and "Enter the principle's title" in words(response)
    response = client.post_form(f"/staff/rounds/{round_.id}/edit", edit_data(
        round_, **{"drafts-0-title": ""}), headers=HX)
    assert response.status_code == 422
    closes = to_london(round_.closes_at)
    opens = closes + timedelta(days=1)
    response = client.post_form(f"/staff/rounds/{round_.id}/edit", edit_data(
        round_, **{"opens_at-day": str(opens.day), "opens_at-month": str(opens.month),
                   "opens_at-year": str(opens.year), "opens_at-time": "09:00", "name": "Renamed"}))
    assert response.status_code == 200 and "The round must close after it opens" in words(response)
    db.session.expire_all()
    assert drafts(round_)[0].title == original and drafts(round_)[1].text != "Changed too"
    assert round_.name != "Renamed"


def test_staff_edit_open_round_keeps_wording(client, as_role, make_round):
    """Once open the drafts are not on the form, and posted draft fields are ignored; the name can change."""
    round_ = make_round("open")
    as_role("staff")
    response = client.get(f"/staff/rounds/{round_.id}/edit")
    assert 'name="drafts-' not in response.get_data(as_text=True)
    assert "can no longer be edited" in words(response)
    before = [d.text for d in drafts(round_)]
    response = client.post_form(f"/staff/rounds/{round_.id}/edit", edit_data(
        round_, name="Round renamed", **{"drafts-0-text": "Sneaky change"}))
    assert response.status_code == 303
    db.session.expire_all()
    assert [d.text for d in drafts(round_)] == before and round_.name == "Round renamed"


def test_staff_open_close_adopt(client, as_role, make_round):
    """Open, refuse a second open round, refuse adopting while open, close, adopt: each audited."""
    first = make_round("draft")
    as_role("staff")
    assert client.post_form(f"/staff/rounds/{first.id}/open").status_code == 303
    db.session.expire_all()
    assert first.state == RoundState.OPEN
    second = make_round("draft")
    client.post_form(f"/staff/rounds/{second.id}/open")
    assert "before opening another round" in flashes(client, "/staff/rounds/")
    client.post_form(f"/staff/rounds/{first.id}/adopt", {"confirm": "1"})
    assert "Close the round before adopting" in flashes(client, "/staff/rounds/")
    db.session.expire_all()
    assert second.state == RoundState.DRAFT and first.adopted_at is None
    client.post_form(f"/staff/rounds/{first.id}/close", {"confirm": "1"})
    db.session.expire_all()
    assert first.state == RoundState.CLOSED
    client.post_form(f"/staff/rounds/{first.id}/adopt", {"confirm": "1"})
    db.session.expire_all()
    assert first.adopted_at is not None
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_id == first.id,
                                                                  AuditLog.target_type == "round")
                                 .order_by(AuditLog.id)).all()
    assert actions == ["round.create", "round.open", "round.close", "round.adopt"]
    assert "The six Keep it Local principles" in words(client.get("/principles/"))


def test_staff_respond_to_suggestion(client, as_role, staff_scene):
    """The response form needs a decision and a reason (422 for htmx); a saved one shows on 'you said, we did'."""
    as_role("staff")
    url = f"/staff/suggestions/{staff_scene['suggestion']}/respond"
    response = client.get(url)
    assert response.status_code == 200 and "Staff must answer this" in words(response)
    response = client.post_form(url, {"status": "accepted", "response_text": ""})
    assert response.status_code == 200 and "Explain the decision" in words(response)
    response = client.post_form(url, {"response_text": "Because"}, headers=HX)
    assert response.status_code == 422 and "Choose a decision" in words(response)
    suggestion = db.session.get(Suggestion, staff_scene["suggestion"])
    assert suggestion.response_status is None
    response = client.post_form(url, {"status": "not_taken", "response_text": "Out of scope for a principle."})
    assert response.status_code == 303
    assert response.location == f"/principles/rounds/{staff_scene['round']}/responses"
    db.session.expire_all()
    assert suggestion.response_status == ResponseStatus.NOT_TAKEN
    assert count(AuditLog, AuditLog.action == "suggestion.respond") == 1
    assert "Not taken forward. Out of scope for a principle." in words(client.get(response.location))


def test_projector_page_and_poll(client, as_role, make_round, make_workshop, voters):
    """The presenter screen has a QR SVG and short URL; its poll (tallies revealed) brings only the
    board, with the votes cast through the workshop (not those cast from home)."""
    round_ = make_round()
    workshop = make_workshop(round_)
    six = drafts(round_)
    stances = ["support", "support", "oppose", "support", "oppose", "support"]  # 4, 0, 2: may be shown
    for person, stance in zip(voters(6), stances, strict=True):
        cast(person, six[0], stance, workshop=workshop.id)
    cast(voters(1)[0], six[0], "oppose")  # from home: not in this workshop's bars
    workshop.tallies_shown = True
    db.session.commit()
    as_role("staff")
    response = client.get(f"/staff/workshops/{workshop.id}/present")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<svg" in body and 'class="qr"' in body
    assert f"/w/{workshop.id}" in body and 'id="present-board"' in body
    partial = client.get(f"/staff/workshops/{workshop.id}/present/poll?join=none", headers=HX)
    assert partial.status_code == 200
    fragment = partial.get_data(as_text=True).strip()
    assert fragment.startswith('<div id="present-poll"') and fragment.count('id="present-board"') == 1
    assert "<html" not in fragment and "<h1" not in fragment
    assert re.search(r'data-count="support-1">4 \(67%\)', fragment)
    assert re.search(r'data-count="oppose-1">2 \(33%\)', fragment)
    assert "6 votes" in words(partial)


def test_projector_for_workshop_without_round(client, as_role, make_workshop):
    """A workshop not linked to a round explains what to do; opening live voting is refused."""
    workshop = make_workshop(None, live=False)
    as_role("staff")
    response = client.get(f"/staff/workshops/{workshop.id}/control")
    assert response.status_code == 200 and "not linked to a principles round" in words(response)
    response = client.post_form(f"/staff/workshops/{workshop.id}/control", {"live": "1"})
    assert response.status_code == 303
    db.session.expire_all()
    assert workshop.live_voting is False
    assert "Link this workshop to a principles round first" in flashes(client,
                                                                       f"/staff/workshops/{workshop.id}/control")


def test_toggle_live_voting(client, as_role, make_round, make_workshop):
    """POST /staff/workshops/<id>/control sets live voting open (live=1) or closed (live=0), audited once
    per change; a second click changes nothing; no choice changes nothing. The old POST /live still works."""
    workshop = make_workshop(make_round(), live=False)
    as_role("admin")
    url = f"/staff/workshops/{workshop.id}/control"
    response = client.post_form(url, {"live": "1"})
    assert response.status_code == 303 and response.location == url
    db.session.expire_all()
    assert workshop.live_voting is True
    for data in ({"live": "1"}, {}):
        client.post_form(url, data)
        db.session.expire_all()
        assert workshop.live_voting is True
    response = client.post_form(f"/staff/workshops/{workshop.id}/live", {"open": "0"})
    assert response.status_code == 303 and response.location == url
    db.session.expire_all()
    assert workshop.live_voting is False
    assert count(AuditLog, AuditLog.action == "workshop.live_voting") == 2
    assert client.post_form("/staff/workshops/999999/control").status_code == 404


# --- Query counts -------------------------------------------------------------------------

N = 4
TYPES = ["councillor", "commissioner", "community_organisation", "academic", "think_tank"]


def test_query_counts_do_not_grow_with_votes(client, as_role, make_round, make_workshop, voters, organiser):
    """/principles/, results, history and the projector partial cost the same queries with N and 5N voters."""
    closed = make_round("closed", texts={1: "Earlier wording of one"})
    round_ = make_round("open", texts={1: "Later wording of one"})
    workshop = make_workshop(round_)
    me = as_role("staff")
    for draft in drafts(round_)[:3]:
        cast(me, draft, "support", "Mine")
    pages = [("/principles/", {}), (f"/principles/rounds/{round_.id}/results", {}),
             ("/principles/1/history", {}), (f"/staff/workshops/{workshop.id}/present", {}),
             (f"/staff/workshops/{workshop.id}/present/poll", HX)]
    assert closed.id

    def add_voters(n):
        """n more members vote on every draft, some through the workshop, with comments and suggestions."""
        for i, person in enumerate(voters(n, TYPES[add_voters.calls % len(TYPES)])):
            for j, draft in enumerate(drafts(round_)):
                cast(person, draft, ["support", "amend", "oppose"][(i + j) % 3], f"Comment {i}",
                     workshop=workshop.id if i % 2 else None)
            services.suggest(person, drafts(round_)[i % 6], f"Suggestion {i}")
            db.session.commit()
        add_voters.calls += 1

    add_voters.calls = 0

    def measure():
        """Statements per page."""
        out = {}
        for url, headers in pages:
            client.get(url, headers=headers)  # warm up
            with counting_queries() as statements:
                response = client.get(url, headers=headers)
            assert response.status_code == 200, url
            out[url] = len(statements)
        return out

    add_voters(N)
    few = measure()
    assert count(Vote) == 6 * N + 3
    for _ in range(4):
        add_voters(N)
    many = measure()
    assert count(Vote) == 6 * 5 * N + 3
    assert many == few
    assert "You have responded to 3 of 6" in words(client.get("/principles/"))
