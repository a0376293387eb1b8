"""Faults the station must ride out (issue 13's fault tests), against the strict CSMS.

- The CSMS is gone for minutes (simulated) in the middle of two transactions; one ends while
  the station itself is down, the station restarts while still offline, then the CSMS comes
  back. The CSMS vanishes while a TransactionEvent is in flight, as a real outage would: that
  one had no answer and goes again after the break (at least once, by nature). What must hold:
  the CSMS's ledger, deduplicated by (transactionId, seqNo) as a CSMS does, has every seqNo
  once, in order, with no gap; a repeat is identical to the first copy and comes on a later
  connection, or on the same one only as E13's retry of a copy that had no answer within the
  message timeout (a loaded machine can make the CSMS that slow in wall time); and the energy
  register values add up to what each EVSE's meter counted.
- A CSMS that answers late, twice, or with a CALLERROR, the connection staying up: nothing
  is lost, and nothing is sent twice (a late CALLRESULT is taken, never followed by a resend).
- Malformed frames, unknown actions, wrong types, oversized messages and a flood of CALLs: each
  gets Part 4's CALLERROR (or its answer), and the connection and the session carry on.

The charger is tests/ocpp201/tx_rig.py on simulated time; the CSMS is timed_csms.py's, which
serves each frame in a task of its own, so that answers can be held back or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call, call_result
from websockets.asyncio.server import ServerConnection

from evstack.runtime.mqtt import BrokerSettings

from .test_tc_e import energy_transfer_started, event
from .timed_csms import Arrival, TimedCsms, _TimedPeer
from .tx_rig import SPEEDUP, Rig, TxEvse, booted, card, charger, until

pytestmark = [pytest.mark.mosquitto]

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
ENERGY = "Energy.Active.Import.Register"
Payload = dict[str, Any]
Settings = dict[str, str | int | float | bool]

GONE_TIMEOUT_S = 30  # MessageTimeout in the outage test, simulated seconds
OFTEN: Settings = {
    "OCPPCommCtrlr.MessageTimeout[Default]": GONE_TIMEOUT_S,
    "SampledDataCtrlr.TxUpdatedInterval": 10,
    "OCPPCommCtrlr.RetryBackOffWaitMinimum": 10,
    "OCPPCommCtrlr.RetryBackOffRandomRange": 0,
}


@pytest.fixture
def prefix() -> str:
    return f"test-fault-{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def metered(evses: list[TxEvse], every_s: float = 2.0) -> AsyncIterator[None]:
    """Each EVSE's meter counts 5 Wh more every `every_s` simulated seconds and says so."""

    async def read_forever() -> None:
        while True:
            for evse in evses:
                await evse.read(5.0)
            await asyncio.sleep(every_s / SPEEDUP)

    reader = asyncio.ensure_future(read_forever())
    try:
        yield
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def minutes_pass(minutes: float) -> None:
    await asyncio.sleep(minutes * 60 / SPEEDUP)


def events_of(csms: TimedCsms) -> dict[str, list[Payload]]:
    """Every TransactionEvent the CSMS received, by transaction, in arrival order."""
    out: dict[str, list[Payload]] = {}
    for arrival in csms.arrivals:
        if arrival.action == "TransactionEvent":
            tx_id = arrival.payload["transactionInfo"]["transactionId"]
            out.setdefault(tx_id, []).append(arrival.payload)
    return out


def registers(events: list[Payload]) -> list[float]:
    """The energy register values of a transaction's events, in order."""
    return [
        float(sampled["value"])
        for payload in events
        for meter_value in payload.get("meterValue", [])
        for sampled in meter_value["sampledValue"]
        if sampled.get("measurand", ENERGY) == ENERGY and "phase" not in sampled
    ]


def counted_wh(evse: TxEvse, session: str) -> float:
    """What the EVSE's meter counted during its transaction (its journal's record)."""
    record = evse.journal[session]
    assert record.transaction_finished is not None
    assert record.transaction_started is not None
    end = record.transaction_finished.meter_value.energy_Wh_import.total
    return end - record.transaction_started.meter_value.energy_Wh_import.total


def assert_delivered_once_in_order(events: list[Payload]) -> None:
    seq_nos = [e["seqNo"] for e in events]
    told = [
        (e["seqNo"], e["eventType"], e["triggerReason"], e.get("offline", False)) for e in events
    ]
    assert seq_nos == list(range(len(events))), f"{told}"  # once each, in order, no gap
    assert events[0]["eventType"] == "Started"
    assert events[-1]["eventType"] == "Ended"
    assert [e["eventType"] for e in events[1:-1]] == ["Updated"] * (len(events) - 2)


def ledger(csms: TimedCsms, timeout_s: float) -> dict[str, list[Payload]]:
    """The CSMS's ledger of TransactionEvents in arrival order, deduplicated by (transactionId,
    seqNo) as a CSMS does. A repeat must be identical to the first copy. It may come on a later
    connection (one in flight when the connection broke had no answer: at least once by
    nature), or on the same connection as the copy before it only as E13's retry: that copy's
    answer was a CALLERROR, or was sent more than the message timeout (`timeout_s`, wall
    seconds) after it arrived, or never. A repeat on one connection although the CALLRESULT
    went in time is a failure (a late CALLRESULT must never cause a resend either; the
    station's `on_late_answer` takes it). Each new seqNo must be the next one."""
    kept: dict[str, list[Payload]] = {}
    last: dict[tuple[str, int], Arrival] = {}  # (transaction, seqNo) -> its latest copy
    for arrival in csms.arrivals:
        if arrival.action != "TransactionEvent":
            continue
        payload = arrival.payload
        key = tx_id, seq_no = payload["transactionInfo"]["transactionId"], payload["seqNo"]
        events = kept.setdefault(tx_id, [])
        before = last.get(key)
        last[key] = arrival
        if before is None:
            assert seq_no == len(events), (tx_id, [e["seqNo"] for e in events], seq_no)
            events.append(payload)
            continue
        assert payload == events[seq_no], (events[seq_no], payload)  # identical
        if arrival.connection == before.connection:
            answer = csms.answers.get((before.connection, before.message_id))
            in_time = answer is not None and not answer.error and answer.at - before.at <= timeout_s
            assert not in_time, ("a repeat on one connection though answered in time", key)
    return kept


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_csms_gone_for_minutes_and_station_restarted_offline(
    prefix: str, tmp_path: Path
) -> None:
    csms = TimedCsms()
    async with csms:
        rig = Rig(BROKER, prefix, tmp_path, csms, evse_count=2)
        rig.preset(OFTEN)
        async with rig.world():
            first, second = rig.evses
            async with metered(rig.evses), rig.station():
                await booted(csms)
                await first.plug_in()
                await rig.present(card("AABBCCDD"))
                await csms.expect("TransactionEvent", event("Started"))
                await first.charge()
                await second.plug_in()
                await rig.present(card("11223344"))
                await csms.expect("TransactionEvent", event("Started"))
                await second.charge()
                await minutes_pass(0.5)
                # The CSMS goes away while a TransactionEvent is in flight (it holds the
                # answer), as a real outage would catch one, and takes no connection.
                in_flight = asyncio.Event()

                async def held(payload: Payload) -> Any:
                    in_flight.set()
                    await asyncio.Event().wait()  # the answer never comes

                csms.respond("TransactionEvent", held)
                await asyncio.wait_for(in_flight.wait(), 10)
                csms.accepting = False
                await csms.drop()
                del csms.responders["TransactionEvent"]
                await until(lambda: not rig.module.station.online.is_set())
                await minutes_pass(2)
                assert rig.module.station.outbox.pending() > 0
            # The station is down; the first EV's transaction ends and it leaves meanwhile.
            first_session = first.session
            assert first_session is not None
            async with metered(rig.evses):
                await minutes_pass(0.5)
                await first.stop()
                await first.unplug()
                # Restarted, still offline. (Its simulated clock starts again from the wall's,
                # behind the time it had reached, so its next periodic sample falls due later
                # than TxUpdatedInterval: an artefact of simulated time, not of a real station.)
                async with rig.station():
                    await minutes_pass(2)
                    assert not rig.module.station.online.is_set()
                    # The CSMS is back.
                    csms.accepting = True
                    await csms.connected(wait=20)
                    await minutes_pass(0.5)
                    second_session = second.session
                    assert second_session is not None
                    await second.stop()
                    await second.unplug()
                    await until(lambda: len(events_of(csms)) == 2, timeout=20)
                    await until(
                        lambda: all(
                            tx[-1]["eventType"] == "Ended" for tx in events_of(csms).values()
                        ),
                        timeout=20,
                    )
                    await rig.settled()
    by_tx = ledger(csms, GONE_TIMEOUT_S / SPEEDUP)
    assert len(by_tx) == 2
    repeats = sum(1 for a in csms.arrivals if a.action == "TransactionEvent") - sum(
        len(events) for events in by_tx.values()
    )
    assert repeats >= 1  # the one in flight at the drop went again
    counted = {
        "AABBCCDD": counted_wh(first, first_session),
        "11223344": counted_wh(second, second_session),
    }
    for events in by_tx.values():
        assert_delivered_once_in_order(events)
        assert any(e.get("offline") for e in events)  # some were kept while it was offline
        values = registers(events)
        assert values == sorted(values)  # the register never goes back
        increments = sum(b - a for a, b in itertools.pairwise(values))
        token = events[0]["idToken"]["idToken"]
        assert increments == pytest.approx(counted[token], abs=1e-3), (token, values)
        assert counted[token] > 100  # minutes of charging were metered


# -- a CSMS that answers late, twice, or with a CALLERROR ----------------------------------

TIMEOUT_S = 10  # MessageTimeout, simulated seconds
INTERVAL_S = 30  # MessageAttemptInterval[TransactionEvent]: the late answer comes before it
ANSWERS: Settings = {
    "OCPPCommCtrlr.MessageTimeout[Default]": TIMEOUT_S,
    "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]": INTERVAL_S,
    "OCPPCommCtrlr.MessageAttempts[TransactionEvent]": 5,
    "SampledDataCtrlr.TxUpdatedInterval": 10,
}


async def _session(rig: Rig, updates: int) -> list[Payload]:
    """A transaction that runs until the CSMS has `updates` periodic updates, then ends; every
    TransactionEvent the CSMS received for it."""
    async with metered(rig.evses):
        transaction_id = await energy_transfer_started(rig)
        for _ in range(updates):
            await rig.csms.expect("TransactionEvent", event("Updated", "MeterValuePeriodic"))
        await rig.evses[0].stop()
        await rig.evses[0].unplug()
        await rig.csms.expect("TransactionEvent", event("Ended"), wait=20)
        await rig.settled()
    return events_of_id(rig.csms, transaction_id)


def events_of_id(csms: Any, transaction_id: str) -> list[Payload]:
    assert isinstance(csms, TimedCsms)
    return events_of(csms)[transaction_id]


@pytest.mark.timeout(60)
async def test_late_answers_are_taken_not_sent_again(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms()
    late = itertools.count()

    async def every_third_late(payload: Payload) -> Any:
        if next(late) % 3 == 1:
            await asyncio.sleep(1.5 * TIMEOUT_S / SPEEDUP)  # past the timeout, before a retry
        return call_result.TransactionEvent()

    csms.respond("TransactionEvent", every_third_late)
    async with charger(BROKER, prefix, tmp_path, ANSWERS, csms=csms) as rig:
        events = await _session(rig, updates=4)
        assert rig.module.station.online.is_set()
    assert_delivered_once_in_order(events)
    assert csms.attempts == 1  # one connection throughout


@pytest.mark.timeout(60)
async def test_answers_sent_twice_are_ignored(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms(twice={"TransactionEvent", "StatusNotification", "Authorize"})
    async with charger(BROKER, prefix, tmp_path, ANSWERS, csms=csms) as rig:
        events = await _session(rig, updates=3)
        # A CALL of the CSMS's is answered as usual after all the doubled answers.
        status = await csms.call(call.GetTransactionStatus())
        assert status.messages_in_queue is False
    assert_delivered_once_in_order(events)
    assert csms.attempts == 1


@pytest.mark.timeout(60)
async def test_callerrors_are_retried_and_the_session_goes_on(prefix: str, tmp_path: Path) -> None:
    csms = TimedCsms()
    answered = itertools.count()

    def every_other_fails(payload: Payload) -> Any:
        if next(answered) % 2 == 0:
            raise RuntimeError("the CSMS fails")  # the package answers CALLERROR InternalError
        return call_result.TransactionEvent()

    def refuse(payload: Payload) -> Any:
        raise RuntimeError("the CSMS fails")

    csms.respond("TransactionEvent", every_other_fails)
    csms.respond("Heartbeat", refuse)  # not owed: dropped, the link stays
    settings = {**ANSWERS, "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]": 5}
    async with charger(BROKER, prefix, tmp_path, settings, csms=csms) as rig:
        mark = len(csms.history)
        answer = await csms.call(call.TriggerMessage(requested_message="Heartbeat"))
        assert answer.status == "Accepted"
        await csms.seen("Heartbeat", mark)
        events = await _session(rig, updates=2)
    # Each event went twice: refused, then accepted; seqNos in order, each accepted once.
    seq_nos = [e["seqNo"] for e in events]
    assert seq_nos == [n for n in range(len(seq_nos) // 2) for _ in (0, 1)], seq_nos
    assert csms.attempts == 1


# -- malformed frames, unknown actions, wrong types, oversized, a flood ----------------------


class _RawPeer(_TimedPeer):
    """Hands the test the station's answers to the frames it sent raw."""

    def __init__(self, csms: RawCsms, number: int, connection: ServerConnection) -> None:
        super().__init__(csms, number, connection)
        self.raw = csms

    async def route_message(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = None
        if isinstance(frame, list) and len(frame) > 1 and frame[1] in self.raw.waiting:
            self.raw.waiting.pop(frame[1]).set_result(frame)
            return
        await super().route_message(raw)


class RawCsms(TimedCsms):
    waiting: dict[str, asyncio.Future[list[Any]]]

    async def _serve(self, connection: ServerConnection) -> None:
        self.waiting = {}
        self._count += 1
        peer = self.peer = _RawPeer(self, self._count, connection)
        self.connections.put_nowait(self._count)
        with contextlib.suppress(Exception):
            await peer.start()

    def expect_answer(self, message_id: str) -> asyncio.Future[list[Any]]:
        future = asyncio.get_running_loop().create_future()
        self.waiting[message_id] = future
        return future

    async def send_raw(self, frame: str, answer_id: str) -> list[Any]:
        """Send `frame` as it is; the station's answer to it (by `answer_id`)."""
        assert self.peer is not None
        answer = self.expect_answer(answer_id)
        await self.peer._connection.send(frame)
        return await asyncio.wait_for(answer, 10)


BIG = "x" * (300 * 1024)  # over the station's 256 KiB frame limit
# (frame, the id the answer carries, the CALLERROR code), Part 4 section 4.3.
MALFORMED: list[tuple[str, str, str]] = [
    ("this is not JSON", "-1", "RpcFrameworkError"),
    ('[2, "m-2", "GetVariables", {"getVariableData": [', "m-2", "FormatViolation"),
    ('{"not": "an array"}', "-1", "RpcFrameworkError"),
    ('[5, "m-4", "GetVariables", {}]', "m-4", "MessageTypeNotSupported"),
    ('[2, "m-5", "GetVariables"]', "m-5", "ProtocolError"),
    ('[2, "m-6", "GetVariables", []]', "m-6", "FormatViolation"),
    ('[2, "m-7", "NoSuchAction", {}]', "m-7", "NotImplemented"),
    ('[2, "m-8", "ReserveNow", {}]', "m-8", "NotSupported"),
    ('[2, "m-9", "GetVariables", {"getVariableData": "x"}]', "m-9", "TypeConstraintViolation"),
    ('[2, "m-10", "GetVariables", {}]', "m-10", "OccurrenceConstraintViolation"),
    ('[2, "m-11", "Reset", {"type": "Sideways"}]', "m-11", "PropertyConstraintViolation"),
    (
        '[2, "m-12", "Reset", {"type": "Immediate", "evseId": "1"}]',
        "m-12",
        "TypeConstraintViolation",
    ),
    (
        f'[2, "m-13", "DataTransfer", {{"vendorId": "x", "data": "{BIG}"}}]',
        "m-13",
        "FormatViolation",
    ),
]


def _get_variables(message_id: str) -> str:
    data = [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
    ]
    return json.dumps([2, message_id, "GetVariables", {"getVariableData": data}])


@pytest.mark.timeout(60)
async def test_malformed_frames_and_a_flood_get_their_answers(prefix: str, tmp_path: Path) -> None:
    csms = RawCsms()
    settings: Settings = {"SampledDataCtrlr.TxUpdatedInterval": 10}
    async with charger(BROKER, prefix, tmp_path, settings, csms=csms) as rig, metered(rig.evses):
        transaction_id = await energy_transfer_started(rig)
        answers = [await csms.send_raw(frame, answer_id) for frame, answer_id, _ in MALFORMED]
        # A flood: 500 CALLs at once, without waiting for answers (Part 4 wants one at a time;
        # the station answers each all the same).
        ids = [f"flood-{n}" for n in range(500)]
        floods = [csms.expect_answer(i) for i in ids]
        assert csms.peer is not None
        for message_id in ids:
            await csms.peer._connection.send(_get_variables(message_id))
        flooded = await asyncio.wait_for(asyncio.gather(*floods), 30)
        # The connection and the session carry on.
        await rig.csms.expect("TransactionEvent", event("Updated", "MeterValuePeriodic"))
        status = await csms.call(call.GetTransactionStatus(transaction_id=transaction_id))
        assert status.ongoing_indicator is True
        assert rig.evses[0].running is not None
        await rig.evses[0].stop()
        await rig.csms.expect("TransactionEvent", event("Ended"))
    for (frame, answer_id, code), answer in zip(MALFORMED, answers, strict=True):
        assert answer[:3] == [4, answer_id, code], (frame[:60], answer)
    assert all(answer[0] == 3 for answer in flooded), [a for a in flooded if a[0] != 3][:3]
    assert {answer[1] for answer in flooded} == set(ids)
    assert csms.attempts == 1
    assert not csms.invalid
