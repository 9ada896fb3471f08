"""Fragments rendered once per distinct content (core.templating.FragmentCache): never stale, because
the key is every value the fragment shows; the results page's breakdown tables use it."""
import html
import re
from datetime import timedelta

import pytest

from kil_network.core.disclosure import protect
from kil_network.core.templating import FragmentCache, cells_key
from kil_network.core.timeutil import utcnow
from kil_network.extensions import db
from kil_network.principles import services
from kil_network.principles.models import Stance


def test_a_block_renders_once_per_key_and_the_oldest_go():
    cache = FragmentCache(size=2)
    rendered = []

    def block(text):
        def caller():
            rendered.append(text)
            return text
        return caller

    assert cache("t", 1, caller=block("one")) == "one"
    assert cache("t", 1, caller=block("not rendered")) == "one"  # same key: the first rendering
    assert cache("t", 2, caller=block("two")) == "two"
    assert cache("t", 3, caller=block("three")) == "three"  # over size: key 1, the oldest, goes
    assert cache("t", 1, caller=block("one again")) == "one again"
    assert rendered == ["one", "two", "three", "one again"]
    cache.clear()
    assert cache("t", 3, caller=block("after clear")) == "after clear"


def test_cells_key_changes_with_any_count_label_or_status():
    categories = ("support", "amend", "oppose")

    def key(counts, label="Group A", overall=(6, 3, 3)):
        table = protect(overall, {"g": {"a": counts}}, categories)
        return cells_key(table.dimensions["g"], {"a": label})

    assert key((4, 2, 2), overall=(8, 4, 4)) == key((4, 2, 2), overall=(8, 4, 4))
    assert key((4, 2, 2), overall=(8, 4, 4)) != key((4, 2, 3), overall=(8, 4, 4))  # a count
    assert key((4, 2, 2), overall=(8, 4, 4)) != key((4, 2, 2), "Group B", overall=(8, 4, 4))  # a label
    assert key((1, 1, 1), overall=(8, 4, 4)) != key((2, 1, 1), overall=(8, 4, 4))  # hidden: fewer than 5


@pytest.fixture
def open_round(make_user):
    organiser = make_user(email="organiser@example.org", name="Olu Organiser", role="staff")
    round_ = services.create_round(organiser, name="Round 1", closes_at=utcnow() + timedelta(days=30))
    services.open_round_for_votes(organiser, round_)
    db.session.commit()
    return round_


def type_row(response) -> str:
    """The 'By member type' row of the first principle, as visible text."""
    page = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())
    return re.search(r"By member type Group .*? Community organisation ([^A-Z]*)", page).group(1).strip()


def main(response) -> str:
    """The page's main content (the layout's CSRF token is signed with the time, so it can differ)."""
    return re.search(r"<main.*</main>", response.get_data(as_text=True), re.S).group(0)


def test_results_breakdown_follows_every_vote(app, client, as_role, open_round, make_people):
    """Staff watch an open round's results: each new vote shows at once, and the cached page is the
    page an empty cache renders, byte for byte."""
    draft = services.drafts_of(open_round)[0]
    people = make_people(9)
    for person, stance in zip(people, ["support"] * 4 + ["amend"] * 2 + ["oppose"] * 2, strict=False):
        services.cast_vote(person, draft, Stance(stance), "")
    db.session.commit()
    as_role("staff")
    url = f"/principles/rounds/{open_round.id}/results"
    first = client.get(url)
    assert type_row(first).startswith("8 50% (4) 25% (2) 25% (2)")
    assert main(client.get(url)) == main(first)

    services.cast_vote(people[8], draft, Stance.SUPPORT, "")
    db.session.commit()
    after = client.get(url)
    assert type_row(after).startswith("9 56% (5) 22% (2) 22% (2)")
    app.extensions["fragment_cache"].clear()
    assert main(client.get(url)) == main(after)
