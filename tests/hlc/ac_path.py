"""The AC power path behind the test station's SECC: BoardSimulator's `Board` (pilot,
contactor with its interlock, and the meter on the EVSE's output), fed by the SECC's events.

What is modelled, and what is not:
- The EVSE runs 5 % PWM and allows power from the start (EvseManager is not in this picture).
  The EV's pilot goes to C at PowerDelivery(Start) and back to B at PowerDelivery(Stop) or
  at the session's end: a real EV switches its own resistor there; the `iso15118` peer has
  no pilot. The contactor then closes and opens as the board's interlock lets it.
- While it is closed the EV draws, on every phase of its energy transfer mode, at the
  grid's nominal voltage (unity power factor):
  * ISO 15118-2: its ChargingStatusReq names no present current, so the EV takes
    min(its EVMaxCurrent from ChargeParameterDiscovery, the EVSE's maximum current now);
  * ISO 15118-20: the EVPresentActivePower of its latest AC_ChargeLoopReq, capped at its
    own EVMaximumChargePower and at the EVSE's target active power (what our SECC offers).
    Before its first loop it draws nothing. A negative present power (AC_BPT) is power given
    back, capped at the EVSE's maximum discharge power.
- The board's meter integrates the current drawn over simulated time: the energy the EV
  took. It counts import only, so power given back is integrated the same way on a second
  `Meter` while the contactor is closed (`export_wh`).
"""

from __future__ import annotations

from evstack.hlc.secc import events as ev
from evstack.hlc.secc.events import EvseState
from evstack.hlc.secc.iso20.responses import ac_power
from evstack.modules.BoardSimulator.board import Board, BoardConfig, Meter

HLC_DUTY_PERCENT = 5.0


class AcPowerPath:
    def __init__(self, evse: EvseState):
        self.evse = evse
        # No watchdog: nothing repeats the permission here, and the session decides.
        config = BoardConfig(nominal_voltage_v=evse.ac_nominal_voltage, power_watchdog_s=None)
        self.board = Board(config)
        self.board.ev_set_cp_state("B")
        self.board.evse_pwm(HLC_DUTY_PERCENT)
        self.board.allow_power_on(True)
        self.export = Meter(evse.ac_nominal_voltage)
        self._phases = 3
        self._ev_max_current: float | None = None  # ISO-2
        self._ev_max_power: float | None = None  # ISO-20
        self._ev_present_power = 0.0  # ISO-20
        self._charging = False

    @property
    def import_wh(self) -> float:
        return self.board.meter.energy_wh

    @property
    def export_wh(self) -> float:
        return self.export.energy_wh

    def on_event(self, event: ev.Event) -> None:
        match event:
            case ev.EvChargeParameters(energy_transfer_mode=mode):
                self._phases = 1 if mode == "AC_single_phase_core" else 3
                if event.max_power is None:
                    self._ev_max_current = event.max_current
                else:
                    self._ev_max_power = event.max_power
            case ev.AcEvPower(present_active_power=watts):
                self._ev_present_power = watts
            case ev.PowerDelivery(start=start):
                self._charging = start
                self.board.ev_set_cp_state("C" if start else "B")
            case ev.SessionEnded():
                self._charging = False
                self.board.ev_set_cp_state("B")
        watts = self._power()
        amps = abs(watts) / (self._phases * self.evse.ac_nominal_voltage)
        self.board.ev_draw(amps if watts > 0 else 0.0, self._phases)
        self.export.current_a = amps if watts < 0 else 0.0
        self.export.phases = self._phases

    def advance(self, now: float) -> None:
        since = self.board.time
        self.board.advance(now)
        if self.board.relay_on:
            self.export.integrate(now - since)

    def _power(self) -> float:
        """What the EV takes now (W, all phases; negative: what it gives back)."""
        if not self._charging:
            return 0.0
        if self._ev_max_power is None:
            amps = min(self._ev_max_current or 0.0, self.evse.ac_max_current)
            return amps * self._phases * self.evse.ac_nominal_voltage
        if self._ev_present_power < 0:
            return max(self._ev_present_power, -self.evse.max_discharge_power)
        return min(self._ev_present_power, self._ev_max_power, ac_power(self.evse))
