"""The council journey's rules (kil_network/journey/services.py), without HTTP: stages derived from
what is recorded, who may do what, the assessment following the adopted principles, its workflow,
champions, the community conversation, re-assessment dates and peer suggestions."""
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin
from werkzeug.datastructures import FileStorage

from kil_network.auth.models import User
from kil_network.core.models import AuditLog, OutboxEmail
from kil_network.core.rules import NotPermitted, RuleError
from kil_network.core.timeutil import utcnow
from kil_network.councils import services as councils
from kil_network.councils.models import PledgeStatus, SignedBy
from kil_network.extensions import db
from kil_network.journey import services as journey
from kil_network.journey.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentStatus,
    Champion,
    ChampionRole,
    CommunityConversation,
    CouncilInterest,
    PeerIntroduction,
)
from kil_network.journey.services import LEVELS, STAGES, Stage
from kil_network.members.models import LocalAuthority
from kil_network.principles import services as principles
from kil_network.workshops.models import Workshop, WorkshopFormat, WorkshopStatus
from tests.support.db import count, counting_queries
from tests.support.ids import real_pdf
from tests.support.principles import open_round, set_wording

PDF = real_pdf(author="Ada Author")  # its author metadata is stripped from the copy the council page offers
BRISTOL, PLYMOUTH, CORNWALL, EAST_DEVON = "E06000023", "E06000026", "E06000052", "E07000040"
CARDIFF, LEEDS, HACKNEY = "W06000015", "E08000035", "E09000012"
COMPLETE = {"level": 2, "evidence": "Our community partnership board (https://example.org/board).",
            "action": "Pool the early help budget with health."}


def council(gss_code: str) -> LocalAuthority:
    """The local authority with this GSS code (loaded by the migration)."""
    return db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == gss_code))


@pytest.fixture
def people(app, make_user):
    """Staff, two councillors and an officer of Bristol, a councillor of Cardiff, a community
    organisation member in Bristol and an unconfirmed Bristol councillor."""
    return {
        "staff": make_user(email="staff@example.org", role="staff", member_type="other", organisation=""),
        "cllr": make_user(email="cllr@example.org", name="Cllr Ada Byron", member_type="councillor",
                          organisation="", gss_code=BRISTOL),
        "cllr2": make_user(email="cllr2@example.org", name="Cllr Ben Okafor", member_type="councillor",
                           organisation="", gss_code=BRISTOL),
        "officer": make_user(email="officer@example.org", name="Olu Officer", member_type="council_officer",
                             organisation="", gss_code=BRISTOL),
        "commissioner": make_user(email="comm@example.org", name="Kim Commissioner", member_type="commissioner",
                                  organisation="", gss_code=BRISTOL),
        "cardiff": make_user(email="cardiff@example.org", name="Cllr Cai Jones", member_type="councillor",
                             organisation="", gss_code=CARDIFF),
        "community": make_user(email="community@example.org", name="Cat Community", gss_code=BRISTOL),
        "unconfirmed": make_user(email="new@example.org", name="Una New", member_type="councillor",
                                 organisation="", gss_code=BRISTOL, confirmed=False),
    }


def adopt(staff, wording=None, name="Round 1: first drafts"):
    """Open, close and adopt a round of six drafts (committed); returns it."""
    round_ = open_round(staff, name=name, **({"wording": wording} if wording else {}))
    principles.close_round(staff, round_)
    principles.adopt_round(staff, round_)
    db.session.commit()
    return round_


def verified_pledge(staff, member, la):
    """A pledge submitted by the member and verified by staff (committed)."""
    pledge = councils.submit_pledge(member, la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="")
    councils.review_pledge(staff, pledge, PledgeStatus.VERIFIED)
    db.session.commit()
    return pledge


def champion(actor, la, member, role=ChampionRole.CABINET):
    """Invite a member as champion and accept (committed)."""
    invited = journey.appoint_champion(actor, la, role, member=member)
    db.session.commit()
    accepted = journey.accept_champion(member, journey.champion_token(invited))
    db.session.commit()
    return accepted


def endorsed_with_champions(people, la=None):
    """Bristol: verified pledge, endorsement link, the councillor as cabinet champion and a named
    senior manager."""
    la = la or council(BRISTOL)
    verified_pledge(people["staff"], people["cllr"], la)
    journey.set_endorsement(people["cllr"], la, link_url="https://bristol.example.org/cabinet/2025-03-27")
    db.session.commit()
    champion(people["cllr"], la, people["cllr"])
    journey.appoint_champion(people["cllr"], la, ChampionRole.SENIOR_MANAGEMENT, name="Jo Director",
                             job_title="Director of Communities")
    db.session.commit()
    return la


def filled(assessment, **overrides):
    """Answers for every principle of an assessment."""
    return {a.number: {**COMPLETE, **overrides} for a in assessment.answers}


def accepted_assessment(people, la, *, publish=True, levels=None):
    """Start, fill, submit, accept and (by default) publish this year's assessment (committed)."""
    a = journey.start_assessment(people["cllr"], la)
    answers = filled(a)
    for n, level in (levels or {}).items():
        answers[n]["level"] = level
    journey.save_answers(people["cllr"], a, answers)
    journey.submit_assessment(people["cllr"], a)
    journey.accept_assessment(people["staff"], a)
    if publish:
        journey.publish_assessment(people["cllr"], a)
    db.session.commit()
    return a


def planted(la, round_, year, levels: dict[int, int], *, status=AssessmentStatus.ACCEPTED, published=True,
            accepted_days_ago=10, evidence="We did it."):
    """An assessment written straight to the database (for peers and dates: many councils)."""
    now = utcnow()
    drafts = principles.drafts_of(round_)
    a = Assessment(local_authority_id=la.id, round_id=round_.id, year=year, status=status,
                   accepted_at=now - timedelta(days=accepted_days_ago) if status == AssessmentStatus.ACCEPTED else None,
                   published_at=now if published else None,
                   answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=levels.get(d.number),
                                             evidence=f"{evidence} ({la.name}, {d.number})", action="More.")
                            for d in drafts])
    db.session.add(a)
    db.session.commit()
    return a


# --- Stage, levels, descriptors ---------------------------------------------------------------

def test_stages_labels_numbers_and_levels():
    """The six stages in order after 'not started', with their labels and numbers; four levels."""
    assert [s.number for s in Stage] == list(range(7))
    assert STAGES[0] is Stage.INTERESTED and STAGES[-1] is Stage.REASSESSED and len(STAGES) == 6
    assert [s.label for s in STAGES] == ["Interested", "Endorsed", "Champions appointed",
                                         "Community conversation held", "Assessed", "Re-assessed"]
    assert LEVELS == {1: "Starting", 2: "Developing", 3: "Established", 4: "Leading"}


def test_level_descriptors_for_each_principle():
    """Each of the six principles has its own one-sentence descriptor for each of the four levels."""
    seen = set()
    for number in range(1, 7):
        descriptors = journey.level_descriptors(number)
        assert sorted(descriptors) == [1, 2, 3, 4], number
        for text in descriptors.values():
            assert 40 < len(text) < 250 and text.endswith(".") and text not in seen
            seen.add(text)
    assert journey.level_descriptors(7) == {}
    journey.level_descriptors(1)[1] = "changed"
    assert journey.level_descriptors(1)[1] != "changed"  # a copy: callers cannot change the table


# --- Stage derivation -------------------------------------------------------------------------

def test_every_stage_in_turn(app, people):
    """A council goes through every stage as its records are added, each with its date."""
    la = council(BRISTOL)
    staff, cllr = people["staff"], people["cllr"]
    adopt(staff)
    assert journey.council_facts(la).stage is Stage.NOT_STARTED and journey.council_facts(la).reached == frozenset()
    journey.declare_interest(cllr, la, "We are taking a report to cabinet in May.")
    db.session.commit()
    facts = journey.council_facts(la)
    assert facts.stage is Stage.INTERESTED and facts.interested_at is not None
    verified_pledge(staff, cllr, la)
    assert journey.council_facts(la).stage is Stage.INTERESTED  # a pledge without the signed endorsement
    journey.set_endorsement(cllr, la, link_url="https://bristol.example.org/decisions/kil")
    db.session.commit()
    assert journey.council_facts(la).stage is Stage.ENDORSED
    champion(cllr, la, cllr)
    assert journey.council_facts(la).stage is Stage.ENDORSED  # one champion of two
    journey.appoint_champion(staff, la, ChampionRole.SENIOR_MANAGEMENT, name="Jo Director")
    db.session.commit()
    assert journey.council_facts(la).stage is Stage.CHAMPIONS
    journey.record_conversation(cllr, la, held_on=date.today() - timedelta(days=3), title="Keep it Local Bristol",
                                summary="Eighty residents and twelve organisations at City Hall.")
    db.session.commit()
    assert journey.council_facts(la).stage is Stage.CONVERSATION
    first = accepted_assessment(people, la, publish=False)
    facts = journey.council_facts(la)
    assert facts.stage is Stage.CONVERSATION and facts.latest_accepted.id == first.id  # accepted, not published
    journey.publish_assessment(cllr, first)
    db.session.commit()
    facts = journey.council_facts(la)
    assert facts.stage is Stage.ASSESSED and facts.published_years == (first.year,)
    first.year -= 1  # last year's: this year's can now be started
    db.session.commit()
    accepted_assessment(people, la)
    facts = journey.council_facts(la)
    assert facts.stage is Stage.REASSESSED and facts.reached == frozenset(STAGES)
    assert len(facts.published_years) == 2
    page = journey.journey(la, cllr)
    assert [s["stage"] for s in page["stages"]] == STAGES
    assert all(s["reached"] and s["done_on"] is not None for s in page["stages"])


def test_a_pledge_implies_interest_and_a_stage_needs_every_earlier_one(app, people):
    """Furthest consecutive: champions and a conversation without an endorsement leave the council at
    'interested' (a pledge implies interest), though each stage shows its own state."""
    la = council(BRISTOL)
    staff, cllr = people["staff"], people["cllr"]
    journey.appoint_champion(staff, la, ChampionRole.CABINET, name="Cllr Priya Patel")
    journey.appoint_champion(staff, la, ChampionRole.SENIOR_MANAGEMENT, name="Jo Director")
    journey.record_conversation(staff, la, held_on=date.today(), summary="A community event.")
    db.session.commit()
    facts = journey.council_facts(la)
    # Later stages imply interest; endorsed is missing, so the stage stops at interested.
    assert facts.reached == {Stage.INTERESTED, Stage.CHAMPIONS, Stage.CONVERSATION}
    assert facts.stage is Stage.INTERESTED
    verified_pledge(staff, cllr, la)
    assert journey.council_facts(la).stage is Stage.INTERESTED
    journey.set_endorsement(cllr, la, link_url="https://bristol.example.org/decisions/kil")
    db.session.commit()
    assert journey.council_facts(la).stage is Stage.CONVERSATION  # now every stage up to it is reached
    page = journey.journey(la, AnonymousUserMixin())
    states = {s["stage"]: s["reached"] for s in page["stages"]}
    assert states[Stage.CONVERSATION] and not states[Stage.ASSESSED]
    assert page["next_step"]["stage"] is Stage.ASSESSED


def test_pledge_alone_is_interest_and_pending_pledge_is_not(app, people):
    """Only a verified pledge counts; a pending one is not yet anything."""
    la = council(BRISTOL)
    pledge = councils.submit_pledge(people["cllr"], la, signed_by=SignedBy.CABINET_DECISION, signatories="Cabinet",
                                    pledged_on=date(2025, 3, 27), champions="")
    db.session.commit()
    assert journey.council_facts(la).stage is Stage.NOT_STARTED and journey.council_facts(la).pledge is None
    councils.review_pledge(people["staff"], pledge, PledgeStatus.VERIFIED)
    db.session.commit()
    facts = journey.council_facts(la)
    assert facts.stage is Stage.INTERESTED and facts.pledge.id == pledge.id and not facts.endorsed


def test_what_does_not_count(app, people):
    """An invitation not yet accepted, an ended champion, a conversation in the future (planted), a
    published assessment that was never accepted: none of them reaches a stage."""
    la = endorsed_with_champions(people)
    assert journey.council_facts(la).stage is Stage.CHAMPIONS
    named = db.session.scalar(sa.select(Champion).where(Champion.role == ChampionRole.SENIOR_MANAGEMENT))
    journey.end_champion(people["cllr"], named)
    journey.appoint_champion(people["cllr"], la, ChampionRole.SENIOR_MANAGEMENT, member=people["officer"])
    db.session.add(CommunityConversation(local_authority_id=la.id, held_on=date.today() + timedelta(days=5),
                                         summary="Planned"))
    db.session.commit()
    facts = journey.council_facts(la)
    assert facts.champions[ChampionRole.SENIOR_MANAGEMENT] is None and facts.stage is Stage.ENDORSED
    assert facts.conversation_on is None


def test_facts_for_uses_the_same_queries_for_3_or_40_councils(app, people):
    """facts_for reads any number of councils in a fixed number of statements (and every council too)."""
    staff = people["staff"]
    round_ = adopt(staff)
    all_councils = db.session.scalars(sa.select(LocalAuthority).order_by(LocalAuthority.id)).all()
    for i, la in enumerate(all_councils[:40]):
        db.session.add(CouncilInterest(local_authority_id=la.id, user_id=None))
        if i % 2:
            db.session.add(Champion(local_authority_id=la.id, role=ChampionRole.CABINET, name=f"Cllr {i}"))
            db.session.add(CommunityConversation(local_authority_id=la.id, held_on=date.today(), summary="Met"))
        if i % 3 == 0:
            planted(la, round_, 2024, {1: 3})
    db.session.commit()
    counts = {}
    for n in (3, 40):
        ids = [la.id for la in all_councils[:n]]
        db.session.expire_all()
        with counting_queries() as statements:
            facts = journey.facts_for(ids)
        counts[n] = len(statements)
        assert len(facts) == n
    assert counts[3] == counts[40] <= 8
    db.session.expire_all()
    with counting_queries() as statements:
        every = journey.facts_for()
    assert len(every) == len(all_councils) == 339 and len(statements) <= 8
    assert every[all_councils[1].id].reached == {Stage.INTERESTED, Stage.CONVERSATION}
    assert every[all_councils[0].id].published_years == (2024,)
    assert journey.facts_for([]) == {}


# --- Permissions ------------------------------------------------------------------------------

def test_who_can_edit_a_councils_journey(app, people):
    """Councillors, commissioners and officers of the council who are confirmed members; not another
    council's, not a community organisation member of the same area, not unconfirmed, not staff as such;
    a champion always."""
    la = council(BRISTOL)
    for key in ("cllr", "officer", "commissioner"):
        assert journey.can_edit(people[key], la), key
    for key in ("cardiff", "community", "unconfirmed", "staff"):
        assert not journey.can_edit(people[key], la), key
    assert not journey.can_edit(AnonymousUserMixin(), la) and not journey.can_edit(None, la)
    assert journey.can_edit(people["cardiff"], council(CARDIFF))
    # A member of another council appointed (named) is not a member champion; an accepted one is.
    verified_pledge(people["staff"], people["cllr"], la)
    assert not journey.is_champion(people["cllr"], la)
    champion(people["cllr"], la, people["cllr"])
    assert journey.is_champion(people["cllr"], la) and not journey.is_champion(people["cllr"], council(CARDIFF))
    people["cllr"].local_authority_id = council(CARDIFF).id  # moved council: still its champion until ended
    db.session.commit()
    assert journey.can_edit(people["cllr"], la)


def test_refusals_for_those_who_may_not(app, people):
    """Every write refuses a member who may not make it, with NotPermitted (a 403 for routes)."""
    la = council(BRISTOL)
    staff, cllr = people["staff"], people["cllr"]
    adopt(staff)
    verified_pledge(staff, cllr, la)
    for key in ("cardiff", "community", "unconfirmed"):
        who = people[key]
        with pytest.raises(NotPermitted):
            journey.declare_interest(who, la)
        with pytest.raises(NotPermitted):
            journey.set_endorsement(who, la, link_url="https://example.org/x")
        with pytest.raises(NotPermitted):
            journey.appoint_champion(who, la, ChampionRole.CABINET, name="Someone")
        with pytest.raises(NotPermitted):
            journey.record_conversation(who, la, held_on=date.today(), summary="x")
        with pytest.raises(NotPermitted):
            journey.start_assessment(who, la)
    with pytest.raises(NotPermitted):
        journey.declare_interest(staff, la)  # staff record the rest, but interest is the council's own
    with pytest.raises(NotPermitted):
        journey.start_assessment(staff, la)
    assert journey.start_refusal(people["cardiff"], la).startswith("Only councillors")
    assert count(AuditLog, AuditLog.action.startswith("journey.")) == 0


def test_champion_submits_a_member_who_is_not_one_cannot(app, people):
    """A councillor edits the draft; only a champion submits; staff cannot submit either."""
    la = endorsed_with_champions(people)
    adopt(people["staff"])
    a = journey.start_assessment(people["officer"], la)
    journey.save_answers(people["officer"], a, filled(a))
    for key in ("officer", "cllr2", "staff", "cardiff"):
        with pytest.raises(NotPermitted):
            journey.submit_assessment(people[key], a)
    journey.submit_assessment(people["cllr"], a)
    assert a.status == AssessmentStatus.SUBMITTED and a.submitted_by_id == people["cllr"].id


def test_who_sees_an_assessment(app, people):
    """Unpublished: the council's editors and staff; published: everyone."""
    la = endorsed_with_champions(people)
    adopt(people["staff"])
    a = accepted_assessment(people, la, publish=False)
    anonymous = AnonymousUserMixin()
    assert journey.can_view_assessment(people["officer"], a) and journey.can_view_assessment(people["staff"], a)
    for viewer in (anonymous, people["cardiff"], people["community"], people["unconfirmed"]):
        assert not journey.can_view_assessment(viewer, a)
    assert journey.journey(la, anonymous)["assessments"] == []
    journey.publish_assessment(people["cllr"], a)
    db.session.commit()
    assert all(journey.can_view_assessment(v, a) for v in (anonymous, people["cardiff"], people["community"]))
    assert [x.id for x in journey.journey(la, anonymous)["assessments"]] == [a.id]


# --- The form follows the adopted principles -------------------------------------------------

def test_assessment_answers_the_adopted_rounds_drafts(app, people):
    """An assessment has one answer per draft of the adopted round; a later adopted round's wording is
    used by next year's assessment while last year's keeps the wording it answered."""
    la = endorsed_with_champions(people)
    staff = people["staff"]
    assert journey.adopted_drafts() == (None, [])
    assert journey.start_refusal(people["cllr"], la) == ("The assessment opens once the campaign has adopted "
                                                          "the principles.")
    first_round = adopt(staff)
    round_, drafts = journey.adopted_drafts()
    assert round_.id == first_round.id and [d.number for d in drafts] == [1, 2, 3, 4, 5, 6]
    last_year = journey.start_assessment(people["cllr"], la)
    db.session.commit()
    assert last_year.round_id == first_round.id
    assert [(a.number, a.draft_id) for a in last_year.answers] == [(d.number, d.id) for d in drafts]
    assert [a.draft.title for a in last_year.answers][0] == "Think about the whole system"
    journey.save_answers(people["cllr"], last_year, filled(last_year))
    journey.submit_assessment(people["cllr"], last_year)
    journey.accept_assessment(staff, last_year)
    last_year.year -= 1
    db.session.commit()
    # The principles are revised and a new round adopted.
    second = principles.create_round(staff, name="Round 2: revised", closes_at=utcnow() + timedelta(days=7))
    set_wording(staff, second, {1: ("Whole-system working", "Councils work across the whole system.")})
    principles.open_round_for_votes(staff, second)
    principles.close_round(staff, second)
    principles.adopt_round(staff, second)
    db.session.commit()
    this_year = journey.start_assessment(people["cllr"], la)
    db.session.commit()
    assert this_year.round_id == second.id
    assert this_year.answers[0].draft.title == "Whole-system working"
    db.session.expire_all()
    old = db.session.get(Assessment, last_year.id)
    assert old.round_id == first_round.id and old.answers[0].draft.title == "Think about the whole system"
    chart = journey.progress(la, published_only=False)
    assert chart["years"] == [old.year, this_year.year] and chart["titles"][1] == "Whole-system working"


def test_start_needs_a_verified_pledge_and_one_per_year(app, people):
    """No assessment without a verified pledge; one in progress at a time; one per year."""
    la = council(BRISTOL)
    adopt(people["staff"])
    assert "pledge is verified" in journey.start_refusal(people["cllr"], la)
    with pytest.raises(RuleError, match="pledge is verified"):
        journey.start_assessment(people["cllr"], la)
    endorsed_with_champions(people, la)
    assert journey.start_refusal(people["cllr"], la) is None
    assert journey.journey(la, people["cllr"])["permissions"]["can_start_assessment"] is True
    a = journey.start_assessment(people["cllr"], la)
    db.session.commit()
    assert journey.council_facts(la).in_progress.id == a.id
    with pytest.raises(RuleError, match="already in progress"):
        journey.start_assessment(people["officer"], la)
    journey.save_answers(people["cllr"], a, filled(a))
    journey.submit_assessment(people["cllr"], a)
    journey.accept_assessment(people["staff"], a)
    db.session.commit()
    with pytest.raises(RuleError, match=f"already assessed itself for {a.year}"):
        journey.start_assessment(people["cllr"], la)
    assert count(Assessment) == 1


# --- The workflow -----------------------------------------------------------------------------

def test_draft_check_submit_return_resubmit_accept_publish(app, people):
    """The whole workflow, each step refused when it is the wrong one, every step audited."""
    la = endorsed_with_champions(people)
    staff, cllr, officer = people["staff"], people["cllr"], people["officer"]
    adopt(staff)
    a = journey.start_assessment(officer, la)
    db.session.commit()
    assert len(journey.missing_answers(a)) == 18  # six principles x (level, evidence, action)
    journey.save_answers(officer, a, {1: {"level": "3", "evidence": " Our board. ", "action": ""}})
    db.session.commit()
    assert (a.answers[0].level, a.answers[0].evidence) == (3, "Our board.")
    assert (1, "action", "Enter one action for the year ahead for principle 1") in journey.missing_answers(a)
    with pytest.raises(RuleError) as refused:
        journey.submit_assessment(cllr, a)
    assert refused.value.field == "action_1"
    with pytest.raises(RuleError, match="Choose a level") as bad:
        journey.save_answers(officer, a, {2: {"level": 5, "evidence": "", "action": ""}})
    assert bad.value.field == "level_2"
    with pytest.raises(RuleError) as long:
        journey.save_answers(officer, a, {2: {"level": 1, "evidence": "x" * 4001, "action": ""}})
    assert long.value.field == "evidence_2"
    with pytest.raises(RuleError) as long:
        journey.save_answers(officer, a, {2: {"level": 1, "evidence": "", "action": "x" * 1001}})
    assert long.value.field == "action_2"
    for wrong in (journey.accept_assessment, journey.return_assessment):
        with pytest.raises(RuleError, match="Only a submitted"):
            wrong(staff, a, "Comments")
    with pytest.raises(RuleError, match="once the campaign has accepted"):
        journey.publish_assessment(cllr, a)
    journey.save_answers(officer, a, filled(a))
    assert journey.missing_answers(a) == []
    journey.submit_assessment(cllr, a)
    db.session.commit()
    to_staff = db.session.scalars(sa.select(OutboxEmail).where(
        OutboxEmail.subject.startswith("Assessment to review"))).one()
    assert to_staff.to_address == app.config["CONTACT_EMAIL"] and f"/staff/councils/{BRISTOL}" in to_staff.body_text
    with pytest.raises(RuleError, match="cannot be changed"):
        journey.save_answers(officer, a, filled(a))
    with pytest.raises(RuleError, match="already been submitted"):
        journey.submit_assessment(cllr, a)
    with pytest.raises(NotPermitted):
        journey.return_assessment(cllr, a, "I am not staff")
    with pytest.raises(RuleError, match="Enter comments") as no_comments:
        journey.return_assessment(staff, a, "  ")
    assert no_comments.value.field == "comments"
    journey.return_assessment(staff, a, "Add links to the evidence for principle 3.")
    db.session.commit()
    assert a.status == AssessmentStatus.RETURNED and a.review_comments.startswith("Add links")
    returned = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.subject.endswith("changes needed"))).all()
    assert [m.to_address for m in returned] == ["cllr@example.org"]  # the champion who submitted; not the officer
    assert "Add links to the evidence for principle 3." in returned[0].body_text
    assert f"/councils/{BRISTOL}/assessments/{a.id}" in returned[0].body_text
    journey.save_answers(officer, a, {3: {**COMPLETE, "evidence": "See https://example.org/spend."}})
    journey.submit_assessment(cllr, a)
    with pytest.raises(NotPermitted):
        journey.accept_assessment(cllr, a)
    journey.accept_assessment(staff, a, "Thank you.")
    db.session.commit()
    assert a.status == AssessmentStatus.ACCEPTED and a.accepted_at is not None and a.published_at is None
    accepted = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.subject.endswith("been accepted"))).all()
    assert [m.to_address for m in accepted] == ["cllr@example.org"] and "chooses whether to publish" in accepted[
        0].body_text
    with pytest.raises(NotPermitted):
        journey.publish_assessment(officer, a)  # not a champion
    with pytest.raises(NotPermitted):
        journey.publish_assessment(staff, a)  # the council chooses
    journey.publish_assessment(cllr, a)
    journey.publish_assessment(cllr, a)  # a set: nothing more
    db.session.commit()
    assert a.published_at is not None
    journey.unpublish_assessment(cllr, a)
    journey.unpublish_assessment(cllr, a)
    db.session.commit()
    assert a.published_at is None
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_type == "assessment")
                                 .order_by(AuditLog.id)).all()
    assert actions == ["journey.assessment_start", "journey.assessment_save", "journey.assessment_save",
                       "journey.assessment_submit", "journey.assessment_return", "journey.assessment_save",
                       "journey.assessment_submit", "journey.assessment_accept", "journey.assessment_publish",
                       "journey.assessment_unpublish"]


# --- Re-assessment dates ----------------------------------------------------------------------

def test_reassessment_due_and_overdue(app, people):
    """Due a year after acceptance: the reminder window opens 30 days before, overdue after; starting
    the next assessment ends both."""
    la = endorsed_with_champions(people)
    adopt(people["staff"])
    a = accepted_assessment(people, la)
    facts = journey.council_facts(la)
    accepted_on = facts.latest_accepted.accepted_at
    assert facts.reassessment_due_on == journey._uk_date(accepted_on) + timedelta(days=365)
    assert (facts.due, facts.overdue) == (False, False)
    for days_ago, due, overdue in ((334, False, False), (336, True, False), (365, True, False), (367, True, True)):
        a.accepted_at = utcnow() - timedelta(days=days_ago)
        db.session.commit()
        facts = journey.council_facts(la)
        assert (facts.due, facts.overdue) == (due, overdue), days_ago
    a.year -= 1
    db.session.commit()
    journey.start_assessment(people["cllr"], la)
    db.session.commit()
    facts = journey.council_facts(la)
    assert (facts.due, facts.overdue) == (False, False) and facts.in_progress is not None


# --- Champions --------------------------------------------------------------------------------

def test_champion_invitation_by_email_accept_and_replace(app, people):
    """A member is invited by email with a signed link; they count once they accept, which ends the
    previous champion of that role; a named person counts at once."""
    la = council(BRISTOL)
    cllr, cllr2 = people["cllr"], people["cllr2"]
    named = journey.appoint_champion(cllr, la, ChampionRole.CABINET, name="Cllr Priya Patel", job_title="Leader")
    db.session.commit()
    assert journey.council_facts(la).champions[ChampionRole.CABINET].id == named.id
    invited = journey.appoint_champion(cllr, la, ChampionRole.CABINET, member=cllr2)
    db.session.commit()
    mail = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.to_address == cllr2.email)).one()
    assert mail.secret and "Bristol" in mail.subject and "/councils/champions/accept/" in mail.body_text
    assert journey.council_facts(la).champions[ChampionRole.CABINET].id == named.id  # not yet accepted
    token = mail.body_text.split("/councils/champions/accept/")[1].split()[0]
    with pytest.raises(NotPermitted):
        journey.accept_champion(cllr, token)  # someone else's invitation
    with pytest.raises(RuleError, match="not valid"):
        journey.accept_champion(cllr2, token[:-3] + "abc")
    journey.accept_champion(cllr2, token)
    db.session.commit()
    assert journey.is_champion(cllr2, la) and journey.accept_champion(cllr2, token).id == invited.id  # idempotent
    db.session.refresh(named)
    assert named.ended_at is not None
    assert journey.council_facts(la).champions[ChampionRole.CABINET].id == invited.id
    # A named senior manager replaces nobody else's role.
    journey.appoint_champion(people["staff"], la, ChampionRole.SENIOR_MANAGEMENT, name="Jo Director")
    db.session.commit()
    assert journey.is_champion(cllr2, la)
    assert [journey.champion_name(c) for c in journey.current_champions(la)] == ["Cllr Ben Okafor", "Jo Director"]
    with pytest.raises(RuleError) as refused:
        journey.appoint_champion(cllr, la, ChampionRole.CABINET, member=people["cardiff"])
    assert refused.value.field == "member"
    with pytest.raises(RuleError) as refused:
        journey.appoint_champion(cllr, la, ChampionRole.CABINET, member=people["community"])
    assert refused.value.field == "member"
    with pytest.raises(RuleError) as refused:
        journey.appoint_champion(cllr, la, ChampionRole.CABINET)
    assert refused.value.field == "name"
    # By email (the journey page's form): an unknown address is refused as another council's member is.
    messages = set()
    for email in ("nobody@example.org", people["cardiff"].email, people["community"].email, "  "):
        with pytest.raises(RuleError) as refused:
            journey.appoint_champion(cllr, la, ChampionRole.SENIOR_MANAGEMENT, email=email)
        assert refused.value.field == "member", email
        messages.add(refused.value.message)
    assert len(messages) == 1
    by_email = journey.appoint_champion(cllr, la, ChampionRole.SENIOR_MANAGEMENT, email=" OFFICER@example.org ")
    assert by_email.user_id == people["officer"].id and by_email.accepted_at is None


def test_champion_invitation_expires_and_a_newer_one_replaces_it(app, people):
    """An invitation lasts 14 days; a newer invitation for the role withdraws the one waiting; ending a
    champion stops them counting."""
    la = council(BRISTOL)
    cllr, cllr2, officer = people["cllr"], people["cllr2"], people["officer"]
    first = journey.appoint_champion(cllr, la, ChampionRole.SENIOR_MANAGEMENT, member=officer)
    db.session.commit()
    token = journey.champion_token(first)
    first.invited_at = utcnow() - timedelta(days=15)
    db.session.commit()
    with pytest.raises(RuleError, match="expired"):
        journey.accept_champion(officer, token)
    first.invited_at = utcnow()
    db.session.commit()
    second = journey.appoint_champion(cllr, la, ChampionRole.SENIOR_MANAGEMENT, member=cllr2)
    db.session.commit()
    db.session.refresh(first)
    assert first.ended_at is not None
    with pytest.raises(RuleError, match="withdrawn or replaced"):
        journey.accept_champion(officer, token)
    journey.accept_champion(cllr2, journey.champion_token(second))
    db.session.commit()
    assert journey.is_champion(cllr2, la)
    with pytest.raises(NotPermitted):
        journey.end_champion(people["cardiff"], second)
    journey.end_champion(cllr, second)
    db.session.commit()
    assert not journey.is_champion(cllr2, la) and journey.council_facts(la).champions[
        ChampionRole.SENIOR_MANAGEMENT] is None


def test_an_expired_signature_is_refused(app, people, monkeypatch):
    """The signed token itself expires after 14 days, whatever the record says."""
    la = council(BRISTOL)
    invited = journey.appoint_champion(people["cllr"], la, ChampionRole.CABINET, member=people["cllr2"])
    db.session.commit()
    token = journey.champion_token(invited)
    real = __import__("time").time
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: real() + 15 * 24 * 3600)
    with pytest.raises(RuleError, match="expired"):
        journey.accept_champion(people["cllr2"], token)


def test_staff_remove_a_named_champion_on_request(app, people):
    """Staff blank a named champion's details; the role stays as 'former champion'; not for members."""
    la = council(BRISTOL)
    named = journey.appoint_champion(people["cllr"], la, ChampionRole.CABINET, name="Cllr Priya Patel",
                                     job_title="Leader")
    db.session.commit()
    with pytest.raises(NotPermitted):
        journey.remove_named_champion(people["cllr"], named)
    journey.remove_named_champion(people["staff"], named)
    db.session.commit()
    assert (named.name, named.job_title) == ("", "") and named.erased_at and named.ended_at
    assert journey.champion_name(named) == "Former champion"
    assert journey.council_facts(la).champions[ChampionRole.CABINET] is None
    member = champion(people["cllr"], la, people["cllr2"])
    with pytest.raises(RuleError, match="is a member"):
        journey.remove_named_champion(people["staff"], member)


# --- Interest, endorsement, conversation ------------------------------------------------------

def test_interest_is_idempotent(app, people):
    """Saying so twice keeps one row and one audit entry."""
    la = council(BRISTOL)
    first = journey.declare_interest(people["cllr"], la, "Report to cabinet in May")
    again = journey.declare_interest(people["cllr"], la)
    db.session.commit()
    assert first.id == again.id and count(CouncilInterest) == 1
    assert count(AuditLog, AuditLog.action == "journey.interest") == 1
    with pytest.raises(RuleError) as long:
        journey.declare_interest(people["officer"], la, "x" * 1001)
    assert long.value.field == "note"


def test_endorsement_link_or_checked_document(app, people, uploads_dir):
    """The endorsement needs a verified pledge; a link must be https; a document is checked by its
    content (a PDF, not a renamed text file) and stored like evidence files."""
    la = council(BRISTOL)
    cllr = people["cllr"]
    with pytest.raises(RuleError, match="verified pledge"):
        journey.set_endorsement(cllr, la, link_url="https://example.org/decision")
    verified_pledge(people["staff"], cllr, la)
    for bad in ("http://example.org/decision", "javascript:alert(1)", "https://", "https://a b"):
        with pytest.raises(RuleError) as refused:
            journey.set_endorsement(cllr, la, link_url=bad)
        assert refused.value.field == "link_url", bad
    with pytest.raises(RuleError) as nothing:
        journey.set_endorsement(cllr, la)
    assert nothing.value.field == "link_url"
    fake = FileStorage(io.BytesIO(b"just text, not a PDF"), filename="decision.pdf", content_type="application/pdf")
    with pytest.raises(RuleError) as refused:
        journey.set_endorsement(cllr, la, upload=fake)
    assert refused.value.field == "file"
    pdf = FileStorage(io.BytesIO(PDF), filename="../Signed endorsement.pdf", content_type="application/pdf")
    endorsement = journey.set_endorsement(people["staff"], la, upload=pdf)
    db.session.commit()
    assert (endorsement.file_kind, endorsement.file_size) == ("pdf", len(PDF))
    assert endorsement.file_name == "Signed endorsement.pdf" and (uploads_dir / endorsement.file_key).exists()
    assert (uploads_dir / endorsement.file_key).read_bytes() == PDF  # the original, as sent
    found, public = journey.endorsement_document(AnonymousUserMixin(), la)
    assert found.id == endorsement.id and b"Ada Author" in PDF and b"Ada Author" not in public
    assert (uploads_dir / journey.uploads.published_key(endorsement.file_key)).read_bytes() == public
    assert journey.endorsement_download_name(la, endorsement) == f"keep-it-local-endorsement-{BRISTOL}.pdf"
    assert journey.council_facts(la).endorsed
    journey.set_endorsement(cllr, la, link_url="https://bristol.example.org/decision")  # keeps the document
    db.session.commit()
    assert endorsement.file_key and endorsement.link_url.startswith("https://")


def test_conversation_workshop_must_be_in_the_councils_region(app, people):
    """A linked workshop must be in the council's region (and published); a recorded event needs a
    date not in the future and a summary."""
    la = council(BRISTOL)  # South West
    start = utcnow() - timedelta(days=10)

    def workshop(region_gss, status=WorkshopStatus.PUBLISHED):
        w = Workshop(title="Keep it Local workshop", region_id=council(region_gss).region_id,
                     format=WorkshopFormat.IN_PERSON, starts_at=start, ends_at=start + timedelta(hours=2),
                     registration_closes_at=start - timedelta(days=1), capacity=30, status=status)
        db.session.add(w)
        db.session.commit()
        return w

    leeds, plymouth, cancelled = workshop(LEEDS), workshop(PLYMOUTH), workshop(CORNWALL, WorkshopStatus.CANCELLED)
    with pytest.raises(RuleError, match="South West") as refused:
        journey.record_conversation(people["cllr"], la, held_on=None, workshop=leeds)
    assert refused.value.field == "workshop"
    with pytest.raises(RuleError) as refused:
        journey.record_conversation(people["cllr"], la, held_on=None, workshop=cancelled)
    assert refused.value.field == "workshop"
    assert [w.id for w in journey.conversation_workshops(la)] == [plymouth.id]
    linked = journey.record_conversation(people["cllr"], la, held_on=None, workshop=plymouth)
    db.session.commit()
    assert linked.held_on == journey._uk_date(start) and linked.title == "Keep it Local workshop"
    assert journey.council_facts(la).conversation_on == linked.held_on
    for kwargs, field in (({"held_on": date.today() + timedelta(days=1), "summary": "x"}, "held_on"),
                          ({"held_on": None, "summary": "x"}, "held_on"),
                          ({"held_on": date.today(), "summary": ""}, "summary"),
                          ({"held_on": date.today(), "summary": "x" * 2001}, "summary"),
                          ({"held_on": date.today(), "summary": "x", "title": "t" * 201}, "title")):
        with pytest.raises(RuleError) as refused:
            journey.record_conversation(people["cllr"], la, **kwargs)
        assert refused.value.field == field, kwargs
    journey.record_conversation(people["staff"], la, held_on=date.today(), summary="Residents' assembly.")
    db.session.commit()
    assert journey.council_facts(la).conversation_on == date.today()
    assert count(CommunityConversation) == 2


# --- Peer suggestions and introductions -------------------------------------------------------

def test_peer_suggestions_region_then_tier_at_most_three_published_only(app, people):
    """For each principle the council is starting or developing on: up to three other councils at
    established or leading in their latest published assessment, same region first, then same tier."""
    staff = people["staff"]
    round_ = adopt(staff)
    bristol = council(BRISTOL)
    year = utcnow().year
    planted(bristol, round_, year - 1, {1: 4, 2: 4, 5: 4})                   # its own, published last year
    planted(bristol, round_, year, {1: 1, 2: 2, 3: 3, 4: 4, 5: 1, 6: None}, status=AssessmentStatus.DRAFT,
            published=False)
    planted(council(HACKNEY), round_, year - 1, {1: 4, 2: 3, 5: 3})          # other region, other tier
    planted(council(CARDIFF), round_, year - 1, {1: 3, 2: 4})                # same tier
    planted(council(EAST_DEVON), round_, year - 1, {1: 3})                   # same region, a district
    planted(council(PLYMOUTH), round_, year - 1, {1: 4, 2: 2})               # same region and tier
    planted(council(CORNWALL), round_, year - 1, {1: 4}, published=False)    # not published
    planted(council(LEEDS), round_, year - 2, {5: 4})                        # an older year...
    planted(council(LEEDS), round_, year - 1, {5: 2})                        # ...superseded by the latest
    suggestions = journey.peer_suggestions(bristol)
    assert sorted(suggestions) == [1, 2, 5]  # 3 and 4 are established or leading; 6 has no level
    assert [p.council.gss_code for p in suggestions[1]] == [PLYMOUTH, EAST_DEVON, CARDIFF]
    assert [(p.council.gss_code, p.level) for p in suggestions[2]] == [(CARDIFF, 4), (HACKNEY, 3)]
    assert [p.council.gss_code for p in suggestions[5]] == [HACKNEY]
    peer = suggestions[1][0]
    assert (peer.level, peer.year, peer.has_champion) == (4, year - 1, False)
    journey.appoint_champion(staff, council(PLYMOUTH), ChampionRole.CABINET, name="Cllr Tudor Evans")
    db.session.commit()
    assert journey.peer_suggestions(bristol)[1][0].has_champion
    assert peer.evidence.startswith("We did it. (Plymouth")
    # The council's own published assessment never suggests itself.
    assert all(p.council.id != bristol.id for peers in suggestions.values() for p in peers)
    hackney_view = journey.peer_suggestions(council(HACKNEY))
    assert hackney_view == {}  # Hackney is at 3-4 wherever it has a level (and None elsewhere)


def test_request_introduction_emails_staff_without_addresses(app, people):
    """A member asks the campaign to introduce them to a suggested peer: staff get an email; the
    peer must be a current suggestion; asking twice while it waits changes nothing."""
    staff = people["staff"]
    round_ = adopt(staff)
    bristol = council(BRISTOL)
    planted(bristol, round_, utcnow().year, {1: 1}, status=AssessmentStatus.DRAFT, published=False)
    planted(council(PLYMOUTH), round_, utcnow().year - 1, {1: 4})
    with pytest.raises(NotPermitted):
        journey.request_introduction(people["cardiff"], bristol, council(PLYMOUTH), 1, "Hello")
    with pytest.raises(RuleError, match="not one of the councils"):
        journey.request_introduction(people["cllr"], bristol, council(CARDIFF), 1, "Hello")
    with pytest.raises(RuleError, match="not one of the councils"):
        journey.request_introduction(people["cllr"], bristol, council(PLYMOUTH), 2, "Hello")
    with pytest.raises(RuleError) as empty:
        journey.request_introduction(people["cllr"], bristol, council(PLYMOUTH), 1, " ")
    assert empty.value.field == "message"
    intro = journey.request_introduction(people["cllr"], bristol, council(PLYMOUTH), 1,
                                         "How did you bring your services together?")
    again = journey.request_introduction(people["cllr"], bristol, council(PLYMOUTH), 1, "Again")
    db.session.commit()
    assert intro.id == again.id and count(PeerIntroduction) == 1
    mail = db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.subject.startswith("Introduction"))).one()
    assert mail.to_address == app.config["CONTACT_EMAIL"] and mail.subject.endswith("Bristol to Plymouth")
    assert "Plymouth" in mail.body_text and "How did you bring" in mail.body_text
    assert people["cllr"].email not in mail.body_text
    assert f"/staff/councils/{BRISTOL}" in mail.body_text
    # Staff make the introduction: marked once (a second click changes nothing and audits nothing).
    with pytest.raises(RuleError, match="Only campaign staff"):
        journey.mark_introduction_handled(people["cllr"], intro)
    assert journey.mark_introduction_handled(staff, intro) is True
    db.session.commit()
    assert intro.handled_at is not None and intro.handled_by_id == staff.id
    assert journey.mark_introduction_handled(staff, intro) is False
    db.session.commit()
    assert count(AuditLog, AuditLog.action == "journey.introduction_handled") == 1


def test_journey_page_next_step_and_permissions(app, people, monkeypatch):
    """The journey page says what is next and who can do it, and what this viewer may do (asking
    once whether the viewer is a champion)."""
    la = council(BRISTOL)
    page = journey.journey(la, people["cllr"])
    assert page["facts"].stage is Stage.NOT_STARTED and page["next_step"]["stage"] is Stage.INTERESTED
    assert page["permissions"]["can_edit"] and page["permissions"]["can_appoint"]
    assert not page["permissions"]["can_start_assessment"] and page["permissions"]["start_refusal"]
    outsider = journey.journey(la, people["cardiff"])["permissions"]
    assert not any(outsider[k] for k in ("can_edit", "can_appoint", "can_record_conversation"))
    staff = journey.journey(la, people["staff"])["permissions"]
    assert staff["can_appoint"] and staff["can_record_conversation"] and not staff["can_edit"]
    endorsed_with_champions(people, la)
    asked = []
    monkeypatch.setattr(journey, "is_champion", lambda *args, real=journey.is_champion: asked.append(1) or real(*args))
    page = journey.journey(la, people["cllr"])
    assert not journey.journey(la, people["cardiff"])["permissions"]["is_champion"]
    assert len(asked) == 2  # once per page, also for someone not of the council (can_edit asks it too)
    assert page["next_step"]["stage"] is Stage.CONVERSATION and page["permissions"]["is_champion"]
    assert page["next_step"]["who"] and page["next_step"]["text"].startswith("Hold a conversation")
    assert [c.role for c in page["champions"]] == [ChampionRole.CABINET, ChampionRole.SENIOR_MANAGEMENT]


def test_demo_data_has_every_stage_and_a_walkable_journey(app, runner):
    """seed-demo adopts a round and gives councils at every stage (one re-assessed, a peer in each region),
    and the demo member is a councillor and champion of a council with a verified pledge."""
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    facts = journey.facts_for()
    stages = {f.stage for f in facts.values()}
    assert stages == set(Stage)
    assert journey.adopted_drafts()[0] is not None
    assessed = [cid for cid, f in facts.items() if f.stage in (Stage.ASSESSED, Stage.REASSESSED)]
    regions = {db.session.get(LocalAuthority, cid).region_id for cid in assessed}
    assert len(regions) == 10
    member = db.session.scalar(sa.select(User).where(User.email == "member@example.org"))
    home = db.session.get(LocalAuthority, member.local_authority_id)
    assert journey.can_edit(member, home) and journey.is_champion(member, home)
    assert facts[home.id].pledge is not None and journey.start_refusal(member, home) is None
    assert any(f.due for f in facts.values()) and any(f.overdue for f in facts.values())
    assert runner.invoke(args=["seed-demo"]).output.startswith("Demo data already loaded")


def test_a_step_reads_the_status_another_request_left(app, people):
    """Each step re-reads the assessment under its row lock: a copy loaded before another request
    accepted it cannot be accepted, returned or edited again (no second audit entry or email)."""
    la = endorsed_with_champions(people)
    adopt(people["staff"])
    a = journey.start_assessment(people["cllr"], la)
    journey.save_answers(people["cllr"], a, filled(a))
    journey.submit_assessment(people["cllr"], a)
    db.session.commit()
    assert a.status == AssessmentStatus.SUBMITTED  # loaded in this session...
    with db.engine.begin() as other:  # ...while another request accepts it
        other.execute(sa.update(Assessment).where(Assessment.id == a.id).values(status=AssessmentStatus.ACCEPTED,
                                                                                 accepted_at=utcnow()))
    assert a.status == AssessmentStatus.SUBMITTED  # the stale copy
    for step in (journey.accept_assessment, journey.return_assessment):
        with pytest.raises(RuleError, match="Only a submitted"):
            step(people["staff"], a, "Comments")
    with pytest.raises(RuleError, match="cannot be changed"):
        journey.save_answers(people["cllr"], a, filled(a, level=4))
    db.session.rollback()
    assert count(AuditLog, AuditLog.action == "journey.assessment_accept") == 0
    journey.publish_assessment(people["cllr"], a)  # it is accepted, as the other request left it
    db.session.commit()
    assert journey.council_facts(la).stage is Stage.CHAMPIONS and journey.is_published(a)
