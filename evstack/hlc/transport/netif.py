"""Interfaces, link-local addresses and sockets for the V2G transport.

Every socket here comes from a `SocketFactory`. A process normally passes `socket.socket`;
a test passes one that creates sockets inside a network namespace. A socket stays in the
namespace it was created in, and so do the interface look-ups below, which ask the socket
itself (an ioctl on it) instead of the calling thread's namespace.
"""

from __future__ import annotations

import fcntl
import ipaddress
import random
import socket
import struct
from collections.abc import Callable

from evstack.exi import sdp

SocketFactory = Callable[[int, int, int], socket.socket]  # family, type, proto

_SIOCGIFINDEX = 0x8933
_IFREQ = struct.Struct("16si12x")


def default_socket_factory(family: int, kind: int, proto: int) -> socket.socket:
    return socket.socket(family, kind, proto)


def interface_index(sock: socket.socket, interface: str) -> int:
    """The index of `interface` in the namespace `sock` belongs to."""
    request = _IFREQ.pack(interface.encode(), 0)
    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCGIFINDEX, request)
    except OSError as exc:
        raise OSError(exc.errno, f"no interface {interface!r}: {exc.strerror}") from None
    return int(_IFREQ.unpack(answer)[1])


def link_local_address(
    interface: str, socket_factory: SocketFactory = default_socket_factory
) -> ipaddress.IPv6Address:
    """The interface's link-local IPv6 address: the source the kernel picks for ff02::1."""
    with socket_factory(socket.AF_INET6, socket.SOCK_DGRAM, 0) as probe:
        scope = interface_index(probe, interface)
        probe.connect((sdp.SDP_MULTICAST, sdp.SDP_PORT, 0, scope))  # sends nothing
        address = ipaddress.IPv6Address(probe.getsockname()[0].split("%")[0])
    if not address.is_link_local:
        raise OSError(f"{interface} has no link-local IPv6 address")
    return address


def bind_in_secc_range(sock: socket.socket, address: str, scope: int, *, attempts: int = 64) -> int:
    """Bind to a free port in 49152-65535 (EVCCs refuse others; the kernel's own ephemeral
    range starts lower) and return it."""
    for port in random.sample(sdp.SECC_PORTS, attempts):
        try:
            sock.bind((address, port, 0, scope))
        except OSError:
            continue
        return port
    raise OSError(f"no free TCP port in 49152-65535 after {attempts} tries")
