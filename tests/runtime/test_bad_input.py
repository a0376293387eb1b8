"""Malformed and hostile messages are answered or dropped; the modules keep running."""

from __future__ import annotations

import msgspec

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.wire import CommandReply, Topics

from .conftest import Probe
from .sample_modules import INSTANCES, Consumer
from .test_roundtrip import next_event, pair


async def request(
    probe: Probe, topics: Topics, module_id: str, cmd: str, body: bytes
) -> CommandReply:
    probe.publish(topics.call(module_id, "main", cmd, "rogue"), body)
    topic, payload = await probe.next()
    assert topic == topics.reply("rogue", module_id)
    return msgspec.json.decode(payload, type=CommandReply)


async def test_malformed_commands_get_protocol_errors(broker: BrokerSettings, prefix: str) -> None:
    topics = Topics(prefix)
    provider = f"{prefix}-prov"
    async with running(pair(prefix, broker)), Probe(broker, f"{prefix}-rogue") as rogue:
        await rogue.subscribe(topics.reply("rogue", provider))
        rogue.publish(topics.call(provider, "main", "add", "rogue"), b"{not json")
        rogue.publish(topics.call(provider, "main", "add", "rogue"), b'{"args": {}}')

        reply = await request(
            rogue,
            topics,
            provider,
            "add",
            b'{"id": 7, "args": {"a": "x", "b": 1}}',
        )
        assert reply.id == 7
        assert reply.error is not None
        assert reply.error.event == "SchemaValidationFailed"
        assert "$.a" in reply.error.message

        reply = await request(rogue, topics, provider, "melt", b'{"id": 8}')
        assert (reply.id, reply.error and reply.error.event) == (8, "UnknownCommand")

        reply = await request(
            rogue,
            topics,
            provider,
            "add",
            b'{"id": 9, "args": {"a": 1, "b": 2}}',
        )
        assert (reply.id, reply.error, msgspec.json.decode(reply.result)) == (9, None, 3)


async def test_malformed_vars_errors_and_replies_are_dropped(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    topics = Topics(prefix)
    provider, consumer_id = f"{prefix}-prov", f"{prefix}-cons"
    async with running(pair(prefix, mosquitto)), Probe(mosquitto, f"{prefix}-rogue") as rogue:
        consumer = INSTANCES[consumer_id]
        assert isinstance(consumer, Consumer)
        rogue.publish(topics.var(provider, "main", "total"), b'"a string, not an int"')
        rogue.publish(topics.var(provider, "main", "total"), b"\xff\xfe")
        rogue.publish(topics.error(provider, "main", "calculator/Overheat", "x"), b"[1, 2]")
        rogue.publish(topics.reply(consumer_id, provider), b'{"id": "nope"}')
        rogue.publish(topics.reply(consumer_id, provider), b'{"id": 12345, "result": 1}')
        assert await consumer.r_calc.call_add(3, 4) == 7
        while "total 54" not in await next_event(consumer):
            pass
        assert all(isinstance(total, int) for total in consumer.totals)
        assert all(event.sub_type == "init" for event in consumer.errors)
