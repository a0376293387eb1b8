"""B01-B03: the boot, Accepted, Pending and Rejected (Part 6, TC_B_01, 02, 03, 30)."""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_B_01_CS)
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ocpp.exceptions import SecurityError
from ocpp.v201 import call, call_result

from .conftest import StartCharger
from .csms import Csms, now
from .harness import booted, connectors, statuses, variable

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


def registration(status: str, interval: int) -> Any:
    return lambda payload: call_result.BootNotification(
        current_time=now(), interval=interval, status=status
    )


async def test_TC_B_01_CS(csms: Csms, charger: StartCharger) -> None:
    """Cold boot, Accepted: BootNotification, then every connector's status."""
    async with charger(csms, evses=2):
        boot = await booted(csms, evses=2, reason="PowerUp")
        station = boot["chargingStation"]
        assert (station["vendorName"], station["model"]) == ("evstack", "SIL-AC")
        assert [m.action for m in csms.history[:1]] == ["BootNotification"]


async def test_TC_B_02_CS(csms: Csms, charger: StartCharger) -> None:
    """Pending: the CSMS reads and sets the device model and asks for a report; the station
    starts no transaction and sends nothing of its own until the triggered boot is Accepted."""
    csms.respond("BootNotification", registration("Pending", 300))  # 30 s of wall time
    async with charger(csms, evses=2):
        await csms.expect("BootNotification")
        result = (
            await csms.call(
                call.SetVariables(
                    set_variable_data=[variable("OCPPCommCtrlr", "OfflineThreshold", "300")]
                )
            )
        ).set_variable_result[0]
        assert result["attribute_status"] == "Accepted"
        got = (
            await csms.call(
                call.GetVariables(get_variable_data=[variable("OCPPCommCtrlr", "OfflineThreshold")])
            )
        ).get_variable_result[0]
        assert (got["attribute_status"], got["attribute_value"]) == ("Accepted", "300")
        report = await csms.call(call.GetBaseReport(request_id=7, report_base="FullInventory"))
        assert report.status == "Accepted"
        seq_no = 0
        while True:
            part = await csms.expect("NotifyReport")
            assert (part["requestId"], part["seqNo"]) == (7, seq_no)
            seq_no += 1
            if not part.get("tbc", False):
                break
        start = await csms.call(
            call.RequestStartTransaction(
                id_token={"id_token": "AABBCCDD", "type": "ISO14443"}, remote_start_id=1
            )
        )
        assert start.status == "Rejected"
        csms.respond("BootNotification", registration("Accepted", 300))
        trigger = await csms.call(call.TriggerMessage(requested_message="BootNotification"))
        assert trigger.status == "Accepted"
        boot = await csms.expect("BootNotification")
        assert boot["reason"] == "Triggered"
        assert set((await statuses(csms, connectors(2))).values()) == {"Available"}
    actions = [m.action for m in csms.history]
    accepted = actions.index("BootNotification", 1)  # the triggered one
    assert set(actions[:accepted]) == {"BootNotification", "NotifyReport"}


async def test_TC_B_03_CS(csms: Csms, charger: StartCharger) -> None:
    """Rejected: nothing but a new BootNotification, no sooner than the interval."""
    csms.respond("BootNotification", registration("Rejected", 20))
    async with charger(csms) as station:
        await csms.expect("BootNotification")
        rejected_at = asyncio.get_running_loop().time()
        csms.respond("BootNotification", registration("Accepted", 300))
        await csms.expect("BootNotification")
        waited = asyncio.get_running_loop().time() - rejected_at
        assert waited >= station.wall(20) * 0.95
        assert set((await statuses(csms, connectors(1))).values()) == {"Available"}
    actions = [m.action for m in csms.history]
    assert actions[:2] == ["BootNotification", "BootNotification"]


async def test_TC_B_30_CS(csms: Csms, charger: StartCharger) -> None:
    """Rejected: a CSMS request is answered SecurityError, the connection stays."""
    csms.respond("BootNotification", registration("Rejected", 300))
    async with charger(csms):
        await csms.expect("BootNotification")
        with pytest.raises(SecurityError):
            await csms.call(call.GetBaseReport(request_id=1, report_base="FullInventory"))
        assert csms.attempts == 1  # the same connection, never dropped
    assert [m.action for m in csms.history] == ["BootNotification"]
