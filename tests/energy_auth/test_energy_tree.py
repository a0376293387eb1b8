"""From EVerest-style energy requests to the allocation tree, and grants back to enforced limits."""

from __future__ import annotations

import math

from evstack.generated.types.energy import (
    EnergyFlowRequest,
    EvseState,
    IntegerWithSource,
    LimitsReq,
    NodeType,
    NumberWithSource,
    ScheduleReqEntry,
)
from evstack.modules.EnergyManager.allocation import EvseDemand, allocate
from evstack.modules.EnergyManager.sequencing import Grant
from evstack.modules.EnergyManager.tree import enforced_limits, tree_from_request

NOW = "2026-11-23T10:00:00Z"


def n(value: float) -> NumberWithSource:
    return NumberWithSource(value=value, source="test")


def request(
    uuid: str,
    limits: LimitsReq | None,
    *,
    evse_state: EvseState | None = None,
    children: list[EnergyFlowRequest] | None = None,
    phases: list[int] | None = None,
) -> EnergyFlowRequest:
    schedule = (
        []
        if limits is None
        else [ScheduleReqEntry(timestamp=NOW, limits_to_root=limits, limits_to_leaves=limits)]
    )
    return EnergyFlowRequest(
        uuid=uuid,
        node_type=NodeType.Generic if evse_state is None else NodeType.Evse,
        evse_state=evse_state,
        children=children or [],
        ac_connected_phases=phases,
        schedule_import=schedule,
        schedule_export=[],
    )


def evse(
    uuid: str,
    amps: float,
    state: EvseState = EvseState.Charging,
    phases: list[int] | None = None,
) -> EnergyFlowRequest:
    return request(uuid, LimitsReq(ac_max_current_A=n(amps)), evse_state=state, phases=phases)


def test_fuse_with_evses_converts_and_shares() -> None:
    site = request(
        "fuse",
        LimitsReq(ac_max_current_A=n(32)),
        children=[evse("e1", 32), evse("e2", 32), evse("e3", 32, EvseState.WaitForAuth)],
    )
    tree = tree_from_request(site)
    assert tree.max_amps == {1: 32, 2: 32, 3: 32}
    kinds = [(c.uuid, c.active) for c in tree.children if isinstance(c, EvseDemand)]
    assert kinds == [("e1", True), ("e2", True), ("e3", False)]
    assert allocate(tree) == {"e1": 16.0, "e2": 16.0, "e3": 0.0}


def test_paused_for_lack_of_energy_still_asks() -> None:
    tree = tree_from_request(evse("e1", 16, EvseState.PausedEVSE))
    assert allocate(tree) == {"e1": 16.0}  # a lone EVSE gets wrapped in a root


def test_phases_of_an_evse() -> None:
    one_phase_on_l2 = tree_from_request(evse("e", 16, phases=[2]))
    by_count = tree_from_request(
        request(
            "e",
            LimitsReq(ac_max_current_A=n(16), ac_number_of_active_phases=1),
            evse_state=EvseState.Charging,
        )
    )
    (a,) = one_phase_on_l2.children
    (b,) = by_count.children
    assert isinstance(a, EvseDemand)
    assert isinstance(b, EvseDemand)
    assert (a.phases, b.phases) == (frozenset({2}), frozenset({1}))


def test_node_carrying_fewer_phases_limits_the_others_to_zero() -> None:
    node = request(
        "fuse",
        LimitsReq(
            ac_max_current_A=n(20), ac_max_phase_count=IntegerWithSource(value=1, source="t")
        ),
    )
    assert tree_from_request(node).max_amps == {1: 20, 2: 0.0, 3: 0.0}


def test_missing_numbers_mean_no_limit_or_no_demand() -> None:
    node = tree_from_request(
        request("fuse", None, children=[request("e", None, evse_state=EvseState.Charging)])
    )
    assert node.max_amps == {}
    assert math.isinf(node.max_watts)
    (e,) = node.children
    assert isinstance(e, EvseDemand)
    assert (e.max_amps, e.min_amps) == (0.0, 6.0)  # an EVSE that states no maximum gets nothing


def test_grants_become_enforced_limits() -> None:
    (limits,) = enforced_limits({"e1": Grant(7, 16.0)}, valid_for_s=3, timestamp=NOW, source="em")
    assert limits.uuid == "e1"
    assert limits.valid_for == 3
    assert limits.grant == 7
    assert limits.limits_root_side.ac_max_current_A == NumberWithSource(value=16.0, source="em")
    assert limits.schedule[0].limits_to_root == limits.limits_root_side
