"""Run a SLAC core on a real interface: an AF_PACKET socket for ethertype 0x88E1 (Linux).

With a Green PHY modem on the interface, the frames go to it and it answers for itself.
Without one (a veth pair, a plain Ethernet cable) pass an EmulatedModem: it sits between
the core and the socket and does the modem's part (CM_SET_KEY, attenuation profiles,
joining by NID), so the same cores run unchanged.

    sock = open_raw_socket("eth1")
    core = EvseSlac(interface_mac(sock))
    async with SlacRunner(core, sock, modem=EmulatedModem(core.mac, attenuation=...)) as run:
        run.call(core.start)
        event = await run.next_event()

With a real modem, link status has to come from the modem vendor's own messages, which
are not implemented; report it with `SlacRunner.report_link`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from types import TracebackType

from evstack.hlc.slac import messages
from evstack.hlc.slac.core import SlacCore, SlacEvent
from evstack.hlc.slac.modem import EmulatedModem
from evstack.hlc.transport.netif import SocketFactory, default_socket_factory

_PACKET_OUTGOING = 4  # our own frames, which a packet socket also sees
_MAX_FRAME = 1518


def open_raw_socket(
    interface: str, socket_factory: SocketFactory = default_socket_factory
) -> socket.socket:
    """A non-blocking packet socket on `interface` for HomePlug frames only."""
    sock = socket_factory(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(messages.ETHERTYPE))
    try:
        sock.bind((interface, messages.ETHERTYPE))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def interface_mac(sock: socket.socket) -> bytes:
    """The MAC address of the interface a packet socket is bound to."""
    return bytes(sock.getsockname()[4][:6])


class SlacRunner:
    """Drives one core (and its emulated modem, if any) with the event loop's clock."""

    def __init__(
        self,
        core: SlacCore,
        sock: socket.socket,
        *,
        modem: EmulatedModem | None = None,
        on_settled: Callable[[], None] | None = None,
    ):
        self.core = core
        self.modem = modem
        self._sock = sock
        # Called each time the core has taken in a frame, a link change or a timer and sent
        # what followed: where its state is read from (the SLAC modules' vars).
        self._on_settled = on_settled
        self._events: asyncio.Queue[SlacEvent] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> SlacRunner:
        self._loop.add_reader(self._sock.fileno(), self._readable)
        self._settle()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._loop.remove_reader(self._sock.fileno())
        if self._timer is not None:
            self._timer.cancel()

    def call(self, action: Callable[[float], None]) -> None:
        """Run `action(now)` on the core (start, stop) and send what follows."""
        action(self._loop.time())
        self._settle()

    def report_link(self, up: bool) -> None:
        """Link status from a real modem (without an emulated one)."""
        self.core.link_changed(up, self._loop.time())
        self._settle()

    async def next_event(self) -> SlacEvent:
        return await self._events.get()

    def _readable(self) -> None:
        now = self._loop.time()
        while True:
            try:
                data, address = self._sock.recvfrom(_MAX_FRAME)
            except BlockingIOError:
                break
            if address[2] == _PACKET_OUTGOING:
                continue
            if self.modem is not None:
                self.modem.from_wire(data, now)
            else:
                self.core.receive(data, now)
        self._settle()

    def _expired(self) -> None:
        self._timer = None
        now = self._loop.time()
        if self.modem is not None:
            self.modem.poll(now)
        self.core.poll(now)
        self._settle()

    def _settle(self) -> None:
        now = self._loop.time()
        core, modem = self.core, self.modem
        while True:
            busy = False
            for frame in core.take_frames():
                busy = True
                if modem is None:
                    self._sock.send(frame)
                else:
                    modem.from_host(frame, now)
            if modem is not None:
                for frame in modem.take_host():
                    core.receive(frame, now)
                    busy = True
                for up in modem.take_link_changes():
                    core.link_changed(up, now)
                    busy = True
                for frame in modem.take_wire():
                    self._sock.send(frame)
            for event in core.take_events():
                self._events.put_nowait(event)
            if not busy:
                break
        self._schedule()
        if self._on_settled is not None:
            self._on_settled()

    def _schedule(self) -> None:
        times = [self.core.deadline()]
        if self.modem is not None:
            times.append(self.modem.deadline())
        due = min((t for t in times if t is not None), default=None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if due is not None:
            self._timer = self._loop.call_at(due, self._expired)
