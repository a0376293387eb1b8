"""Command round trip between two modules over Mosquitto, against raw paho-mqtt.

All runs use a private Mosquitto with the shipped settings (TCP_NODELAY), the same QoS
(commands travel at QoS 0, see docs/runtime-protocol.md) and a callee in another process.
Two raw paho-mqtt baselines, measured in the same run:
- "threaded": paho as its documentation shows it, a network thread per client
  (loop_start) in caller and echo, the caller waiting on a threading.Event. `ratio` is
  against this one.
- "floor": the least a Python program can do, each side driving paho's network loop
  itself, no threads. `ratio_floor` is against this one.
And evstack on a second private Mosquitto locked down as in the field, an account per module
and manager and the ACL of `ev-codegen broker-acl`, its calls taking turns with those on the
open broker: `acl_ratio` is its p50 against the open one's, what the credentials and the ACL
cost.

    python bench/bench_rpc.py [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from evstack.codegen.broker_acl import write_mosquitto_files
from evstack.runtime import (
    Client,
    CommandSpec,
    ImplBase,
    ModuleBase,
    ProvidedSpec,
    RequirementSpec,
    loop,
)
from evstack.runtime.acl import bus_acl, manager_user
from evstack.runtime.credentials import Credentials
from evstack.runtime.manager import Manager
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.wire import CMD_QOS

WARM_UP = 200
ROUNDS = 3
PREFIX = "bench-rpc"
SIDES = ("callee-side", "caller-side")  # the two managers

# -- an `echo` interface in the style ev-codegen generates ------------------------------


class _EchoArgs(msgspec.Struct, frozen=True):
    value: int


class _NoConfig(msgspec.Struct, frozen=True):
    pass


class EchoImplBase(ImplBase):
    INTERFACE = "echo"
    COMMANDS: ClassVar = {"echo": CommandSpec("echo", _EchoArgs, int, "handle_echo")}


class EchoClient(Client):
    INTERFACE = "echo"

    async def call_echo(self, value: int) -> int:
        result: int = await self._call(EchoImplBase.COMMANDS["echo"], _EchoArgs(value=value))
        return result


class Echo(EchoImplBase):
    async def handle_echo(self, value: int) -> int:
        return value


class Callee(ModuleBase):
    MODULE = "Callee"
    CONFIG = _NoConfig
    PROVIDES: ClassVar = {"main": ProvidedSpec("main", EchoImplBase, _NoConfig)}

    def create_main(self, config: _NoConfig) -> Echo:
        return Echo()


CALLERS: list[Caller] = []


class Caller(ModuleBase):
    MODULE = "Caller"
    CONFIG = _NoConfig
    REQUIRES: ClassVar = {"echo": RequirementSpec("echo", EchoClient)}

    async def init(self) -> None:
        CALLERS.append(self)

    @property
    def echo(self) -> EchoClient:
        client = self._requirement("echo")[0]
        assert isinstance(client, EchoClient)
        return client


# -- the two measurements --------------------------------------------------------------


def no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Nagle off, as evstack's own client does: a QoS 1 round trip stalls on delayed ACKs."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e3, cuts[98] * 1e3


def sides(broker: BrokerSettings | None) -> tuple[RunPlan, RunPlan]:
    callee_side = RunPlan([ModulePlan("callee", "bench_rpc:Callee")], broker=broker, prefix=PREFIX)
    caller_side = RunPlan(
        [ModulePlan("caller", f"{__name__}:Caller", connections={"echo": [("callee", "main")]})],
        broker=broker,
        prefix=PREFIX,
    )
    return callee_side, caller_side


def lock_down(folder: Path) -> tuple[PrivateMosquitto, dict[str, Credentials]]:
    """A Mosquitto with both sides' accounts and ACL, and each manager's credentials."""
    callee_side, caller_side = sides(None)
    both = RunPlan([*callee_side.modules, *caller_side.modules], prefix=PREFIX)
    modules = Credentials.generate(PREFIX, SIDES[0], ["callee", "caller"]).passwords
    passwords = {**modules, manager_user(PREFIX, SIDES[1]): modules[manager_user(PREFIX, SIDES[0])]}
    credentials = {
        side: Credentials(prefix=PREFIX, manager=side, passwords=passwords) for side in SIDES
    }
    passwd, acl = write_mosquitto_files(bus_acl(both, SIDES), passwords, folder, "bench_rpc")
    return PrivateMosquitto(password_file=passwd, acl_file=acl), credentials


async def measure_evstack(
    broker: BrokerSettings, locked: BrokerSettings, credentials: dict[str, Credentials], calls: int
) -> tuple[list[float], list[float]]:
    """Round trips on the open broker and on the locked one, call for call in turn, so that
    both see the same load: the ACL's cost is a few percent, the machine's drift more."""
    stop = asyncio.Event()
    tasks, echoes = [], []
    for on, accounts in ((broker, {}), (locked, credentials)):
        callee_side, caller_side = sides(on)
        callee = Manager(
            callee_side, inprocess=False, name=SIDES[0], credentials=accounts.get(SIDES[0])
        )
        caller = Manager(
            caller_side, inprocess=True, name=SIDES[1], credentials=accounts.get(SIDES[1])
        )
        tasks += [asyncio.create_task(m.run(stop)) for m in (callee, caller)]
        await asyncio.wait_for(
            asyncio.gather(callee.globally_ready.wait(), caller.globally_ready.wait()), 30
        )
        echoes.append(CALLERS[-1].echo)
    samples: tuple[list[float], list[float]] = ([], [])
    for i in range(WARM_UP + calls):
        pairs = list(zip(echoes, samples, strict=True))
        for echo, kept in pairs if i % 2 else reversed(pairs):  # neither always goes first
            started = time.perf_counter()
            assert await echo.call_echo(i) == i
            if i >= WARM_UP:
                kept.append(time.perf_counter() - started)
    stop.set()
    await asyncio.gather(*tasks)
    return samples


def raw_echo_server(broker: BrokerSettings, ready: Any) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-echo")
    client.on_socket_open = no_delay

    def on_message(c: paho.Client, userdata: Any, message: Any) -> None:
        c.publish("raw/reply", message.payload, CMD_QOS)

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe("raw/request", CMD_QOS)
    client.on_subscribe = lambda *args: ready.set()
    client.loop_forever()


def threaded_echo_server(broker: BrokerSettings, ready: Any) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="threaded-echo")
    client.on_socket_open = no_delay

    def echo(c: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        c.publish("raw/reply", message.payload, CMD_QOS)

    client.on_message = echo
    client.on_subscribe = lambda *args: ready.set()
    client.connect(broker.host, broker.port)
    client.subscribe("raw/request", CMD_QOS)
    client.loop_start()
    threading.Event().wait()


def measure_threaded(broker: BrokerSettings, calls: int) -> list[float]:
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=threaded_echo_server, args=(broker, ready), daemon=True)
    server.start()
    ready.wait(10)
    replied = threading.Event()
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="threaded-caller")
    client.on_socket_open = no_delay
    client.on_message = lambda c, u, message: replied.set()
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(broker.host, broker.port)
    client.subscribe("raw/reply", CMD_QOS)
    client.loop_start()
    subscribed.wait(10)
    samples = []
    for i in range(WARM_UP + calls):
        replied.clear()
        payload = b'{"id":%d,"args":{"value":%d}}' % (i, i)
        started = time.perf_counter()
        client.publish("raw/request", payload, CMD_QOS)
        replied.wait(5)
        if i >= WARM_UP:
            samples.append(time.perf_counter() - started)
    client.loop_stop()
    client.disconnect()
    server.kill()
    return samples


def measure_floor(broker: BrokerSettings, calls: int) -> list[float]:
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=raw_echo_server, args=(broker, ready), daemon=True)
    server.start()
    ready.wait(10)
    got: list[bytes] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-caller")
    client.on_socket_open = no_delay
    client.on_message = lambda c, u, message: got.append(bytes(message.payload))
    client.connect(broker.host, broker.port)
    client.subscribe("raw/reply", CMD_QOS)
    while not client.is_connected():
        client.loop(0.1)
    client.loop(0.1)
    samples = []
    for i in range(WARM_UP + calls):
        got.clear()
        payload = b'{"id":%d,"args":{"value":%d}}' % (i, i)
        started = time.perf_counter()
        client.publish("raw/request", payload, CMD_QOS)
        while not got:
            client.loop(1.0)
        if i >= WARM_UP:
            samples.append(time.perf_counter() - started)
    client.disconnect()
    server.kill()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000)
    calls = parser.parse_args().calls
    floor, threaded, ours, locked = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        locked_mosquitto, credentials = lock_down(Path(folder))
        with PrivateMosquitto() as broker, locked_mosquitto as locked_broker:
            # Interleaved rounds: the machine is shared, and its load drifts.
            for _ in range(ROUNDS):
                floor += measure_floor(broker, calls // ROUNDS)
                threaded += measure_threaded(broker, calls // ROUNDS)
                both = loop.run(
                    measure_evstack(broker, locked_broker, credentials, calls // ROUNDS)
                )
                ours += both[0]
                locked += both[1]
    floor_p50, floor_p99 = percentiles(floor)
    raw_p50, raw_p99 = percentiles(threaded)
    ours_p50, ours_p99 = percentiles(ours)
    acl_p50, acl_p99 = percentiles(locked)
    print(f"raw paho, threaded  p50 {raw_p50:.3f} ms  p99 {raw_p99:.3f} ms")
    print(f"raw paho, floor     p50 {floor_p50:.3f} ms  p99 {floor_p99:.3f} ms")
    print(f"evstack             p50 {ours_p50:.3f} ms  p99 {ours_p99:.3f} ms")
    print(f"evstack, ACL        p50 {acl_p50:.3f} ms  p99 {acl_p99:.3f} ms")
    print(
        f"BENCH rpc qos={CMD_QOS} calls={calls} p50_ms={ours_p50:.3f} p99_ms={ours_p99:.3f} "
        f"raw_p50_ms={raw_p50:.3f} raw_p99_ms={raw_p99:.3f} ratio={ours_p50 / raw_p50:.2f} "
        f"floor_p50_ms={floor_p50:.3f} ratio_floor={ours_p50 / floor_p50:.2f} "
        f"acl_p50_ms={acl_p50:.3f} acl_p99_ms={acl_p99:.3f} acl_ratio={acl_p50 / ours_p50:.2f}"
    )


if __name__ == "__main__":
    main()
