"""`ev-manager`'s engine: broker, module start-up, the global ready handshake, supervision.

The manager publishes each module's assignment (config and wiring) retained, starts the
module hosts, waits for every module's ready and then publishes the global ready. It
watches the hosts: a crashed module is restarted with exponential back-off while the
others keep running, and the crash is published as an `evstack/ModuleCrashed` error
(sub type: the module id) until the module is ready again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from evstack.runtime.acl import bus_acl, manager_user
from evstack.runtime.broker import EmbeddedBroker
from evstack.runtime.credentials import Credentials
from evstack.runtime.host import ModuleHost
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.process import module_process_context, run_module_process
from evstack.runtime.specs import Severity
from evstack.runtime.wire import (
    CONTROL_QOS,
    ERROR_QOS,
    ErrorEvent,
    GlobalReady,
    ModuleAssignment,
    ModuleReady,
    RunFinished,
    Topics,
)

__all__ = ["MODULE_CRASHED", "Manager", "running"]

MODULE_CRASHED = "evstack/ModuleCrashed"
STOP_GRACE_S = 5.0
# The exit codes of a module process stopped by SIGINT or SIGTERM (multiprocessing's sign).
_STOP_SIGNAL_EXITS = frozenset({-signal.SIGINT, -signal.SIGTERM})

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class _Supervised:
    plan: ModulePlan
    restarts: int = 0
    ready: bool = False
    ready_since: float = 0.0
    stopping: bool = False
    crashed: bool = False
    process: Any = None
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)


class Manager:
    """Runs a `RunPlan` until `stop` is set, by the caller or by a module's `finish_run`.

    `inprocess=True` runs every module host as a task in this event loop (tests, small
    boards); otherwise each module gets its own process forked from a forkserver.

    Each module and the manager use their own account on the broker: from `credentials`, else
    from the plan's credentials file; the embedded broker makes fresh ones when neither is
    given. The manager's name defaults to the one the credentials are for.
    """

    def __init__(
        self,
        plan: RunPlan,
        *,
        inprocess: bool = False,
        name: str | None = None,
        embedded_port: int = 0,
        credentials: Credentials | None = None,
    ) -> None:
        self.plan = plan
        self.embedded_port = embedded_port
        self.inprocess = inprocess
        if credentials is None and plan.credentials_file is not None:
            credentials = Credentials.load(plan.credentials_file)
        if name is None and credentials is not None:
            name = credentials.manager
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        if credentials is not None:
            credentials.check(plan.prefix, self.name, (m.module_id for m in plan.modules))
        self._credentials = credentials
        self.topics = Topics(plan.prefix)
        self.run_id = secrets.token_hex(8)
        self.globally_ready = asyncio.Event()
        self.startup_s: float | None = None
        self.broker: BrokerSettings | None = plan.broker
        self._modules = {m.module_id: _Supervised(m) for m in plan.modules}
        self._ready_topics = {self.topics.module_ready(m): m for m in self._modules}
        self._embedded: EmbeddedBroker | None = None
        self._conn: MqttConnection | None = None
        self._started_at = 0.0
        self._restart_handles: set[asyncio.TimerHandle] = set()
        self._process_context: Any = None
        # Told (module id, reason) of every crash; for embedding and tests.
        self.on_crash: Callable[[str, str], None] | None = None
        self._stop_requested = asyncio.Event()
        self._global_ready_payload: bytes | None = None
        self._crash_events: dict[str, bytes] = {}
        self._finish_topics = {self.topics.finish_run(m): m for m in self._modules}
        # Where each module keeps what must survive it; a temporary folder if the plan names none.
        self._own_state_dir: Path | None = None
        self.state_dir = plan.state_dir
        # What the module that ended the run asked for; None while it runs or when stopped.
        self.finished: RunFinished | None = None
        self.finished_by = ""

    async def run(self, stop: asyncio.Event) -> None:
        self._started_at = time.perf_counter()
        self._stop_requested = stop
        try:
            await self._start()
            await stop.wait()
        finally:
            await self._stop()

    async def _start(self) -> None:
        if self.state_dir is None:
            self._own_state_dir = self.state_dir = Path(tempfile.mkdtemp(prefix="evstack-state-"))
        if self.broker is None:
            await self._start_embedded_broker()
        elif self._credentials is None:
            log.warning(
                "the MQTT bus %s is not locked down: without credentials (settings."
                "credentials_file or --credentials, from `ev-codegen broker-acl`) any client "
                "of the broker can act as any module; see docs/runtime-protocol.md",
                self.broker.url,
            )
        global_ready = self.topics.global_ready(self.name)
        conn = self._conn = MqttConnection(
            self._broker_for(None),
            manager_user(self.plan.prefix, self.name),
            self._on_message,
            will=(global_ready, b"", CONTROL_QOS, True),
            on_reconnect=self._republish_retained,
        )
        await conn.connect()
        conn.publish(global_ready, b"", CONTROL_QOS, retain=True)
        self._publish_assignments()
        subscriptions = [*self._ready_topics, self.topics.all_finish_requests()]
        await asyncio.gather(*(conn.subscribe(t, CONTROL_QOS) for t in subscriptions))
        if not self.inprocess:
            preload = sorted({m.module_class.partition(":")[0] for m in self.plan.modules})
            self._process_context = module_process_context(preload)
        for supervised in self._modules.values():
            self._launch(supervised)

    async def _start_embedded_broker(self) -> None:
        module_ids = [m.module_id for m in self.plan.modules]
        if self._credentials is None:
            self._credentials = Credentials.generate(self.plan.prefix, self.name, module_ids)
        self._embedded = EmbeddedBroker(
            port=self.embedded_port,
            grants=bus_acl(self.plan, [self.name]),
            passwords=self._credentials.passwords,
        )
        self.broker = await self._embedded.start()
        log.info("embedded MQTT broker on %s, one account per module", self.broker.url)

    def _broker_for(self, module_id: str | None) -> BrokerSettings:
        """How the manager (None) or a module connects: with its own account, if there are any."""
        assert self.broker is not None
        if self._credentials is None:
            return self.broker
        if module_id is None:
            return self._credentials.for_manager(self.broker)
        return self._credentials.for_module(self.broker, module_id)

    def _publish_assignments(self) -> None:
        for supervised in self._modules.values():
            self._connection().publish(
                self.topics.config(supervised.plan.module_id),
                _encode(self._assignment(supervised.plan)),
                CONTROL_QOS,
                retain=True,
            )

    def _republish_retained(self) -> None:
        self._publish_assignments()
        if self._global_ready_payload is not None:
            self._connection().publish(
                self.topics.global_ready(self.name), self._global_ready_payload, CONTROL_QOS, True
            )
        for module_id, payload in self._crash_events.items():
            topic = self.topics.manager_error(self.name, MODULE_CRASHED, module_id)
            self._connection().publish(topic, payload, ERROR_QOS, retain=True)

    def _assignment(self, plan: ModulePlan) -> ModuleAssignment:
        assert self.state_dir is not None
        return ModuleAssignment(
            run_id=self.run_id,
            manager=self.name,
            module_id=plan.module_id,
            module_class=plan.module_class,
            config_module=dict(plan.config_module),
            config_implementation={k: dict(v) for k, v in plan.config_implementation.items()},
            connections={k: list(v) for k, v in plan.connections.items()},
            command_timeout_s=self.plan.command_timeout_s,
            state_dir=str(self.state_dir / plan.module_id),
            may_finish_run=plan.module_id in self.plan.finishers,
            max_pending_commands=self.plan.max_pending_commands,
            speedup=self.plan.speedup,
        )

    # -- launching and watching -------------------------------------------------------

    def _launch(self, supervised: _Supervised) -> None:
        module_id = supervised.plan.module_id
        supervised.stop = asyncio.Event()
        supervised.exited = asyncio.Event()
        broker = self._broker_for(module_id)
        if self.inprocess:
            host = ModuleHost(broker, self.topics, module_id)
            supervised.task = asyncio.create_task(host.run(supervised.stop), name=module_id)
            supervised.task.add_done_callback(lambda task: self._on_task_exit(supervised, task))
            return
        process = self._process_context.Process(
            target=run_module_process,
            # Through the forkserver's socket: the password is in no argv nor environment.
            args=(
                broker,
                self.plan.prefix,
                module_id,
                os.getpid(),
                logging.getLogger().level,
            ),
            name=f"evstack-{module_id}",
        )
        process.start()
        supervised.process = process
        loop = asyncio.get_running_loop()
        loop.add_reader(process.sentinel, self._on_process_exit, supervised, process)

    def _on_task_exit(self, supervised: _Supervised, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            reason = "cancelled"
        elif (exc := task.exception()) is not None:
            log.error("module %s failed", supervised.plan.module_id, exc_info=exc)
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "returned"
        self._exited(supervised, reason)

    def _on_process_exit(self, supervised: _Supervised, process: Any) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(process.sentinel)
        process.join(0)
        reason = f"exit code {process.exitcode}"
        if process.exitcode in _STOP_SIGNAL_EXITS:
            # A SIGINT/SIGTERM sent to the whole process group (Ctrl-C, `timeout`) also ends
            # the modules; give our own signal handler a moment to mark the stop, so that
            # this is not mistaken for a crash.
            loop.call_later(0.1, self._exited, supervised, reason)
        else:
            # A crash: safety logic elsewhere acts on the news, so it goes out at once.
            self._exited(supervised, reason)

    def _exited(self, supervised: _Supervised, reason: str) -> None:
        uptime = time.monotonic() - supervised.ready_since if supervised.ready else 0.0
        supervised.ready = False
        supervised.task = None
        supervised.process = None
        supervised.exited.set()
        if supervised.stopping or self._stop_requested.is_set():
            return
        module_id = supervised.plan.module_id
        supervised.crashed = True
        log.error("module %s crashed (%s)", module_id, reason)
        self._publish_crash(module_id, reason)
        if self.on_crash is not None:
            self.on_crash(module_id, reason)
        policy = self.plan.restart
        if uptime > policy.max_s:
            supervised.restarts = 0  # it ran well for a while: a fresh failure, not a loop
        if supervised.restarts >= policy.max_restarts:
            log.error(
                "module %s is not restarted: %d restarts used", module_id, policy.max_restarts
            )
            return
        delay = policy.delay(supervised.restarts)
        supervised.restarts += 1
        log.info("restarting %s in %.2f s (restart %d)", module_id, delay, supervised.restarts)
        handle = asyncio.get_running_loop().call_later(delay, self._restart, supervised)
        self._restart_handles.add(handle)

    def _restart(self, supervised: _Supervised) -> None:
        if not supervised.stopping:
            self._launch(supervised)

    def _publish_crash(self, module_id: str, reason: str) -> None:
        event = ErrorEvent(
            type=MODULE_CRASHED,
            sub_type=module_id,
            message=reason,
            description="A module process stopped unexpectedly; the manager restarts it.",
            severity=Severity.HIGH,
            origin_module=self.name,
            origin_impl="manager",
            timestamp=time.time(),
            uuid=uuid.uuid4().hex,
        )
        topic = self.topics.manager_error(self.name, MODULE_CRASHED, module_id)
        payload = _encode(event)
        self._crash_events[module_id] = payload
        self._connection().publish(topic, payload, ERROR_QOS, retain=True)

    # -- the ready handshake ----------------------------------------------------------

    def _connection(self) -> MqttConnection:
        assert self._conn is not None
        return self._conn

    def _on_message(self, topic: str, payload: bytes) -> None:
        # Only topics we subscribed to count: an open broker may send us anything.
        finisher = self._finish_topics.get(topic)
        if finisher is not None:
            self._on_finish(finisher, payload)
            return
        module_id = self._ready_topics.get(topic)
        if module_id is None or not payload:
            return
        supervised = self._modules[module_id]
        try:
            ready = msgspec.json.decode(payload, type=ModuleReady)
        except msgspec.DecodeError as exc:
            log.error("malformed module ready on %s: %s", topic, exc)
            return
        if ready.run_id != self.run_id:
            return  # a leftover from an earlier run
        supervised.ready = True
        supervised.ready_since = time.monotonic()
        if supervised.crashed:
            supervised.crashed = False
            self._crash_events.pop(module_id, None)
            crash_topic = self.topics.manager_error(self.name, MODULE_CRASHED, module_id)
            self._connection().publish(crash_topic, b"", ERROR_QOS, retain=True)
        if not self.globally_ready.is_set() and all(m.ready for m in self._modules.values()):
            announcement = GlobalReady(run_id=self.run_id, modules=sorted(self._modules))
            self._global_ready_payload = _encode(announcement)
            self._connection().publish(
                self.topics.global_ready(self.name), self._global_ready_payload, CONTROL_QOS, True
            )
            self.startup_s = time.perf_counter() - self._started_at
            self.globally_ready.set()
            log.info("%d modules ready in %.3f s", len(self._modules), self.startup_s)

    def _on_finish(self, module_id: str, payload: bytes) -> None:
        try:
            request = msgspec.json.decode(payload, type=RunFinished)
        except msgspec.DecodeError as exc:
            log.error("malformed finish request from %s: %s", module_id, exc)
            return
        if request.run_id != self.run_id or self.finished is not None:
            return  # an earlier run's, or a second one: the first request decides
        if module_id not in self.plan.finishers:
            log.error("ignored %s's request to finish the run: not in finish_run_by", module_id)
            return
        log.info("module %s finished the run (exit code %d)", module_id, request.exit_code)
        self.finished = request
        self.finished_by = module_id
        self._stop_requested.set()

    # -- shutdown ---------------------------------------------------------------------

    async def _stop(self) -> None:
        for handle in self._restart_handles:
            handle.cancel()
        for supervised in self._modules.values():
            supervised.stopping = True  # no restarts from here on
        for wave in self._stop_waves():
            for supervised in wave:
                supervised.stop.set()
                if supervised.process is not None and supervised.process.is_alive():
                    supervised.process.terminate()
            await asyncio.gather(*(self._wait_stopped(s) for s in wave))
        conn = self._conn
        if conn is not None and conn.connected:
            conn.publish(self.topics.global_ready(self.name), b"", CONTROL_QOS, retain=True)
            for module_id, supervised in self._modules.items():
                conn.publish(self.topics.config(module_id), b"", CONTROL_QOS, retain=True)
                if supervised.crashed:
                    topic = self.topics.manager_error(self.name, MODULE_CRASHED, module_id)
                    conn.publish(topic, b"", ERROR_QOS, retain=True)
            await conn.disconnect()
        if self._embedded is not None:
            await self._embedded.stop()
        if self._own_state_dir is not None:
            shutil.rmtree(self._own_state_dir, ignore_errors=True)

    def _stop_waves(self) -> list[list[_Supervised]]:
        """The modules in the order they stop: each after every module that requires it.

        So an EVSE manager is still there to open its contactors through its board's driver
        when it stops, and the driver stops after it (a charger's stop opens every contactor
        first). Modules that require each other in a cycle stop together.
        """
        users: dict[str, set[str]] = {module_id: set() for module_id in self._modules}
        for plan in self.plan.modules:
            for connections in plan.connections.values():
                for provider, _ in connections:
                    if provider in users and provider != plan.module_id:
                        users[provider].add(plan.module_id)
        remaining = dict(self._modules)
        waves = []
        while remaining:
            wave = [s for m, s in remaining.items() if not users[m] & remaining.keys()]
            wave = wave or list(remaining.values())  # a cycle: the rest together
            waves.append(wave)
            for supervised in wave:
                del remaining[supervised.plan.module_id]
        return waves

    async def _wait_stopped(self, supervised: _Supervised) -> None:
        task, process = supervised.task, supervised.process
        if task is None and process is None:
            return
        try:
            await asyncio.wait_for(supervised.exited.wait(), STOP_GRACE_S)
            return
        except TimeoutError:
            log.warning("module %s did not stop in %s s", supervised.plan.module_id, STOP_GRACE_S)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if process is not None:
            process.kill()
            process.join(1)
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(process.sentinel)


@contextlib.asynccontextmanager
async def running(
    plan: RunPlan,
    *,
    inprocess: bool = True,
    name: str | None = None,
    wait_ready: bool = True,
    credentials: Credentials | None = None,
) -> AsyncIterator[Manager]:
    """Run a manager in this event loop until the block ends.

    This is how tests, and programs that embed a charger, drive one: the block starts once every
    module is ready (unless `wait_ready` is false), and a manager that fails to start raises here.
    `credentials` are the accounts to use (see `Manager`); the embedded broker makes its own.
    """
    manager = Manager(plan, inprocess=inprocess, name=name, credentials=credentials)
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop))
    try:
        if wait_ready:
            ready = asyncio.ensure_future(manager.globally_ready.wait())
            await asyncio.wait((ready, task), return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()  # raises what stopped the manager
        yield manager
    finally:
        stop.set()
        await task
