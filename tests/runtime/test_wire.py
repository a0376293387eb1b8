"""Topic names, broker URLs and the eager handler start, without a broker."""

from __future__ import annotations

import asyncio

import pytest
from paho.mqtt.client import topic_matches_sub

from evstack.runtime.eager import Finished, start_eagerly
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.wire import Topics, sub_type_from_segment


@pytest.mark.parametrize("sub_type", ["", "phase 1", "a/b", "+", "#", "_", "%2F", "ü"])
def test_error_sub_types_stay_in_one_topic_level(sub_type: str) -> None:
    topic = Topics("p").error("m", "i", "evse/PowerFault", sub_type)
    prefix, segment = topic.rsplit("/", 1)
    assert prefix == "p/modules/m/i/error/evse/PowerFault"
    assert not set(segment) & set("/+#")
    assert sub_type_from_segment(segment) == sub_type
    assert topic_matches_sub(Topics("p").error_filter("m", "i"), topic)


@pytest.mark.parametrize("prefix", ["", "a/+", "a/#", "trailing/"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid MQTT topic prefix"):
        Topics(prefix)


def test_broker_urls() -> None:
    plain = BrokerSettings.from_url("mqtt://10.0.0.2")
    assert (plain.host, plain.port, plain.tls, plain.username) == ("10.0.0.2", 1883, False, None)
    secure = BrokerSettings.from_url("mqtts://charger:p%40ss@broker.local:8884")
    assert (secure.port, secure.tls, secure.username, secure.password) == (
        8884,
        True,
        "charger",
        "p@ss",
    )
    assert BrokerSettings.from_url("mqtts://broker.local").port == 8883
    with pytest.raises(ValueError, match="mqtt://host:port"):
        BrokerSettings.from_url("http://broker.local")


async def test_eager_start_runs_to_completion_or_hands_over() -> None:
    async def quick() -> int:
        return 7

    async def slow() -> int:
        await asyncio.sleep(0)
        return 8

    done = start_eagerly(quick())
    assert isinstance(done, Finished)
    assert done.value == 7
    rest = start_eagerly(slow())
    assert not isinstance(rest, Finished)
    assert await asyncio.ensure_future(rest) == 8


async def test_eager_start_delivers_cancellation_where_the_coroutine_waits() -> None:
    cleaned_up = asyncio.Event()

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    rest = start_eagerly(waits_forever())
    assert not isinstance(rest, Finished)
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up.is_set()
