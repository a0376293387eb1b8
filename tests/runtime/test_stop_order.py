"""A stop reaches every user of a module before the module: a charger's stop opens every
contactor (through the board's driver) before the driver goes."""

from __future__ import annotations

import asyncio

from evstack.runtime.manager import Manager
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

from .sample_modules import Consumer, Provider


class Board(Provider):
    """Stands for a board's driver: records what reached it."""

    commands: list[tuple[int, int]] = []

    async def shutdown(self) -> None:
        Board.commands.append((-1, -1))  # the driver is going


class Evse(Consumer):
    """Stands for EvseManager: on its way out it opens the contactors through the board."""

    async def shutdown(self) -> None:
        await self.r_calc.call_add(0, 0, timeout=3)
        Board.commands.append((0, 0))


async def test_a_stop_reaches_every_user_of_a_module_before_the_module(
    broker: BrokerSettings, prefix: str
) -> None:
    Board.commands = []
    plan = RunPlan(
        modules=[
            ModulePlan("board", f"{__name__}:Board"),
            ModulePlan("evse", f"{__name__}:Evse", connections={"calc": [("board", "main")]}),
        ],
        broker=broker,
        prefix=prefix,
    )
    stop = asyncio.Event()
    manager = Manager(plan, inprocess=True)
    run = asyncio.create_task(manager.run(stop))
    await asyncio.wait_for(manager.globally_ready.wait(), 30)
    stop.set()
    await asyncio.wait_for(run, 30)
    # The EVSE's last command got through, and only then did the board's driver stop.
    assert Board.commands == [(0, 0), (-1, -1)]
