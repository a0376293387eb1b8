"""EvseManager's state machine, driven by hand through whole sessions on a fake clock."""

from __future__ import annotations

from typing import cast

import pytest

from evstack.modules.EvseManager.charger import (
    C1_TIMEOUT_S,
    CONTACTOR_OPEN_TIMEOUT_S,
    POWER_REFRESH_S,
    PWM_UPDATE_INTERVAL_S,
    STATE_F_MIN_S,
    Charger,
    ChargerConfig,
    duty_for_current,
)
from evstack.modules.EvseManager.signals import (
    INOPERATIVE,
    Action,
    AllowPower,
    Authorize,
    CableAmpacity,
    ChargerState,
    ClearError,
    CpChanged,
    CpState,
    CurrentLimit,
    Enable,
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


def approx_pwm(duty_percent: float) -> SetPwm:
    """A SetPwm equal to any whose duty is within pytest's default tolerance of this one."""
    return SetPwm(cast(float, pytest.approx(duty_percent)))


class Run:
    """A charger with its clock and everything it did, for terse tests."""

    def __init__(
        self, config: ChargerConfig | None = None, recovery: Recovery | None = None
    ) -> None:
        self.charger = Charger(config or ChargerConfig())
        self.now = 0.0
        self.actions: list[Action] = list(self.charger.start(self.now, recovery))

    def send(self, *events: Input) -> list[Action]:
        fresh: list[Action] = []
        for event in events:
            fresh += self.charger.handle(event, self.now)
        self.actions += fresh
        return fresh

    def cp(self, state: str) -> list[Action]:
        return self.send(CpChanged(CpState(state)))

    def wait(self, seconds: float) -> list[Action]:
        """Advance time, ticking at every deadline the charger asks for."""
        end = self.now + seconds
        fresh: list[Action] = []
        while (deadline := self.charger.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            fresh += self.charger.tick(self.now)
        self.now = end
        fresh += self.charger.tick(self.now)
        self.actions += fresh
        return fresh

    # Read through calls, not attributes: mypy would keep an asserted attribute narrowed
    # across the calls that change it.
    def state(self) -> ChargerState:
        return self.charger.state

    def power_allowed(self) -> bool:
        return self.charger.power_allowed

    def pwm_on(self) -> bool:
        return self.charger.pwm_on

    def events(self) -> list[SessionEvent]:
        return [a.event for a in self.actions if isinstance(a, Publish)]

    def stop_reasons(self) -> list[StopReason | None]:
        return [
            a.stop_reason
            for a in self.actions
            if isinstance(a, Publish) and a.event is SessionEvent.TRANSACTION_FINISHED
        ]

    def charging(self) -> Run:
        """Plug in, authorize, go to C: the common start of most tests."""
        self.cp("B")
        self.send(Authorize("tag-1"))
        self.cp("C")
        assert self.charger.power_allowed
        return self


def test_starts_safe() -> None:
    run = Run()
    assert run.actions == [Publish(SessionEvent.ENABLED), SetCpX1(), AllowPower(False)]
    assert run.state() is ChargerState.IDLE


def test_happy_path_session_events_in_order() -> None:
    run = Run()
    run.cp("B")
    assert run.state() is ChargerState.WAITING_FOR_AUTHENTICATION
    assert run.send(Authorize("tag-1"))[-1] == approx_pwm(32 / 0.6)
    assert not run.power_allowed()  # PWM alone is not enough: the EV is still in B
    assert run.cp("C") == [Publish(SessionEvent.CHARGING_STARTED), AllowPower(True)]
    run.wait(60)
    run.cp("B")
    assert not run.power_allowed()
    run.cp("A")
    assert run.events() == [
        SessionEvent.ENABLED,
        SessionEvent.SESSION_STARTED,
        SessionEvent.AUTH_REQUIRED,
        SessionEvent.AUTHORIZED,
        SessionEvent.TRANSACTION_STARTED,
        SessionEvent.PREPARE_CHARGING,
        SessionEvent.CHARGING_STARTED,
        SessionEvent.CHARGING_PAUSED_EV,
        SessionEvent.CHARGING_FINISHED,
        SessionEvent.TRANSACTION_FINISHED,
        SessionEvent.SESSION_FINISHED,
    ]
    assert run.stop_reasons() == [StopReason.EV_DISCONNECTED]
    assert run.state() is ChargerState.IDLE
    assert not run.pwm_on()


def test_authorization_before_plug_in_skips_auth_required() -> None:
    run = Run()
    run.send(Authorize("tag-1"))
    run.cp("B")
    assert SessionEvent.AUTH_REQUIRED not in run.events()
    assert run.state() is ChargerState.PREPARE_CHARGING


def test_withdrawn_authorization_before_plug_in() -> None:
    run = Run()
    run.send(Authorize("tag-1"), WithdrawAuthorization())
    run.cp("B")
    assert run.events()[-2:] == [SessionEvent.SESSION_STARTED, SessionEvent.AUTH_REQUIRED]
    assert not run.pwm_on()


def test_unplug_under_load_forbids_power_at_once() -> None:
    run = Run().charging()
    fresh = run.cp("A")
    assert AllowPower(False) in fresh
    assert SetCpX1() in fresh
    assert run.stop_reasons() == [StopReason.EV_DISCONNECTED]


def test_ev_pause_and_resume() -> None:
    run = Run().charging()
    assert run.cp("B") == [Publish(SessionEvent.CHARGING_PAUSED_EV), AllowPower(False)]
    assert run.pwm_on()  # the EVSE keeps offering current
    assert run.cp("C") == [Publish(SessionEvent.CHARGING_RESUMED), AllowPower(True)]


def test_evse_pause_gives_the_ev_the_c1_grace_period() -> None:
    run = Run().charging()
    fresh = run.send(Pause())
    assert fresh == [Publish(SessionEvent.CHARGING_PAUSED_EVSE), SetCpX1()]
    assert run.power_allowed()  # the EV is still drawing: it gets 6 s to stop
    run.wait(C1_TIMEOUT_S - 0.01)
    assert run.power_allowed()
    assert run.wait(0.01) == [AllowPower(False)]
    run.send(Resume())
    assert run.pwm_on()
    assert run.state() is ChargerState.CHARGING
    assert run.power_allowed()
    assert run.events()[-1] is SessionEvent.CHARGING_RESUMED


def test_evse_pause_ev_returns_to_b_in_time() -> None:
    run = Run().charging()
    run.send(Pause())
    run.wait(1)
    assert run.cp("B") == [AllowPower(False)]
    run.send(Resume())
    assert run.pwm_on()
    assert not run.power_allowed()
    run.cp("C")
    assert run.power_allowed()


def test_resume_within_c1_keeps_power_on_without_a_gap() -> None:
    run = Run().charging()
    run.send(Pause())
    run.wait(2)
    fresh = run.send(Resume())
    assert AllowPower(False) not in fresh
    assert run.power_allowed()


def test_no_energy_pauses_and_resumes_by_itself() -> None:
    run = Run().charging()
    run.send(CurrentLimit(0))
    assert run.state() is ChargerState.CHARGING_PAUSED_EVSE
    assert not run.pwm_on()
    run.cp("B")
    run.send(CurrentLimit(10))
    assert run.pwm_on()
    assert run.actions[-1] == approx_pwm(10 / 0.6)
    run.cp("C")
    assert run.power_allowed()


def test_plug_in_with_no_energy_waits_without_pwm() -> None:
    run = Run()
    run.send(CurrentLimit(0), Authorize("tag-1"))
    run.cp("B")
    assert run.state() is ChargerState.CHARGING_PAUSED_EVSE
    assert not run.pwm_on()
    run.send(CurrentLimit(16))
    assert run.pwm_on()


def test_pwm_changes_at_most_every_5_s() -> None:
    run = Run().charging()
    run.wait(PWM_UPDATE_INTERVAL_S)
    assert pwm(run.send(CurrentLimit(20))) == [approx_pwm(20 / 0.6)]
    run.wait(1)
    assert pwm(run.send(CurrentLimit(10))) == []
    run.send(CurrentLimit(12))
    fresh = run.wait(PWM_UPDATE_INTERVAL_S)
    assert pwm(fresh) == [approx_pwm(12 / 0.6)]  # only the latest limit is signalled


def pwm(actions: list[Action]) -> list[Action]:
    return [a for a in actions if isinstance(a, SetPwm)]


def test_permission_is_repeated_for_the_board_watchdog() -> None:
    run = Run().charging()
    fresh = run.wait(3 * POWER_REFRESH_S)
    assert fresh.count(AllowPower(True)) == 3


def test_duty_respects_hardware_and_cable_limits() -> None:
    run = Run(ChargerConfig(max_current_a=16))
    run.send(CableAmpacity(13), Authorize("x"))
    run.cp("B")
    assert run.actions[-1] == approx_pwm(13 / 0.6)


def test_stop_transaction_waits_for_b_then_finishes() -> None:
    run = Run().charging()
    fresh = run.send(StopTransaction(StopReason.REMOTE))
    assert fresh == [Publish(SessionEvent.STOPPING_CHARGING, StopReason.REMOTE), SetCpX1()]
    run.cp("B")
    assert not run.power_allowed()
    assert run.state() is ChargerState.FINISHED
    assert run.stop_reasons() == [StopReason.REMOTE]
    run.send(Authorize("tag-2"))  # a finished session is not restarted by a swipe
    assert not run.pwm_on()


def test_stop_transaction_c1_timeout_opens_under_load() -> None:
    run = Run().charging()
    run.send(StopTransaction(StopReason.LOCAL))
    run.wait(C1_TIMEOUT_S - 0.001)
    assert run.power_allowed()
    run.wait(0.001)
    assert not run.power_allowed()
    assert run.state() is ChargerState.FINISHED
    assert run.stop_reasons() == [StopReason.LOCAL]


def test_deauthorization_stops_the_transaction() -> None:
    run = Run().charging()
    run.send(WithdrawAuthorization())
    assert run.state() is ChargerState.STOPPING_CHARGING
    run.cp("B")
    assert run.stop_reasons() == [StopReason.DEAUTHORIZED]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.GROUND_FAILURE, StopReason.GROUND_FAULT),
        (Fault.DIODE_FAULT, StopReason.OTHER),
        (Fault.OVER_CURRENT, StopReason.OVERCURRENT_FAULT),
    ],
)
def test_fault_goes_to_state_f_for_at_least_300_ms(fault: Fault, reason: StopReason) -> None:
    run = Run().charging()
    fresh = run.send(FaultChanged(fault, True))
    assert AllowPower(False) in fresh
    assert SetCpF() in fresh
    assert RaiseError(INOPERATIVE) in fresh
    assert run.stop_reasons() == [reason]
    run.cp("F")  # the line now shows what we drive
    run.wait(0.05)
    assert run.send(FaultChanged(fault, False)) == [ClearError(INOPERATIVE)]
    run.wait(STATE_F_MIN_S - 0.06)
    assert run.actions[-1] == ClearError(INOPERATIVE)  # still held at F
    assert run.wait(0.02) == [SetCpX1()]
    run.cp("B")
    assert run.state() is ChargerState.FINISHED
    assert not run.pwm_on()
    run.cp("A")
    assert run.state() is ChargerState.IDLE


def test_state_e_on_the_line_is_a_pilot_fault() -> None:
    run = Run().charging()
    fresh = run.cp("E")
    assert AllowPower(False) in fresh
    assert SetCpF() in fresh
    run.wait(1)
    # The short is gone and the line shows our -12 V; F has been held long enough.
    assert run.cp("F") == [SetCpX1(), ClearError(INOPERATIVE)]
    assert Fault.PILOT_FAULT not in run.charger.faults


def test_state_d_without_ventilation_is_refused() -> None:
    run = Run(ChargerConfig(has_ventilation=False))
    run.cp("B")
    run.send(Authorize("x"))
    run.cp("D")
    assert not run.power_allowed()
    assert Fault.VENTILATION_NOT_AVAILABLE in run.charger.faults


def test_state_d_with_ventilation_charges() -> None:
    run = Run()
    run.cp("B")
    run.send(Authorize("x"))
    run.cp("D")
    assert run.power_allowed()


def test_disable_during_session_ends_it_and_stays_disabled() -> None:
    run = Run().charging()
    fresh = run.send(Enable(False))
    assert AllowPower(False) in fresh
    assert SetCpF() in fresh
    assert run.stop_reasons() == [StopReason.LOCAL]
    run.cp("F")
    run.wait(10)
    run.send(Authorize("x"))
    assert run.state() is ChargerState.DISABLED
    assert not run.pwm_on()
    run.send(Enable(True))
    run.wait(STATE_F_MIN_S)
    assert run.state() is ChargerState.IDLE
    assert run.actions[-1] == SetCpX1()


def test_duty_for_current_table() -> None:
    assert duty_for_current(6) == pytest.approx(10)
    assert duty_for_current(51) == pytest.approx(85)
    assert duty_for_current(80) == pytest.approx(96)
    with pytest.raises(ValueError, match="no PWM duty"):
        duty_for_current(5.9)


def test_overcurrent_ends_the_transaction_after_a_second() -> None:
    run = Run().charging()
    run.wait(10)
    run.send(MeasuredCurrent(33))  # offered 32 A: within the margin
    run.wait(5)
    run.send(MeasuredCurrent(40))
    run.wait(0.5)
    run.send(MeasuredCurrent(40))
    assert run.power_allowed()
    run.wait(0.5)
    fresh = run.send(MeasuredCurrent(40))
    assert AllowPower(False) in fresh
    assert run.stop_reasons() == [StopReason.OVERCURRENT_FAULT]


def test_overcurrent_is_judged_against_what_was_signalled_recently() -> None:
    run = Run().charging()
    run.wait(10)
    run.send(CurrentLimit(10))  # PWM drops to 10 A; the EV has 6 s to follow
    for _ in range(11):
        run.wait(0.5)
        run.send(MeasuredCurrent(31))
    assert run.power_allowed()  # 5.5 s after the change: still excused
    run.wait(1)
    run.send(MeasuredCurrent(31))
    run.wait(1)
    run.send(MeasuredCurrent(31))
    assert run.stop_reasons() == [StopReason.OVERCURRENT_FAULT]


def test_a_contactor_closed_without_permission_is_a_welded_contactor() -> None:
    run = Run().charging()
    run.send(RelayChanged(True))
    run.cp("B")  # permission withdrawn ...
    run.wait(CONTACTOR_OPEN_TIMEOUT_S - 0.01)
    assert Fault.CONTACTOR_FAULT not in run.charger.faults  # ... the contactor may take time
    fresh = run.wait(0.01)
    assert Fault.CONTACTOR_FAULT in run.charger.faults
    assert SetCpF() in fresh
    assert RaiseError(INOPERATIVE) in fresh
    run.send(RelayChanged(False))  # repaired, or it finally let go
    assert Fault.CONTACTOR_FAULT not in run.charger.faults


def test_a_contactor_that_opens_in_time_is_fine() -> None:
    run = Run().charging()
    run.send(RelayChanged(True))
    run.cp("B")
    run.wait(0.05)
    run.send(RelayChanged(False))
    run.wait(10)
    assert not run.charger.faults
