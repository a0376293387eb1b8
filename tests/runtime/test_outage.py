"""Broker outages: calls fail fast with NotConnected, and what was published meanwhile is
delivered only if it is still worth delivering."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from evstack.runtime import CommandError, CommandEvent
from evstack.runtime import mqtt as mqtt_module
from evstack.runtime.manager import running
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.plan import ModulePlan, RunPlan

from . import watchful_modules
from .conftest import Probe
from .sample_modules import instance
from .watchful_modules import RestartWatcher, wait_for

# Long enough for a real reconnect; the tests move the clock on instead of waiting.
STALE_AFTER_S = 5.0


class Clock:
    """mqtt.py's clock: time.monotonic plus an offset a test moves on instead of waiting.

    paho stamps its messages with the real time.monotonic, so the offset ages them too.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(mqtt_module, "time", clock)
    return clock


class Cable:
    """A TCP relay to the broker that a test can hold and cut.

    `hold()`: what clients send is swallowed, so the broker neither gets nor acknowledges it.
    `cut()`: the relayed connections close, and connections made until `mend()` are closed at
    once (`refused` is set when one was).
    """

    def __init__(self, upstream: BrokerSettings) -> None:
        self._upstream = upstream
        self._writers: set[asyncio.StreamWriter] = set()
        self._holding = False
        self._cut = False
        self.refused = asyncio.Event()

    @contextlib.asynccontextmanager
    async def relaying(self) -> AsyncIterator[BrokerSettings]:
        """Relay while the block runs; it gets the settings that connect through the cable."""
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield dataclasses.replace(self._upstream, host="127.0.0.1", port=port)
        finally:
            server.close()
            self._close_all()

    def hold(self) -> None:
        self._holding = True

    def cut(self) -> None:
        self._cut = True
        self._close_all()

    def mend(self) -> None:
        self._cut = self._holding = False

    def _close_all(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            self.refused.set()
            writer.close()
            return
        broker_reader, broker_writer = await asyncio.open_connection(
            self._upstream.host, self._upstream.port
        )
        self._writers |= {writer, broker_writer}
        await asyncio.gather(
            self._pump(reader, broker_writer, to_broker=True),
            self._pump(broker_reader, writer, to_broker=False),
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, to_broker: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if to_broker and self._holding:
                    continue
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
def private_broker() -> Iterator[tuple[PrivateMosquitto, BrokerSettings]]:
    mosquitto = PrivateMosquitto()
    with mosquitto as settings:
        yield mosquitto, settings


def _ignore(topic: str, payload: bytes) -> None:
    pass


class Publisher:
    """An MqttConnection through a cable, with events for its drops and reconnects."""

    def __init__(self, settings: BrokerSettings, client_id: str) -> None:
        self.lost = asyncio.Event()
        self.back = asyncio.Event()
        self.conn = MqttConnection(
            settings,
            client_id,
            _ignore,
            on_connection_lost=self.lost.set,
            on_reconnect=self.back.set,
            # Reconnect attempts every 50 ms: the test need not wait for a back-off.
            max_backoff_s=0.05,
            stale_after_s=STALE_AFTER_S,
        )


async def received_until(probe: Probe, last_topic: str) -> list[tuple[str, bytes]]:
    """What `probe` receives up to and including a message on `last_topic`."""
    received: list[tuple[str, bytes]] = []
    while not received or received[-1][0] != last_topic:
        received.append(await probe.next())
    return received


async def retained(broker: BrokerSettings, topic: str, name: str) -> bytes:
    async with Probe(broker, name) as late:
        await late.subscribe(topic)
        return (await late.next())[1]


@pytest.mark.timeout(30)
async def test_what_is_published_during_an_outage_is_delivered_only_while_it_is_worth_it(
    private_broker: tuple[PrivateMosquitto, BrokerSettings], prefix: str, clock: Clock
) -> None:
    _, broker = private_broker
    cable = Cable(broker)
    topic = f"{prefix}/{{}}".format
    async with cable.relaying() as relayed, Probe(broker, f"{prefix}-sub") as sub:
        await sub.subscribe(f"{prefix}/#")
        publisher = Publisher(relayed, f"{prefix}-pub")
        await publisher.conn.connect()
        cable.cut()
        await publisher.lost.wait()

        publisher.conn.publish(topic("state"), b"old", 1, retain=True)
        publisher.conn.publish(topic("event"), b"stale", 1)
        clock.offset += STALE_AFTER_S + 1  # the two above are stale now
        publisher.conn.publish(topic("state"), b"new", 1, retain=True)
        publisher.conn.publish(topic("event"), b"fresh", 1)
        publisher.conn.publish(topic("command"), b"gone", 0)  # QoS 0: dropped at once
        cable.mend()
        await publisher.back.wait()
        publisher.conn.publish(topic("end"), b"", 1)

        assert await received_until(sub, topic("end")) == [
            (topic("state"), b"new"),
            (topic("event"), b"fresh"),
            (topic("end"), b""),
        ]
        assert publisher.conn.dropped_stale == 1
        assert await retained(broker, topic("state"), f"{prefix}-late") == b"new"
        await publisher.conn.disconnect()


@pytest.mark.timeout(30)
async def test_unacknowledged_messages_go_out_again_before_newer_ones(
    private_broker: tuple[PrivateMosquitto, BrokerSettings], prefix: str, clock: Clock
) -> None:
    _, broker = private_broker
    cable = Cable(broker)
    topic = f"{prefix}/{{}}".format
    async with cable.relaying() as relayed, Probe(broker, f"{prefix}-sub") as sub:
        await sub.subscribe(f"{prefix}/#")
        publisher = Publisher(relayed, f"{prefix}-pub")
        await publisher.conn.connect()
        # Sent, but never acknowledged: the broker does not get them before the cut.
        cable.hold()
        publisher.conn.publish(topic("state"), b"v1", 1, retain=True)
        publisher.conn.publish(topic("event"), b"e1", 1)
        cable.cut()
        await publisher.lost.wait()
        publisher.conn.publish(topic("state"), b"v2", 1, retain=True)
        publisher.conn.publish(topic("event"), b"e2", 1)
        cable.mend()
        await publisher.back.wait()
        publisher.conn.publish(topic("end"), b"", 1)

        # Newest state only, and events in the order they happened.
        assert await received_until(sub, topic("end")) == [
            (topic("event"), b"e1"),
            (topic("state"), b"v2"),
            (topic("event"), b"e2"),
            (topic("end"), b""),
        ]
        assert await retained(broker, topic("state"), f"{prefix}-late") == b"v2"
        # Nothing is left waiting for an acknowledgement that cannot come.
        async with asyncio.timeout(3):
            await publisher.conn.disconnect()


@pytest.mark.timeout(30)
async def test_unacknowledged_messages_go_stale_too_however_long_the_outage(
    private_broker: tuple[PrivateMosquitto, BrokerSettings], prefix: str, clock: Clock
) -> None:
    _, broker = private_broker
    cable = Cable(broker)
    topic = f"{prefix}/{{}}".format
    async with cable.relaying() as relayed, Probe(broker, f"{prefix}-sub") as sub:
        await sub.subscribe(f"{prefix}/#")
        publisher = Publisher(relayed, f"{prefix}-pub")
        await publisher.conn.connect()
        cable.hold()
        publisher.conn.publish(topic("event"), b"ancient", 1)
        cable.cut()
        await publisher.lost.wait()
        # A reconnect attempt fails while the message is still fresh; it ages afterwards.
        await cable.refused.wait()
        clock.offset += STALE_AFTER_S + 1
        publisher.conn.publish(topic("event"), b"recent", 1)
        cable.mend()
        await publisher.back.wait()
        publisher.conn.publish(topic("end"), b"", 1)

        assert await received_until(sub, topic("end")) == [
            (topic("event"), b"recent"),
            (topic("end"), b""),
        ]
        assert publisher.conn.dropped_stale == 1
        async with asyncio.timeout(3):
            await publisher.conn.disconnect()


def watched_pair(prefix: str, broker: BrokerSettings) -> RunPlan:
    provider = f"{prefix}-prov"
    return RunPlan(
        modules=[
            ModulePlan(provider, f"{watchful_modules.__name__}:WatchfulProvider"),
            ModulePlan(
                f"{prefix}-cons",
                f"{watchful_modules.__name__}:RestartWatcher",
                connections={"calc": [(provider, "main")]},
            ),
        ],
        broker=broker,
        prefix=prefix,
    )


# What a call may meet right after a reconnect, before everything is renewed.
RETRIED = (CommandEvent.TIMEOUT, CommandEvent.NOT_CONNECTED, CommandEvent.NOT_READY)


async def add_once_it_works(consumer: RestartWatcher, a: int, b: int) -> int:
    """Call add until it gets through: right after a reconnect, the callee's renewed
    subscriptions and ready may not be in place yet (no event says when the broker has them)."""
    async with asyncio.timeout(20):
        while True:
            try:
                return await consumer.r_calc.call_add(a, b, timeout=1)
            except CommandError as failure:
                if failure.event not in RETRIED:
                    raise


@pytest.mark.timeout(60)
async def test_calls_fail_with_not_connected_at_once_and_work_again_when_it_is_back(
    private_broker: tuple[PrivateMosquitto, BrokerSettings], prefix: str
) -> None:
    _, broker = private_broker
    provider_id, consumer_id = f"{prefix}-prov", f"{prefix}-cons"
    cable = Cable(broker)
    async with cable.relaying() as relayed, running(watched_pair(prefix, relayed)):
        consumer = await instance(consumer_id)
        assert isinstance(consumer, RestartWatcher)
        call = asyncio.create_task(consumer.r_calc.call_sleep(600, timeout=120))
        await wait_for(provider_id, f"sleeping {consumer_id}")

        cable.cut()  # the broker is gone for every module
        # Its reply cannot come: the call fails when the connection drops, not in 120 s.
        async with asyncio.timeout(20):
            with pytest.raises(CommandError) as dropped:
                await call
        assert dropped.value.event is CommandEvent.NOT_CONNECTED
        # A call made while the connection is down is not sent at all.
        async with asyncio.timeout(5):
            with pytest.raises(CommandError) as refused:
                await consumer.r_calc.call_add(1, 1, timeout=120)
        assert refused.value.event is CommandEvent.NOT_CONNECTED

        cable.mend()
        await wait_for(consumer_id, "reconnected")
        await wait_for(provider_id, "reconnected")
        assert await add_once_it_works(consumer, 1, 2) == 3


@pytest.mark.timeout(60)
async def test_calls_during_a_broker_restart_fail_at_once_and_work_after_it(
    private_broker: tuple[PrivateMosquitto, BrokerSettings], prefix: str
) -> None:
    mosquitto, broker = private_broker
    provider_id, consumer_id = f"{prefix}-prov", f"{prefix}-cons"
    async with running(watched_pair(prefix, broker)):
        consumer = await instance(consumer_id)
        assert isinstance(consumer, RestartWatcher)
        call = asyncio.create_task(consumer.r_calc.call_sleep(600, timeout=120))
        await wait_for(provider_id, f"sleeping {consumer_id}")

        mosquitto.stop()
        # Mosquitto sends every client's will as it shuts down, so the consumer may learn
        # that the provider went away (NotReady) just before its own connection drops.
        async with asyncio.timeout(20):
            with pytest.raises(CommandError) as dropped:
                await call
        assert dropped.value.event in (CommandEvent.NOT_CONNECTED, CommandEvent.NOT_READY)
        # No target is ready now, as far as the consumer knows: still the call fails at once.
        async with asyncio.timeout(5):
            with pytest.raises(CommandError) as refused:
                await consumer.r_calc.call_add(1, 1, timeout=120)
        assert refused.value.event is CommandEvent.NOT_CONNECTED

        mosquitto.start_again()  # it has forgotten every retained message
        await wait_for(consumer_id, "reconnected")
        await wait_for(provider_id, "reconnected")
        assert await add_once_it_works(consumer, 1, 2) == 3
        assert consumer.restarts == 0  # a reconnect is no restart
