"""Only the modules in settings.finish_run_by can end a run, even ones whose code cheats."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import msgspec
import pytest

from evstack.codegen.broker_acl import write_broker_files
from evstack.runtime.broker import EmbeddedBroker
from evstack.runtime.credentials import Credentials
from evstack.runtime.manager import Manager
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

from . import finishing_modules
from .conftest import MANAGER

FINISHING = finishing_modules.__name__


def finishing_plan(broker: BrokerSettings | None = None) -> RunPlan:
    return RunPlan(
        modules=[
            ModulePlan("rogue", f"{FINISHING}:Rogue"),
            ModulePlan("boss", f"{FINISHING}:Boss", connections={"rogue": [("rogue", "main")]}),
        ],
        broker=broker,
        prefix="finishing",
        finishers=frozenset({"boss"}),
    )


async def run_to_its_end(manager: Manager) -> tuple[str, int, object]:
    await asyncio.wait_for(manager.run(asyncio.Event()), 20)
    assert manager.finished is not None
    finished = manager.finished
    return manager.finished_by, finished.exit_code, msgspec.json.decode(finished.result)


@pytest.mark.timeout(30)
async def test_a_module_not_in_finish_run_by_cannot_end_the_run_on_the_embedded_broker() -> None:
    # No broker named: the manager starts the embedded one with fresh accounts and the ACL.
    manager = Manager(finishing_plan(), inprocess=True)

    assert await run_to_its_end(manager) == ("boss", 0, "boss")


@pytest.mark.timeout(30)
async def test_a_module_not_in_finish_run_by_cannot_end_the_run_on_mosquitto(
    tmp_path: Path,
) -> None:
    plan = finishing_plan()
    files = write_broker_files(plan, tmp_path, MANAGER, "a test")
    with PrivateMosquitto(password_file=files.passwd, acl_file=files.acl) as broker:
        manager = Manager(
            dataclasses.replace(plan, broker=broker),
            inprocess=True,
            credentials=Credentials.load(files.credentials),
        )

        assert await run_to_its_end(manager) == ("boss", 0, "boss")


@pytest.mark.timeout(30)
async def test_without_accounts_the_rogue_ends_the_run_in_the_boss_name() -> None:
    """The contrast: what the test above guards against, on an open bus."""
    open_broker = EmbeddedBroker()
    try:
        manager = Manager(finishing_plan(await open_broker.start()), inprocess=True)

        assert await run_to_its_end(manager) == ("boss", 7, "rogue")
    finally:
        await open_broker.stop()
