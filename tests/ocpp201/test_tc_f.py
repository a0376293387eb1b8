"""OCA Part 6's remote control cases (F) for the station, one test per case, named by its id.

Each follows the case's steps and checks its tool validations. The charger around the station
is tests/ocpp201/tx_rig.py (EVSE stand-ins, Auth, a card reader, simulated time); TC_F_20
needs only the station and runs on conftest's plain charger.
"""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_F_04_CS)

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from evstack.runtime.mqtt import BrokerSettings

from .conftest import StartCharger
from .csms import Csms
from .test_tc_e import energy_transfer_started, event
from .tx_rig import Rig, charger

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
