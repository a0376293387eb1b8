"""The AC side of high-level charging in EvseManager, with no I/O: when the contactor
closes and opens, and what the SECC tells the EV about current and permission.

The contactor is closed only while both hold: the `Charger` core allows power (pilot in C
at 5 %, authorized, no fault, the board up; it repeats that permission every second for
the board's watchdog, and each repeat goes on to the board while the contactor is closed)
and the EV asked for power (PowerDeliveryReq Start) and has not ended it. It closes only
on a grant above 0 A; a grant that falls to 0 A later leaves it closed and offers the EV
0 A, which the EV follows within its control loop, rather than breaking the current under
load. PowerDelivery Stop, the session's end, or the Charger's permission going (a fault,
the pilot leaving C, the C1 grace after a pause) open it.

The SECC's `power_allowed` is the charger's word that it will power the EV when asked: in
AC the EV asks (PowerDeliveryReq Start) right after it switched to state C, before the
pilot change can have gone round the board and back, so it cannot wait for the Charger's
permission itself. It is withdrawn while the user pauses or the EVSE is inoperative.

The energy manager's grant, capped by the EVSE's and the cable's rating, goes to the SECC
at once as the EVSE maximum current, so the EV has it in the next ChargingStatusRes
(ISO 15118-2) or AC_ChargeLoopRes (ISO 15118-20).

The transitions are a table: (phase, event) to the next phase; the contactor follows the
phase.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TypedDict


class Phase(enum.Enum):
    IDLE = "Idle"  # the EV has not asked for power
    WAITING = "Waiting"  # it has; the Charger's permission or a grant is missing
    DELIVERING = "Delivering"  # contactor closed


class Event(enum.Enum):
    EV_START = enum.auto()  # PowerDeliveryReq Start
    EV_STOP = enum.auto()  # PowerDeliveryReq Stop, or the session ended
    READY = enum.auto()  # the Charger allows power and a grant is above 0 A
    NOT_ALLOWED = enum.auto()  # the Charger's permission went


TRANSITIONS: dict[tuple[Phase, Event], Phase] = {
    (Phase.IDLE, Event.EV_START): Phase.WAITING,
    (Phase.WAITING, Event.READY): Phase.DELIVERING,
    (Phase.WAITING, Event.EV_STOP): Phase.IDLE,
    (Phase.DELIVERING, Event.NOT_ALLOWED): Phase.WAITING,
    (Phase.DELIVERING, Event.EV_STOP): Phase.IDLE,
}


@dataclasses.dataclass(frozen=True)
class Contactor:
    """The board's allow_power_on."""

    closed: bool


class SeccAcFields(TypedDict, total=False):
    power_allowed: bool
    ac_max_current: float


@dataclasses.dataclass(frozen=True)
class ToSecc:
    fields: SeccAcFields


Command = Contactor | ToSecc


class AcHlc:
    def __init__(self, max_current: float):
        self.max_current = max_current  # the EVSE's rating, A per phase
        self.phase = Phase.IDLE
        self.charger_allows = False
        self.grant: float | None = None  # None: no energy manager, the rating applies
        self.cable: float | None = None
        self.paused = False
        self.inoperative = False
        self._offered: float | None = None
        self._secc_allowed: bool | None = None

    @property
    def offered(self) -> float:
        """The current per phase the EV may draw now."""
        amps = self.max_current
        for limit in (self.grant, self.cable):
            if limit is not None:
                amps = min(amps, limit)
        return max(0.0, amps)

    # -- inputs ----------------------------------------------------------------------------

    def ev_power_delivery(self, start: bool) -> list[Command]:
        return self._fire(Event.EV_START if start else Event.EV_STOP)

    def session_ended(self) -> list[Command]:
        return self._fire(Event.EV_STOP)

    def set_charger_allows(self, allowed: bool) -> list[Command]:
        """The Charger core's AllowPower, each one (its repeats refresh the board)."""
        self.charger_allows = allowed
        if not allowed:
            out = self._fire(Event.NOT_ALLOWED)
            # The board hears every withdrawal, even with the contactor open already.
            return out if Contactor(False) in out else [*out, Contactor(False)]
        if self.phase is Phase.DELIVERING:
            return [Contactor(True)]  # the permission's repeat, for the board's watchdog
        return self._fire(Event.READY) if self.offered > 0 else []

    def set_grant(self, amps: float | None) -> list[Command]:
        self.grant = None if amps is None else max(0.0, amps)
        return self._fire(Event.READY) if self._ready() else self._secc()

    def set_cable(self, amps: float | None) -> list[Command]:
        self.cable = amps
        return self._secc()

    def set_paused(self, paused: bool) -> list[Command]:
        self.paused = paused
        return self._secc()

    def set_inoperative(self, inoperative: bool) -> list[Command]:
        self.inoperative = inoperative
        return self._secc()

    # -- the table -------------------------------------------------------------------------

    def _ready(self) -> bool:
        return self.charger_allows and self.offered > 0

    def _fire(self, event: Event) -> list[Command]:
        before = self.phase
        after = TRANSITIONS.get((before, event), before)
        if after is Phase.WAITING and event is Event.EV_START and self._ready():
            after = Phase.DELIVERING  # asked with everything in place: close at once
        self.phase = after
        out: list[Command] = []
        if before is not Phase.DELIVERING and after is Phase.DELIVERING:
            out.append(Contactor(True))
        elif before is Phase.DELIVERING and after is not Phase.DELIVERING:
            out.append(Contactor(False))
        return out + self._secc()

    def _secc(self) -> list[Command]:
        fields: SeccAcFields = {}
        allowed = not (self.paused or self.inoperative)
        if allowed != self._secc_allowed:
            self._secc_allowed = fields["power_allowed"] = allowed
        if self.offered != self._offered:
            self._offered = fields["ac_max_current"] = self.offered
        return [ToSecc(fields)] if fields else []
