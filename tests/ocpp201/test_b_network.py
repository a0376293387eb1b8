# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_B_43_CS)
"""B04, B09, B10 and Part 4's reconnection: network profiles, the fallback, the back-off, and
what the CSMS hears after a time offline (Part 6, TC_B_43 to TC_B_57)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v201 import call

from .conftest import PASSWORD, StartCharger
from .csms import Csms
from .harness import booted, configure, set_variables, statuses, trigger_heartbeat, variable

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]


def profile(url: str, security_profile: int = 1) -> dict[str, Any]:
    return {
        "ocpp_version": "OCPP20",
        "ocpp_transport": "JSON",
        "ocpp_csms_url": url,
        "message_timeout": 30,
        "security_profile": security_profile,
        "ocpp_interface": "Wired0",
    }


async def set_profile(csms: Csms, slot: int, url: str) -> str:
    request = call.SetNetworkProfile(configuration_slot=slot, connection_data=profile(url))
    status: str = (await csms.call(request)).status
    return status


async def reset(csms: Csms) -> None:
    assert (await csms.call(call.Reset(type="OnIdle"))).status == "Accepted"


@pytest.fixture
async def second_csms() -> AsyncIterator[Csms]:
    """The OCTT's other endpoint, for a second configuration slot."""
    async with Csms(password=PASSWORD) as other:
        yield other
    assert not other.invalid


def now() -> float:
    return asyncio.get_running_loop().time()


@pytest.fixture
def closed_port_url() -> str:
    """A CSMS URL nobody listens at (a loopback port bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ocpp"


async def test_TC_B_43_CS(csms: Csms, charger: StartCharger) -> None:
    async with charger(csms):
        await booted(csms, evses=1)
        assert await set_profile(csms, 999, csms.url) == "Rejected"


async def test_TC_B_45_CS(csms: Csms, second_csms: Csms, charger: StartCharger) -> None:
    """A profile in slot 2, priority 2,1, a reset: the station boots at the new CSMS."""
    async with charger(csms):
        await booted(csms, evses=1)
        assert await set_profile(csms, 2, second_csms.url) == "Accepted"
        (result,) = await set_variables(
            csms, variable("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1")
        )
        assert result["attribute_status"] in ("Accepted", "RebootRequired")
        await reset(csms)
        await booted(second_csms, evses=1, reason="RemoteReset")


async def test_TC_B_46_CS(csms: Csms, closed_port_url: str, charger: StartCharger) -> None:
    """Slot 2 cannot be reached: after NetworkProfileConnectionAttempts tries the station
    falls back to slot 1."""
    async with charger(csms):
        await booted(csms, evses=1)
        await configure(
            csms,
            ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "2"),
            # Shorter waits than the seed's, so that the fallback comes within the test.
            ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", "5"),
            ("OCPPCommCtrlr", "RetryBackOffRandomRange", "0"),
        )
        assert await set_profile(csms, 2, closed_port_url) == "Accepted"
        await configure(csms, ("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"))
        drain(csms.connections)
        await reset(csms)
        assert await csms.connected() == 2  # back on slot 1, the second connection
        await booted(csms, evses=1, reason="RemoteReset")


async def test_TC_B_49_CS(csms: Csms, second_csms: Csms, charger: StartCharger) -> None:
    """Only slot 2 in the priority and it refuses: the station falls back to the profile it
    last connected with (B10.FR.07), and after RetryBackOffWaitMinimum tries again."""
    async with charger(csms) as station:
        await booted(csms, evses=1)
        wait = 10
        await configure(
            csms,
            ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "1"),
            ("OCPPCommCtrlr", "RetryBackOffRepeatTimes", "0"),
            ("OCPPCommCtrlr", "RetryBackOffRandomRange", "0"),
            ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", str(wait)),
        )
        assert await set_profile(csms, 2, second_csms.url) == "Accepted"
        await configure(csms, ("OCPPCommCtrlr", "NetworkConfigurationPriority", "2"))
        for peer in (csms, second_csms):
            drain(peer.attempted)
            drain(peer.connections)
            peer.accepting = False
        await reset(csms)
        new = await asyncio.wait_for(second_csms.attempted.get(), 10)
        old = await asyncio.wait_for(csms.attempted.get(), 10)  # the fallback
        assert old - new >= station.wall(wait) * 0.95
        csms.accepting = second_csms.accepting = True
        attempts = [asyncio.ensure_future(peer.attempted.get()) for peer in (csms, second_csms)]
        done, pending = await asyncio.wait(attempts, timeout=10, return_when="FIRST_COMPLETED")
        for waiting in pending:
            waiting.cancel()
        (again,) = done
        assert again.result() - old >= station.wall(wait) * 0.95
        back = csms if attempts[0] in done else second_csms
        await booted(back, evses=1, reason="RemoteReset")


def drain(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        queue.get_nowait()


async def test_TC_B_57_CS(csms: Csms, charger: StartCharger) -> None:
    """Part 4, 5.3: after a connection loss the station waits RetryBackOffWaitMinimum, and
    twice that after a failed attempt."""
    wait = 10
    async with charger(csms) as station:
        await booted(csms, evses=1)
        await configure(
            csms,
            ("OCPPCommCtrlr", "RetryBackOffRepeatTimes", "2"),
            ("OCPPCommCtrlr", "RetryBackOffRandomRange", "0"),
            ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", str(wait)),
        )
        drain(csms.connections)
        dropped = now()
        await csms.drop()
        await csms.connected()
        first = now() - dropped
        assert first >= station.wall(wait) * 0.95
        csms.accepting = False
        drain(csms.attempted)
        dropped = now()
        await csms.drop()
        refused = await asyncio.wait_for(csms.attempted.get(), 10)
        assert refused - dropped >= station.wall(wait) * 0.95
        csms.accepting = True
        await csms.connected()
        assert now() - dropped >= 3 * first * 0.95
        assert now() - refused >= station.wall(2 * wait) * 0.95


async def offline_then_plug_in(csms: Csms, station: Any, threshold: int, wait_minimum: int) -> None:
    """B04's steps 1-3: offline for about `wait_minimum`, an EV plugged in meanwhile."""
    await configure(
        csms,
        ("OCPPCommCtrlr", "OfflineThreshold", str(threshold)),
        ("OCPPCommCtrlr", "RetryBackOffWaitMinimum", str(wait_minimum)),
        ("OCPPCommCtrlr", "RetryBackOffRandomRange", "0"),
    )
    await trigger_heartbeat(csms)  # the settings are in before the connection goes
    drain(csms.connections)
    await csms.drop()
    await station.evse(1).plug_in()
    await csms.connected()


async def test_TC_B_51_CS(csms: Csms, charger: StartCharger) -> None:
    """Offline longer than OfflineThreshold: every connector's status afterwards."""
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        await offline_then_plug_in(csms, station, threshold=30, wait_minimum=40)
        assert await statuses(csms, [(1, 1), (2, 1)]) == {(1, 1): "Occupied", (2, 1): "Available"}


async def test_TC_B_52_CS(csms: Csms, charger: StartCharger) -> None:
    """Offline shorter than OfflineThreshold: only the connector that changed."""
    async with charger(csms, evses=2) as station:
        await booted(csms, evses=2)
        mark = len(csms.history)
        await offline_then_plug_in(csms, station, threshold=30, wait_minimum=20)
        assert await statuses(csms, [(1, 1)]) == {(1, 1): "Occupied"}
        await trigger_heartbeat(csms)
        told = [
            (m.payload["evseId"], m.payload["connectorStatus"])
            for m in csms.history[mark:]
            if m.action == "StatusNotification"
        ]
        assert told == [(1, "Occupied")]
