"""Consented publication and moderation of vote comments and suggestions (issue 12).

Services: nothing a member writes is published until staff approve it; approve, hide (with a
reason) and redact (staff's wording published, the member's kept) are sets, audited with the text
published before and after; a changed comment goes back to pending; a decision on words changed
since they were read is refused; only approved suggestions can be endorsed; the queue, its
filters, pagination and counts; the member's data export.

HTTP: every moderation route for every role (anonymous to sign in, members 403, staff), wrong,
20-digit and NUL ids; htmx swaps one item (counts out of band), no-JS redirects (303) back to the
queue with its filters; refusals keep what was typed; the public results page, CSV, "you said, we
did" and the draft page show only approved items, as published; the member sees their own pending
item; the consent wording beside the fields and in the privacy notice.
"""
import csv
import html
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.core.models import AuditLog
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import moderation, services
from kil_network.principles.models import Eligibility, Moderation, Stance, Suggestion, Vote
from kil_network.principles.personal_data import export_suggestions, export_votes
from kil_network.principles.results import responses, results_csv
from tests.support.db import count

HX = {"HX-Request": "true"}


def words(response) -> str:
    """The visible text of a response: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def csv_rows(round_) -> list[list[str]]:
    """The public CSV of a round, as rows."""
    return list(csv.reader(io.StringIO(results_csv(round_))))


@pytest.fixture
def organiser(make_user):
    """The member of staff who moderates (not the one a client signs in as)."""
    return make_user(email="organiser@example.org", name="Olu Organiser", role="staff")


@pytest.fixture
def scene(organiser, make_user):
    """An open round (two comments, one vote without, two suggestions) and a closed one (a comment)."""
    def make_round(name):
        round_ = services.create_round(organiser, name=name, eligibility=Eligibility.MEMBERS,
                                       closes_at=utcnow() + timedelta(days=30))
        services.open_round_for_votes(organiser, round_)
        return round_

    closed = make_round("Round 1")
    author = make_user(email="author@example.org", name="Ann Author")
    other = make_user(email="other@example.org", name="Oscar Other")
    quiet = make_user(email="quiet@example.org", name="Quinn Quiet")
    old = services.cast_vote(author, services.drafts_of(closed)[0], Stance.OPPOSE, "Earlier thoughts")
    services.close_round(organiser, closed)
    round_ = make_round("Round 2")
    first, second = services.drafts_of(round_)[:2]
    comment = services.cast_vote(author, first, Stance.AMEND, "I am Ann from Leeds Food Hub: name charities")
    other_comment = services.cast_vote(other, first, Stance.SUPPORT, "Good as it is")
    silent = services.cast_vote(quiet, second, Stance.SUPPORT, "")
    suggestion = services.suggest(author, first, "Name small charities, says Ann", "As Ann of Leeds I know")
    other_suggestion = services.suggest(other, second, "Plainer words", "Clearer")
    db.session.commit()
    return {"closed": closed, "round": round_, "author": author, "other": other, "quiet": quiet,
            "first": first, "second": second, "comment": comment, "other_comment": other_comment,
            "silent": silent, "old": old, "suggestion": suggestion, "other_suggestion": other_suggestion}


def audit_rows(action):
    """The audit entries of one moderation action, oldest first."""
    return db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


# --- Services ------------------------------------------------------------------------------

def test_nothing_is_published_until_staff_approve(scene):
    """Comments and suggestions start pending: the CSV, 'you said, we did' and the results have none."""
    assert {scene["comment"].comment_status, scene["suggestion"].moderation} == {Moderation.PENDING}
    rows = csv_rows(scene["round"])
    assert not [r for r in rows if r and r[0] in ("comment", "suggestion")]
    assert responses(scene["round"]) == []
    assert moderation.published_comments(scene["round"]) == []


@pytest.mark.both_databases
def test_approve_publishes_once_and_is_audited(scene, organiser):
    """Approving publishes the member's words; a second approve changes nothing and audits nothing."""
    assert moderation.approve(organiser, scene["comment"]) is True
    assert moderation.approve(organiser, scene["suggestion"]) is True
    db.session.commit()
    assert moderation.approve(organiser, scene["comment"]) is False
    vote = db.session.get(Vote, scene["comment"].id)
    assert (vote.comment_status, vote.comment_moderated_by_id) == (Moderation.APPROVED, organiser.id)
    assert vote.comment_moderated_at is not None and vote.comment_is_public
    entries = audit_rows("moderation.approve")
    assert len(entries) == 2
    assert entries[0].target_type == "vote" and entries[0].target_id == vote.id
    assert entries[0].details["published_before"] == {"text": None}
    assert entries[0].details["published_after"] == {"text": "I am Ann from Leeds Food Hub: name charities"}
    assert entries[1].details["published_after"] == {"text": "Name small charities, says Ann",
                                                     "reason": "As Ann of Leeds I know"}
    rows = csv_rows(scene["round"])
    assert ["comment", "1", "Support with changes", "I am Ann from Leeds Food Hub: name charities"] in rows
    assert "Good as it is" not in results_csv(scene["round"])  # still pending
    assert [s.id for s in responses(scene["round"])] == [scene["suggestion"].id]


def test_hide_needs_a_reason_and_keeps_it_off_every_page(scene, organiser):
    """Hiding needs a reason; a hidden item is nowhere public; the same hide again is a set."""
    with pytest.raises(RuleError) as refused:
        moderation.hide(organiser, scene["comment"], "   ")
    assert refused.value.field == "reason"
    with pytest.raises(RuleError):
        moderation.hide(organiser, scene["comment"], "x" * 501)
    moderation.approve(organiser, scene["comment"])
    assert moderation.hide(organiser, scene["comment"], "Names a person") is True
    assert moderation.hide(organiser, scene["comment"], "Names a person") is False
    assert moderation.hide(organiser, scene["suggestion"], "Names the author") is True
    db.session.commit()
    vote = db.session.get(Vote, scene["comment"].id)
    assert (vote.comment_status, vote.comment_hidden_reason) == (Moderation.HIDDEN, "Names a person")
    assert "I am Ann" not in results_csv(scene["round"]) and responses(scene["round"]) == []
    entry = audit_rows("moderation.hide")[0]
    assert entry.details["published_before"] == {"text": "I am Ann from Leeds Food Hub: name charities"}
    assert entry.details["published_after"] == {"text": None}
    assert entry.details["hidden_reason"] == "Names a person"
    assert len(audit_rows("moderation.hide")) == 2


@pytest.mark.both_databases
def test_redact_publishes_staff_wording_and_keeps_the_members(scene, organiser):
    """Redacting approves staff's wording; the member's words stay; the CSV carries only the redaction."""
    with pytest.raises(RuleError) as refused:
        moderation.redact(organiser, scene["comment"], " ")
    assert refused.value.field == "text"
    assert moderation.redact(organiser, scene["comment"], "Name charities") is True
    assert moderation.redact(organiser, scene["comment"], "Name charities") is False  # a set
    db.session.commit()
    vote = db.session.get(Vote, scene["comment"].id)
    assert vote.comment == "I am Ann from Leeds Food Hub: name charities"
    assert (vote.comment_published, vote.published_comment, vote.comment_status) == (
        "Name charities", "Name charities", Moderation.APPROVED)
    body = results_csv(scene["round"])
    assert "Name charities" in body and "Leeds Food Hub" not in body
    entry = audit_rows("moderation.redact")[0]
    assert entry.details["published_before"] == {"text": None}
    assert entry.details["published_after"] == {"text": "Name charities"}
    assert (entry.details["status_before"], entry.details["status_after"]) == ("pending", "approved")
    # Staff's wording the same as the member's publishes theirs: no redaction left.
    moderation.redact(organiser, vote, "I am Ann from Leeds Food Hub: name charities")
    assert vote.comment_published is None and not vote.comment_redacted
    assert audit_rows("moderation.redact")[-1].details["published_before"] == {"text": "Name charities"}


def test_redact_a_suggestion_and_its_reason(scene, organiser):
    """A suggestion's wording and reason are redacted apart: an empty reason publishes none."""
    suggestion = scene["suggestion"]
    moderation.redact(organiser, suggestion, "Name small charities", "")
    db.session.commit()
    assert (suggestion.text, suggestion.reason) == ("Name small charities, says Ann", "As Ann of Leeds I know")
    assert (suggestion.public_text, suggestion.public_reason, suggestion.is_public) == (
        "Name small charities", "", True)
    rows = csv_rows(scene["round"])
    published = [r for r in rows if r and r[0] == "suggestion"]
    assert published[0][2:4] == ["Name small charities", ""]
    assert "says Ann" not in results_csv(scene["round"])
    moderation.redact(organiser, suggestion, "Name small charities")  # reason None: kept as it is
    assert suggestion.public_reason == ""
    moderation.redact(organiser, suggestion, "Name small charities", "As Ann of Leeds I know")
    assert suggestion.published_reason is None and suggestion.public_reason == "As Ann of Leeds I know"


@pytest.mark.both_databases
def test_a_changed_comment_waits_for_staff_again(scene, organiser):
    """A member changing their comment sends it back to pending and drops the redaction; a new
    stance with the same words keeps the decision."""
    author, first = scene["author"], scene["first"]
    moderation.redact(organiser, scene["comment"], "Name charities")
    db.session.commit()
    services.cast_vote(author, first, Stance.SUPPORT, "I am Ann from Leeds Food Hub: name charities")
    db.session.commit()
    vote = db.session.get(Vote, scene["comment"].id)
    assert (vote.comment_status, vote.comment_published) == (Moderation.APPROVED, "Name charities")
    services.cast_vote(author, first, Stance.SUPPORT, "Something new entirely")
    db.session.commit()
    vote = db.session.get(Vote, scene["comment"].id)
    assert (vote.comment, vote.comment_status, vote.comment_published) == (
        "Something new entirely", Moderation.PENDING, None)
    assert vote.comment_moderated_by_id is None
    assert "Name charities" not in results_csv(scene["round"])


@pytest.mark.both_databases
def test_a_decision_on_words_changed_meanwhile_is_refused(scene, organiser):
    """The fingerprint of the words staff read must match: a comment changed since is not approved unread."""
    read = moderation.fingerprint(scene["comment"])
    services.cast_vote(scene["author"], scene["first"], Stance.AMEND, "Now with a phone number 0113 000 0000")
    db.session.commit()
    for decide in (lambda: moderation.approve(organiser, scene["comment"], read),
                   lambda: moderation.hide(organiser, scene["comment"], "Why", read),
                   lambda: moderation.redact(organiser, scene["comment"], "New", seen=read)):
        with pytest.raises(RuleError, match="changed this while you were reading"):
            decide()
        db.session.rollback()
    assert moderation.approve(organiser, scene["comment"], moderation.fingerprint(scene["comment"])) is True
    # A comment emptied by the member has nothing left to publish.
    services.cast_vote(scene["other"], scene["first"], Stance.SUPPORT, "")
    with pytest.raises(RuleError, match="nothing to publish"):
        moderation.approve(organiser, scene["other_comment"])


def test_only_approved_suggestions_can_be_endorsed(scene, organiser):
    """Endorsing a suggestion staff have not published is refused; once approved it works."""
    with pytest.raises(RuleError, match="once staff have checked and published it"):
        services.endorse(scene["other"], scene["suggestion"])
    db.session.rollback()
    moderation.approve(organiser, scene["suggestion"])
    services.endorse(scene["other"], scene["suggestion"])
    db.session.commit()
    assert db.session.get(Suggestion, scene["suggestion"].id).endorsement_count == 1


@pytest.mark.both_databases
def test_the_queue_filters_pages_and_counts(scene, organiser):
    """The queue holds non-empty pending comments and pending suggestions, oldest first, by round,
    kind and status, paginated across both kinds; counts overall and per round."""
    everything = moderation.queue()
    assert everything.total == 5  # 3 comments (one in the closed round) and 2 suggestions; not the empty one
    assert ("comment", scene["silent"].id) not in {(i.kind, i.id) for i in everything.items}
    assert [i.written_at for i in everything.items] == sorted(i.written_at for i in everything.items)
    current = moderation.queue(round_id=scene["round"].id)
    assert current.total == 4 and {i.round.id for i in current.items} == {scene["round"].id}
    assert moderation.queue(kind="suggestion").total == 2
    assert {i.kind for i in moderation.queue(kind="comment").items} == {"comment"}
    pages = [moderation.queue(page=n, per_page=2) for n in (1, 2, 3)]
    assert [len(p.items) for p in pages] == [2, 2, 1] and pages[0].pages == 3
    assert len({i.key for p in pages for i in p.items}) == 5
    moderation.approve(organiser, scene["comment"])
    moderation.hide(organiser, scene["suggestion"], "Names the author")
    db.session.commit()
    counts = moderation.counts()
    assert counts[Moderation.PENDING] == {"comment": 2, "suggestion": 1, "total": 3}
    assert counts[Moderation.APPROVED]["total"] == 1 and counts[Moderation.HIDDEN]["suggestion"] == 1
    assert moderation.counts(scene["closed"].id)[Moderation.PENDING]["total"] == 1
    assert moderation.pending_count() == 3
    assert [i.key for i in moderation.queue(status=Moderation.HIDDEN).items] == [f"suggestion-{scene['suggestion'].id}"]
    assert dict((r.id, n) for r, n in moderation.rounds_with_pending()) == {scene["round"].id: 2,
                                                                            scene["closed"].id: 1}
    assert moderation.item_for("comment", scene["silent"].id) is None
    assert moderation.item_for("bogus", scene["comment"].id) is None
    assert moderation.item_for("suggestion", 2_000_000_000) is None


def test_the_draft_page_list_is_approved_and_my_own(scene, organiser):
    """A draft's suggestions as a person sees them: approved ones, plus their own in any state."""
    first = scene["first"]
    assert moderation.suggestions_for(first, None) == []
    assert [s.id for s in moderation.suggestions_for(first, scene["author"])] == [scene["suggestion"].id]
    assert moderation.suggestions_for(first, scene["other"]) == []
    moderation.approve(organiser, scene["suggestion"])
    assert [s.id for s in moderation.suggestions_for(first, scene["other"])] == [scene["suggestion"].id]


def test_the_data_export_says_what_happened_to_my_words(scene, organiser):
    """The member's export has their own words, the moderation status and what was published."""
    moderation.redact(organiser, scene["comment"], "Name charities")
    moderation.hide(organiser, scene["suggestion"], "Names the author")
    db.session.commit()
    votes = {v["comment"]: v for v in export_votes(scene["author"])}
    mine = votes["I am Ann from Leeds Food Hub: name charities"]
    assert (mine["comment_moderation"], mine["comment_published_as"]) == ("approved", "Name charities")
    assert votes["Earlier thoughts"]["comment_moderation"] == "pending"
    (suggestion,) = export_suggestions(scene["author"])
    assert (suggestion["text"], suggestion["moderation"], suggestion["hidden_reason"],
            suggestion["published_text"]) == ("Name small charities, says Ann", "hidden", "Names the author", None)
    assert export_votes(scene["quiet"])[0]["comment_moderation"] is None  # no comment, nothing to moderate


# --- HTTP: access ----------------------------------------------------------------------------

def _urls(scene) -> list[tuple[str, str]]:
    c, s = scene["comment"].id, scene["suggestion"].id
    return [("GET", "/staff/moderation"), ("GET", f"/staff/moderation/comment/{c}/redact"),
            ("GET", f"/staff/moderation/suggestion/{s}/hide"), ("POST", f"/staff/moderation/comment/{c}/approve"),
            ("POST", f"/staff/moderation/suggestion/{s}/hide"), ("POST", f"/staff/moderation/comment/{c}/redact")]


@pytest.mark.parametrize("role", ["anonymous", "unconfirmed", "member"])
def test_moderation_is_for_staff_only(client, as_role, scene, role):
    """Signed-out visitors are sent to sign in, members get 403; nothing changes."""
    as_role(role)
    for method, url in _urls(scene):
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post_form(url, {"reason": "Hide", "text": "New words"})
        if role == "anonymous":
            assert response.status_code == 302 and "/auth/login" in response.location, url
        else:
            assert response.status_code == 403, url
    assert count(AuditLog, AuditLog.action.like("moderation.%")) == 0
    assert moderation.pending_count() == 5


def test_wrong_ids_are_404(client, as_role, scene):
    """Unknown kinds, missing rows, 20-digit ids, NUL bytes and votes without a comment: 404."""
    as_role("staff")
    for url in ("/staff/moderation/bogus/1/approve", "/staff/moderation/comment/999999/approve",
                "/staff/moderation/comment/99999999999999999999/approve",
                "/staff/moderation/comment%00/1/approve", f"/staff/moderation/comment/{scene['silent'].id}/approve",
                f"/staff/moderation/vote/{scene['comment'].id}/approve"):
        assert client.post_form(url).status_code == 404, url
    assert client.get(f"/staff/moderation/suggestion/{10**20}/redact").status_code == 404
    assert client.get(f"/staff/moderation/comment/{scene['silent'].id}/hide").status_code == 404


def test_the_queue_filters_are_parsed_safely(client, as_role, scene):
    """Odd filter values are ignored (an old bookmark shows all); a NUL byte is a 400."""
    as_role("staff")
    for query in ("round=99999999999999999999", "kind=bogus", "status=everything", "page=99999999999999999999"):
        assert client.get(f"/staff/moderation?{query}").status_code == 200, query
    assert client.get("/staff/moderation?kind=%00").status_code == 400


# --- HTTP: the staff queue ---------------------------------------------------------------------

def test_the_queue_lists_what_waits_with_counts(client, as_role, scene):
    """Staff see every pending item (both rounds), the counts, and the filters narrow it."""
    as_role("staff")
    page = words(client.get("/staff/moderation"))
    assert "5 waiting for a decision (3 vote comments, 2 suggestions)" in page
    for text in ("I am Ann from Leeds Food Hub", "Good as it is", "Earlier thoughts", "Plainer words",
                 "Name small charities, says Ann"):
        assert text in page
    narrowed = words(client.get(f"/staff/moderation?kind=suggestion&round={scene['round'].id}"))
    assert "2 items shown" in narrowed and "Good as it is" not in narrowed
    fragment = client.get("/staff/moderation?kind=comment", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert 'id="moderation-list"' in fragment.get_data(as_text=True)
    assert "Ann Author" not in page  # staff moderate words, not people


def test_staff_dashboard_and_nav_link_the_queue(client, as_role, scene):
    """The staff dashboard shows how many wait and links the queue; so does the staff nav."""
    as_role("staff")
    body = client.get("/staff/").get_data(as_text=True)
    assert "/staff/moderation" in body and "5 waiting" in words(client.get("/staff/"))
    assert 'href="/staff/moderation"' in client.get("/staff/rounds/").get_data(as_text=True)
    assert "Moderation (5 waiting)" in words(client.get("/staff/")) and "Moderation (5 waiting)" in words(
        client.get("/staff/moderation"))


def test_approve_without_javascript_redirects_back_to_the_queue(client, as_role, scene):
    """A plain post approves, flashes and goes back (303) to the queue with its filters and page."""
    as_role("staff")
    vote = scene["comment"]
    response = client.post_form(f"/staff/moderation/comment/{vote.id}/approve",
                                {"seen": moderation.fingerprint(vote), "kind": "comment",
                                 "round": str(scene["round"].id), "page": "2"})
    assert response.status_code == 303
    assert response.location == f"/staff/moderation?kind=comment&round={scene['round'].id}&page=2"
    assert db.session.get(Vote, vote.id).comment_status == Moderation.APPROVED
    assert "Approved: it is published with the results." in words(client.get("/staff/moderation"))
    assert count(AuditLog, AuditLog.action == "moderation.approve") == 1


def test_approve_with_htmx_swaps_only_that_item(client, as_role, scene):
    """htmx gets the item back (its new state, a status message) and the counts out of band."""
    as_role("staff")
    suggestion = scene["suggestion"]
    response = client.post_form(f"/staff/moderation/suggestion/{suggestion.id}/approve",
                                {"seen": moderation.fingerprint(suggestion)}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert body.count("<article") == 1 and f'id="item-suggestion-{suggestion.id}"' in body
    assert 'id="moderation-counts" data-hx-swap-oob="true"' in body
    assert "4 waiting for a decision" in words(response) and "Approved for publication" in words(response)
    assert db.session.get(Suggestion, suggestion.id).moderation == Moderation.APPROVED


def test_a_stale_page_cannot_approve_changed_words(client, as_role, scene):
    """The words changed after the page was loaded: refused, the item shows the new words."""
    as_role("staff")
    vote = scene["comment"]
    seen = moderation.fingerprint(vote)
    services.cast_vote(scene["author"], scene["first"], Stance.AMEND, "New words with a name in")
    db.session.commit()
    response = client.post_form(f"/staff/moderation/comment/{vote.id}/approve", {"seen": seen}, headers=HX)
    assert response.status_code == 422
    assert "changed this while you were reading it" in words(response) and "New words with a name in" in words(response)
    plain = client.post_form(f"/staff/moderation/comment/{vote.id}/approve", {"seen": seen})
    assert plain.status_code == 422 and "changed this while you were reading it" in words(plain)
    assert db.session.get(Vote, vote.id).comment_status == Moderation.PENDING


def test_hide_needs_a_reason_over_http_and_keeps_what_was_typed(client, as_role, scene):
    """No reason: the item's form again (422) with the error; too long: the text typed is kept;
    a good reason hides it (303 back, or the item for htmx)."""
    as_role("staff")
    vote = scene["comment"]
    url = f"/staff/moderation/comment/{vote.id}/hide"
    seen = moderation.fingerprint(vote)
    refused = client.post_form(url, {"seen": seen, "reason": ""}, headers=HX)
    assert refused.status_code == 422 and "Enter why it is hidden" in words(refused)
    assert f'href="#reason-comment-{vote.id}"' in refused.get_data(as_text=True)
    long = "Too long " * 80
    plain = client.post_form(url, {"seen": seen, "reason": long})
    assert plain.status_code == 422 and "500 characters or fewer" in words(plain)
    assert long.strip() in html.unescape(plain.get_data(as_text=True))
    assert "<html" in plain.get_data(as_text=True)  # its own page without JavaScript
    assert db.session.get(Vote, vote.id).comment_status == Moderation.PENDING
    done = client.post_form(url, {"seen": seen, "reason": "Names a person", "status": "pending"})
    assert done.status_code == 303 and done.location == "/staff/moderation"
    assert db.session.get(Vote, vote.id).comment_hidden_reason == "Names a person"
    page = client.get(url)
    assert page.status_code == 200 and "Names a person" in words(page)


def test_redact_form_shows_the_original_beside_the_wording(client, as_role, scene):
    """The redact page is prefilled with what would be published and shows the member's words;
    saving publishes staff's wording (303 back); the public CSV has it and not the original."""
    as_role("staff")
    suggestion = scene["suggestion"]
    url = f"/staff/moderation/suggestion/{suggestion.id}/redact"
    page = client.get(url)
    body = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "The member's words (kept as they wrote them)" in body
    assert re.search(r'<textarea[^>]*name="text"[^>]*>\s*Name small charities, says Ann</textarea>', body)
    fragment = client.get(url, headers=HX)
    assert "<html" not in fragment.get_data(as_text=True) and 'name="text"' in fragment.get_data(as_text=True)
    refused = client.post_form(url, {"seen": moderation.fingerprint(suggestion), "text": "", "reason": "Kept"})
    assert refused.status_code == 422 and "Enter the wording to publish" in words(refused)
    assert "Kept" in words(refused)
    done = client.post_form(url, {"seen": moderation.fingerprint(suggestion), "text": "Name small charities",
                                  "reason": ""})
    assert done.status_code == 303 and done.location == "/staff/moderation"
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "moderation.redact"))
    assert entry.details["published_after"] == {"text": "Name small charities", "reason": ""}
    response = client.get(f"/principles/rounds/{scene['round'].id}/results.csv")  # staff see an open round's
    assert response.status_code == 200
    assert "Name small charities" in response.get_data(as_text=True)
    assert "says Ann" not in response.get_data(as_text=True)
    comment_url = f"/staff/moderation/comment/{scene['comment'].id}/redact"
    fragment = client.post_form(comment_url, {"seen": moderation.fingerprint(scene["comment"]),
                                              "text": "Name charities"}, headers=HX)
    assert fragment.status_code == 200 and "Published with staff's wording" in words(fragment)


# --- HTTP: what the public and the member see --------------------------------------------------

def test_public_pages_show_only_approved_items_as_published(client, as_role, scene, organiser):
    """Results, the CSV and 'you said, we did' carry approved items only, with staff's wording."""
    closed = scene["closed"]
    old = scene["old"]
    moderation.redact(organiser, old, "Earlier, redacted")
    db.session.commit()
    results = words(client.get(f"/principles/rounds/{closed.id}/results"))
    assert "Comments (1)" in results and "Oppose: Earlier, redacted" in results and "Earlier thoughts" not in results
    body = client.get(f"/principles/rounds/{closed.id}/results.csv").get_data(as_text=True)
    assert "Earlier, redacted" in body and "Earlier thoughts" not in body
    round_ = scene["round"]
    moderation.approve(organiser, scene["other_suggestion"])
    moderation.hide(organiser, scene["suggestion"], "Names the author")
    db.session.commit()
    said = words(client.get(f"/principles/rounds/{round_.id}/responses"))
    assert "Plainer words" in said and "Name small charities" not in said


def test_the_member_sees_their_own_pending_items_and_others_do_not(client, as_role, scene, make_user, organiser):
    """The author sees their pending suggestion and comment marked 'Awaiting moderation'; anyone
    else sees neither; once hidden the author sees the reason."""
    first = scene["first"]
    url = f"/principles/drafts/{first.id}"
    anonymous = words(client.get(url))
    assert "Name small charities" not in anonymous and "Suggestions (0)" in anonymous
    client.post_form("/auth/login", {"email": "author@example.org", "password": "correct horse battery"})
    mine = words(client.get(url))
    assert "Name small charities, says Ann" in mine and "Awaiting moderation" in mine
    assert "Only you can see this until a member of staff has checked it" in mine
    assert "Only you can see your comment until a member of staff has checked it" in mine
    moderation.hide(organiser, scene["suggestion"], "Names the author")
    moderation.redact(organiser, scene["comment"], "Name charities")
    db.session.commit()
    mine = words(client.get(url))
    assert "Not published because: Names the author" in mine
    assert "Your comment is published with the results, with wording edited by staff" in mine


def test_a_suggestion_sent_is_not_published_straight_away(client, as_role, scene):
    """Sending a suggestion says staff check it first; others cannot see or endorse it yet."""
    me = as_role("member")
    draft = scene["second"]
    response = client.post_form(f"/principles/drafts/{draft.id}/suggestions", {"text": "Fresh wording", "reason": ""})
    assert response.status_code == 303
    page = words(client.get(f"/principles/drafts/{draft.id}"))
    assert "A member of staff will check it before it is published" in page and "Fresh wording" in page
    mine = db.session.scalar(sa.select(Suggestion).where(Suggestion.user_id == me.id))
    assert mine.moderation == Moderation.PENDING
    other = scene["other_suggestion"]
    client.post_form(f"/principles/suggestions/{other.id}/endorse")
    assert "once staff have checked and published it" in words(client.get(f"/principles/drafts/{draft.id}"))
    assert db.session.get(Suggestion, other.id).endorsement_count == 0


def test_the_forms_and_privacy_notice_say_what_is_published(client, as_role, scene):
    """The vote comment and the suggestion say beside the field what is published and how; so does
    the privacy notice."""
    as_role("member")
    body = client.get(f"/principles/drafts/{scene['first'].id}").get_data(as_text=True)
    assert re.search(r'id="comment-hint">Your comment may be published with the results, without your name, '
                     r'after a member of staff has checked it', body)
    assert 'aria-describedby="comment-hint' in body
    assert re.search(r'id="text-hint">Your suggestion and your reason may be published', body)
    assert "Do not include anything that identifies you or anyone else." in html.unescape(body)
    cards = client.get("/principles/").get_data(as_text=True)
    assert f'id="comment-{scene["first"].id}-hint"' in cards
    privacy = words(client.get("/privacy"))
    for phrase in ("published anonymously", "after a member of staff has checked them", "edit what is published",
                   "hide it with a reason", "your own words as you wrote them, linked to your account, until you "
                   "delete your account"):
        assert phrase in privacy, phrase
