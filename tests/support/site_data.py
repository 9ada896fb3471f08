"""Realistic data for the workshops, principles, evidence and councils areas, made through the
services: the pages the Nu HTML Checker (test_html_validity_areas.py) and axe-core
(test_accessibility_areas.py, which also checks that each page reflows 320 px wide) check. Where
pages show what people typed, some of it is long and unbroken (tests/support/reflow.py: a
300-character URL, a long organisation name, a long email address).

`build_site` makes: workshops published, full with a waitlist, draft, cancelled and past, with
confirmed, waitlisted, walk-in and checked-in registrations; a closed principles round with results
and "you said, we did", an open round linked to a workshop with votes and suggestions, and a draft
round; calls for evidence open, closed and forthcoming, with survey responses and written evidence
(named, anonymous and private, one with a PDF); council pledges verified, pending and rejected.
"""
import io
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from kil_network.core.timeutil import to_london, utcnow
from kil_network.extensions import db
from tests.support.live import LIVE_SECRET_KEY
from tests.support.reflow import LONG_EMAIL, LONG_ORG, LONG_URL

OPEN_TEXTS = {
    1: "Think about the whole system, not service silos, when you commission.",
    2: "Coordinate services at neighbourhood level, with residents.",
    3: "Increase local spend to invest in the local economy.",
    4: "Focus on early intervention to save costs later.",
    5: "Commit to your community & support local <organisations>.",
    6: "Commission services simply and collaboratively.",
}
CLOSED_TEXTS = {
    1: "Look at services as a whole system.",
    2: "Organise services around neighbourhoods.",
    3: "Spend locally where possible.",
    4: "Invest in prevention.",
    5: "Support local organisations.",
    6: "Make commissioning simpler.",
}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# The path through the survey that meets every kind of question page: radio, text, checkbox, select.
SURVEY_PATH = [("delivers", "no"), ("delivered_before", "yes"), ("council_role", "neither"),
               ("why_stopped", f"The contract was re-tendered as one county-wide lot: {LONG_URL}"),
               ("barriers", ["size", "price"]), ("large_contracts", ""), ("what_would_help", "Smaller lots."),
               ("region", None)]  # None: a region picked on the page
# An invalid answer for each kind of question page.
SURVEY_ERRORS = {"delivers": [], "why_stopped": [""], "barriers": ["none", "size"], "region": [""]}


def signed_as_live_server(sign, *args):
    """`sign(*args)` made with the live server's SECRET_KEY (the browser tests' pages check its signature)."""
    saved = current_app.config["SECRET_KEY"]
    current_app.config["SECRET_KEY"] = LIVE_SECRET_KEY
    try:
        return sign(*args)
    finally:
        current_app.config["SECRET_KEY"] = saved


def build_site(make_user, upload_dir) -> dict:
    """Realistic data for the four areas, made through the services; returns ids for the URLs."""
    from werkzeug.datastructures import FileStorage

    from kil_network.auth.models import MemberType
    from kil_network.councils import services as councils
    from kil_network.councils.models import PledgeStatus, SignedBy
    from kil_network.evidence import services as evidence
    from kil_network.evidence.models import Call, Publication, ReviewStatus
    from kil_network.members.models import Region
    from kil_network.members.notifications import unsubscribe_token
    from kil_network.principles import moderation
    from kil_network.principles import services as principles
    from kil_network.principles.models import Eligibility, ResponseStatus, Stance, Vote
    from kil_network.workshops import queries as workshop_queries
    from kil_network.workshops import services as workshops
    from kil_network.workshops.models import WorkshopFormat

    current_app.config["UPLOAD_FOLDER"] = str(upload_dir)
    now = utcnow().replace(second=0, microsecond=0)

    def region(name):
        return db.session.scalar(sa.select(Region).where(Region.name == name))

    admin = make_user(email="admin@example.org", name="Ada Admin", role="admin")
    member = make_user(email="member@example.org", name="Morgan Member", organisation="Riverside Community Trust",
                       job_title="Director")
    make_user(email="officer@example.org", name="Olu Officer", member_type="council_officer",
              gss_code="E08000035", organisation="", job_title="Head of Commissioning")
    calderdale = make_user(email="cllr@example.org", name="Cllr Chris Boyd", member_type="councillor",
                           gss_code="E08000033", organisation="")
    kirklees = make_user(email="kirklees@example.org", name="Kim Commissioner", member_type="commissioner",
                         gss_code="E08000034", organisation="")
    hackney = make_user(email="hackney@example.org", name="Hari Officer", member_type="council_officer",
                        gss_code="E09000012", organisation="")
    others = [make_user(email=f"voter{n}@example.org", name=name, member_type=mtype, gss_code=gss,
                        organisation=org)
              for n, (name, mtype, gss, org) in enumerate([
                  ("Amara Okonkwo", "community_organisation", "E09000012", "Hackney Food Bank"),
                  ("Bryn Davies", "community_organisation", "W06000015", LONG_ORG),
                  ("Carys Jones", "councillor", "W06000015", ""),
                  ("Dev Patel", "commissioner", "E08000035", ""),
                  ("Erin Walsh", "academic", "E06000023", "University of Bristol"),
                  ("Femi Adeyemi", "community_organisation", "E08000035", "Leeds Community Hub"),
              ])]
    member.calendar_token = "a-secret-calendar-token-for-the-member-only"

    # --- Principles: a closed round with results, an open round, a draft round ------------------
    def round_with(name, texts, changed=""):
        round_ = principles.create_round(admin, name=name, introduction="Tell us whether each draft works for you.",
                                         closes_at=now + timedelta(days=30), eligibility=Eligibility.MEMBERS)
        drafts = principles.drafts_of(round_)
        principles.update_round(admin, round_, name=name, introduction=round_.introduction, opens_at=None,
                                closes_at=round_.closes_at, eligibility=Eligibility.MEMBERS,
                                drafts={d.id: {"title": texts[d.number].split(",")[0].rstrip("."),
                                               "text": texts[d.number],
                                               "what_changed": changed} for d in drafts})
        db.session.flush()
        return round_, principles.drafts_of(round_)

    def data(title, starts, *, fmt=WorkshopFormat.IN_PERSON, capacity=10, where="Yorkshire and The Humber", **extra):
        values = {"title": title, "description": "We co-design the six principles.\nBring a colleague.",
                  "region": region(where) if where else None, "format": fmt, "venue": "Leeds Civic Hall",
                  "address": "Calverley Street, Leeds", "postcode": "LS1 1UR",
                  "online_url": "https://meet.example.org/kil-room?x=1&y=2", "starts_at": starts,
                  "ends_at": starts + timedelta(hours=2), "registration_closes_at": starts - timedelta(days=1),
                  "capacity": capacity, "accessibility_info": "Step-free access.\nHearing loop.",
                  "mix_max_percent": None}
        values.update(extra)
        workshop = workshops.create_workshop(admin, values)
        return workshop

    def publish(workshop):
        workshops.publish_workshop(admin, workshop)
        return workshop

    def make_past(workshop, days):
        workshop.starts_at = now - timedelta(days=days)
        workshop.ends_at = workshop.starts_at + timedelta(hours=2)
        workshop.registration_closes_at = workshop.starts_at - timedelta(days=1)

    closed_round, closed_drafts = round_with("Round 1: first drafts", CLOSED_TEXTS)
    past = publish(data("Leeds principles workshop", now + timedelta(days=3), capacity=20, round=closed_round))
    past.live_voting = True
    principles.open_round_for_votes(admin, closed_round)
    for person in [member, *others]:
        workshops.register(past, person, access_needs="")
    for reg in workshop_queries.active_registrations(past)[:-1]:
        workshops.check_in(admin, reg)
    stances = [Stance.SUPPORT, Stance.SUPPORT, Stance.AMEND, Stance.OPPOSE, Stance.SUPPORT, Stance.AMEND,
               Stance.SUPPORT]
    for draft in closed_drafts:
        for person, stance in zip([member, *others], stances, strict=True):
            principles.cast_vote(person, draft, stance,
                                 "Needs to name small charities." if stance == Stance.AMEND else "",
                                 workshop_id=past.id if person is not others[-1] else None)
    closed_suggestions = [principles.suggest(others[0], d, f"{d.text} With residents & small charities named.",
                                             "So commissioners know who we mean.") for d in closed_drafts[:3]]
    # Moderation: the closed round's comments and suggestions published (one comment in staff's words).
    closed_comments = db.session.scalars(sa.select(Vote).where(
        Vote.draft_id.in_([d.id for d in closed_drafts]), Vote.comment != "").order_by(Vote.id)).all()
    moderation.redact(admin, closed_comments[0], "Needs to name charities.")
    for published in [*closed_comments[1:], *closed_suggestions]:
        moderation.approve(admin, published)
    principles.endorse(member, closed_suggestions[0])
    for s, status in zip(closed_suggestions,
                         [ResponseStatus.ACCEPTED, ResponseStatus.PARTLY, ResponseStatus.NOT_TAKEN], strict=True):
        principles.respond(admin, s, status, "We named small charities in the next draft.")
    principles.close_round(admin, closed_round)
    past.live_voting = False
    make_past(past, 30)

    open_round, open_drafts = round_with("Round 2: revised drafts", OPEN_TEXTS, "Reworded after the suggestions.")
    principles.open_round_for_votes(admin, open_round)
    live = publish(data("Bradford principles workshop", now + timedelta(days=14), capacity=10, round=open_round,
                        where="Yorkshire and The Humber"))
    live.live_voting = True
    for draft in open_drafts:
        for person, stance in zip(others, stances, strict=False):  # six voters: the first six stances
            principles.cast_vote(person, draft, stance, workshop_id=live.id if person in others[:3] else None)
    for draft in open_drafts[:3]:
        principles.cast_vote(member, draft, Stance.SUPPORT, "Strongly agree.")
    own = principles.suggest(member, open_drafts[0], "Think about the whole system & the people in it.",
                             "Systems are made of people.")
    theirs = principles.suggest(others[1], open_drafts[0], "Commission across the whole system.", f"See {LONG_URL}")
    endorsed = principles.suggest(others[2], open_drafts[0], "Think whole-system, always.\nNot service by service.",
                                  "Clearer.")
    moderation.approve(admin, endorsed)
    moderation.approve(admin, theirs)
    # Awaiting moderation: the member's comments on the open round, and this suggestion (long, unbroken).
    principles.suggest(others[3], open_drafts[1], f"Say who commissions: {LONG_URL}", f"Because {LONG_ORG}")
    moderation.redact(admin, own, "Think about the whole system and the people in it.")
    principles.endorse(member, endorsed)
    principles.endorse(others[0], own)
    principles.respond(admin, endorsed, ResponseStatus.PARTLY, "We will use “whole system” in round 3.")
    draft_round, _ = round_with("Round 3: final wording", OPEN_TEXTS, "Tightened the wording.")

    # --- Workshops ----------------------------------------------------------------------------------
    for person in [member, others[0], others[1], others[4]]:
        workshops.register(live, person,
                           access_needs="Wheelchair user: step-free route, please." if person is member else "")
    for reg in workshop_queries.active_registrations(live)[1:3]:
        workshops.check_in(admin, reg)
    workshops.add_walk_in(admin, live, name="Wendy Walk-in", email=LONG_EMAIL,
                          member_type=MemberType.COMMUNITY_ORGANISATION)
    full = publish(data("Cardiff online workshop", now + timedelta(days=21), fmt=WorkshopFormat.HYBRID, capacity=2,
                        where="Wales", venue="Cardiff Central Library", address="The Hayes, Cardiff",
                        postcode="CF10 1FL", online_url=LONG_URL))
    for person in [others[1], others[2], member, others[3]]:
        workshops.register(full, person)
    draft_workshop = data("Draft: Newcastle workshop", now + timedelta(days=40), where="North East")
    cancelled = publish(data("Bristol workshop", now + timedelta(days=10), fmt=WorkshopFormat.ONLINE,
                             where="South West"))
    for person in [member, others[4]]:
        workshops.register(cancelled, person)
    workshops.cancel_workshop(admin, cancelled, "The venue flooded. We will arrange a new date soon.")
    missed = publish(data("London online workshop", now + timedelta(days=2), fmt=WorkshopFormat.ONLINE, where="London"))
    workshops.register(missed, member)
    make_past(missed, 60)

    # --- Call for evidence ----------------------------------------------------------------------------
    open_call = Call(title="Call for evidence: public services & communities", opens_at=now - timedelta(days=10),
                     introduction="Tell us how services are commissioned.\nEvery response counts.",
                     asks="Evidence on the four topics below.", survey_closes_at=now + timedelta(days=20),
                     written_closes_at=now + timedelta(days=34))
    closed_call = Call(title="2023 call for evidence", opens_at=now - timedelta(days=400), introduction="Closed now.",
                       survey_closes_at=now - timedelta(days=300), written_closes_at=now - timedelta(days=286))
    coming_call = Call(title="Next call (survey only)", opens_at=now + timedelta(days=30), introduction="Soon.",
                       survey_closes_at=now + timedelta(days=60))
    db.session.add_all([open_call, closed_call, coming_call])
    db.session.flush()
    yorkshire = str(region("Yorkshire and The Humber").id)
    survey_refs = [evidence.submit_survey(open_call, answers, user).reference for answers, user in [
        ({"delivers": "yes", "council_role": "neither", "contract_size": "under_100k", "contract_length": "1_3",
          "barriers": ["size", "timescales"],
          "large_contracts": f"A prime contractor took 20% & passed the risk on: {LONG_URL}",
          "what_would_help": "Smaller lots.", "region": yorkshire}, member),
        ({"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "councillor",
          "commissioning_practice": "mixed", "what_would_help": "", "region": yorkshire}, None),
        ({"delivers": "no", "delivered_before": "yes", "council_role": "commissioning", "why_stopped": "Lots too big.",
          "barriers": ["none"], "large_contracts": "", "commissioning_practice": "large", "what_would_help": "Grants.",
          "region": str(region("Wales").id)}, None),
    ]]
    sub_args = {"respondent_type": MemberType.COMMUNITY_ORGANISATION, "local_authority": member.local_authority}
    named = evidence.submit_evidence(
        open_call, name="Amara Okonkwo", email="amara@example.org", organisation="Hackney Food Bank",
        topics=["community_role", "scale_fail"], publication=Publication.NAMED, user=others[0],
        text=f"Our food bank reached 2,000 families & the county contract reached none.\nHere is how: {LONG_URL}",
        **sub_args)
    anonymous = evidence.submit_evidence(
        open_call, name="Bryn Davies", email="bryn@example.org", organisation="Cardiff Youth Trust",
        topics=["doing_differently"], publication=Publication.ANONYMOUS,
        text="Cardiff split its youth contract <b>in four</b>.",
        **sub_args)
    private = evidence.submit_evidence(
        open_call, name="Morgan Member", email="member@example.org", organisation="Riverside Community Trust",
        topics=["trends"], publication=Publication.PRIVATE, text="Please do not publish: see the attached report.",
        upload=FileStorage(io.BytesIO(PDF), filename="riverside-report.pdf", content_type="application/pdf"),
        user=member, **sub_args)
    evidence.review(admin, named, status=ReviewStatus.FEATURED, tags=["food", "scale fail"],
                    principle_ids=[closed_drafts[0].principle_id, closed_drafts[4].principle_id],
                    notes="Strong case study.")
    evidence.review(admin, anonymous, status=ReviewStatus.REVIEWED, tags=["youth"],
                    principle_ids=[closed_drafts[0].principle_id], notes="")

    # --- Pledges -----------------------------------------------------------------------------------------
    def pledge(user):
        return councils.submit_pledge(user, user.local_authority, signed_by=SignedBy.LEADER_AND_CHIEF_EXECUTIVE,
                                      signatories="Cllr Jane Smith, Leader; Sam Jones, Chief Executive",
                                      pledged_on=to_london(now).date() - timedelta(days=30),
                                      champions="Cllr Jane Smith\nPat Lee, Head of Procurement",
                                      statement="We will keep it local & say so.")
    councils.review_pledge(admin, pledge(calderdale), PledgeStatus.VERIFIED, "Checked with the leader's office.")
    pledge(kirklees)
    councils.review_pledge(admin, pledge(hackney), PledgeStatus.REJECTED, "No cabinet decision found.")
    messages = _messages(admin, member, now)
    journey_ids = _journey(closed_round, closed_drafts, calderdale, now)
    journey_ids.update(_journey_for_staff(closed_round, closed_drafts, calderdale, now))
    db.session.commit()

    return {
        "w_live": live.id, "w_full": full.id, "w_draft": draft_workshop.id, "w_cancelled": cancelled.id,
        "w_past": past.id, "w_missed": missed.id, "yorkshire": yorkshire,
        "month": to_london(live.starts_at).strftime("%Y-%m"),
        "reg_member": workshop_queries.registration_for(live, member).id,
        "reg_past": workshop_queries.registration_for(past, member).id,
        "r_closed": closed_round.id, "r_open": open_round.id, "r_draft": draft_round.id,
        "d_open": open_drafts[0].id, "d_open_unvoted": open_drafts[4].id, "d_closed": closed_drafts[0].id,
        "s_open": endorsed.id, "s_waiting": theirs.id,
        "v_pending": db.session.scalar(sa.select(Vote.id).where(Vote.user_id == member.id, Vote.comment != "",
                                                                Vote.draft_id == open_drafts[0].id)),
        "c_open": open_call.id, "c_closed": closed_call.id, "c_coming": coming_call.id,
        "survey_ref": survey_refs[0], "e_named": named.id, "e_anon": anonymous.id, "e_private": private.id,
        "e_ref": named.reference,
        "wales": str(region("Wales").id),
        "unsubscribe": unsubscribe_token(member),
        "unsubscribe_live": signed_as_live_server(unsubscribe_token, member),
        **messages, **journey_ids,
    }


def _journey(round_, drafts, calderdale, now) -> dict:
    """The council journey: Calderdale (E08000033, verified pledge) with its councillor as accepted
    cabinet champion, a named senior manager, a conversation and published assessments for last year
    and this (its public page has the progress chart); Leeds (E08000035) with the officer as accepted
    champion and this year's draft, at "starting" on principle 1 (Calderdale is its peer there).
    Rows are written directly: the round they answer is the closed one (adopting it here would change
    the principles pages the other checks read)."""
    from kil_network.auth.models import User
    from kil_network.journey import services as journey_services
    from kil_network.journey.models import (
        Assessment,
        AssessmentAnswer,
        AssessmentStatus,
        Champion,
        ChampionRole,
        CommunityConversation,
    )
    from kil_network.members.models import LocalAuthority

    leeds = db.session.scalar(sa.select(LocalAuthority).where(LocalAuthority.gss_code == "E08000035"))
    officer = db.session.scalar(sa.select(User).where(User.email == "officer@example.org"))
    db.session.add_all([
        Champion(local_authority_id=calderdale.local_authority_id, role=ChampionRole.CABINET, user_id=calderdale.id,
                 invited_at=now, accepted_at=now),
        Champion(local_authority_id=calderdale.local_authority_id, role=ChampionRole.SENIOR_MANAGEMENT,
                 name="Robin Price", job_title="Director of Communities and Neighbourhoods"),
        CommunityConversation(local_authority_id=calderdale.local_authority_id, held_on=now.date() - timedelta(days=40),
                              title="Halifax community assembly",
                              summary=f"Sixty residents & thirty groups. Notes: {LONG_URL}"),
        Champion(local_authority_id=leeds.id, role=ChampionRole.CABINET, user_id=officer.id, invited_at=now,
                 accepted_at=now)])
    published = []
    for year, base in ((now.year - 1, 2), (now.year, 3)):
        published.append(Assessment(
            local_authority_id=calderdale.local_authority_id, round_id=round_.id, year=year,
            status=AssessmentStatus.ACCEPTED, accepted_at=now - timedelta(days=400 if year < now.year else 5),
            published_at=now, review_comments="Well evidenced.",
            answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=min(4, base + d.number % 2),
                                      evidence=f"Calderdale's evidence on principle {d.number}: {LONG_URL}",
                                      action=f"Next step on principle {d.number}.") for d in drafts]))
    draft = Assessment(local_authority_id=leeds.id, round_id=round_.id, year=now.year, created_by_id=officer.id,
                       answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=1 if d.number == 1 else None,
                                                 evidence=f"Leeds evidence {d.number}" if d.number < 3 else "")
                                for d in drafts])
    # The officer's invitation to be Leeds' senior management champion, waiting: the accept page with a
    # valid link (signed for the test app and for the live server).
    invitation = Champion(local_authority_id=leeds.id, role=ChampionRole.SENIOR_MANAGEMENT, user_id=officer.id,
                          invited_at=now)
    db.session.add_all([*published, draft, invitation])
    db.session.flush()
    return {"a_published": published[-1].id, "a_draft": draft.id,
            "invite_token": journey_services.champion_token(invitation),
            "invite_token_live": signed_as_live_server(journey_services.champion_token, invitation)}


def _journey_for_staff(round_, drafts, calderdale, now) -> dict:
    """What staff see of the journey: Kirklees (E08000034) has submitted this year's assessment (the
    review form); Hackney's (E09000012) was accepted 380 days ago, so its re-assessment is overdue, and
    its reminder went to the campaign inbox; Leeds asked to be introduced to Calderdale (waiting) and
    Hackney to Calderdale (made); Calderdale has a former champion whose name was removed."""
    from kil_network.journey.models import (
        Assessment,
        AssessmentAnswer,
        AssessmentReminder,
        AssessmentStatus,
        Champion,
        ChampionRole,
        PeerIntroduction,
    )
    from kil_network.members.models import LocalAuthority

    kirklees, hackney, leeds = (
        db.session.scalar(sa.select(LocalAuthority.id).where(LocalAuthority.gss_code == code))
        for code in ("E08000034", "E09000012", "E08000035"))
    submitted = Assessment(
        local_authority_id=kirklees, round_id=round_.id, year=now.year, status=AssessmentStatus.SUBMITTED,
        submitted_at=now, answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=1 + d.number % 4,
                                                    evidence=f"Kirklees & partners on principle {d.number}: {LONG_URL}",
                                                    action="Commission the next youth contract locally.")
                                   for d in drafts])
    overdue = Assessment(local_authority_id=hackney, round_id=round_.id, year=now.year - 1,
                         status=AssessmentStatus.ACCEPTED, accepted_at=now - timedelta(days=380),
                         answers=[AssessmentAnswer(draft_id=d.id, number=d.number, level=2, evidence="Hackney.",
                                                   action="More.") for d in drafts])
    db.session.add_all([submitted, overdue])
    db.session.flush()
    db.session.add_all([
        AssessmentReminder(assessment_id=overdue.id, sent_at=now - timedelta(days=15), recipients=0),
        PeerIntroduction(from_local_authority_id=leeds, to_local_authority_id=calderdale.local_authority_id,
                         principle_number=1, message="How did you set up your community assembly?"),
        PeerIntroduction(from_local_authority_id=hackney, to_local_authority_id=calderdale.local_authority_id,
                         principle_number=3, message="Local spend.", handled_at=now - timedelta(days=2)),
        Champion(local_authority_id=calderdale.local_authority_id, role=ChampionRole.CABINET,
                 ended_at=now - timedelta(days=90), erased_at=now - timedelta(days=30))])
    return {"a_submitted": submitted.id}


def _messages(admin, member, now) -> dict:
    """Staff messages: a draft (with Markdown and a filtered audience), a scheduled one, and a campaign
    update sent to the member (one copy delivered, one still queued, so its progress bar is part way)."""
    from kil_network.core.models import OutboxEmail
    from kil_network.messages import services as messages
    from kil_network.messages.models import Message, MessageKind, MessageStatus

    body = "## What is new\n\nThe **principles** are out: [read them](https://example.org/p).\n\n- one\n- two"
    draft = messages.create_draft(admin, {"subject": "Round 2 is open", "body": body, "kind": "campaign",
                                          "audience": {"member_types": ["councillor"]}})
    scheduled = messages.create_draft(admin, {"subject": "Workshop reminder", "body": body, "kind": "service",
                                              "audience": {}})
    scheduled.status, scheduled.scheduled_at = MessageStatus.SCHEDULED, now + timedelta(days=2)
    sent = Message(subject="Stories of practice", body=body, kind=MessageKind.CAMPAIGN, status=MessageStatus.SENT,
                   sent_at=now - timedelta(hours=1), recipient_count=2, excluded_count=3, created_by_id=admin.id)
    db.session.add(sent)
    db.session.flush()
    for status, address in ((OutboxEmail.SENT, member.email), (OutboxEmail.PENDING, "later@example.org")):
        db.session.add(OutboxEmail(to_address=address, subject=sent.subject, body_text=body, kind="campaign",
                                   user_id=member.id if address == member.email else None, status=status,
                                   next_attempt_at=now + timedelta(days=1), message_id=sent.id))
    return {"m_draft": draft.id, "m_scheduled": scheduled.id, "m_sent": sent.id}


def adopt_open_round(site) -> None:
    """Close the open round and adopt its drafts: /principles/ then shows the adopted six."""
    from kil_network.auth.models import User
    from kil_network.principles import services as principles
    from kil_network.principles.models import Round

    admin = db.session.scalar(sa.select(User).where(User.email == "admin@example.org"))
    round_ = db.session.get(Round, site["r_open"])
    principles.close_round(admin, round_)
    principles.adopt_round(admin, round_)
    db.session.commit()


def close_written_evidence(site) -> None:
    """The open call's written-evidence deadline passes (while someone is writing)."""
    from kil_network.evidence.models import Call

    call = db.session.get(Call, site["c_open"])
    call.written_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
