"""Generated bindings at work: two Example modules and a caller written against code
generated into a temporary package, talking over the embedded broker."""

from __future__ import annotations

import asyncio
import shutil
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from evstack.codegen.output import write
from evstack.codegen.render import render_tree
from evstack.manifest import load_tree
from evstack.runtime import CommandError, CommandEvent
from evstack.runtime.manager import Manager
from evstack.runtime.plan import ModulePlan, RunPlan

PROJECT = Path(__file__).resolve().parents[2]

CALLER_MANIFEST = """
description: Calls the example interface, for tests.
requires:
  example:
    interface: example
  stores:
    interface: kvs
    min_connections: 0
    max_connections: 2
metadata:
  license: https://opensource.org/licenses/Apache-2.0
  authors: [evstack contributors]
"""

CALLER_CODE = """
import asyncio

from e2egen.modules.caller import CallerModuleBase

INSTANCES = {}


class Caller(CallerModuleBase):
    async def init(self):
        self.currents = asyncio.Queue()
        self.r_example.subscribe_max_current(self.currents.put_nowait)
        INSTANCES[self.module_id] = self
"""


@pytest.fixture
def generated_package(tmp_path: Path) -> Iterator[Path]:
    """The project's manifests plus a Caller module, generated into `e2egen`."""
    root = tmp_path / "tree"
    for folder in ("interfaces", "types", "errors"):
        shutil.copytree(PROJECT / folder, root / folder)
    shutil.copytree(PROJECT / "modules/Example", root / "modules/Example")
    (root / "modules/Caller").mkdir(parents=True)
    (root / "modules/Caller/manifest.yaml").write_text(CALLER_MANIFEST)
    write(render_tree(load_tree(root)), tmp_path / "e2egen")
    (tmp_path / "caller_module.py").write_text(textwrap.dedent(CALLER_CODE))
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith(("e2egen", "caller_module"))]:
            del sys.modules[name]


@pytest.fixture
async def caller(generated_package: Path) -> AsyncIterator[Any]:
    example = "evstack.modules.Example.module:Example"
    plan = RunPlan(
        modules=[
            ModulePlan("ex", example, connections={"kvs": [("ex2", "store")]}),
            ModulePlan("ex2", example, config_module={"max_current": 32.0}),
            ModulePlan(
                "caller",
                "caller_module:Caller",
                connections={"example": [("ex", "example")], "stores": [("ex2", "store")]},
            ),
        ],
        prefix="e2e-codegen",
        command_timeout_s=10,
    )
    manager = Manager(plan, inprocess=True)
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop))
    ready = asyncio.ensure_future(manager.globally_ready.wait())
    await asyncio.wait((ready, task), return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield sys.modules["caller_module"].INSTANCES["caller"]
    finally:
        stop.set()
        await task


async def test_typed_command_results_and_vars(caller: Any) -> None:
    reading = await caller.r_example.call_measure(1)
    assert type(reading).__name__ == "Reading"
    assert (reading.channel, reading.value, reading.unit) == (1, 8.0, "A")
    # Published during init and held back until all were ready: not lost.
    assert await asyncio.wait_for(caller.currents.get(), 10) == 16.0


async def test_inline_struct_argument(caller: Any) -> None:
    limits_type = sys.modules["e2egen.interfaces.example"].ExampleSetLimitsLimits
    await caller.r_example.call_set_limits(limits_type(max_current=10.0))
    assert (await caller.r_example.call_measure(0)).value == 10.0


async def test_out_of_range_argument_is_rejected_by_the_callee(caller: Any) -> None:
    with pytest.raises(CommandError) as caught:
        await caller.r_example.call_measure(9)
    assert caught.value.event is CommandEvent.SCHEMA_VALIDATION_FAILED


async def test_handler_exception_comes_back_typed(caller: Any) -> None:
    with pytest.raises(CommandError) as caught:
        await caller.r_example.call_fail("on purpose")
    assert caught.value.event is CommandEvent.HANDLER_EXCEPTION
    assert "on purpose" in caught.value.message
    # The module keeps serving.
    assert (await caller.r_example.call_measure(0)).channel == 0


async def test_requirement_list_client(caller: Any) -> None:
    [store] = caller.r_stores
    assert await store.call_exists("door") is False
    await store.call_store("door", {"open": True})
    assert await store.call_load("door") == {"open": True}
    assert await store.call_exists("door") is True


async def test_handler_calls_another_module(caller: Any) -> None:
    [store] = caller.r_stores
    await store.call_store("door", {"open": True})
    # ex asks its own kvs connection (ex2's store) in turn.
    assert await caller.r_example.call_uses_something("door") is True
