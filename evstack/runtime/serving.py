"""The callee side of commands: parse, validate, run the handler, answer."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from evstack.runtime.eager import Finished, start_eagerly
from evstack.runtime.errors import CommandEvent
from evstack.runtime.interface import ImplBase
from evstack.runtime.specs import CommandSpec
from evstack.runtime.wire import CMD_QOS, CommandReply, CommandRequest, ReplyFailure, Topics

__all__ = ["CommandServer"]

_encode = msgspec.json.Encoder().encode
_decode_request = msgspec.json.Decoder(CommandRequest).decode

Publish = Callable[[str, bytes, int], None]
Route = Callable[[str, bytes], None]


class CommandServer:
    """Serves the commands of one module's implementations; every request gets one reply.

    `spawn` runs handlers that have to wait; `is_initialised` tells whether init() is done.
    """

    def __init__(
        self,
        module_id: str,
        topics: Topics,
        publish: Publish,
        spawn: Callable[[Awaitable[Any]], None],
        is_initialised: Callable[[], bool],
        log: logging.Logger,
    ) -> None:
        self._module_id = module_id
        self._topics = topics
        self._publish = publish
        self._spawn = spawn
        self._is_initialised = is_initialised
        self._log = log

    def routes(self, impl: ImplBase) -> list[tuple[str, Route]]:
        """One route per command, and the fallback for the `cmd/+` subscription."""
        routes = [
            (self._topics.cmd(self._module_id, impl.impl_id, spec.name), self._route(impl, spec))
            for spec in impl.COMMANDS.values()
        ]
        routes.append((self._topics.cmd_filter(self._module_id, impl.impl_id), self._unknown))
        return routes

    def _route(self, impl: ImplBase, spec: CommandSpec) -> Route:
        handler = getattr(impl, spec.handler)
        fields = spec.args.__struct_fields__
        decode_args = msgspec.json.Decoder(spec.args).decode

        def on_request(topic: str, payload: bytes) -> None:
            request = self._parse(topic, payload)
            if request is None:
                return
            if not self._is_initialised():
                self._fail(request, CommandEvent.NOT_READY, "init() has not finished")
                return
            try:
                args = decode_args(request.args)
            except msgspec.ValidationError as exc:
                self._fail(request, CommandEvent.SCHEMA_VALIDATION_FAILED, str(exc))
                return
            except msgspec.DecodeError as exc:
                self._fail(request, CommandEvent.MESSAGE_PARSING_FAILED, str(exc))
                return
            self._serve(spec, handler, {name: getattr(args, name) for name in fields}, request)

        return on_request

    def _parse(self, topic: str, payload: bytes) -> CommandRequest | None:
        try:
            return _decode_request(payload)
        except msgspec.DecodeError as exc:
            # Without a well-formed id and origin there is nobody to answer.
            self._log.error("dropped an unparseable command on %s: %s", topic, exc)
            return None

    def _unknown(self, topic: str, payload: bytes) -> None:
        request = self._parse(topic, payload)
        if request is not None:
            name = topic.rsplit("/", 1)[-1]
            self._fail(request, CommandEvent.UNKNOWN_COMMAND, f"no command {name!r}")

    def _serve(
        self,
        spec: CommandSpec,
        handler: Callable[..., Any],
        kwargs: dict[str, Any],
        request: CommandRequest,
    ) -> None:
        try:
            running = handler(**kwargs)
            started = start_eagerly(running) if inspect.iscoroutine(running) else Finished(running)
        except Exception as exc:
            self._fail_with_exception(spec, request, exc)
            return
        if isinstance(started, Finished):
            self._answer(spec, request, started.value)
        else:
            self._spawn(self._finish(spec, started, request))

    async def _finish(
        self, spec: CommandSpec, running: Awaitable[Any], request: CommandRequest
    ) -> None:
        try:
            result = await running
        except asyncio.CancelledError:
            self._fail(request, CommandEvent.SHUTDOWN, f"{self._module_id} stopped")
            raise
        except Exception as exc:
            self._fail_with_exception(spec, request, exc)
            return
        self._answer(spec, request, result)

    def _answer(self, spec: CommandSpec, request: CommandRequest, result: Any) -> None:
        try:
            encoded = _encode(result)
        except (TypeError, msgspec.EncodeError) as exc:
            self._fail_with_exception(spec, request, exc)
            return
        reply = CommandReply(id=request.id, result=msgspec.Raw(encoded))
        self._publish(self._topics.reply(request.origin), _encode(reply), CMD_QOS)

    def _fail_with_exception(
        self, spec: CommandSpec, request: CommandRequest, exc: Exception
    ) -> None:
        self._log.error("command %s failed", spec.name, exc_info=exc)
        self._fail(request, CommandEvent.HANDLER_EXCEPTION, f"{type(exc).__name__}: {exc}")

    def _fail(self, request: CommandRequest, event: CommandEvent, message: str) -> None:
        reply = CommandReply(id=request.id, error=ReplyFailure(event=event.value, message=message))
        self._publish(self._topics.reply(request.origin), _encode(reply), CMD_QOS)
