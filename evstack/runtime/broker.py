"""The embedded broker: amqtt in the manager's event loop, so a fresh machine needs nothing.

amqtt is pure Python and far slower than Mosquitto; it is for first runs, demos and tests.
A charger in the field names a real broker (`--broker` or the config's settings).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from evstack.runtime.mqtt import BrokerSettings

__all__ = ["EmbeddedBroker"]


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._broker: Any = None

    async def start(self) -> BrokerSettings:
        """Start listening (port 0 picks a free one) and return how to reach the broker."""
        from amqtt.broker import Broker  # heavy import, only paid when embedding

        # amqtt and its state machine log every connection at INFO: noise in our output.
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self._host}:{self._port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
        )
        # amqtt 0.12 iterates its subscription table across awaits when a client
        # connects; another client subscribing meanwhile makes that iteration fail and
        # drops the connecting client. Iterating over a snapshot avoids it.
        self._broker._subscriptions = _SnapshotIterDict(self._broker._subscriptions)
        await self._broker.start()
        # amqtt has no public accessor for the bound port of an ephemeral listener.
        server = self._broker._servers["default"].instance
        port = server.sockets[0].getsockname()[1]
        return BrokerSettings(host=self._host, port=port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None


class _SnapshotIterDict(dict[str, Any]):
    """A dict whose iteration walks a copy of its keys, so it may change meanwhile."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.keys()))
