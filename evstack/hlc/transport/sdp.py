"""SECC Discovery Protocol over UDP (ISO 15118-2 7.10.1): where is the SECC's TCP server?

The EVCC multicasts an SdpRequest (the security it wants) to ff02::1 port 15118 on the
interface of the matched link, every 0.25 s until an answer comes, at most 50 times. The
SECC answers the requester directly with its link-local address, its TCP port (49152-
65535) and the security it will use: the one asked for when it offers it, else the one it
offers. Codecs: evstack.exi.sdp.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import struct
from collections.abc import Collection
from typing import Any

from evstack.exi import sdp
from evstack.exi.sdp import SdpRequest, SdpResponse, Security, Transport
from evstack.hlc.transport.netif import (
    SocketFactory,
    default_socket_factory,
    interface_index,
    link_local_address,
)

_log = logging.getLogger(__name__)

SDP_INTERVAL = 0.25  # seconds between requests (ISO 15118-2 7.10.1.2)
SDP_MAX_REQUESTS = 50


class SdpTimeoutError(TimeoutError):
    """No valid SDP response after every request."""


def _udp_socket(factory: SocketFactory, interface: str) -> tuple[socket.socket, int]:
    sock = factory(socket.AF_INET6, socket.SOCK_DGRAM, 0)
    try:
        scope = interface_index(sock, interface)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock, scope


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: asyncio.Queue[tuple[bytes, tuple[str, int, int, int]]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        host, port, flow, scope = addr  # an AF_INET6 address
        self.datagrams.put_nowait((data, (host, port, flow, scope)))


@dataclasses.dataclass
class SdpResponder:
    """The SECC's side: answers every valid request on one interface until closed."""

    address: ipaddress.IPv6Address
    port: int
    offered: frozenset[Security]
    answered: int = 0
    refused: int = 0
    _transport: asyncio.DatagramTransport | None = None
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        interface: str,
        *,
        tcp_port: int,
        offered: Collection[Security],
        address: ipaddress.IPv6Address | None = None,
        socket_factory: SocketFactory = default_socket_factory,
    ) -> SdpResponder:
        """Listen on [::]:15118 and in ff02::1 on `interface`; `address` defaults to the
        interface's link-local address, `offered` is what security the SECC supports."""
        if not offered:
            raise ValueError("an SECC offers TLS, no TLS, or both")
        if address is None:
            address = link_local_address(interface, socket_factory)
        SdpResponse(address, tcp_port, Security.NONE)  # refuses a port outside the range
        sock, scope = _udp_socket(socket_factory, interface)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::", sdp.SDP_PORT, 0, scope))
            group = socket.inet_pton(socket.AF_INET6, sdp.SDP_MULTICAST)
            sock.setsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", scope)
            )
        except OSError:
            sock.close()
            raise
        responder = cls(address, tcp_port, frozenset(offered))
        protocol = _Protocol()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
        responder._transport = transport
        responder._task = asyncio.create_task(responder._serve(protocol))
        return responder

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._transport is not None:
            self._transport.close()

    def choose(self, asked: Security) -> Security:
        if asked in self.offered:
            return asked
        return Security.TLS if Security.TLS in self.offered else Security.NONE

    async def _serve(self, protocol: _Protocol) -> None:
        assert self._transport is not None
        while True:
            data, sender = await protocol.datagrams.get()
            try:
                request = SdpRequest.from_bytes(data)
            except sdp.SdpError as exc:
                self.refused += 1
                _log.info("SDP: ignored a datagram from %s: %s", sender[0], exc)
                continue
            if request.transport is not Transport.TCP:
                self.refused += 1
                continue
            answer = SdpResponse(self.address, self.port, self.choose(request.security))
            self._transport.sendto(answer.to_bytes(), sender)
            self.answered += 1


async def discover(
    interface: str,
    security: Security,
    *,
    socket_factory: SocketFactory = default_socket_factory,
    interval: float = SDP_INTERVAL,
    max_requests: int = SDP_MAX_REQUESTS,
) -> SdpResponse:
    """The EVCC's side: the first valid SDP response. Invalid answers (a port outside
    49152-65535, a wrong payload) are ignored and the requests go on; SdpTimeoutError when
    none came after `max_requests`. Whether the security offered is acceptable is the
    caller's decision."""
    sock, scope = _udp_socket(socket_factory, interface)
    sock.bind(("::", 0, 0, scope))
    protocol = _Protocol()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, sock=sock)
    request = SdpRequest(security).to_bytes()
    try:
        for _ in range(max_requests):
            transport.sendto(request, (sdp.SDP_MULTICAST, sdp.SDP_PORT, 0, scope))
            deadline = loop.time() + interval
            while (left := deadline - loop.time()) > 0:
                try:
                    data, sender = await asyncio.wait_for(protocol.datagrams.get(), left)
                except TimeoutError:
                    break
                try:
                    return SdpResponse.from_bytes(data)
                except sdp.SdpError as exc:
                    _log.warning("SDP: refused an answer from %s: %s", sender[0], exc)
    finally:
        transport.close()
    raise SdpTimeoutError(f"no valid SDP response to {max_requests} requests on {interface}")
