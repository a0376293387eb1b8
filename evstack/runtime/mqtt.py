"""paho-mqtt driven by the asyncio event loop: no thread per client.

paho exposes socket callbacks for exactly this; we register its socket with the loop's
reader/writer watchers and run its keep-alive housekeeping from a timer. Every socket gets
TCP_NODELAY, because with Nagle's algorithm a QoS 1 round trip stalls on delayed ACKs for
tens of milliseconds.

While the broker is away nothing is replayed blindly when it comes back. QoS 0 messages are
gone (commands: their caller learns it at once). Retained messages are state: the newest per
topic is delivered. Other QoS 1 messages are delivered only if they are younger than
`stale_after_s`; a var from before a long outage would make its receivers act on the past,
say a contactor switched on and off again for events that were over long ago.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from evstack.runtime.errors import BrokerError

__all__ = ["BrokerSettings", "MqttConnection"]

log = logging.getLogger(__name__)

READ_BURST = 64
FLUSH_POLL_S = 0.005
# Wall seconds a non-retained QoS 1 message stays worth delivering after an outage.
STALE_AFTER_S = 1.0
# Messages held during one outage, at most; the oldest go first.
MAX_HELD = 10_000

MessageCallback = Callable[[str, bytes], None]


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where the broker is and how to authenticate; picklable so module processes get it."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    keepalive_s: int = 20

    @classmethod
    def from_url(cls, url: str, **options: Any) -> BrokerSettings:
        """Parse `mqtt://[user:pass@]host[:port]` or `mqtts://...` (TLS, default port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {url!r}")
        tls = parts.scheme == "mqtts" or bool(options.pop("tls", False))
        port = parts.port or (8883 if tls else 1883)
        if parts.username is not None:
            options.setdefault("username", unquote(parts.username))
        if parts.password is not None:
            options.setdefault("password", unquote(parts.password))
        return cls(host=parts.hostname, port=port, tls=tls, **options)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class MqttConnection:
    """One MQTT 3.1.1 session on the running event loop.

    Subscriptions are remembered and renewed after a reconnect (the session is clean, so
    the broker forgets them). Reconnects back off exponentially up to `max_backoff_s`.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        client_id: str,
        on_message: MessageCallback,
        *,
        will: tuple[str, bytes, int, bool] | None = None,
        max_backoff_s: float = 5.0,
        on_reconnect: Callable[[], None] | None = None,
        on_connection_lost: Callable[[], None] | None = None,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self._settings = settings
        # Called after every reconnect: a restarted broker without persistence has lost
        # the retained messages, so their owners publish them again.
        self._on_reconnect = on_reconnect
        # Called when an established connection drops: replies cannot come any more.
        self._on_connection_lost = on_connection_lost
        self._stale_after_s = stale_after_s
        # (monotonic time, topic, payload, qos, retain) published while disconnected.
        self._held: deque[tuple[float, str, bytes, int, bool]] = deque(maxlen=MAX_HELD)
        self.dropped_stale = 0
        self._was_connected = False
        self._on_message = on_message
        self._loop = asyncio.get_running_loop()
        self._subscriptions: dict[str, int] = {}
        self._pending_subacks: dict[int, asyncio.Future[None]] = {}
        self._connected = asyncio.Event()
        self._connect_result: asyncio.Future[None] | None = None
        self._closing = False
        self._max_backoff_s = max_backoff_s
        self._misc_timer: asyncio.TimerHandle | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._write_check_scheduled = False
        self._watching = False
        self._publishing = False
        self._reading = False
        # The newest QoS > 0 publish; flush() waits for its acknowledgement.
        self._last_acknowledged: paho.MQTTMessageInfo | None = None

        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.tls_ca)
            if settings.tls_cert:
                context.load_cert_chain(settings.tls_cert, settings.tls_key)
            client.tls_set_context(context)
        if will is not None:
            topic, payload, qos, retain = will
            client.will_set(topic, payload, qos, retain)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_paho_message
        self._client = client

    # -- life cycle -------------------------------------------------------------------

    async def connect(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Connect and wait for the broker's CONNACK; raise BrokerError on refusal."""
        self._connect_result = self._loop.create_future()
        try:
            # Blocking only for DNS and the TCP/TLS handshake; on a charger that is loopback.
            self._client.connect(
                self._settings.host, self._settings.port, self._settings.keepalive_s
            )
        except (OSError, ssl.SSLError) as exc:
            self._abandon()
            raise BrokerError(f"cannot connect to {self._settings.url}: {exc}") from exc
        self._schedule_misc()
        try:
            async with asyncio.timeout(timeout):
                await self._connect_result
        except TimeoutError:
            self._abandon()
            raise BrokerError(f"no CONNACK from {self._settings.url} in {timeout} s") from None
        except BrokerError:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Give up a connection that never got going, leaving no socket or timer behind."""
        self._closing = True
        if self._misc_timer is not None:
            self._misc_timer.cancel()
        sock = self._client.socket()
        if sock is not None:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)
            sock.close()

    async def disconnect(self) -> None:
        """Flush what was published, then close the session cleanly (no will message)."""
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        if self._connected.is_set():
            await self.flush()
            self._client.disconnect()
            self._write_now()  # paho closes the socket once DISCONNECT is out
        if self._misc_timer is not None:
            self._misc_timer.cancel()
        self._connected.clear()

    async def flush(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every queued packet is written and QoS > 0 publishes are acknowledged.

        Polls: it runs once, at shutdown, and an on_publish callback would cost every
        publish paho's per-message callback overhead.
        """
        for _ in range(int(timeout / FLUSH_POLL_S)):
            last = self._last_acknowledged
            if not self._connected.is_set():
                return
            if not self._client.want_write() and (last is None or last.is_published()):
                return
            await asyncio.sleep(FLUSH_POLL_S)
        log.warning("MQTT flush to %s did not finish in %s s", self._settings.url, timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- messaging --------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False
    ) -> paho.MQTTMessageInfo | None:
        """Send a message; while disconnected, hold QoS > 0 ones for the reconnect.

        Returns paho's handle of the message (`is_published()`: it has left for the socket,
        for QoS 0; the broker acknowledged it, for QoS 1), or None if it was held or dropped.
        """
        if not self._connected.is_set():
            if qos:
                self._held.append((time.monotonic(), topic, payload, qos, retain))
            return None
        # Write now rather than on the next loop iteration: a command round trip crosses
        # four publishes, and each deferred write would add a trip through the selector.
        self._publishing = True
        try:
            sent = self._client.publish(topic, payload, qos, retain)
            if qos:
                self._last_acknowledged = sent
        finally:
            self._publishing = False
        # Inside a paho callback (we are in _read) paho holds a lock its write path takes
        # again: _read writes once it returns.
        if not self._reading:
            self._write_now()
        return sent

    def _write_now(self) -> None:
        if self._connected.is_set() and self._client.want_write():
            self._client.loop_write()
        if self._client.want_write():
            self._watch_if_still_writing(self._client.socket())

    def subscribe(self, topic_filter: str, qos: int) -> asyncio.Future[None]:
        """Subscribe (and again after every reconnect); the future resolves on SUBACK."""
        self._subscriptions[topic_filter] = max(qos, self._subscriptions.get(topic_filter, 0))
        return self._send_subscribe(topic_filter, self._subscriptions[topic_filter])

    def _send_subscribe(self, topic_filter: str, qos: int) -> asyncio.Future[None]:
        acked: asyncio.Future[None] = self._loop.create_future()
        if not self._connected.is_set():
            # on_connect renews every remembered subscription.
            acked.set_result(None)
            return acked
        result, mid = self._client.subscribe(topic_filter, qos)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            acked.set_exception(BrokerError(f"subscribe {topic_filter!r} failed: {result}"))
        else:
            self._pending_subacks[mid] = acked
        return acked

    # -- paho callbacks (all run on the event loop) -----------------------------------

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(sock, self._read, sock)

    def _read(self, sock: Any) -> None:
        self._reading = True
        try:
            # Up to a burst of packets per wake-up; paho stops early when the socket is dry.
            self._client.loop_read(READ_BURST)
            # TLS may hold decrypted bytes the kernel no longer reports as readable.
            pending = getattr(sock, "pending", None)
            while pending is not None and pending() > 0 and self._client.socket() is sock:
                self._client.loop_read()
        finally:
            self._reading = False
        self._write_now()

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._watching = False

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # Usually publish() writes the packet at once; watch the socket only if bytes are
        # still queued afterwards (a full send buffer), saving two epoll calls per message.
        if not (self._publishing or self._reading or self._write_check_scheduled):
            self._write_check_scheduled = True
            self._loop.call_soon(self._watch_if_still_writing, sock)

    def _watch_if_still_writing(self, sock: Any) -> None:
        self._write_check_scheduled = False
        same_socket = sock is not None and self._client.socket() is sock  # not closed meanwhile
        if self._client.want_write() and same_socket and not self._watching:
            self._watching = True
            self._loop.add_writer(sock, self._client.loop_write)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._watching:
            self._watching = False
            self._loop.remove_writer(sock)

    def _schedule_misc(self) -> None:
        self._client.loop_misc()
        self._misc_timer = self._loop.call_later(1.0, self._schedule_misc)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        pending = self._connect_result
        if reason.is_failure:
            error = BrokerError(f"broker {self._settings.url} refused the connection: {reason}")
            if pending is not None and not pending.done():
                pending.set_exception(error)
            else:
                log.error("%s", error)
            return
        self._connected.set()
        for topic_filter, qos in self._subscriptions.items():
            self._send_subscribe(topic_filter, qos)
        if pending is not None and not pending.done():
            pending.set_result(None)
        if self._was_connected:
            log.info("reconnected to %s", self._settings.url)
            self._release_held()
            if self._on_reconnect is not None:
                self._on_reconnect()
        self._was_connected = True

    def _release_held(self) -> None:
        """Deliver what was published during the outage and is still worth delivering."""
        held, self._held = self._held, deque(maxlen=MAX_HELD)
        oldest = time.monotonic() - self._stale_after_s
        newest_retained = {topic: at for at, topic, _, _, retain in held if retain}
        stale = 0
        for at, topic, payload, qos, retain in held:
            if retain and newest_retained[topic] != at:
                continue  # superseded state
            if not retain and at < oldest:
                stale += 1
                continue
            self.publish(topic, payload, qos, retain)
        if stale:
            self.dropped_stale += stale
            log.warning("dropped %d messages that went stale while the broker was away", stale)

    def _take_over_in_flight(self) -> None:
        """Hold paho's unacknowledged QoS > 0 messages with those published during the outage.

        paho would send them again itself, however old, and after what we release: it resends
        once on_connect has returned, so an older value would overwrite a newer one. Nor can
        they be pruned later: paho zeroes their stamps at every reconnect attempt. It keeps
        them in its private `_out_messages`, stamped with time.monotonic() when published.
        """
        client: Any = self._client
        with client._out_message_mutex:
            in_flight = [
                (m.timestamp, m.topic, m.payload, m.qos, m.retain)
                for m in client._out_messages.values()
            ]
            client._out_messages.clear()
        if in_flight:
            # Older than anything held; flush() must not wait for their acknowledgements.
            self._held = deque([*in_flight, *self._held], maxlen=MAX_HELD)
            self._last_acknowledged = None

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._closing or not self._was_connected:
            return  # closing, or a first connect refused: connect() reports that itself
        log.warning("lost the broker %s (%s); reconnecting", self._settings.url, reason)
        self._take_over_in_flight()
        if was_connected and self._on_connection_lost is not None:
            self._on_connection_lost()
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.05
        while not self._closing and not self._connected.is_set():
            await asyncio.sleep(delay)
            try:
                self._client.reconnect()
            except (OSError, ssl.SSLError) as exc:
                log.info("reconnect to %s failed: %s", self._settings.url, exc)
                delay = min(delay * 2, self._max_backoff_s)
                continue
            try:
                async with asyncio.timeout(max(delay, 1.0)):
                    await self._connected.wait()
            except TimeoutError:
                delay = min(delay * 2, self._max_backoff_s)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        acked = self._pending_subacks.pop(mid, None)
        if acked is None or acked.done():
            return
        failed = [r for r in reasons if r.is_failure]
        if failed:
            acked.set_exception(BrokerError(f"broker refused a subscription: {failed}"))
        else:
            acked.set_result(None)

    def _on_paho_message(self, client: paho.Client, userdata: Any, message: Any) -> None:
        try:
            self._on_message(message.topic, message.payload)
        except Exception:
            # A bug in one handler must not tear down the connection's read loop.
            log.exception("message handler failed for %s", message.topic)
