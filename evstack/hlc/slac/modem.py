"""A stand-in for a HomePlug Green PHY modem, for links that have none (simulation, veth).

What a real modem does for SLAC, and this one imitates:
- it answers CM_SET_KEY.REQ from its host with CM_SET_KEY.CNF and takes the NMK's network;
- on the EVSE side it measures each CM_MNBC_SOUND.IND it hears and tells its host the
  attenuation per carrier group in CM_ATTEN_PROFILE.IND;
- it joins the stations that hold the same key: the link is up while it hears their
  beacons. Real modems beacon on the power line, which a host never sees; this one
  broadcasts a small frame of its own (BEACON_MMTYPE, a manufacturer-specific type) with
  the NID, every `beacon_period`, and counts the link lost after `beacon_timeout` of
  silence (TP_match_leave: a station leaves a network within 1 s).

Sans-IO like the cores: feed `from_host`, `from_wire` and `poll`; collect `take_wire()`,
`take_host()` and `take_link_changes()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from evstack.hlc.slac import messages, timing
from evstack.hlc.slac.core import LOCAL_MODEM

# Manufacturer-specific management messages are 0x8000-0x9FFF; this one (an IND) is
# the emulation's beacon and nothing else uses it.
BEACON_MMTYPE = 0x9FFE

# Given the MAC of a host that sounded, the attenuation per group this modem measures,
# or None when it cannot hear that host.
Attenuation = Callable[[bytes], Sequence[int] | None]


class EmulatedModem:
    def __init__(
        self,
        host_mac: bytes,
        *,
        modem_mac: bytes = LOCAL_MODEM,
        attenuation: Attenuation | None = None,
        beacon_period: float = 0.1,
        beacon_timeout: float = timing.TP_MATCH_LEAVE,
    ):
        self.host_mac = host_mac
        self.modem_mac = modem_mac
        self.attenuation = attenuation  # None: not an EVSE modem, no profiles
        self.beacon_period = beacon_period
        self.beacon_timeout = beacon_timeout
        self.nid: bytes | None = None
        self.link_up = False
        self._next_beacon: float | None = None
        self._last_heard = 0.0
        self._wire: list[bytes] = []
        self._host: list[bytes] = []
        self._changes: list[bool] = []

    def take_wire(self) -> list[bytes]:
        frames, self._wire = self._wire, []
        return frames

    def take_host(self) -> list[bytes]:
        frames, self._host = self._host, []
        return frames

    def take_link_changes(self) -> list[bool]:
        changes, self._changes = self._changes, []
        return changes

    def deadline(self) -> float | None:
        times = [t for t in (self._next_beacon, self._loss_at()) if t is not None]
        return min(times, default=None)

    def from_host(self, data: bytes, now: float) -> None:
        """A frame the host sent: for this modem, or for the line."""
        if data[:6] != self.modem_mac:
            self._wire.append(data)
            return
        try:
            _frame, message = messages.decode(data)
        except messages.SlacFormatError:
            return
        if isinstance(message, messages.SetKeyReq):
            self._host.append(
                messages.encode(self.host_mac, self.modem_mac, messages.SetKeyCnf(0x00))
            )
            if message.nid != self.nid:
                self.nid = message.nid
                self._set_link(False)
                self._beacon(now)

    def from_wire(self, data: bytes, now: float) -> None:
        """A frame from the line: beacons are ours, the rest goes up if it is for the host."""
        try:
            frame = messages.decode_frame(data)
        except messages.SlacFormatError:
            return
        if frame.mmtype == BEACON_MMTYPE:
            if self.nid is not None and frame.payload[: messages.NID_LEN] == self.nid:
                self._last_heard = now
                self._set_link(True)
            return
        if frame.destination not in (self.host_mac, messages.BROADCAST):
            return
        self._host.append(data)
        sound = messages.MmType.CM_MNBC_SOUND | messages.Variant.IND
        if frame.mmtype == sound and self.attenuation is not None:
            groups = self.attenuation(frame.source)
            if groups is not None:
                profile = messages.AttenProfileInd(frame.source, tuple(groups))
                self._host.append(messages.encode(self.host_mac, self.modem_mac, profile))

    def poll(self, now: float) -> None:
        loss = self._loss_at()
        if loss is not None and loss <= now:
            self._set_link(False)
        if self._next_beacon is not None and self._next_beacon <= now:
            self._beacon(now)

    def _beacon(self, now: float) -> None:
        assert self.nid is not None
        self._wire.append(
            messages.encode_frame(messages.BROADCAST, self.host_mac, BEACON_MMTYPE, self.nid)
        )
        self._next_beacon = now + self.beacon_period

    def _loss_at(self) -> float | None:
        return self._last_heard + self.beacon_timeout if self.link_up else None

    def _set_link(self, up: bool) -> None:
        if up != self.link_up:
            self.link_up = up
            self._changes.append(up)
