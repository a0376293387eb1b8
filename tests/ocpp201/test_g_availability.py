# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_G_01_CS)
"""G01, G03, G04: connector status and ChangeAvailability (Part 6, TC_G_01 to TC_G_21)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from ocpp.v201 import call

from evstack.generated.types.evse_manager import StopTransactionReason

from .conftest import StartCharger
from .csms import Csms
from .harness import (
    SECURITY_EVENT,
    booted,
    connectors,
    energy_transfer_started,
    needs_block,
    statuses,
    trigger_heartbeat,
    unavailable,
)
from .stand_ins import EvseStandIn

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]

EVSE_1 = {"id": 1}
CONNECTOR_1 = {"id": 1, "connector_id": 1}


async def change(csms: Csms, status: str, evse: dict[str, int] | None = None) -> str:
    response = await csms.call(call.ChangeAvailability(operational_status=status, evse=evse))
    result: str = response.status
    return result


async def told(evse: EvseStandIn) -> bool:
    """What the station told the EVSE last (enable_disable), waiting for it."""
    return await asyncio.wait_for(evse.enable_calls.get(), 10)


def forget_calls(*evses: EvseStandIn) -> None:
    for evse in evses:
        while not evse.enable_calls.empty():
            evse.enable_calls.get_nowait()


async def no_status_until_mark(csms: Csms, mark: int) -> None:
    await trigger_heartbeat(csms)
    assert "StatusNotification" not in [m.action for m in csms.history[mark:]]


async def test_TC_G_01_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms) as station:
        await booted(csms, evses=1)
        await station.evse(1).plug_in()  # EVConnectedPreSession
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Occupied"}


async def test_TC_G_02_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms) as station:
        await booted(csms, evses=1)
        await station.evse(1).plug_in()
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Occupied"}
        await station.evse(1).unplug()
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Available"}


async def test_TC_G_03_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        forget_calls(*station.evses)
        await unavailable(csms, [(1, 1)], evse=EVSE_1)
        assert await told(station.evse(1)) is False
        assert station.evse(2).enable_calls.empty()


async def test_TC_G_04_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await unavailable(csms, [(1, 1)], evse=EVSE_1)
        forget_calls(*station.evses)
        assert await change(csms, "Operative", EVSE_1) == "Accepted"
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Available"}
        assert await told(station.evse(1)) is True


async def test_TC_G_05_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        forget_calls(*station.evses)
        await unavailable(csms, connectors(2))
        assert [await told(evse) for evse in station.evses] == [False, False]


async def test_TC_G_06_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await unavailable(csms, connectors(2))
        forget_calls(*station.evses)
        assert await change(csms, "Operative") == "Accepted"
        assert set((await statuses(csms, connectors(2))).values()) == {"Available"}
        assert [await told(evse) for evse in station.evses] == [True, True]


async def test_TC_G_07_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        await unavailable(csms, [(1, 1)], evse=CONNECTOR_1)


async def test_TC_G_08_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        await unavailable(csms, [(1, 1)], evse=CONNECTOR_1)
        assert await change(csms, "Operative", CONNECTOR_1) == "Accepted"
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Available"}


async def test_TC_G_09_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        mark = len(csms.history)
        assert await change(csms, "Operative", EVSE_1) == "Accepted"
        await no_status_until_mark(csms, mark)


async def test_TC_G_10_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        await unavailable(csms, [(1, 1)], evse=EVSE_1)
        mark = len(csms.history)
        assert await change(csms, "Inoperative", EVSE_1) == "Accepted"
        await no_status_until_mark(csms, mark)


async def scheduled(
    csms: Csms, charger: StartCharger, evse: dict[str, int] | None, unavailable_now: list[Any]
) -> None:
    """G_11, G_14, G_17: Inoperative during a transaction on EVSE 1 is Scheduled; what has no
    transaction goes Unavailable at once, EVSE 1 once StopAuthorized ended its transaction."""
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await energy_transfer_started(csms, station.evse(1), 1)
        forget_calls(*station.evses)
        assert await change(csms, "Inoperative", evse) == "Scheduled"
        if unavailable_now:
            assert set((await statuses(csms, unavailable_now)).values()) == {"Unavailable"}
        assert station.evse(1).enable_calls.empty()  # the transaction goes on
        assert station.evse(1).transaction is not None
        await station.evse(1).finish_transaction(StopTransactionReason.Local)  # StopAuthorized
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Unavailable"}
        assert await told(station.evse(1)) is False


async def test_TC_G_11_CS(csms: Csms, charger: StartCharger) -> None:
    await scheduled(csms, charger, EVSE_1, [])


async def test_TC_G_12_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        assert await change(csms, "Operative") == "Accepted"
        assert set((await statuses(csms, connectors(2))).values()) == {"Available"}


async def test_TC_G_13_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        await unavailable(csms, connectors(2))
        assert await change(csms, "Inoperative") == "Accepted"
        assert set((await statuses(csms, connectors(2))).values()) == {"Unavailable"}


async def test_TC_G_14_CS(csms: Csms, charger: StartCharger) -> None:
    await scheduled(csms, charger, None, [(2, 1)])


async def test_TC_G_15_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        mark = len(csms.history)
        assert await change(csms, "Operative", CONNECTOR_1) == "Accepted"
        await no_status_until_mark(csms, mark)


async def test_TC_G_16_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms, evses=2):
        await booted(csms, evses=2)
        await unavailable(csms, [(1, 1)], evse=CONNECTOR_1)
        mark = len(csms.history)
        assert await change(csms, "Inoperative", CONNECTOR_1) == "Accepted"
        await no_status_until_mark(csms, mark)


async def test_TC_G_17_CS(csms: Csms, charger: StartCharger) -> None:
    await scheduled(csms, charger, CONNECTOR_1, [])


async def persists(csms: Csms, charger: StartCharger, evse: dict[str, int] | None) -> None:
    """G_18, G_19, G_21: Inoperative, then a power cycle: still Unavailable after the boot."""
    after = {(1, 1): "Unavailable", (2, 1): "Unavailable" if evse is None else "Available"}
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        assert await change(csms, "Inoperative", evse) == "Accepted"
        assert await statuses(csms, connectors(2) if evse is None else [(1, 1)]) == {
            c: s for c, s in after.items() if evse is None or c == (1, 1)
        }
    async with charger(csms, evses=2) as station:  # the power cycle
        await booted(csms, evses=2, reason="PowerUp", status=after, security_event=True)
        assert await told(station.evse(1)) is False


@needs_block("security", SECURITY_EVENT)
async def test_TC_G_18_CS(csms: Csms, charger: StartCharger) -> None:
    await persists(csms, charger, EVSE_1)


@needs_block("security", SECURITY_EVENT)
async def test_TC_G_19_CS(csms: Csms, charger: StartCharger) -> None:
    await persists(csms, charger, CONNECTOR_1)


@needs_block("security", SECURITY_EVENT)
async def test_TC_G_21_CS(csms: Csms, charger: StartCharger) -> None:
    await persists(csms, charger, None)
