"""The base class of every module; the generated `<Name>ModuleBase` subclasses it."""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from evstack.runtime.clock import ScaledClock
from evstack.runtime.interface import Client
from evstack.runtime.link import ErrorHandler, Link
from evstack.runtime.specs import ProvidedSpec, RequirementSpec

__all__ = ["ModuleBase", "ModuleContext"]


@dataclass(frozen=True, slots=True)
class ModuleContext:
    """What the runtime hands a module instance when it creates it."""

    module_id: str
    config: msgspec.Struct
    requirements: Mapping[str, list[Client]]
    link: Link
    log: logging.Logger
    state_dir: Path
    # Which run of the charger this is: a new one after every start of ev-manager.
    run_id: str = ""
    # The run's clock, at the run's speed-up (1 but in a simulation).
    clock: ScaledClock = field(default_factory=ScaledClock)


class ModuleBase(abc.ABC):
    """One module instance.

    Life cycle: the runtime constructs the module, calls `create_<impl_id>(config)` for
    every provided implementation, awaits `init()`, announces the module ready, and awaits
    `ready()` once every module of the charger is ready. Anything published during `init()`
    is held back until then, so no subscriber misses it. On the way out it awaits
    `shutdown()`.

    `state_dir` is this module instance's own folder for what must survive a crash or a
    reboot: it exists when the module is created, belongs to this module id alone and outlives
    the process. Keep there what a restarted incarnation needs to carry on (a running
    transaction, a meter register); `evstack.runtime.state` makes it durable.

    `clock` is the run's monotonic clock: read time and sleep on it, never on `time` or
    `asyncio.sleep`, so that a simulation sped up for the run (`ev-manager run --speedup`)
    speeds up every deadline of every module alike, and no module has a setting for it.
    """

    MODULE: ClassVar[str]
    CONFIG: ClassVar[type[msgspec.Struct]]
    PROVIDES: ClassVar[Mapping[str, ProvidedSpec]] = {}
    REQUIRES: ClassVar[Mapping[str, RequirementSpec]] = {}

    config: Any

    def __init__(self, context: ModuleContext) -> None:
        self.module_id = context.module_id
        self.config = context.config
        self.log = context.log
        self._requirements = context.requirements
        self._link = context.link
        self.state_dir = context.state_dir
        self.run_id = context.run_id
        self.clock = context.clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def init(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Set up state and subscriptions; requirements may already be called."""

    async def ready(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """Every module is initialised; start the module's own activity here."""

    async def reconnected(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """The connection to the broker dropped and is back.

        Whatever was published meanwhile may be lost, and others may have missed changes:
        publish again the state they need (a board its pilot and contactor, say).
        """

    async def shutdown(self) -> None:  # noqa: B027 - an optional hook, not abstract
        """The module is stopping: put hardware in a safe state, stop your own tasks.

        Runs once, after in-flight commands were answered with Shutdown and before the
        module's retained state is withdrawn; it may still publish. It gets 3 s.
        """

    def start_task(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `coroutine` for as long as the module runs: a simulator's loop, a poller.

        The runtime holds the task (an unreferenced one may be garbage-collected mid-flight),
        logs it if it fails, and cancels it when the module stops, before `shutdown()`.
        """
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.log.error("background task failed", exc_info=exc)

    async def _stop_tasks(self, timeout_s: float) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout_s)
            if stuck:
                self.log.error("%d background task(s) ignored cancellation", len(stuck))

    def _requirement(self, req_id: str) -> list[Client]:
        return self._requirements[req_id]

    def subscribe_module_crashes(self, handler: ErrorHandler) -> None:
        """Be told when any supervised module crashes (raise) and is back up (clear).

        The events are `evstack/ModuleCrashed` errors with the module id as sub type,
        raised by the manager that supervises that module.
        """
        self._link.subscribe_module_crashes(handler)

    async def finish_run(self, exit_code: int = 0, result: Any = None) -> None:
        """Ask the manager to stop every module and exit with `exit_code`.

        For runs with a natural end (a scripted simulation, a test bench); a charger in the
        field runs until it is stopped. `result` is any JSON-able value; `ev-manager run
        --summary-json FILE` writes it to FILE. The first request of a run wins.
        """
        if not 0 <= exit_code <= 255:
            raise ValueError(f"an exit code is 0..255, got {exit_code}")
        await self._link.finish_run(exit_code, result)

    def subscribe_all_errors(self, handler: ErrorHandler) -> None:
        """Be told of every error any module raises or clears under this prefix.

        For modules whose manifest sets `enable_global_errors` (an error history, an
        operator display). Active errors are delivered on subscription (they are retained).
        """
        self._link.subscribe_all_errors(handler)
