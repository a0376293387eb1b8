"""The amqtt side of the embedded broker's lock: an auth plugin and a broker subclass.

Imported only when an embedded broker starts: amqtt is a heavy import. The decisions are the
gate's (`evstack.runtime.broker`); this module wires them into amqtt 0.12, and closes what
amqtt leaves open around its plugins.

Topics are checked in the broker's own topic-filtering step, not by a topic plugin: amqtt runs
every plugin check as a task of its own, and with a check per publish and per delivery that
made a command's round trip through the embedded broker about a fifth slower. Checked here,
the lock costs nothing measurable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amqtt.broker import Broker
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin

if TYPE_CHECKING:
    from evstack.runtime.broker import Gate

__all__ = ["GateAuthPlugin", "LockedBroker"]


@dataclass
class _GateConfig:
    gate: Any = None


class GateAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Admits the accounts of the bus's grants, each with its password and client id."""

    Config = _GateConfig

    async def authenticate(self, *, session: Any) -> bool:
        return bool(self.config.gate.admits(session))


class LockedBroker(Broker):  # type: ignore[misc]
    """amqtt's broker, checking who connects before it touches a session, every publish,
    subscription and delivery, and retained messages before it sends them."""

    def __init__(self, config: dict[str, Any], *, gate: Gate | None) -> None:
        super().__init__(config)
        self._gate = gate

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> Any:
        if self._gate is None:
            return await super()._initialize_client_session(
                reader, writer, remote_address, remote_port
            )
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except (AMQTTError, MQTTError, NoDataError):
            await writer.close()
            raise
        # amqtt itself would first drop the session of this client id, and then take over
        # its connection, and only then look at who connects: anyone could cut off a module.
        if not self._gate.admits(session):
            await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
            await writer.close()
            raise AMQTTError(f"refused client {session.client_id!r}")
        await self._delete_session(session.client_id)
        session.parent = 0
        return handler, session

    async def _topic_filtering(self, session: Any, topic: str, action: Any) -> bool:
        # amqtt asks this before it accepts a publish or a subscription and before each delivery.
        if self._gate is None:
            return bool(await super()._topic_filtering(session, topic, action))
        return bool(self._gate.allows(session, topic, str(action)))

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Any
    ) -> None:
        # amqtt calls this on connect for every client's subscriptions, and it sends without
        # checking the receiver's rights: serve the session's own subscription, what it may read.
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        subscribers = self._subscriptions.get(topic_filter, ())
        if handler is None or all(s is not session for s, _ in subscribers):
            return
        sends = [
            asyncio.ensure_future(
                handler.mqtt_publish(topic, retained.data, min(qos, retained.qos or qos), True)
            )
            for topic, retained in list(self._retained_messages.items())
            if self._matches(topic, topic_filter)
            and (self._gate is None or self._gate.check.may_receive(session.username, topic))
        ]
        if sends:
            await asyncio.wait(sends)
