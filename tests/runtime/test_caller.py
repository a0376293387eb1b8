"""ImplBase.caller: the module whose command a handler serves, also after the handler awaited."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import CommandReply, Topics

from . import watchful_modules
from .conftest import Probe, sample
from .sample_modules import Consumer, instance
from .watchful_modules import WatchfulProvider, wait_for

pytestmark = pytest.mark.mosquitto


def watched_pair(prefix: str, broker: BrokerSettings, **settings: Any) -> RunPlan:
    provider = f"{prefix}-prov"
    return RunPlan(
        modules=[
            ModulePlan(provider, f"{watchful_modules.__name__}:WatchfulProvider"),
            sample(f"{prefix}-cons", "Consumer", connections={"calc": [(provider, "main")]}),
        ],
        broker=broker,
        prefix=prefix,
        **settings,
    )


@pytest.mark.timeout(30)
async def test_a_handler_knows_its_caller_before_and_after_it_awaits(
    broker: BrokerSettings, prefix: str
) -> None:
    provider_id, consumer_id = f"{prefix}-prov", f"{prefix}-cons"
    topics = Topics(prefix)
    async with (
        running(watched_pair(prefix, broker)),
        Probe(broker, f"{prefix}-rogue") as rogue,
    ):
        provider = await instance(provider_id)
        consumer = await instance(consumer_id)
        assert isinstance(provider, WatchfulProvider)
        assert isinstance(consumer, Consumer)
        assert provider.main.caller == ""  # outside any handler

        await rogue.subscribe(topics.reply("rogue", provider_id))
        # The rogue's sleep is still in its handler when the consumer's runs: each handler
        # task keeps its own caller.
        rogue.publish(
            topics.call(provider_id, "main", "sleep", "rogue"),
            b'{"id": 1, "args": {"seconds": 0.5}}',
        )
        await wait_for(provider_id, "sleeping rogue")
        await consumer.r_calc.call_sleep(0)
        assert await consumer.r_calc.call_add(1, 2) == 3
        reply = msgspec.json.decode((await rogue.next())[1], type=CommandReply)
        assert (reply.id, reply.error) == (1, None)

        # The consumer's init() made the first add. add never suspends (an eager handler);
        # sleep is continued by a task.
        assert sorted(provider.main.seen) == sorted(
            [
                ("add", consumer_id, ""),
                ("add", consumer_id, ""),
                ("sleep", consumer_id, consumer_id),
                ("sleep", "rogue", "rogue"),
            ]
        )
