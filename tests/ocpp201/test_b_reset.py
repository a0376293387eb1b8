# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_B_20_CS)
"""B11, B12: Reset of the station, with and without transactions (Part 6, TC_B_20 to TC_B_41)."""

from __future__ import annotations

import pytest
from ocpp.v201 import call

from evstack.generated.types.evse_manager import StopTransactionReason

from .conftest import StartCharger
from .csms import Csms
from .harness import (
    SECURITY_EVENT,
    booted,
    energy_transfer_started,
    needs_block,
    statuses,
    unavailable,
)

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


async def reset(csms: Csms, kind: str, evse_id: int | None = None) -> str:
    response = await csms.call(call.Reset(type=kind, evse_id=evse_id))
    status: str = response.status
    return status


@needs_block("security", SECURITY_EVENT)
async def test_TC_B_20_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        assert await reset(csms, "OnIdle") == "Accepted"
        await booted(csms, evses=2, reason="RemoteReset", security_event=True)


@needs_block("security", SECURITY_EVENT)
async def test_TC_B_21_CS(csms: Csms, charger: StartCharger) -> None:
    """OnIdle during a transaction: Scheduled; the reboot follows its end (ScheduledReset)."""
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await energy_transfer_started(csms, station.evse(1), 1)
        assert await reset(csms, "OnIdle") == "Scheduled"
        await station.evse(1).finish_transaction(StopTransactionReason.Local)  # StopAuthorized
        ended = await csms.expect("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended["transactionInfo"].get("stoppedReason", "Local") == "Local"
        await booted(
            csms,
            evses=2,
            reason="ScheduledReset",
            status={(1, 1): "Occupied", (2, 1): "Available"},
            security_event=True,
        )


async def test_TC_B_22_CS(csms: Csms, charger: StartCharger) -> None:
    """Immediate during a transaction: the transaction ends (ImmediateReset), then the boot."""
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await energy_transfer_started(csms, station.evse(1), 1)
        assert await reset(csms, "Immediate") == "Accepted"
        ended = await csms.expect("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert ended["triggerReason"] == "ResetCommand"
        assert ended["transactionInfo"]["chargingState"] == "EVConnected"
        assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert "idToken" not in ended
        await booted(
            csms, evses=2, reason="RemoteReset", status={(1, 1): "Occupied", (2, 1): "Available"}
        )
        assert await station.evse(1).stops.get() == StopTransactionReason.HardReset


@needs_block("security", SECURITY_EVENT)
async def test_TC_B_23_CS(csms: Csms, charger: StartCharger) -> None:
    """An Unavailable connector stays Unavailable through the reset."""
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        await unavailable(csms, [(1, 1)], evse={"id": 1, "connector_id": 1})
        assert await reset(csms, "OnIdle") == "Accepted"
        await booted(
            csms,
            evses=2,
            reason="RemoteReset",
            status={(1, 1): "Unavailable", (2, 1): "Available"},
            security_event=True,
        )


async def test_TC_B_41_CS(csms: Csms, charger: StartCharger) -> None:
    """OnIdle with two transactions: the reboot waits for the second to end."""
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await energy_transfer_started(csms, station.evse(1), 1)
        await energy_transfer_started(csms, station.evse(2), 2)
        assert await reset(csms, "OnIdle") == "Scheduled"
        await station.evse(1).finish_transaction(StopTransactionReason.Local)
        await station.evse(1).unplug()
        assert (await statuses(csms, [(1, 1)]))[(1, 1)] == "Available"
        assert "BootNotification" not in [m.action for m in csms.history[1:]]
        await station.evse(2).finish_transaction(StopTransactionReason.Local)
        await booted(
            csms,
            evses=2,
            reason="ScheduledReset",
            status={(1, 1): "Available", (2, 1): "Occupied"},
        )


async def test_TC_B_28_CS(csms: Csms, charger: StartCharger) -> None:
    """Resetting one EVSE is not supported: Rejected."""
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        assert await reset(csms, "OnIdle", evse_id=1) == "Rejected"


async def test_TC_B_29_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await energy_transfer_started(csms, station.evse(1), 1)
        assert await reset(csms, "OnIdle", evse_id=1) == "Rejected"
        assert station.evse(1).transaction is not None
