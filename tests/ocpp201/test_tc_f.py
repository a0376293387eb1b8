"""OCA Part 6's remote control cases (F) for the station, one test per case, named by its id.

Each follows the case's steps and checks its tool validations. The charger around the station
is tests/ocpp201/tx_rig.py (EVSE stand-ins, Auth, a card reader, simulated time); TC_F_20
needs only the station and runs on conftest's plain charger.
"""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_F_04_CS)

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from evstack.runtime.mqtt import BrokerSettings

from .conftest import StartCharger
from .csms import Csms
from .test_tc_e import energy_transfer_started, event
from .tx_rig import Rig, card, charger

pytestmark = [pytest.mark.mosquitto]

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
TOKEN = {"idToken": "AABBCCDD", "type": "ISO14443"}
Payload = dict[str, Any]


@pytest.fixture
def prefix() -> str:
    return f"test-rc-{secrets.token_hex(4)}"


async def authorized_remote(rig: Rig, remote_start_id: int) -> Payload:
    """Reusable State Authorized (remote), Main B, from no EV: RequestStartTransaction for
    EVSE 1 is Accepted, the token is authorized (AuthorizeRemoteStart) and, with TxStartPoint
    Authorized, the transaction starts: its first event says RemoteStart and carries the
    remoteStartId. Returns that event."""
    mark = len(rig.csms.history)
    answer = await rig.csms.call(
        call.RequestStartTransaction(id_token=TOKEN, remote_start_id=remote_start_id, evse_id=1)
    )
    assert answer.status == "Accepted"
    started = await rig.csms.expect("TransactionEvent", event("Started"))
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == remote_start_id
    assert started["idToken"] == TOKEN
    assert await rig.csms.seen("Authorize", mark)  # AuthorizeRemoteStart is true
    return started


EV_CONNECTION_TIMEOUT_S = 20  # simulated seconds


@pytest.mark.timeout(60)
async def test_TC_F_04_CS(prefix: str, tmp_path: Path) -> None:
    settings: dict[str, str | int | float | bool] = {
        "TxCtrlr.EVConnectionTimeOut": EV_CONNECTION_TIMEOUT_S,
        "TxCtrlr.TxStartPoint": "Authorized",
    }
    # Auth lets go of the token after the same time, as a charger's config would have it.
    async with charger(
        BROKER, prefix, tmp_path, settings, auth_timeout_s=EV_CONNECTION_TIMEOUT_S
    ) as rig:
        first = await authorized_remote(rig, remote_start_id=41)
        # Step 1: no EV comes; after EVConnectionTimeOut the transaction ends.
        ended = await rig.csms.expect("TransactionEvent", event("Ended"), wait=20)
        assert ended["triggerReason"] == "EVConnectTimeout"
        tx_id = first["transactionInfo"]["transactionId"]
        assert ended["transactionInfo"]["transactionId"] == tx_id
        # Step 3: the EVSE is ready for another session.
        again = await authorized_remote(rig, remote_start_id=42)
    assert again["transactionInfo"]["transactionId"] != tx_id


@pytest.mark.timeout(60)
async def test_TC_F_08_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        transaction_id = await energy_transfer_started(rig)
        # Reusable State StopAuthorized (remote), Main B.
        answer = await rig.csms.call(call.RequestStopTransaction(transaction_id=transaction_id))
        assert answer.status == "Accepted"
        stopped = await rig.csms.expect("TransactionEvent")
        ended = stopped
        while ended["eventType"] != "Ended":
            ended = await rig.csms.expect("TransactionEvent")
    assert stopped["triggerReason"] == "RemoteStop"
    assert stopped["transactionInfo"]["transactionId"] == transaction_id
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert rig.evses[0].stops == ["Remote"]


@pytest.mark.timeout(60)
async def test_TC_F_09_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        transaction_id = await energy_transfer_started(rig)
        other = f"not-{transaction_id}"[:36]
        answer = await rig.csms.call(call.RequestStopTransaction(transaction_id=other))
        assert answer.status == "Rejected"
        assert rig.evses[0].running is not None  # still charging
    assert rig.evses[0].stops == []


@pytest.mark.timeout(30)
async def test_TC_F_20_CS(charger: StartCharger, csms: Csms) -> None:
    async with charger(csms):
        await csms.expect("BootNotification")
        await csms.expect("StatusNotification")
        mark = len(csms.history)
        answer = await csms.call(call.TriggerMessage(requested_message="Heartbeat"))
        assert answer.status == "Accepted"
        heartbeat = await csms.seen("Heartbeat", mark)
    assert heartbeat == {}


# --- Core conditional cases whose condition the station meets ---------------------------------


async def charging(rig: Rig, evse: int = 1) -> None:
    """EnergyTransferStarted, Part 2: the EV draws current; the event says Charging."""
    await rig.evses[evse - 1].charge()
    update = await rig.csms.expect("TransactionEvent", event("Updated", "ChargingStateChanged"))
    while update["transactionInfo"].get("chargingState") != "Charging":
        update = await rig.csms.expect("TransactionEvent", event("Updated"))


@pytest.mark.timeout(60)
async def test_TC_F_01_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        # EVConnectedPreSession (TxStartPoint PowerPathClosed: no transaction yet).
        await rig.evses[0].plug_in()
        occupied = await rig.csms.expect("StatusNotification")
        assert occupied["connectorStatus"] == "Occupied"
        # Authorized (remote): the transaction starts at once, the EV being there.
        mark = len(rig.csms.history)
        answer = await rig.csms.call(
            call.RequestStartTransaction(id_token=TOKEN, remote_start_id=11, evse_id=1)
        )
        assert answer.status == "Accepted"
        started = await rig.csms.expect("TransactionEvent", event("Started"))
        await rig.csms.seen("Authorize", mark)
        await charging(rig)
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 11
    assert started["idToken"] == TOKEN
    assert started["evse"] == {"id": 1, "connectorId": 1}


async def _remote_start_first(rig: Rig, authorize: bool) -> Payload:
    """Authorized (remote) from ParkingBayOccupied, then EnergyTransferStarted: the Started
    event (TxStartPoint PowerPathClosed: when the EV is plugged in)."""
    mark = len(rig.csms.history)
    answer = await rig.csms.call(
        call.RequestStartTransaction(id_token=TOKEN, remote_start_id=12, evse_id=1)
    )
    assert answer.status == "Accepted"
    if authorize:
        await rig.csms.seen("Authorize", mark)
    await rig.evses[0].plug_in()  # within EVConnectionTimeOut
    started = await rig.csms.expect("TransactionEvent", event("Started"))
    await charging(rig)
    return started


@pytest.mark.timeout(60)
async def test_TC_F_02_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, {"AuthCtrlr.AuthorizeRemoteStart": True}) as rig:
        started = await _remote_start_first(rig, authorize=True)
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 12
    assert started["idToken"] == TOKEN


@pytest.mark.timeout(60)
async def test_TC_F_03_CS(prefix: str, tmp_path: Path) -> None:
    settings: dict[str, str | int | float | bool] = {"AuthCtrlr.AuthorizeRemoteStart": False}
    async with charger(BROKER, prefix, tmp_path, settings) as rig:
        started = await _remote_start_first(rig, authorize=False)
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 12
    assert not [m for m in rig.csms.history if m.action == "Authorize"]


async def _meter_reads(rig: Rig) -> None:
    """Every EVSE's meter has spoken (a trigger has values to send)."""
    for evse in rig.evses:
        await evse.read(1.0)
    await asyncio.sleep(0.2)


@pytest.mark.timeout(60)
async def test_TC_F_11_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, evse_count=2) as rig:
        await _meter_reads(rig)
        mark = len(rig.csms.history)
        answer = await rig.csms.call(
            call.TriggerMessage(requested_message="MeterValues", evse={"id": 2})
        )
        assert answer.status == "Accepted"
        values = await rig.csms.seen("MeterValues", mark)
    assert values["evseId"] == 2
    assert values["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


@pytest.mark.timeout(60)
async def test_TC_F_12_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, evse_count=2) as rig:
        await _meter_reads(rig)
        mark = len(rig.csms.history)
        answer = await rig.csms.call(call.TriggerMessage(requested_message="MeterValues"))
        assert answer.status == "Accepted"
        await rig.csms.seen("MeterValues", mark, lambda p: p["evseId"] == 1)
        await rig.csms.seen("MeterValues", mark, lambda p: p["evseId"] == 2)
    sent = [m.payload for m in rig.csms.history[mark:] if m.action == "MeterValues"]
    for values in sent:
        assert values["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


def _assert_triggered(update: Payload, evse: int) -> None:
    assert update["triggerReason"] == "Trigger"
    assert update.get("evse", {"id": evse})["id"] == evse
    assert update["transactionInfo"]["chargingState"] == "Charging"
    assert update["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


@pytest.mark.timeout(60)
async def test_TC_F_13_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await energy_transfer_started(rig)
        await rig.evses[0].read(10.0)
        answer = await rig.csms.call(
            call.TriggerMessage(requested_message="TransactionEvent", evse={"id": 1})
        )
        assert answer.status == "Accepted"
        update = await rig.csms.expect("TransactionEvent", event("Updated", "Trigger"))
    _assert_triggered(update, 1)


@pytest.mark.timeout(60)
async def test_TC_F_14_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, evse_count=2) as rig:
        for number, token in ((1, "AABBCCDD"), (2, "11223344")):
            await rig.evses[number - 1].plug_in()
            await rig.present(card(token))
            await rig.csms.expect("TransactionEvent", event("Started"))
            await charging(rig, number)
            await rig.evses[number - 1].read(10.0)
        answer = await rig.csms.call(call.TriggerMessage(requested_message="TransactionEvent"))
        assert answer.status == "Accepted"
        updates = [
            await rig.csms.expect("TransactionEvent", event("Updated", "Trigger")) for _ in (1, 2)
        ]
    by_evse = {u["evse"]["id"]: u for u in updates}
    assert set(by_evse) == {1, 2}
    for number, update in by_evse.items():
        _assert_triggered(update, number)


@pytest.mark.timeout(60)
async def test_TC_F_23_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        mark = len(rig.csms.history)
        answer = await rig.csms.call(
            call.TriggerMessage(
                requested_message="StatusNotification", evse={"id": 1, "connector_id": 1}
            )
        )
        assert answer.status == "Accepted"
        status = await rig.csms.seen("StatusNotification", mark)
    assert (status["evseId"], status["connectorId"]) == (1, 1)
    assert status["connectorStatus"] == "Available"


@pytest.mark.timeout(60)
async def test_TC_F_24_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await rig.evses[0].plug_in()  # EVConnectedPreSession
        await rig.csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Occupied")
        mark = len(rig.csms.history)
        answer = await rig.csms.call(
            call.TriggerMessage(
                requested_message="StatusNotification", evse={"id": 1, "connector_id": 1}
            )
        )
        assert answer.status == "Accepted"
        status = await rig.csms.seen("StatusNotification", mark)
    assert (status["evseId"], status["connectorId"]) == (1, 1)
    assert status["connectorStatus"] == "Occupied"


@pytest.mark.timeout(30)
async def test_TC_F_27_CS(charger: StartCharger, csms: Csms) -> None:
    async with charger(csms):
        await csms.expect("BootNotification")
        answer = await csms.call(call.TriggerMessage(requested_message="SignCombinedCertificate"))
    assert answer.status == "NotImplemented"


@pytest.mark.timeout(30)
async def test_TC_F_26_CS(charger: StartCharger, csms: Csms) -> None:
    async with charger(csms):
        await csms.expect("BootNotification")
        mark = len(csms.history)
        answer = await csms.call(call.TriggerMessage(requested_message="BootNotification"))
        assert answer.status == "Rejected"  # Accepted already (F06.FR.17)
        await csms.call(call.GetTransactionStatus())  # what the station sends meanwhile
    assert not [m for m in csms.history[mark:] if m.action == "BootNotification"]
