"""Network namespaces and veth pairs that a test makes for itself and always removes.

A socket is made inside a namespace by a short-lived thread that enters it (setns works
per thread for network namespaces); the socket stays there, usable from any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from evstack.hlc.transport.netif import link_local_address

_T = TypeVar("_T")
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Namespace:
    def __init__(self, name: str):
        self.name = name

    def inside(self, action: Callable[[], _T]) -> _T:
        """Run `action` on a thread that has entered this namespace."""
        result: list[_T] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with open(f"/var/run/netns/{self.name}") as handle:
                    if _libc.setns(handle.fileno(), _CLONE_NEWNET) != 0:
                        err = ctypes.get_errno()
                        raise OSError(err, f"setns {self.name}: {os.strerror(err)}")
                result.append(action())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if errors:
            raise errors[0]
        return result[0]

    def socket(self, family: int, kind: int, proto: int) -> socket.socket:
        """A SocketFactory for this namespace."""
        return self.inside(lambda: socket.socket(family, kind, proto))

    def run(self, *command: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.name, *command], check=True, capture_output=True
        )


@contextlib.contextmanager
def veth_pair(
    left_mac: str = "02:00:00:00:00:01", right_mac: str = "0a:00:00:00:00:01"
) -> Iterator[tuple[Namespace, Namespace]]:
    """Two namespaces joined by a veth pair, each end named `v2g0`, up, with a link-local
    address at once (no duplicate address detection); both removed on the way out."""
    tag = uuid.uuid4().hex[:8]
    left, right = Namespace(f"evs-ev-{tag}"), Namespace(f"evs-cs-{tag}")
    made: list[Namespace] = []
    try:
        for space in (left, right):
            try:
                ip("netns", "add", space.name)
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()}")
            except FileNotFoundError:
                pytest.skip("no `ip` command (iproute2) to create network namespaces")
            made.append(space)
        try:
            ip("link", "add", f"l{tag}", "type", "veth", "peer", "name", f"r{tag}")
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot create a veth pair here: {exc.stderr.strip()}")
        for space, end, mac in ((left, f"l{tag}", left_mac), (right, f"r{tag}", right_mac)):
            ip("link", "set", end, "netns", space.name)
            ip("-n", space.name, "link", "set", end, "name", "v2g0", "address", mac)
            space.run("sysctl", "-qw", "net.ipv6.conf.v2g0.accept_dad=0")
            ip("-n", space.name, "link", "set", "lo", "up")
        for space in (left, right):
            ip("-n", space.name, "link", "set", "v2g0", "up")
        for space in (left, right):
            wait_for_link_local(space)
        yield left, right
    finally:
        # Deleting a namespace deletes the veth end inside it; an end never moved is ours too.
        subprocess.run(["ip", "link", "delete", f"l{tag}"], check=False, capture_output=True)
        for space in made:
            subprocess.run(["ip", "netns", "delete", space.name], check=False)


@contextlib.contextmanager
def bridged(macs: list[str]) -> Iterator[list[Namespace]]:
    """A namespace per MAC, each with a `v2g0` of that address on one shared segment: a
    bridge in a namespace of its own, as stations on one power line share it. Only layer
    2 is set up (no link-local addresses are waited for). Everything is removed on the way
    out."""
    tag = uuid.uuid4().hex[:6]
    segment = Namespace(f"evs-seg-{tag}")
    spaces = [Namespace(f"evs-st{i}-{tag}") for i in range(len(macs))]
    made: list[Namespace] = []
    ends: list[str] = []
    try:
        for space in (segment, *spaces):
            try:
                ip("netns", "add", space.name)
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"cannot create network namespaces here: {exc.stderr.strip()}")
            except FileNotFoundError:
                pytest.skip("no `ip` command (iproute2) to create network namespaces")
            made.append(space)
        ip("-n", segment.name, "link", "add", "br0", "type", "bridge")
        ip("-n", segment.name, "link", "set", "br0", "up")
        for i, (space, mac) in enumerate(zip(spaces, macs, strict=True)):
            end, port = f"s{i}{tag}", f"p{i}{tag}"
            ip("link", "add", end, "type", "veth", "peer", "name", port)
            ends.append(end)
            ip("link", "set", port, "netns", segment.name)
            ip("-n", segment.name, "link", "set", port, "master", "br0", "up")
            ip("link", "set", end, "netns", space.name)
            ip("-n", space.name, "link", "set", end, "name", "v2g0", "address", mac, "up")
        yield spaces
    finally:
        for end in ends:  # one never moved is still here; the others go with their namespace
            subprocess.run(["ip", "link", "delete", end], check=False, capture_output=True)
        for space in made:
            subprocess.run(["ip", "netns", "delete", space.name], check=False)


def wait_for_link_local(space: Namespace, timeout: float = 5.0) -> None:
    """The kernel adds the link-local address once the link is up: poll for it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            link_local_address("v2g0", space.socket)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
