"""Whole sessions through the three cores on a sampled pilot line, and safety as a property."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evstack.modules.EvseManager.charger import (
    C1_TIMEOUT_S,
)
from evstack.modules.EvseManager.signals import (
    Authorize,
    ChargerState,
    CurrentLimit,
    Fault,
    Input,
    Pause,
    Resume,
    SessionEvent,
    StopReason,
    StopTransaction,
    WithdrawAuthorization,
)
from evstack.modules.EvSimulator.ev import Battery, EvCpState

from .lockstep import ChargePoint


def stop_reasons(cp: ChargePoint) -> list[StopReason | None]:
    return [
        p.stop_reason for p in cp.session_events if p.event is SessionEvent.TRANSACTION_FINISHED
    ]


def authorized(script: str, **kwargs: object) -> ChargePoint:
    cp = ChargePoint(script, **kwargs)  # type: ignore[arg-type]
    cp.run(0.5)
    cp.send(Authorize("tag-1"))
    return cp


def test_happy_path_power_within_3_s_and_energy_metered() -> None:
    cp = authorized("sleep 1;iec_wait_pwr_ready;draw_power_regulated 16,3;sleep 20;unplug")
    cp.run(25)
    (on_at, on), (off_at, off) = cp.relay_log
    assert on
    assert not off
    assert on_at - 1.0 <= 3.0  # the EV asked for C at t = 1 s
    assert off_at - (on_at + 20) <= 0.1  # unplugged under load 20 s after power came
    assert stop_reasons(cp) == [StopReason.EV_DISCONNECTED]
    assert cp.events()[-1] is SessionEvent.SESSION_FINISHED
    assert cp.board.meter.energy_wh == pytest.approx(cp.ev.energy_wh, rel=0.01)
    assert cp.board.meter.energy_wh == pytest.approx(16 * 3 * 230 * 20 / 3600, rel=0.02)


def test_ev_pause_and_resume() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 5;pause;sleep 5;iec_wait_pwr_ready;sleep 5;unplug")
    cp.run(20)
    assert [on for _, on in cp.relay_log] == [True, False, True, False]
    events = cp.events()
    assert events.index(SessionEvent.CHARGING_PAUSED_EV) < events.index(
        SessionEvent.CHARGING_RESUMED
    )


def test_evse_pause_and_resume_the_ev_follows_the_pwm() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 60")
    cp.run(5)
    cp.send(Pause())
    cp.run(1)
    assert not cp.relay_on()  # the EV went back to B well inside the C1 window
    assert cp.charger.state is ChargerState.CHARGING_PAUSED_EVSE
    cp.send(Resume())
    cp.run(2)
    assert cp.relay_on()
    assert cp.events()[-1] is SessionEvent.CHARGING_RESUMED


def test_c1_timeout_opens_under_load_for_an_ev_that_ignores_the_pilot() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 60", ev_follows_pilot=False)
    cp.run(3)
    cp.send(StopTransaction(StopReason.REMOTE))
    stopped_at = cp.now
    cp.run(8)
    assert cp.ev.cp is EvCpState.C  # the EV never let go
    (_, on), (off_at, off) = cp.relay_log
    assert on
    assert not off
    assert C1_TIMEOUT_S <= off_at - stopped_at <= C1_TIMEOUT_S + 0.1
    assert stop_reasons(cp) == [StopReason.REMOTE]


def test_diode_fault_ends_in_state_f_then_a_safe_idle() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 2;diode_fail;sleep 3;unplug")
    cp.run(8)
    assert cp.relay_log[-1][1] is False
    assert stop_reasons(cp) == [StopReason.OTHER]
    assert cp.events()[-1] is SessionEvent.SESSION_FINISHED
    assert cp.charger.state is ChargerState.IDLE
    assert not cp.charger.faults


def test_state_e_stops_charging() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 2;error_e;sleep 3;unplug")
    cp.run(4)
    assert not cp.relay_on()
    assert Fault.PILOT_FAULT in cp.charger.faults
    cp.run(4)
    assert cp.charger.state is ChargerState.IDLE
    assert not cp.charger.faults


def test_rcd_trip_stops_with_ground_fault() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 2;rcd_current 40;sleep 3;unplug")
    cp.run(10)
    assert stop_reasons(cp) == [StopReason.GROUND_FAULT]
    assert cp.charger.state is ChargerState.IDLE
    assert not cp.board.faults


def test_battery_full_ends_charging_by_the_ev() -> None:
    cp = authorized(
        "iec_wait_pwr_ready;sleep 100",
        battery=Battery(capacity_kwh=1, soc_percent=99, max_current_a=16),
    )
    cp.run(10)
    assert cp.ev.battery.full
    assert cp.charger.state is ChargerState.CHARGING_PAUSED_EV
    assert not cp.relay_on()


def test_ev_ignoring_the_pwm_limit_is_stopped_for_overcurrent() -> None:
    cp = ChargePoint("draw_power_fixed 32,3;iec_wait_pwr_ready;sleep 60")
    cp.send(CurrentLimit(16))
    cp.send(Authorize("tag-1"))
    cp.run(10)
    assert stop_reasons(cp) == [StopReason.OVERCURRENT_FAULT]
    assert not cp.relay_on()


def test_welded_contactor_is_detected_and_the_ev_is_told_to_stop() -> None:
    cp = authorized("iec_wait_pwr_ready;sleep 3;pause;sleep 60")
    cp.run(2)
    cp.board.weld_contactor(True)
    cp.enforce_safety = False  # power on in B is exactly what a weld means
    cp.run(5)
    assert Fault.CONTACTOR_FAULT in cp.charger.faults
    assert cp.charger.state is ChargerState.FINISHED
    assert cp.relay_on()  # still welded: the installation's breaker must act
    assert cp.ev.drawing.amps == 0  # the EV, told F, stopped drawing


# --- safety as a property ---------------------------------------------------------------

_ev_commands = st.one_of(
    st.floats(0.05, 8).map(lambda s: f"sleep {s:.2f}"),
    st.just("iec_wait_pwr_ready"),
    st.tuples(st.integers(0, 40), st.sampled_from([1, 3])).map(
        lambda a: f"draw_power_regulated {a[0]},{a[1]}"
    ),
    st.tuples(st.integers(0, 40), st.sampled_from([1, 3])).map(
        lambda a: f"draw_power_fixed {a[0]},{a[1]}"
    ),
    st.sampled_from(["pause", "unplug", "plugin", "error_e", "diode_fail"]),
    st.sampled_from([0, 10, 35]).map(lambda ma: f"rcd_current {ma}"),
)

_evse_inputs: st.SearchStrategy[Input] = st.one_of(
    st.just(Authorize("tag-1")),
    st.just(WithdrawAuthorization()),
    st.just(Pause()),
    st.just(Resume()),
    st.just(StopTransaction(StopReason.REMOTE)),
    st.sampled_from([0.0, 4.0, 6.0, 13.0, 32.0]).map(CurrentLimit),
)


@pytest.mark.timeout(300)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    commands=st.lists(_ev_commands, min_size=1, max_size=8),
    injections=st.lists(st.tuples(st.floats(0, 12), _evse_inputs), max_size=6),
    plugged=st.booleans(),
    follows_pilot=st.booleans(),
)
def test_power_is_never_on_unless_safe(
    commands: list[str],
    injections: list[tuple[float, Input]],
    plugged: bool,
    follows_pilot: bool,
) -> None:
    """ChargePoint.check_safety runs after every 5 ms step and raises on any violation:
    power only in C/D with PWM (or inside the C1 window), authorized, no board fault,
    permitted by EvseManager; the contactor open within 100 ms of the EV leaving C/D;
    state F held at least 300 ms."""
    cp = ChargePoint(
        ";".join(["iec_wait_pwr_ready", *commands]),
        plugged_at_start=plugged,
        ev_follows_pilot=follows_pilot,
    )
    cp.send(Authorize("tag-1"))
    for at, event in sorted(injections, key=lambda i: i[0]):
        cp.run(max(0.0, at - cp.now))
        cp.send(event)
    cp.run(max(0.0, 20 - cp.now))
