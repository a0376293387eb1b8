"""Sample modules that report what the runtime did to them: who called, restarts, reconnects,
what their state folder held. Built on tests/runtime/sample_modules.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from evstack.runtime import ErrorEvent
from evstack.runtime.caller import current_caller
from evstack.runtime.state import ModuleState

from .sample_modules import Calculator, Consumer, EmptyConfig, Provider, ProviderConfig

# Per module id, in the order things happened; module ids are unique per test.
EVENTS: dict[str, asyncio.Queue[str]] = {}
# Per module id: what each incarnation found in its state folder (folder, boots before it).
BOOTS: dict[str, list[tuple[str, int]]] = {}


def events(module_id: str) -> asyncio.Queue[str]:
    return EVENTS.setdefault(module_id, asyncio.Queue())


async def next_event(module_id: str, timeout: float = 20) -> str:  # noqa: ASYNC109
    return await asyncio.wait_for(events(module_id).get(), timeout)


async def wait_for(module_id: str, wanted: str, timeout: float = 20) -> list[str]:  # noqa: ASYNC109
    """Wait for `wanted` among `module_id`'s events; return the events before it."""
    before: list[str] = []
    async with asyncio.timeout(timeout):
        while (event := await events(module_id).get()) != wanted:
            before.append(event)
    return before


class RecordingCalculator(Calculator):
    """Records `self.caller` in its handlers; `fail("crash")` crashes the module."""

    module: WatchfulProvider

    def __init__(self, module: WatchfulProvider) -> None:
        super().__init__(module)
        # (command, caller at the start, caller after the handler awaited or "")
        self.seen: list[tuple[str, str, str]] = []

    async def handle_add(self, a: int, b: int) -> int:
        self.seen.append(("add", self.caller, ""))
        return await super().handle_add(a, b)

    async def handle_sleep(self, seconds: float) -> None:
        first = self.caller
        events(self.module.module_id).put_nowait(f"sleeping {first}")
        await asyncio.sleep(seconds)
        self.seen.append(("sleep", first, current_caller()))

    async def handle_fail(self, message: str) -> None:
        if message != "crash":
            await super().handle_fail(message)
            return
        # ready() waits on this: failing it fails the module's host task, a crash.
        self.module.doom.set_exception(RuntimeError("crashing on request"))


class WatchfulProvider(Provider):
    """A Provider that can be crashed on request and says when it reconnects."""

    main: RecordingCalculator

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.doom: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def create_main(self, config: EmptyConfig) -> RecordingCalculator:
        self.main = RecordingCalculator(self)
        return self.main

    async def ready(self) -> None:
        events(self.module_id).put_nowait("ready")
        await self.doom

    async def reconnected(self) -> None:
        events(self.module_id).put_nowait("reconnected")


class RestartWatcher(Consumer):
    """A Consumer that counts the restarts of what it calls and says when it reconnects."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.restarts = 0

    async def init(self) -> None:
        self.r_calc.subscribe_restarts(self._on_restart)
        await super().init()

    def _on_restart(self) -> None:
        self.restarts += 1
        events(self.module_id).put_nowait(f"restart {self.restarts}")

    def _on_crash(self, event: ErrorEvent) -> None:
        super()._on_crash(event)
        if event.active:
            events(self.module_id).put_nowait(f"crash {event.message}")

    async def reconnected(self) -> None:
        events(self.module_id).put_nowait("reconnected")


class StatefulConfig(ProviderConfig, frozen=True):
    crash_first: bool = False


class StatefulProvider(Provider):
    """Counts its starts in its state folder, and crashes at its first start if told to."""

    CONFIG = StatefulConfig
    config: StatefulConfig
    state: ModuleState

    async def init(self) -> None:
        self.state = ModuleState(self.state_dir)
        boots = self.state.get("boots", int) or 0
        self.state.put("boots", boots + 1)
        BOOTS.setdefault(self.module_id, []).append((str(self.state_dir), boots))
        if boots == 0 and self.config.crash_first:
            raise RuntimeError("crashing after the first start, on purpose")
        await super().init()

    async def shutdown(self) -> None:
        self.state.close()
