"""A module ends the run: `finish_run` stops the manager with an exit code and a result."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import msgspec

from evstack.runtime import ModuleBase, RequirementSpec
from evstack.runtime.manager import Manager, running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import RunFinished, Topics

from .conftest import Probe, sample
from .sample_modules import CalculatorClient


class FinisherConfig(msgspec.Struct, frozen=True):
    exit_code: int = 0


class Finisher(ModuleBase):
    """Finishes the run as soon as every module is ready."""

    MODULE = "Finisher"
    CONFIG = FinisherConfig
    config: FinisherConfig

    async def ready(self) -> None:
        await self.finish_run(self.config.exit_code, {"by": self.module_id, "sessions": [1, 2]})


class TotalFinisher(ModuleBase):
    """Finishes the run from a var handler rather than from a life-cycle hook."""

    MODULE = "TotalFinisher"
    CONFIG = FinisherConfig
    REQUIRES: ClassVar = {"calc": RequirementSpec("calc", CalculatorClient, 1, 1)}

    async def init(self) -> None:
        calc = self._requirement("calc")[0]
        assert isinstance(calc, CalculatorClient)
        calc.subscribe_total(self._on_total)

    async def _on_total(self, total: int) -> None:
        await self.finish_run(0, {"total": total})


def finisher(module_id: str, exit_code: int) -> ModulePlan:
    return ModulePlan(module_id, f"{__name__}:Finisher", config_module={"exit_code": exit_code})


async def test_a_module_finishes_the_run_with_its_exit_code_and_result(
    broker: BrokerSettings, prefix: str
) -> None:
    plan = RunPlan(
        modules=[finisher("finisher", 3), sample("calc", "Provider")],
        broker=broker,
        prefix=prefix,
        finishers=frozenset({"finisher"}),
    )
    manager = Manager(plan, inprocess=True)
    crashes: list[str] = []
    manager.on_crash = lambda module_id, reason: crashes.append(module_id)
    stop = asyncio.Event()

    await asyncio.wait_for(manager.run(stop), 30)  # returns without anyone setting stop

    assert stop.is_set()
    assert manager.finished is not None
    assert (manager.finished_by, manager.finished.exit_code) == ("finisher", 3)
    assert msgspec.json.decode(manager.finished.result) == {"by": "finisher", "sessions": [1, 2]}
    assert crashes == []  # the other module was stopped, not lost


async def test_malformed_and_stale_finish_requests_do_not_end_the_run(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    plan = RunPlan(
        modules=[sample("calc", "Provider")],
        broker=mosquitto,
        prefix=prefix,
        finishers=frozenset({"calc"}),
    )
    async with (
        running(plan, name="m") as manager,
        Probe(mosquitto, f"{prefix}-probe") as probe,
    ):
        topic = Topics(prefix).finish_run("calc")
        probe.publish(topic, b"{not json")
        stale = RunFinished(run_id="an-earlier-run", exit_code=1)
        probe.publish(topic, msgspec.json.encode(stale))
        # A request of this run, sent after the bad ones, is the one that counts.
        current = RunFinished(run_id=manager.run_id, exit_code=0)
        probe.publish(topic, msgspec.json.encode(current))
        for _ in range(100):
            if manager.finished is not None:
                break
            await asyncio.sleep(0.05)
        assert manager.finished == current


async def test_a_var_handler_can_finish_the_run(mosquitto: BrokerSettings, prefix: str) -> None:
    watcher = ModulePlan(
        "watcher", f"{__name__}:TotalFinisher", connections={"calc": [("calc", "main")]}
    )
    plan = RunPlan(
        modules=[watcher, sample("calc", "Provider", config_module={"start_total": 7})],
        broker=mosquitto,
        prefix=prefix,
        finishers=frozenset({"watcher"}),
    )
    manager = Manager(plan, inprocess=True)

    await asyncio.wait_for(manager.run(asyncio.Event()), 30)

    assert manager.finished is not None
    assert manager.finished_by == "watcher"
    assert msgspec.json.decode(manager.finished.result) == {"total": 7}
