"""uvicorn inside a module: on the module's own event loop, its signals left to the host.

The socket is bound before serving starts, so the module knows (and can print) its address
even for port 0, and a port that is taken fails the module's start-up with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator

import uvicorn
from litestar import Litestar

# A stop waits this long for open requests and event streams before closing them.
GRACEFUL_S = 1

BACKLOG = 128
LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that name it, and uvicorn
    # writes a response's head and body apart (Nagle would hold the body for 40 ms).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(BACKLOG)  # connections wait here until the server serves them
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def url_of(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without its signal handlers: the module host stops us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, app: Litestar, listener: socket.socket) -> None:
        config = uvicorn.Config(
            app,
            lifespan="off",
            access_log=False,
            log_config=None,  # the runtime configures logging; uvicorn must not
            log_level=logging.getLogger().getEffectiveLevel(),  # else its INFO lines show
            timeout_graceful_shutdown=GRACEFUL_S,
        )
        self._server = _EmbeddedServer(config)
        self._listener = listener
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._listener]))

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, GRACEFUL_S + 1.0)
        self._listener.close()
