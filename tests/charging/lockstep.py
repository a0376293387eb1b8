"""EvseManager, the board simulator and the EV simulator joined in one process, in lock step.

No MQTT here: the three sans-IO cores are wired the way the modules wire them over the
broker, and simulated time advances in small steps. That makes whole sessions cheap
enough for property tests, and every step checks the safety rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evstack.modules.BoardSimulator.board import (
    Board,
    BoardConfig,
    BoardEvent,
    CableRating,
    CpSeen,
    FaultCleared,
    FaultRaised,
    PwmSeen,
    RelaySwitched,
)
from evstack.modules.EvseManager.charger import (
    C1_TIMEOUT_S,
    STATE_F_MIN_S,
    Charger,
    ChargerConfig,
)
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    CableAmpacity,
    CpChanged,
    CpState,
    Fault,
    FaultChanged,
    Input,
    MeasuredCurrent,
    Publish,
    RelayChanged,
    SessionEvent,
    SetCpF,
    SetCpX1,
    SetPwm,
)
from evstack.modules.EvSimulator.ev import (
    Battery,
    DrawCurrent,
    DutySeen,
    Ev,
    EvAction,
    PowerSeen,
    SetCpState,
    SetDiodeFail,
    SetRcdCurrent,
)
from evstack.modules.EvSimulator.script import parse_script

CONTACTOR_OPEN_DEADLINE_S = 0.1
STEP_S = 0.005
METER_INTERVAL_S = 0.5

_KNOWN_FAULTS = {f.value: f for f in Fault}


class SafetyViolationError(AssertionError):
    pass


@dataclass
class ChargePoint:
    """One EVSE and one EV on a cable, stepped together."""

    script: str
    battery: Battery = field(default_factory=Battery)
    charger_config: ChargerConfig = field(default_factory=ChargerConfig)
    board_config: BoardConfig = field(default_factory=lambda: BoardConfig(sample_rate_hz=50_000))
    plugged_at_start: bool = True
    ev_follows_pilot: bool = True
    enforce_safety: bool = True  # off only for injected faults no charger could prevent

    def __post_init__(self) -> None:
        self.now = 0.0
        self.charger = Charger(self.charger_config)
        self.board = Board(self.board_config)
        self.ev = Ev(
            parse_script(self.script),
            self.battery,
            plugged=self.plugged_at_start,
            follows_pilot=self.ev_follows_pilot,
        )
        self.session_events: list[Publish] = []
        self.relay_log: list[tuple[float, bool]] = []
        self._unsafe_since: float | None = None
        self._next_reading = 0.0
        self._ev_state = "A"
        self._pwm_off_at: float | None = None
        self._f_at: float | None = None
        self._apply_evse(self.charger.start(self.now))
        self._apply_ev(self.ev.tick(self.now))

    # --- driving ----------------------------------------------------------------------

    def send(self, event: Input) -> None:
        """An input from outside the charge point: auth, energy management, an operator."""
        self._apply_evse(self.charger.handle(event, self.now))

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = min(self.now + STEP_S, end)
            for event in self.board.advance(self.now):
                self._route(event)
            if self.now >= self._next_reading:
                self._next_reading = self.now + METER_INTERVAL_S
                reading = MeasuredCurrent(self.board.meter.current_a)
                self._apply_evse(self.charger.handle(reading, self.now))
            self._apply_evse(self.charger.tick(self.now))
            self._apply_ev(self.ev.tick(self.now))
            if self.enforce_safety:
                self.check_safety()

    def events(self) -> list[SessionEvent]:
        return [p.event for p in self.session_events]

    def relay_on(self) -> bool:
        """The contactor now (a call, so that mypy keeps no narrowing across steps)."""
        return self.board.relay_on

    # --- wiring, as the modules do it over MQTT -----------------------------------------

    def _route(self, event: BoardEvent) -> None:
        match event:
            case CpSeen(state=state):
                self._apply_evse(self.charger.handle(CpChanged(CpState(state.value)), self.now))
            case PwmSeen(duty_percent=duty):
                self._apply_ev(self.ev.handle(DutySeen(duty), self.now))
            case RelaySwitched(on=on):
                self.relay_log.append((event.at, on))
                self._apply_evse(self.charger.handle(RelayChanged(on), self.now))
                self._apply_ev(self.ev.handle(PowerSeen(on), self.now))
            case FaultRaised(error=error) | FaultCleared(error=error):
                fault = _KNOWN_FAULTS.get(error)
                if fault is not None:
                    active = isinstance(event, FaultRaised)
                    self._apply_evse(self.charger.handle(FaultChanged(fault, active), self.now))
            case CableRating(amps=amps):
                self._apply_evse(self.charger.handle(CableAmpacity(amps), self.now))

    def _apply_evse(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case SetPwm(duty_percent=duty):
                    self._check_f_held()
                    self._pwm_off_at = None
                    self.board.evse_pwm(duty)
                case SetCpX1():
                    self._check_f_held()
                    self._mark_pwm_off()
                    self.board.evse_x1()
                case SetCpF():
                    self._mark_pwm_off()
                    self._f_at = self.now
                    self.board.evse_f()
                case AllowPower(allow=allow):
                    self.board.allow_power_on(allow)
                case Publish():
                    self.session_events.append(action)

    def _apply_ev(self, actions: list[EvAction]) -> None:
        for action in actions:
            match action:
                case SetCpState(state=state):
                    self._ev_state = state.value
                    self.board.ev_set_cp_state(state.value)
                case SetDiodeFail(failed=failed):
                    self.board.ev_diode_fail(failed)
                case SetRcdCurrent(milliamps=ma):
                    self.board.ev_set_rcd_current(ma)
                case DrawCurrent(amps=amps, phases=phases):
                    self.board.ev_draw(amps, phases)

    # --- the rules ----------------------------------------------------------------------

    def _mark_pwm_off(self) -> None:
        if self._pwm_off_at is None and self.charger.cp is not None:
            self._pwm_off_at = self.now

    def _check_f_held(self) -> None:
        if self._f_at is not None:
            held = self.now - self._f_at
            if held < STATE_F_MIN_S - 1e-9:
                raise SafetyViolationError(f"F released after {held:.3f} s (t={self.now:.3f})")
            self._f_at = None

    def check_safety(self) -> None:
        """Raise unless power is on only when it may be.

        Contactors take time to open, so any unsafe situation (the EV left C/D, a fault,
        power withdrawn, authorization gone, PWM off beyond the C1 window) may last at
        most 100 ms before the contactor has opened.
        """
        problems = self._reasons_power_must_be_off() if self.board.relay_on else []
        if not problems:
            self._unsafe_since = None
            return
        if self._unsafe_since is None:
            self._unsafe_since = self.now
        if self.now - self._unsafe_since > CONTACTOR_OPEN_DEADLINE_S + 1e-9:
            raise SafetyViolationError(
                f"power still on at t={self.now:.3f}, 100 ms after: " + ", ".join(problems)
            )

    def _reasons_power_must_be_off(self) -> list[str]:
        board, charger = self.board, self.charger
        problems = []
        if self._ev_state not in ("C", "D"):
            problems.append(f"the EV presents {self._ev_state}")
        if board.cp not in ("C", "D"):
            problems.append(f"pilot reads {board.cp}")
        if not board.power_allowed:
            problems.append("EvseManager withdrew permission")
        if charger.token is None:
            problems.append("not authorized")
        if board.faults:
            problems.append(f"faults {sorted(board.faults)}")
        if not charger.pwm_on:
            off_for = self.now - (self._pwm_off_at if self._pwm_off_at is not None else -1e9)
            if off_for > C1_TIMEOUT_S + STEP_S + 1e-9:
                problems.append(f"PWM off for {off_for:.3f} s")
        return problems
