"""The RPC endpoint without a socket: the one-CALL-in-flight rule, timeouts, late and duplicate
answers, handlers and their errors, a lost connection."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import msgspec
import pytest

from evstack.ocpp import v201
from evstack.ocpp.errors import ErrorCode, OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError, RpcEndpoint
from evstack.ocpp.j.rpc import LateAnswer
from evstack.ocpp.v201 import DateTime, datatypes, enums, messages

pytestmark = pytest.mark.timeout(10)


class Wire:
    """The peer's end of an attached endpoint: what the endpoint sent, frame by frame."""

    def __init__(self, endpoint: RpcEndpoint) -> None:
        self.endpoint = endpoint
        self.frames: asyncio.Queue[Any] = asyncio.Queue()
        endpoint.attach(self.send)

    async def send(self, frame: bytes) -> None:
        self.frames.put_nowait(msgspec.json.decode(frame))

    async def next(self) -> Any:
        return await asyncio.wait_for(self.frames.get(), 5)

    async def feed(self, frame: Any) -> None:
        await self.endpoint.receive(msgspec.json.encode(frame))

    async def served(self) -> None:
        """Every CALL fed so far has been answered."""
        await self.endpoint.join()


def at(second: int) -> DateTime:
    return DateTime(2026, 1, 1, 0, 0, second, tzinfo=UTC)


def heartbeat_answer(message_id: str, second: int = 0) -> list[Any]:
    return [3, message_id, {"currentTime": at(second).isoformat()}]


HEARTBEAT = messages.HeartbeatRequest()
ACCEPTED = messages.ClearCacheResponse(status=enums.ClearCacheStatusEnumType.Accepted)


def endpoint(**options: Any) -> RpcEndpoint:
    return RpcEndpoint(v201, **options)


async def test_a_call_goes_out_as_a_call_frame_and_its_result_comes_back_decoded() -> None:
    wire = Wire(endpoint())
    call = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    kind, message_id, action, payload = await wire.next()
    assert (kind, action, payload) == (2, "Heartbeat", {})
    assert 0 < len(message_id) <= 36
    await wire.feed(heartbeat_answer(message_id))
    assert await call == messages.HeartbeatResponse(currentTime=at(0))


async def test_message_ids_are_unique() -> None:
    wire = Wire(endpoint())
    seen = set()
    for _ in range(50):
        call = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
        message_id = (await wire.next())[1]
        seen.add(message_id)
        await wire.feed(heartbeat_answer(message_id))
        await call
    assert len(seen) == 50


async def test_one_call_in_flight_and_the_others_go_in_the_order_they_were_made() -> None:
    wire = Wire(endpoint())
    seconds = range(4)
    calls = []
    for _ in seconds:
        calls.append(asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT)))
    for i in seconds:
        message_id = (await wire.next())[1]
        assert wire.frames.empty(), "a second CALL went out before the first was answered"
        assert not any(call.done() for call in calls[i:])
        await wire.feed(heartbeat_answer(message_id, i))
        assert (await calls[i]).currentTime == at(i)


async def test_a_late_answer_is_dropped_not_matched_to_the_next_call() -> None:
    wire = Wire(endpoint(message_timeout=0.05))
    late: list[LateAnswer] = []
    wire.endpoint.on_late_answer = late.append
    with pytest.raises(CallTimeoutError) as timed_out:
        await asyncio.gather(wire.endpoint.call("Heartbeat", HEARTBEAT), wire.next())
    first_id = timed_out.value.message_id
    wire.endpoint.message_timeout = 5
    second = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    second_id = (await wire.next())[1]
    assert second_id != first_id
    await wire.feed(heartbeat_answer(first_id, 1))  # late: not the second's
    assert not second.done()
    assert late == [
        LateAnswer("Heartbeat", first_id, response=messages.HeartbeatResponse(currentTime=at(1)))
    ]
    await wire.feed(heartbeat_answer(second_id, 2))
    assert (await second).currentTime == at(2)


async def test_a_duplicate_answer_is_ignored() -> None:
    wire = Wire(endpoint())
    first = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    first_id = (await wire.next())[1]
    await wire.feed(heartbeat_answer(first_id, 1))
    await first
    second = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    second_id = (await wire.next())[1]
    await wire.feed(heartbeat_answer(first_id, 9))  # again
    await wire.feed([4, first_id, "InternalError", "", {}])  # and once more, as an error
    assert not second.done()
    await wire.feed(heartbeat_answer(second_id, 2))
    assert (await second).currentTime == at(2)
    assert wire.frames.empty(), "a response was answered"


@pytest.mark.parametrize(
    ("code", "expected"),
    [("SecurityError", ErrorCode.SECURITY_ERROR), ("FormationViolation", ErrorCode.GENERIC_ERROR)],
)
async def test_a_callerror_raises_its_code(code: str, expected: ErrorCode) -> None:
    wire = Wire(endpoint())
    call = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    await wire.feed([4, (await wire.next())[1], code, "no", {"why": "test"}])
    with pytest.raises(OcppError) as error:
        await call
    assert error.value.code is expected
    assert error.value.details == {"why": "test"}


async def test_a_malformed_answer_fails_its_call_at_once() -> None:
    wire = Wire(endpoint())
    call = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    message_id = (await wire.next())[1]
    await wire.feed([3, message_id])  # no payload
    with pytest.raises(OcppError):
        await call
    assert wire.frames.empty()


async def test_a_response_that_breaks_the_schema_raises_its_code() -> None:
    wire = Wire(endpoint())
    call = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    await wire.feed([3, (await wire.next())[1], {}])
    with pytest.raises(OcppError) as error:
        await call
    assert error.value.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION


async def test_a_lost_connection_fails_the_call_in_flight_and_those_waiting() -> None:
    wire = Wire(endpoint())
    first = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    second = asyncio.create_task(wire.endpoint.call("Heartbeat", HEARTBEAT))
    await wire.next()
    wire.endpoint.detach()
    for call in (first, second):
        with pytest.raises(NotConnectedError):
            await call
    with pytest.raises(NotConnectedError):
        await wire.endpoint.call("Heartbeat", HEARTBEAT)


async def handle_change_availability(request: messages.ChangeAvailabilityRequest) -> Any:
    evse = request.evse.id if isinstance(request.evse, datatypes.EVSEType) else None
    if evse == 9:
        raise OcppError(ErrorCode.SECURITY_ERROR, "not while booting")
    if evse == 13:
        raise RuntimeError("a bug")
    if evse == 7:
        return object()  # that does not encode
    return messages.ChangeAvailabilityResponse(
        status=enums.ChangeAvailabilityStatusEnumType.Accepted
    )


@pytest.mark.parametrize(
    ("evse", "answer"),
    [
        (1, [3, "m1", {"status": "Accepted"}]),
        (9, [4, "m1", "SecurityError", "not while booting", {}]),
        (13, [4, "m1", "InternalError", "ChangeAvailability failed", {}]),
        (7, [4, "m1", "InternalError", "ChangeAvailability failed", {}]),
    ],
)
async def test_a_handler_result_or_error_is_answered(evse: int, answer: list[Any]) -> None:
    wire = Wire(endpoint())
    wire.endpoint.route("ChangeAvailability", handle_change_availability)
    request = {"operationalStatus": "Inoperative", "evse": {"id": evse}}
    await wire.feed([2, "m1", "ChangeAvailability", request])
    assert await wire.next() == answer


async def test_a_handler_may_call_the_other_side_before_it_answers() -> None:
    wire = Wire(endpoint())

    async def clear_cache(request: Any) -> Any:
        await wire.endpoint.call("Heartbeat", HEARTBEAT)
        return ACCEPTED

    wire.endpoint.route("ClearCache", clear_cache)
    await wire.feed([2, "csms-1", "ClearCache", {}])
    kind, message_id, action, _ = await wire.next()
    assert (kind, action) == (2, "Heartbeat")
    await wire.feed(heartbeat_answer(message_id))
    assert await wire.next() == [3, "csms-1", {"status": "Accepted"}]


async def test_a_second_call_with_the_id_of_one_being_handled_is_refused() -> None:
    wire = Wire(endpoint())
    release = asyncio.Event()

    async def clear_cache(request: Any) -> Any:
        await release.wait()
        return ACCEPTED

    wire.endpoint.route("ClearCache", clear_cache)
    await wire.feed([2, "same", "ClearCache", {}])
    await wire.feed([2, "same", "ClearCache", {}])
    kind, message_id, code, *_ = await wire.next()
    assert (kind, message_id, code) == (4, "same", "RpcFrameworkError")
    release.set()
    assert await wire.next() == [3, "same", {"status": "Accepted"}]


async def test_an_answer_is_never_sent_on_a_later_connection() -> None:
    wire = Wire(endpoint())
    release = asyncio.Event()

    async def clear_cache(request: Any) -> Any:
        await release.wait()
        return ACCEPTED

    wire.endpoint.route("ClearCache", clear_cache)
    await wire.feed([2, "old", "ClearCache", {}])
    wire.endpoint.detach()
    later = Wire(wire.endpoint)
    release.set()
    await later.served()
    assert wire.frames.empty()
    assert later.frames.empty()
