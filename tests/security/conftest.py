"""Locked-down buses for the security tests: the embedded broker and a private Mosquitto.

Both get the grants and passwords of a plan's wiring, by default config/sil-ac.yaml's: the
embedded one as `ev-manager` starts it, the Mosquitto from `ev-codegen broker-acl`'s files.
An `Account` is a bare MQTT client holding one account's password: what an intruder who has
a module's password can do, or, with the manager's, an observer that sees every message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evstack.codegen.broker_acl import write_broker_files
from evstack.runtime.acl import bus_acl, manager_user, module_user
from evstack.runtime.broker import EmbeddedBroker
from evstack.runtime.credentials import Credentials
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.plan import RunPlan, from_runtime_config
from evstack.runtime.wire import Topics

REPO = Path(__file__).resolve().parents[2]
SIL_AC = REPO / "config" / "sil-ac.yaml"
MANAGER = "charger"
BROKERS = ["embedded", "mosquitto"]

Message = tuple[str, bytes]


@dataclass(frozen=True)
class LockedBus:
    kind: str
    broker: BrokerSettings  # where it listens; no account
    credentials: Credentials

    @property
    def topics(self) -> Topics:
        return Topics(self.credentials.prefix)

    def settings(self, module_id: str | None) -> BrokerSettings:
        """A module's account, or the manager's for None."""
        if module_id is None:
            return self.credentials.for_manager(self.broker)
        return self.credentials.for_module(self.broker, module_id)


@contextlib.asynccontextmanager
async def locked_bus(kind: str, plan: RunPlan, folder: Path) -> AsyncIterator[LockedBus]:
    """A broker of `kind` locked down to `plan`'s wiring, with the manager MANAGER."""
    if kind == "embedded":
        module_ids = [m.module_id for m in plan.modules]
        credentials = Credentials.generate(plan.prefix, MANAGER, module_ids)
        embedded = EmbeddedBroker(grants=bus_acl(plan, [MANAGER]), passwords=credentials.passwords)
        try:
            yield LockedBus(kind, await embedded.start(), credentials)
        finally:
            await embedded.stop()
        return
    files = write_broker_files(plan, folder / "broker-acl", MANAGER, "a test")
    with PrivateMosquitto(password_file=files.passwd, acl_file=files.acl) as broker:
        yield LockedBus(kind, broker, Credentials.load(files.credentials))


@pytest.fixture(scope="session")
def sil_plan() -> RunPlan:
    return from_runtime_config(SIL_AC)


@pytest.fixture(params=BROKERS)
async def sil_bus(
    request: pytest.FixtureRequest, sil_plan: RunPlan, tmp_path: Path
) -> AsyncIterator[LockedBus]:
    async with locked_bus(request.param, sil_plan, tmp_path) as bus:
        yield bus


class Account:
    """A bare MQTT client logged in as a module (or the manager, for None)."""

    def __init__(
        self, bus: LockedBus, module_id: str | None, *, client_id: str | None = None
    ) -> None:
        prefix = bus.credentials.prefix
        self.module_id = module_id
        self.username = (
            manager_user(prefix, MANAGER) if module_id is None else module_user(prefix, module_id)
        )
        self.received: asyncio.Queue[Message] = asyncio.Queue()
        self._conn = MqttConnection(
            bus.settings(module_id),
            client_id or self.username,
            lambda topic, payload: self.received.put_nowait((topic, payload)),
        )

    async def __aenter__(self) -> Account:
        await self._conn.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._conn.disconnect()

    async def subscribe(self, topic_filter: str) -> None:
        """Raises BrokerError if the broker refuses the subscription."""
        await self._conn.subscribe(topic_filter, 1)

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self._conn.publish(topic, payload, qos, retain)

    async def flush(self) -> None:
        await self._conn.flush()

    async def until(self, last: Message, timeout: float = 10) -> list[Message]:  # noqa: ASYNC109
        """What arrives before `last` (the positive control), once `last` has arrived."""
        before: list[Message] = []
        async with asyncio.timeout(timeout):
            while (message := await self.received.get()) != last:
                before.append(message)
        return before


async def observe_refusal(
    bus: LockedBus, intruder: str, forged: list[Message], qos: int = 0
) -> list[Message]:
    """Publish `forged` with `intruder`'s account, then a message it may publish (a var of its
    own); return what of the forged ones the manager's account, subscribed to everything, saw
    before that control arrived. MQTT keeps one client's messages in order, and 3.1.1 cannot
    tell a publisher its message was refused: an empty list is the proof."""
    control = (bus.topics.var(intruder, "main", "control"), b"control")
    async with Account(bus, None) as observer, Account(bus, intruder) as account:
        await observer.subscribe(f"{bus.credentials.prefix}/#")
        for topic, payload in forged:
            account.publish(topic, payload, qos)
        account.publish(*control)
        return await observer.until(control)
