"""V2GTP messages over TCP, optionally TLS (ISO 15118-2 7.8.3): the SECC's server, the
EVCC's client and the message stream both use.

A stream reads exactly one message at a time: the 8-byte header, checked (version 0x01,
its inverse 0xFE, a payload type the stream accepts, a length within its maximum), then
exactly that many payload bytes. Anything else ends the connection: the stream closes it
and raises StreamClosedError with the reason, so a peer sending garbage never leaves a
half-read socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection
from typing import Any, NoReturn, Protocol

from evstack.exi import v2gtp
from evstack.hlc.transport import tls_socket
from evstack.hlc.transport.netif import (
    SocketFactory,
    bind_in_secc_range,
    default_socket_factory,
    interface_index,
)

_log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0  # a TCP handshake on a local link takes milliseconds
# A TLS handshake must be over within the SECC's communication setup time (20 s).
TLS_HANDSHAKE_TIMEOUT_S = 20.0

# Every payload type of a V2G session over TCP (EXI for SAP, DIN, ISO-2 and the ISO-20 sets).
V2G_PAYLOAD_TYPES = frozenset(
    t
    for t in v2gtp.PayloadType
    if t not in (v2gtp.PayloadType.SDP_REQUEST, v2gtp.PayloadType.SDP_RESPONSE)
)


class StreamClosedError(ConnectionError):
    """The stream is closed; `reason` says why (the peer left, or what it sent was bad)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Writer(Protocol):
    """What a stream writes through: asyncio's StreamWriter, or tls_socket's."""

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...
    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


class V2gtpStream:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: Writer,
        *,
        accept: Collection[int] = V2G_PAYLOAD_TYPES,
        max_payload: int = v2gtp.MAX_PAYLOAD,
    ):
        self._reader = reader
        self._writer = writer
        self.accept = frozenset(accept)
        self.max_payload = min(max_payload, v2gtp.MAX_PAYLOAD)
        self.close_reason: str | None = None

    @property
    def peer(self) -> tuple[str, int]:
        host, port = self._writer.get_extra_info("peername")[:2]
        return host, port

    @property
    def tls_version(self) -> str | None:
        """'TLSv1.2', 'TLSv1.3', or None without TLS."""
        tls: ssl.SSLObject | None = self._writer.get_extra_info("ssl_object")
        return None if tls is None else tls.version()

    async def receive(self) -> tuple[int, bytes]:
        """(payload type, payload) of the next message."""
        if self.close_reason is not None:
            raise StreamClosedError(self.close_reason)
        header = await self._read(v2gtp.HEADER_SIZE, at_start=True)
        try:
            payload_type, length = v2gtp.parse_header(header)
        except v2gtp.V2gtpError as exc:
            await self._fail(f"bad V2GTP header {header.hex()}: {exc}")
        if payload_type not in self.accept:
            await self._fail(f"unexpected payload type {payload_type:#06x}")
        if length > self.max_payload:
            await self._fail(f"payload of {length} bytes exceeds {self.max_payload}")
        return payload_type, await self._read(length, at_start=False)

    async def send(self, payload_type: int, payload: bytes) -> None:
        if self.close_reason is not None:
            raise StreamClosedError(self.close_reason)
        self._writer.write(v2gtp.frame(payload_type, payload))
        try:
            await self._writer.drain()
        except ConnectionError as exc:
            await self._fail(f"send failed: {exc}")

    async def close(self, reason: str = "closed by this side") -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._writer.close()
        # The peer may be gone already; the socket is closed all the same.
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self._writer.wait_closed()

    async def _read(self, size: int, *, at_start: bool) -> bytes:
        try:
            return await self._reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            if at_start and not exc.partial:
                await self._fail("the peer closed the connection")
            await self._fail(
                f"the connection ended inside a message ({len(exc.partial)} of {size} bytes)"
            )
        except (ConnectionError, ssl.SSLError) as exc:
            await self._fail(f"the connection broke: {exc}")

    async def _fail(self, reason: str) -> NoReturn:
        _log.info("V2GTP stream to %s closed: %s", self._writer.get_extra_info("peername"), reason)
        await self.close(reason)
        raise StreamClosedError(reason)


Handler = Callable[[V2gtpStream], Awaitable[None]]


@dataclasses.dataclass
class V2gServer:
    """The SECC's TCP server; every connection gets a V2gtpStream and a handler task."""

    address: ipaddress.IPv6Address
    port: int
    tls: bool
    _listener: socket.socket
    _accepting: asyncio.Task[None]

    async def close(self) -> None:
        """Stop accepting; sessions under way run on to their own end."""
        self._accepting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._accepting
        self._listener.close()


async def start_server(
    handler: Handler,
    interface: str,
    address: ipaddress.IPv6Address,
    *,
    port: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
    socket_factory: SocketFactory = default_socket_factory,
    accept: Collection[int] = V2G_PAYLOAD_TYPES,
    max_payload: int = v2gtp.MAX_PAYLOAD,
) -> V2gServer:
    """Listen on `address` (the link-local address SDP announces) at `port`, or at a free
    port in 49152-65535. The handler's stream is closed when the handler returns."""
    sock = socket_factory(socket.AF_INET6, socket.SOCK_STREAM, 0)
    try:
        scope = interface_index(sock, interface)
        if port is None:
            port = bind_in_secc_range(sock, str(address), scope)
        else:
            sock.bind((str(address), port, 0, scope))
        sock.listen(8)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise

    async def serve(conn: socket.socket) -> None:
        stream = await _open(conn, ssl_context, accept=accept, max_payload=max_payload)
        try:
            await handler(stream)
        except StreamClosedError:
            pass  # already closed, with its reason logged
        finally:
            await stream.close("the SECC handler finished")

    sessions: set[asyncio.Task[None]] = set()

    async def accepting() -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(sock)
            conn.setblocking(False)
            task = asyncio.ensure_future(serve(conn))
            sessions.add(task)
            task.add_done_callback(sessions.discard)

    server_task = asyncio.ensure_future(accepting())
    return V2gServer(address, port, ssl_context is not None, sock, server_task)


async def _open(
    conn: socket.socket,
    ssl_context: ssl.SSLContext | None,
    *,
    accept: Collection[int],
    max_payload: int,
) -> V2gtpStream:
    """An accepted connection as a stream. Its TLS handshake runs here, not in a server's
    ssl= (where a failure never reaches the handler and is only logged): a failed one gives
    the handler a stream already closed with the reason, so the session ends with it on
    record (an EV refusing the chain, say)."""
    if ssl_context is None:
        reader, writer = await asyncio.open_connection(sock=conn)
        return V2gtpStream(reader, writer, accept=accept, max_payload=max_payload)
    tls_reader, tls_writer = tls_socket.wrap(conn, ssl_context, server_side=True)
    stream = V2gtpStream(tls_reader, tls_writer, accept=accept, max_payload=max_payload)
    try:
        async with asyncio.timeout(TLS_HANDSHAKE_TIMEOUT_S):
            await tls_writer.handshake(tls_reader)
    except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
        failure = f"TLS handshake failed: {tls_reason(exc)}"
        _log.warning("V2G connection from %s: %s", tls_writer.get_extra_info("peername"), failure)
        await stream.close(failure)
    return stream


def tls_reason(exc: BaseException) -> str:
    """What a failed handshake says: the verification message or the alert, else the error."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return str(exc) or type(exc).__name__


async def connect(
    address: ipaddress.IPv6Address,
    port: int,
    interface: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    socket_factory: SocketFactory = default_socket_factory,
    accept: Collection[int] = V2G_PAYLOAD_TYPES,
    max_payload: int = v2gtp.MAX_PAYLOAD,
) -> V2gtpStream:
    """The EVCC's connection to the SECC that SDP found (TLS verified by `ssl_context`).

    A refused certificate raises ssl.SSLCertVerificationError, after the alert went out and
    the socket was shut down and closed.
    """
    sock = socket_factory(socket.AF_INET6, socket.SOCK_STREAM, 0)
    try:
        scope = interface_index(sock, interface)
        # Connected on a worker thread, not with loop.sock_connect: uvloop (the runtime's
        # loop) refuses an IPv6 address with a scope id there (EINVAL).
        sock.settimeout(CONNECT_TIMEOUT_S)
        await asyncio.to_thread(sock.connect, (str(address), port, 0, scope))
        sock.setblocking(False)
        if ssl_context is not None:
            # By hand, so that a refused chain's alert reaches the charger (tls_socket).
            tls_reader, tls_writer = await asyncio.wait_for(
                tls_socket.handshake(sock, ssl_context), TLS_HANDSHAKE_TIMEOUT_S
            )
            return V2gtpStream(tls_reader, tls_writer, accept=accept, max_payload=max_payload)
        reader, writer = await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise
    return V2gtpStream(reader, writer, accept=accept, max_payload=max_payload)
