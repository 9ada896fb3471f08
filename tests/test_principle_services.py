"""Principle rules (kil_network/principles/services.py) without HTTP: voting and eligibility, exact
tallies, small groups suppressed, suggestions and endorsements, staff rounds, history diffs, CSV,
and what happens to votes when an account is deleted."""
import csv
import io
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from kil_network.core.models import AuditLog
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.members import services as member_services
from kil_network.principles import moderation, results, services, tallies
from kil_network.principles.models import (
    Draft,
    Eligibility,
    Endorsement,
    Principle,
    ResponseStatus,
    Round,
    RoundState,
    Stance,
    Suggestion,
    Vote,
    VoteTally,
)
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat, WorkshopStatus
from tests.support.db import count

# --- Helpers ------------------------------------------------------------------------------

@pytest.fixture
def staff(make_user):
    """A member of staff who runs the rounds."""
    return make_user(email="staff@example.org", name="Sam Staff", role="staff")


@pytest.fixture
def make_round(staff):
    """Create a round through the services in a state ('draft', 'open' or 'closed') and commit."""
    counter = {"n": 0}

    def factory(state="open", *, eligibility=Eligibility.MEMBERS, opens_at=None,
                closes_at=None, texts=None):
        counter["n"] += 1
        round_ = services.create_round(staff, name=f"Round {counter['n']}", opens_at=opens_at,
                                       closes_at=closes_at or utcnow() + timedelta(days=30),
                                       eligibility=eligibility)
        if texts:
            edit_texts(staff, round_, texts)
        if state in ("open", "closed"):
            services.open_round_for_votes(staff, round_)
        if state == "closed":
            services.close_round(staff, round_)
        db.session.commit()
        return round_

    return factory


def edit_texts(actor, round_, texts: dict[int, str]) -> None:
    """Give the round's drafts new wording by principle number (round still a draft)."""
    drafts = {d.number: d for d in services.drafts_of(round_)}
    values = {drafts[n].id: {"title": f"Title {n}: {t.split()[0]}", "text": t, "what_changed": "Reworded"}
              for n, t in texts.items()}
    services.update_round(actor, round_, name=round_.name, introduction=round_.introduction, opens_at=round_.opens_at,
                          closes_at=round_.closes_at, eligibility=round_.eligibility, drafts=values)


def drafts(round_) -> list[Draft]:
    """The round's six drafts in order."""
    return services.drafts_of(round_)


def make_workshop(round_, *, live=True, title="Leeds workshop") -> Workshop:
    """A published workshop that started an hour ago, linked to the round, live voting on or off."""
    starts = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    workshop = Workshop(title=title, format=WorkshopFormat.IN_PERSON, starts_at=starts,
                        ends_at=starts + timedelta(hours=2), registration_closes_at=starts - timedelta(days=1),
                        capacity=50, status=WorkshopStatus.PUBLISHED, round_id=round_.id if round_ else None,
                        live_voting=live)
    db.session.add(workshop)
    db.session.commit()
    return workshop


def attend(workshop, user, *, checked_in=True) -> Registration:
    """A confirmed registration, checked in on the day unless told otherwise."""
    reg = Registration(workshop_id=workshop.id, user_id=user.id, member_type=user.member_type,
                       state=RegistrationState.CONFIRMED, checked_in_at=utcnow() if checked_in else None)
    db.session.add(reg)
    db.session.commit()
    return reg


def vote(user, draft, stance="support", comment="", workshop=None) -> Vote:
    """Cast a vote as a request would, and commit."""
    result = services.cast_vote(user, draft, Stance(stance), comment, workshop)
    db.session.commit()
    return result


def stored_tallies() -> dict:
    """The tally table as {(draft_id, dimension, key): (support, amend, oppose)}, empty rows left out."""
    db.session.expire_all()
    rows = db.session.execute(sa.select(VoteTally.draft_id, VoteTally.dimension, VoteTally.key,
                                        VoteTally.support, VoteTally.amend, VoteTally.oppose)).all()
    assert all(min(s, a, o) >= 0 for *_, s, a, o in rows), "a tally went negative"
    return {(d, dim, key): (s, a, o) for d, dim, key, s, a, o in rows if s or a or o}


RECOUNT = {
    "all": "SELECT draft_id, '', stance, COUNT(*) FROM votes GROUP BY draft_id, stance",
    "type": "SELECT draft_id, member_type, stance, COUNT(*) FROM votes GROUP BY draft_id, member_type, stance",
    "region": "SELECT draft_id, region_id, stance, COUNT(*) FROM votes WHERE region_id IS NOT NULL "
              "GROUP BY draft_id, region_id, stance",
    "workshop": "SELECT draft_id, workshop_id, stance, COUNT(*) FROM votes WHERE workshop_id IS NOT NULL "
                "GROUP BY draft_id, workshop_id, stance",
}


def recount() -> dict:
    """The tallies the votes table implies, counted with plain SQL GROUP BY (independent of the app)."""
    out = {}
    for dimension, sql in RECOUNT.items():
        for draft_id, key, stance, n in db.session.execute(sa.text(sql)):
            cell = out.setdefault((draft_id, dimension, str(key)), {"support": 0, "amend": 0, "oppose": 0})
            cell[stance] += n
    return {k: (c["support"], c["amend"], c["oppose"]) for k, c in out.items()}


def overall(draft) -> dict | None:
    """The 'all voters' results cell of a draft."""
    return tallies.tallies([draft.id])[draft.id]["all"].get("")


def audit_actions(target) -> list[str]:
    """Audit actions recorded against a record, oldest first."""
    return list(db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.target_type == type(target).__name__.lower(),
                                         AuditLog.target_id == target.id).order_by(AuditLog.id)))


# --- Voting -------------------------------------------------------------------------------

def test_first_vote_counts_in_every_group(make_round, make_user):
    """A first vote is stored once and counted overall, by member type and by region."""
    round_ = make_round()
    member = make_user(member_type="councillor", gss_code="E08000035")
    draft = drafts(round_)[0]
    cast = vote(member, draft, "support", "Good start.")
    assert (cast.stance, cast.user_id, cast.comment) == (Stance.SUPPORT, member.id, "Good start.")
    assert cast.member_type.value == "councillor" and cast.region_id == member.region_id is not None
    assert stored_tallies() == {
        (draft.id, "all", ""): (1, 0, 0),
        (draft.id, "type", "councillor"): (1, 0, 0),
        (draft.id, "region", str(member.region_id)): (1, 0, 0),
    }


def test_changing_a_vote_moves_the_tallies(make_round, make_user):
    """Support then oppose: still one vote, the count moves from support to oppose in every group."""
    round_ = make_round()
    member = make_user()
    draft = drafts(round_)[2]
    vote(member, draft, "support")
    vote(member, draft, "oppose")
    assert count(Vote) == 1
    assert db.session.scalar(sa.select(Vote.stance)) == Stance.OPPOSE
    tallies = stored_tallies()
    assert tallies[(draft.id, "all", "")] == (0, 0, 1)
    assert tallies[(draft.id, "type", "community_organisation")] == (0, 0, 1)
    assert tallies == recount()


def test_same_stance_twice_changes_nothing(make_round, make_user):
    """Voting the same way again leaves one vote and the tallies as they were."""
    round_ = make_round()
    member = make_user()
    draft = drafts(round_)[0]
    vote(member, draft, "amend")
    before = stored_tallies()
    vote(member, draft, "amend")
    assert count(Vote) == 1
    assert stored_tallies() == before
    assert before[(draft.id, "all", "")] == (0, 1, 0)


def test_comment_is_saved_and_can_be_changed(make_round, make_user):
    """The optional comment is stored with the vote and replaced when the vote is changed."""
    round_ = make_round()
    member = make_user()
    draft = drafts(round_)[0]
    vote(member, draft, "amend", "Say more about small charities.")
    assert db.session.scalar(sa.select(Vote.comment)) == "Say more about small charities."
    vote(member, draft, "amend", "<b>Plain text</b> only")
    db.session.expire_all()
    assert db.session.scalar(sa.select(Vote.comment)) == "<b>Plain text</b> only"


def test_overlong_comment_refused(make_round, make_user):
    """A comment over 2,000 characters is refused and nothing is stored."""
    round_ = make_round()
    with pytest.raises(RuleError, match="2,000"):
        services.cast_vote(make_user(), drafts(round_)[0], Stance.SUPPORT, "x" * 2001)
    db.session.rollback()
    assert count(Vote) == 0 and stored_tallies() == {}


@pytest.mark.parametrize("value", ["maybe", "", "SUPPORT", "support ", "abstain", "0"])
def test_stance_outside_the_three_values_refused(value):
    """Only support, amend and oppose are stances; anything else is a clear error on the stance field."""
    with pytest.raises(RuleError) as caught:
        services.parse_stance(value)
    assert caught.value.field == "stance"
    assert "support with changes" in caught.value.message


@pytest.mark.parametrize("value", ["support", "amend", "oppose"])
def test_the_three_stances_parse(value):
    """The three form values are accepted."""
    assert services.parse_stance(value) == Stance(value)


@pytest.mark.parametrize(("case", "message"), [
    ("closed", "has closed"),
    ("draft", "not open yet"),
    ("before_opens_at", "not open yet"),
    ("after_closes_at", "has closed"),
])
def test_vote_refused_outside_the_round(make_round, make_user, case, message):
    """Closed round, draft round, before opens_at, after closes_at: refused, nothing stored."""
    if case == "before_opens_at":
        round_ = make_round("open", opens_at=utcnow() + timedelta(days=1))
        assert round_.state == RoundState.OPEN
    elif case == "after_closes_at":
        round_ = make_round("open")
        round_.closes_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert round_.state == RoundState.OPEN
    else:
        round_ = make_round(case)
    member = make_user()
    draft = drafts(round_)[0]
    assert message in services.participation_error(member, round_)
    with pytest.raises(RuleError, match=message):
        services.cast_vote(member, draft, Stance.SUPPORT, "Too late?")
    db.session.rollback()
    assert count(Vote) == 0
    assert count(VoteTally) == 0


def test_unconfirmed_member_refused(make_round, make_user):
    """A member who has not confirmed their email cannot vote; nothing stored."""
    round_ = make_round()
    member = make_user(confirmed=False)
    with pytest.raises(RuleError, match="Confirm your email"):
        services.cast_vote(member, drafts(round_)[0], Stance.SUPPORT)
    db.session.rollback()
    assert count(Vote) == 0 and count(VoteTally) == 0


def test_anonymous_refused():
    """Someone not signed in is asked to sign in."""
    round_ = Round(name="r", state=RoundState.OPEN)
    assert services.participation_error(AnonymousUserMixin(), round_) == "Sign in to take part."
    assert services.participation_error(None, round_) == "Sign in to take part."


def test_attendees_only_round(make_round, make_user):
    """Only members checked in at a workshop linked to the round may vote in an attendees-only round."""
    earlier = make_round("closed")
    round_ = make_round("open", eligibility=Eligibility.ATTENDEES)
    workshop = make_workshop(round_)
    other_round_workshop = make_workshop(earlier, title="Earlier workshop")
    attendee, no_show, elsewhere, stranger = (make_user() for _ in range(4))
    attend(workshop, attendee)
    attend(workshop, no_show, checked_in=False)
    attend(other_round_workshop, elsewhere)
    draft = drafts(round_)[0]

    assert services.participation_error(attendee, round_) is None
    vote(attendee, draft, "support")
    for person in (no_show, elsewhere, stranger):
        assert "attended" in services.participation_error(person, round_)
        with pytest.raises(RuleError, match="attended one of this round's workshops"):
            services.cast_vote(person, draft, Stance.OPPOSE)
        db.session.rollback()
    assert list(db.session.scalars(sa.select(Vote.user_id))) == [attendee.id]
    assert stored_tallies()[(draft.id, "all", "")] == (1, 0, 0)


def test_all_members_round_needs_no_attendance(make_round, make_user):
    """In an all-members round a confirmed member who went to no workshop may vote."""
    round_ = make_round("open", eligibility=Eligibility.MEMBERS)
    member = make_user()
    assert services.participation_error(member, round_) is None
    vote(member, drafts(round_)[0])
    assert count(Vote) == 1


def test_vote_through_live_workshop_recorded_with_it(make_round, make_user):
    """The workshop is kept only when it has live voting on and belongs to the draft's round."""
    earlier = make_round("closed")
    round_ = make_round("open")
    live = make_workshop(round_, live=True, title="Live")
    not_live = make_workshop(round_, live=False, title="Not live")
    other_round = make_workshop(earlier, live=True, title="Other round")
    no_round = make_workshop(None, live=True, title="No round")
    cases = [(live.id, live.id), (str(live.id), live.id), (not_live.id, None), (other_round.id, None),
             (no_round.id, None), ("junk", None), ("999999", None), ("", None), (None, None)]
    draft = drafts(round_)[0]
    for (given, expected), member in zip(cases, [make_user() for _ in cases], strict=True):
        attend(live, member)  # only attendees count in a workshop's tally
        cast = vote(member, draft, "support", workshop=given)
        assert cast.workshop_id == expected, given
    tallies = stored_tallies()
    assert tallies[(draft.id, "workshop", str(live.id))] == (2, 0, 0)
    assert not [k for k in tallies if k[1] == "workshop" and k[2] != str(live.id)]
    assert tallies[(draft.id, "all", "")] == (len(cases), 0, 0)
    assert tallies == recount()


def test_changed_vote_joins_the_workshop_it_is_cast_through(make_round, make_user):
    """A vote first cast at home, then changed through the live workshop link, moves into that workshop's tally."""
    round_ = make_round()
    workshop = make_workshop(round_)
    member = make_user()
    attend(workshop, member)
    draft = drafts(round_)[0]
    vote(member, draft, "support")
    cast = vote(member, draft, "oppose", workshop=workshop.id)
    assert cast.workshop_id == workshop.id
    tallies = stored_tallies()
    assert tallies[(draft.id, "workshop", str(workshop.id))] == (0, 0, 1)
    assert tallies[(draft.id, "all", "")] == (0, 0, 1)
    assert tallies == recount()


def test_tallies_equal_a_recount_after_random_votes_and_changes(make_round, make_user):
    """After 300 random votes and changes (types, regions, workshops), every tally equals a GROUP BY recount."""
    round_ = make_round()
    live, other = make_workshop(round_, title="Live A"), make_workshop(round_, title="Live B")
    off = make_workshop(round_, live=False, title="Off")
    types = ["councillor", "commissioner", "community_organisation", "academic", "other"]
    codes = ["E06000023", "E08000035", "W06000015", "E09000033", None]
    people = [make_user(member_type=types[i % 5], gss_code=codes[i * 3 % 5]) for i in range(12)]
    for i, person in enumerate(people):  # some at one live workshop, some at the other, some at none
        if i % 3:
            attend(live if i % 3 == 1 else other, person)
    six = drafts(round_)
    rng = random.Random(4)
    for _ in range(300):
        vote(rng.choice(people), rng.choice(six), rng.choice(["support", "amend", "oppose"]),
             workshop=rng.choice([None, None, live.id, other.id, off.id, "junk"]))
    stored = stored_tallies()
    assert stored == recount()
    assert sum(v[0] + v[1] + v[2] for k, v in stored.items() if k[1] == "all") == count(Vote)
    assert count(Vote) == len({(v.draft_id, v.user_id) for v in db.session.scalars(sa.select(Vote))})
    tallies.rebuild_tallies()
    assert stored_tallies() == stored  # the app's own recount agrees
    db.session.rollback()


# --- Results ------------------------------------------------------------------------------

def test_groups_under_five_suppressed(make_round, make_user):
    """4 voters: 'fewer than 5', no counts; a 5th voter shows counts and percentages overall,
    while the groups are hidden so that neither can be worked out from the other and the total."""
    round_ = make_round()
    draft = drafts(round_)[0]
    councillors = [make_user(member_type="councillor") for _ in range(4)]
    for person, stance in zip(councillors, ["support", "support", "amend", "oppose"], strict=True):
        vote(person, draft, stance)
    cell = overall(draft)
    assert cell.suppressed and cell.label == "fewer than 5"
    assert results.round_results(round_)["tallies"][draft.id]["type"]["councillor"]["suppressed"]

    vote(make_user(member_type="academic"), draft, "support")
    cell = overall(draft)
    assert cell["suppressed"] is False
    assert (cell["total"], cell["support"], cell["amend"], cell["oppose"]) == (5, 3, 1, 1)
    assert cell["pct"] == {"support": 60, "amend": 20, "oppose": 20}
    by_type = results.round_results(round_)["tallies"][draft.id]["type"]
    assert by_type["councillor"].label == "fewer than 5" and by_type["academic"].label == "fewer than 5"
    csv_text = results.results_csv(round_)
    assert "fewer than 5" in csv_text and ",4," not in csv_text  # no group's size either


def test_results_visible_rules(make_round, make_user, staff):
    """Staff see results while a round is open; members and the public only after it closes; no one for drafts."""
    member, admin = make_user(), make_user(role="admin")
    anonymous = AnonymousUserMixin()
    draft_round = make_round("draft")
    assert not any(services.results_visible(draft_round, who) for who in (staff, admin, member, anonymous))
    services.open_round_for_votes(staff, draft_round)
    db.session.commit()
    assert services.results_visible(draft_round, staff) and services.results_visible(draft_round, admin)
    assert not services.results_visible(draft_round, member)
    assert not services.results_visible(draft_round, anonymous)
    services.close_round(staff, draft_round)
    db.session.commit()
    assert all(services.results_visible(draft_round, who) for who in (staff, admin, member, anonymous))


def test_results_csv_has_no_names_and_suppresses_small_groups(make_round, make_user, staff):
    """The CSV has aggregates, comments and suggestions but no voter names or emails; small groups say
    'fewer than 5'."""
    round_ = make_round()
    draft = drafts(round_)[0]
    people = [make_user(name=f"Zebedee Quill{i}", email=f"zq{i}@unique-voter.example",
                        member_type="community_organisation")
              for i in range(5)]
    people += [make_user(name="Ottoline Vane", email="ottoline@unique-voter.example", member_type="councillor")]
    for i, person in enumerate(people):
        vote(person, draft, ["support", "amend", "oppose"][i % 3], f"Comment number {i}")
    vote(people[0], drafts(round_)[1], "support", "=HYPERLINK(\"http://evil\")")
    suggestion = services.suggest(people[1], draft, "Say neighbourhood, not locality", "Clearer")
    for published in [*db.session.scalars(sa.select(Vote).where(Vote.comment != "")), suggestion]:
        moderation.approve(staff, published)  # the CSV carries what staff approved
    db.session.commit()
    assert suggestion.id
    text = results.results_csv(round_)
    for person in people:
        assert person.name not in text and person.email not in text
    assert "Zebedee" not in text and "unique-voter" not in text and "Ottoline" not in text
    rows = list(csv.reader(io.StringIO(text)))
    by_group = {(r[1], r[3], r[4]): r for r in rows if r and r[0] == "results"}
    assert by_group[("1", "all", "All voters")][5:9] == ["6", "2", "2", "2"]
    assert by_group[("1", "all", "All voters")][9:] == ["33", "33", "33"]
    councillors = by_group[("1", "type", "Councillor")]
    assert councillors[5] == "fewer than 5" and councillors[6:] == [""] * 6
    assert by_group[("2", "all", "All voters")][5] == "fewer than 5"
    comments = [r for r in rows if r and r[0] == "comment"]
    assert ["comment", "1", "Support", "Comment number 0"] in comments
    assert ["comment", "2", "Support", "'=HYPERLINK(\"http://evil\")"] in comments  # formula neutralised
    assert any(r[0] == "suggestion" and r[2] == "Say neighbourhood, not locality" for r in rows if r)


# --- Suggestions, endorsements, responses --------------------------------------------------

def test_suggestion_stored_stripped(make_round, make_user):
    """A suggestion is stored with its reason, trimmed, with no endorsements."""
    round_ = make_round()
    member = make_user()
    suggestion = services.suggest(member, drafts(round_)[0], "  Say 'neighbourhood'  ", " Clearer ")
    db.session.commit()
    assert (suggestion.text, suggestion.reason, suggestion.endorsement_count) == ("Say 'neighbourhood'", "Clearer", 0)
    assert suggestion.user_id == member.id and suggestion.response_status is None


@pytest.mark.parametrize(("text", "reason", "field"), [
    ("", "", "text"),
    ("   \n ", "why", "text"),
    ("x" * 2001, "", "text"),
    ("Fine wording", "y" * 2001, "reason"),
])
def test_bad_suggestion_refused(make_round, make_user, text, reason, field):
    """Empty or overlong wording, or an overlong reason: a clear error on that field, nothing stored."""
    round_ = make_round()
    with pytest.raises(RuleError) as caught:
        services.suggest(make_user(), drafts(round_)[0], text, reason)
    assert caught.value.field == field
    db.session.rollback()
    assert count(Suggestion) == 0


def test_longest_suggestion_accepted(make_round, make_user):
    """Exactly 2,000 characters is allowed."""
    round_ = make_round()
    services.suggest(make_user(), drafts(round_)[0], "x" * 2000, "y" * 2000)
    db.session.commit()
    assert count(Suggestion) == 1


def test_suggestion_on_closed_round_refused(make_round, make_user):
    """No suggestions once the round has closed."""
    round_ = make_round("closed")
    with pytest.raises(RuleError, match="has closed"):
        services.suggest(make_user(), drafts(round_)[0], "Too late")
    db.session.rollback()
    assert count(Suggestion) == 0


def test_endorsements(make_round, make_user, staff):
    """Others endorse once each (the count goes up); the author cannot; a second endorsement is refused."""
    round_ = make_round()
    author, first, second = make_user(), make_user(), make_user()
    suggestion = services.suggest(author, drafts(round_)[0], "Better words")
    moderation.approve(staff, suggestion)  # only published suggestions can be endorsed
    db.session.commit()
    with pytest.raises(RuleError, match="your own"):
        services.endorse(author, suggestion)
    db.session.rollback()
    assert count(Endorsement) == 0

    services.endorse(first, suggestion)
    db.session.commit()
    assert suggestion.endorsement_count == 1
    with pytest.raises(RuleError, match="already endorsed"):
        services.endorse(first, suggestion)
    db.session.rollback()
    db.session.expire_all()
    assert suggestion.endorsement_count == 1 and count(Endorsement) == 1

    services.endorse(second, suggestion)
    db.session.commit()
    assert suggestion.endorsement_count == 2 and count(Endorsement) == 2
    assert services.endorsed_ids(first, [suggestion.id]) == {suggestion.id}
    assert services.endorsed_ids(author, [suggestion.id]) == set()


def test_endorse_on_closed_round_refused(make_round, make_user, staff):
    """Endorsing is taking part: refused once the round has closed."""
    round_ = make_round()
    suggestion = services.suggest(make_user(), drafts(round_)[0], "Words")
    services.close_round(staff, round_)
    db.session.commit()
    with pytest.raises(RuleError, match="has closed"):
        services.endorse(make_user(), suggestion)
    db.session.rollback()
    assert count(Endorsement) == 0


def test_respond_requires_text_and_is_audited(make_round, make_user, staff):
    """A response needs a reason; a saved response records status, text, who and when, and an audit row."""
    round_ = make_round()
    suggestion = services.suggest(make_user(), drafts(round_)[0], "Words")
    moderation.approve(staff, suggestion)  # 'you said, we did' lists published suggestions
    db.session.commit()
    with pytest.raises(RuleError) as caught:
        services.respond(staff, suggestion, ResponseStatus.ACCEPTED, "   ")
    assert caught.value.field == "response_text"
    db.session.rollback()
    assert audit_actions(suggestion) == ["moderation.approve"]
    assert suggestion.response_status is None

    services.respond(staff, suggestion, ResponseStatus.PARTLY, "  We used half of it. ")
    db.session.commit()
    db.session.expire_all()
    assert suggestion.response_status == ResponseStatus.PARTLY
    assert suggestion.response_text == "We used half of it."
    assert suggestion.responded_by_id == staff.id and suggestion.responded_at is not None
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "suggestion.respond"))
    assert (entry.actor_id, entry.target_type, entry.target_id) == (staff.id, "suggestion", suggestion.id)
    assert results.responses(round_) == [suggestion]


# --- Staff: rounds ------------------------------------------------------------------------

def test_first_round_uses_principle_names(make_round):
    """With no earlier round, the six drafts start from the principles' short names."""
    round_ = make_round("draft")
    names = list(db.session.scalars(sa.select(Principle.short_name).order_by(Principle.number)))
    assert [d.title for d in drafts(round_)] == names and len(names) == 6
    assert [d.number for d in drafts(round_)] == [1, 2, 3, 4, 5, 6]


def test_create_round_copies_the_latest_drafts(make_round, staff):
    """The next round starts with the latest round's wording (what changed cleared) and is audited."""
    first = make_round("closed", texts={n: f"Wording {n} from the first round" for n in range(1, 7)})
    second = services.create_round(staff, name="Round two", closes_at=utcnow() + timedelta(days=9))
    db.session.commit()
    old, new = drafts(first), drafts(second)
    assert [(d.title, d.text) for d in new] == [(d.title, d.text) for d in old]
    assert [d.text for d in new][0] == "Wording 1 from the first round"
    assert all(d.what_changed == "" for d in new) and {d.id for d in new}.isdisjoint({d.id for d in old})
    assert second.state == RoundState.DRAFT and second.previous_round_id == first.id
    assert audit_actions(second) == ["round.create"]


def test_update_round_edits_drafts_only_while_draft(make_round, staff):
    """Wording can change while the round is a draft, not once it is open (votes are tied to it)."""
    round_ = make_round("draft")
    edit_texts(staff, round_, {1: "Revised wording one"})
    db.session.commit()
    assert drafts(round_)[0].text == "Revised wording one"
    services.open_round_for_votes(staff, round_)
    db.session.commit()
    first = drafts(round_)[0]
    with pytest.raises(RuleError, match="before the round opens"):
        services.update_round(staff, round_, name="Renamed", introduction="", opens_at=round_.opens_at,
                              closes_at=round_.closes_at, eligibility=round_.eligibility,
                              drafts={first.id: {"title": "Sneaky", "text": "Sneaky change", "what_changed": ""}})
    db.session.rollback()
    db.session.expire_all()
    assert (first.title, first.text) == ("Title 1: Revised", "Revised wording one")
    assert round_.name != "Renamed"
    services.update_round(staff, round_, name="Renamed", introduction="", opens_at=round_.opens_at,
                          closes_at=round_.closes_at + timedelta(days=1), eligibility=round_.eligibility)
    db.session.commit()
    assert round_.name == "Renamed"
    assert audit_actions(round_).count("round.update") == 2


def test_update_round_closing_before_opening_refused(make_round, staff):
    """A round must close after it opens."""
    round_ = make_round("draft")
    opens = utcnow() + timedelta(days=5)
    with pytest.raises(RuleError) as caught:
        services.update_round(staff, round_, name=round_.name, introduction="", opens_at=opens,
                              closes_at=opens - timedelta(hours=1), eligibility=Eligibility.MEMBERS)
    assert caught.value.field == "closes_at"


def test_create_round_closing_before_opening_refused(make_round, staff):
    """create_round applies the same date rule as update_round: nothing is created."""
    make_round("closed")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Round))
    opens = utcnow() + timedelta(days=10)
    with pytest.raises(RuleError) as caught:
        services.create_round(staff, name="Backwards", opens_at=opens, closes_at=opens - timedelta(days=5))
    assert caught.value.field == "closes_at" and caught.value.message == "The round must close after it opens"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == before


def test_round_visible_hides_draft_rounds_from_all_but_staff(make_round, make_user, staff):
    """A draft round is staff-only; open and closed rounds are for everyone (the routes 404 otherwise)."""
    draft_round, open_round = make_round("draft"), make_round("open")
    member = make_user(email="member@example.org")
    for user in (None, AnonymousUserMixin(), member):
        assert not services.round_visible(draft_round, user) and services.round_visible(open_round, user)
    assert services.round_visible(draft_round, staff)


def test_open_refuses_a_second_open_round(make_round, staff):
    """Only one round is open at a time; only a draft round can be opened."""
    first = make_round("open")
    second = make_round("draft")
    with pytest.raises(RuleError, match="before opening another round"):
        services.open_round_for_votes(staff, second)
    db.session.rollback()
    assert second.state == RoundState.DRAFT
    with pytest.raises(RuleError, match="Only a draft round"):
        services.open_round_for_votes(staff, first)
    db.session.rollback()
    assert services.open_round() == first


def test_open_refuses_a_past_closing_time(make_round, staff):
    """A round whose closing time has passed cannot be opened."""
    round_ = make_round("draft", closes_at=utcnow() - timedelta(minutes=5))
    with pytest.raises(RuleError, match="closing time has passed"):
        services.open_round_for_votes(staff, round_)
    db.session.rollback()
    assert round_.state == RoundState.DRAFT


def test_close_then_adopt_with_audit(make_round, staff):
    """Adopt is refused while open; close then adopt; each step is audited."""
    round_ = make_round("open")
    with pytest.raises(RuleError, match="Close the round"):
        services.adopt_round(staff, round_)
    db.session.rollback()
    assert round_.adopted_at is None
    services.close_round(staff, round_)
    db.session.commit()
    assert round_.state == RoundState.CLOSED and round_.closes_at <= utcnow()
    assert services.open_round() is None  # closed (state and time asserted above): not open for votes
    with pytest.raises(RuleError, match="Only an open round"):
        services.close_round(staff, round_)
    db.session.rollback()
    services.adopt_round(staff, round_)
    db.session.commit()
    assert round_.adopted_at is not None and services.adopted_round() == round_
    assert audit_actions(round_) == ["round.create", "round.open", "round.close", "round.adopt"]
    actors = set(db.session.scalars(sa.select(AuditLog.actor_id).where(AuditLog.target_type == "round")))
    assert actors == {staff.id}


def test_adopt_refused_for_a_draft_round(make_round, staff):
    """A draft round cannot be adopted either."""
    round_ = make_round("draft")
    with pytest.raises(RuleError):
        services.adopt_round(staff, round_)


# --- History and diffs --------------------------------------------------------------------

def test_principle_history_in_round_order_with_diffs(make_round, make_user):
    """History lists the non-draft rounds in order, each with a word diff against the one before."""
    first = make_round("closed", texts={1: "Spend locally where possible"})
    second = make_round("closed", texts={1: "Spend locally wherever you can"})
    third = make_round("open", texts={1: "Spend locally wherever you can, and invest"})
    make_round("draft", texts={1: "Not published yet"})
    principle = db.session.scalar(sa.select(Principle).where(Principle.number == 1))
    history = results.principle_history(principle)
    assert [h["round"].id for h in history] == [first.id, second.id, third.id]
    assert history[0]["diff"] == [("same", "Spend locally where possible")]
    diff = history[1]["diff"]
    assert diff == [("same", "Spend locally "), ("removed", "where"), ("added", "wherever"), ("same", " "),
                    ("removed", "possible"), ("added", "you can")]
    assert "".join(t for op, t in diff if op != "added") == "Spend locally where possible"
    assert "".join(t for op, t in diff if op != "removed") == "Spend locally wherever you can"
    assert history[2]["diff"] == [("same", "Spend locally wherever you "), ("removed", "can"),
                                  ("added", "can, and invest")]
    assert history[1]["title_diff"] == [("same", "Title 1: Spend")]
    assert [h["visible"] for h in history] == [True, True, False]


def test_principle_history_leaves_out_draft_rounds_and_carries_support(make_round, make_user, staff):
    """A draft round is not in the history; a closed round's overall support is."""
    first = make_round("open", texts={2: "Organise around neighbourhoods"})
    for i in range(5):
        vote(make_user(), drafts(first)[1], "support" if i > 1 else "oppose")
    services.close_round(staff, first)
    db.session.commit()
    make_round("draft", texts={2: "Unpublished wording"})
    principle = db.session.scalar(sa.select(Principle).where(Principle.number == 2))
    history = results.principle_history(principle)
    assert [h["round"].id for h in history] == [first.id]
    assert history[0]["overall"]["pct"] == {"support": 60, "amend": 0, "oppose": 40}
    assert history[0]["by_type"]["community_organisation"]["total"] == 5


def test_word_diff_one_word_replaced():
    """'a b c' → 'a x c' gives same, removed, added, same."""
    assert results.word_diff("a b c", "a x c") == [("same", "a "), ("removed", "b"), ("added", "x"), ("same", " c")]


def test_word_diff_identical_and_empty():
    """No change is one 'same' token; from or to nothing is all added or all removed."""
    assert results.word_diff("keep it local", "keep it local") == [("same", "keep it local")]
    assert results.word_diff("", "new words") == [("added", "new words")]
    assert results.word_diff(None, "new") == [("added", "new")]
    assert results.word_diff("old words", "") == [("removed", "old words")]
    assert results.word_diff("", "") == []


@pytest.mark.parametrize(("old", "new"), [
    ("Spend locally where possible", "Increase local spend to invest in the local economy"),
    ("Think about the whole system", "Think about the whole system, not service silos"),
    ("one  two\nthree", "one two three four"),
    ("Commit to your community", "Commit to your community and support local organisations"),
])
def test_word_diff_rebuilds_both_texts(old, new):
    """Same+removed tokens rebuild the old text and same+added the new, whitespace included."""
    tokens = results.word_diff(old, new)
    assert {op for op, _ in tokens} <= {"same", "added", "removed"}
    assert "".join(t for op, t in tokens if op != "added") == old
    assert "".join(t for op, t in tokens if op != "removed") == new


def test_word_diff_works_on_whole_words():
    """A changed word is reported whole, not letter by letter."""
    assert results.word_diff("local spend", "locally spend") == [("removed", "local"), ("added", "locally"),
                                                                    ("same", " spend")]


# --- Personal data ------------------------------------------------------------------------

def test_deleting_an_account_keeps_its_votes_counted(make_round, make_user, staff):
    """After delete_account the member's votes still count (tallies unchanged) but are no longer linked to them."""
    round_ = make_round()
    people = [make_user() for _ in range(5)]
    leaver = people[0]
    for i, person in enumerate(people):
        vote(person, drafts(round_)[0], "support" if i % 2 else "oppose", "Mine")
    suggestion = services.suggest(leaver, drafts(round_)[0], "My wording")
    other = services.suggest(people[2], drafts(round_)[0], "Other wording")
    moderation.approve(staff, other)  # only published suggestions can be endorsed
    services.endorse(people[1], other)
    services.endorse(leaver, db.session.scalar(sa.select(Suggestion).where(Suggestion.text == "Other wording")))
    db.session.commit()
    before = stored_tallies()
    member_services.delete_account(leaver)
    db.session.commit()
    assert stored_tallies() == before == recount()
    assert count(Vote) == 5
    assert count(Vote, Vote.user_id == leaver.id) == 0 and count(Vote, Vote.user_id.is_(None)) == 1
    db.session.expire_all()
    assert suggestion.user_id is None and count(Suggestion) == 2
    assert count(Endorsement, Endorsement.user_id == leaver.id) == 0 and count(Endorsement) == 2
    assert overall(drafts(round_)[0])["total"] == 5


def test_member_export_includes_votes_and_suggestions(make_round, make_user):
    """The data download lists the member's own votes (with comments) and suggestions, and no one else's."""
    round_ = make_round()
    member, other = make_user(), make_user()
    vote(member, drafts(round_)[0], "amend", "Needs work")
    vote(member, drafts(round_)[3], "oppose")
    vote(other, drafts(round_)[0], "support", "Someone else's comment")
    services.suggest(member, drafts(round_)[0], "My better wording", "Because")
    services.suggest(other, drafts(round_)[0], "Their wording")
    db.session.commit()
    data = member_services.export_member(member)
    votes = data["principle_votes"]
    assert [(v["principle"], v["stance"], v["comment"], v["round"]) for v in votes] == [
        (1, "amend", "Needs work", round_.name), (4, "oppose", "", round_.name)]
    assert [(s["text"], s["reason"]) for s in data["principle_suggestions"]] == [("My better wording", "Because")]
    assert "Someone else's comment" not in str(data) and "Their wording" not in str(data)
