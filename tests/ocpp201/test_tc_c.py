"""OCA Part 6's authorization cases (C) for the station, one test per case, named by its id:
the Core conditional ones whose condition the station meets.

Each follows the case's steps and checks its tool validations. The charger around the station
is tests/ocpp201/tx_rig.py: EVSE stand-ins, Auth (asking only the station) and a card reader,
on simulated time.
"""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_C_02_CS)

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call, call_result

from evstack.runtime.mqtt import BrokerSettings

from .test_tc_e import event
from .tx_rig import SPEEDUP, Rig, card, charger

pytestmark = [pytest.mark.mosquitto]

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
VALID = {"idToken": "AABBCCDD", "type": "ISO14443"}
OTHER = "DEADBEEF"  # the case's invalid, blocked, expired or unknown card
MESSAGE_TIMEOUT_S = 30  # the OCTT waits this long for what must not come
Payload = dict[str, Any]
Settings = dict[str, str | int | float | bool]


@pytest.fixture
def prefix() -> str:
    return f"test-auth-{secrets.token_hex(4)}"


def answering(status: str) -> Any:
    """The CSMS's Authorize answer: `status` for the other card, Accepted for the valid one."""

    def answer(payload: Payload) -> Any:
        chosen = "Accepted" if payload["idToken"]["idToken"] == VALID["idToken"] else status
        return call_result.Authorize(id_token_info={"status": chosen})

    return answer


async def _refused(rig: Rig, status: str) -> None:
    """EVConnectedPreSession; the card is presented; the CSMS says `status`; then, for the
    message timeout, no TransactionEvent."""
    rig.csms.respond("Authorize", answering(status))
    await rig.evses[0].plug_in()
    await rig.csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Occupied")
    await rig.present(card(OTHER))
    authorize = await rig.csms.expect("Authorize")
    assert authorize["idToken"] == {"idToken": OTHER, "type": "ISO14443"}
    mark = len(rig.csms.history)
    await asyncio.sleep(MESSAGE_TIMEOUT_S / SPEEDUP)
    assert not [m for m in rig.csms.history[mark:] if m.action == "TransactionEvent"]
    assert rig.evses[0].running is None


@pytest.mark.timeout(60)
async def test_TC_C_02_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await _refused(rig, "Invalid")


@pytest.mark.timeout(60)
async def test_TC_C_06_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await _refused(rig, "Blocked")


@pytest.mark.timeout(60)
async def test_TC_C_07_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await _refused(rig, "Expired")


@pytest.mark.timeout(60)
async def test_TC_C_56_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await _refused(rig, "Unknown")


async def _session(rig: Rig) -> Payload:
    """A whole local session with the valid card: plugged in, authorized, charging, stopped by
    the same card, unplugged. Its Started event."""
    evse = rig.evses[0]
    await evse.plug_in()
    await rig.present(card())
    started = await rig.csms.expect("TransactionEvent", event("Started"))
    await evse.charge()
    await rig.csms.expect("TransactionEvent", event("Updated", "ChargingStateChanged"))
    await rig.present(card())
    await rig.csms.expect("TransactionEvent", event("Ended"))
    await evse.unplug()
    await rig.csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Available")
    return started


def _authorizes(rig: Rig, since: int) -> list[Payload]:
    return [m.payload for m in rig.csms.history[since:] if m.action == "Authorize"]


CACHE: Settings = {"AuthCacheCtrlr.Enabled": True, "AuthCtrlr.LocalPreAuthorize": True}


@pytest.mark.timeout(60)
async def test_TC_C_08_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _session(rig)  # the valid card is cached (IdTokenCached)
        mark = len(rig.csms.history)
        started = await _session(rig)
    assert started["triggerReason"] == "Authorized"
    assert started["idToken"] == VALID
    assert _authorizes(rig, mark) == []  # the cache's word: no AuthorizeRequest


@pytest.mark.timeout(60)
async def test_TC_C_37_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _session(rig)  # IdTokenCached
        answer = await rig.csms.call(call.ClearCache())
        assert answer.status == "Accepted"
        mark = len(rig.csms.history)
        started = await _session(rig)
    assert _authorizes(rig, mark) == [{"idToken": VALID}]  # the cache was empty
    assert started["triggerReason"] == "Authorized"


@pytest.mark.timeout(60)
async def test_TC_C_38_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _session(rig)  # IdTokenCached
        await rig.csms.call(
            call.SetVariables(
                set_variable_data=[
                    {
                        "attribute_value": "false",
                        "component": {"name": "AuthCacheCtrlr"},
                        "variable": {"name": "Enabled"},
                    }
                ]
            )
        )
        answer = await rig.csms.call(call.ClearCache())
    assert answer.status == "Rejected"
