"""Runs one module instance: wires it to MQTT and drives its life cycle.

A host is the runtime side of `Link`: generated classes call it, it turns calls into
MQTT messages and incoming messages into handler calls. One host per module instance,
whether that instance lives in its own process or shares an event loop with others.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from paho.mqtt.client import MQTTMessageInfo, topic_matches_sub

from evstack.runtime.acl import module_user
from evstack.runtime.calls import OutgoingCalls
from evstack.runtime.clock import ScaledClock
from evstack.runtime.eager import Finished, start_eagerly
from evstack.runtime.errors import CommandError, CommandEvent, ConfigurationError
from evstack.runtime.interface import Client, ImplBase
from evstack.runtime.link import ErrorHandler, RestartHandler, Target, VarHandler
from evstack.runtime.logbudget import LogBudget
from evstack.runtime.module import ModuleBase, ModuleContext
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.serving import CommandRoute, CommandServer
from evstack.runtime.specs import CommandSpec, ErrorSpec, Severity, VarSpec
from evstack.runtime.wire import (
    CMD_QOS,
    CONTROL_QOS,
    ERROR_QOS,
    ErrorEvent,
    GlobalReady,
    ModuleAssignment,
    ModuleReady,
    RunFinished,
    Topics,
)

__all__ = ["ModuleHost", "load_class"]

Route = Callable[[str, bytes], None]

# Within the manager's 5 s grace period, with time left to withdraw retained state.
SHUTDOWN_HOOK_S = 3.0

_encode = msgspec.json.Encoder().encode
_decode_error_event = msgspec.json.Decoder(ErrorEvent).decode


def load_class(path: str) -> type[ModuleBase]:
    """Import `package.module:ClassName` and check it is a module class."""
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot load module class {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, ModuleBase)):
        raise ConfigurationError(f"{path!r} is not a ModuleBase subclass")
    return cls


class ModuleHost:
    """Hosts the module instance `module_id`, whose assignment the manager publishes."""

    def __init__(
        self,
        broker: BrokerSettings,
        topics: Topics,
        module_id: str,
        *,
        config_timeout_s: float = 30,
    ) -> None:
        self.module_id = module_id
        self._broker = broker
        self._topics = topics
        self._config_timeout_s = config_timeout_s
        self.log = logging.getLogger(f"evstack.module.{module_id}")
        self._budget = LogBudget(self.log)
        self._exact_routes: dict[str, list[Route]] = {}
        # Topics whose last level names the sender: commands (the caller), replies (the callee).
        self._sender_routes: dict[str, CommandRoute] = {}
        self._wildcard_routes: list[tuple[str, Route]] = []
        self._subacks: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._calls = OutgoingCalls(
            module_id,
            topics,
            self._publish_command,
            self._is_connected,
            self._run_callback,
            self.log,
        )
        self._server = CommandServer(
            module_id, topics, self._publish_command, self._spawn, self._is_initialised, self.log
        )
        # Told apart from earlier incarnations of this module by its users (a restart).
        self._instance = uuid.uuid4().hex
        self._active_errors: dict[str, ErrorEvent] = {}
        self._var_topics: dict[tuple[str, str], str] = {}
        self._held_back: list[tuple[str, bytes, int, bool]] | None = []
        self._initialised = False
        self._closing = False
        self._in_shutdown_hook = False
        self._global_ready = asyncio.Event()
        self._assignment_future: asyncio.Future[ModuleAssignment] | None = None
        self._assignment: ModuleAssignment | None = None
        self._conn: MqttConnection | None = None
        self._ready_payload: bytes | None = None
        self.module: ModuleBase | None = None

    # -- life cycle -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start the module, run it until `stop` is set, then shut it down cleanly.

        Raises when the module cannot start or its init()/ready() fails: the supervisor
        treats that as a crash.
        """
        conn = self._conn = MqttConnection(
            self._broker,
            module_user(self._topics.prefix, self.module_id),  # the only id its account may use
            self._on_message,
            # If this process dies, the broker withdraws its retained "ready".
            will=(self._topics.module_ready(self.module_id), b"", CONTROL_QOS, True),
            on_reconnect=self._on_reconnect,
            on_connection_lost=self._on_connection_lost,
        )
        await conn.connect()
        try:
            starting = asyncio.ensure_future(self._start())
            stopping = asyncio.ensure_future(stop.wait())
            # Stop may come at any point of the start-up, even while init() waits.
            await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
                await asyncio.gather(starting, return_exceptions=True)
                return
            stopping.cancel()
            starting.result()  # a failed start is a crash
            await stop.wait()
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        assignment = await self._receive_assignment()
        module = self._build(assignment)
        await module.init()
        self._initialised = True
        await asyncio.gather(*self._subacks)
        self._subacks.clear()
        self._ready_payload = _encode(
            ModuleReady(run_id=assignment.run_id, pid=os.getpid(), instance=self._instance)
        )
        self._publish_now(self._topics.module_ready(self.module_id), self._ready_payload, True)
        await self._global_ready.wait()
        self._release_held_back()
        await module.ready()

    async def _receive_assignment(self) -> ModuleAssignment:
        self._assignment_future = asyncio.get_running_loop().create_future()
        topic = self._topics.config(self.module_id)
        self._route(topic, self._on_assignment)
        await self._subscribe(topic, CONTROL_QOS)
        try:
            async with asyncio.timeout(self._config_timeout_s):
                assignment = await self._assignment_future
        except TimeoutError:
            raise ConfigurationError(
                f"no config for module {self.module_id!r} on {topic} "
                f"after {self._config_timeout_s} s; is ev-manager running with this prefix?"
            ) from None
        self._assignment = assignment
        return assignment

    def _on_assignment(self, topic: str, payload: bytes) -> None:
        pending = self._assignment_future
        if not payload or pending is None or pending.done():
            return
        try:
            pending.set_result(msgspec.json.decode(payload, type=ModuleAssignment))
        except msgspec.DecodeError as exc:
            pending.set_exception(ConfigurationError(f"malformed config on {topic}: {exc}"))

    def _build(self, assignment: ModuleAssignment) -> ModuleBase:
        cls = load_class(assignment.module_class)
        self._server.max_pending = self._calls.max_pending = assignment.max_pending_commands
        config = _convert(assignment.config_module, cls.CONFIG, f"{self.module_id} config")
        requirements: dict[str, list[Client]] = {}
        for req_id, spec in cls.REQUIRES.items():
            connections = assignment.connections.get(req_id, [])
            if not spec.min_connections <= len(connections) <= spec.max_connections:
                raise ConfigurationError(
                    f"{self.module_id}.{req_id} needs {spec.min_connections}.."
                    f"{spec.max_connections} connections, got {len(connections)}"
                )
            clients = [spec.client(self, Target(*connection)) for connection in connections]
            requirements[req_id] = clients
            for client in clients:
                self._watch_readiness(client.target.module_id)
        if not assignment.state_dir:
            raise ConfigurationError(f"{self.module_id}: the assignment names no state folder")
        state_dir = Path(assignment.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        context = ModuleContext(
            self.module_id,
            config,
            requirements,
            self,
            self.log,
            state_dir,
            assignment.run_id,
            ScaledClock(assignment.speedup),
        )
        module = cls(context)
        self.module = module
        for impl_id, provided in cls.PROVIDES.items():
            impl_config = _convert(
                assignment.config_implementation.get(impl_id, {}),
                provided.config,
                f"{self.module_id}.{impl_id} config",
            )
            impl = getattr(module, f"create_{impl_id}")(impl_config)
            if not isinstance(impl, provided.interface_impl):
                raise ConfigurationError(
                    f"{cls.__name__}.create_{impl_id} returned {type(impl).__name__}, "
                    f"not a {provided.interface_impl.__name__}"
                )
            impl._attach(self, impl_id)
            self._serve_commands(impl)
        replies = self._topics.replies(self.module_id)
        self._sender_routes[replies] = self._calls.on_reply
        self._subscribe_soon(f"{replies}/+", CMD_QOS)
        ready_topic = self._topics.global_ready(assignment.manager)
        self._route(ready_topic, self._on_global_ready)
        self._subscribe_soon(ready_topic, CONTROL_QOS)
        return module

    def _on_global_ready(self, topic: str, payload: bytes) -> None:
        if not payload or self._assignment is None:
            return
        try:
            ready = msgspec.json.decode(payload, type=GlobalReady)
        except msgspec.DecodeError as exc:
            self.log.error("malformed global ready on %s: %s", topic, exc)
            return
        if ready.run_id == self._assignment.run_id:
            self._global_ready.set()

    def _on_reconnect(self) -> None:
        if self._closing:
            return
        self._republish_retained()
        if self.module is not None and self._initialised:
            self._run_callback(self.module.reconnected)

    def _on_connection_lost(self) -> None:
        # Requests sent or replies due meanwhile are lost: tell the callers now, not at their
        # timeout, so that charging logic waiting on a call does not stall through an outage.
        self._calls.fail_all(CommandEvent.NOT_CONNECTED, "the connection to the broker dropped")

    def _republish_retained(self) -> None:
        conn = self._connection()
        if self._ready_payload is not None:
            conn.publish(
                self._topics.module_ready(self.module_id), self._ready_payload, CONTROL_QOS, True
            )
        if self._held_back is None:
            for topic, event in self._active_errors.items():
                conn.publish(topic, _encode(event), ERROR_QOS, True)

    def _release_held_back(self) -> None:
        held, self._held_back = self._held_back or [], None
        for topic, payload, qos, retain in held:
            self._connection().publish(topic, payload, qos, retain)

    async def _shutdown(self) -> None:
        self._closing = True
        # First, or queued requests would start handlers after the running ones are cancelled.
        self._server.close(f"{self.module_id} is shutting down")
        self._calls.fail_all(CommandEvent.SHUTDOWN, f"{self.module_id} is shutting down")
        # A task cancelled before its first step never runs its body; let every handler
        # task start, so that each served command can answer "Shutdown" as it unwinds.
        await asyncio.sleep(0)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # A handler that swallows its cancellation must not keep the module alive.
            _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_HOOK_S)
            if stuck:
                self.log.error("%d handler(s) ignored cancellation", len(stuck))
        if self.module is not None:
            await self.module._stop_tasks(SHUTDOWN_HOOK_S)
            await self._run_shutdown_hook(self.module)
        conn = self._connection()
        if conn.connected:
            for topic in self._active_errors:
                conn.publish(topic, b"", ERROR_QOS, True)
            conn.publish(self._topics.module_ready(self.module_id), b"", CONTROL_QOS, True)
        await conn.disconnect()

    async def _run_shutdown_hook(self, module: ModuleBase) -> None:
        # The hook's own calls go out (an EVSE manager opens its contactors through its
        # board's driver, which the manager stops only after it); nothing else does.
        self._in_shutdown_hook = True
        try:
            async with asyncio.timeout(SHUTDOWN_HOOK_S):
                await module.shutdown()
        except TimeoutError:
            self.log.error("shutdown() did not finish in %s s", SHUTDOWN_HOOK_S)
        except Exception:
            self.log.exception("shutdown() failed")
        finally:
            self._in_shutdown_hook = False

    # -- routing ----------------------------------------------------------------------

    def _connection(self) -> MqttConnection:
        assert self._conn is not None, "the host is not running"
        return self._conn

    def _route(self, topic_filter: str, route: Route) -> None:
        if "+" in topic_filter or "#" in topic_filter:
            self._wildcard_routes.append((topic_filter, route))
        else:
            self._exact_routes.setdefault(topic_filter, []).append(route)

    async def _subscribe(self, topic_filter: str, qos: int) -> None:
        await self._connection().subscribe(topic_filter, qos)

    def _subscribe_soon(self, topic_filter: str, qos: int) -> None:
        """Subscribe; the module is not announced ready before the broker confirmed it."""
        acked = self._connection().subscribe(topic_filter, qos)
        if not self._initialised:
            self._subacks.append(acked)

    def _on_message(self, topic: str, payload: bytes) -> None:
        # Topics without a route are ignored (an open broker may send us anything).
        # Exact routes win: in our topic layout a wildcard route that overlaps an exact
        # one is only ever the fallback for the same kind of message (unknown commands).
        routes = self._exact_routes.get(topic)
        if routes is not None:
            for route in routes:
                route(topic, payload)
            return
        head, _, sender = topic.rpartition("/")
        sender_route = self._sender_routes.get(head)
        if sender_route is not None:
            sender_route(sender, payload)
            return
        for topic_filter, route in self._wildcard_routes:
            if topic_matches_sub(topic_filter, topic):
                route(topic, payload)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._budget.log(logging.ERROR, "handler failures", "handler failed", exc=exc)

    def _run_handler(self, handler: Callable[[Any], Awaitable[None] | None], value: Any) -> None:
        if self._closing:
            return  # the module is stopping: it handles nothing new (its tasks are cancelled)
        self._run_callback(lambda: handler(value))

    def _run_callback(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        try:
            result = callback()
            if inspect.iscoroutine(result):
                started = start_eagerly(result)
                if not isinstance(started, Finished):
                    self._spawn(started)
        except Exception as exc:
            self._budget.log(logging.ERROR, "handler failures", "handler failed", exc=exc)

    # -- publishing -------------------------------------------------------------------

    def _publish_now(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self._connection().publish(topic, payload, CONTROL_QOS, retain)

    def _is_initialised(self) -> bool:
        return self._initialised

    def _is_connected(self) -> bool:
        return self._conn is not None and self._conn.connected

    def _publish_command(self, topic: str, payload: bytes, qos: int) -> MQTTMessageInfo | None:
        return self._connection().publish(topic, payload, qos)

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self._held_back is not None:
            # Before global ready some subscribers may not exist yet: hold it back.
            self._held_back.append((topic, payload, qos, retain))
        else:
            self._connection().publish(topic, payload, qos, retain)

    async def publish_var(self, impl_id: str, spec: VarSpec, value: Any) -> None:
        topic = self._var_topics.get((impl_id, spec.name))
        if topic is None:
            topic = self._var_topics[impl_id, spec.name] = self._topics.var(
                self.module_id, impl_id, spec.name
            )
        self._publish(topic, _encode(value), spec.qos, False)

    async def raise_error(
        self, impl_id: str, spec: ErrorSpec, *, sub_type: str, message: str, severity: Severity
    ) -> None:
        topic = self._topics.error(self.module_id, impl_id, spec.type, sub_type)
        event = ErrorEvent(
            type=spec.type,
            sub_type=sub_type,
            message=message,
            description=spec.description,
            severity=severity,
            origin_module=self.module_id,
            origin_impl=impl_id,
            timestamp=time.time(),
            uuid=uuid.uuid4().hex,
        )
        self._active_errors[topic] = event
        self._publish(topic, _encode(event), ERROR_QOS, True)

    async def clear_error(self, impl_id: str, spec: ErrorSpec, *, sub_type: str) -> None:
        topic = self._topics.error(self.module_id, impl_id, spec.type, sub_type)
        # Published even if this incarnation never raised it: a crashed predecessor may have.
        self._active_errors.pop(topic, None)
        self._publish(topic, b"", ERROR_QOS, True)

    # -- commands, callee side --------------------------------------------------------

    def _serve_commands(self, impl: ImplBase) -> None:
        self._sender_routes.update(self._server.routes(impl))
        commands = self._topics.cmd_filter(self.module_id, impl.impl_id)
        self._route(commands, self._server.unknown)
        self._subscribe_soon(commands, CMD_QOS)

    # -- commands, caller side --------------------------------------------------------

    async def call(
        self,
        target: Target,
        spec: CommandSpec,
        args: msgspec.Struct,
        timeout: float | None,  # noqa: ASYNC109 - a per-call deadline is the API
    ) -> Any:
        # A stopping module's shutdown() may still call a module that is up (and is then
        # answered at once), but never waits for one that is not.
        closing = self._closing and not (
            self._in_shutdown_hook and self._calls.is_ready(target.module_id)
        )
        if closing:
            message = "the module is shutting down"
            raise CommandError(CommandEvent.SHUTDOWN, message, command=spec.name)
        assert self._assignment is not None
        timeout_s = self._assignment.command_timeout_s if timeout is None else timeout
        return await self._calls.call(target, spec, args, timeout_s)

    def _watch_readiness(self, module_id: str) -> None:
        route = self._calls.readiness_route(module_id)
        if route is not None:
            topic = self._topics.module_ready(module_id)
            self._route(topic, route)
            self._subscribe_soon(topic, CONTROL_QOS)

    # -- subscriptions ----------------------------------------------------------------

    def subscribe_var(self, target: Target, spec: VarSpec, handler: VarHandler) -> None:
        decode = msgspec.json.Decoder(spec.type).decode

        def on_var(topic: str, payload: bytes) -> None:
            try:
                value = decode(payload)
            except msgspec.DecodeError as exc:
                self._budget.error(
                    f"invalid {spec.name} values",
                    "dropped an invalid %s on %s: %s",
                    spec.name,
                    topic,
                    exc,
                )
                return
            self._run_handler(handler, value)

        topic = self._topics.var(target.module_id, target.impl_id, spec.name)
        self._route(topic, on_var)
        self._subscribe_soon(topic, spec.qos)

    def subscribe_errors(self, target: Target, handler: ErrorHandler) -> None:
        self._subscribe_error_events(
            self._topics.error_filter(target.module_id, target.impl_id), handler
        )

    def subscribe_restarts(self, target: Target, handler: RestartHandler) -> None:
        self._calls.on_restart(target.module_id, handler)

    def is_up(self, target: Target) -> bool:
        return self._calls.is_up(target.module_id)

    def subscribe_module_crashes(self, handler: ErrorHandler) -> None:
        self._subscribe_error_events(self._topics.all_manager_errors(), handler)

    def subscribe_all_errors(self, handler: ErrorHandler) -> None:
        self._subscribe_error_events(self._topics.all_module_errors(), handler)

    def _subscribe_error_events(self, topic_filter: str, handler: ErrorHandler) -> None:
        # Per subscription: what it saw raised, to report the clear (an empty payload) and
        # to drop the duplicates a broker may send for overlapping subscriptions.
        raised: dict[str, ErrorEvent] = {}

        def on_error(topic: str, payload: bytes) -> None:
            if not payload:
                cleared = raised.pop(topic, None)
                if cleared is not None:
                    self._run_handler(handler, msgspec.structs.replace(cleared, active=False))
                return
            try:
                event = _decode_error_event(payload)
            except msgspec.DecodeError as exc:
                self._budget.error(
                    "invalid error events", "dropped an invalid error event on %s: %s", topic, exc
                )
                return
            previous = raised.get(topic)
            if previous is not None and previous.uuid == event.uuid:
                return
            raised[topic] = event
            self._run_handler(handler, event)

        self._route(topic_filter, on_error)
        self._subscribe_soon(topic_filter, ERROR_QOS)

    # -- the end of a run -------------------------------------------------------------

    async def finish_run(self, exit_code: int, result: Any) -> None:
        assert self._assignment is not None, "the module has no assignment yet"
        if not self._assignment.may_finish_run:
            raise ConfigurationError(
                f"{self.module_id} may not finish the run: the runtime config does not name it "
                "in settings.finish_run_by"
            )
        request = RunFinished(
            run_id=self._assignment.run_id,
            exit_code=exit_code,
            result=msgspec.Raw(_encode(result)),
        )
        # Not held back like vars: the manager subscribed before it started any module.
        # No flush() here: var handlers may run outside a task, where it cannot time out;
        # the QoS 1 publish is kept across reconnects and written before we disconnect.
        self._publish_now(self._topics.finish_run(self.module_id), _encode(request))


def _convert(raw: dict[str, Any], struct: type[msgspec.Struct], what: str) -> Any:
    try:
        return msgspec.convert(raw, type=struct, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"{what}: {exc}") from exc
