"""Running chargers for the end-to-end tests: the real runtime on the real Mosquitto."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from evstack.runtime.manager import Manager
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


@pytest.fixture
def prefix() -> str:
    """A topic prefix of our own, so tests sharing one broker never see each other."""
    return f"test-ea-{secrets.token_hex(6)}"


def ours(module_id: str, module: str, **plan: object) -> ModulePlan:
    """A plan entry for one of the project's modules."""
    return ModulePlan(module_id, f"evstack.modules.{module}.module:{module}", **plan)  # type: ignore[arg-type]


def probe(module_id: str, cls: str, **plan: object) -> ModulePlan:
    """A plan entry for a test-only module from e2e_modules."""
    return ModulePlan(module_id, f"{__package__}.e2e_modules:{cls}", **plan)  # type: ignore[arg-type]


@asynccontextmanager
async def running(plan: RunPlan) -> AsyncIterator[Manager]:
    """Run a manager, all modules in this event loop, until the block ends."""
    manager = Manager(plan, inprocess=True)
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop))
    try:
        ready = asyncio.ensure_future(manager.globally_ready.wait())
        await asyncio.wait((ready, task), return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped the manager
        yield manager
    finally:
        stop.set()
        await task
