"""Every council's journey at a glance: the staff list and its CSV, a council's whole history for
staff, and the public overview's stage counts per region.

The stage and re-assessment rules are journey.services' (`facts_for`); this module only lists,
filters and counts what those facts say, in a fixed number of queries whatever the number of
councils (`facts_for` answers for all of them at once).
"""
import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload, selectinload

from kil_network.auth.models import User
from kil_network.core.audit import record
from kil_network.core.csvutil import csv_safe
from kil_network.councils.models import Pledge, PledgeStatus
from kil_network.extensions import db
from kil_network.journey.models import (
    Assessment,
    AssessmentAnswer,
    AssessmentReminder,
    AssessmentStatus,
    Champion,
    CommunityConversation,
    CouncilEndorsement,
    CouncilInterest,
    PeerIntroduction,
)
from kil_network.journey.services import LEVELS, STAGES, Facts, Stage, facts_for
from kil_network.members.models import LocalAuthority, Region

# The colour of each assessment status's tag (a .tag--* class).
STATUS_COLOURS = {"draft": "draft", "submitted": "pending", "returned": "waitlisted", "accepted": "confirmed"}
# The re-assessment filter: its value and label on the staff list.
DUE_CHOICES = [("due", "Due or overdue"), ("overdue", "Overdue"), ("not_due", "Not due")]


@dataclass(frozen=True)
class CouncilRow:
    """One council on the staff list: the council and its journey facts, with what the list shows."""

    council: LocalAuthority
    facts: Facts

    @property
    def stage(self) -> Stage:
        """Its current stage (derived by journey.services)."""
        return self.facts.stage

    @property
    def tier_label(self) -> str:
        """Its tier as the list shows it: "Metropolitan district", "London borough"."""
        return self.council.tier.capitalize()

    @property
    def pledged_on(self) -> date | None:
        """The date of its verified pledge."""
        return self.facts.pledge.pledged_on if self.facts.pledge is not None else None

    @property
    def champions_count(self) -> int:
        """How many of its two champions are appointed and counting."""
        return sum(1 for champion in self.facts.champions.values() if champion is not None)

    @property
    def latest_assessment(self) -> Assessment | None:
        """Its newest assessment: one in progress, else the latest accepted."""
        in_progress, accepted = self.facts.in_progress, self.facts.latest_accepted
        if in_progress is not None and (accepted is None or in_progress.year >= accepted.year):
            return in_progress
        return accepted

    @property
    def due_state(self) -> str:
        """"overdue", "due" (the reminder window is open) or "" (not due)."""
        if self.facts.overdue:
            return "overdue"
        return "due" if self.facts.due else ""

    @property
    def due_text(self) -> str:
        """What the list says about its re-assessment."""
        due_on = self.facts.reassessment_due_on
        if not self.due_state or due_on is None:
            return ""
        when = due_on.strftime("%-d %B %Y")
        return f"Overdue since {when}" if self.due_state == "overdue" else f"Due by {when}"


def councils_with_facts() -> list[CouncilRow]:
    """Every council (with its region) and its journey facts, by name, in a fixed number of queries."""
    councils = db.session.scalars(sa.select(LocalAuthority).options(joinedload(LocalAuthority.region))
                                  .order_by(LocalAuthority.name)).all()
    facts = facts_for([council.id for council in councils])
    return [CouncilRow(council, facts[council.id]) for council in councils]


def regions() -> list[Region]:
    """Every region, by name."""
    return list(db.session.scalars(sa.select(Region).order_by(Region.name)))


def _matches(row: CouncilRow, filters: dict) -> bool:
    """Does the council pass the staff list's filters and search?"""
    council = row.council
    if filters.get("stage") and row.stage.value != filters["stage"]:
        return False
    if filters.get("region") and str(council.region_id) != filters["region"]:
        return False
    if filters.get("tier") and council.tier != filters["tier"]:
        return False
    due = filters.get("due")
    if (due == "due" and not row.due_state) or (due == "overdue" and row.due_state != "overdue") \
            or (due == "not_due" and row.due_state):
        return False
    query = (filters.get("q") or "").casefold()
    return not query or any(query in text.casefold() for text in (council.name, council.display_name,
                                                                  council.gss_code))


def staff_list(filters: dict) -> dict:
    """The staff list: the councils matching the filters, how many are at each stage among them,
    and (whatever the filters) the councils whose re-assessment is due, overdue first. Also the
    regions and tiers the filters offer (from the same councils: no more queries), and the
    filters as applied (a tier that is none of them is not applied, like an old bookmark)."""
    rows = councils_with_facts()
    tiers = sorted({row.council.tier for row in rows})
    filters = {**filters, "tier": filters.get("tier") if filters.get("tier") in tiers else ""}
    shown = [row for row in rows if _matches(row, filters)]
    at_stage = Counter(row.stage for row in shown)
    due = sorted((row for row in rows if row.due_state),
                 key=lambda row: (row.due_state != "overdue", row.facts.reassessment_due_on or date.max,
                                  row.council.name))
    return {"rows": shown, "total": len(rows), "filters": filters, "tiers": tiers,
            "regions": sorted({row.council.region for row in rows}, key=lambda region: region.name),
            "stage_counts": [(stage, at_stage.get(stage, 0)) for stage in [Stage.NOT_STARTED, *STAGES]],
            "due": due, "overdue_count": sum(1 for row in due if row.due_state == "overdue")}


CSV_COLUMNS = ["gss_code", "council", "region", "tier", "stage", "stage_number", "pledged_on", "champions",
               "latest_assessment_year", "latest_assessment_status", "reassessment_due_on", "reassessment"]


def staff_csv(filters: dict, actor: User) -> str:
    """The filtered staff list as CSV text (formula-safe cells, a BOM so spreadsheets read it as
    UTF-8: Ynys Môn); the export is audited."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    rows = staff_list(filters)["rows"]
    for row in rows:
        latest = row.latest_assessment
        due_on = row.facts.reassessment_due_on
        writer.writerow([csv_safe(value) for value in [
            row.council.gss_code, row.council.display_name, row.council.region.name, row.council.tier,
            row.stage.label, row.stage.number, row.pledged_on.isoformat() if row.pledged_on else "",
            row.champions_count, latest.year if latest else "", latest.status.label if latest else "",
            due_on.isoformat() if due_on else "", row.due_state,
        ]])
    record(actor, "journey.export", None, f"Exported {len(rows)} councils' journeys as CSV")
    return out.getvalue()


def stage_counts_by_region() -> list[dict]:
    """For the public overview: per region (by name), how many councils are at each stage (every
    stage listed, NOT_STARTED first) and how many councils it has."""
    councils = db.session.execute(sa.select(LocalAuthority.id, LocalAuthority.region_id)).tuples().all()
    facts = facts_for([council_id for council_id, _ in councils])
    counts: dict[int, Counter] = {}
    for council_id, region_id in councils:
        if council_id in facts:
            counts.setdefault(region_id, Counter())[facts[council_id].stage] += 1
    out = []
    for region in regions():
        here = counts.get(region.id, Counter())
        out.append({"region": region, "counts": {stage: here.get(stage, 0) for stage in [Stage.NOT_STARTED, *STAGES]},
                    "total": sum(here.values())})
    return out


# --- One council's whole history, for staff -------------------------------------------------------

def council_history(council: LocalAuthority) -> dict:
    """Everything recorded on a council's journey, newest first where it is a history: its pledges
    (any status) with their endorsement, interest, champions current and former, conversations,
    assessments with their answers, the reminders sent and the introductions asked for."""
    facts = facts_for([council.id])[council.id]
    pledged = db.session.execute(
        sa.select(Pledge, CouncilEndorsement).options(joinedload(Pledge.submitted_by))
        .outerjoin(CouncilEndorsement, CouncilEndorsement.pledge_id == Pledge.id)
        .where(Pledge.local_authority_id == council.id)
        .order_by(Pledge.created_at.desc(), Pledge.id.desc())).tuples().all()
    interests = db.session.execute(
        sa.select(CouncilInterest, User).outerjoin(User, User.id == CouncilInterest.user_id)
        .where(CouncilInterest.local_authority_id == council.id).order_by(CouncilInterest.created_at)).all()
    champions = db.session.scalars(sa.select(Champion).options(joinedload(Champion.user))
                                   .where(Champion.local_authority_id == council.id)
                                   .order_by(Champion.created_at.desc(), Champion.id.desc())).all()
    conversations = db.session.scalars(
        sa.select(CommunityConversation).options(joinedload(CommunityConversation.workshop))
        .where(CommunityConversation.local_authority_id == council.id)
        .order_by(CommunityConversation.held_on.desc(), CommunityConversation.id.desc())).all()
    with_reminders = db.session.execute(
        sa.select(Assessment, AssessmentReminder)
        .outerjoin(AssessmentReminder, AssessmentReminder.assessment_id == Assessment.id)
        .options(selectinload(Assessment.answers).joinedload(AssessmentAnswer.draft), joinedload(Assessment.round))
        .where(Assessment.local_authority_id == council.id).order_by(Assessment.year.desc())).tuples().all()
    assessments = [assessment for assessment, _ in with_reminders]
    reminders = sorted(((reminder, assessment.year) for assessment, reminder in with_reminders if reminder),
                       key=lambda pair: pair[0].sent_at, reverse=True)
    introductions = _introductions(sa.or_(PeerIntroduction.from_local_authority_id == council.id,
                                          PeerIntroduction.to_local_authority_id == council.id))
    current = {champion.id for champion in facts.champions.values() if champion is not None}
    return {"facts": facts, "stage_states": [(stage, stage in facts.reached) for stage in STAGES],
            "due_text": CouncilRow(council, facts).due_text, "pledges": [pledge for pledge, _ in pledged],
            "endorsements": {pledge.id: endorsement for pledge, endorsement in pledged if endorsement},
            # The pledge whose document GET /councils/<gss>/endorsement gives staff: the live one's.
            "downloadable_pledge_id": next((pledge.id for pledge, endorsement in pledged
                                            if pledge.status != PledgeStatus.REJECTED and endorsement
                                            and endorsement.file_key), None),
            "interests": interests,
            "champions": [(champion, champion_state(champion, current)) for champion in champions],
            # A named person (not a member) whose name is still on the record: staff remove it on request.
            "removable": {c.id for c in champions if c.user_id is None and c.erased_at is None and c.name},
            "conversations": conversations, "assessments": assessments,
            "reviewable": {a.id for a in assessments if a.status == AssessmentStatus.SUBMITTED},
            "status_colours": STATUS_COLOURS, "levels": LEVELS, "reminders": reminders,
            "introductions": introductions}


def champion_state(champion: Champion, counting: set[int]) -> str:
    """How the staff page describes a champion: counting, invited (not yet accepted), ended, removed."""
    if champion.erased_at is not None:
        return "Former champion (name removed)"
    if champion.ended_at is not None:
        return "Former champion"
    if champion.id in counting:
        return "Current"
    return "Invited, not yet accepted" if champion.user_id is not None and champion.accepted_at is None \
        else "Not counting"


def _introductions(where) -> Sequence[sa.Row[tuple[PeerIntroduction, LocalAuthority, LocalAuthority, User]]]:
    """Introduction requests (with both councils and who asked), unhandled first, newest first."""
    source = aliased(LocalAuthority)
    target = aliased(LocalAuthority)
    return db.session.execute(
        sa.select(PeerIntroduction, source, target, User)
        .join(source, source.id == PeerIntroduction.from_local_authority_id)
        .join(target, target.id == PeerIntroduction.to_local_authority_id)
        .outerjoin(User, User.id == PeerIntroduction.requested_by_id)
        .where(where)
        .order_by(PeerIntroduction.handled_at.is_not(None), PeerIntroduction.created_at.desc())).all()


def waiting_introductions() -> Sequence[sa.Row[tuple[PeerIntroduction, LocalAuthority, LocalAuthority, User]]]:
    """Every introduction request staff have not handled yet (the staff list shows them)."""
    return _introductions(PeerIntroduction.handled_at.is_(None))
