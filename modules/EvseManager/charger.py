"""The IEC 61851-1 charging state machine of one EVSE, with no I/O at all.

`Charger` is fed inputs (what the control pilot reads, relay reports, authorization,
current limits, pauses, faults) together with the current time on a monotonic clock,
and answers with actions (drive the pilot, allow or forbid power, publish a session
event). It never reads a clock or touches a socket, so every timing rule of the
standard can be tested by stepping time by hand, and a simulation can run it faster
than real time.

Its outputs are recomputed from the whole state after every input (`_settle`)
rather than emitted from individual transitions. That keeps the safety rule in one
place: power is allowed only while the EV is in C or D, the pilot runs PWM, a
transaction is authorized and no fault is active. The single exception is the C1
grace period the standard asks for: when the EVSE stops the PWM, an EV still drawing
power gets up to 6 s to return to B before the contactor opens under load.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from evstack.modules.EvseManager.signals import (
    INOPERATIVE,
    Action,
    AllowPower,
    Authorize,
    BoardBack,
    BoardLost,
    CableAmpacity,
    ChargerState,
    ClearError,
    CpChanged,
    CpState,
    CurrentLimit,
    Enable,
    EnableBoard,
    EnergyLost,
    Fault,
    FaultChanged,
    Input,
    MeasuredCurrent,
    Pause,
    Publish,
    RaiseError,
    Recovery,
    RelayChanged,
    Resume,
    SessionEvent,
    SetCpF,
    SetCpX1,
    SetPwm,
    StopReason,
    StopTransaction,
    WithdrawAuthorization,
)

# IEC 61851-1 timing rules, in seconds.
C1_TIMEOUT_S = 6.0  # PWM off but EV stays in C: open the contactor under load after this
PWM_UPDATE_INTERVAL_S = 5.0  # the duty changes at most this often
STATE_F_MIN_S = 0.3  # after a fault the pilot stays at -12 V at least this long
MIN_PWM_CURRENT_A = 6.0  # below this no PWM may be signalled: the EVSE pauses instead
EV_FOLLOW_S = 6.0  # EVs may take this long to follow a lower PWM limit
OVERCURRENT_MARGIN_A = 2.0  # measurement and EV tolerance before current counts as excess
# An EV drawing at most this above the limit on the wire has followed it: it reads a rounded
# duty (26.7 % for 16 A: 16.02 A), and grants change in steps of 0.1 A.
FOLLOWED_TOLERANCE_A = 0.05
OVERCURRENT_TRIP_S = 1.0  # excess current for this long ends the transaction
POWER_REFRESH_S = 1.0  # a granted permission is repeated this often: the board's watchdog
CONTACTOR_OPEN_TIMEOUT_S = 2.0  # still closed this long after permission ended: welded
# High-level charging (IEC 61851-1 A.2.3): 5 % duty from plug-in means "digital
# communication needed"; the current offer goes over the V2G session, not the duty.
HLC_DUTY_PERCENT = 5.0

_STOP_REASON_FOR_FAULT = {
    Fault.GROUND_FAILURE: StopReason.GROUND_FAULT,
    Fault.OVER_CURRENT: StopReason.OVERCURRENT_FAULT,
    Fault.EMERGENCY_STOP: StopReason.EMERGENCY_STOP,
}


class _Pilot(enum.Enum):
    UNSET = enum.auto()
    X1 = enum.auto()
    PWM = enum.auto()
    F = enum.auto()


def duty_for_current(amps: float) -> float:
    """Duty cycle (percent) that signals `amps` (IEC 61851-1 Table A.8), for 6-80 A."""
    if not MIN_PWM_CURRENT_A <= amps <= 80.0:
        raise ValueError(f"no PWM duty signals {amps} A (6-80 A)")
    return amps / 0.6 if amps <= 51.0 else amps / 2.5 + 64.0


@dataclass
class ChargerConfig:
    max_current_a: float = 32.0  # what the hardware can carry
    has_ventilation: bool = True  # allows state D
    hlc: bool = False  # high-level (DC) charging: 5 % PWM, authorization over the V2G session


_PLUGGED = frozenset({CpState.B, CpState.C, CpState.D})
_DRAWING = frozenset({CpState.C, CpState.D})
_OUTSIDE = ("Disabled", "Idle", "WaitingForAuthentication", "Finished")  # no transaction
_IN_TRANSACTION = frozenset(ChargerState) - {ChargerState(name) for name in _OUTSIDE}


@dataclass
class Charger:
    """One EVSE's charging logic: feed it `Input`s and the time, carry out its `Action`s.

    Call :meth:`start` once, then :meth:`handle` for every input and :meth:`tick` no
    later than :attr:`next_deadline`.
    """

    config: ChargerConfig = field(default_factory=ChargerConfig)

    state: ChargerState = ChargerState.IDLE
    cp: CpState | None = None
    token: str | None = None
    relay_on: bool = False  # what the board last reported: checked against the permission
    faults: set[Fault] = field(default_factory=set)
    current_limit_a: float | None = None
    cable_ampacity_a: float | None = None
    user_paused: bool = False
    enabled: bool = True
    board_online: bool = True  # False between the board's crash and its return
    pilot_hold: Callable[[float], str | None] = lambda now: None  # X1/F for 5 % (wakeup.py)

    _pilot: _Pilot = _Pilot.UNSET
    _duty: float = 0.0
    _power_allowed: bool | None = None
    _last_duty_change: float | None = None
    _c1_deadline: float | None = None
    _f_since: float | None = None
    _inoperative: bool = False
    _charged_before: bool = False
    _stop_reason: StopReason = StopReason.OTHER
    _signalled: list[tuple[float, float]] = field(default_factory=list)  # (since, amps)
    _excess_since: float | None = None
    _no_grace: bool = False
    _allow_sent_at: float = 0.0
    _stuck_since: float | None = None  # the relay reported on while power was forbidden
    _measured_a: float | None = None  # the meter's latest reading since the wire last changed

    # --- public API -----------------------------------------------------------------

    def start(self, now: float, recovery: Recovery | None = None) -> list[Action]:
        """The first outputs: a safe pilot and power forbidden.

        With a `recovery`, the core takes up the transaction a previous incarnation was
        running, before the line is known. Nothing is published for it: for everyone else
        the transaction never stopped. If the EV is still plugged in it charges again
        (ChargingResumed); if the pilot says it left, the unplug finishes the transaction as
        any unplug would; a stop that was under way is completed at once.
        """
        out: list[Action] = [Publish(SessionEvent.ENABLED)]
        if recovery is not None:
            self.token = recovery.token
            self.state = ChargerState.PREPARE_CHARGING
            self._charged_before = True
            if recovery.stop_reason is not None:
                self._stop(recovery.stop_reason, out)
        self._settle(now, out)
        return out

    def handle(self, event: Input, now: float) -> list[Action]:
        out: list[Action] = []
        match event:
            case CpChanged(state=state):
                self._on_cp(state, out)
            case RelayChanged(power_on=power_on):
                self.relay_on = power_on
                if not power_on:
                    self._line_fault(Fault.CONTACTOR_FAULT, False, out)
            case CurrentLimit(amps=amps):
                self.current_limit_a = max(amps, 0.0)
            case EnergyLost():
                self.current_limit_a = 0.0
                self._no_grace = True
            case CableAmpacity(amps=amps):
                self.cable_ampacity_a = amps
            case MeasuredCurrent(amps=amps):
                self._measured_a = amps
                if not self.config.hlc:  # at 5 % the duty limits nothing to compare with
                    self._check_overcurrent(amps, now, out)
            case Authorize(token=token):
                self._on_authorize(token, out)
            case WithdrawAuthorization():
                self._on_withdraw(out)
            case Pause():
                self.user_paused = True
            case Resume():
                self.user_paused = False
            case StopTransaction(reason=reason):
                self._stop(reason, out)
            case Enable(enabled=enabled):
                self._on_enable(enabled, out)
            case FaultChanged(fault=fault, active=active):
                self._on_fault(fault, active, out)
            case BoardLost():
                self._on_board_lost()
            case BoardBack():
                self._on_board_back(out)
        self._settle(now, out)
        return out

    def tick(self, now: float) -> list[Action]:
        """Let timers fire; harmless to call at any time."""
        out: list[Action] = []
        self._settle(now, out)
        return out

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or None if no timer is running."""
        deadlines = [self._c1_deadline]
        if self._stuck_since is not None and Fault.CONTACTOR_FAULT not in self.faults:
            deadlines.append(self._stuck_since + CONTACTOR_OPEN_TIMEOUT_S)
        if self._power_allowed:
            deadlines.append(self._allow_sent_at + POWER_REFRESH_S)
        if self._pilot is _Pilot.PWM and self._wanted_duty() not in (None, self._duty):
            assert self._last_duty_change is not None
            deadlines.append(self._last_duty_change + PWM_UPDATE_INTERVAL_S)
        held_only_by_timer = not self.faults and self.enabled
        if self._f_since is not None and self._pilot is _Pilot.F and held_only_by_timer:
            deadlines.append(self._f_since + STATE_F_MIN_S)
        pending = [d for d in deadlines if d is not None]
        return min(pending) if pending else None

    @property
    def power_allowed(self) -> bool:
        return bool(self._power_allowed)

    @property
    def pwm_on(self) -> bool:
        return self._pilot is _Pilot.PWM

    @property
    def offered_current(self) -> float:
        """The current the PWM offers right now (A per phase); 0 without PWM."""
        return self._available_current() if self.pwm_on else 0.0

    @property
    def in_transaction(self) -> bool:
        return self.state in _IN_TRANSACTION

    def committed_current(self, now: float) -> float:
        """The most current (A per phase) the EV may draw from now on without a new limit.

        The energy manager counts this against the fuse before it raises another EVSE. It
        covers the limit the PWM will signal next (a grant not yet on the wire), the limit on
        the wire, and while power may flow the highest limit signalled within the EV's follow
        time, until a reading taken since the wire last changed shows that the EV has followed
        (an EV raises its draw only to what it reads now). Readings come from this EVSE's own
        meter, so one handled after a change was taken after it.
        """
        next_limit = self._available_current() if self._wanted_duty() is not None else 0.0
        wire = self._signalled[-1][1] if self.pwm_on else 0.0
        followed = self._measured_a is not None and self._measured_a <= wire + FOLLOWED_TOLERANCE_A
        if (not self._power_allowed and not self.relay_on) or followed or not self._signalled:
            return max(next_limit, wire)
        return max(next_limit, self._allowed_current(now))

    # --- transitions ----------------------------------------------------------------

    def _on_cp(self, state: CpState, out: list[Action]) -> None:
        previous, self.cp = self.cp, state
        self._line_fault(Fault.PILOT_FAULT, state is CpState.E, out)
        if state is CpState.F and self._pilot is not _Pilot.F:
            self._line_fault(Fault.PILOT_FAULT, True, out)
        if not self.config.has_ventilation:
            self._line_fault(Fault.VENTILATION_NOT_AVAILABLE, state is CpState.D, out)
        if state is CpState.A and previous is not CpState.A:
            self._on_unplug(out)

    def _on_unplug(self, out: list[Action]) -> None:
        if self.state is ChargerState.STOPPING_CHARGING:
            self._finish_transaction(self._stop_reason, out)
        elif self.in_transaction:
            self._finish_transaction(StopReason.EV_DISCONNECTED, out)
        if self.state in (ChargerState.WAITING_FOR_AUTHENTICATION, ChargerState.FINISHED):
            out.append(Publish(SessionEvent.SESSION_FINISHED))
            self.token = None
            self.state = ChargerState.IDLE

    def _on_authorize(self, token: str, out: list[Action]) -> None:
        if self.token is not None or self.state not in (
            ChargerState.IDLE,
            ChargerState.WAITING_FOR_AUTHENTICATION,
        ):
            return  # already authorized, or the session is over: a new swipe needs a new plug-in
        self.token = token
        out.append(Publish(SessionEvent.AUTHORIZED, token=token))

    def _on_withdraw(self, out: list[Action]) -> None:
        if self.token is None:
            return
        if self.in_transaction:
            self._stop(StopReason.DEAUTHORIZED, out)
        else:
            self.token = None
            out.append(Publish(SessionEvent.DEAUTHORIZED))

    def _on_board_lost(self) -> None:
        # A dead board's contactor drops and its pilot is gone; until it is back nothing we
        # send reaches it, and what it last reported is no longer true.
        self.board_online = False
        self.relay_on = False
        self.cp = None
        self._pilot = _Pilot.UNSET
        self._power_allowed = False
        self._c1_deadline = None
        self._stuck_since = None

    def _on_board_back(self, out: list[Action]) -> None:
        """A new board incarnation knows nothing: enable it and send every output again."""
        self.board_online = True
        self._pilot = _Pilot.UNSET
        self._power_allowed = None
        out.append(EnableBoard())

    def _on_enable(self, enabled: bool, out: list[Action]) -> None:
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if not enabled:
            if self.in_transaction:
                self._finish_transaction(StopReason.LOCAL, out)
            self.state = ChargerState.DISABLED
            self.token = None
            out.append(Publish(SessionEvent.DISABLED))
        else:
            self.state = ChargerState.IDLE
            out.append(Publish(SessionEvent.ENABLED))

    def _on_fault(self, fault: Fault, active: bool, out: list[Action]) -> None:
        if active and fault not in self.faults:
            self.faults.add(fault)
            if self.in_transaction:
                self._finish_transaction(_STOP_REASON_FOR_FAULT.get(fault, StopReason.OTHER), out)
        elif not active:
            self.faults.discard(fault)

    def _line_fault(self, fault: Fault, active: bool, out: list[Action]) -> None:
        if active != (fault in self.faults):
            self._on_fault(fault, active, out)

    def _stop(self, reason: StopReason, out: list[Action]) -> None:
        if not self.in_transaction or self.state is ChargerState.STOPPING_CHARGING:
            return
        self._stop_reason = reason
        self.state = ChargerState.STOPPING_CHARGING
        out.append(Publish(SessionEvent.STOPPING_CHARGING, stop_reason=reason))

    def _finish_transaction(self, reason: StopReason, out: list[Action]) -> None:
        out.append(Publish(SessionEvent.CHARGING_FINISHED))
        out.append(Publish(SessionEvent.TRANSACTION_FINISHED, stop_reason=reason))
        self.state = ChargerState.FINISHED
        self.user_paused = False
        self._charged_before = False

    def _settle(self, now: float, out: list[Action]) -> None:
        """Apply the transitions the inputs and the time imply, then drive the outputs.

        Transitions and the pilot feed each other (resuming turns the PWM on, and PWM
        with the EV in C means charging), so both run until neither moves; power is
        decided only once they are stable, so it never flickers in between.
        """
        for _ in range(16):  # a handful of passes suffice; the bound guards against a cycle
            moved = self._step(now, out)
            if not self.board_online:
                if not moved:
                    break
                continue  # no board to drive: only the session moves on
            if not self._drive_pilot(now, out) and not moved:
                break
        if self.board_online:
            self._drive_power(now, out)
            self._watch_contactor(now, out)
        inoperative = bool(self.faults) or not self.board_online
        if inoperative != self._inoperative:
            self._inoperative = inoperative
            out.append(RaiseError(INOPERATIVE) if inoperative else ClearError(INOPERATIVE))

    def _step(self, now: float, out: list[Action]) -> bool:
        """One state transition that the current situation calls for; False if none."""
        plugged = self.cp in _PLUGGED
        drawing = self.cp in _DRAWING
        state = self.state
        if state is ChargerState.DISABLED or self._wanted_pilot(now) is _Pilot.F:
            return False
        if state is ChargerState.IDLE and plugged:
            out.append(Publish(SessionEvent.SESSION_STARTED))
            if self.token is None:
                out.append(Publish(SessionEvent.AUTH_REQUIRED))
            self.state = ChargerState.WAITING_FOR_AUTHENTICATION
            return True
        if state is ChargerState.WAITING_FOR_AUTHENTICATION and self.token is not None:
            out.append(Publish(SessionEvent.TRANSACTION_STARTED, token=self.token))
            out.append(Publish(SessionEvent.PREPARE_CHARGING))
            self.state = ChargerState.PREPARE_CHARGING
            return True
        if state is ChargerState.STOPPING_CHARGING:
            c1_expired = self._c1_deadline is not None and now >= self._c1_deadline
            if not drawing or c1_expired or not self._power_allowed:
                self._finish_transaction(self._stop_reason, out)
                return True
            return False
        if not self.in_transaction:
            return False
        if self._evse_wants_pause() and state is not ChargerState.CHARGING_PAUSED_EVSE:
            out.append(Publish(SessionEvent.CHARGING_PAUSED_EVSE))
            self.state = ChargerState.CHARGING_PAUSED_EVSE
            return True
        if state is ChargerState.CHARGING_PAUSED_EVSE and not self._evse_wants_pause():
            self.state = ChargerState.PREPARE_CHARGING
            return True
        if state is ChargerState.PREPARE_CHARGING and drawing and self._pilot is _Pilot.PWM:
            resumed = self._charged_before
            out.append(
                Publish(SessionEvent.CHARGING_RESUMED if resumed else SessionEvent.CHARGING_STARTED)
            )
            self._charged_before = True
            self.state = ChargerState.CHARGING
            return True
        if state is ChargerState.CHARGING and not drawing:
            out.append(Publish(SessionEvent.CHARGING_PAUSED_EV))
            self.state = ChargerState.CHARGING_PAUSED_EV
            return True
        if state is ChargerState.CHARGING_PAUSED_EV and drawing:
            out.append(Publish(SessionEvent.CHARGING_RESUMED))
            self.state = ChargerState.CHARGING
            return True
        return False

    # --- outputs --------------------------------------------------------------------

    def _evse_wants_pause(self) -> bool:
        return self.user_paused or not self.board_online or self._wanted_duty() is None

    def _available_current(self) -> float:
        amps = self.config.max_current_a
        for limit in (self.current_limit_a, self.cable_ampacity_a):
            if limit is not None:
                amps = min(amps, limit)
        return min(amps, 80.0)

    def _wanted_duty(self) -> float | None:
        if self.config.hlc:
            return HLC_DUTY_PERCENT  # the energy limit goes to the EV over the V2G session
        amps = self._available_current()
        return duty_for_current(amps) if amps >= MIN_PWM_CURRENT_A else None

    def _wanted_pilot(self, now: float) -> _Pilot:
        if self.faults or not self.enabled:
            return _Pilot.F
        held = self._f_since is not None and now < self._f_since + STATE_F_MIN_S
        if self._pilot is _Pilot.F and held:
            return _Pilot.F
        pwm_states: tuple[ChargerState, ...] = (
            ChargerState.PREPARE_CHARGING,
            ChargerState.CHARGING,
            ChargerState.CHARGING_PAUSED_EV,
        )
        if self.config.hlc:
            # The EV needs the 5 % before it is authorized: EIM happens in the V2G session.
            pwm_states += (ChargerState.WAITING_FOR_AUTHENTICATION,)
        authorized = self.token is not None or self.config.hlc
        if self.state in pwm_states and authorized and not self._evse_wants_pause():
            hold = self.pilot_hold(now)  # HLC: the pause's X1 and the wake-up steps
            return _Pilot.PWM if hold is None else _Pilot[hold]
        return _Pilot.X1

    def _wanted_power(self, now: float) -> bool:
        if self.faults or not self.enabled or self.cp not in _DRAWING or self.token is None:
            return False
        if self._pilot is _Pilot.PWM:
            return self.state is ChargerState.CHARGING
        in_grace = self._c1_deadline is not None and now < self._c1_deadline
        return in_grace and bool(self._power_allowed)

    def _drive_pilot(self, now: float, out: list[Action]) -> bool:
        """Bring the pilot output in line with the state; True if it changed mode."""
        pilot = self._wanted_pilot(now)
        if pilot is self._pilot:
            if pilot is _Pilot.PWM:
                self._update_duty(now, out)
            elif self._f_since is not None and now >= self._f_since + STATE_F_MIN_S:
                self._f_since = None  # F held on by a fault or a wake-up step, not the timer
            return False
        drawing = self._power_allowed and self.cp in _DRAWING
        if self._pilot is _Pilot.PWM and drawing and not self._no_grace:
            self._c1_deadline = now + C1_TIMEOUT_S
        self._no_grace = False
        self._measured_a = None  # the wire changed: an earlier reading proves nothing
        if pilot is _Pilot.PWM:
            duty = self._wanted_duty()
            assert duty is not None  # no PWM is wanted while no current is available
            self._duty, self._last_duty_change = duty, now
            self._c1_deadline = None
            self._signal(now)
            out.append(SetPwm(duty))
        elif pilot is _Pilot.X1:
            out.append(SetCpX1())
        else:
            self._f_since = now
            out.append(SetCpF())
        self._pilot = pilot
        return True

    def _update_duty(self, now: float, out: list[Action]) -> None:
        duty = self._wanted_duty()
        assert self._last_duty_change is not None
        due = now >= self._last_duty_change + PWM_UPDATE_INTERVAL_S
        if duty is not None and duty != self._duty and due:
            self._duty, self._last_duty_change = duty, now
            self._signal(now)
            out.append(SetPwm(duty))

    def _signal(self, now: float) -> None:
        """Remember the limit now on the wire, for the over-current check."""
        self._signalled.append((now, self._available_current()))
        self._measured_a = None
        self._allowed_current(now)

    def _allowed_current(self, now: float) -> float:
        """The highest limit signalled within the EV's follow time (the one in force included)."""
        while len(self._signalled) > 1 and self._signalled[1][0] <= now - EV_FOLLOW_S:
            self._signalled.pop(0)
        return max(amps for _, amps in self._signalled)

    def _check_overcurrent(self, amps: float, now: float, out: list[Action]) -> None:
        """End the transaction if the EV draws more than it was offered, for too long.

        The yardstick is the highest limit signalled within the last 6 s, not the
        limit wanted now: an EV that has not yet caught up with a lowered PWM is
        within its rights, and tripping it would be the false alarm peers suffer.
        """
        if self.state is not ChargerState.CHARGING or not self._signalled:
            self._excess_since = None
            return
        if amps <= self._allowed_current(now) + OVERCURRENT_MARGIN_A:
            self._excess_since = None
            return
        if self._excess_since is None:
            self._excess_since = now
        if now - self._excess_since >= OVERCURRENT_TRIP_S:
            self._excess_since = None
            self._no_grace = True  # an EV ignoring the PWM gets no C1 grace either
            self._finish_transaction(StopReason.OVERCURRENT_FAULT, out)

    def _watch_contactor(self, now: float, out: list[Action]) -> None:
        """A contactor that stays closed without permission is welded: stop everything.

        The fault clears only when the board reports the contactor open. What the
        charger can do about a welded contactor ends at the pilot (state F makes the EV
        stop drawing); cutting the supply upstream is the installation's job.
        """
        if not self.relay_on or self._power_allowed:
            self._stuck_since = None
            return
        if self._stuck_since is None:
            self._stuck_since = now
        if now >= self._stuck_since + CONTACTOR_OPEN_TIMEOUT_S:
            self._line_fault(Fault.CONTACTOR_FAULT, True, out)
            self._drive_pilot(now, out)

    def _drive_power(self, now: float, out: list[Action]) -> None:
        allow = self._wanted_power(now)
        refresh_due = allow and now >= self._allow_sent_at + POWER_REFRESH_S
        if allow != self._power_allowed or refresh_due:
            self._power_allowed = allow
            self._allow_sent_at = now
            out.append(AllowPower(allow))
        if not allow:
            self._c1_deadline = None
