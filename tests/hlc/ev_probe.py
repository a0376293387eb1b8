"""A test module standing where an EV simulator would: it drives an ISO15118_ev and records
every var it publishes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar, TypeVar, cast

import msgspec

from evstack.generated.interfaces.ISO15118_ev import ISO15118EvClient, ISO15118EvSessionState
from evstack.runtime import ModuleBase, RequirementSpec

T = TypeVar("T")

INSTANCES: dict[str, EvProbe] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class EvProbe(ModuleBase):
    MODULE = "EvProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {"ev": RequirementSpec("ev", ISO15118EvClient, 1, 1)}

    @property
    def ev(self) -> ISO15118EvClient:
        return cast(ISO15118EvClient, self._requirement("ev")[0])

    async def init(self) -> None:
        self.power_ready: list[bool] = []
        self.dc_power_on = 0
        self.finished = 0
        self.states: list[ISO15118EvSessionState] = []
        self._changed = asyncio.Event()
        self.ev.subscribe_ev_power_ready(self._record(self.power_ready))
        self.ev.subscribe_dc_power_on(lambda _: self._count("dc_power_on"))
        self.ev.subscribe_v2g_session_finished(lambda _: self._count("finished"))
        self.ev.subscribe_session_state(self._record(self.states))
        INSTANCES[self.module_id] = self
        _ARRIVED.setdefault(self.module_id, asyncio.Event()).set()

    def _record(self, into: list[T]) -> Callable[[T], None]:
        def record(value: T) -> None:
            into.append(value)
            self._changed.set()

        return record

    def _count(self, name: str) -> None:
        setattr(self, name, getattr(self, name) + 1)
        self._changed.set()

    async def until(self, condition: Callable[[], bool], within_s: float = 30.0) -> None:
        """Wait until `condition` holds on what was recorded (wall-clock bound)."""
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def loops(self) -> int:
        return sum(state.step == "ChargeLoop" for state in self.states)


async def instance(module_id: str) -> EvProbe:
    await _ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]
