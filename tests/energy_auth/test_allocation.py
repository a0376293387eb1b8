"""Energy allocation: examples a site owner would recognise, then properties over random trees."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evstack.modules.EnergyManager.allocation import (
    PHASES,
    EvseDemand,
    Node,
    allocate,
    constraints_of,
    walk_evses,
)

TOLERANCE = 1e-6


def test_two_evses_share_a_32_amp_fuse() -> None:
    site = Node.fuse("site", 32, EvseDemand("a", 32), EvseDemand("b", 32))
    assert allocate(site) == {"a": 16.0, "b": 16.0}


def test_one_evse_alone_takes_the_full_share() -> None:
    site = Node.fuse("site", 32, EvseDemand("a", 32), EvseDemand("b", 32, active=False))
    assert allocate(site) == {"a": 32.0, "b": 0.0}


def test_inactive_evse_gets_current_again_when_it_becomes_active() -> None:
    # The NoEnergy deadlock: 0 A granted while idle must not stick once charging can start.
    idle = Node.fuse("site", 32, EvseDemand("a", 16, active=False))
    assert allocate(idle) == {"a": 0.0}
    woken = Node.fuse("site", 32, EvseDemand("a", 16, active=True))
    assert allocate(woken) == {"a": 16.0}


def test_minimum_first_then_nothing_below_it() -> None:
    # 16 A holds two minimums of 6 A but not three: the third gets 0, not a useless 5.3 A.
    site = Node.fuse("site", 16, *(EvseDemand(n, 32) for n in "abc"))
    assert allocate(site) == {"a": 8.0, "b": 8.0, "c": 0.0}


def test_nested_fuse_and_small_evse() -> None:
    site = Node.fuse(
        "site",
        40,
        Node.fuse("garage", 16, EvseDemand("a", 32), EvseDemand("b", 32)),
        EvseDemand("c", 32),
        EvseDemand("d", 10),
    )
    assert allocate(site) == {"a": 8.0, "b": 8.0, "c": 14.0, "d": 10.0}


def test_single_phase_evse_only_loads_its_phase() -> None:
    site = Node.fuse(
        "site",
        16,
        EvseDemand("three", 16),
        EvseDemand("one", 16, phases=frozenset({2})),
    )
    # L2 carries both, L1 and L3 only the three-phase EVSE; max-min fair gives 8 A each.
    assert allocate(site) == {"three": 8.0, "one": 8.0}


def test_power_limit_converts_through_nominal_voltage() -> None:
    site = Node("site", (EvseDemand("a", 32),), max_watts=11_040)  # 16 A x 3 x 230 V
    assert allocate(site) == {"a": 16.0}
    capped = Node.fuse("site", 63, EvseDemand("a", 32, max_watts=7_360))  # 32 A on 1 phase
    assert allocate(capped) == {"a": pytest.approx(10.6)}  # 10.67 A rounded down


def test_result_is_rounded_down_never_up() -> None:
    site = Node.fuse("site", 20, *(EvseDemand(n, 32) for n in "abc"))
    grants = allocate(site)
    assert grants == {"a": 6.6, "b": 6.6, "c": 6.6}
    assert sum(grants.values()) <= 20


def test_duplicate_uuids_are_refused() -> None:
    with pytest.raises(ValueError, match="own uuid"):
        allocate(Node.fuse("site", 32, EvseDemand("a", 16), EvseDemand("a", 16)))


# --- properties ---------------------------------------------------------------------------

_names = iter(range(10**9))


@st.composite
def evses(draw: st.DrawFn) -> EvseDemand:
    phases = draw(
        st.sampled_from([frozenset(PHASES), frozenset({1}), frozenset({2}), frozenset({3})])
    )
    return EvseDemand(
        uuid=f"evse{next(_names)}",
        max_amps=draw(st.sampled_from([0.0, 6.0, 10.0, 16.0, 32.0])),
        min_amps=draw(st.sampled_from([6.0, 6.0, 8.0])),
        phases=phases,
        max_watts=draw(st.sampled_from([math.inf, math.inf, 3_700.0, 11_000.0])),
        active=draw(st.booleans()),
    )


def fuses(children: st.SearchStrategy[list[Node | EvseDemand]]) -> st.SearchStrategy[Node]:
    def build(kids: list[Node | EvseDemand], limit: float, power: float) -> Node:
        node = Node.fuse(f"fuse{next(_names)}", limit, *kids)
        return Node(node.uuid, node.children, node.max_amps, max_watts=power)

    return st.builds(
        build,
        children,
        st.sampled_from([0.0, 6.0, 10.0, 16.0, 20.0, 32.0, 40.0, 63.0]),
        st.sampled_from([math.inf, math.inf, 7_000.0, 22_000.0]),
    )


trees = st.recursive(
    evses(),
    lambda inner: fuses(st.lists(inner, min_size=1, max_size=4)),
    max_leaves=12,
).filter(lambda t: isinstance(t, Node))


def bottleneck_ok(tree: Node, grants: dict[str, float], evse: EvseDemand) -> bool:
    """Max-min fairness for ``evse``: a full limit stops it, and nobody there who could give
    way (everyone above their own minimum) has more."""
    minimum = {e.uuid: e.min_amps for e in walk_evses(tree)}
    for c in constraints_of(tree):
        if c.weights.get(evse.uuid, 0.0) == 0.0:
            continue
        used = sum(w * grants[u] for u, w in c.weights.items())
        slack = c.capacity - used
        # "Full" up to the 0.1 A rounding of everyone on it.
        if slack > 0.1 * sum(c.weights.values()) + TOLERANCE:
            continue
        others = [grants[u] for u in c.weights if grants[u] > minimum[u] + 0.1 + TOLERANCE]
        if all(g <= grants[evse.uuid] + 0.1 + TOLERANCE for g in others):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(trees)
def test_no_fuse_is_ever_exceeded_on_any_phase(tree: Node) -> None:
    grants = allocate(tree)
    for c in constraints_of(tree):
        assert sum(w * grants[u] for u, w in c.weights.items()) <= c.capacity + TOLERANCE, c.name


@settings(max_examples=300, deadline=None)
@given(trees)
def test_every_active_evse_gets_its_minimum_when_the_tree_can_afford_all(tree: Node) -> None:
    wanting = [
        e for e in walk_evses(tree) if e.active and min(e.max_amps, _by_power(e)) >= e.min_amps
    ]
    affordable = all(
        sum(c.weights.get(e.uuid, 0.0) * e.min_amps for e in wanting) <= c.capacity
        for c in constraints_of(tree)
    )
    grants = allocate(tree)
    for evse in walk_evses(tree):
        granted = grants[evse.uuid]
        assert granted == 0.0 or granted >= evse.min_amps - TOLERANCE  # never a useless share
        if not evse.active:
            assert granted == 0.0
        elif affordable and evse in wanting:
            assert granted >= evse.min_amps - TOLERANCE


@settings(max_examples=300, deadline=None)
@given(trees)
def test_allocation_is_max_min_fair(tree: Node) -> None:
    grants = allocate(tree)
    for evse in walk_evses(tree):
        granted = grants[evse.uuid]
        if granted == 0.0:
            continue  # not granted its minimum: fairness is about those who charge
        at_own_limit = granted >= min(evse.max_amps, _by_power(evse)) - 0.1 - TOLERANCE
        assert at_own_limit or bottleneck_ok(tree, grants, evse), evse


def _by_power(evse: EvseDemand) -> float:
    return evse.max_watts / (230.0 * len(evse.phases))
