"""The RPC endpoint of OCPP-J (Part 4, section 4), independent of the transport.

The transport attaches a `send` coroutine when a connection is up, feeds every frame it
receives to `receive`, and detaches when the connection is gone; the endpoint itself does no
I/O, so one endpoint serves the station across all its reconnects and a test can drive it
with no socket at all.

- At most one CALL of ours is in flight (4.1.1): `call` takes turns in the order it was
  called, and a turn ends with the answer, the message timeout or the loss of the connection.
  An answer that comes after its turn ended, or twice, matches nothing and is dropped; one
  that comes after a timeout goes to `on_late_answer` as well (the station's outbox may count
  it as delivered rather than send the message again).
- Each incoming CALL is served in a task of its own, so that a handler may itself `call` the
  other side while the receive loop goes on; the result is answered as a CALLRESULT, an
  `OcppError` with its code, anything else as InternalError. An answer whose connection is
  gone is dropped: it never goes out on a later connection.
- Every malformed frame is answered as `frames` says, except responses, and the connection
  stays up.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from evstack.ocpp.errors import ErrorCode, OcppError
from evstack.ocpp.j import frames
from evstack.ocpp.j.codec import Codec

__all__ = [
    "CallTimeoutError",
    "Handler",
    "LateAnswer",
    "NotConnectedError",
    "RpcEndpoint",
    "Send",
]

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[Any]]
Send = Callable[[bytes], Awaitable[None]]
"""Sends one text frame; raises `NotConnectedError` (or another `ConnectionError`) if it cannot."""

DEFAULT_MAX_FRAME = 256 * 1024
_REMEMBERED_TIMEOUTS = 16  # timed-out CALLs whose late answers are still recognised


class NotConnectedError(ConnectionError):
    """There is no connection to send a CALL on, or it was lost before the answer came."""


class CallTimeoutError(TimeoutError):
    """No answer to a CALL within the message timeout."""

    def __init__(self, action: str, message_id: str) -> None:
        super().__init__(f"{action} {message_id}: no answer in time")
        self.action = action
        self.message_id = message_id


@dataclass(frozen=True, slots=True)
class LateAnswer:
    """The answer to a CALL that had timed out: its response, or the error it carried."""

    action: str
    message_id: str
    response: Any = None
    error: OcppError | None = None


@dataclass(slots=True)
class _InFlight:
    message_id: str
    answer: asyncio.Future[frames.CallResult | frames.CallError]


def _message_ids() -> Callable[[], str]:
    """Unique message ids: a random prefix per endpoint and a counter (cheaper than uuid4,
    and as unique across reconnects and restarts)."""
    prefix = secrets.token_hex(8)
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


class RpcEndpoint:
    """One side of an OCPP-J connection: our CALLs out, the peer's CALLs to handlers."""

    def __init__(
        self,
        codec: Codec,
        *,
        message_timeout: float = 30.0,
        max_frame_size: int = DEFAULT_MAX_FRAME,
        new_message_id: Callable[[], str] | None = None,
    ) -> None:
        self.codec = codec
        self.message_timeout = message_timeout  # the transport sets the active profile's
        self.max_frame_size = max_frame_size  # in bytes; larger frames get FormatViolation
        self._new_id = new_message_id or _message_ids()
        self.on_late_answer: Callable[[LateAnswer], None] | None = None
        self._timed_out: OrderedDict[str, str] = OrderedDict()  # message id -> action
        self._handlers: dict[str, Handler] = {}
        self._send: Send | None = None
        self._connection = 0  # which connection `_send` belongs to
        self._turn = asyncio.Lock()  # FIFO: CALLs go out in the order they were made
        self._in_flight: _InFlight | None = None
        self._serving: set[tuple[int, str]] = set()  # (connection, message id) of peer CALLs
        self._tasks: set[asyncio.Task[None]] = set()

    # -- wiring ---------------------------------------------------------------------------

    def route(self, action: str, handler: Handler) -> None:
        """Serve the peer's CALLs for `action` with `handler(request) -> response`."""
        self._handlers[action] = handler

    @property
    def connected(self) -> bool:
        return self._send is not None

    def attach(self, send: Send) -> None:
        """A connection is up: frames go out through `send`."""
        self.detach()
        self._send = send

    def detach(self) -> None:
        """The connection is gone: the CALL in flight fails with `NotConnectedError`, and answers
        still being worked out for it will be dropped."""
        self._send = None
        self._connection += 1
        self._timed_out.clear()  # their answers would have come on the lost connection
        in_flight = self._in_flight
        if in_flight is not None and not in_flight.answer.done():
            in_flight.answer.set_exception(NotConnectedError("the connection was lost"))

    async def join(self) -> None:
        """Wait until every incoming CALL received so far has been served."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    # -- our CALLs ------------------------------------------------------------------------

    async def call(self, action: str, request: Any) -> Any:
        """Send `request` as a CALL for `action` and return the decoded response.

        Raises `OcppError` for a CALLERROR (or a response that does not decode),
        `CallTimeoutError` after the message timeout, `NotConnectedError` without a connection.
        A caller that gives up sooner (cancels) ends its turn; an answer that still comes is
        dropped."""
        return await self.call_encoded(action, self.codec.encode(request))

    async def call_encoded(self, action: str, payload: bytes) -> Any:
        """`call` with the request already encoded (as the outbox keeps it)."""
        async with self._turn:
            send = self._send
            if send is None:
                raise NotConnectedError(f"{action}: not connected")
            message_id = self._new_id()
            answer = asyncio.get_running_loop().create_future()
            self._in_flight = _InFlight(message_id, answer)
            try:
                await send(frames.encode_call(message_id, action, payload))
                async with asyncio.timeout(self.message_timeout):
                    result = await answer
            except TimeoutError:
                self._remember_timeout(message_id, action)
                raise CallTimeoutError(action, message_id) from None
            finally:
                self._in_flight = None
        if isinstance(result, frames.CallError):
            raise _peer_error(result)
        return self.codec.decode_response(action, result.payload)

    def _remember_timeout(self, message_id: str, action: str) -> None:
        self._timed_out[message_id] = action
        if len(self._timed_out) > _REMEMBERED_TIMEOUTS:
            self._timed_out.popitem(last=False)

    # -- what the transport receives ------------------------------------------------------

    async def receive(self, data: bytes | str) -> None:
        """Handle one frame from the peer (in the order they arrive)."""
        if len(data) > self.max_frame_size:
            await self._reject(frames.oversized(data, self.max_frame_size))
            return
        try:
            frame = frames.parse(data)
        except frames.FrameError as error:
            await self._reject(error)
            return
        if isinstance(frame, frames.Call):
            self._serve(frame)
        else:
            self._settle(frame.message_id, frame)

    def _settle(self, message_id: str, outcome: frames.CallResult | frames.CallError) -> None:
        in_flight = self._in_flight
        if in_flight is not None and in_flight.message_id == message_id:
            if not in_flight.answer.done():
                in_flight.answer.set_result(outcome)
                return
        elif message_id in self._timed_out:
            self._late(message_id, self._timed_out.pop(message_id), outcome)
            return
        log.warning("a response to %r, which is not in flight: ignored", message_id)

    def _late(
        self, message_id: str, action: str, outcome: frames.CallResult | frames.CallError
    ) -> None:
        log.info("the answer to %s %r came after its timeout", action, message_id)
        if self.on_late_answer is None:
            return
        if isinstance(outcome, frames.CallError):
            late = LateAnswer(action, message_id, error=_peer_error(outcome))
        else:
            try:
                response = self.codec.decode_response(action, outcome.payload)
                late = LateAnswer(action, message_id, response=response)
            except OcppError as error:
                late = LateAnswer(action, message_id, error=error)
        self.on_late_answer(late)

    async def _reject(self, error: frames.FrameError) -> None:
        in_flight = self._in_flight
        if (
            error.response_to is not None
            and in_flight is not None
            and in_flight.message_id == error.response_to
            and not in_flight.answer.done()
        ):
            in_flight.answer.set_exception(error)
        if error.message_id is None:
            log.warning("malformed response ignored: %s", error)
            return
        log.warning("malformed frame answered to %r: %s", error.message_id, error)
        if self._send is not None:
            answer = frames.encode_error(error.message_id, error.code, error.description)
            await _answer(self._send, answer)

    # -- the peer's CALLs -----------------------------------------------------------------

    def _serve(self, call: frames.Call) -> None:
        send, key = self._send, (self._connection, call.message_id)
        if send is None:
            return
        if key in self._serving:
            answer = frames.encode_error(
                call.message_id,
                ErrorCode.RPC_FRAMEWORK_ERROR,
                "a CALL with this message id is being handled already",
            )
            self._spawn(_answer(send, answer))
            return
        self._serving.add(key)
        self._spawn(self._handle(call, send, key))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, call: frames.Call, send: Send, key: tuple[int, str]) -> None:
        try:
            answer = await self._respond(call)
        finally:
            self._serving.discard(key)
        if key[0] != self._connection:
            log.info("the answer to %s %r is dropped: its connection is gone", call.action, key[1])
            return
        await _answer(send, answer)

    async def _respond(self, call: frames.Call) -> bytes:
        """The CALLRESULT or CALLERROR that answers `call`."""
        action, message_id, payload = call.action, call.message_id, call.payload
        try:
            handler = self._handlers.get(action)
            request = self.codec.decode_request(action, payload)
            if handler is None:
                raise OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is not supported")
            response = await handler(request)
        except OcppError as error:
            if handler is None and error.code is not ErrorCode.NOT_IMPLEMENTED:
                # A known action without a handler is NotSupported, whatever its payload.
                error = OcppError(ErrorCode.NOT_SUPPORTED, f"{action} is not supported")
            return frames.encode_error(message_id, error.code, error.description, error.details)
        except Exception:
            log.exception("%s %r failed", action, message_id)
            return frames.encode_error(message_id, ErrorCode.INTERNAL_ERROR, f"{action} failed")
        try:
            return frames.encode_result(message_id, self.codec.encode(response))
        except Exception:
            log.exception("the response to %s %r does not encode", action, message_id)
            return frames.encode_error(message_id, ErrorCode.INTERNAL_ERROR, f"{action} failed")


async def _answer(send: Send, frame: bytes) -> None:
    try:
        await send(frame)
    except ConnectionError as error:
        log.info("an answer could not be sent: %s", error)


def _peer_error(frame: frames.CallError) -> OcppError:
    """The peer's CALLERROR as an `OcppError`; a code Part 4 does not know is a GenericError."""
    try:
        code = ErrorCode(frame.code)
        description = frame.description
    except ValueError:
        code, description = ErrorCode.GENERIC_ERROR, f"{frame.code}: {frame.description}"
    try:
        details = msgspec.json.decode(frame.details)
    except msgspec.DecodeError:
        details = None
    return OcppError(code, description, details if isinstance(details, dict) else None)
