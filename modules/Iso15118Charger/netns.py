"""Sockets inside a named network namespace, for simulations of EV and charger on one
machine (each side in its namespace, joined by a veth pair).

setns() switches only the calling thread, so a short-lived thread enters the namespace,
makes the socket and ends; the socket stays in that namespace, usable from any thread.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from evstack.hlc.transport.netif import SocketFactory, default_socket_factory

_CLONE_NEWNET = 0x40000000


def socket_factory(netns: str) -> SocketFactory:
    """A SocketFactory for namespace `netns`; the default one for an empty name."""
    if not netns:
        return default_socket_factory
    path = f"/var/run/netns/{netns}"
    libc = ctypes.CDLL(None, use_errno=True)

    def make(family: int, kind: int, proto: int) -> socket.socket:
        made: list[socket.socket] = []
        failed: list[BaseException] = []

        def inside() -> None:
            try:
                with open(path) as handle:
                    if libc.setns(handle.fileno(), _CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns {netns}: {os.strerror(err)}")
                made.append(socket.socket(family, kind, proto))
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=inside, name=f"netns-{netns}")
        thread.start()
        thread.join()
        if failed:
            raise failed[0]
        return made[0]

    return make
