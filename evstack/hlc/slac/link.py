"""A simulated power-line medium: several EVs and EVSEs, an attenuation for each pair.

Each station is a core (EvSlac or EvseSlac) behind an EmulatedModem. A frame one station
sends reaches every station connected to it (a broadcast) or the one it is addressed to,
after `latency`; a pair that is not connected does not hear each other at all. An EVSE's
modem reports the pair's attenuation for every sound it hears, so with two chargers side
by side, each EV hears its own charger through its cable (low attenuation) and the other
one through crosstalk (high), and matches its own.

Time is simulated: `run_until` and `run_for` deliver frames and fire the timers of cores
and modems in time order, so a test of a 12 s time-out takes milliseconds.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from collections.abc import Callable, Sequence

from evstack.hlc.slac import messages
from evstack.hlc.slac.core import SlacCore, SlacEvent
from evstack.hlc.slac.ev import EvSlac
from evstack.hlc.slac.evse import EvseSlac
from evstack.hlc.slac.modem import EmulatedModem

# (sender MAC, frame) -> True to lose the frame on the line.
DropRule = Callable[[bytes, bytes], bool]


@dataclasses.dataclass
class Station:
    core: SlacCore
    modem: EmulatedModem
    events: list[tuple[float, SlacEvent]] = dataclasses.field(default_factory=list)

    def deadline(self) -> float:
        times = [t for t in (self.core.deadline(), self.modem.deadline()) if t is not None]
        return min(times, default=math.inf)


@dataclasses.dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    receiver: bytes = dataclasses.field(compare=False)
    frame: bytes = dataclasses.field(compare=False)


class SimulatedLink:
    def __init__(self, *, latency: float = 0.002, start: float = 0.0):
        self.now = start
        self.latency = latency
        self.stations: dict[bytes, Station] = {}
        self.drop: DropRule | None = None
        self.trace: list[tuple[float, bytes, bytes]] = []  # (time, sender, frame) on the line
        self._pairs: dict[frozenset[bytes], tuple[int, ...]] = {}
        self._queue: list[_Delivery] = []
        self._seq = itertools.count()

    # --- building the scene -------------------------------------------------------------------

    def add_ev(self, core: EvSlac) -> Station:
        return self._add(core, EmulatedModem(core.mac, modem_mac=core.modem_mac))

    def add_evse(self, core: EvseSlac) -> Station:
        modem = EmulatedModem(
            core.mac, modem_mac=core.modem_mac, attenuation=lambda ev: self.profile(core.mac, ev)
        )
        return self._add(core, modem)

    def connect(self, a: bytes, b: bytes, attenuation_db: float | Sequence[int]) -> None:
        """`a` and `b` hear each other; `attenuation_db` for every group, or one per group."""
        if isinstance(attenuation_db, int | float):
            groups = (round(attenuation_db),) * messages.GROUPS
        else:
            groups = tuple(attenuation_db)
        self._pairs[frozenset((a, b))] = groups

    def disconnect(self, a: bytes, b: bytes) -> None:
        self._pairs.pop(frozenset((a, b)), None)

    def profile(self, a: bytes, b: bytes) -> tuple[int, ...] | None:
        return self._pairs.get(frozenset((a, b)))

    def events(self, mac: bytes) -> list[SlacEvent]:
        return [event for _, event in self.stations[mac].events]

    # --- running ----------------------------------------------------------------------------------

    def call(self, mac: bytes, action: Callable[[float], None]) -> None:
        """Run `action(now)` on a station (e.g. `core.start`) and carry out what follows."""
        action(self.now)
        self._settle(self.stations[mac])

    def run_for(self, duration: float) -> None:
        self.run_until(self.now + duration)

    def run_until(self, end: float, stop: Callable[[], bool] | None = None) -> None:
        """Advance to `end`, or to the first moment `stop()` holds."""
        while stop is None or not stop():
            station = min(self.stations.values(), key=Station.deadline, default=None)
            timer_at = station.deadline() if station is not None else math.inf
            frame_at = self._queue[0].at if self._queue else math.inf
            if min(timer_at, frame_at) > end:
                self.now = max(self.now, end)
                return
            self.now = max(self.now, min(timer_at, frame_at))
            if frame_at <= timer_at:
                delivery = heapq.heappop(self._queue)
                receiver = self.stations[delivery.receiver]
                receiver.modem.from_wire(delivery.frame, self.now)
                self._settle(receiver)
            else:
                assert station is not None
                station.modem.poll(self.now)
                station.core.poll(self.now)
                self._settle(station)

    def _add(self, core: SlacCore, modem: EmulatedModem) -> Station:
        station = Station(core, modem)
        self.stations[core.mac] = station
        return station

    def _settle(self, station: Station) -> None:
        """Pass frames between a core and its modem until neither has more to say."""
        core, modem = station.core, station.modem
        while True:
            busy = False
            for frame in core.take_frames():
                modem.from_host(frame, self.now)
                busy = True
            for frame in modem.take_host():
                core.receive(frame, self.now)
                busy = True
            for up in modem.take_link_changes():
                core.link_changed(up, self.now)
                busy = True
            for frame in modem.take_wire():
                self._transmit(core.mac, frame)
            station.events.extend((self.now, event) for event in core.take_events())
            if not busy:
                return

    def _transmit(self, sender: bytes, frame: bytes) -> None:
        self.trace.append((self.now, sender, frame))
        if self.drop is not None and self.drop(sender, frame):
            return
        destination = frame[:6]
        for mac in self.stations:
            if mac == sender or frozenset((sender, mac)) not in self._pairs:
                continue
            if destination in (mac, messages.BROADCAST):
                delivery = _Delivery(self.now + self.latency, next(self._seq), mac, frame)
                heapq.heappush(self._queue, delivery)
