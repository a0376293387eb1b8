"""Between the wire format and the allocation: EVerest-style requests in, enforced limits out.

Only the first entry of each import schedule is read: EVerest defines it as the one in force
now, and evstack does not plan ahead along schedules yet. A node with no schedule entry limits
nothing itself (its fuses are elsewhere); an EVSE with none asks for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

from evstack.generated.types.energy import (
    EnergyFlowRequest,
    EnforcedLimits,
    EvseState,
    IntegerWithSource,
    LimitsReq,
    LimitsRes,
    NodeType,
    NumberWithSource,
    ScheduleResEntry,
)
from evstack.modules.EnergyManager.allocation import PHASES, EvseDemand, Node
from evstack.modules.EnergyManager.sequencing import Grant, Report
from evstack.modules.EnergyManager.validity import seconds_since

# The states in which an EVSE can use current now or at any moment (a car paused by itself
# may resume without asking). Paused-by-the-EVSE is here on purpose: an EVSE that paused for
# lack of energy must get its minimum back when it frees up, or it would wait forever.
DRAWING_STATES = frozenset(
    {
        EvseState.WaitForEnergy,
        EvseState.PrepareCharging,
        EvseState.Charging,
        EvseState.PausedEV,
        EvseState.PausedEVSE,
    }
)
IEC_MIN_AMPS = 6.0


def tree_from_request(request: EnergyFlowRequest) -> Node:
    """The allocation tree for a request as it reaches the energy manager."""
    tree = _convert(request)
    # An EVSE wired straight to the manager still needs a root to hang under.
    return tree if isinstance(tree, Node) else Node("root", (tree,))


def _convert(request: EnergyFlowRequest) -> Node | EvseDemand:
    limits = request.schedule_import[0].limits_to_root if request.schedule_import else LimitsReq()
    max_watts = _value(limits.total_power_W, math.inf)
    if request.node_type == NodeType.Evse:
        return EvseDemand(
            uuid=request.uuid,
            max_amps=_value(limits.ac_max_current_A, 0.0),
            min_amps=_value(limits.ac_min_current_A, IEC_MIN_AMPS),
            phases=_evse_phases(request, limits),
            max_watts=max_watts,
            active=request.evse_state in DRAWING_STATES,
        )
    children = tuple(_convert(child) for child in request.children)
    per_phase: dict[int, float] = {}
    if limits.ac_max_current_A is not None:
        carried = int(_value(limits.ac_max_phase_count, 3))
        # A phase the node does not carry can take nothing, so its limit is 0 A.
        per_phase = {p: limits.ac_max_current_A.value if p <= carried else 0.0 for p in PHASES}
    return Node(request.uuid, children, per_phase, max_watts)


def _evse_phases(request: EnergyFlowRequest, limits: LimitsReq) -> frozenset[int]:
    if request.ac_connected_phases:
        return frozenset(p for p in request.ac_connected_phases if p in PHASES)
    count = limits.ac_number_of_active_phases or int(_value(limits.ac_max_phase_count, 3))
    return frozenset(PHASES[: max(1, min(count, 3))])


def _value(field: NumberWithSource | IntegerWithSource | None, default: float) -> float:
    if field is None or math.isnan(field.value):
        return default
    return float(field.value)


def reports_in(
    request: EnergyFlowRequest, now: float, speedup: float = 1.0
) -> Iterator[tuple[str, Report]]:
    """What every EVSE below ``request`` says of its committed current and applied grant.

    Each report is dated from its request's timestamp onto the clock that reads ``now``
    (``speedup`` times faster than the wall's).
    """
    if request.node_type == NodeType.Evse:
        entries = request.schedule_import
        ago = seconds_since(entries[0].timestamp, speedup) if entries else None
        made_at = None if ago is None else now - ago
        committed, applied = request.ac_committed_current_A, request.applied_grant
        yield request.uuid, Report(committed, applied, made_at)
    for child in request.children:
        yield from reports_in(child, now, speedup)


def enforced_limits(
    grants: Mapping[str, Grant], valid_for_s: int, timestamp: str, source: str
) -> Iterable[EnforcedLimits]:
    """One ``enforce_limits`` argument per EVSE; nodes pass each down by its uuid.

    ``timestamp`` is when the limits were issued: an EVSE ignores them once they are older
    than their validity.
    """
    for uuid, grant in grants.items():
        limits = LimitsRes(ac_max_current_A=NumberWithSource(value=grant.amps, source=source))
        yield EnforcedLimits(
            uuid=uuid,
            valid_for=valid_for_s,
            grant=grant.seq,
            limits_root_side=limits,
            schedule=[ScheduleResEntry(timestamp=timestamp, limits_to_root=limits)],
        )
