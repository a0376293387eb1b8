"""Brokers and managers for the runtime tests: real Mosquitto and the embedded amqtt."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator

import pytest
from paho.mqtt.client import topic_matches_sub

from evstack.runtime.broker import EmbeddedBroker
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.plan import ModulePlan

from . import sample_modules

MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


def mosquitto_is_up() -> bool:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def prefix() -> str:
    """A topic prefix of our own, so tests sharing one broker never see each other."""
    return f"test-{secrets.token_hex(6)}"


@pytest.fixture
def mosquitto() -> BrokerSettings:
    if not mosquitto_is_up():
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


@pytest.fixture(params=["mosquitto", "embedded"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerSettings]:
    if request.param == "mosquitto":
        yield request.getfixturevalue("mosquitto")
        return
    embedded = EmbeddedBroker()
    settings = await embedded.start()
    try:
        yield settings
    finally:
        await embedded.stop()


def sample(module_id: str, cls: str, **plan: object) -> ModulePlan:
    # Named the way pytest imported it, so in-process tests share its INSTANCES registry.
    return ModulePlan(module_id, f"{sample_modules.__name__}:{cls}", **plan)  # type: ignore[arg-type]


class Probe:
    """A bare MQTT client for poking at the protocol from outside any module."""

    def __init__(self, broker: BrokerSettings, name: str) -> None:
        self.messages: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._filters: list[str] = []
        self._conn = MqttConnection(broker, name, self._on_message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        # Only what this probe subscribed to: an open broker may deliver anything.
        if any(topic_matches_sub(f, topic) for f in self._filters):
            self.messages.put_nowait((topic, payload))

    async def __aenter__(self) -> Probe:
        await self._conn.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._conn.disconnect()

    async def subscribe(self, topic_filter: str) -> None:
        self._filters.append(topic_filter)
        await self._conn.subscribe(topic_filter, 1)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self._conn.publish(topic, payload, 1, retain)

    async def next(self, timeout: float = 10) -> tuple[str, bytes]:  # noqa: ASYNC109
        return await asyncio.wait_for(self.messages.get(), timeout)
