"""OCA Part 6's authorization cases (C) for the station, one test per case, named by its id:
the Core conditional ones whose condition the station meets.

Each follows the case's steps and checks its tool validations. The charger around the station
is tests/ocpp201/tx_rig.py: EVSE stand-ins, Auth (asking only the station) and a card reader,
on simulated time.
"""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_C_02_CS)

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call, call_result

from evstack.runtime.mqtt import BrokerSettings

from .test_tc_e import event
from .timed_csms import TimedCsms
from .tx_rig import Rig, booted, card, charger

pytestmark = [pytest.mark.mosquitto]

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
VALID = {"idToken": "AABBCCDD", "type": "ISO14443"}
OTHER = "DEADBEEF"  # the case's invalid, blocked, expired or unknown card
MESSAGE_TIMEOUT_S = 30  # the OCTT waits this long (station time) for what must not come
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
    await rig.module.clock.sleep(MESSAGE_TIMEOUT_S)
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


async def _cached_as(rig: Rig, status: str) -> None:
    """IdTokenCached for the other card with `status`: presented once, the CSMS said so; the
    EV is unplugged again."""
    await _refused(rig, status)
    await rig.evses[0].unplug()
    await rig.csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Available")


async def _cached_refusal_asks_again(rig: Rig, status: str) -> None:
    """TC_C_09 to 11: the other card, cached with `status`, is presented again: the station
    asks the CSMS (AuthorizeRequest), which says `status` again; nothing starts."""
    await _cached_as(rig, status)
    await _refused(rig, status)


@pytest.mark.timeout(60)
async def test_TC_C_09_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _cached_refusal_asks_again(rig, "Invalid")


@pytest.mark.timeout(60)
async def test_TC_C_10_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _cached_refusal_asks_again(rig, "Blocked")


@pytest.mark.timeout(60)
async def test_TC_C_11_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _cached_refusal_asks_again(rig, "Expired")


@pytest.mark.timeout(60)
async def test_TC_C_12_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _cached_as(rig, "Invalid")
        rig.csms.respond("Authorize", answering("Accepted"))  # the CSMS changed its mind
        await rig.evses[0].plug_in()
        await rig.present(card(OTHER))
        authorize = await rig.csms.expect("Authorize")
        started = await rig.csms.expect("TransactionEvent", event("Started"))
        await rig.evses[0].charge()  # EnergyTransferStarted
        await rig.csms.expect(
            "TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging"
        )
    assert authorize["idToken"]["idToken"] == OTHER
    assert started["triggerReason"] == "Authorized"
    assert started["idToken"]["idToken"] == OTHER


@pytest.mark.timeout(60)
async def test_TC_C_36_CS(prefix: str, tmp_path: Path) -> None:
    settings: Settings = {"AuthCacheCtrlr.Enabled": True, "AuthCtrlr.LocalPreAuthorize": False}
    async with charger(BROKER, prefix, tmp_path, settings) as rig:
        await _session(rig)  # IdTokenCached (Accepted)
        rig.csms.respond(
            "Authorize", lambda payload: call_result.Authorize(id_token_info={"status": "Invalid"})
        )
        mark = len(rig.csms.history)
        await rig.evses[0].plug_in()
        await rig.present(card())
        authorize = await rig.csms.expect("Authorize")  # the cache is not asked first
        await rig.module.clock.sleep(MESSAGE_TIMEOUT_S)
    assert authorize["idToken"] == VALID
    assert not [
        m
        for m in rig.csms.history[mark:]
        if m.action == "TransactionEvent" and "idToken" in m.payload
    ]


@pytest.mark.timeout(60)
async def test_TC_C_04_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path) as rig:
        await _session_started(rig)
        mark = len(rig.csms.history)
        await rig.present(card(OTHER))  # a different card: accepted, but it stops nothing
        await rig.module.clock.sleep(MESSAGE_TIMEOUT_S)
        running = rig.evses[0].running
    # Only the meter's own samples may go on (they are due whatever a card does); nothing the
    # card caused: no stop, no (de)authorization.
    caused = [
        m.payload
        for m in rig.csms.history[mark:]
        if m.action == "TransactionEvent"
        and m.payload["triggerReason"] not in ("MeterValuePeriodic", "MeterValueClock")
    ]
    assert caused == []
    assert running is not None
    assert running.id_token.value == VALID["idToken"]


async def _session_started(rig: Rig, evse: int = 1, token: str = "AABBCCDD") -> Payload:
    """EVConnectedPreSession, Authorized (local) and EnergyTransferStarted on `evse`."""
    await rig.evses[evse - 1].plug_in()
    await rig.present(card(token))
    started = await rig.csms.expect("TransactionEvent", event("Started"))
    await rig.evses[evse - 1].charge()
    await rig.csms.expect(
        "TransactionEvent", lambda p: p["transactionInfo"].get("chargingState") == "Charging"
    )
    return started


@pytest.mark.timeout(90)
async def test_TC_C_32_CS(prefix: str, tmp_path: Path) -> None:
    async with TimedCsms() as csms:
        rig = Rig(BROKER, prefix, tmp_path, csms)
        rig.preset(CACHE)
        async with rig.world():
            async with rig.station():
                await booted(csms)
                await _session(rig)  # IdTokenCached
            async with rig.station():  # rebooted: step 1, Booted
                await booted(csms)
                mark = len(csms.history)
                started = await _session(rig)  # steps 2 to 5, from the cache
    assert started["triggerReason"] == "Authorized"
    assert started["idToken"] == VALID
    assert _authorizes(rig, mark) == []


@pytest.mark.timeout(60)
async def test_TC_C_33_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        first = await _session(rig)  # Authorize: Accepted, cached (steps 1 to 8)
        # The CSMS's word changes: the TransactionEvent's answer says Invalid from now on.
        rig.csms.respond(
            "TransactionEvent",
            lambda p: (
                call_result.TransactionEvent(id_token_info={"status": "Invalid"})
                if "idToken" in p
                else call_result.TransactionEvent()
            ),
        )
        mark = len(rig.csms.history)
        await rig.evses[0].plug_in()
        await rig.present(card())  # steps 9 to 13: from the cache, no Authorize
        second = await rig.csms.expect("TransactionEvent", event("Started"))
    assert first["idToken"] == second["idToken"] == VALID
    assert _authorizes(rig, mark) == []


@pytest.mark.timeout(60)
async def test_TC_C_34_CS(prefix: str, tmp_path: Path) -> None:
    async with charger(BROKER, prefix, tmp_path, CACHE) as rig:
        await _session(rig)  # IdTokenCached
        rig.csms.respond(
            "TransactionEvent",
            lambda p: (
                call_result.TransactionEvent(id_token_info={"status": "Invalid"})
                if "idToken" in p
                else call_result.TransactionEvent()
            ),
        )
        rig.csms.respond("Authorize", answering("Invalid"))
        await rig.evses[0].plug_in()
        mark = len(rig.csms.history)
        await rig.present(card())  # from the cache: the transaction starts (step 1)
        started = await rig.csms.expect("TransactionEvent", event("Started"))
        assert _authorizes(rig, mark) == []
        # The answer said Invalid: the cache now says so too. The EV leaves (steps 3 to 6).
        await rig.csms.expect("TransactionEvent", event("Ended"))
        await rig.evses[0].unplug()
        await rig.csms.expect("StatusNotification", lambda p: p["connectorStatus"] == "Available")
        await rig.evses[0].plug_in()
        await rig.present(card())  # steps 7 and 8: the station asks the CSMS
        authorize = await rig.csms.expect("Authorize")
    assert started["triggerReason"] == "Authorized"
    assert authorize["idToken"] == VALID
