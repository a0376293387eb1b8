"""OCA Part 6's transaction cases (E) for the station, one test per case, named by its id.

Each follows the case's steps and checks its tool validations. The charger around the station
is tests/ocpp201/tx_rig.py: EVSE stand-ins, Auth and a card reader, on simulated time.
"""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_E_28_CS)

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call, call_result

from evstack.runtime.mqtt import BrokerSettings

from .timed_csms import TimedCsms, silence
from .tx_rig import SPEEDUP, Rig, card, charger, until

pytestmark = [pytest.mark.mosquitto]

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
Payload = dict[str, Any]
Settings = dict[str, str | int | float | bool]


@pytest.fixture
def prefix() -> str:
    return f"test-tx-{secrets.token_hex(4)}"


def event(kind: str | None = None, trigger: str | None = None) -> Callable[[Payload], bool]:
    def matches(payload: Payload) -> bool:
        return (kind is None or payload["eventType"] == kind) and (
            trigger is None or payload["triggerReason"] == trigger
        )

    return matches


async def energy_transfer_started(rig: Rig) -> str:
    """Reusable states EVConnectedPreSession, Authorized (local) and EnergyTransferStarted;
    returns the transaction's id."""
    evse = rig.evses[0]
    await evse.plug_in()
    await rig.present(card())
    authorize = await rig.csms.expect("Authorize")
    assert authorize["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}
    started = await rig.csms.expect("TransactionEvent", event("Started", "Authorized"))
    assert started["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}
    await evse.charge()
    charging = await rig.csms.expect("TransactionEvent", event("Updated", "ChargingStateChanged"))
    while charging["transactionInfo"].get("chargingState") != "Charging":
        charging = await rig.csms.expect("TransactionEvent", event("Updated"))
    transaction_id: str = started["transactionInfo"]["transactionId"]
    return transaction_id


async def offline(rig: Rig) -> None:
    """The OCTT closes the connection and refuses reconnects."""
    rig.csms.accepting = False
    await rig.csms.drop()
    await until(lambda: not rig.module.station.online.is_set())


async def queued(rig: Rig, count: int) -> None:
    await until(lambda: rig.module.station.outbox.pending() >= count)


@pytest.mark.timeout(60)
async def test_TC_E_28_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        answer = await rig.csms.call(call.GetTransactionStatus(transaction_id="f00d"))
    assert answer.ongoing_indicator is False
    assert answer.messages_in_queue is False


UPDATED_EVERY_10_S: Settings = {
    # No clock-aligned values: a boundary of AlignedDataCtrlr.Interval (900 s by default, 45 s of
    # wall time at the rig's speed-up) would fall into a slow run now and then and add a
    # MeterValueClock update among the periodic ones these cases count.
    "AlignedDataCtrlr.Interval": 0,
    "SampledDataCtrlr.TxUpdatedInterval": 10,
    "SampledDataCtrlr.TxUpdatedMeasurands": "Energy.Active.Import.Register,Current.Import",
    "OCPPCommCtrlr.RetryBackOffWaitMinimum": 20,
    "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
    "OCPPCommCtrlr.OfflineThreshold": 80,
}


async def _status_after_reconnect(rig: Rig, transaction_id: str | None) -> Any:
    """Steps 2-4 of E29/E31/E33: back online, the OCTT asks at once. It answers the queued
    events only once it has its answer, so the station cannot have emptied its queue before;
    the CSMS must serve each frame in a task of its own (TimedCsms) to hold them back."""
    asked = asyncio.Event()

    async def after_the_question(payload: Payload) -> Any:
        await asked.wait()
        return call_result.TransactionEvent()

    rig.csms.respond("TransactionEvent", after_the_question)
    rig.csms.accepting = True
    await rig.csms.connected()
    status = await rig.csms.call(call.GetTransactionStatus(transaction_id=transaction_id))
    asked.set()
    return status


@pytest.mark.timeout(60)
async def test_TC_E_29_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, UPDATED_EVERY_10_S, csms=TimedCsms()) as rig:
        transaction_id = await energy_transfer_started(rig)
        await offline(rig)
        await rig.evses[0].read(120.0)
        await queued(rig, 2)
        status = await _status_after_reconnect(rig, transaction_id)
        assert status.ongoing_indicator is True
        assert status.messages_in_queue is True
        update = await rig.csms.expect("TransactionEvent")
    assert update["eventType"] == "Updated"
    assert update["meterValue"]
    assert update["offline"] is True


@pytest.mark.timeout(60)
async def test_TC_E_30_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        transaction_id = await energy_transfer_started(rig)
        await rig.settled()
        status = await rig.csms.call(call.GetTransactionStatus(transaction_id=transaction_id))
    assert status.ongoing_indicator is True
    assert status.messages_in_queue is False


@pytest.mark.timeout(60)
async def test_TC_E_31_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {
        "OCPPCommCtrlr.RetryBackOffWaitMinimum": 20,
        "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
    }
    async with charger(BROKER, prefix, tmp_path, settings, csms=TimedCsms()) as rig:
        transaction_id = await energy_transfer_started(rig)
        await offline(rig)
        await rig.present(card())  # the same card stops it
        await until(lambda: rig.evses[0].running is None)  # before the EV leaves
        await rig.evses[0].unplug()
        await queued(rig, 1)
        status = await _status_after_reconnect(rig, transaction_id)
        assert status.ongoing_indicator is False
        assert status.messages_in_queue is True
        ended = await rig.csms.expect("TransactionEvent", event("Ended"))
    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["offline"] is True


@pytest.mark.timeout(60)
async def test_TC_E_32_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        transaction_id = await energy_transfer_started(rig)
        await rig.present(card())
        await rig.csms.expect("TransactionEvent", event("Ended"))
        await rig.evses[0].unplug()
        await rig.settled()
        status = await rig.csms.call(call.GetTransactionStatus(transaction_id=transaction_id))
    assert status.ongoing_indicator is False
    assert status.messages_in_queue is False


@pytest.mark.timeout(60)
async def test_TC_E_33_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, UPDATED_EVERY_10_S, csms=TimedCsms()) as rig:
        await energy_transfer_started(rig)
        await offline(rig)
        await rig.evses[0].read(80.0)
        await queued(rig, 2)
        status = await _status_after_reconnect(rig, None)
        assert status.ongoing_indicator is None
        assert status.messages_in_queue is True
        update = await rig.csms.expect("TransactionEvent")
    assert (update["eventType"], update["offline"]) == ("Updated", True)
    assert update["meterValue"]


@pytest.mark.timeout(60)
async def test_TC_E_34_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        status = await rig.csms.call(call.GetTransactionStatus())
    assert status.ongoing_indicator is None
    assert status.messages_in_queue is False


@pytest.mark.timeout(60)
async def test_TC_E_40_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, UPDATED_EVERY_10_S, csms=TimedCsms()) as rig:
        await energy_transfer_started(rig)
        await offline(rig)
        for _ in range(3):
            await rig.evses[0].read(50.0)
        await queued(rig, 3)
        pending = rig.module.station.outbox.pending()
        rig.csms.accepting = True
        await rig.csms.connected()
        updates = [await rig.csms.expect("TransactionEvent") for _ in range(pending)]
    for update in updates:
        assert update["eventType"] == "Updated"
        assert update["meterValue"]
        assert update["offline"] is True
    assert [u["triggerReason"] for u in updates] == ["MeterValuePeriodic"] * pending


# --- E13: retries -----------------------------------------------------------------------------

ATTEMPTS = 3
INTERVAL_S = 10  # MessageAttemptIntervalTransactionEvent, simulated seconds
TIMEOUT_S = 10  # MessageTimeout, simulated seconds
RETRIES: Settings = {
    "OCPPCommCtrlr.MessageAttempts[TransactionEvent]": ATTEMPTS,
    "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]": INTERVAL_S,
    "OCPPCommCtrlr.MessageTimeout[Default]": TIMEOUT_S,
}


async def _transmissions(rig: Rig, csms: TimedCsms, count: int) -> list[float]:
    """Authorized and EVConnectedPreSession: the Started event, sent `count` times; the gaps
    between the transmissions in simulated seconds."""
    await rig.evses[0].plug_in()
    await rig.present(card())
    await until(lambda: _sent(csms) >= count, timeout=30)
    times = [
        a.at for a in csms.arrivals if a.action == "TransactionEvent" and a.payload["seqNo"] == 0
    ]
    return [(b - a) * SPEEDUP for a, b in itertools.pairwise(times)]


def _expected_gaps(count: int, timeout: bool) -> list[float]:
    """Interval x transmissions so far, plus the message timeout when it waited for one."""
    return [INTERVAL_S * n + (TIMEOUT_S if timeout else 0) for n in range(1, count)]


def _sent(csms: TimedCsms, seq_no: int = 0) -> int:
    return sum(
        1 for a in csms.arrivals if a.action == "TransactionEvent" and a.payload["seqNo"] == seq_no
    )


async def _no_more(csms: TimedCsms, count: int, wait_s: float) -> None:
    """The OCTT waits one more, longer round: the station sent the message no more."""
    with pytest.raises(TimeoutError):
        await until(lambda: _sent(csms) > count, timeout=wait_s / SPEEDUP)


@pytest.mark.timeout(60)
async def test_TC_E_41_CS(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms()
    csms.respond("TransactionEvent", lambda payload: silence())
    async with charger(BROKER, prefix, tmp_path, RETRIES, csms=csms) as rig:
        gaps = await _transmissions(rig, csms, ATTEMPTS)
        assert gaps == pytest.approx(_expected_gaps(ATTEMPTS, timeout=True), abs=2.0)
        await _no_more(csms, ATTEMPTS, INTERVAL_S * ATTEMPTS + TIMEOUT_S + 5)
    assert _sent(csms) == ATTEMPTS  # the same message (seqNo 0), then the next one


@pytest.mark.timeout(60)
async def test_TC_E_42_CS(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms()
    answered = 0

    def second_only(payload: Payload) -> Any:
        nonlocal answered
        answered += 1
        return silence() if answered == 1 else call_result.TransactionEvent()

    csms.respond("TransactionEvent", second_only)
    async with charger(BROKER, prefix, tmp_path, RETRIES, csms=csms) as rig:
        gaps = await _transmissions(rig, csms, 2)
        assert gaps == pytest.approx(_expected_gaps(2, timeout=True), abs=2.0)
        await rig.settled()
        await _no_more(csms, 2, INTERVAL_S * 2 + TIMEOUT_S + 5)


def _refuse(payload: Payload) -> Any:
    raise RuntimeError("the CSMS fails")  # answered as a CALLERROR InternalError


@pytest.mark.timeout(60)
async def test_TC_E_50_CS(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms()
    csms.respond("TransactionEvent", _refuse)
    async with charger(BROKER, prefix, tmp_path, RETRIES, csms=csms) as rig:
        gaps = await _transmissions(rig, csms, ATTEMPTS)
        # A CALLERROR comes at once: the OCTT measures interval x transmissions.
        assert gaps == pytest.approx(_expected_gaps(ATTEMPTS, timeout=False), abs=2.0)
        await _no_more(csms, ATTEMPTS, INTERVAL_S * ATTEMPTS + TIMEOUT_S + 5)


@pytest.mark.timeout(60)
async def test_TC_E_51_CS(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms()
    answered = 0

    def second_only(payload: Payload) -> Any:
        nonlocal answered
        answered += 1
        if answered == 1:
            _refuse(payload)
        return call_result.TransactionEvent()

    csms.respond("TransactionEvent", second_only)
    async with charger(BROKER, prefix, tmp_path, RETRIES, csms=csms) as rig:
        await _transmissions(rig, csms, 2)
        await rig.settled()
        await _no_more(csms, 2, INTERVAL_S * 2 + TIMEOUT_S + 5)
    assert _sent(csms) == 2


# --- E01/E02: the start options (Core conditional) ---------------------------------------------


def _starting_at(point: str) -> Settings:
    return {"TxCtrlr.TxStartPoint": point}


async def _authorized_first(rig: Rig) -> None:
    """Reusable State Authorized (local) from no EV: the card, Authorize Accepted."""
    await rig.present(card())
    authorize = await rig.csms.expect("Authorize")
    assert authorize["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}


@pytest.mark.timeout(60)
async def test_TC_E_01_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, _starting_at("PowerPathClosed")) as rig:
        await _authorized_first(rig)
        mark = len(rig.csms.history)
        await rig.evses[0].plug_in()  # EVConnectedPreSession: the power path closes
        started = await rig.csms.expect("TransactionEvent", event("Started"))
    assert not [m for m in rig.csms.history[:mark] if m.action == "TransactionEvent"]
    assert started["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}


@pytest.mark.timeout(60)
async def test_TC_E_02_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, _starting_at("EnergyTransfer")) as rig:
        await _authorized_first(rig)
        await rig.evses[0].plug_in()
        occupied = await rig.csms.expect("StatusNotification")
        mark = len(rig.csms.history)
        await asyncio.sleep(0.5)  # plugged in and authorized: still no transaction
        assert not [m for m in rig.csms.history[mark:] if m.action == "TransactionEvent"]
        await rig.evses[0].charge()
        started = await rig.csms.expect("TransactionEvent", event("Started"))
    assert occupied["connectorStatus"] == "Occupied"
    assert started["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["transactionInfo"]["chargingState"] == "Charging"


@pytest.mark.timeout(60)
async def test_TC_E_09_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, _starting_at("EVConnected")) as rig:
        await rig.evses[0].plug_in()
        occupied = await rig.csms.expect("StatusNotification")
        started = await rig.csms.expect("TransactionEvent", event("Started"))
    assert occupied["connectorStatus"] == "Occupied"
    assert started["triggerReason"] in ("CablePluggedIn", "ChargingStateChanged")
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["transactionInfo"]["chargingState"] == "EVConnected"


@pytest.mark.timeout(60)
async def test_TC_E_10_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, _starting_at("Authorized")) as rig:
        await _authorized_first(rig)
        started = await rig.csms.expect("TransactionEvent", event("Started"))
    assert started["triggerReason"] == "Authorized"
    assert started["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}


@pytest.mark.timeout(60)
async def test_TC_E_13_CS(prefix: str, tmp_path: Path) -> None:
    token = {"idToken": "AABBCCDD", "type": "ISO14443"}
    async with charger(BROKER, prefix, tmp_path, _starting_at("Authorized")) as rig:
        answer = await rig.csms.call(
            call.RequestStartTransaction(id_token=token, remote_start_id=13, evse_id=1)
        )
        assert answer.status == "Accepted"
        started = await rig.csms.expect("TransactionEvent", event("Started"))
    assert started["triggerReason"] == "RemoteStart"
    assert started["idToken"] == token
    assert started["transactionInfo"]["remoteStartId"] == 13


# --- E03, E05, E06, E07: local start and stop (Core conditional) -------------------------------


@pytest.mark.timeout(60)
async def test_TC_E_03_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        transaction_id = await energy_transfer_started(rig)  # cable first, then the card
    assert transaction_id


@pytest.mark.timeout(60)
async def test_TC_E_04_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await _authorized_first(rig)  # Authorized (local), no EV yet
        await rig.evses[0].plug_in()  # EnergyTransferStarted, part 1
        occupied = await rig.csms.expect("StatusNotification")
        started = await rig.csms.expect("TransactionEvent", event("Started"))
        await rig.evses[0].charge()  # part 2
        await rig.csms.expect(
            "TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging"
        )
    assert occupied["connectorStatus"] == "Occupied"
    assert started["idToken"] == {"idToken": "AABBCCDD", "type": "ISO14443"}


@pytest.mark.timeout(60)
async def test_TC_E_05_CS(prefix: str, tmp_path: Path) -> None:
    timeout_s = 20
    settings: Settings = {
        "TxCtrlr.EVConnectionTimeOut": timeout_s,
        "TxCtrlr.TxStartPoint": "Authorized",
        "AuthCacheCtrlr.Enabled": False,
        "AuthCtrlr.LocalPreAuthorize": False,
    }
    async with charger(BROKER, prefix, tmp_path, settings, auth_timeout_s=timeout_s) as rig:
        await _authorized_first(rig)
        started = await rig.csms.expect("TransactionEvent", event("Started"))
        ended = await rig.csms.expect("TransactionEvent", event("Ended"), wait=20)  # step 1
        assert ended["triggerReason"] == "EVConnectTimeout"
        # Steps 3 and 4: the EVSE is ready for another session.
        await _authorized_first(rig)
        again = await rig.csms.expect("TransactionEvent", event("Started"))
        await rig.evses[0].plug_in()
        await rig.evses[0].charge()
        await rig.csms.expect(
            "TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging"
        )
    assert ended["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
    assert again["transactionInfo"]["transactionId"] != started["transactionInfo"]["transactionId"]


@pytest.mark.timeout(60)
async def test_TC_E_06_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        transaction_id = await energy_transfer_started(rig)
        await rig.present(card())  # StopAuthorized (local): the same card
        stopping = await rig.csms.expect("TransactionEvent")
        ended = stopping
        while ended["eventType"] != "Ended":
            ended = await rig.csms.expect("TransactionEvent")
        await rig.evses[0].unplug()  # EVDisconnected, ParkingBayUnoccupied
        available = await rig.csms.expect("StatusNotification")
    assert stopping["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["transactionId"] == transaction_id
    assert ended["transactionInfo"].get("stoppedReason", "Local") == "Local"
    assert available["connectorStatus"] == "Available"
