"""The council journey in a member's data download and account deletion (journey/personal_data.py):
champion roles, declared interest and introduction requests are exported; deleting the account
leaves each role as a "former champion" and the council's records without the member."""
import json

import pytest
import sqlalchemy as sa

from kil_network.core.personal_data import registry
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.journey import personal_data
from kil_network.journey.models import Champion, ChampionRole, CouncilInterest, PeerIntroduction
from kil_network.journey.services import Stage, council_facts
from kil_network.members.services import delete_account, export_member
from tests.support import journey_staff as journey

pytestmark = pytest.mark.both_databases

CALDERDALE, LEEDS = "E08000033", "E08000035"


@pytest.fixture
def people(app, make_user):
    """Casey: Calderdale's cabinet champion (accepted), formerly its senior management champion
    (ended), who declared its interest and asked to be introduced to Leeds. Someone else is the
    other champion. Calderdale is endorsed, so it is at the champions stage."""
    staff = make_user(email="organiser@example.org", role="staff")
    casey = make_user(email="casey@example.org", name="Cllr Casey Calder", member_type="councillor",
                      gss_code=CALDERDALE, job_title="Cabinet member for finance")
    other = make_user(email="other@example.org", name="Someone Else Entirely", member_type="councillor",
                      gss_code=CALDERDALE)
    calderdale, leeds = journey.council(CALDERDALE), journey.council(LEEDS)
    journey.verified_pledge(calderdale, staff)
    current = journey.member_champion(calderdale, casey, ChampionRole.CABINET)
    old = journey.member_champion(calderdale, casey, ChampionRole.SENIOR_MANAGEMENT)
    old.ended_at = utcnow()
    journey.member_champion(calderdale, other, ChampionRole.SENIOR_MANAGEMENT)
    journey.interest(calderdale, casey, note="Cabinet discussed it in May.")
    journey.interest(calderdale, other, note="Other's note")
    journey.introduction(calderdale, leeds, casey, number=3, message="How did Leeds do it?")
    db.session.commit()
    return {"casey": casey, "other": other, "current": current.id, "old": old.id}


def test_the_export_holds_the_members_roles_interest_and_introductions(people):
    """Each section lists the member's own rows, with councils and dates; nothing of anyone else."""
    data = export_member(people["casey"])
    roles = data["council_champions"]
    assert [(r["council"], r["gss_code"], r["role"]) for r in roles] == [
        ("Calderdale", CALDERDALE, "Cabinet champion"), ("Calderdale", CALDERDALE, "Senior management champion")]
    assert roles[0]["accepted_at"] and roles[0]["ended_at"] is None and roles[1]["ended_at"]
    assert data["council_interests"] == [{"council": "Calderdale", "gss_code": CALDERDALE,
                                          "note": "Cabinet discussed it in May.",
                                          "at": data["council_interests"][0]["at"]}]
    [intro] = data["peer_introductions"]
    assert (intro["from_council"], intro["to_council"], intro["principle"], intro["message"],
            intro["introduced_at"]) == ("Calderdale", "Leeds", 3, "How did Leeds do it?", None)
    text = json.dumps(data)
    assert "Someone Else Entirely" not in text and "Other's note" not in text


def test_deleting_the_account_leaves_former_champions(people):
    """The roles stay as former champions (no user, no name, ended, erased); the interest and the
    introduction stay without the member; the other member's rows are untouched."""
    calderdale = journey.council(CALDERDALE)
    assert council_facts(calderdale).stage == Stage.CHAMPIONS
    delete_account(people["casey"])
    db.session.commit()
    db.session.expire_all()
    for champion_id in (people["current"], people["old"]):
        champion = db.session.get(Champion, champion_id)
        assert (champion.user_id, champion.name, champion.job_title) == (None, "", "")
        assert champion.erased_at is not None and champion.ended_at is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Champion)
                             .where(Champion.user_id == people["other"].id)) == 1
    interests = dict(db.session.execute(sa.select(CouncilInterest.note, CouncilInterest.user_id)).tuples().all())
    assert interests == {"Cabinet discussed it in May.": None, "Other's note": people["other"].id}
    assert db.session.scalar(sa.select(PeerIntroduction.requested_by_id)) is None
    # The council keeps the stages that do not depend on the member, and loses its cabinet champion.
    facts = council_facts(calderdale)
    assert facts.champions[ChampionRole.CABINET] is None and facts.stage == Stage.ENDORSED
    assert export_member(people["casey"])["council_champions"] == []


def test_a_former_champion_shows_as_such_to_staff(people, client, as_role):
    """On the council's staff page the erased role reads as a former champion, with no name."""
    delete_account(people["casey"])
    db.session.commit()
    as_role("staff")
    body = client.get(f"/staff/councils/{CALDERDALE}").get_data(as_text=True)
    assert "Cllr Casey Calder" not in body and body.count("Former champion (name removed)") == 2
    assert "Someone Else Entirely" in body


def test_every_journey_exporter_and_the_eraser_are_registered(app):
    """The factory registers the three sections and the eraser (as the architecture test requires of every area)."""
    sections = dict(registry(app).exporters)
    assert sections["council_champions"] is personal_data.export_champion_roles
    assert sections["council_interests"] is personal_data.export_interests
    assert sections["peer_introductions"] is personal_data.export_introductions
    assert personal_data.erase_journey in registry(app).erasers
