"""Client.subscribe_restarts: once per restart of the module called, never at its first start
and never for a mere reconnect."""

from __future__ import annotations

import os
import signal

import msgspec
import pytest

from evstack.runtime.manager import running
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RestartPolicy, RunPlan
from evstack.runtime.wire import ModuleReady, Topics

from . import watchful_modules
from .conftest import Probe
from .sample_modules import instance
from .test_outage import add_once_it_works
from .watchful_modules import RestartWatcher, wait_for

RESTART_QUICKLY = RestartPolicy(max_restarts=5, initial_s=0.05, max_s=0.1)


def provider_plan(module_id: str) -> ModulePlan:
    return ModulePlan(module_id, f"{watchful_modules.__name__}:WatchfulProvider")


def watcher_plan(module_id: str, provider_id: str) -> ModulePlan:
    return ModulePlan(
        module_id,
        f"{watchful_modules.__name__}:RestartWatcher",
        connections={"calc": [(provider_id, "main")]},
    )


async def crash(provider_id: str, watcher: RestartWatcher) -> None:
    """Crash the in-process provider through a command, and wait until it is back."""
    await watcher.r_calc.call_fail("crash")
    await wait_for(provider_id, "ready")


@pytest.mark.timeout(60)
async def test_restart_handlers_run_once_per_restart_and_not_for_a_broker_restart(
    prefix: str,
) -> None:
    provider_id, watcher_id = f"{prefix}-prov", f"{prefix}-watcher"
    mosquitto = PrivateMosquitto()
    with mosquitto as broker:
        plan = RunPlan(
            modules=[provider_plan(provider_id), watcher_plan(watcher_id, provider_id)],
            broker=broker,
            prefix=prefix,
            restart=RESTART_QUICKLY,
        )
        async with running(plan):
            watcher = await instance(watcher_id)
            assert isinstance(watcher, RestartWatcher)
            await wait_for(provider_id, "ready")
            assert watcher.restarts == 0  # its first start is no restart

            await crash(provider_id, watcher)
            await wait_for(watcher_id, "restart 1")
            await crash(provider_id, watcher)
            await wait_for(watcher_id, "restart 2")

            # The broker restarts: everybody reconnects and publishes its ready again, the
            # provider as the incarnation it was.
            mosquitto.stop()
            mosquitto.start_again()
            await wait_for(provider_id, "reconnected")
            await wait_for(watcher_id, "reconnected")
            assert await add_once_it_works(watcher, 1, 2) == 3

            # The watcher gets the provider's ready messages in order: had the reconnect
            # counted as a restart, this crash would make restart 4.
            await crash(provider_id, watcher)
            skipped = await wait_for(watcher_id, "restart 3")
            assert [e for e in skipped if e.startswith("restart")] == []


@pytest.mark.mosquitto
@pytest.mark.timeout(90)
async def test_a_killed_module_process_is_reported_and_its_users_told_when_it_is_back(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    provider_id, watcher_id = f"{prefix}-prov", f"{prefix}-watcher"
    topics = Topics(prefix)
    # The watcher runs in this process (manager "b"); the provider in a process of its own
    # (manager "a"), so that it can be killed.
    watcher_side = RunPlan(
        modules=[watcher_plan(watcher_id, provider_id)], broker=mosquitto, prefix=prefix
    )
    provider_side = RunPlan(
        modules=[provider_plan(provider_id)],
        broker=mosquitto,
        prefix=prefix,
        restart=RESTART_QUICKLY,
    )
    async with (
        running(watcher_side, name="b", wait_ready=False) as manager_b,
        Probe(mosquitto, f"{prefix}-probe") as probe,
    ):
        await probe.subscribe(topics.module_ready(provider_id))
        async with running(provider_side, inprocess=False, name="a"):
            await manager_b.globally_ready.wait()
            watcher = await instance(watcher_id)
            assert isinstance(watcher, RestartWatcher)
            first = msgspec.json.decode((await probe.next())[1], type=ModuleReady)
            assert watcher.restarts == 0

            os.kill(first.pid, signal.SIGKILL)
            # The broker's will empties its ready; the manager reports the crash.
            assert (await probe.next())[1] == b""
            await wait_for(watcher_id, f"crash exit code {-signal.SIGKILL}")
            await wait_for(watcher_id, "restart 1")
            second = msgspec.json.decode((await probe.next())[1], type=ModuleReady)
            assert second.pid != first.pid
            assert second.instance != first.instance
            assert watcher.restarts == 1
            assert await watcher.r_calc.call_add(2, 3) == 5
