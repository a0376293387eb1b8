"""Sockets in a named network namespace, for an EV whose V2G link is the namespaced end of a
veth pair while the rest of its process (MQTT) stays where it is.

setns() switches only the calling thread's network namespace, so a short-lived thread enters
the namespace, makes the socket and ends; the socket stays in that namespace for good.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from evstack.hlc.transport.netif import SocketFactory

_CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"  # where `ip netns add` pins the namespaces it names


def namespace_socket_factory(name: str) -> SocketFactory:
    """A SocketFactory whose sockets live in the namespace `ip netns` knows as `name`."""
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no network namespace {name!r} ({path})")
    libc = ctypes.CDLL(None, use_errno=True)

    def make(family: int, kind: int, proto: int) -> socket.socket:
        made: list[socket.socket] = []
        failed: list[BaseException] = []

        def inside() -> None:
            try:
                with open(path) as handle:
                    if libc.setns(handle.fileno(), _CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns {name}: {os.strerror(err)}")
                made.append(socket.socket(family, kind, proto))
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=inside, name=f"netns-{name}")
        thread.start()
        thread.join()
        if failed:
            raise failed[0]
        return made[0]

    return make
