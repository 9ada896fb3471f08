"""Decisions that cannot be undone (issue 12): the "are you sure?" pages before closing a round,
adopting its drafts, cancelling a workshop and a member cancelling their place (nothing happens
without confirm=1); reopening a round closed by mistake (24 hours, results not yet downloaded);
eligibility fixed once a round opens; the mix target's reason for the waitlist; walk-ins counted
apart from booked places. Services first, then HTTP per role."""
import html
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kil_network.auth.models import MemberType
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import RuleError
from kil_network.core.timeutil import london_to_utc, to_london, utcnow
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.principles import services as principles
from kil_network.principles.models import Eligibility, Round, RoundState
from kil_network.workshops import queries
from kil_network.workshops import services as workshops
from kil_network.workshops.models import Registration, RegistrationState, Workshop, WorkshopFormat, WorkshopStatus
from tests.support.db import count
from tests.support.forms import NEXT_YEAR, form_data, region_id

HX = {"HX-Request": "true"}
BIG_ID = "9" * 20


def words(response) -> str:
    """The visible text: tags removed, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def fresh(model, id_):
    """The row as committed."""
    db.session.expire_all()
    return db.session.get(model, id_)


@pytest.fixture
def organiser(make_user):
    """The member of staff who runs rounds and workshops (not the one signed in)."""
    return make_user(email="organiser@example.org", name="Olu Organiser", role="staff")


@pytest.fixture
def make_round(organiser):
    """A round in a state ("draft", "open", "closed"), committed."""
    made = {"n": 0}

    def factory(state="open", *, eligibility=Eligibility.MEMBERS, closes_in=timedelta(days=30)):
        made["n"] += 1
        round_ = principles.create_round(organiser, name=f"Round {made['n']}", eligibility=eligibility,
                                         closes_at=utcnow() + closes_in)
        if state in ("open", "closed"):
            principles.open_round_for_votes(organiser, round_)
        if state == "closed":
            principles.close_round(organiser, round_)
        db.session.commit()
        return round_

    return factory


SUMMER = london_to_utc(datetime(NEXT_YEAR, 7, 15, 18, 30))


@pytest.fixture
def make_workshop(organiser):
    """A published workshop (what `form_data` posts, so an edit can change one thing), committed."""

    def factory(*, capacity=10, mix=None, publish=True, starts_at=None):
        starts = starts_at or SUMMER
        data = {"title": "Commissioning locally in Bristol", "description": "Three hours on the principles.",
                "region": db.session.get(Region, region_id("South West")), "format": WorkshopFormat.IN_PERSON,
                "venue": "M Shed", "address": "Princes Wharf, Bristol", "postcode": "BS1 4RN", "online_url": "",
                "starts_at": starts, "ends_at": starts + timedelta(hours=2, minutes=30),
                "registration_closes_at": starts - timedelta(days=1), "capacity": capacity,
                "accessibility_info": "Lift to all floors.", "mix_max_percent": mix}
        workshop = workshops.create_workshop(organiser, data)
        if publish:
            workshops.publish_workshop(organiser, workshop)
        db.session.commit()
        return workshop

    return factory


@pytest.fixture
def people(make_people):
    """Make n confirmed members (each call makes new people)."""
    return make_people


def book(workshop, user):
    """Register through the service and commit."""
    reg = workshops.register(workshop, user)
    db.session.commit()
    return reg


def walk_ins(organiser, workshop, n):
    """n guests added at the door."""
    for i in range(n):
        workshops.add_walk_in(organiser, workshop, name=f"Guest {i}", email=f"guest{i}@example.org",
                              member_type=MemberType.OTHER)
    db.session.commit()


def audit(action, target_id=None):
    """Audit entries of this action (on this target)."""
    stmt = sa.select(AuditLog).where(AuditLog.action == action)
    if target_id is not None:
        stmt = stmt.where(AuditLog.target_id == target_id)
    return db.session.scalars(stmt.order_by(AuditLog.id)).all()


# --- Services: closing and reopening a round ---------------------------------------------------

def test_close_sets_closed_at_and_reopen_within_24_hours_restores_the_round(make_round, organiser):
    """Closing records when; reopening puts it back to open, results private again, the closing time
    it had before, and is audited."""
    round_ = make_round("open", closes_in=timedelta(days=3))
    scheduled = round_.closes_at
    principles.close_round(organiser, round_)
    db.session.commit()
    assert round_.closed_at is not None and round_.is_closed and round_.can_be_reopened
    assert principles.results_visible(round_, None)
    principles.reopen_round(organiser, round_)
    db.session.commit()
    saved = fresh(Round, round_.id)
    assert saved.state == RoundState.OPEN and saved.closed_at is None and saved.closes_at == scheduled
    assert not principles.results_visible(saved, None)
    assert principles.open_round().id == saved.id
    (entry,) = audit("round.reopen", saved.id)
    assert entry.actor_id == organiser.id and entry.details["closes_at"] == scheduled.isoformat()


def test_reopened_round_whose_closing_time_passed_stays_open_until_staff_close_it(make_round, organiser):
    """The time it was meant to close has passed meanwhile: it is open with no closing time."""
    round_ = make_round("open", closes_in=timedelta(days=3))
    principles.close_round(organiser, round_)
    db.session.execute(sa.update(AuditLog).where(AuditLog.action == "round.close").values(
        details={"scheduled_closes_at": (utcnow() - timedelta(hours=1)).isoformat()}))
    principles.reopen_round(organiser, round_)
    assert round_.is_voting and round_.closes_at is None


@pytest.mark.parametrize(("setup", "message"), [
    ("late", "only within 24 hours of closing"),
    ("downloaded", "already been downloaded or sent"),
    ("adopted", "have been adopted"),
    ("open", "Only a closed round can be reopened"),
    ("other_open", "before reopening this round"),
])
def test_reopen_refused_with_a_reason(make_round, organiser, setup, message):
    """After 24 hours, once the results left the app, once adopted, when not closed, or while another
    round is open: refused, nothing changes, nothing audited."""
    round_ = make_round("open" if setup == "open" else "closed")
    if setup == "late":
        round_.closed_at = utcnow() - timedelta(hours=24, seconds=1)
    elif setup == "downloaded":
        principles.mark_results_released(round_)
    elif setup == "adopted":
        principles.adopt_round(organiser, round_)
    elif setup == "other_open":
        make_round("open")
    db.session.commit()
    assert not round_.can_be_reopened or setup == "other_open"
    with pytest.raises(RuleError, match=message):
        principles.reopen_round(organiser, round_)
    db.session.rollback()
    assert audit("round.reopen") == []


def test_results_released_only_for_a_closed_round_and_only_the_first_time(make_round):
    """An open round's CSV (staff) does not count; a closed round's first download does; later ones keep it."""
    closed = make_round("closed")
    open_round = make_round("open")
    principles.mark_results_released(open_round)
    assert open_round.results_released_at is None
    principles.mark_results_released(closed)
    db.session.commit()
    first = fresh(Round, closed.id).results_released_at
    assert first is not None
    principles.mark_results_released(fresh(Round, closed.id))
    db.session.commit()
    assert fresh(Round, closed.id).results_released_at == first


def test_close_and_adopt_effects(make_round, organiser, people):
    """What the confirmation pages say: votes, voters, suggestions, until when it can be reopened; the
    principles an adoption replaces."""
    earlier = make_round("closed")
    round_ = make_round("open")
    voter, other = people(2)
    first, second = principles.drafts_of(round_)[:2]
    principles.cast_vote(voter, first, principles.parse_stance("support"))
    principles.cast_vote(voter, second, principles.parse_stance("oppose"))
    principles.cast_vote(other, first, principles.parse_stance("amend"))
    principles.suggest(other, first, "Plainer words")
    effects = principles.close_effects(round_)
    assert (effects.votes, effects.voters, effects.suggestions, effects.live_workshops) == (3, 2, 1, 0)
    assert timedelta(hours=23, minutes=59) < effects.reopen_until - utcnow() <= timedelta(hours=24)
    assert principles.adopt_effects(earlier).replaces is None
    principles.adopt_round(organiser, earlier)
    principles.close_round(organiser, round_)
    assert principles.adopt_effects(round_).replaces.id == earlier.id
    assert principles.adopt_effects(earlier).replaces is None


# --- Services: eligibility ------------------------------------------------------------------------

def _update(round_, actor, eligibility):
    principles.update_round(actor, round_, name=round_.name, introduction="", opens_at=round_.opens_at,
                            closes_at=round_.closes_at, eligibility=eligibility)


@pytest.mark.parametrize("state", ["open", "closed"])
def test_eligibility_cannot_change_once_the_round_has_opened(make_round, organiser, state):
    """Open or closed: RuleError on the eligibility field; the same eligibility saves as before."""
    round_ = make_round(state)
    with pytest.raises(RuleError, match="cannot change once the round has opened") as refused:
        _update(round_, organiser, Eligibility.ATTENDEES)
    assert refused.value.field == "eligibility"
    db.session.rollback()
    assert fresh(Round, round_.id).eligibility == Eligibility.MEMBERS
    _update(fresh(Round, round_.id), organiser, Eligibility.MEMBERS)  # unchanged: fine
    assert audit("round.eligibility") == []


def test_eligibility_change_before_opening_is_audited_with_before_and_after(make_round, organiser):
    """A draft round may change who votes; the audit log keeps both."""
    round_ = make_round("draft")
    _update(round_, organiser, Eligibility.ATTENDEES)
    db.session.commit()
    assert fresh(Round, round_.id).eligibility == Eligibility.ATTENDEES
    (entry,) = audit("round.eligibility", round_.id)
    assert entry.details == {"before": "members", "after": "attendees"} and entry.actor_id == organiser.id


# --- Services: mix targets --------------------------------------------------------------------------

def test_mix_target_reason_says_which_places_are_taken_and_what_is_free(make_workshop, people):
    """20 places, at most 10% per type (2): the third councillor is waitlisted because the councillors'
    places are taken, with 18 left for others; the email says so and not 'full'."""
    workshop = make_workshop(capacity=20, mix=10)
    councillors = people(3, "councillor")
    for person in councillors[:2]:
        assert book(workshop, person).is_confirmed
    third = book(workshop, councillors[2])
    assert third.is_waitlisted
    reason = workshops.waitlist_reason(workshop, MemberType.COUNCILLOR)
    assert not reason.full and reason.free == 18
    assert reason.message == ("The places for councillors are taken: so that the room is a mix, no more than 2 "
                              "of the 20 places go to any one member type. 18 places are left for other members.")
    assert workshops.waitlist_reason(workshop, MemberType.ACADEMIC) is None
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == councillors[2].email,
                                                          OutboxEmail.subject.startswith("You are on the waitlist")))
    assert "The places for councillors are taken" in mail.body_text and "18 places are left" in mail.body_text
    assert "full" not in mail.body_text


def test_full_workshop_reason(make_workshop, people):
    """Every place taken: the reason says full, for any type; one place is said in the singular."""
    workshop = make_workshop(capacity=1)
    first, second = people(2)
    book(workshop, first)
    book(workshop, second)
    reason = workshops.waitlist_reason(workshop, MemberType.ACADEMIC)
    assert reason.full and reason.message == "The workshop is full: the only place is taken."
    mail = db.session.scalar(sa.select(OutboxEmail).where(OutboxEmail.to_address == second.email,
                                                          OutboxEmail.subject.startswith("You are on the waitlist")))
    assert "The workshop is full: the only place is taken. So you are on the waitlist at position 1." in mail.body_text


# --- Services: walk-ins -----------------------------------------------------------------------------

def test_walk_ins_are_counted_apart_and_never_block_an_edit(make_workshop, organiser, people):
    """Capacity 2, both booked, 3 walk-ins: 2 booked plus 3 walk-ins; a time change saves; lowering the
    capacity below the booked places is still refused (walk-ins not counted)."""
    workshop = make_workshop(capacity=2)
    for person in people(2):
        book(workshop, person)
    walk_ins(organiser, workshop, 3)
    seats = workshops.seats(workshop)
    assert (seats.confirmed, seats.walk_ins, seats.waitlisted) == (2, 3, 0)
    result = workshops.update_workshop(organiser, workshop, {"starts_at": workshop.starts_at + timedelta(hours=1),
                                                             "ends_at": workshop.ends_at + timedelta(hours=1),
                                                             "capacity": 2})
    assert result["changed"] == ["starts_at", "ends_at"]
    db.session.commit()
    with pytest.raises(RuleError, match="Capacity cannot be less than 2"):
        workshops.update_workshop(organiser, workshop, {"capacity": 1})
    db.session.rollback()
    stats = queries.registration_stats([workshop.id])[workshop.id]
    assert (stats["confirmed"], stats["walk_ins"], stats["attended"], stats["attended_booked"]) == (2, 3, 3, 0)


def test_walk_ins_take_no_booked_seat_and_never_block_promotion(make_workshop, organiser, people):
    """Walk-ins at a workshop with a free place: the next booking is confirmed; a place given up goes
    to the waitlist although walk-ins outnumber the capacity."""
    workshop = make_workshop(capacity=2)
    walk_ins(organiser, workshop, 4)
    first, second, third = people(3)
    assert book(workshop, first).is_confirmed and book(workshop, second).is_confirmed
    waiting = book(workshop, third)
    assert waiting.is_waitlisted
    effects = workshops.place_cancel_effects(queries.registration_for(workshop, first))
    assert effects.was_confirmed and effects.seat_goes_to_waitlist
    promoted = workshops.cancel_registration(queries.registration_for(workshop, first), first)
    assert [r.id for r in promoted] == [waiting.id]


def test_an_edit_keeping_the_capacity_saves_when_door_check_ins_went_over_it(make_workshop, organiser, people):
    """Someone on the waitlist checked in at the door holds a booked place above capacity: an edit that
    keeps the capacity still saves."""
    workshop = make_workshop(capacity=1, starts_at=utcnow() + timedelta(days=3))
    first, second = people(2)
    book(workshop, first)
    workshops.check_in(organiser, book(workshop, second), confirm_waitlisted=True)
    db.session.commit()
    assert workshops.seats(workshop).confirmed == 2
    workshops.update_workshop(organiser, workshop, {"title": "Renamed", "capacity": 1})
    assert workshop.title == "Renamed"


def test_a_walk_in_who_books_again_holds_a_booked_place(make_workshop, organiser, people):
    """A member added at the door before the day, who cancels and books again, is counted as booked."""
    workshop = make_workshop(capacity=5)
    (member,) = people(1)
    workshops.add_walk_in(organiser, workshop, member=member)
    reg = queries.registration_for(workshop, member)
    assert reg.walk_in
    workshops.cancel_registration(reg, member)
    book(workshop, member)
    assert not queries.registration_for(workshop, member).walk_in and workshops.seats(workshop).confirmed == 1


# --- Services: what cancelling a place or a workshop does ---------------------------------------------

def test_place_cancel_effects(make_workshop, people):
    """The seat goes to the waitlist only if the first who fits the mix target is waiting; a waitlisted
    person gives up their position."""
    workshop = make_workshop(capacity=4, mix=50)  # at most 2 per type
    councillors = people(3, "councillor")
    others = people(2)
    for person in [*councillors[:2], *others]:
        book(workshop, person)
    waiting = book(workshop, councillors[2])  # full
    other_effects = workshops.place_cancel_effects(queries.registration_for(workshop, others[0]))
    assert not other_effects.seat_goes_to_waitlist  # a third councillor would break the mix target
    councillor_effects = workshops.place_cancel_effects(queries.registration_for(workshop, councillors[0]))
    assert councillor_effects.seat_goes_to_waitlist
    assert workshops.place_cancel_effects(waiting) == workshops.PlaceCancelEffects(
        was_confirmed=False, seat_goes_to_waitlist=False, position=1)


def test_workshop_cancel_effects(make_workshop, organiser, people):
    """Booked places, walk-ins and the waitlist are emailed; a draft emails nobody."""
    workshop = make_workshop(capacity=1)
    for person in people(2):
        book(workshop, person)
    walk_ins(organiser, workshop, 1)
    effects = workshops.workshop_cancel_effects(workshop)
    assert (effects.confirmed, effects.walk_ins, effects.waitlisted, effects.emailed) == (1, 1, 1, 3)
    assert workshops.workshop_cancel_effects(make_workshop(publish=False)).emailed == 0


# --- HTTP: closing, adopting, reopening a round ------------------------------------------------------

def test_close_round_asks_first_and_closes_only_with_confirm(client, as_role, make_round):
    """GET and a POST without confirm show the page and change nothing; confirm=1 closes."""
    round_ = make_round("open")
    as_role("staff")
    url = f"/staff/rounds/{round_.id}/close"
    page = client.get(url)
    body = words(page)
    assert page.status_code == 200 and f"Are you sure you want to close “{round_.name}”?" in body
    assert "its results become public" in body and "nobody is emailed" in body
    assert "You can reopen the round only until" in body and 'name="confirm" value="1"' in page.get_data(as_text=True)
    for data in ({}, {"confirm": "0"}, {"confirm": "yes"}):
        response = client.post_form(url, data, token_from=url)
        assert response.status_code == 200 and "Are you sure you want to close" in words(response)
    assert fresh(Round, round_.id).is_voting and audit("round.close", round_.id) == []
    done = client.post_form(url, {"confirm": "1"}, token_from=url)
    assert done.status_code == 303 and done.location == "/staff/rounds/"
    assert "is closed; its results are public" in words(client.get("/staff/rounds/"))
    saved = fresh(Round, round_.id)
    assert saved.is_closed and saved.closed_at is not None and len(audit("round.close", round_.id)) == 1


def test_close_page_for_a_round_that_is_not_open(client, as_role, make_round):
    """A closed round's close page says it cannot be closed, with no button; posting confirm is refused."""
    round_ = make_round("closed")
    as_role("staff")
    url = f"/staff/rounds/{round_.id}/close"
    body = words(client.get(url))
    assert "cannot be closed" in body and "Yes, close the round" not in body
    client.post_form(url, {"confirm": "1"}, token_from=url)
    assert "Only an open round can be closed." in words(client.get("/staff/rounds/"))


def test_adopt_asks_first_and_adopts_only_with_confirm(client, as_role, make_round, organiser):
    """The page names the drafts and the principles replaced; only confirm=1 adopts."""
    earlier = make_round("closed")
    principles.adopt_round(organiser, earlier)
    round_ = make_round("closed")
    db.session.commit()
    as_role("admin")
    url = f"/staff/rounds/{round_.id}/adopt"
    body = words(client.get(url))
    assert f"adopt the drafts of “{round_.name}” as the Keep it Local principles?" in body
    assert f"they replace the principles adopted from “{earlier.name}”" in body and "cannot be undone" in body
    assert client.post_form(url, {}, token_from=url).status_code == 200
    assert fresh(Round, round_.id).adopted_at is None
    assert client.post_form(url, {"confirm": "1"}, token_from=url).status_code == 303
    assert fresh(Round, round_.id).adopted_at is not None
    again = words(client.get(url))
    assert "cannot be adopted" in again and "They were adopted on" in again


def test_reopen_over_http_and_refused_after_the_results_csv(app, client, as_role, make_round):
    """The round list and page offer Reopen; it reopens; once someone downloads the results CSV the
    round cannot be reopened and the page says why."""
    round_ = make_round("closed")
    as_role("staff")
    assert f"/staff/rounds/{round_.id}/reopen" in client.get("/staff/rounds/").get_data(as_text=True)
    edit = words(client.get(f"/staff/rounds/{round_.id}/edit"))
    assert "Closed by mistake? You can reopen this round until" in edit
    response = client.post_form(f"/staff/rounds/{round_.id}/reopen", {}, token_from="/staff/rounds/")
    assert response.status_code == 303 and fresh(Round, round_.id).is_voting
    assert "is open for votes again; its results are no longer public" in words(client.get("/staff/rounds/"))
    assert app.test_client().get(f"/principles/rounds/{round_.id}/results").status_code == 403
    url = f"/staff/rounds/{round_.id}/close"
    client.post_form(url, {"confirm": "1"}, token_from=url)
    csv = app.test_client().get(f"/principles/rounds/{round_.id}/results.csv")  # the public downloads it
    assert csv.status_code == 200 and fresh(Round, round_.id).results_released_at is not None
    assert f"/staff/rounds/{round_.id}/reopen" not in client.get("/staff/rounds/").get_data(as_text=True)
    assert "already been downloaded or sent" in words(client.get(f"/staff/rounds/{round_.id}/edit"))
    client.post_form(f"/staff/rounds/{round_.id}/reopen", {}, token_from="/staff/rounds/")
    assert "already been downloaded or sent" in words(client.get("/staff/rounds/"))
    assert fresh(Round, round_.id).is_closed


def test_reopen_after_24_hours_refused_over_http(client, as_role, make_round):
    """25 hours after closing: no button, and a post is refused with the reason."""
    round_ = make_round("closed")
    round_.closed_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    as_role("staff")
    assert "only within 24 hours of closing" in words(client.get(f"/staff/rounds/{round_.id}/edit"))
    client.post_form(f"/staff/rounds/{round_.id}/reopen", {}, token_from="/staff/rounds/")
    assert "only within 24 hours of closing" in words(client.get("/staff/rounds/"))
    assert fresh(Round, round_.id).is_closed


ROUND_URLS = [("get", "/staff/rounds/{open}/close"), ("post", "/staff/rounds/{open}/close"),
              ("get", "/staff/rounds/{closed}/adopt"), ("post", "/staff/rounds/{closed}/adopt"),
              ("post", "/staff/rounds/{closed}/reopen")]


@pytest.mark.parametrize("role", ["anonymous", "unconfirmed", "member"])
def test_round_decisions_are_staff_only(client, as_role, make_round, role):
    """Not staff: sent to sign in or 403, and nothing changes even with confirm=1."""
    closed = make_round("closed").id
    ids = {"open": make_round("open").id, "closed": closed}
    as_role(role)
    for method, template in ROUND_URLS:
        url = template.format(**ids)
        response = client.get(url) if method == "get" else client.post_form(url, {"confirm": "1"})
        if role == "anonymous":
            assert response.status_code == 302 and response.location.startswith("/auth/login"), url
        else:
            assert response.status_code == 403, url
    assert fresh(Round, ids["open"]).is_voting
    closed = fresh(Round, ids["closed"])
    assert closed.is_closed and closed.adopted_at is None


@pytest.mark.parametrize("path", ["/staff/rounds/{id}/close", "/staff/rounds/{id}/adopt", "/staff/rounds/{id}/reopen"])
@pytest.mark.parametrize("bad", ["99999", BIG_ID, "1%00", "%00"])
def test_round_decisions_with_wrong_ids_are_404(client, as_role, path, bad):
    """No such round, a 20-digit id, a NUL byte: 404 (GET and POST)."""
    as_role("staff")
    url = path.format(id=bad)
    assert client.post_form(url, {"confirm": "1"}, token_from="/staff/rounds/").status_code == 404
    if not path.endswith("reopen"):
        assert client.get(url).status_code == 404


# --- HTTP: eligibility ------------------------------------------------------------------------------

def _round_form(round_, **changes):
    closes = to_london(round_.closes_at)
    data = {"name": round_.name, "introduction": "", "eligibility": round_.eligibility.value,
            "closes_at-day": str(closes.day), "closes_at-month": str(closes.month),
            "closes_at-year": str(closes.year), "closes_at-time": closes.strftime("%H:%M")}
    for i, draft in enumerate(principles.drafts_of(round_)):
        data.update({f"drafts-{i}-draft_id": str(draft.id), f"drafts-{i}-title": draft.title,
                     f"drafts-{i}-text": draft.text, f"drafts-{i}-what_changed": ""})
    data.update(changes)
    return data


def test_open_round_form_shows_eligibility_as_fixed_and_ignores_a_posted_change(client, as_role, make_round):
    """No radios once open, the reason in words; a crafted post cannot change it."""
    round_ = make_round("open")
    as_role("staff")
    url = f"/staff/rounds/{round_.id}/edit"
    page = client.get(url)
    assert 'name="eligibility"' not in page.get_data(as_text=True)
    assert "All confirmed members Who may vote cannot change once the round has opened" in words(page)
    response = client.post_form(url, _round_form(round_, eligibility="attendees", name="Renamed"), token_from=url)
    assert response.status_code == 303
    saved = fresh(Round, round_.id)
    assert saved.eligibility == Eligibility.MEMBERS and saved.name == "Renamed" and audit("round.eligibility") == []


def test_draft_round_eligibility_change_is_saved_and_audited(client, as_role, make_round):
    """Before opening: the radios, and a change is audited with before and after."""
    round_ = make_round("draft")
    as_role("staff")
    url = f"/staff/rounds/{round_.id}/edit"
    assert 'name="eligibility"' in client.get(url).get_data(as_text=True)
    assert client.post_form(url, _round_form(round_, eligibility="attendees"), token_from=url).status_code == 303
    assert fresh(Round, round_.id).eligibility == Eligibility.ATTENDEES
    (entry,) = audit("round.eligibility", round_.id)
    assert entry.details == {"before": "members", "after": "attendees"}


# --- HTTP: staff cancelling a workshop ---------------------------------------------------------------

def test_staff_cancel_workshop_reason_then_confirm(client, as_role, make_workshop, organiser, people):
    """Reason form, then the page saying who is emailed (walk-ins too) and that it cannot be undone;
    Change the reason keeps it; only confirm=1 cancels and emails."""
    workshop = make_workshop(capacity=1)
    for person in people(2):
        book(workshop, person)
    walk_ins(organiser, workshop, 1)
    as_role("staff")
    url = f"/staff/workshops/{workshop.id}/cancel"
    assert "1 people with a place, 1 walk-ins and 1 on the waitlist will be emailed" in words(client.get(url))
    ask = client.post_form(url, {"reason": "The venue flooded."}, token_from=url)
    body = words(ask)
    assert ask.status_code == 200 and "Are you sure you want to cancel" in body
    assert "3 people are emailed now" in body and "The venue flooded." in body and "cannot be undone" in body
    change = client.post_form(url, {"reason": "The venue flooded.", "change": "1"}, token_from=url)
    assert change.status_code == 200
    assert re.search(r"<textarea[^>]*>\s*The venue flooded.</textarea>", change.get_data(as_text=True))
    empty = client.post_form(url, {"reason": " ", "confirm": "1"}, token_from=url)
    assert "Enter the reason for cancelling" in words(empty)
    assert fresh(Workshop, workshop.id).status == WorkshopStatus.PUBLISHED
    assert count(OutboxEmail, OutboxEmail.subject.startswith("Workshop cancelled")) == 0
    done = client.post_form(url, {"reason": "The venue flooded.", "confirm": "1"}, token_from=url)
    assert done.status_code == 303 and fresh(Workshop, workshop.id).is_cancelled
    assert count(OutboxEmail, OutboxEmail.subject.startswith("Workshop cancelled")) == 3


@pytest.mark.parametrize("role", ["anonymous", "member"])
def test_staff_cancel_workshop_not_for_members(client, as_role, make_workshop, role):
    """Members 403, anonymous to sign in; nothing cancelled even with confirm=1."""
    workshop = make_workshop()
    as_role(role)
    response = client.post_form(f"/staff/workshops/{workshop.id}/cancel", {"reason": "x", "confirm": "1"})
    assert response.status_code == (403 if role == "member" else 302)
    assert fresh(Workshop, workshop.id).is_published


# --- HTTP: a member cancelling their place ---------------------------------------------------------

def test_member_cancel_asks_first_and_says_the_seat_goes_to_the_waitlist(client, auth, make_workshop, people):
    """GET, a plain POST and an htmx POST without confirm ask (the htmx one in the panel); confirm=1 cancels."""
    workshop = make_workshop(capacity=1)
    first, second = people(2)
    book(workshop, first)
    book(workshop, second)
    auth.login(first.email)
    url = f"/workshops/{workshop.id}/cancel"
    page = words(client.get(url))
    assert "Are you sure you want to cancel your place?" in page
    assert "Your place goes straight to the next person on the waitlist" in page
    plain = client.post_form(url, {}, token_from=f"/workshops/{workshop.id}")
    assert plain.status_code == 200 and "<html" in plain.get_data(as_text=True)
    panel = client.post_form(url, {}, token_from=f"/workshops/{workshop.id}", headers=HX)
    assert panel.get_data(as_text=True).lstrip().startswith('<section id="registration"')
    assert 'data-hx-target="#registration"' in panel.get_data(as_text=True) and "Yes, cancel my place" in words(panel)
    assert queries.registration_for(workshop, first).is_confirmed
    assert count(OutboxEmail, OutboxEmail.subject.startswith("Registration cancelled")) == 0
    done = client.post_form(url, {"confirm": "1"}, token_from=f"/workshops/{workshop.id}", headers=HX)
    assert "Your registration has been cancelled." in words(done)
    db.session.expire_all()
    assert queries.registration_for(workshop, first).is_cancelled
    assert queries.registration_for(workshop, second).is_confirmed


def test_member_cancel_page_without_a_waitlist_and_for_the_waitlisted(client, auth, make_workshop, people):
    """Nobody waiting: the place is open to anyone. On the waitlist: the position given up."""
    workshop = make_workshop(capacity=1)
    first, second = people(2)
    book(workshop, first)
    auth.login(first.email)
    assert "Nobody on the waitlist can take your place now" in words(client.get(f"/workshops/{workshop.id}/cancel"))
    book(workshop, second)
    client.post_form("/auth/logout", {})
    auth.login(second.email)
    page = words(client.get(f"/workshops/{workshop.id}/cancel"))
    assert "Are you sure you want to leave the waitlist?" in page and "you are number 1 on the waitlist now" in page
    assert "Yes, leave the waitlist" in page


def test_member_cancel_with_nothing_to_cancel_and_signed_out(client, auth, make_workshop, people):
    """No place: the page says so (the POST keeps its message); signed out: sign in first."""
    workshop = make_workshop()
    response = client.get(f"/workshops/{workshop.id}/cancel")
    assert response.status_code == 302 and response.location.startswith("/auth/login")
    (person,) = people(1)
    auth.login(person.email)
    assert "You do not have a place at" in words(client.get(f"/workshops/{workshop.id}/cancel"))
    posted = client.post_form(f"/workshops/{workshop.id}/cancel", {}, headers=HX)
    assert "You are not registered for this workshop." in words(posted)
    for bad in ("99999", BIG_ID, "1%00"):
        assert client.get(f"/workshops/{bad}/cancel").status_code == 404
        assert client.post_form(f"/workshops/{bad}/cancel", {"confirm": "1"}).status_code == 404


# --- HTTP: mix copy and walk-ins on the pages ----------------------------------------------------------

def test_mix_target_panel_and_register_message_agree(client, auth, make_workshop, people):
    """A councillor waitlisted by the mix target reads why and what is free, never 'full'."""
    workshop = make_workshop(capacity=20, mix=10)
    for person in people(2, "councillor"):
        book(workshop, person)
    (late,) = people(1, "councillor")
    auth.login(late.email)
    before = words(client.get(f"/workshops/{workshop.id}"))
    assert "18 of 20 places left." in before and "The places for councillors are taken" in before
    assert "Join the waitlist" in before
    response = client.post_form(f"/workshops/{workshop.id}/register", {}, token_from=f"/workshops/{workshop.id}")
    after = words(client.get(response.location))
    assert "The places for councillors are taken" in after and "You are number 1 on the waitlist" in after
    assert "18 places are left for other members" in after and "The workshop is full" not in after


def test_staff_page_counts_walk_ins_apart_and_a_time_change_saves(client, as_role, make_workshop, organiser, people):
    """'2 booked of 2, plus 3 walk-ins', and the edit form saves a new time despite the walk-ins."""
    workshop = make_workshop(capacity=2)
    for person in people(2):
        book(workshop, person)
    walk_ins(organiser, workshop, 3)
    as_role("staff")
    assert "2 booked of 2, plus 3 walk-ins" in words(client.get(f"/staff/workshops/{workshop.id}"))
    dashboard = words(client.get("/staff/workshops/"))
    assert "2 of 2, plus 3 walk-ins" in dashboard
    url = f"/staff/workshops/{workshop.id}/edit"
    response = client.post_form(url, form_data(capacity="2", **{"starts_at-time": "18:00"}), token_from=url)
    assert response.status_code == 303, words(response)[:500]
    assert fresh(Workshop, workshop.id).starts_at == london_to_utc(datetime(NEXT_YEAR, 7, 15, 18, 0))
    assert count(Registration, Registration.state == RegistrationState.CONFIRMED) == 5


@pytest.mark.parametrize("bad", ["99999", BIG_ID, "1%00"])
def test_staff_cancel_workshop_wrong_ids_are_404(client, as_role, bad):
    """No such workshop, a 20-digit id, a NUL byte: 404 for the form and the confirmation."""
    as_role("staff")
    url = f"/staff/workshops/{bad}/cancel"
    assert client.get(url).status_code == 404
    assert client.post_form(url, {"reason": "Rain", "confirm": "1"}, token_from="/staff/workshops/").status_code == 404
