"""Back-pressure: per-caller queues and Busy at the callee, expiry, in-flight limits at the
caller, and replies that must come from the module that was called."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import msgspec
import pytest

from evstack.runtime import CommandError, CommandEvent
from evstack.runtime import serving as serving_module
from evstack.runtime.host import ModuleHost
from evstack.runtime.manager import running
from evstack.runtime.module import ModuleBase
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.serving import BUSY_REPLIES_PER_S, CommandServer
from evstack.runtime.wire import CommandReply, Topics

from .conftest import Probe
from .sample_modules import Consumer, Provider, instance
from .test_caller import watched_pair
from .test_roundtrip import pair
from .watchful_modules import WatchfulProvider, wait_for

pytestmark = pytest.mark.mosquitto

# LogBudget's lines per kind and period (docs/runtime-protocol.md: 5 per 10 s).
LOG_LINES = 5


class FrozenClock:
    """serving.py's clock: wall time as it is, monotonic time stopped until moved on."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


def server_of(module: ModuleBase) -> CommandServer:
    host = module._link
    assert isinstance(host, ModuleHost)
    return host._server


def request(call_id: int, expires_at: float | None = None, **args: object) -> bytes:
    body: dict[str, object] = {"id": call_id, "args": args}
    if expires_at is not None:
        body["expires_at"] = expires_at
    return msgspec.json.encode(body)


async def replies(probe: Probe, until_id: int) -> list[CommandReply]:
    """The replies `probe` receives up to and including the one to `until_id`."""
    received: list[CommandReply] = []
    while not received or received[-1].id != until_id:
        received.append(msgspec.json.decode((await probe.next())[1], type=CommandReply))
    return received


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll a counter the runtime keeps (nothing signals it), briefly and bounded."""
    try:
        async with asyncio.timeout(20):
            while not condition():  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"waited in vain for {what}") from None


@pytest.mark.timeout(60)
async def test_a_flood_gets_busy_within_budget_while_other_callers_are_served(
    broker: BrokerSettings,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FrozenClock()
    monkeypatch.setattr(serving_module, "time", clock)
    caplog.set_level(logging.INFO)
    topics = Topics(prefix)
    provider_id = f"{prefix}-prov"
    max_pending, flood = 8, 300
    sleep, add = (topics.call(provider_id, "main", c, "rogue") for c in ("sleep", "add"))
    async with (
        running(pair(prefix, broker, max_pending_commands=max_pending)) as manager,
        Probe(broker, f"{prefix}-rogue") as rogue,
        Probe(broker, f"{prefix}-friend") as friend,
    ):
        crashes: list[str] = []
        manager.on_crash = lambda module_id, reason: crashes.append(module_id)
        provider = await instance(provider_id)
        consumer = await instance(f"{prefix}-cons")
        assert isinstance(provider, Provider)
        assert isinstance(consumer, Consumer)
        server = server_of(provider)
        await rogue.subscribe(topics.reply("rogue", provider_id))
        await friend.subscribe(topics.reply("friend", provider_id))

        # The rogue's first requests stay in their handlers: everything after them finds its
        # queue full.
        for i in range(max_pending):
            rogue.publish(sleep, request(i, seconds=600))
        for i in range(flood):
            rogue.publish(add, request(1000 + i, a=1, b=1))
        for i in range(1, 6):
            friend.publish(topics.call(provider_id, "main", "add", "friend"), request(i, a=i, b=i))

        # Other callers are served, and each in its own order.
        assert [
            (r.id, r.error, msgspec.json.decode(r.result)) for r in await replies(friend, 5)
        ] == [(i, None, 2 * i) for i in range(1, 6)]
        assert await consumer.r_calc.call_add(2, 2, timeout=10) == 4

        # Within one second the rogue gets BUSY_REPLIES_PER_S Busy answers; the rest of the
        # flood is dropped unanswered.
        await until(lambda: server.busy_answers + server.dropped == flood, "the flood refused")
        assert (server.busy_answers, server.dropped) == (
            BUSY_REPLIES_PER_S,
            flood - BUSY_REPLIES_PER_S,
        )
        clock.now += 1.0  # a new second, a new budget: this one is answered too
        rogue.publish(add, request(9999, a=1, b=1))
        answered = await replies(rogue, 9999)
        assert {r.error.event if r.error else "result" for r in answered} == {"Busy"}
        assert sorted(r.id for r in answered) == [*range(1000, 1000 + BUSY_REPLIES_PER_S), 9999]

        # The flooded module keeps running and serving.
        assert await consumer.r_calc.call_add(3, 3, timeout=10) == 6
        assert crashes == []

    # One line per refusal would be 301 lines.
    refusals = [r for r in caplog.records if "faster than" in r.getMessage()]
    assert len(refusals) == LOG_LINES
    assert len([r for r in caplog.records if r.name == f"evstack.module.{provider_id}"]) < 20


@pytest.mark.timeout(30)
async def test_an_expired_request_is_neither_carried_out_nor_answered(
    broker: BrokerSettings, prefix: str
) -> None:
    topics = Topics(prefix)
    provider_id = f"{prefix}-prov"
    add = topics.call(provider_id, "main", "add", "rogue")
    async with running(pair(prefix, broker)), Probe(broker, f"{prefix}-rogue") as rogue:
        provider = await instance(provider_id)
        assert isinstance(provider, Provider)
        await rogue.subscribe(topics.reply("rogue", provider_id))
        total = provider.main.total
        rogue.publish(add, request(1, time.time() - 1, a=1000, b=0))
        rogue.publish(add, request(2, time.time() + 60, a=1, b=1))
        rogue.publish(add, request(3, a=2, b=2))  # no deadline: an older caller
        assert [r.id for r in await replies(rogue, 3)] == [2, 3]
        assert provider.main.total == total + 2 + 4
        assert server_of(provider).dropped == 1


@pytest.mark.timeout(30)
async def test_a_caller_keeps_at_most_max_pending_calls_in_flight_to_a_target(
    broker: BrokerSettings, prefix: str
) -> None:
    topics = Topics(prefix)
    provider_id = f"{prefix}-prov"
    async with (
        running(pair(prefix, broker, max_pending_commands=3)),
        Probe(broker, f"{prefix}-spy") as spy,
    ):
        consumer = await instance(f"{prefix}-cons")
        assert isinstance(consumer, Consumer)
        await spy.subscribe(topics.cmd_filter(provider_id, "main"))
        sleeping = [
            asyncio.create_task(consumer.r_calc.call_sleep(600, timeout=60)) for _ in range(3)
        ]
        for _ in sleeping:
            topic, _ = await spy.next()
            assert topic.endswith("/sleep/" + consumer.module_id)

        with pytest.raises(CommandError) as refused:
            await consumer.r_calc.call_add(7, 7)
        assert refused.value.event is CommandEvent.BUSY
        assert "in flight" in refused.value.message

        # A call that ends makes room; the refused one was never sent.
        sleeping[0].cancel()
        await asyncio.gather(sleeping[0], return_exceptions=True)
        with pytest.raises(CommandError) as busy_there:
            await consumer.r_calc.call_add(1, 1)
        # The provider still runs three sleeps of this caller: its own limit says Busy.
        assert busy_there.value.event is CommandEvent.BUSY
        topic, payload = await spy.next()
        assert topic.endswith("/add/" + consumer.module_id)
        assert msgspec.json.decode(payload)["args"] == {"a": 1, "b": 1}

        for task in sleeping:
            task.cancel()
        await asyncio.gather(*sleeping, return_exceptions=True)


@pytest.mark.timeout(30)
async def test_a_reply_from_another_module_than_the_callee_is_dropped(
    broker: BrokerSettings, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    topics = Topics(prefix)
    provider_id, consumer_id = f"{prefix}-prov", f"{prefix}-cons"
    async with (
        running(pair(prefix, broker)),
        Probe(broker, f"{prefix}-impostor") as impostor,
    ):
        consumer = await instance(consumer_id)
        assert isinstance(consumer, Consumer)
        await impostor.subscribe(topics.cmd_filter(provider_id, "main"))
        call = asyncio.create_task(consumer.r_calc.call_sleep(600, timeout=60))
        call_id = msgspec.json.decode((await impostor.next())[1])["id"]

        forged = {"id": call_id, "error": {"event": "HandlerException", "message": "forged"}}
        impostor.publish(topics.reply(consumer_id, "impostor"), msgspec.json.encode(forged))
        # The same reply under the callee's level (an open bus lets anybody publish there)
        # is taken: the level alone made the difference.
        genuine = {"id": call_id, "result": None}
        impostor.publish(topics.reply(consumer_id, provider_id), msgspec.json.encode(genuine))
        await asyncio.wait_for(call, 20)  # a forged error would have raised
    assert any(
        "dropped a reply from impostor" in r.getMessage()
        for r in caplog.records
        if r.name == f"evstack.module.{consumer_id}"
    )


@pytest.mark.timeout(60)
async def test_requests_still_queued_at_shutdown_are_answered_and_never_run(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    topics = Topics(prefix)
    provider_id = f"{prefix}-prov"
    requests = 600  # the shared Mosquitto queues 1000 messages for a slow subscriber
    plan = watched_pair(prefix, mosquitto, max_pending_commands=requests)
    async with Probe(mosquitto, f"{prefix}-rogue") as rogue:
        await rogue.subscribe(topics.reply("rogue", provider_id))
        async with running(plan):
            provider = await instance(provider_id)
            assert isinstance(provider, WatchfulProvider)
            for i in range(requests):
                rogue.publish(
                    topics.call(provider_id, "main", "sleep", "rogue"), request(i, seconds=600)
                )
            # Stop while most of them still wait in the rogue's queue.
            await wait_for(provider_id, "sleeping rogue")
        answered = [
            msgspec.json.decode((await rogue.next())[1], type=CommandReply) for _ in range(requests)
        ]
    assert {r.error.event if r.error else "result" for r in answered} == {"Shutdown"}
    assert sorted(r.id for r in answered) == list(range(requests))
    # No handler outlived its module.
    assert not [t for t in asyncio.all_tasks() if "CommandServer._finish" in repr(t.get_coro())]
