"""A simulated EV: its battery, its side of the control pilot, and the script it follows.

Like EvseManager's core this is sans-IO: the module feeds it what the EV's board sees
(pilot duty, contactor reports) and the time, and carries out what it answers (present
state B or C, draw current, fail a diode...). Script commands are either done or
blocked; a blocked command is retried every 250 ms, as in EVerest's simulator.

Between commands the EV behaves like a car: once told to charge it asks for C only
while the PWM offers a current it may use, falls back to B when the PWM stops or the
battery is full, and in regulated mode follows the PWM limit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from evstack.modules.EvSimulator.bcb import BcbToggle
from evstack.modules.EvSimulator.script import Command
from evstack.pilot import DutyMeaning, current_for_duty

RETRY_INTERVAL_S = 0.25  # a blocked command is tried again this often
BATTERY_STEP_S = 1.0  # while drawing, the battery is integrated at least this often
NOMINAL_VOLTAGE_V = 230.0  # phase-to-neutral, for the energy the EV takes in


class EvCpState(enum.StrEnum):
    """What the EV side can make of the pilot (EVerest's EvCpState, plus A for unplugged)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


@dataclass
class Battery:
    """A battery that fills linearly; good enough to end sessions at 100 %."""

    capacity_kwh: float = 60.0
    soc_percent: float = 30.0
    max_current_a: float = 32.0
    phases: int = 3

    def __post_init__(self) -> None:
        if self.capacity_kwh <= 0:
            raise ValueError("battery capacity must be positive")
        if not 0 <= self.soc_percent <= 100:
            raise ValueError("state of charge must be 0-100 %")
        if self.phases not in (1, 3):
            raise ValueError("an EV charges on 1 or 3 phases")

    @property
    def full(self) -> bool:
        return self.soc_percent >= 100.0

    def charge(self, watts: float, seconds: float) -> None:
        kwh = watts * seconds / 3_600_000.0
        self.soc_percent = min(100.0, self.soc_percent + 100.0 * kwh / self.capacity_kwh)


# --- what the EV's board tells it -------------------------------------------------


@dataclass(frozen=True, slots=True)
class DutySeen:
    """The PWM duty (percent) the EV reads on the pilot; None without PWM."""

    duty_percent: float | None


@dataclass(frozen=True, slots=True)
class PowerSeen:
    """The EVSE's contactor closed (True) or opened."""

    on: bool


@dataclass(frozen=True, slots=True)
class BoardForgot:
    """The EV's board restarted: it no longer knows the EV's resistors, diode or load."""


@dataclass(frozen=True, slots=True)
class HlcSeen:
    """What the EV's ISO 15118 controller (ISO15118_ev) reports: `power_ready` (value: bool),
    `dc_power_on`, `ac_max_current` (value: amps), `stop_from_charger`, `session_finished`."""

    what: str
    value: float | bool | None = None


@dataclass(frozen=True, slots=True)
class SlacSeen:
    """The state the EV's SLAC module (ev_slac) reports: UNMATCHED, MATCHING or MATCHED."""

    state: str


EvInput = DutySeen | PowerSeen | BoardForgot | HlcSeen | SlacSeen


# --- what the EV does --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetCpState:
    state: EvCpState


@dataclass(frozen=True, slots=True)
class SetDiodeFail:
    failed: bool


@dataclass(frozen=True, slots=True)
class SetRcdCurrent:
    milliamps: float


@dataclass(frozen=True, slots=True)
class DrawCurrent:
    """The current the EV now draws per phase, on this many phases."""

    amps: float
    phases: int


@dataclass(frozen=True, slots=True)
class CommandDone:
    """A script command finished; for logs and for tests."""

    command: Command


@dataclass(frozen=True, slots=True)
class StartV2g:
    """Start a V2G session: ISO15118_ev start_charging."""

    mode: str  # EnergyTransferMode: AC_single_phase_core, AC_three_phase_core, DC_extended
    departure_s: float
    eamount_kwh: float


@dataclass(frozen=True, slots=True)
class StopV2g:
    """ISO15118_ev stop_charging."""


@dataclass(frozen=True, slots=True)
class PauseV2g:
    """ISO15118_ev pause_charging: SessionStop(Pause) after PowerDelivery(stop)."""


@dataclass(frozen=True, slots=True)
class Discharge:
    """ISO15118_ev set_discharge: give energy back in a bidirectional session."""


@dataclass(frozen=True, slots=True)
class AllowPowerOn:
    """The EV's side of the power path may close (DC: after precharge), or must open."""

    on: bool


@dataclass(frozen=True, slots=True)
class TriggerSlac:
    """ev_slac trigger_matching: the EV's modem starts matching."""


@dataclass(frozen=True, slots=True)
class ResetSlac:
    """ev_slac reset: unplugged, the EV leaves the charger's logical network."""


EvAction = (
    SetCpState
    | SetDiodeFail
    | SetRcdCurrent
    | DrawCurrent
    | CommandDone
    | StartV2g
    | StopV2g
    | PauseV2g
    | Discharge
    | AllowPowerOn
    | TriggerSlac
    | ResetSlac
)


@dataclass
class Ev:
    """One simulated EV running one script."""

    script: Sequence[Command]
    battery: Battery = field(default_factory=Battery)
    plugged: bool = True
    follows_pilot: bool = True  # False: a faulty EV that keeps drawing when the PWM stops

    wants_charge: bool = False
    error_e: bool = False
    diode_failed: bool = False
    rcd_milliamps: float = 0.0
    duty_percent: float | None = None
    power_on: bool = False
    regulated: bool = True
    target_amps: float | None = None  # None: whatever the battery takes
    target_phases: int | None = None
    energy_wh: float = 0.0
    # High-level communication: what the EVCC reported, and whether the script asked for power.
    hlc_power_ready: bool = False
    hlc_dc_power_on: bool = False
    hlc_stopped: bool = False
    hlc_finished: bool = False
    hlc_ac_max_current: float | None = None
    hlc_charging: bool = False
    # The SLAC module's state; None when no ev_slac is wired (matching is not waited for).
    slac_state: str | None = None
    # The EV paused its V2G session; woken once 5 % comes back after the PWM was gone.
    hlc_paused: bool = False
    hlc_woken: bool = False
    _pwm_gone: bool = False
    _bcb: BcbToggle | None = None
    _bcb_c: bool | None = None  # the toggle's pilot now: C (True) or B

    _next: int = 0
    _slac_triggered: bool = False
    _command_started: float | None = None
    _last_try: float = 0.0
    _last_integrated: float | None = None
    _cp: EvCpState | None = None
    _last_offered: float | None = None
    _draw: DrawCurrent | None = None
    _diode_reported: bool = False
    _rcd_reported: float = 0.0

    @property
    def finished(self) -> bool:
        return self._next >= len(self.script)

    @property
    def current_command(self) -> Command | None:
        return None if self.finished else self.script[self._next]

    @property
    def cp(self) -> EvCpState | None:
        return self._cp

    @property
    def drawing(self) -> DrawCurrent:
        return self._draw or DrawCurrent(0.0, self.battery.phases)

    def handle(self, event: EvInput, now: float) -> list[EvAction]:
        self._integrate(now)
        match event:
            case DutySeen(duty_percent=duty):
                self.duty_percent = duty
                if self.hlc_paused:
                    self.hlc_woken = self.hlc_woken or (self._pwm_gone and duty is not None)
                    self._pwm_gone = self._pwm_gone or duty is None
            case PowerSeen(on=on):
                self.power_on = on
            case BoardForgot():
                self._forget_board()
            case HlcSeen():
                self._hlc_seen(event)
            case SlacSeen(state=state):
                self.slac_state = state
                if state == "UNMATCHED":
                    self._slac_triggered = False  # failed or reset: trigger again if waited for
        out: list[EvAction] = []
        self._run_script(now, out)
        self._behave(out)
        return out

    def tick(self, now: float) -> list[EvAction]:
        """Run due commands and integrate the battery; call at :attr:`next_deadline`."""
        self._integrate(now)
        out: list[EvAction] = []
        self._run_script(now, out)
        self._behave(out)
        return out

    @property
    def next_deadline(self) -> float | None:
        deadlines: list[float] = []
        command = self.current_command
        if command is not None:
            retry = self._last_try + RETRY_INTERVAL_S
            if command.name == "sleep" and self._command_started is not None:
                retry = min(retry, self._command_started + command.args[0])
            deadlines.append(retry)
        if self._bcb is not None and self._last_integrated is not None:
            edge = self._bcb.next_edge(self._last_integrated)
            if edge is not None:
                deadlines.append(edge)
        if self.drawing.amps > 0 and self._last_integrated is not None:
            deadlines.append(self._last_integrated + BATTERY_STEP_S)
        return min(deadlines) if deadlines else None

    # --- the script -----------------------------------------------------------------

    def _run_script(self, now: float, out: list[EvAction]) -> None:
        self._last_try = now
        while (command := self.current_command) is not None:
            if self._command_started is None:
                self._command_started = now
            if not self._execute(command, now, out):
                return
            out.append(CommandDone(command))
            self._next += 1
            self._command_started = None
            self._behave(out)  # later commands see the pilot as this one left it

    def _hlc_seen(self, event: HlcSeen) -> None:
        match event.what:
            case "power_ready":
                self.hlc_power_ready = bool(event.value)
            case "dc_power_on":
                self.hlc_dc_power_on = True
            case "ac_max_current":
                self.hlc_ac_max_current = float(event.value or 0.0)
            case "stop_from_charger":
                self.hlc_stopped = True
            case "session_finished":
                self.hlc_finished, self.hlc_stopped = True, True
                self.hlc_power_ready, self.hlc_charging = False, False

    def _execute(self, command: Command, now: float, out: list[EvAction]) -> bool:
        """Carry out one command; False while it is blocked."""
        if command.name.startswith("iso_"):
            return self._execute_iso(command, now, out)
        args = command.args
        match command.name:
            case "sleep":
                assert self._command_started is not None
                return now >= self._command_started + args[0]
            case "iec_wait_pwr_ready":
                self.wants_charge, self.error_e = True, False
                return self.power_on
            case "draw_power_regulated" | "draw_power_fixed":
                self.regulated = command.name == "draw_power_regulated"
                self.target_amps, self.target_phases = args[0], int(args[1])
            case "pause":
                self.wants_charge, self.error_e = False, False
            case "unplug":
                self.plugged, self.wants_charge, self.error_e = False, False, False
                if self.slac_state is not None:
                    out.append(ResetSlac())
            case "plugin":
                self.plugged, self.error_e = True, False
            case "set_soc":
                self.battery.soc_percent = args[0]
            case "error_e":
                self.error_e = True
            case "diode_fail":
                self.diode_failed = True
            case "rcd_current":
                self.rcd_milliamps = args[0]
            case _:  # parse_script admits only known commands
                raise AssertionError(f"unhandled command {command.name}")
        return True

    def _execute_iso(self, command: Command, now: float, out: list[EvAction]) -> bool:
        """The iso_* commands, as EVerest's EV simulator runs them against its ISO EV."""
        args = command.args
        match command.name:
            case "iso_wait_pwm_is_running":
                self.wants_charge, self.error_e = False, False  # B while plugged
                return self.duty_percent is not None
            case "iso_wait_slac_matched":
                self.wants_charge, self.error_e = False, False
                if self.slac_state is None or not self.plugged:
                    return self.plugged  # no SLAC module: plugged in is matched enough
                if self.slac_state == "UNMATCHED" and not self._slac_triggered:
                    out.append(TriggerSlac())  # as EVerest's simulator does once plugged
                    self._slac_triggered = True
                return self.slac_state == "MATCHED"
            case "iso_start_v2g_session":
                mode, _payment = command.words
                phases = "three" if self.battery.phases == 3 else "single"
                energy = f"AC_{phases}_phase_core" if mode == "AC" else "DC_extended"
                self.hlc_finished = self.hlc_stopped = self.hlc_dc_power_on = False
                self.hlc_paused = self.hlc_woken = self._pwm_gone = False
                out.append(StartV2g(energy, args[0], args[1]))
            case "iso_wait_pwr_ready":
                if not self.hlc_power_ready:
                    return False
                self.hlc_charging = True
            case "iso_dc_power_on":
                self.hlc_charging = True
                if not self.hlc_dc_power_on:
                    return False
                out.append(AllowPowerOn(True))
            case "iso_draw_power_regulated":
                self.hlc_charging, self.regulated = True, True
                self.target_amps, self.target_phases = args[0], int(args[1])
            case "iso_discharge":
                out.append(Discharge())
            case "iso_stop_charging":
                self._stop_hlc(out)
            case "iso_wait_for_stop":
                assert self._command_started is not None
                if now < self._command_started + args[0] and not self.hlc_stopped:
                    return False
                self._stop_hlc(out)
            case "iso_pause_charging":
                self._stop_hlc(out, pause=True)
                self.hlc_paused, self.hlc_woken, self._pwm_gone = True, False, False
            case "iso_wait_for_resume":
                return self.hlc_woken
            case "iso_start_bcb_toggle":
                if self._bcb is None:
                    self._bcb = BcbToggle(int(args[0]), now)
                self._bcb_c = self._bcb.in_c(now)
                if self._bcb_c is not None:
                    return False
                self._bcb = None
            case "iso_wait_v2g_session_stopped":
                if not self.hlc_finished:
                    return False
                self.hlc_finished = False
            case _:  # parse_script admits only known commands
                raise AssertionError(f"unhandled command {command.name}")
        return True

    def _stop_hlc(self, out: list[EvAction], *, pause: bool = False) -> None:
        out.append(PauseV2g() if pause else StopV2g())
        out.append(AllowPowerOn(False))
        self.hlc_charging = False

    # --- the car ----------------------------------------------------------------------

    def _offered_amps(self) -> float | None:
        """The current the PWM allows, or None if it allows no charging."""
        if self.duty_percent is None:
            offered = None
        else:
            reading = current_for_duty(self.duty_percent / 100.0)
            offered = reading.amps if reading.meaning is DutyMeaning.AMPS else None
        if offered is None and not self.follows_pilot and self._cp is EvCpState.C:
            return self._last_offered  # the faulty EV carries on with what it last saw
        self._last_offered = offered
        return offered

    def _wanted_cp(self) -> EvCpState:
        if not self.plugged:
            return EvCpState.A
        if self.error_e:
            return EvCpState.E
        if self._bcb_c is not None:
            return EvCpState.C if self._bcb_c else EvCpState.B  # a BCB toggle under way
        if self.hlc_charging:
            return EvCpState.C  # HLC: the PWM is 5 %, the limits come over ISO 15118
        charge = self.wants_charge and not self.battery.full
        return EvCpState.C if charge and self._offered_amps() is not None else EvCpState.B

    def _wanted_draw(self, cp: EvCpState) -> DrawCurrent:
        phases = min(self.target_phases or self.battery.phases, self.battery.phases)
        offered = self._offered_amps()
        if cp is not EvCpState.C or not self.power_on:
            return DrawCurrent(0.0, phases)
        target = self.battery.max_current_a if self.target_amps is None else self.target_amps
        if self.hlc_charging:
            # AC over ISO 15118: the charger's limit comes in its responses, not the PWM.
            limit = self.hlc_ac_max_current or 0.0
            return DrawCurrent(min(target, self.battery.max_current_a, limit), phases)
        if not self.regulated:
            return DrawCurrent(target, phases)  # e.g. a faulty EV ignoring the limit
        limit = min(target, self.battery.max_current_a, offered or 0.0)
        return DrawCurrent(limit, phases)

    def _behave(self, out: list[EvAction]) -> None:
        cp = self._wanted_cp()
        draw = self._wanted_draw(cp)
        # Stop drawing before leaving C, start only after entering it: like a real car.
        if draw.amps < self.drawing.amps:
            self._set_draw(draw, out)
        if cp is not self._cp:
            self._cp = cp
            out.append(SetCpState(cp))
        self._set_draw(draw, out)
        if self.diode_failed != self._diode_reported:
            self._diode_reported = self.diode_failed
            out.append(SetDiodeFail(self.diode_failed))
        if self.rcd_milliamps != self._rcd_reported:
            self._rcd_reported = self.rcd_milliamps
            out.append(SetRcdCurrent(self.rcd_milliamps))

    def _forget_board(self) -> None:
        """Make `_behave` tell a fresh board everything again.

        What the EV sees (PWM, contactor) it leaves alone: the new board reports changes to
        both, and its reports may already have come in before this notice did.
        """
        self._cp = None
        self._draw = None
        self._diode_reported = False
        self._rcd_reported = 0.0

    def _set_draw(self, draw: DrawCurrent, out: list[EvAction]) -> None:
        if draw.amps == self.drawing.amps and (draw.amps == 0 or draw == self._draw):
            return  # phases do not matter while nothing flows
        self._draw = draw
        out.append(draw)

    def _integrate(self, now: float) -> None:
        """Account the energy taken in since the last call."""
        if self._last_integrated is not None and self.power_on:
            seconds = max(0.0, now - self._last_integrated)
            watts = self.drawing.amps * self.drawing.phases * NOMINAL_VOLTAGE_V
            self.battery.charge(watts, seconds)
            self.energy_wh += watts * seconds / 3600.0
        self._last_integrated = now
