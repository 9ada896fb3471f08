"""The survey summary staff may publish (/staff/evidence/calls/<id>/survey-summary.csv): counts
through the disclosure rules, attacked with everything it publishes (tests/support/disclosure.py)."""
import csv
import io
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kil_network.core.disclosure import Status
from kil_network.core.timeutil import utcnow
from kil_network.evidence.models import Call, SurveyResponse
from kil_network.extensions import db
from kil_network.members.models import Region
from tests.support.disclosure import Published, attack


@pytest.fixture
def call_with_responses(app):
    now = utcnow()
    call = Call(title="Survey", introduction="", asks="", opens_at=now - timedelta(days=2),
                survey_closes_at=now + timedelta(days=5), written_closes_at=None)
    db.session.add(call)
    db.session.flush()
    regions = db.session.scalars(sa.select(Region.id).order_by(Region.name)).all()
    rng = random.Random(12)
    rows = []
    for i in range(60):
        answers = {"delivers": "yes", "contract_size": rng.choice(["under_100k", "100k_500k", "over_1m"]),
                   "barriers": rng.sample(["size", "timescales", "insurance", "price"], rng.randint(1, 2)),
                   "region": str(regions[i % 3])}
        rtype = "delivers_contracts"
        if i < 5:  # five councillors who all said the same: hidden, and not by subtraction
            answers = {"delivers": "no", "delivered_before": "no", "would_like": "no", "council_role": "councillor",
                       "region": str(regions[4])}
            rtype = "councillor"
        rows.append(SurveyResponse(call_id=call.id, status="submitted", answers=answers, respondent_type=rtype,
                                   region_id=int(answers["region"]), submitted_at=now, reference=f"S-T{i:04d}"))
    db.session.add_all(rows)
    db.session.commit()
    return call


def tables_of(body: str) -> dict:
    """{question: {dimension: Published}} from the summary CSV."""
    out: dict = {}
    for row in list(csv.reader(io.StringIO(body)))[1:]:
        question, dim, group, respondents, answer, count, _pct = row
        view = out.setdefault(question, {})
        if dim == "all":
            view.setdefault("_overall", []).append(int(count) if respondents.isdigit() else None)
            continue
        table = view.setdefault(dim, {"shown": {}, "hidden": {}})
        if respondents.isdigit():
            table["shown"].setdefault(group, []).append(int(count))
        else:
            table["hidden"][group] = Status.FEWER if respondents.startswith("fewer") else Status.HIDDEN
    views = {}
    for question, view in out.items():
        overall = view.pop("_overall")
        overall = None if None in overall else tuple(overall)
        views[question] = {dim: Published(overall, {k: tuple(v) for k, v in t["shown"].items()}, t["hidden"])
                           for dim, t in view.items()}
    return views


def test_the_summary_is_staff_only(client, as_role, call_with_responses):
    url = f"/staff/evidence/calls/{call_with_responses.id}/survey-summary.csv"
    assert client.get(url).status_code in (302, 303)
    as_role("member")
    assert client.get(url).status_code == 403


def test_the_published_summary_gives_nothing_away(client, as_role, call_with_responses):
    as_role("staff")
    response = client.get(f"/staff/evidence/calls/{call_with_responses.id}/survey-summary.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    views = tables_of(response.get_data(as_text=True))
    council = next(v for q, v in views.items() if q.startswith("Do you work in commissioning"))
    assert "Councillor" in council["respondent type"].hidden  # 5 of 5 said "councillor"
    assert views and all(attack(view) == [] for view in views.values())
    barriers = [q for q in views if q.startswith("Which barriers")]
    assert len(barriers) == 7  # one table per option
