"""Process mode, two managers on one Mosquitto, and a module that crashes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import RestartPolicy, RunPlan

from .conftest import sample
from .sample_modules import Consumer, instance


async def wait_for_event(consumer: Consumer, wanted: str) -> None:
    async with asyncio.timeout(20):
        while await consumer.events.get() != wanted:
            pass


@pytest.mark.timeout(60)
async def test_crashed_module_is_restarted_and_reported(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    crashy, steady, watcher = f"{prefix}-crashy", f"{prefix}-steady", f"{prefix}-watcher"
    # Manager "b" (in this process) hosts a consumer of a module that manager "a" runs
    # in its own process: two managers, disjoint module sets, one broker.
    consumer_side = RunPlan(
        modules=[sample(watcher, "Consumer", connections={"calc": [(steady, "main")]})],
        broker=mosquitto,
        prefix=prefix,
    )
    provider_side = RunPlan(
        modules=[
            sample(crashy, "Provider", config_module={"crash_marker": str(tmp_path / "crashed")}),
            sample(steady, "Provider", config_module={"start_total": 100}),
        ],
        broker=mosquitto,
        prefix=prefix,
        restart=RestartPolicy(max_restarts=2, initial_s=0.5),
    )
    async with running(consumer_side, name="b", wait_ready=False) as manager_b:
        consumer = await asyncio.wait_for(instance(watcher), 10)
        assert isinstance(consumer, Consumer)
        await wait_for_event(consumer, "subscribed")
        async with running(provider_side, inprocess=False, name="a") as manager_a:
            await manager_b.globally_ready.wait()
            assert consumer.init_sum == 42  # served by another process, via manager a's config
            await wait_for_event(consumer, f"crash {crashy} cleared")
            crash = consumer.crashes[0]
            assert (crash.type, crash.sub_type, crash.active) == (
                "evstack/ModuleCrashed",
                crashy,
                True,
            )
            assert crash.message == "exit code 1"
            assert crash.origin_module == "a"
            assert (tmp_path / "crashed").exists()
            # The steady module kept running throughout.
            assert await consumer.r_calc.call_add(1, 1) == 2
            assert manager_a.globally_ready.is_set()


async def test_inprocess_module_crash_is_restarted(
    broker: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    crashy, watcher = f"{prefix}-crashy", f"{prefix}-watcher"
    plan = RunPlan(
        modules=[
            sample(crashy, "Provider", config_module={"crash_marker": str(tmp_path / "crashed")}),
            sample(watcher, "Consumer", connections={"calc": [(crashy, "main")]}),
        ],
        broker=broker,
        prefix=prefix,
        restart=RestartPolicy(max_restarts=1, initial_s=0.3),
    )
    crashes: list[tuple[str, str]] = []
    async with running(plan, wait_ready=False) as manager:
        manager.on_crash = lambda module_id, reason: crashes.append((module_id, reason))
        consumer = await asyncio.wait_for(instance(watcher), 10)
        assert isinstance(consumer, Consumer)
        await asyncio.wait_for(manager.globally_ready.wait(), 20)
        # The consumer's init() call waited for the restarted provider.
        assert consumer.init_sum == 42
        assert crashes == [(crashy, "RuntimeError: crashing on purpose, once")]
