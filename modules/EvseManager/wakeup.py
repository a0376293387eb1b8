"""Pause and wake-up on the pilot for high-level charging (ISO 15118-3, IEC 61851-1 A.5),
with no I/O.

When the EV pauses its V2G session (ISO 15118-2 or -20 SessionStop with Pause) the
transaction stays open in ChargingPausedEV, power off, and the pilot either keeps 5 % PWM or
goes to X1 (the `pause_pilot` setting), so that the EV may sleep. Two ways lead back:

- the EV wakes the charger with a BCB toggle (`bcb.BcbDetector`): B-C-B pulses on the pilot,
  which must not look like a resumed charge to the `Charger` core. While the EV sleeps, its B
  and C go to the detector, not to the core; a valid toggle brings back 5 % PWM, and the EV
  finds the charger by SDP again.
- the charger wakes the EV (the user resumes, or the EV stopped its session while the
  transaction stays open): the X1 step, X1 for at least T_step_X1 = 3 s then 5 %, or the E/F
  step, state F for T_step_EF = 4 s then 5 % (the `wake_step` setting).

`HlcPilot` says what the pilot must show instead of 5 % (the `Charger` asks it); `HlcCharger`
wraps the `Charger` core for the module's stepper and routes the inputs.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

from evstack.modules.EvseManager.bcb import BcbDetector
from evstack.modules.EvseManager.charger import Charger
from evstack.modules.EvseManager.signals import (
    Action,
    CpChanged,
    CpState,
    Input,
    Resume,
    SetCpF,
    SetCpX1,
    SetPwm,
)

T_STEP_X1_S = 3.0  # ISO 15118-3: X1 at least this long before 5 % wakes the EV
T_STEP_EF_S = 4.0  # ... or state F (E/F step) this long

_log = logging.getLogger(__name__)


class PausePilot(enum.StrEnum):
    X1 = "X1"  # no PWM while the EV sleeps
    PWM = "5%"  # keep 5 %


class WakeStep(enum.StrEnum):
    X1 = "X1"
    EF = "EF"


@dataclass(frozen=True)
class V2gStarted:
    """The SECC began a V2G session (SessionSetup): the EV is awake."""


@dataclass(frozen=True)
class V2gEnded:
    """The V2G session ended; `paused` when the EV paused it (SessionStop with Pause)."""

    paused: bool


HlcInput = V2gStarted | V2gEnded


@dataclass
class HlcPilot:
    pause_pilot: PausePilot = PausePilot.X1
    wake_step: WakeStep = WakeStep.X1
    session_up: bool = False
    asleep: bool = False  # paused by the EV and not woken since
    gating: bool = False  # B and C go to the detector (the EV paused, no session since)
    detector: BcbDetector = field(default_factory=BcbDetector)
    _step: tuple[str, float] | None = None  # ("X1" or "F", until)
    _x1_since: float | None = None  # the pilot has been X1 since

    def hold(self, now: float) -> str | None:
        """ "X1" or "F" where the `Charger` would run 5 % PWM; None to let it."""
        if self._step is not None:
            pilot, until = self._step
            if now < until:
                return pilot
            self._step = None
        if self.asleep and self.pause_pilot is PausePilot.X1:
            return "X1"
        return None

    @property
    def deadline(self) -> float | None:
        times = [self.detector.deadline if self.gating else None]
        if self._step is not None:
            times.append(self._step[1])
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def session_started(self) -> None:
        self.session_up = True
        self.asleep = self.gating = False
        self.detector.reset()

    def session_ended(self, paused: bool, in_transaction: bool) -> None:
        self.session_up = False
        if paused and in_transaction:
            self.asleep = self.gating = True
            self.detector.reset()

    def woken_by_ev(self) -> None:
        """A valid BCB toggle: 5 % again (the EV starts SLAC and SDP on it)."""
        self.asleep = False

    def wake(self, now: float) -> None:
        """Wake the EV: the X1 step (X1 held T_step_X1 in all) or the E/F step, then 5 %."""
        self.asleep = False
        if self.wake_step is WakeStep.EF:
            self._step = ("F", now + T_STEP_EF_S)
        else:
            since = now if self._x1_since is None else self._x1_since
            self._step = ("X1", max(now, since + T_STEP_X1_S))

    def pilot_driven(self, action: Action, now: float) -> None:
        """Follow what the pilot really shows, for the X1 step's length."""
        match action:
            case SetCpX1():
                if self._x1_since is None:
                    self._x1_since = now
            case SetPwm() | SetCpF():
                self._x1_since = None


class HlcCharger:
    """The `Charger` core with `HlcPilot` beside it, as one core for the module's stepper."""

    def __init__(self, charger: Charger, pilot: HlcPilot):
        self.charger = charger
        self.pilot = pilot
        charger.pilot_hold = pilot.hold

    def handle(self, event: Input | HlcInput, now: float) -> list[Action]:
        charger, pilot = self.charger, self.pilot
        match event:
            case V2gStarted():
                pilot.session_started()
                line = pilot.detector.line
                if line is not None and line is not charger.cp:
                    return self._track(charger.handle(CpChanged(line), now), now)
                return self._track(charger.tick(now), now)
            case V2gEnded(paused=paused):
                pilot.session_ended(paused, charger.in_transaction)
                if pilot.gating:
                    _log.info(
                        "the EV paused its V2G session: %s until its BCB toggle", pilot.pause_pilot
                    )
                return self._track(charger.tick(now), now)
            case CpChanged(state=state) if pilot.gating and self._gated(state):
                if pilot.detector.on_cp(state, now):
                    self._woken()
                return self._track(charger.tick(now), now)
            case Resume() if charger.in_transaction and not pilot.session_up:
                _log.info("waking the EV (%s step)", pilot.wake_step)
                pilot.wake(now)
            case CpChanged(state=state):
                pilot.detector.on_cp(state, now)  # the line as it is, for when gating begins
        return self._track(charger.handle(event, now), now)

    def tick(self, now: float) -> list[Action]:
        if self.pilot.gating and self.pilot.detector.poll(now):
            self._woken()
        return self._track(self.charger.tick(now), now)

    @property
    def next_deadline(self) -> float | None:
        times = [self.charger.next_deadline, self.pilot.deadline]
        pending = [t for t in times if t is not None]
        return min(pending) if pending else None

    def _gated(self, state: CpState) -> bool:
        """C is the sleeping EV's toggle; B too, unless the core still thinks the EV is in C."""
        return state is CpState.C or (state is CpState.B and self.charger.cp is CpState.B)

    def _woken(self) -> None:
        _log.info("BCB toggle from the EV: 5 %s PWM again", "%")
        self.pilot.woken_by_ev()

    def _track(self, actions: list[Action], now: float) -> list[Action]:
        for action in actions:
            self.pilot.pilot_driven(action, now)
        return actions
