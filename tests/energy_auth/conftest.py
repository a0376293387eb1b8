"""Running chargers for the end-to-end tests: the real runtime on the real Mosquitto."""

from __future__ import annotations

import secrets
import socket

import pytest

from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan

MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


@pytest.fixture
def prefix() -> str:
    """A topic prefix of our own, so tests sharing one broker never see each other."""
    return f"test-ea-{secrets.token_hex(6)}"


def ours(module_id: str, module: str, **plan: object) -> ModulePlan:
    """A plan entry for one of the project's modules."""
    return ModulePlan(module_id, f"evstack.modules.{module}.module:{module}", **plan)  # type: ignore[arg-type]


def probe(module_id: str, cls: str, **plan: object) -> ModulePlan:
    """A plan entry for a test-only module from e2e_modules."""
    return ModulePlan(module_id, f"{__package__}.e2e_modules:{cls}", **plan)  # type: ignore[arg-type]
