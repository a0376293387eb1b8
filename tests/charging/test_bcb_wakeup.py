"""The BCB toggle detector and the HLC pause and wake-up on the pilot, on a hand-stepped clock:
the EV pauses its V2G session, sleeps (X1 or 5 %), wakes the charger with B-C-B pulses, or is
woken by the charger's X1 or E/F step; the transaction stays open throughout."""

from __future__ import annotations

import pytest

from evstack.modules.EvseManager.bcb import (
    EDGE_TOLERANCE_S,
    PULSE_MAX_S,
    PULSE_MIN_S,
    WINDOW_S,
    BcbDetector,
)
from evstack.modules.EvseManager.charger import Charger, ChargerConfig
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    Authorize,
    ChargerState,
    CpChanged,
    CpState,
    Input,
    Publish,
    Resume,
    SessionEvent,
    SetCpF,
    SetCpX1,
    SetPwm,
)
from evstack.modules.EvseManager.wakeup import (
    T_STEP_EF_S,
    T_STEP_X1_S,
    HlcCharger,
    HlcInput,
    HlcPilot,
    PausePilot,
    V2gEnded,
    V2gStarted,
    WakeStep,
)

B, C = CpState.B, CpState.C


def pulses(
    detector: BcbDetector, start: float, widths: list[float], gap: float = 0.3
) -> list[bool]:
    """B-C-B pulses of these widths from `start`, B for `gap` between them; each edge's answer."""
    answers, now = [], start
    for width in widths:
        answers.append(detector.on_cp(C, now))
        now += width
        answers.append(detector.on_cp(B, now))
        now += gap
    return answers


class TestBcbDetector:
    def make(self) -> BcbDetector:
        detector = BcbDetector()
        detector.on_cp(B, 0.0)
        return detector

    def test_three_pulses_are_a_toggle_at_the_third(self) -> None:
        detector = self.make()
        assert pulses(detector, 1.0, [0.3, 0.3, 0.3]) == [False] * 5 + [True]
        assert detector.deadline is None  # done: nothing more to wait for

    @pytest.mark.parametrize("count", [1, 2])
    def test_one_or_two_pulses_are_a_toggle_when_the_window_ends(self, count: int) -> None:
        detector = self.make()
        assert not any(pulses(detector, 1.0, [0.3] * count))
        assert detector.deadline == pytest.approx(1.0 + WINDOW_S)
        assert not detector.poll(1.0 + WINDOW_S - 0.01)
        assert detector.poll(1.0 + WINDOW_S)
        assert not detector.poll(1.0 + WINDOW_S + 1.0)  # reported once

    @pytest.mark.parametrize(
        "width",
        [PULSE_MIN_S - EDGE_TOLERANCE_S - 0.01, PULSE_MAX_S + EDGE_TOLERANCE_S + 0.01, 2.0],
    )
    def test_a_pulse_too_short_or_too_long_is_no_toggle(self, width: float) -> None:
        detector = self.make()
        assert not any(pulses(detector, 1.0, [width]))
        assert detector.deadline is None
        assert not detector.poll(10.0)

    @pytest.mark.parametrize("width", [PULSE_MIN_S, PULSE_MAX_S])
    def test_the_standards_limits_count(self, width: float) -> None:
        detector = self.make()
        assert pulses(detector, 1.0, [width] * 3)[-1]

    def test_a_bad_pulse_breaks_the_sequence(self) -> None:
        detector = self.make()
        assert not any(pulses(detector, 1.0, [0.3, 0.05, 0.3]))
        # What is left is the third pulse alone: a toggle of one when its own window ends.
        assert detector.deadline == pytest.approx(1.0 + 0.3 + 0.3 + 0.05 + 0.3 + WINDOW_S)

    def test_pulses_spread_over_more_than_the_window_start_afresh(self) -> None:
        detector = self.make()
        assert not any(pulses(detector, 1.0, [0.3, 0.3], gap=3.5))
        # The first pulse alone made a toggle at the window's end; the second starts anew.
        assert detector.toggles == 1

    def test_unplugging_forgets_the_pulses(self) -> None:
        detector = self.make()
        pulses(detector, 1.0, [0.3])
        detector.on_cp(CpState.A, 1.5)
        assert detector.deadline is None
        assert not detector.poll(10.0)

    def test_a_pulse_still_under_way_when_the_window_ends_is_waited_for(self) -> None:
        detector = self.make()
        pulses(detector, 1.0, [0.3], gap=2.9)  # the second pulse starts at 4.2
        assert not detector.on_cp(C, 4.2)
        assert detector.deadline is None  # its falling edge decides
        assert detector.on_cp(B, 4.5)  # the window has ended: two pulses, a toggle


class Run:
    """An HLC charger with the pause and wake-up beside it, on a hand-stepped clock."""

    def __init__(self, pilot: HlcPilot) -> None:
        self.now = 0.0
        self.charger = Charger(ChargerConfig(hlc=True))
        self.pilot = pilot
        self.core = HlcCharger(self.charger, pilot)
        self.actions: list[Action] = self.charger.start(0.0)

    def feed(self, event: Input | HlcInput, after: float = 0.0) -> list[Action]:
        self.advance(after)
        out = self.core.handle(event, self.now)
        self.actions += out
        return out

    def advance(self, seconds: float) -> list[Action]:
        """Let time pass, firing every deadline on the way."""
        end, out = self.now + seconds, []
        while (deadline := self.core.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            out += self.core.tick(self.now)
        self.now = end
        out += self.core.tick(self.now)
        self.actions += out
        return out

    def pilot_actions(self, out: list[Action]) -> list[Action]:
        return [a for a in out if isinstance(a, SetPwm | SetCpX1 | SetCpF)]

    def charging(self) -> None:
        """Plugged, authorized, in C with power: a DC session under way."""
        self.feed(CpChanged(B))
        self.feed(V2gStarted())
        self.feed(Authorize("TOKEN"))
        self.feed(CpChanged(C), after=1.0)
        assert self.charger.state is ChargerState.CHARGING
        assert self.charger.power_allowed

    def pause(self) -> list[Action]:
        """The EV pauses: B, then SessionStop(Pause)."""
        out = self.feed(CpChanged(B), after=10.0)
        out += self.feed(V2gEnded(paused=True), after=0.5)
        return out

    def toggle(self, count: int = 3, width: float = 0.3) -> list[Action]:
        out: list[Action] = []
        for _ in range(count):
            out += self.feed(CpChanged(C), after=width)
            out += self.feed(CpChanged(B), after=width)
        return out

    def events(self, out: list[Action]) -> list[SessionEvent]:
        return [a.event for a in out if isinstance(a, Publish)]


class TestEvPauseAndBcbResume:
    def test_paused_in_x1_the_toggle_brings_back_5_percent_in_the_same_transaction(self) -> None:
        run = Run(HlcPilot(PausePilot.X1))
        run.charging()
        out = run.pause()
        assert run.charger.state is ChargerState.CHARGING_PAUSED_EV
        assert run.pilot_actions(out) == [SetCpX1()]
        assert AllowPower(False) in out
        run.advance(30.0)

        out = run.toggle(3)
        # The pulses are no charge: no event, no power, the core still sees B.
        assert run.events(out) == []
        assert AllowPower(True) not in out
        assert run.charger.cp is B
        assert run.pilot_actions(out) == [SetPwm(5.0)]

        # The EV comes back over SDP with its session id, then asks for power.
        out = run.feed(V2gStarted(), after=2.0)
        out += run.feed(CpChanged(C), after=3.0)
        assert run.events(out) == [SessionEvent.CHARGING_RESUMED]
        assert run.charger.power_allowed
        assert run.charger.in_transaction
        assert SessionEvent.TRANSACTION_FINISHED not in run.events(run.actions)

    def test_paused_at_5_percent_the_pilot_stays_and_pulses_are_swallowed(self) -> None:
        run = Run(HlcPilot(PausePilot.PWM))
        run.charging()
        out = run.pause()
        assert run.pilot_actions(out) == []
        out = run.toggle(1) + run.advance(WINDOW_S)
        assert run.events(out) == []
        assert run.pilot_actions(out) == []
        assert not run.pilot.asleep  # the toggle was heard

    def test_a_paused_ev_that_goes_to_c_without_a_session_gets_no_power(self) -> None:
        run = Run(HlcPilot(PausePilot.X1))
        run.charging()
        run.pause()
        out = run.feed(CpChanged(C), after=5.0) + run.advance(10.0)
        assert run.events(out) == []
        assert AllowPower(True) not in out

    def test_unplugging_while_paused_ends_the_transaction(self) -> None:
        run = Run(HlcPilot(PausePilot.X1))
        run.charging()
        run.pause()
        out = run.feed(CpChanged(CpState.A), after=5.0)
        assert SessionEvent.TRANSACTION_FINISHED in run.events(out)

    def test_a_session_ended_without_pause_keeps_the_pilot(self) -> None:
        run = Run(HlcPilot(PausePilot.X1))
        run.charging()
        run.feed(CpChanged(B), after=10.0)
        out = run.feed(V2gEnded(paused=False))
        assert run.pilot_actions(out) == []
        assert not run.pilot.gating


class TestEvseWakesTheEv:
    def test_x1_step_after_a_pause_in_x1_lasts_t_step_x1_in_all(self) -> None:
        run = Run(HlcPilot(PausePilot.X1, WakeStep.X1))
        run.charging()
        run.pause()
        x1_at = run.now
        out = run.feed(Resume(), after=1.0)  # X1 for only 1 s so far
        assert run.pilot_actions(out) == []
        out = run.advance(T_STEP_X1_S - 1.0 - 0.01)
        assert run.pilot_actions(out) == []
        out = run.advance(0.02)
        assert run.pilot_actions(out) == [SetPwm(5.0)]
        assert run.now - x1_at == pytest.approx(T_STEP_X1_S, abs=0.02)

    def test_x1_step_from_5_percent(self) -> None:
        run = Run(HlcPilot(PausePilot.PWM, WakeStep.X1))
        run.charging()
        run.pause()
        out = run.feed(Resume(), after=20.0)
        assert run.pilot_actions(out) == [SetCpX1()]
        assert run.pilot_actions(run.advance(T_STEP_X1_S - 0.01)) == []
        assert run.pilot_actions(run.advance(0.02)) == [SetPwm(5.0)]

    def test_ef_step(self) -> None:
        run = Run(HlcPilot(PausePilot.PWM, WakeStep.EF))
        run.charging()
        run.pause()
        out = run.feed(Resume(), after=20.0)
        assert run.pilot_actions(out) == [SetCpF()]
        # The line reads F while the charger drives it: no fault.
        out = run.feed(CpChanged(CpState.F), after=0.05)
        assert run.charger.faults == set()
        assert run.pilot_actions(run.advance(T_STEP_EF_S - 0.1)) == []
        assert run.pilot_actions(run.advance(0.1)) == [SetPwm(5.0)]
        assert run.charger.in_transaction

    def test_no_wake_up_while_a_session_runs(self) -> None:
        run = Run(HlcPilot(PausePilot.X1, WakeStep.X1))
        run.charging()
        out = run.feed(Resume(), after=1.0)
        assert run.pilot_actions(out) == []
        assert run.pilot.deadline is None
