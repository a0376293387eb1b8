"""Var publish throughput of a module, against raw paho-mqtt publishing, over Mosquitto.

One subscriber process (plain paho) counts the messages of both runs, so only the
publishing side differs. The raw publisher is paho without a network thread, writing
each publish at once: the least work a Python publisher can do. Both run at QoS 0 and
QoS 1 (a var's QoS comes from its manifest). evstack runs once more on a second private
Mosquitto locked down as in the field (an account per module, `ev-codegen broker-acl`'s
ACL), its subscriber logged in as a module wired to the publisher: `acl_ratio` is that
throughput against evstack's on the open broker, the median of the rounds' ratios.

    python bench/bench_vars.py [--messages N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import multiprocessing
import socket
import statistics
import tempfile
import time
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from evstack.codegen.broker_acl import write_mosquitto_files
from evstack.runtime import ImplBase, ModuleBase, ProvidedSpec, VarSpec, loop
from evstack.runtime.acl import bus_acl
from evstack.runtime.credentials import Credentials
from evstack.runtime.manager import Manager
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import Topics

PREFIX = "bench-vars"
MANAGER = "bench"
IDLE_S = 3.0  # the subscriber gives up this long after the last message
# The publisher, and (for the ACL) a module wired to it whose account the subscriber uses.
PLAN = RunPlan([ModulePlan("pub", f"{__name__}:Publisher")], prefix=PREFIX)
WIRED = ModulePlan("counter", "none:Counter", connections={"counter": [("pub", "main")]})


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


def no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Nagle off, as evstack's own client does: a QoS 1 round trip stalls on delayed ACKs."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def subscriber(
    broker: BrokerSettings, topic: str, qos: int, expected: int, out: Connection
) -> None:
    received = 0
    first = last = 0.0
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=broker.username or f"counter-{qos}")
    client.username_pw_set(broker.username, broker.password)
    client.on_socket_open = no_delay

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
    """Messages per second `publish(*args)` gets to a subscriber logged in to `broker`."""
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
    client.on_socket_open = no_delay
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


async def publish_evstack(
    broker: BrokerSettings, var: str, n: int, credentials: Credentials | None
) -> None:
    plan = dataclasses.replace(PLAN, broker=broker)
    stop = asyncio.Event()
    manager = Manager(plan, inprocess=True, name=MANAGER, credentials=credentials)
    task = asyncio.create_task(manager.run(stop))
    await asyncio.wait_for(manager.globally_ready.wait(), 30)
    impl = PUBLISHERS[-1].main
    for i in range(n):
        await impl._publish_var(var, i)
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the loop read PUBACKs
    stop.set()  # shutting down flushes what is still queued
    await task


def run_evstack(
    broker: BrokerSettings, var: str, n: int, credentials: Credentials | None = None
) -> None:
    loop.run(publish_evstack(broker, var, n, credentials))


def lock_down(folder: Path) -> tuple[PrivateMosquitto, Credentials]:
    """A Mosquitto with the accounts and ACL of the publisher and a module wired to it."""
    plan = dataclasses.replace(PLAN, modules=[*PLAN.modules, WIRED])
    credentials = Credentials.generate(PREFIX, MANAGER, ["pub", "counter"])
    grants = bus_acl(plan, [MANAGER])
    passwd, acl = write_mosquitto_files(grants, credentials.passwords, folder, "bench_vars")
    return PrivateMosquitto(password_file=passwd, acl_file=acl), credentials


def one_round(
    broker: BrokerSettings,
    locked: BrokerSettings,
    credentials: Credentials,
    qos: int,
    var: str,
    n: int,
    acl_first: bool,
) -> tuple[float, float, float]:
    """evstack's throughput on the open broker, raw paho's, evstack's on the locked broker."""
    topic = Topics(PREFIX).var("pub", "main", var)
    raw = counted(broker, topic, qos, n, publish_raw, broker, topic, qos, n)
    counter = credentials.for_module(locked, "counter")
    runs = {
        False: partial(counted, broker, topic, qos, n, run_evstack, broker, var, n),
        True: partial(counted, counter, topic, qos, n, run_evstack, locked, var, n, credentials),
    }
    # Each goes first every other round: neither always meets a warmer machine.
    got = {acl: runs[acl]() for acl in ((True, False) if acl_first else (False, True))}
    return got[False], raw, got[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=4)
    arguments = parser.parse_args()
    n, rounds = arguments.messages, arguments.rounds
    samples: dict[int, list[tuple[float, float, float]]] = {0: [], 1: []}
    with tempfile.TemporaryDirectory() as folder:
        locked_mosquitto, credentials = lock_down(Path(folder))
        with PrivateMosquitto() as broker, locked_mosquitto as locked:
            # Interleaved rounds: the machine is shared, and its load drifts.
            for round_ in range(rounds):
                for qos, var in ((0, "value"), (1, "value_qos1")):
                    samples[qos].append(
                        one_round(broker, locked, credentials, qos, var, n, bool(round_ % 2))
                    )
    fields = []
    for qos, rounds_of_qos in samples.items():
        ours, raw, acl = (statistics.median(column) for column in zip(*rounds_of_qos, strict=True))
        # Each round's two runs met about the same load: the median of their ratios is steadier
        # than the ratio of the medians.
        acl_ratio = statistics.median(a / o for o, _, a in rounds_of_qos)
        print(
            f"QoS {qos}: evstack {ours:,.0f} msg/s   raw paho {raw:,.0f} msg/s   "
            f"evstack, ACL {acl:,.0f} msg/s (medians of {rounds})"
        )
        fields.append(
            f"qos{qos}_msgs_per_s={ours:.0f} qos{qos}_raw_msgs_per_s={raw:.0f} "
            f"qos{qos}_ratio={ours / raw:.2f} qos{qos}_acl_msgs_per_s={acl:.0f} "
            f"qos{qos}_acl_ratio={acl_ratio:.2f}"
        )
    print(f"BENCH vars messages={n} rounds={rounds} {' '.join(fields)}")


if __name__ == "__main__":
    main()
