"""SLAC on a network interface, as the SLAC modules (EvseSlac, EvSlac) run it.

One core behind an emulated modem on a packet socket: the socket is opened once the
interface is there (a simulation's veth may come up after the module), commands that come
earlier wait for it, and the core's standing in EVerest's terms (UNMATCHED, MATCHING,
MATCHED; D-LINK_READY; the peer's MAC) is reported each time it changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from evstack.hlc.evcc.netns import namespace_socket_factory
from evstack.hlc.slac.core import SlacCore, SlacEvent
from evstack.hlc.slac.ev import EvSlac, EvState
from evstack.hlc.slac.evse import EvseSlac, EvseState
from evstack.hlc.slac.modem import EmulatedModem
from evstack.hlc.slac.rawsocket import SlacRunner, interface_mac, open_raw_socket
from evstack.hlc.transport.netif import default_socket_factory

RETRY_S = 1.0  # how often to look for the interface while it is not there
CoreT = TypeVar("CoreT", bound=SlacCore)
Action = Callable[[CoreT, float], None]
State = Literal["UNMATCHED", "MATCHING", "MATCHED"]


@dataclasses.dataclass(frozen=True)
class Status:
    state: State
    dlink_ready: bool
    peer: str | None  # the matched host's MAC, upper case


UNMATCHED = Status("UNMATCHED", False, None)


def evse_status(core: EvseSlac) -> Status:
    matched = core.matched
    if matched is not None:
        return Status("MATCHED", True, _mac(matched.peer))
    busy = core.state is EvseState.JOINING or bool(core.sessions)
    return Status("MATCHING", False, None) if busy else UNMATCHED


def ev_status(core: EvSlac) -> Status:
    matched = core.matched
    if matched is not None:
        return Status("MATCHED", True, _mac(matched.peer))
    # WAITING (a retry, or the re-setup after a lost link) is still on its way to a match.
    idle = core.state in (EvState.IDLE, EvState.FAILED)
    return UNMATCHED if idle else Status("MATCHING", False, None)


def _mac(raw: bytes) -> str:
    return raw.hex(":").upper()


class SlacService(Generic[CoreT]):
    def __init__(
        self,
        device: str,
        netns: str,
        build: Callable[[bytes], tuple[CoreT, EmulatedModem]],
        status_of: Callable[[CoreT], Status],
        *,
        on_status: Callable[[Status], None],
        on_event: Callable[[SlacEvent], None],
        log: logging.Logger,
    ):
        self.device = device
        self.netns = netns
        self.core: CoreT | None = None
        self.status = UNMATCHED
        self._build = build
        self._status_of = status_of
        self._on_status = on_status
        self._on_event = on_event
        self._log = log
        self._runner: SlacRunner | None = None
        self._pending: list[Action[CoreT]] = []

    async def run(self) -> None:
        """Open the interface, then drive the core for good (cancel to stop)."""
        sock = await self._open()
        with sock:
            core, modem = self._build(interface_mac(sock))
            runner = SlacRunner(core, sock, modem=modem, on_settled=self._settled)
            self.core, self._runner = core, runner
            self._log.info("SLAC on %s (%s)", self.device, _mac(core.mac))
            async with runner:
                pending, self._pending = self._pending, []
                for action in pending:
                    self.call(action)
                while True:
                    self._on_event(await runner.next_event())

    def call(self, action: Action[CoreT]) -> None:
        """Run `action(core, now)`, or once the interface is open."""
        core, runner = self.core, self._runner
        if core is None or runner is None:
            self._pending.append(action)
            return
        runner.call(lambda now: action(core, now))

    async def _open(self) -> socket.socket:
        warned = False
        while True:
            try:
                sockets = (
                    namespace_socket_factory(self.netns) if self.netns else default_socket_factory
                )
                return open_raw_socket(self.device, sockets)
            except OSError as exc:
                if not warned:
                    self._log.warning("no %s yet (%s); waiting for it", self.device, exc)
                    warned = True
                await asyncio.sleep(RETRY_S)

    def _settled(self) -> None:
        core = self.core
        if core is None:
            return
        status = self._status_of(core)
        if status != self.status:
            self.status = status
            self._on_status(status)
