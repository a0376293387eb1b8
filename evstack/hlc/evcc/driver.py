"""Runs an EvccSession over a V2GTP stream, with the event loop's clock.

The only place with I/O and time on the EV side: it finds the charger by SDP, connects (TLS
when asked), feeds each response and each deadline to the session, sends what it returns,
hands notices to `on_event`, and closes the stream when the session says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable

from evstack.exi.sdp import Security
from evstack.hlc.evcc import events as ev
from evstack.hlc.evcc.session import EvccSession
from evstack.hlc.transport import sdp, stream
from evstack.hlc.transport.netif import SocketFactory, default_socket_factory
from evstack.hlc.transport.stream import StreamClosedError, V2gtpStream

EventSink = Callable[[ev.Output], None]


async def run(
    connection: V2gtpStream, session: EvccSession, on_event: EventSink
) -> ev.SessionEnded:
    """One session on `connection`, until it ends; its SessionEnded."""
    loop = asyncio.get_running_loop()
    ended: list[ev.SessionEnded] = []

    def sink(output: ev.Output) -> None:
        if isinstance(output, ev.SessionEnded):
            ended.append(output)
        on_event(output)

    receiving: asyncio.Task[tuple[int, bytes]] | None = None
    try:
        await _carry_out(connection, session.start(loop.time()), sink)
        while not session.ended:
            if receiving is None:
                receiving = asyncio.ensure_future(connection.receive())
            deadline = session.deadline()
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait({receiving}, timeout=timeout)
            if receiving in done:
                task, receiving = receiving, None
                try:
                    payload_type, payload = task.result()
                except StreamClosedError as exc:
                    outputs = session.connection_lost(exc.reason)
                else:
                    outputs = session.receive(payload_type, payload, loop.time())
            else:
                outputs = session.poll(loop.time())
            await _carry_out(connection, outputs, sink)
    finally:
        if receiving is not None:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, StreamClosedError):
                await receiving
        await connection.close("session over")
    return ended[0]


async def connect_and_run(
    session: EvccSession,
    interface: str,
    on_event: EventSink,
    *,
    ssl_context: ssl.SSLContext | None = None,
    socket_factory: SocketFactory = default_socket_factory,
) -> ev.SessionEnded:
    """SDP on `interface` (asking for TLS when `ssl_context` is given), then the session.
    A charger that answers without TLS when TLS was asked for is refused; one whose TLS
    handshake fails ends the session unclean, saying why."""
    security = Security.NONE if ssl_context is None else Security.TLS
    found = await sdp.discover(interface, security, socket_factory=socket_factory)
    if found.security != security:
        raise ConnectionRefusedError(f"charger offered {found.security.name}, not {security.name}")
    try:
        connection = await stream.connect(
            found.address,
            found.port,
            interface,
            ssl_context=ssl_context,
            socket_factory=socket_factory,
        )
    except ssl.SSLError as exc:
        # A chain that does not lead to the EV's V2G root, say: OpenSSL has sent the alert
        # and closed; the session ends before it began, with the reason on record.
        reason = f"TLS handshake with the charger failed: {stream.tls_reason(exc)}"
        ended = session.not_connected(reason)
        on_event(ended)
        return ended
    return await run(connection, session, on_event)


async def _carry_out(connection: V2gtpStream, outputs: list[ev.Output], sink: EventSink) -> None:
    for output in outputs:
        if isinstance(output, ev.Send):
            with contextlib.suppress(StreamClosedError):
                await connection.send(output.payload_type, output.payload)
        elif isinstance(output, ev.Close):
            await connection.close(output.reason)
        else:
            sink(output)
