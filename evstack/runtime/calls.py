"""The caller side of commands: correlation ids, deadlines, replies, target readiness.

Each call goes out on `.../cmd/<command>/<this module>` and its reply comes back on
`.../reply/<callee>`, so a reply from any other module than the one called is ignored. A
module keeps at most `max_pending` calls in flight to one target: a module that loops on a
call cannot flood its peer, it gets `Busy` at home instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec

from evstack.runtime.errors import CommandError, CommandEvent
from evstack.runtime.link import RestartHandler, Target
from evstack.runtime.logbudget import LogBudget
from evstack.runtime.specs import CommandSpec
from evstack.runtime.wire import CMD_QOS, CommandReply, CommandRequest, ModuleReady, Topics

__all__ = ["OutgoingCalls"]

_encode = msgspec.json.Encoder().encode
_decode_reply = msgspec.json.Decoder(CommandReply).decode
_decode_ready = msgspec.json.Decoder(ModuleReady).decode

Publish = Callable[[str, bytes, int], object]
Route = Callable[[str, bytes], None]


def _not_connected(spec: CommandSpec) -> CommandError:
    message = "no connection to the broker"
    return CommandError(CommandEvent.NOT_CONNECTED, message, command=spec.name)


class _PendingCall:
    __slots__ = ("future", "spec", "target")

    def __init__(self, future: asyncio.Future[Any], spec: CommandSpec, target: Target) -> None:
        self.future = future
        self.spec = spec
        self.target = target


class _Peer:
    """What we know of one module we call: is it up, which incarnation, who cares."""

    __slots__ = ("in_flight", "instance", "on_restart", "ready")

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.instance: str | None = None
        self.in_flight = 0
        self.on_restart: list[RestartHandler] = []


class OutgoingCalls:
    """The calls one module makes, all answered on its own reply topics."""

    def __init__(
        self,
        module_id: str,
        topics: Topics,
        publish: Publish,
        is_connected: Callable[[], bool],
        run_handler: Callable[[RestartHandler], None],
        log: logging.Logger,
        *,
        max_pending: int = 64,
    ) -> None:
        self._module_id = module_id
        self._topics = topics
        self._publish = publish
        self._is_connected = is_connected
        self._run_handler = run_handler
        self._budget = LogBudget(log)
        self.max_pending = max_pending
        self._pending: dict[int, _PendingCall] = {}
        # A random start keeps ids from a previous incarnation of this module apart.
        self._ids = itertools.count(secrets.randbits(40))
        self._peers: dict[str, _Peer] = {}

    # -- targets ----------------------------------------------------------------------

    def is_ready(self, module_id: str) -> bool:
        """Whether `module_id` is up now, as far as its ready topic says."""
        peer = self._peers.get(module_id)
        return peer is not None and peer.ready.is_set()

    def readiness_route(self, module_id: str) -> Route | None:
        """A route for `module_id`'s ready topic, or None if it is watched already."""
        if module_id in self._peers:
            return None
        peer = self._peers[module_id] = _Peer()

        def on_ready(topic: str, payload: bytes) -> None:
            # The will message empties the topic when the module's process dies.
            if not payload:
                peer.ready.clear()
                self._fail_calls_to(module_id, f"{module_id} went away")
                return
            try:
                instance = _decode_ready(payload).instance
            except msgspec.DecodeError as exc:
                self._budget.error("invalid ready messages", "invalid ready on %s: %s", topic, exc)
                return
            peer.ready.set()
            if peer.instance is not None and instance != peer.instance:
                for handler in peer.on_restart:
                    self._run_handler(handler)
            peer.instance = instance

        return on_ready

    def is_up(self, module_id: str) -> bool:
        peer = self._peers.get(module_id)
        return peer is not None and peer.ready.is_set() and self._is_connected()

    def on_restart(self, module_id: str, handler: RestartHandler) -> None:
        """Call `handler` whenever `module_id` is up again as a new incarnation."""
        self._peers[module_id].on_restart.append(handler)

    # -- calls ------------------------------------------------------------------------

    async def call(
        self,
        target: Target,
        spec: CommandSpec,
        args: msgspec.Struct,
        timeout_s: float,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        peer = self._peers[target.module_id]
        # Before the readiness wait: a broker that shuts down sends every module's will, so
        # while it is away no target is ready, and the call would sit out its timeout.
        if not self._is_connected():
            raise _not_connected(spec)
        if not peer.ready.is_set():
            try:
                async with asyncio.timeout_at(deadline):
                    await peer.ready.wait()
            except TimeoutError:
                raise CommandError(
                    CommandEvent.NOT_READY, f"{target.module_id} is not ready", command=spec.name
                ) from None
            if not self._is_connected():  # it dropped while we waited
                raise _not_connected(spec)
        if peer.in_flight >= self.max_pending:
            message = f"{peer.in_flight} calls to {target.module_id} in flight already"
            raise CommandError(CommandEvent.BUSY, message, command=spec.name)
        call_id = next(self._ids)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[call_id] = _PendingCall(future, spec, target)
        peer.in_flight += 1
        # A plain timer, not asyncio.timeout(): this is the hot path of every call.
        timer = loop.call_at(deadline, self._expire, call_id)
        request = CommandRequest(
            id=call_id, args=msgspec.Raw(_encode(args)), expires_at=time.time() + timeout_s
        )
        topic = self._topics.call(target.module_id, target.impl_id, spec.name, self._module_id)
        self._publish(topic, _encode(request), CMD_QOS)
        try:
            return await future
        finally:
            timer.cancel()
            peer.in_flight -= 1
            del self._pending[call_id]

    def _expire(self, call_id: int) -> None:
        pending = self._pending.get(call_id)
        if pending is not None and not pending.future.done():
            target = pending.target
            message = f"no reply from {target.module_id}:{target.impl_id}"
            pending.future.set_exception(
                CommandError(CommandEvent.TIMEOUT, message, command=pending.spec.name)
            )

    def on_reply(self, callee: str, payload: bytes) -> None:
        """A reply from `callee` (the last level of its topic)."""
        try:
            reply = _decode_reply(payload)
        except msgspec.DecodeError as exc:
            self._budget.error(
                "unparseable replies", "dropped an unparseable reply from %s: %s", callee, exc
            )
            return
        pending = self._pending.get(reply.id)
        if pending is None or pending.future.done():
            return  # the caller already gave up
        if pending.target.module_id != callee:
            self._budget.error(
                "replies from the wrong module",
                "dropped a reply from %s to a call to %s",
                callee,
                pending.target.module_id,
            )
            return
        name = pending.spec.name
        if reply.error is not None:
            try:
                event = CommandEvent(reply.error.event)
            except ValueError:
                event = CommandEvent.HANDLER_EXCEPTION
            pending.future.set_exception(CommandError(event, reply.error.message, command=name))
            return
        try:
            pending.future.set_result(msgspec.json.decode(reply.result, type=pending.spec.result))
        except msgspec.DecodeError as exc:
            pending.future.set_exception(
                CommandError(CommandEvent.SCHEMA_VALIDATION_FAILED, f"result: {exc}", command=name)
            )

    def _fail_calls_to(self, module_id: str, message: str) -> None:
        """Its replies will never come: tell the callers now, not at their timeout."""
        for pending in self._pending.values():
            if pending.target.module_id == module_id and not pending.future.done():
                pending.future.set_exception(
                    CommandError(CommandEvent.NOT_READY, message, command=pending.spec.name)
                )

    def fail_all(self, event: CommandEvent, message: str) -> None:
        """Answer every pending call with `event`: on shutdown, or when the connection drops."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(
                    CommandError(event, message, command=pending.spec.name)
                )
