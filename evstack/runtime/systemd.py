"""Telling systemd how ev-manager is doing: the `sd_notify` protocol, without libsystemd.

Under `Type=notify` systemd waits for `READY=1` before it starts what is ordered after
ev-manager, and under `WatchdogSec=` it kills and restarts ev-manager when `WATCHDOG=1`
stops coming. ev-manager says READY once every module is ready (the charger's global
ready), pings the watchdog from its event loop (so a wedged loop is restarted, not a busy
module), and says STOPPING when a stop begins. Outside systemd ($NOTIFY_SOCKET unset)
nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

__all__ = ["notify", "supervise", "watchdog_interval_s"]

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send `message` (`READY=1`, `WATCHDOG=1`, ...) to systemd; False when not under it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("cannot notify systemd (%s): %s", address.lstrip("\0"), exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """How often to ping: half of `WatchdogSec=`, or None when there is no watchdog for us."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2e6


async def supervise(ready: asyncio.Event, stop: asyncio.Event, modules: int) -> None:
    """Report to systemd until cancelled: READY once `ready` is set, the watchdog all along,
    STOPPING once `stop` is set."""
    interval = watchdog_interval_s()
    announced = stopping = False
    while True:
        if not announced and ready.is_set():
            announced = notify(f"READY=1\nSTATUS={modules} modules ready")
        if not stopping and stop.is_set():
            stopping = notify("STOPPING=1\nSTATUS=stopping: contactors first")
        if interval is not None:
            notify("WATCHDOG=1")
        pending = [e for e in (ready, stop) if not e.is_set()]
        if not pending:
            if interval is None:
                return
            await asyncio.sleep(interval)
            continue
        waits = [asyncio.ensure_future(e.wait()) for e in pending]
        try:
            await asyncio.wait(waits, timeout=interval, return_when="FIRST_COMPLETED")
        finally:
            for wait in waits:
                wait.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await wait
