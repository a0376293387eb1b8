"""The whole charger hurt while both EVs charge: `ev-manager` killed, stopped and started
again, its broker restarted. Every transaction still ends up stored once, finished once, with
the energy the meter counted, and both EVSEs take new sessions afterwards."""

from __future__ import annotations

import functools
import signal
import time
from pathlib import Path

import pytest

from evstack.runtime.clock import ScaledClock

from .checks import check_not_stuck, check_store, finish_events, started
from .harness import Chaos, chaos_charger
from .probe import ChargePoint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


async def charger_restarted(chaos: Chaos, how: signal.Signals) -> None:
    probe = chaos.probe
    await chaos.both_charging()
    await chaos.charged(10.0)
    before = [started(point) for point in probe.points]

    code = await chaos.charger.stop(how)
    assert code == (0 if how is signal.SIGTERM else -signal.SIGKILL)
    # Orphaned module processes notice their manager is gone and stop by themselves.
    await chaos.charger_down()
    chaos.charger.start()
    await chaos.charger_up()

    # Each transaction of the first run ends exactly once: at the stop (Reboot) or, if its
    # EVSE could not finish it then, at the next start (PowerLoss).
    for point, ids in zip(probe.points, before, strict=True):
        await probe.until(functools.partial(finished_once, point, ids))
    reasons = {
        str(e.transaction_finished.reason)
        for point in probe.points
        for _, e in point.session
        if e.transaction_finished is not None
    }
    assert reasons <= {"Reboot", "PowerLoss"}
    # The meters' registers survived the restart: readings after it continue the count.
    await chaos.both_charging()
    await chaos.charged(5.0)
    await chaos.both_leave()
    total = sum(len(started(point)) for point in probe.points)
    check_store(chaos, await chaos.stored(total))
    await check_not_stuck(chaos)


def finished_once(point: ChargePoint, transactions: list[str]) -> bool:
    return all(finish_events(point)[t] == 1 for t in transactions)


async def test_finding_2_ev_manager_killed_mid_session(tmp_path: Path) -> None:
    async with chaos_charger(tmp_path) as chaos:
        await charger_restarted(chaos, signal.SIGKILL)


async def test_finding_2_ev_manager_stopped_and_started_mid_session(tmp_path: Path) -> None:
    async with chaos_charger(tmp_path) as chaos:
        await charger_restarted(chaos, signal.SIGTERM)


async def test_finding_7_no_contactor_chatter_after_a_broker_restart(tmp_path: Path) -> None:
    async with chaos_charger(tmp_path) as chaos:
        probe = chaos.probe
        await chaos.both_charging()
        await chaos.charged(10.0)
        outage_began = time.monotonic()
        chaos.broker.stop()
        # Longer than the boards' 3 s watchdog and the grants' validity: contactors open.
        await ScaledClock(chaos.speedup).sleep(6.0)
        chaos.broker.start_again()
        await chaos.charger_up()
        await probe.until(lambda: all(p.relay_is("PowerOn") for p in probe.points))
        await chaos.charged(10.0)
        for point in probe.points:
            reports = [state for when, state in point.relay if when > outage_began]
            # A board republishes its contactor's state when its controller comes back
            # (BoardSimulator.republish): a report of the state it is already in is no switch.
            switches = [s for i, s in enumerate(reports) if i == 0 or s != reports[i - 1]]
            # At most one switch off (the outage) and one on (after it); no chatter.
            assert switches in (["PowerOn"], ["PowerOff", "PowerOn"]), switches
        await chaos.both_leave()
        total = sum(len(started(point)) for point in probe.points)
        check_store(chaos, await chaos.stored(total))
        await check_not_stuck(chaos)
