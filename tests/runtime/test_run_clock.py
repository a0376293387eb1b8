"""One clock, owned by the runtime: every module gets it from its base class, at the speed-up
set once for the run, and production modules import no simulation code."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import msgspec

from evstack.runtime import ModuleBase
from evstack.runtime.manager import Manager
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan, from_runtime_config

REPO = Path(__file__).resolve().parents[2]
# What a real charger runs; everything else under modules/ is a simulator or a tool.
PRODUCTION = ("Auth", "EnergyManager", "EnergyNode", "EvseManager", "LocalAllowList",
              "Ocpp201", "SessionStore")  # fmt: skip
SIMULATORS = ("BoardSimulator", "DcSupplySimulator", "EvSimulator", "RfidSimulator")


class NoConfig(msgspec.Struct, frozen=True):
    pass


class ClockReport(ModuleBase):
    """Reports its clock's speed-up and how far it moved while 2 s passed on it."""

    MODULE = "ClockReport"
    CONFIG = NoConfig

    async def ready(self) -> None:
        start = self.clock.now()
        await self.clock.sleep(2.0)
        moved = self.clock.now() - start
        await self.finish_run(0, {"speedup": self.clock.speedup, "moved": moved})


async def test_every_module_runs_on_the_run_s_speedup(broker: BrokerSettings, prefix: str) -> None:
    plan = RunPlan(
        modules=[ModulePlan("clock", f"{__name__}:ClockReport")],
        broker=broker,
        prefix=prefix,
        finishers=frozenset({"clock"}),
        speedup=20.0,
    )
    manager = Manager(plan, inprocess=True)

    await asyncio.wait_for(manager.run(asyncio.Event()), 30)

    assert manager.finished is not None
    result = msgspec.json.decode(manager.finished.result)
    assert result["speedup"] == 20.0
    # 2 s on the module's clock (at 1x the test would wait 2 s of wall time, here 0.1 s).
    assert result["moved"] >= 2.0


def test_the_speedup_is_one_setting_of_the_run_config() -> None:
    assert from_runtime_config(REPO / "config" / "sil-ac.yaml").speedup == 10
    assert from_runtime_config(REPO / "config" / "demo.yaml").speedup == 1


def test_production_modules_import_no_simulation_code() -> None:
    simulation = {f"evstack.modules.{name}" for name in SIMULATORS} | {"evstack.sim"}
    for name in PRODUCTION:
        for source in sorted((REPO / "modules" / name).glob("*.py")):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for imported in names:
                    assert not any(
                        imported == s or imported.startswith(s + ".") for s in simulation
                    ), f"{source.relative_to(REPO)} imports {imported}"
