"""Two modules for the finish-run tests: a boss that may end the run, and a rogue that may not.

The rogue stands for a compromised module: its code skips the runtime's own check and sends
RunFinished for itself and in the boss's name, straight through its connection. Then it
publishes a tick, on which the boss ends the run the proper way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

import msgspec

from evstack.runtime import Client, ImplBase, ModuleBase, ProvidedSpec, RequirementSpec, VarSpec
from evstack.runtime.host import ModuleHost
from evstack.runtime.wire import RunFinished, Topics


class _NoConfig(msgspec.Struct, frozen=True):
    pass


class TickImplBase(ImplBase):
    INTERFACE = "tick"
    VARS: ClassVar = {"tick": VarSpec("tick", int, 1)}


class TickClient(Client):
    INTERFACE = "tick"

    def subscribe_tick(self, handler: Callable[[int], Awaitable[None] | None]) -> None:
        self._subscribe_var(TickImplBase.VARS["tick"], handler)


class Tick(TickImplBase):
    pass


class Rogue(ModuleBase):
    MODULE = "Rogue"
    CONFIG = _NoConfig
    PROVIDES: ClassVar = {"main": ProvidedSpec("main", TickImplBase, _NoConfig)}

    def create_main(self, config: _NoConfig) -> Tick:
        self.main = Tick()
        return self.main

    async def ready(self) -> None:
        host = self._link
        assert isinstance(host, ModuleHost)
        assert host._assignment is not None
        topics = Topics(host._topics.prefix)
        forged = RunFinished(
            run_id=host._assignment.run_id, exit_code=7, result=msgspec.Raw(b'"rogue"')
        )
        for module_id in ("boss", self.module_id):
            host._publish_now(topics.finish_run(module_id), msgspec.json.encode(forged))
        await self.main._publish_var("tick", 1)


class Boss(ModuleBase):
    MODULE = "Boss"
    CONFIG = _NoConfig
    REQUIRES: ClassVar = {"rogue": RequirementSpec("rogue", TickClient)}

    async def init(self) -> None:
        rogue = self._requirement("rogue")[0]
        assert isinstance(rogue, TickClient)
        rogue.subscribe_tick(self._on_tick)

    async def _on_tick(self, tick: int) -> None:
        await self.finish_run(0, "boss")
