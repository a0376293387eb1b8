"""TLS on a connected socket, driven by hand (an ssl.SSLObject on memory BIOs) rather than by
asyncio's SSL transport, for the EVCC and the SECC alike.

Why by hand:
- When a handshake fails, as it must for a charger whose chain does not lead to the EV's
  V2G root, OpenSSL writes the fatal alert (unknown_ca) into its outgoing buffer, and
  asyncio never sends it: its `_do_handshake` hands the SSLError straight to
  `_on_handshake_complete`, which aborts the transport (CPython 3.11 Lib/asyncio/sslproto.py,
  lines 555-585). Here the alert goes out, then the connection is shut down with a FIN, so
  the peer learns why.
- A server that upgrades an accepted stream (`StreamWriter.start_tls`) loses a ClientHello
  that arrived before the upgrade: the plain stream has read it into its own buffer, and
  both ends then wait for each other until the handshake times out (seen as one ISO-20
  session in three stalling for 20 s). Here nothing reads the socket but the handshake.

After a handshake the same object carries the session: a pump task decrypts what arrives
into a StreamReader, and the writer encrypts what is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

_CHUNK = 65536


class TlsWriter:
    """The writing half, shaped like asyncio.StreamWriter as far as V2gtpStream uses it."""

    def __init__(
        self,
        sock: socket.socket,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ):
        self._sock = sock
        self._tls = tls
        self._incoming = incoming
        self._outgoing = outgoing
        self._lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._tls
        if name == "peername":
            with contextlib.suppress(OSError):
                return self._sock.getpeername()
        return default

    async def handshake(self, reader: asyncio.StreamReader) -> None:
        """The handshake, then the pump into `reader`. On an SSLError the alert OpenSSL wrote
        is sent before it is raised; the caller closes the writer."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    self._tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    await self.flush()
                    data = await loop.sock_recv(self._sock, _CHUNK)
                    if not data:
                        raise ConnectionResetError("the peer closed in the TLS handshake") from None
                    self._incoming.write(data)
            await self.flush()
        except ssl.SSLError:
            with contextlib.suppress(OSError):
                await self.flush()  # the alert OpenSSL wrote for the refusal
            raise
        pump = _pump(self._sock, self._tls, self._incoming, reader, self)
        self._pump = asyncio.ensure_future(pump)

    def write(self, data: bytes) -> None:
        self._tls.write(data)  # into the memory BIO: never blocks

    async def drain(self) -> None:
        await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            data = self._outgoing.read()
            if data:
                await asyncio.get_running_loop().sock_sendall(self._sock, data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ssl.SSLError):
            self._tls.unwrap()  # close_notify into the buffer; the peer's answer is not awaited
        with contextlib.suppress(OSError):
            self._sock.send(self._outgoing.read())  # best effort: it is small
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        if self._pump is not None:
            self._pump.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        if self._pump is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


def wrap(
    sock: socket.socket, context: ssl.SSLContext, *, server_side: bool
) -> tuple[asyncio.StreamReader, TlsWriter]:
    """The reader and writer of a TLS connection on the connected, non-blocking `sock`,
    before its handshake (`TlsWriter.handshake`)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=server_side)
    return asyncio.StreamReader(), TlsWriter(sock, tls, incoming, outgoing)


async def handshake(
    sock: socket.socket, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, TlsWriter]:
    """The client handshake on the connected, non-blocking `sock`. On failure the alert is
    sent, the socket shut down and closed, and the SSLError raised."""
    reader, writer = wrap(sock, context, server_side=False)
    try:
        await writer.handshake(reader)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _pump(
    sock: socket.socket,
    tls: ssl.SSLObject,
    incoming: ssl.MemoryBIO,
    reader: asyncio.StreamReader,
    writer: TlsWriter,
) -> None:
    """Socket to BIO to plaintext, into `reader`, until the end of the connection. What
    the handshake's last read brought beyond the handshake (a client's first message can
    share a segment with its Finished) is decrypted before the socket is waited on."""
    loop = asyncio.get_running_loop()
    ended = False
    try:
        while True:
            while True:
                try:
                    plain = tls.read(_CHUNK)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:  # close_notify
                    reader.feed_eof()
                    return
                if not plain:
                    break
                reader.feed_data(plain)
            await writer.flush()  # what reading produced (TLS 1.3 key updates)
            if ended:
                reader.feed_eof()
                return
            data = await loop.sock_recv(sock, _CHUNK)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
                ended = True
    except (OSError, ssl.SSLError) as exc:
        reader.set_exception(exc)
