"""Disclosure control (kil_network.core.disclosure): the rules on worked examples, and an
attacker (tests/support/disclosure.py) that solves everything published exactly, played by
Hypothesis against generated vote sets: it must never pin down a hidden cell."""
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kil_network.core.disclosure import REST, THRESHOLD, Status, one_cell, passes, protect
from tests.support.disclosure import Published, attack, disclosed, published_view

STANCES = ("support", "amend", "oppose")


def table_of(votes):
    """votes: [(type, region or None, workshop or None, stance index)] -> the protected table."""
    overall = [0, 0, 0]
    dims: dict[str, dict] = {"type": {}, "region": {}, "workshop": {}}
    for mtype, region, workshop, stance in votes:
        overall[stance] += 1
        for name, key in (("type", mtype), ("region", region), ("workshop", workshop)):
            if key is not None:
                dims[name].setdefault(key, [0, 0, 0])[stance] += 1
    return protect(overall, dims, STANCES)


def test_threshold_and_dominance_on_single_cells():
    assert passes((2, 1, 1)) is Status.FEWER
    assert passes((5, 0, 0)) is Status.HIDDEN  # all five the same: each one's vote is known
    assert passes((4, 1, 0)) is Status.HIDDEN  # all but one: the one knows the other four
    assert passes((3, 2, 0)) is Status.SHOWN
    assert passes((7,)) is Status.SHOWN  # one category: threshold only
    assert one_cell((3, 3, 0), STANCES).pct == {"support": 50, "amend": 50, "oppose": 0}


def test_a_group_of_five_who_agree_is_hidden_and_protected_by_another():
    # Round 2, principle 1, North West: 5 of 5 support (the finding).
    votes = [("councillor", "nw", None, 0)] * 5 + [("officer", "ne", None, i % 3) for i in range(12)] + \
            [("other", "sw", None, i % 2) for i in range(9)]
    table = table_of(votes)
    region = table.dimensions["region"]
    assert region["nw"].status is Status.HIDDEN
    assert sum(not c.shown for c in region.values()) >= 2  # not total minus the others
    assert attack(published_view(table)) == []


def test_a_single_hidden_group_is_never_left_to_subtraction():
    votes = [("councillor", None, None, i % 3) for i in range(3)] + \
            [("officer", None, None, i % 3) for i in range(10)] + [("other", None, None, i % 2) for i in range(9)]
    types = table_of(votes).dimensions["type"]
    assert types["councillor"].status is Status.FEWER
    assert [k for k, c in types.items() if not c.shown] == ["councillor", "other"]  # the smallest shown one too
    assert types["other"].label == "hidden to protect privacy"


def test_a_hidden_overall_hides_every_group_so_no_dimension_gives_it_away():
    votes = [("councillor", "nw", None, 0)] * 6 + [("officer", "nw", None, 0)] * 6 + [("officer", "ne", None, 1)]
    table = table_of(votes)
    assert table.overall.status is Status.HIDDEN  # 12 of 13 support
    assert all(not c.shown for cells in table.dimensions.values() for c in cells.values())


def test_votes_outside_the_keys_are_their_own_group():
    votes = [("officer", "nw", 1, i % 3) for i in range(6)] + [("officer", None, None, i % 3) for i in range(6)]
    table = table_of(votes)
    assert table.dimensions["region"][REST].counts == (2, 2, 2)
    assert table.dimensions["workshop"][REST].shown


def test_groups_counting_more_than_the_overall_are_refused():
    with pytest.raises(ValueError):
        protect((1, 0, 0), {"type": {"a": (2, 0, 0)}}, STANCES)


def test_the_attacker_finds_what_naive_suppression_leaks():
    # The attacker is not a check that cannot fail: threshold-only publication is caught.
    naive = {"type": Published((6, 4, 3), {"officer": (4, 3, 2)}, {"councillor": Status.FEWER})}
    assert attack(naive)  # (2, 1, 1) is the only possibility
    dominated = Published((7, 4, 2), {"officer": (2, 2, 2), "other": (3, 2, 0)},
                          {"councillor": Status.FEWER, "trustee": Status.FEWER})
    assert len(disclosed(dominated)) == 2  # the residual (2, 0, 0): one supporter in each
    sized = Published((9, 4, 4), {"officer": (4, 2, 2)}, {"councillor": Status.FEWER, "other": Status.HIDDEN})
    assert disclosed(sized) == []  # (5, 2, 2) between a group under 5 and one of 5 or more
    full = {"type": Published(None, {"a": (3, 2, 1)}, {}),
            "region": Published(None, {"x": (2, 1, 0)}, {"y": Status.FEWER})}
    assert attack(full)  # the overall is the sum of the types, then the region is subtraction


voter = st.tuples(st.sampled_from(["councillor", "officer", "commissioner", "other"]),
                  st.one_of(st.none(), st.sampled_from(["nw", "ne", "sw", "se", "ld"])),
                  st.one_of(st.none(), st.sampled_from([1, 2, 3])),
                  st.integers(0, 2))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(voter, max_size=45))
def test_the_attacker_never_pins_down_a_hidden_cell(votes):
    table = table_of(votes)
    for cells in table.dimensions.values():
        for cell in cells.values():
            if cell.shown:
                assert passes(cell.counts) is Status.SHOWN
    assert attack(published_view(table)) == []


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.sampled_from([0, 0, 0, 1, 2])), min_size=5, max_size=60))
def test_skewed_votes_never_disclose(votes):
    # Mostly one stance, many small groups: the hard case for secondary suppression.
    counts = Counter(votes)
    overall = [sum(n for (g, s), n in counts.items() if s == i) for i in range(3)]
    groups = {}
    for (g, s), n in counts.items():
        groups.setdefault(g, [0, 0, 0])[s] += n
    assert attack(published_view(protect(overall, {"group": groups}, STANCES))) == []


def test_threshold_is_five():
    assert THRESHOLD == 5
