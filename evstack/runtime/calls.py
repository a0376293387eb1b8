"""The caller side of commands: correlation ids, deadlines, replies, target readiness."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from typing import Any

import msgspec

from evstack.runtime.errors import CommandError, CommandEvent
from evstack.runtime.link import Target
from evstack.runtime.specs import CommandSpec
from evstack.runtime.wire import CMD_QOS, CommandReply, CommandRequest, Topics

__all__ = ["OutgoingCalls"]

_encode = msgspec.json.Encoder().encode
_decode_reply = msgspec.json.Decoder(CommandReply).decode

Publish = Callable[[str, bytes, int], None]
Route = Callable[[str, bytes], None]


class _PendingCall:
    __slots__ = ("future", "spec", "target")

    def __init__(self, future: asyncio.Future[Any], spec: CommandSpec, target: Target) -> None:
        self.future = future
        self.spec = spec
        self.target = target


class OutgoingCalls:
    """The calls one module makes, all answered on its single reply topic."""

    def __init__(
        self, module_id: str, topics: Topics, publish: Publish, log: logging.Logger
    ) -> None:
        self._module_id = module_id
        self._topics = topics
        self._publish = publish
        self._log = log
        self._pending: dict[int, _PendingCall] = {}
        # A random start keeps ids from a previous incarnation of this module apart.
        self._ids = itertools.count(secrets.randbits(40))
        self._target_ready: dict[str, asyncio.Event] = {}

    def readiness_route(self, module_id: str) -> Route | None:
        """A route for `module_id`'s ready topic, or None if it is watched already."""
        if module_id in self._target_ready:
            return None
        ready = self._target_ready[module_id] = asyncio.Event()

        def on_ready(topic: str, payload: bytes) -> None:
            # Any non-empty payload means up; the will message empties it on a crash.
            if payload:
                ready.set()
            else:
                ready.clear()

        return on_ready

    async def call(
        self,
        target: Target,
        spec: CommandSpec,
        args: msgspec.Struct,
        timeout_s: float,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        ready = self._target_ready[target.module_id]
        if not ready.is_set():
            try:
                async with asyncio.timeout_at(deadline):
                    await ready.wait()
            except TimeoutError:
                raise CommandError(
                    CommandEvent.NOT_READY, f"{target.module_id} is not ready", command=spec.name
                ) from None
        call_id = next(self._ids)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending[call_id] = _PendingCall(future, spec, target)
        # A plain timer, not asyncio.timeout(): this is the hot path of every call.
        timer = loop.call_at(deadline, self._expire, call_id)
        request = CommandRequest(
            id=call_id, origin=self._module_id, args=msgspec.Raw(_encode(args))
        )
        self._publish(self._topics.cmd(*target, spec.name), _encode(request), CMD_QOS)
        try:
            return await future
        finally:
            timer.cancel()
            del self._pending[call_id]

    def _expire(self, call_id: int) -> None:
        pending = self._pending.get(call_id)
        if pending is not None and not pending.future.done():
            target = pending.target
            message = f"no reply from {target.module_id}:{target.impl_id}"
            pending.future.set_exception(
                CommandError(CommandEvent.TIMEOUT, message, command=pending.spec.name)
            )

    def on_reply(self, topic: str, payload: bytes) -> None:
        try:
            reply = _decode_reply(payload)
        except msgspec.DecodeError as exc:
            self._log.error("dropped an unparseable reply on %s: %s", topic, exc)
            return
        pending = self._pending.get(reply.id)
        if pending is None or pending.future.done():
            return  # the caller already gave up
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

    def fail_all(self, message: str) -> None:
        """Answer every pending call with Shutdown."""
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(
                    CommandError(CommandEvent.SHUTDOWN, message, command=pending.spec.name)
                )
