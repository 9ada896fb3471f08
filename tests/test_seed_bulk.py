"""flask seed-bulk at a tiny scale: the counts it promises, tallies equal to the votes, no second load."""
from collections import Counter

import sqlalchemy as sa

from kil_network.auth.models import User
from kil_network.auth.services import authenticate
from kil_network.devdata.bulk import BULK_PASSWORD, BULK_STAFF_EMAIL, CHECKIN_TITLE, sizes
from kil_network.evidence.models import Submission, SurveyResponse
from kil_network.extensions import db
from kil_network.principles.models import Draft, Endorsement, Round, RoundState, Suggestion, Vote, VoteTally
from kil_network.workshops.models import Registration, RegistrationState, Workshop
from tests.support.db import count

SCALE = 0.001


def test_seed_bulk_loads_the_promised_counts(runner):
    """At scale 0.001 every table gets its share, and the staff login works."""
    result = runner.invoke(args=["seed-bulk", "--scale", str(SCALE)])
    assert result.exit_code == 0, result.output
    want = sizes(SCALE)
    assert count(User, User.email.like("bulk_%@example.org"), User.email != BULK_STAFF_EMAIL) == want["members"]
    assert count(Workshop) == want["workshops"]
    assert count(Registration) == want["registrations"]
    assert count(Vote) == want["votes"]
    assert count(Suggestion) == want["suggestions"]
    assert count(SurveyResponse) == want["survey_responses"]
    assert count(Submission) == want["submissions"]
    assert count(Round) == 4 and count(Draft) == 24
    assert count(Round, Round.state == RoundState.OPEN) == 1
    types = {t.value for t in db.session.scalars(sa.select(User.member_type).distinct())}
    assert len(types) >= 5
    endorsed = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Suggestion.endorsement_count), 0)))
    assert endorsed == count(Endorsement)
    checkin = db.session.scalar(sa.select(Workshop).where(Workshop.title == CHECKIN_TITLE))
    confirmed = count(Registration, Registration.workshop_id == checkin.id,
                      Registration.state == RegistrationState.CONFIRMED)
    assert 0 < confirmed <= checkin.capacity
    assert count(Registration, Registration.checked_in_at.is_not(None)) > 0
    assert authenticate(BULK_STAFF_EMAIL, BULK_PASSWORD).is_staff
    assert authenticate("bulk0@example.org", BULK_PASSWORD) is not None


def test_seed_bulk_tallies_equal_the_votes(runner):
    """Every tally cell equals a recount of the votes, in every dimension."""
    assert runner.invoke(args=["seed-bulk", "--scale", str(SCALE)]).exit_code == 0
    expected = Counter()
    for draft_id, stance, member_type, region_id, workshop_id in db.session.execute(
            sa.select(Vote.draft_id, Vote.stance, Vote.member_type, Vote.region_id, Vote.workshop_id)):
        for dimension, key in (("all", ""), ("type", member_type.value), ("region", region_id),
                               ("workshop", workshop_id)):
            if key is not None:
                expected[(draft_id, dimension, str(key), stance.value)] += 1
    actual = Counter()
    for tally in db.session.scalars(sa.select(VoteTally)):
        for stance in ("support", "amend", "oppose"):
            if getattr(tally, stance):
                actual[(tally.draft_id, tally.dimension, tally.key, stance)] = getattr(tally, stance)
    assert expected and actual == expected
    assert sum(n for (_, dimension, _, _), n in actual.items() if dimension == "all") == count(Vote)
    assert any(dimension == "workshop" for (_, dimension, _, _) in actual)


def test_seed_bulk_refuses_a_second_load(runner):
    """Running it again fails clearly and adds nothing."""
    assert runner.invoke(args=["seed-bulk", "--scale", str(SCALE)]).exit_code == 0
    votes = count(Vote)
    result = runner.invoke(args=["seed-bulk", "--scale", str(SCALE)])
    assert result.exit_code != 0
    assert "already loaded" in result.output
    assert count(Vote) == votes


def test_seed_bulk_rejects_a_zero_scale(runner):
    """A scale of 0 is an error, not an empty load."""
    result = runner.invoke(args=["seed-bulk", "--scale", "0"])
    assert result.exit_code != 0
    assert "above 0" in result.output
    assert count(User) == 0
