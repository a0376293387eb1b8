"""Graceful shutdown: in-flight calls are answered with Shutdown, retained state is withdrawn."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from evstack.runtime import CommandError, CommandEvent
from evstack.runtime.manager import Manager, running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import RunPlan
from evstack.runtime.wire import CommandReply, Topics

from .conftest import Probe, sample
from .sample_modules import INSTANCES, Consumer, instance
from .test_roundtrip import pair


async def test_shutdown_answers_in_flight_calls_and_cleans_up(
    broker: BrokerSettings, prefix: str
) -> None:
    topics = Topics(prefix)
    provider = f"{prefix}-prov"
    manager = Manager(pair(prefix, broker), inprocess=True)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    await asyncio.wait_for(manager.globally_ready.wait(), 10)
    consumer = INSTANCES[f"{prefix}-cons"]
    assert isinstance(consumer, Consumer)

    async with Probe(broker, f"{prefix}-rogue") as rogue:
        await rogue.subscribe(topics.reply("rogue", provider))
        rogue.publish(
            topics.call(provider, "main", "sleep", "rogue"), b'{"id":1,"args":{"seconds":60}}'
        )
        rogue.publish(
            topics.call(provider, "main", "add", "rogue"), b'{"id":2,"args":{"a":1,"b":1}}'
        )
        # Requests are served in order: once 2 is answered, 1 is in its handler.
        assert msgspec.json.decode((await rogue.next())[1], type=CommandReply).id == 2
        own_call = asyncio.create_task(consumer.r_calc.call_sleep(60))
        await asyncio.sleep(0)

        stop.set()
        await running
        reply = msgspec.json.decode((await rogue.next())[1], type=CommandReply)
        assert reply.id == 1
        assert reply.error is not None
        assert reply.error.event == "Shutdown"
        with pytest.raises(CommandError) as failure:
            await own_call
        assert failure.value.event is CommandEvent.SHUTDOWN
        assert consumer.shut_down

    # Nothing retained is left behind: no config, no ready, no active error.
    async with Probe(broker, f"{prefix}-after") as after:
        await after.subscribe(f"{prefix}/#")
        after.publish(f"{prefix}/marker", b"end")
        leftovers = []
        while (message := await after.next())[0] != f"{prefix}/marker":
            leftovers.append(message)
        assert leftovers == []


@pytest.mark.timeout(30)
async def test_stop_interrupts_an_init_that_waits(mosquitto: BrokerSettings, prefix: str) -> None:
    # The consumer's init() calls a module that never comes: only stopping ends the wait.
    waiting = f"{prefix}-waiting"
    plan = RunPlan(
        modules=[sample(waiting, "Consumer", connections={"calc": [(f"{prefix}-ghost", "main")]})],
        broker=mosquitto,
        prefix=prefix,
        command_timeout_s=600,
    )
    async with running(plan, wait_ready=False) as manager:
        consumer = await asyncio.wait_for(instance(waiting), 10)
        assert isinstance(consumer, Consumer)
        await asyncio.wait_for(consumer.events.get(), 10)  # "subscribed": init is waiting now
    assert not manager.globally_ready.is_set()
    assert consumer.init_sum is None
