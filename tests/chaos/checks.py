"""What must hold after every fault: each transaction stored once, finished once, with the
energy the meter counted, and no EVSE stuck."""

from __future__ import annotations

import functools
from collections import Counter

from evstack.modules.SessionStore.database import StoredSession

from .harness import ONE_INTERVAL_WH, Chaos, timestamp
from .probe import ChargePoint

# Slack on top of one meter interval: readings are rounded sums of floating point steps.
_EPSILON_WH = 0.01


def started(point: ChargePoint) -> list[str]:
    return [e.uuid for _, e in point.session if e.transaction_started is not None]


def finish_events(point: ChargePoint) -> Counter[str]:
    return Counter(e.uuid for _, e in point.session if e.transaction_finished is not None)


def meter_at_end(point: ChargePoint, session_id: str) -> float:
    """The board's register once the transaction was over: the highest reading heard before
    the next transaction on the same EVSE started. The register only grows, and only
    during a transaction."""
    starts = [heard for heard, e in point.session if e.transaction_started is not None]
    ids = started(point)
    position = ids.index(session_id)
    before = starts[position + 1] if position + 1 < len(starts) else float("inf")
    heard = [r.energy_Wh_import.total for when, r in point.readings if when < before]
    return max(heard)


def check_store(chaos: Chaos, sessions: list[StoredSession]) -> None:
    points = chaos.probe.points
    by_id = {s.session_id: s for s in sessions}
    assert len(by_id) == len(sessions)  # the key is unique: once
    for evse_id, point in enumerate(points, start=1):
        for session_id in started(point):
            session = by_id[session_id]
            assert session.evse_id == evse_id
            assert session.finished, session
            assert finish_events(point)[session_id] == 1, "finished more than once"
            assert session.stop_wh is not None
            stored = session.stop_wh - session.start_wh
            counted = meter_at_end(point, session_id) - session.start_wh
            assert stored >= 0.0, session
            assert counted - ONE_INTERVAL_WH - _EPSILON_WH <= stored <= counted + _EPSILON_WH, (
                f"{session_id}: stored {stored:.2f} Wh, the meter counted {counted:.2f} Wh"
            )
            # For the figures (pytest -s): energy the store is short of the meter's count.
            print(f"CHAOS evse={evse_id} stored_wh={stored:.2f} lost_wh={counted - stored:.2f}")
    assert set(by_id) == {sid for point in points for sid in started(point)}


async def check_not_stuck(chaos: Chaos) -> list[float]:
    """Each EVSE in turn takes a new session; returns the simulated seconds from plug-in to
    charging, each of which must be at most 5 s."""
    probe = chaos.probe
    delays = []
    for index, point in enumerate(probe.points):
        before = len(point.session)
        await probe.arrive(index, 16.0)
        await probe.until(functools.partial(_since_has, point, before, "ChargingStarted"))
        fresh = [e for _, e in point.session[before:]]
        plugged = next(e for e in fresh if str(e.event) == "SessionStarted")
        charging = next(e for e in fresh if str(e.event) == "ChargingStarted")
        seconds = (timestamp(charging.timestamp) - timestamp(plugged.timestamp)).total_seconds()
        delays.append(seconds * chaos.speedup)
        await probe.leave(index)
        await probe.until(functools.partial(_over, point))
    assert all(delay <= 5.0 for delay in delays), delays
    return delays


def _since_has(point: ChargePoint, since: int, event: str) -> bool:
    return event in point.events()[since:]


def _over(point: ChargePoint) -> bool:
    return point.events()[-1:] == ["SessionFinished"]
