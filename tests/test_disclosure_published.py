"""Disclosure control end to end: a closed round's public CSV, results page and principle history,
read as an anonymous visitor would, then attacked with everything they publish
(tests/support/disclosure.py). The votes are the issue's findings: a region of exactly five who
all supported, a member type where all but one did, and a single small group."""
import csv
import io
import re

import pytest
import sqlalchemy as sa

from kil_network.core.disclosure import Status
from kil_network.extensions import db
from kil_network.members.models import Region
from kil_network.principles import services
from kil_network.principles.models import Vote
from kil_network.principles.tallies import rebuild_tallies
from tests.support.disclosure import Published, attack


@pytest.fixture
def closed_round(make_user, client):
    staff = make_user(email="organiser@example.org", role="staff")
    round_ = services.create_round(staff, name="Round 2")
    services.open_round_for_votes(staff, round_)
    drafts = services.drafts_of(round_)
    regions = {name: id_ for name, id_ in db.session.execute(sa.select(Region.name, Region.id))}
    nw, ne, sw = regions["North West"], regions["North East"], regions["South West"]
    people = []
    # Principle 1: North West 5 of 5 support; North East mixed; South West 3 (under 5).
    people += [(drafts[0], "councillor", nw, "support")] * 5
    mixed = ["support", "amend", "oppose", "amend", "support", "oppose"]
    people += [(drafts[0], "council_officer", ne, s) for s in mixed]
    people += [(drafts[0], "community_organisation", sw, s) for s in ["support", "amend", "oppose"]]
    # Principle 3: council officers all but one support; others mixed.
    people += [(drafts[2], "council_officer", ne, "support")] * 6 + [(drafts[2], "council_officer", ne, "oppose")]
    people += [(drafts[2], "community_organisation", sw, s) for s in ["support", "amend", "oppose", "amend"] * 2]
    people += [(drafts[2], "councillor", None, "amend")] * 2
    db.session.add_all(Vote(draft_id=d.id, stance=s, member_type=t, region_id=r) for d, t, r, s in people)
    db.session.flush()
    rebuild_tallies([d.id for d in drafts])
    services.close_round(staff, round_)
    db.session.commit()
    return round_


def published_tables(body: str) -> dict:
    """{(principle, dimension): Published} from the CSV's results section."""
    rows = [r for r in csv.reader(io.StringIO(body)) if r[:1] == ["results"]]
    overall = {}
    for r in rows:
        if r[3] == "all":
            overall[r[1]] = tuple(int(n) for n in r[6:9]) if r[5].isdigit() else None
    tables: dict = {}
    for r in rows:
        if r[3] == "all":
            continue
        table = tables.setdefault((r[1], r[3]), Published(overall[r[1]], {}, {}))
        if r[5].isdigit():
            table.shown[r[4]] = tuple(int(n) for n in r[6:9])
        else:
            table.hidden[r[4]] = Status.FEWER if r[5] == "fewer than 5" else Status.HIDDEN
            assert r[5] in ("fewer than 5", "hidden to protect privacy") and r[6:] == [""] * 6
    return tables


def test_the_public_csv_gives_nothing_away(client, closed_round):
    response = client.get(f"/principles/rounds/{closed_round.id}/results.csv")
    assert response.status_code == 200
    tables = published_tables(response.get_data(as_text=True))
    region = tables[("1", "region")]
    assert "North West" in region.hidden  # five of five supported: hidden, not "5, 5, 0, 0"
    assert len(region.hidden) >= 2  # and not left to subtraction
    officers = tables[("3", "type")]
    assert any("officer" in name.lower() for name in officers.hidden)
    by_dimension = {}
    for (principle, dim), table in tables.items():
        by_dimension.setdefault(principle, {})[dim] = table
    for principle, view in by_dimension.items():
        assert attack(view) == [], principle


def test_the_results_page_shows_what_the_csv_shows(client, closed_round):
    page = client.get(f"/principles/rounds/{closed_round.id}/results").get_data(as_text=True)
    assert "Why some figures are hidden" in page
    north_west = re.search(r"<th scope=\"row\">North West</th>\s*<td[^>]*>([^<]*)</td>", page)
    assert north_west and north_west.group(1) == "Hidden to protect privacy"
    assert "100% (5)" not in page


def test_the_history_page_uses_the_same_rules(client, closed_round):
    page = client.get("/principles/3/history").get_data(as_text=True)
    assert "Why some figures are hidden" in page
    assert "hidden to protect privacy" in page.lower()
