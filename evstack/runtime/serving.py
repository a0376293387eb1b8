"""The callee side of commands: parse, validate, run the handler, answer.

Requests arrive on `.../cmd/<command>/<caller>`, so the caller is known before the payload is
read. Each caller gets its own queue, drained round-robin, one request per caller and
event-loop turn: a caller that floods a module fills only its own queue and gets `Busy`
answers (and, beyond a few a second, silence, which costs nothing to send), while the
requests of everybody else (an energy grant, a board reply the charging logic waits for) are
served in their turn. A well-behaved caller, one request per turn, never waits in a queue: its
request runs at once, in the callback that read it, which keeps the round trip short.

A caller's pending requests include its answers that have not left for the socket yet. A
flood is cheap to answer but its answers pile up in front of everybody else's on the one
connection; counted this way, the flood is refused as soon as its answers back up, and an
energy grant's answer never waits behind thousands of them. A caller whose requests overlap
(a new one arrives while one of its own is still pending) is also held to a rate: a burst of
`max_pending`, then `OVERLAPPING_PER_S` a second. A caller that waits for each answer, as the
runtime's own calls do, is never held to it, however fast it goes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from paho.mqtt.client import MQTTMessageInfo

from evstack.runtime.caller import reset_caller, set_caller
from evstack.runtime.eager import Finished, start_eagerly
from evstack.runtime.errors import CommandEvent
from evstack.runtime.interface import ImplBase
from evstack.runtime.logbudget import LogBudget
from evstack.runtime.specs import CommandSpec
from evstack.runtime.wire import CMD_QOS, CommandReply, CommandRequest, ReplyFailure, Topics

__all__ = ["CommandServer"]

_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(CommandRequest).decode

Publish = Callable[[str, bytes, int], MQTTMessageInfo | None]
# (caller module id, payload)
CommandRoute = Callable[[str, bytes], None]

# Callers served per event-loop turn from the queues, so timers and other tasks still run.
SERVED_PER_TURN = 16
# Busy answers per caller per second; beyond that a flood is dropped unanswered (and counted).
BUSY_REPLIES_PER_S = 50
# Requests a second a caller may send while others of its own are pending (after a burst).
OVERLAPPING_PER_S = 1000.0
# Callers remembered at most; idle ones are forgotten beyond this (an open bus lets anyone
# name any caller).
MAX_CALLERS = 1024


@dataclass(slots=True)
class _Command:
    spec: CommandSpec
    handler: Callable[..., Any]
    fields: tuple[str, ...]
    decode_args: Callable[[bytes], Any]


@dataclass(slots=True)
class _Caller:
    """What one caller has asked of this module and not yet been answered."""

    waiting: deque[tuple[_Command, CommandRequest]] = field(default_factory=deque)
    pending: int = 0  # waiting + running
    unsent: deque[MQTTMessageInfo] = field(default_factory=deque)  # answers not yet written
    served_this_turn: bool = False
    busy_window: float = 0.0
    busy_replies: int = 0
    tokens: float = 0.0  # overlapping requests it may still send now
    refilled_at: float = 0.0

    def admits_overlap(self, burst: int) -> bool:
        """Take a token for a request that overlaps the caller's pending ones, if there is one."""
        now = time.monotonic()
        self.tokens = min(float(burst), self.tokens + (now - self.refilled_at) * OVERLAPPING_PER_S)
        self.refilled_at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    def load(self) -> int:
        """Requests waiting or running, and answers still on their way to the socket."""
        unsent = self.unsent
        while unsent and _left(unsent[0]):
            unsent.popleft()
        return self.pending + len(unsent)


def _left(info: MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (ValueError, RuntimeError):
        return True  # it never will be: the connection dropped it


class CommandServer:
    """Serves the commands of one module's implementations; every accepted request is answered.

    `spawn` runs handlers that have to wait; `is_initialised` tells whether init() is done.
    `max_pending` bounds the requests of one caller that may wait or run at a time.
    """

    def __init__(
        self,
        module_id: str,
        topics: Topics,
        publish: Publish,
        spawn: Callable[[Awaitable[Any]], None],
        is_initialised: Callable[[], bool],
        log: logging.Logger,
        *,
        max_pending: int = 64,
    ) -> None:
        self._module_id = module_id
        self._topics = topics
        self._publish = publish
        self._spawn = spawn
        self._is_initialised = is_initialised
        self._log = log
        self._budget = LogBudget(log)
        self.max_pending = max_pending
        self._callers: dict[str, _Caller] = {}
        self._turn: list[_Caller] = []  # callers served eagerly this turn
        self._queued: deque[str] = deque()  # callers with waiting requests, in serving order
        self._draining = False
        # Why requests are no longer served (the module stops); None while they are.
        self._stopped: str | None = None
        self.busy_answers = 0
        self.dropped = 0

    def routes(self, impl: ImplBase) -> dict[str, CommandRoute]:
        """One route per command, keyed by the command's topic level (callers below it)."""
        return {
            self._topics.cmd(self._module_id, impl.impl_id, spec.name): self._route(spec, impl)
            for spec in impl.COMMANDS.values()
        }

    def _route(self, spec: CommandSpec, impl: ImplBase) -> CommandRoute:
        command = _Command(
            spec,
            getattr(impl, spec.handler),
            tuple(spec.args.__struct_fields__),
            msgspec.json.Decoder(spec.args).decode,
        )

        def on_request(caller: str, payload: bytes) -> None:
            request = self._parse(caller, payload)
            if request is not None:
                self._accept(caller, command, request)

        return on_request

    def unknown(self, topic: str, payload: bytes) -> None:
        """A request under one of our implementations for a command it does not have."""
        head, _, caller = topic.rpartition("/")
        request = self._parse(caller, payload)
        if request is not None:
            name = head.rsplit("/", 1)[-1]
            self._fail(caller, request, CommandEvent.UNKNOWN_COMMAND, f"no command {name!r}")

    def _parse(self, caller: str, payload: bytes) -> CommandRequest | None:
        try:
            return _decode_request(payload)
        except msgspec.DecodeError as exc:
            # Without a well-formed id there is nobody to answer.
            self._budget.error(
                "unparseable commands", "dropped an unparseable command from %s: %s", caller, exc
            )
            return None

    def close(self, message: str) -> None:
        """Serve no more: what waits in the queues, and what comes from now on, is answered
        with Shutdown. Handlers already running are the host's to cancel."""
        self._stopped = message
        for caller_id in self._queued:
            caller = self._callers[caller_id]
            for _, request in caller.waiting:
                self._fail(caller_id, request, CommandEvent.SHUTDOWN, message)
            caller.pending -= len(caller.waiting)
            caller.waiting.clear()
        self._queued.clear()

    # -- admission and scheduling ------------------------------------------------------

    def _accept(self, caller_id: str, command: _Command, request: CommandRequest) -> None:
        if self._stopped is not None:
            self._fail(caller_id, request, CommandEvent.SHUTDOWN, self._stopped)
            return
        caller = self._caller(caller_id)
        load = caller.load()
        if load >= self.max_pending or (load and not caller.admits_overlap(self.max_pending)):
            self._busy(caller_id, caller, request)
            return
        caller.pending += 1
        if not caller.waiting and not caller.served_this_turn:
            # The common case: this caller's only request this turn runs right away.
            caller.served_this_turn = True
            if not self._turn:
                asyncio.get_running_loop().call_soon(self._end_turn)
            self._turn.append(caller)
            self._serve(caller_id, caller, command, request)
            return
        if not caller.waiting:
            self._queued.append(caller_id)
        caller.waiting.append((command, request))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().call_soon(self._drain)

    def _caller(self, caller_id: str) -> _Caller:
        caller = self._callers.get(caller_id)
        if caller is None:
            if len(self._callers) >= MAX_CALLERS:
                idle = [c for c, known in self._callers.items() if known.load() == 0]
                for forgotten in idle:
                    del self._callers[forgotten]
            caller = self._callers[caller_id] = _Caller(tokens=float(self.max_pending))
        return caller

    def _end_turn(self) -> None:
        for caller in self._turn:
            caller.served_this_turn = False
        self._turn.clear()

    def _drain(self) -> None:
        """Serve one waiting request of each caller (a few callers at most), then yield the
        loop: a caller gets no more of a turn than one request, however many it sent."""
        for _ in range(min(SERVED_PER_TURN, len(self._queued))):
            caller_id = self._queued.popleft()
            caller = self._callers[caller_id]
            command, request = caller.waiting.popleft()
            if caller.waiting:
                self._queued.append(caller_id)
            self._serve(caller_id, caller, command, request)
        if self._queued:
            asyncio.get_running_loop().call_soon(self._drain)
        else:
            self._draining = False

    def _busy(self, caller_id: str, caller: _Caller, request: CommandRequest) -> None:
        now = time.monotonic()
        if now - caller.busy_window >= 1.0:
            caller.busy_window, caller.busy_replies = now, 0
        if caller.busy_replies < BUSY_REPLIES_PER_S:
            caller.busy_replies += 1
            self.busy_answers += 1
            message = f"{caller.load()} commands of {caller_id} pending at {self._module_id}"
            self._fail(caller_id, request, CommandEvent.BUSY, message)
        else:
            self.dropped += 1
        self._budget.warning(
            "commands refused as busy",
            "%s sends commands faster than %s serves them; refusing the excess as Busy",
            caller_id,
            self._module_id,
        )

    # -- serving -----------------------------------------------------------------------

    def _serve(
        self, caller_id: str, caller: _Caller, command: _Command, request: CommandRequest
    ) -> None:
        if request.expires_at is not None and time.time() > request.expires_at:
            # The caller gave up already (it may have been queued during a broker outage):
            # carrying it out now would act on a stale decision.
            caller.pending -= 1
            self.dropped += 1
            self._budget.warning(
                "expired commands",
                "dropped %s from %s: it expired before it could be served",
                command.spec.name,
                caller_id,
            )
            return
        if not self._is_initialised():
            caller.pending -= 1
            self._fail(caller_id, request, CommandEvent.NOT_READY, "init() has not finished")
            return
        try:
            args = command.decode_args(request.args)
        except msgspec.ValidationError as exc:
            caller.pending -= 1
            self._fail(caller_id, request, CommandEvent.SCHEMA_VALIDATION_FAILED, str(exc))
            return
        except msgspec.DecodeError as exc:
            caller.pending -= 1
            self._fail(caller_id, request, CommandEvent.MESSAGE_PARSING_FAILED, str(exc))
            return
        kwargs = {name: getattr(args, name) for name in command.fields}
        token = set_caller(caller_id)
        try:
            running = command.handler(**kwargs)
            started = start_eagerly(running) if inspect.iscoroutine(running) else Finished(running)
            if not isinstance(started, Finished):
                # The task copies the context now, so the handler keeps seeing its caller.
                self._spawn(self._finish(caller_id, caller, command.spec, started, request))
                return
        except Exception as exc:
            caller.pending -= 1
            self._fail_with_exception(caller_id, command.spec, request, exc)
            return
        finally:
            reset_caller(token)
        caller.pending -= 1
        self._answer(caller_id, command.spec, request, started.value)

    async def _finish(
        self,
        caller_id: str,
        caller: _Caller,
        spec: CommandSpec,
        running: Awaitable[Any],
        request: CommandRequest,
    ) -> None:
        try:
            result = await running
        except asyncio.CancelledError:
            self._fail(caller_id, request, CommandEvent.SHUTDOWN, f"{self._module_id} stopped")
            raise
        except Exception as exc:
            self._fail_with_exception(caller_id, spec, request, exc)
            return
        finally:
            caller.pending -= 1
        self._answer(caller_id, spec, request, result)

    def _answer(
        self, caller_id: str, spec: CommandSpec, request: CommandRequest, result: Any
    ) -> None:
        try:
            encoded = _encode(result)
        except (TypeError, msgspec.EncodeError) as exc:
            self._fail_with_exception(caller_id, spec, request, exc)
            return
        self._send(caller_id, CommandReply(id=request.id, result=msgspec.Raw(encoded)))

    def _fail_with_exception(
        self, caller_id: str, spec: CommandSpec, request: CommandRequest, exc: Exception
    ) -> None:
        self._budget.log(
            logging.ERROR, f"failures of {spec.name}", "command %s failed", spec.name, exc=exc
        )
        self._fail(
            caller_id, request, CommandEvent.HANDLER_EXCEPTION, f"{type(exc).__name__}: {exc}"
        )

    def _fail(
        self, caller_id: str, request: CommandRequest, event: CommandEvent, message: str
    ) -> None:
        failure = ReplyFailure(event=event.value, message=message)
        self._send(caller_id, CommandReply(id=request.id, error=failure))

    def _send(self, caller_id: str, reply: CommandReply) -> None:
        topic = self._topics.reply(caller_id, self._module_id)
        sent = self._publish(topic, _encode(reply), CMD_QOS)
        if sent is not None and not _left(sent):
            self._caller(caller_id).unsent.append(sent)
