"""OCA Part 6's meter value cases (J) for the station, one test per case, named by its id.

Each follows the case's steps and checks its tool validations and post scenario validations:
the contexts, an element per configured measurand, and intervals between timestamps that
equal the configured one (on the station's clock, which runs at the rig's simulated rate).
The charger around the station is tests/ocpp201/tx_rig.py; its EVSE's meter is read every
`READ_EVERY_S` simulated seconds while a test runs, as a real meter's var would be.
"""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_J_01_CS)

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import secrets
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from evstack.runtime.mqtt import BrokerSettings

from .test_tc_e import energy_transfer_started, event
from .tx_rig import SPEEDUP, Rig, card, charger

pytestmark = [pytest.mark.mosquitto]

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
Payload = dict[str, Any]
Settings = dict[str, str | int | float | bool]

MEASURANDS = "Energy.Active.Import.Register,Current.Import"
ENERGY = "Energy.Active.Import.Register"
INTERVAL_S = 30  # a configured interval, simulated seconds (divides the day: aligned)
READ_EVERY_S = 2.0  # simulated seconds between the meter's readings
# The OCTT accepts a configurable deviation of times; labs set 4 s (Part 6, general rules).
DEVIATION_S = 4.0


@pytest.fixture
def prefix() -> str:
    return f"test-mv-{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def metered(rig: Rig) -> AsyncIterator[None]:
    """The EVSE's meter says what it counts (5 Wh more each time) until the block ends."""

    async def read_forever() -> None:
        while True:
            await rig.evses[0].read(5.0)
            await asyncio.sleep(READ_EVERY_S / SPEEDUP)

    reader = asyncio.ensure_future(read_forever())
    try:
        yield
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp).timestamp()


def measurands_of(sampled: Iterable[Payload]) -> set[str]:
    """The measurands of sampled values; an omitted one is the energy register."""
    return {s.get("measurand", ENERGY) for s in sampled}


def assert_each_measurand(sampled: list[Payload], context: str) -> None:
    """sampledValue[0] has `context`, and there is an element per configured measurand."""
    assert sampled[0]["context"] == context, sampled
    assert measurands_of(sampled) == set(MEASURANDS.split(",")), sampled


def assert_intervals(times: list[float], interval_s: float) -> None:
    """The post scenario validation: the gaps between the timestamps equal the interval (more
    than one message may share a timestamp)."""
    distinct = sorted(set(times))
    assert len(distinct) >= 2, times
    gaps = [b - a for a, b in itertools.pairwise(distinct)]
    assert gaps == pytest.approx([interval_s] * len(gaps), abs=DEVIATION_S), gaps


ALIGNED: Settings = {
    "AlignedDataCtrlr.Interval": INTERVAL_S,
    "AlignedDataCtrlr.Measurands": MEASURANDS,
    "AlignedDataCtrlr.SendDuringIdle": False,
}


@pytest.mark.timeout(60)
async def test_TC_J_01_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, ALIGNED) as rig, metered(rig):
        messages = [await rig.csms.expect("MeterValues", wait=20) for _ in range(3)]
    for message in messages:
        assert message["evseId"] == 1
        for meter_value in message["meterValue"]:
            assert_each_measurand(meter_value["sampledValue"], "Sample.Clock")
    times = [seconds(mv["timestamp"]) for m in messages for mv in m["meterValue"]]
    assert_intervals(times, INTERVAL_S)
    assert all(t % INTERVAL_S == pytest.approx(0, abs=DEVIATION_S) for t in times)  # aligned


@pytest.mark.timeout(60)
async def test_TC_J_02_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, ALIGNED) as rig, metered(rig):
        await energy_transfer_started(rig)
        # Steps 3 and 4: the EVSE's values go in its transaction's events.
        updates = [
            await rig.csms.expect("TransactionEvent", event("Updated", "MeterValueClock"), wait=20)
            for _ in range(3)
        ]
    for update in updates:
        assert_each_measurand(update["meterValue"][0]["sampledValue"], "Sample.Clock")
    assert_intervals([seconds(u["timestamp"]) for u in updates], INTERVAL_S)


async def _ended_after(rig: Rig, duration_s: float) -> Payload:
    """EnergyTransferStarted, the transaction duration, then ParkingBayUnoccupied (the EV
    leaves: with TxStopPoint EVConnected the transaction ends); the Ended event."""
    await energy_transfer_started(rig)
    await asyncio.sleep(duration_s / SPEEDUP)
    await rig.evses[0].unplug()
    return await rig.csms.expect("TransactionEvent", event("Ended"), wait=20)


@pytest.mark.timeout(60)
async def test_TC_J_03_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {
        "AlignedDataCtrlr.TxEndedInterval": INTERVAL_S,
        "AlignedDataCtrlr.TxEndedMeasurands": MEASURANDS,
        "AlignedDataCtrlr.SendDuringIdle": False,
    }
    async with charger(BROKER, prefix, tmp_path, settings) as rig, metered(rig):
        ended = await _ended_after(rig, 4 * INTERVAL_S)
    clock = [mv for mv in ended["meterValue"] if mv["sampledValue"][0]["context"] == "Sample.Clock"]
    assert len(clock) >= 3, ended["meterValue"]
    for meter_value in clock:
        assert_each_measurand(meter_value["sampledValue"], "Sample.Clock")
    assert_intervals([seconds(mv["timestamp"]) for mv in clock], INTERVAL_S)


@pytest.mark.timeout(60)
async def test_TC_J_07_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {
        "TxCtrlr.TxStartPoint": "EVConnected",
        "SampledDataCtrlr.TxStartedMeasurands": MEASURANDS,
    }
    async with charger(BROKER, prefix, tmp_path, settings) as rig, metered(rig):
        await asyncio.sleep(2 * READ_EVERY_S / SPEEDUP)  # ParkingBayOccupied: the meter reads
        # EVConnectedPreSession: with TxStartPoint EVConnected the transaction starts here.
        await rig.evses[0].plug_in()
        started = await rig.csms.expect("TransactionEvent", event("Started"))
        # EnergyTransferStarted
        await rig.present(card())
        await rig.evses[0].charge()
        await rig.csms.expect("TransactionEvent", event("Updated", "ChargingStateChanged"))
    assert started["triggerReason"] == "CablePluggedIn"
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert_each_measurand(started["meterValue"][0]["sampledValue"], "Transaction.Begin")


@pytest.mark.timeout(60)
async def test_TC_J_09_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {
        "SampledDataCtrlr.TxUpdatedInterval": INTERVAL_S,
        "SampledDataCtrlr.TxUpdatedMeasurands": MEASURANDS,
    }
    async with charger(BROKER, prefix, tmp_path, settings) as rig, metered(rig):
        await energy_transfer_started(rig)
        updates = [
            await rig.csms.expect(
                "TransactionEvent", event("Updated", "MeterValuePeriodic"), wait=20
            )
            for _ in range(3)
        ]
    for update in updates:
        assert_each_measurand(update["meterValue"][0]["sampledValue"], "Sample.Periodic")
    assert_intervals([seconds(u["timestamp"]) for u in updates], INTERVAL_S)


@pytest.mark.timeout(60)
async def test_TC_J_10_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {
        "SampledDataCtrlr.TxEndedInterval": INTERVAL_S,
        "SampledDataCtrlr.TxEndedMeasurands": MEASURANDS,
    }
    async with charger(BROKER, prefix, tmp_path, settings) as rig, metered(rig):
        ended = await _ended_after(rig, 4 * INTERVAL_S)
    values = ended["meterValue"]
    contexts = [mv["sampledValue"][0]["context"] for mv in values]
    assert contexts[0] == "Sample.Periodic", contexts
    assert "Transaction.End" in contexts, contexts
    periodic = [mv for mv in values if mv["sampledValue"][0]["context"] == "Sample.Periodic"]
    assert len(periodic) >= 3, values
    for meter_value in values:
        context = meter_value["sampledValue"][0]["context"]
        assert_each_measurand(meter_value["sampledValue"], context)
    assert_intervals([seconds(mv["timestamp"]) for mv in periodic], INTERVAL_S)


@pytest.mark.timeout(60)
async def test_TC_J_06_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {
        **ALIGNED,
        "AlignedDataCtrlr.SendDuringIdle": True,
        # No sampled values in the transaction's own events either: the case wants none.
        "SampledDataCtrlr.TxStartedMeasurands": "",
        "SampledDataCtrlr.TxUpdatedMeasurands": "",
        "SampledDataCtrlr.TxEndedMeasurands": "",
    }
    async with charger(BROKER, prefix, tmp_path, settings) as rig, metered(rig):
        before = await rig.csms.expect("MeterValues", wait=20)  # steps 1 and 2
        mark = len(rig.csms.history)
        await energy_transfer_started(rig)  # step 3
        await asyncio.sleep((INTERVAL_S + 5) / SPEEDUP)  # steps 4 and 5: nothing comes
        await rig.evses[0].unplug()  # step 6
        await rig.csms.expect("TransactionEvent", event("Ended"))
        during = list(rig.csms.history[mark:])
        after = await rig.csms.expect("MeterValues", wait=20)  # steps 7 and 8
    for message in (before, after):
        assert_each_measurand(message["meterValue"][0]["sampledValue"], "Sample.Clock")
    assert not [m for m in during if m.action == "MeterValues"]
    assert not [m for m in during if m.action == "TransactionEvent" and "meterValue" in m.payload]
