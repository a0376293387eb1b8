"""What the EV and EVSE state machines share: their outputs, their events and their timers.

A core never reads a clock and never touches a socket. Its driver calls

    receive(frame, now)       a frame from the local modem (the host interface)
    link_changed(up, now)     the modem joined or left a logical network
    poll(now)                 time passed: runs every timer due by `now`

and after each call collects `take_frames()` (to send to the modem), `take_events()` (for
the layers above) and `deadline()` (when to call poll next, or None).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Hashable

from evstack.hlc.slac import messages

_log = logging.getLogger(__name__)

# CM_SET_KEY goes to the local modem. Qualcomm Green PHY modems answer management
# messages sent to this address on their host interface; give another one per modem.
LOCAL_MODEM = bytes.fromhex("00b052000001")

Random = Callable[[int], bytes]


@dataclasses.dataclass(frozen=True)
class Matched:
    """D-LINK_READY (link established): both modems are in the logical network `nid`."""

    peer: bytes  # MAC of the other host
    run_id: bytes
    nid: bytes
    nmk: bytes


@dataclasses.dataclass(frozen=True)
class MatchFailed:
    """A matching run failed; `final` when no retry follows (the state is Unmatched)."""

    reason: str
    final: bool


@dataclasses.dataclass(frozen=True)
class LinkLost:
    """D-LINK_READY (no link): the logical network of a match is gone."""

    peer: bytes


@dataclasses.dataclass(frozen=True)
class SlacInitTimeout:
    """EVSE: no CM_SLAC_PARM.REQ within TT_EVSE_SLAC_init; the charger may cycle E/F."""


SlacEvent = Matched | MatchFailed | LinkLost | SlacInitTimeout


class SlacCore:
    """Timers, outbox and frame intake; EvSlac and EvseSlac add the protocol."""

    def __init__(self, mac: bytes, *, modem_mac: bytes = LOCAL_MODEM, random: Random = os.urandom):
        if len(mac) != 6:
            raise ValueError("a MAC address is 6 bytes")
        self.mac = mac
        self.modem_mac = modem_mac
        self._random = random
        self._frames: list[bytes] = []
        self._events: list[SlacEvent] = []
        self._timers: dict[Hashable, float] = {}
        self._link_up = False

    # --- the driver's side ------------------------------------------------------------------

    def take_frames(self) -> list[bytes]:
        frames, self._frames = self._frames, []
        return frames

    def take_events(self) -> list[SlacEvent]:
        events, self._events = self._events, []
        return events

    def deadline(self) -> float | None:
        return min(self._timers.values(), default=None)

    def poll(self, now: float) -> None:
        """Run the timers due by `now`, earliest first (a handler may arm new ones)."""
        while self._timers:
            key, due = min(self._timers.items(), key=lambda item: item[1])
            if due > now:
                return
            del self._timers[key]
            self._expired(key, now)

    def receive(self, data: bytes, now: float) -> None:
        try:
            frame, message = messages.decode(data)
        except messages.SlacFormatError as exc:
            _log.debug("%s: dropped a frame: %s", self.mac.hex(":"), exc)
            return
        if message is None or frame.destination not in (self.mac, messages.BROADCAST):
            return
        self._handle(frame, message, now)

    def link_changed(self, up: bool, now: float) -> None:
        if up != self._link_up:
            self._link_up = up
            self._on_link(up, now)

    # --- for the subclasses -------------------------------------------------------------------

    def _send(self, destination: bytes, message: messages.Message) -> None:
        self._frames.append(messages.encode(destination, self.mac, message))

    def _emit(self, event: SlacEvent) -> None:
        self._events.append(event)

    def _arm(self, key: Hashable, at: float) -> None:
        self._timers[key] = at

    def _cancel(self, *keys: Hashable) -> None:
        for key in keys:
            self._timers.pop(key, None)

    def _set_key(self, nmk: bytes) -> None:
        """Give the local modem a network membership key (and with it the network's NID)."""
        self._send(self.modem_mac, messages.SetKeyReq(messages.nid_from_nmk(nmk), nmk))

    def _new_nmk(self) -> bytes:
        return self._random(messages.NMK_LEN)

    def _handle(self, frame: messages.Frame, message: messages.SlacMessage, now: float) -> None:
        raise NotImplementedError

    def _expired(self, key: Hashable, now: float) -> None:
        raise NotImplementedError

    def _on_link(self, up: bool, now: float) -> None:
        raise NotImplementedError
