"""Var publish throughput of a module, against raw paho-mqtt publishing, over Mosquitto.

One subscriber process (plain paho) counts the messages of both runs, so only the
publishing side differs. The raw publisher is paho without a network thread, writing
each publish at once: the least work a Python publisher can do. Both run at QoS 0 and
QoS 1 (a var's QoS comes from its manifest).

    python bench/bench_vars.py [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from multiprocessing.connection import Connection
from typing import Any, ClassVar

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from evstack.runtime import ImplBase, ModuleBase, ProvidedSpec, VarSpec, loop
from evstack.runtime.manager import Manager
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import Topics

PREFIX = "bench-vars"
IDLE_S = 3.0  # the subscriber gives up this long after the last message


# -- a `counter` interface in the style ev-codegen generates ----------------------------


class _NoConfig(msgspec.Struct, frozen=True):
    pass


class CounterImplBase(ImplBase):
    INTERFACE = "counter"
    VARS: ClassVar = {
        "value": VarSpec("value", int, 0),
        "value_qos1": VarSpec("value_qos1", int, 1),
    }


class Counter(CounterImplBase):
    pass


PUBLISHERS: list[Publisher] = []


class Publisher(ModuleBase):
    MODULE = "Publisher"
    CONFIG = _NoConfig
    PROVIDES: ClassVar = {"main": ProvidedSpec("main", CounterImplBase, _NoConfig)}

    def create_main(self, config: _NoConfig) -> Counter:
        self.main = Counter()
        return self.main

    async def init(self) -> None:
        PUBLISHERS.append(self)


# -- the subscriber both runs share ------------------------------------------------------


def subscriber(
    broker: BrokerSettings, topic: str, qos: int, expected: int, out: Connection
) -> None:
    received = 0
    first = last = 0.0
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"counter-{qos}")
    client.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def on_message(c: paho.Client, userdata: Any, message: Any) -> None:
        nonlocal received, first, last
        last = time.perf_counter()
        if not received:
            first = last
        received += 1

    client.on_message = on_message
    client.on_subscribe = lambda *args: out.send("subscribed")
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos)
    while received < expected:
        client.loop(0.1)
        if received and time.perf_counter() - last > IDLE_S:
            break
    out.send((received, last - first))


def counted(
    broker: BrokerSettings, topic: str, qos: int, n: int, publish: Any, *args: Any
) -> float:
    ours, theirs = multiprocessing.Pipe()
    counter = multiprocessing.Process(target=subscriber, args=(broker, topic, qos, n, theirs))
    counter.start()
    assert ours.recv() == "subscribed"
    publish(*args)
    received, elapsed = ours.recv()
    counter.join()
    if received < n:
        print(f"  (QoS {qos}: {n - received} of {n} messages lost on the way)")
    return float(received / elapsed)


# -- the two publishers ------------------------------------------------------------------


def publish_raw(broker: BrokerSettings, topic: str, qos: int, n: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-pub-{qos}")
    client.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.max_inflight_messages_set(1000)
    client.connect(broker.host, broker.port)
    while not client.is_connected():
        client.loop(0.1)
    last = None
    for i in range(n):
        last = client.publish(topic, str(i).encode(), qos)
        if i % 100 == 0:
            client.loop(0)  # read PUBACKs, release in-flight slots
    while last is not None and not last.is_published():
        client.loop(0.01)
    client.disconnect()


async def publish_evstack(broker: BrokerSettings, var: str, n: int) -> None:
    plan = RunPlan([ModulePlan("pub", f"{__name__}:Publisher")], broker=broker, prefix=PREFIX)
    stop = asyncio.Event()
    manager = Manager(plan, inprocess=True, name=f"bench-{var}")
    task = asyncio.create_task(manager.run(stop))
    await asyncio.wait_for(manager.globally_ready.wait(), 30)
    impl = PUBLISHERS[-1].main
    for i in range(n):
        await impl._publish_var(var, i)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the loop read PUBACKs
    stop.set()  # shutting down flushes what is still queued
    await task


def run_evstack(broker: BrokerSettings, var: str, n: int) -> None:
    loop.run(publish_evstack(broker, var, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    n = parser.parse_args().messages
    results = {}
    with PrivateMosquitto() as broker:
        for qos, var in ((0, "value"), (1, "value_qos1")):
            topic = Topics(PREFIX).var("pub", "main", var)
            raw = counted(broker, topic, qos, n, publish_raw, broker, topic, qos, n)
            ours = counted(broker, topic, qos, n, run_evstack, broker, var, n)
            results[qos] = (ours, raw)
            print(f"QoS {qos}: evstack {ours:,.0f} msg/s   raw paho {raw:,.0f} msg/s")
    fields = " ".join(
        f"qos{q}_msgs_per_s={o:.0f} qos{q}_raw_msgs_per_s={r:.0f} qos{q}_ratio={o / r:.2f}"
        for q, (o, r) in results.items()
    )
    print(f"BENCH vars messages={n} {fields}")


if __name__ == "__main__":
    main()
