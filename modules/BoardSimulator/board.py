"""The hardware of one simulated charge point: both ends of the cable, with no I/O.

`Board` holds what a real charger's board and a real EV's board would: the control
pilot (a sampled `PilotLine` from the C extension, so the states reported here are
what the analyser reads off synthesised samples), the contactor with its switching
delays, the proximity-pilot resistor, a residual-current device and an energy meter.
The EVSE side is driven with the evse_board_support commands, the EV side with the
ev_board_support ones, and :meth:`Board.advance` moves simulated time forward,
returning what the two boards would report.

The contactor is interlocked in "hardware", as on real boards: it closes only while
power is allowed *and* the pilot reads C or D, and it opens by itself when the pilot
leaves C/D or the RCD trips, without waiting for EvseManager. Relay reports are the
contactor's real state after its switching delay, never the commanded one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from evstack.pilot import (
    FaultsChanged,
    PilotFault,
    PilotLine,
    PilotState,
    PwmChanged,
    StateChanged,
)

DIODE_FAULT = "evse_board_support/DiodeFault"
GROUND_FAILURE = "evse_board_support/MREC2GroundFailure"
RCD_AC = "ac_rcd/AC"
PROXIMITY_FAULT = "evse_board_support/MREC23ProximityFault"

_DRAWING = frozenset({PilotState.C, PilotState.D})

# IEC 61851-1 / IEC 62196 proximity resistor bands (ohm) and the cable rating they code.
_PP_BANDS = (
    (1100.0, 2460.0, 13.0),  # 1.5 kOhm
    (400.0, 936.0, 20.0),  # 680 Ohm
    (164.0, 308.0, 32.0),  # 220 Ohm
    (60.0, 140.0, 63.0),  # 100 Ohm
)


def ampacity_for_pp(ohms: float) -> float | None:
    """Cable rating (A) coded by a proximity resistor; None when it codes nothing valid."""
    for low, high, amps in _PP_BANDS:
        if low <= ohms <= high:
            return amps
    return None


@dataclass
class BoardConfig:
    nominal_voltage_v: float = 230.0
    phases: int = 3
    pp_resistor_ohm: float | None = 220.0  # None: a fixed cable, no proximity pilot
    relay_close_s: float = 0.08  # contactor pull-in time
    relay_open_s: float = 0.03  # contactor drop-out time
    rcd_trip_ma: float = 30.0  # type A residual-current device
    power_watchdog_s: float | None = 3.0  # a permission not repeated within this lapses
    sample_rate_hz: float = 100_000.0
    step_s: float = 0.005  # how finely the line and the contactor are interleaved
    seed: int = 0


# --- what the boards report ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpSeen:
    """The EVSE's pilot analyser confirmed a new state."""

    state: PilotState
    at: float


@dataclass(frozen=True, slots=True)
class PwmSeen:
    """The PWM duty on the line (percent) as the EV reads it; None once PWM stopped."""

    duty_percent: float | None
    at: float


@dataclass(frozen=True, slots=True)
class RelaySwitched:
    """The contactor really closed (PowerOn) or opened (PowerOff)."""

    on: bool
    at: float


@dataclass(frozen=True, slots=True)
class FaultRaised:
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class FaultCleared:
    error: str
    at: float


@dataclass(frozen=True, slots=True)
class CableRating:
    """What the proximity pilot says the plugged cable carries; None when unplugged."""

    amps: float | None
    at: float


BoardEvent = CpSeen | PwmSeen | RelaySwitched | FaultRaised | FaultCleared | CableRating


@dataclass
class Meter:
    """A power meter on the EVSE's output: energy follows the current actually flowing."""

    voltage_v: float
    energy_wh: float = 0.0
    current_a: float = 0.0
    phases: int = 0

    @property
    def power_w(self) -> float:
        return self.voltage_v * self.current_a * self.phases

    def integrate(self, seconds: float) -> None:
        self.energy_wh += self.power_w * seconds / 3600.0


@dataclass
class Board:
    """The EVSE board, the cable and the EV board of one simulated charge point."""

    config: BoardConfig = field(default_factory=BoardConfig)
    start_time: float = 0.0

    def __post_init__(self) -> None:
        c = self.config
        self.line = PilotLine(c.sample_rate_hz, seed=c.seed)
        self.time = self.start_time
        self.meter = Meter(c.nominal_voltage_v)
        self.enabled = True
        self.power_allowed = False
        self.relay_on = False
        self.cp: PilotState | None = None
        self.faults: set[str] = set()
        self._relay_due: tuple[bool, float] | None = None  # (closing?, when)
        self._ev_state = "A"
        self._ev_amps = 0.0
        self._ev_phases = c.phases
        self._ev_rcd_ma = 0.0
        self._rcd_tripped = False
        self._pending: list[BoardEvent] = []
        self._pwm_running = False
        self._allow_until = math.inf
        self._welded = False
        self.line.ev_unplug()

    # --- EVSE side (evse_board_support) -----------------------------------------------

    def evse_enable(self, enabled: bool) -> None:
        self.enabled = enabled
        if not enabled:
            self.line.evse_f()

    def evse_pwm(self, duty_percent: float) -> None:
        if not 0.0 < duty_percent < 100.0:
            raise ValueError(f"PWM duty must be within (0, 100) %, got {duty_percent}")
        self.line.evse_pwm(duty_percent / 100.0)

    def evse_x1(self) -> None:
        self.line.evse_x1()

    def evse_f(self) -> None:
        self.line.evse_f()

    def evse_e(self) -> None:
        self.line.evse_e()

    def allow_power_on(self, allow: bool) -> None:
        """Permit the contactor; with a watchdog the permission must be repeated to last.

        The watchdog is what makes a crashed EvseManager safe: nobody repeats the
        permission, so the contactor opens a few seconds later on its own.
        """
        self.power_allowed = allow
        if allow and self.config.power_watchdog_s is not None:
            self._allow_until = self.time + self.config.power_watchdog_s
        self._steer_relay()

    def weld_contactor(self, welded: bool) -> None:
        """Fault injection: a welded contactor stays closed whatever it is told.

        Its reports stay truthful: no PowerOff comes while it is stuck.
        """
        self._welded = welded
        self._steer_relay()

    # --- EV side (ev_board_support) -----------------------------------------------------

    def ev_set_cp_state(self, state: str) -> None:
        """The EV switches its resistors: A (unplugged), B, C, D, or E (pilot shorted)."""
        if state not in ("A", "B", "C", "D", "E"):
            raise ValueError(f"an EV cannot present state {state!r}")
        was_plugged = self._ev_state != "A"
        self._ev_state = state
        self.line.short_to_pe(state == "E")
        if state == "A":
            self.line.ev_unplug()
            self._rcd_tripped = False  # the RCD is reset once the car is gone
            self._update_rcd()
        elif state != "E":
            self.line.ev_state(PilotState(state))
        elif not was_plugged:
            self.line.ev_plug()  # a short implies a cable in the socket
        if (state != "A") != was_plugged:
            self._report_cable()

    def ev_diode_fail(self, failed: bool) -> None:
        self.line.ev_diode(not failed)

    def ev_draw(self, amps: float, phases: int) -> None:
        """The current the EV takes per phase whenever the contactor is closed."""
        if amps < 0 or phases not in (1, 2, 3):
            raise ValueError(f"cannot draw {amps} A on {phases} phase(s)")
        self._ev_amps, self._ev_phases = amps, phases
        self._update_meter()

    def ev_set_rcd_current(self, milliamps: float) -> None:
        if milliamps < 0:
            raise ValueError("residual current must not be negative")
        self._ev_rcd_ma = milliamps
        self._update_rcd()

    # --- time -----------------------------------------------------------------------------

    def advance(self, now: float) -> list[BoardEvent]:
        """Simulate up to `now` and return everything both boards reported meanwhile."""
        step_s = self.config.step_s
        while self.time < now:
            step = min(step_s, now - self.time)
            if self._relay_due is not None:
                step = min(step, max(self._relay_due[1] - self.time, 0.0))
            if step > 0:
                events = self.line.run(step)
                self.meter.integrate(step)
                self.time += step
                for event in events:
                    self._on_pilot(event)
            if self.power_allowed and self.time >= self._allow_until:
                self.power_allowed = False  # the controller went quiet
                self._steer_relay()
            self._switch_relay_if_due()
            if now - self.time < 1e-9:
                self.time = now  # absorb float dust instead of running a sub-ns step
        out, self._pending = self._pending, []
        return out

    @property
    def next_deadline(self) -> float | None:
        """A pending contactor switch: the host should advance to it promptly."""
        return None if self._relay_due is None else self._relay_due[1]

    # --- internals --------------------------------------------------------------------

    def _on_pilot(self, event: object) -> None:
        match event:
            case StateChanged(state=state):
                self.cp = state
                self._pending.append(CpSeen(state, self.time))
                self._steer_relay()
            case PwmChanged(duty=duty):
                self._pwm_running = duty is not None
                percent = None if duty is None else round(duty * 100.0, 1)
                self._pending.append(PwmSeen(percent, self.time))
                if duty is None:
                    # A missing diode only shows while PWM runs; without PWM there is
                    # nothing left to detect, and holding the fault would pin EvseManager
                    # in state F, where an unplug can no longer be seen.
                    self._set_fault(DIODE_FAULT, False)
            case FaultsChanged(faults=faults):
                self._set_fault(DIODE_FAULT, PilotFault.DIODE in faults and self._pwm_running)

    def _set_fault(self, error: str, active: bool) -> None:
        if active and error not in self.faults:
            self.faults.add(error)
            self._pending.append(FaultRaised(error, self.time))
        elif not active and error in self.faults:
            self.faults.discard(error)
            self._pending.append(FaultCleared(error, self.time))

    def _relay_target(self) -> bool:
        return self.enabled and self.power_allowed and self.cp in _DRAWING and not self._rcd_tripped

    def _steer_relay(self) -> None:
        target = self._relay_target() or (self._welded and self.relay_on)
        if target == self.relay_on:
            self._relay_due = None
        elif self._relay_due is None or self._relay_due[0] != target:
            delay = self.config.relay_close_s if target else self.config.relay_open_s
            self._relay_due = (target, self.time + delay)

    def _switch_relay_if_due(self) -> None:
        if self._relay_due is None or self.time < self._relay_due[1] - 1e-12:
            return
        self.relay_on, self._relay_due = self._relay_due[0], None
        self._pending.append(RelaySwitched(self.relay_on, self.time))
        self._update_meter()
        self._update_rcd()
        self._steer_relay()  # the world may have moved on while the contactor travelled

    def _update_meter(self) -> None:
        flowing = self.relay_on
        self.meter.current_a = self._ev_amps if flowing else 0.0
        self.meter.phases = self._ev_phases if flowing else 0

    def _update_rcd(self) -> None:
        leaking = self.relay_on and self._ev_rcd_ma >= self.config.rcd_trip_ma
        if leaking:
            self._rcd_tripped = True
            self._steer_relay()
        elif self._ev_rcd_ma < self.config.rcd_trip_ma and not self.relay_on:
            self._rcd_tripped = False
        self._set_fault(RCD_AC, self._rcd_tripped)
        self._set_fault(GROUND_FAILURE, self._rcd_tripped)

    @property
    def cable_amps(self) -> float | None:
        """The plugged cable's rating from its proximity resistor; None if none or unplugged."""
        ohms = self.config.pp_resistor_ohm
        if ohms is None or self._ev_state == "A":
            return None
        return ampacity_for_pp(ohms)

    def _report_cable(self) -> None:
        if self.config.pp_resistor_ohm is None:
            return
        plugged = self._ev_state != "A"
        self._set_fault(PROXIMITY_FAULT, plugged and self.cable_amps is None)
        self._pending.append(CableRating(self.cable_amps, self.time))
