"""TLS and username/password to a private Mosquitto made for the test."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from evstack.runtime import BrokerError
from evstack.runtime.manager import running
from evstack.runtime.mosquitto import BASE_SETTINGS, PrivateMosquitto
from evstack.runtime.mqtt import MqttConnection

from .sample_modules import INSTANCES, Consumer
from .test_roundtrip import pair


async def test_modules_talk_over_tls_with_a_password(prefix: str) -> None:
    with PrivateMosquitto(tls=True, users={"charger": "s3cret"}) as secured:
        broker = dataclasses.replace(secured, username="charger", password="s3cret")
        async with running(pair(prefix, broker)):
            consumer = INSTANCES[f"{prefix}-cons"]
            assert isinstance(consumer, Consumer)
            assert await consumer.r_calc.call_add(40, 2) == 42


async def test_wrong_password_and_untrusted_ca_are_refused() -> None:
    with PrivateMosquitto(tls=True, users={"charger": "s3cret"}) as secured:
        wrong = dataclasses.replace(secured, username="charger", password="guess")
        with pytest.raises(BrokerError, match="refused"):
            await MqttConnection(wrong, "intruder", lambda t, p: None).connect()
        untrusted = dataclasses.replace(secured, tls_ca=None, username="charger", password="s3cret")
        with pytest.raises(BrokerError, match="CERTIFICATE_VERIFY_FAILED"):
            await MqttConnection(untrusted, "intruder", lambda t, p: None).connect()


def test_private_mosquitto_uses_the_shipped_settings() -> None:
    shipped = (Path(__file__).resolve().parents[2] / "config/mosquitto/local.conf").read_text()
    for line in BASE_SETTINGS.splitlines():
        assert line in shipped.splitlines(), f"{line!r} differs from config/mosquitto/local.conf"
