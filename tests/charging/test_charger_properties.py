"""The charger's rules as properties of random input streams (no pilot line: fast, many cases)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from evstack.modules.EvseManager.charger import (
    C1_TIMEOUT_S,
    PWM_UPDATE_INTERVAL_S,
    STATE_F_MIN_S,
    Charger,
)
from evstack.modules.EvseManager.signals import (
    Action,
    Authorize,
    CpChanged,
    CpState,
    CurrentLimit,
    Enable,
    Fault,
    FaultChanged,
    Input,
    MeasuredCurrent,
    Pause,
    Resume,
    SetCpF,
    SetCpX1,
    SetPwm,
    StopReason,
    StopTransaction,
    WithdrawAuthorization,
)

_pilot_changes = st.sampled_from(list(CpState)).map(CpChanged)
_inputs: st.SearchStrategy[Input] = st.one_of(
    _pilot_changes,
    _pilot_changes,  # the EV acts more often than anyone else
    st.just(Authorize("tag")),
    st.just(WithdrawAuthorization()),
    st.just(Pause()),
    st.just(Resume()),
    st.just(StopTransaction(StopReason.REMOTE)),
    st.booleans().map(Enable),
    # Two kinds of fault only, so that a fault is often cleared soon after it was raised.
    st.tuples(st.sampled_from([Fault.DIODE_FAULT, Fault.GROUND_FAILURE]), st.booleans()).map(
        lambda f: FaultChanged(*f)
    ),
    st.sampled_from([0.0, 5.0, 6.0, 10.0, 16.0, 32.0, 70.0]).map(CurrentLimit),
    st.sampled_from([0.0, 16.0, 40.0]).map(MeasuredCurrent),
)


# Gaps on both sides of every rule's threshold (0.3 s, 5 s, 6 s), and anything up to 8 s.
_delays = st.one_of(st.sampled_from([0.05, 0.2, 1.0, 3.0, 5.5, 7.0]), st.floats(0, 8))

# Random streams seldom reach Charging by chance; half the cases start there.
_TO_CHARGING: list[tuple[float, Input]] = [
    (0.5, CpChanged(CpState.B)),
    (0.5, Authorize("tag")),
    (0.5, CpChanged(CpState.C)),
]
_streams = st.tuples(
    st.sampled_from([[], _TO_CHARGING]),
    st.lists(st.tuples(_delays, _inputs), max_size=40),
).map(lambda parts: parts[0] + parts[1])


@settings(max_examples=500, deadline=None)
@given(_streams)
def test_rules_hold_for_any_input_stream(steps: list[tuple[float, Input]]) -> None:
    charger = Charger()
    now = 0.0
    pwm_off_at: float | None = 0.0
    f_at: float | None = None
    pwm_sets: list[tuple[float, bool]] = []  # (when, was it a change of a running PWM?)
    pwm_running = False

    def carry_out(actions: list[Action]) -> None:
        nonlocal pwm_off_at, f_at, pwm_running
        for action in actions:
            if isinstance(action, SetPwm):
                pwm_sets.append((now, pwm_running))
                pwm_running, pwm_off_at = True, None
            if isinstance(action, SetCpX1 | SetPwm) and f_at is not None:
                assert now - f_at >= STATE_F_MIN_S - 1e-9, "state F released too early"
                f_at = None
            if isinstance(action, SetCpX1 | SetCpF):
                if pwm_running:
                    pwm_off_at = now
                pwm_running = False
            if isinstance(action, SetCpF):
                f_at = now

    def check() -> None:
        if not charger.power_allowed:
            return
        assert charger.cp in (CpState.C, CpState.D)
        assert charger.token is not None
        assert not charger.faults
        assert charger.enabled
        if not charger.pwm_on:
            assert pwm_off_at is not None
            assert now - pwm_off_at < C1_TIMEOUT_S + 1e-9, "power on after the C1 timeout"

    carry_out(charger.start(now))
    for delay, event in steps:
        end = now + delay
        while (deadline := charger.next_deadline) is not None and deadline <= end:
            now = max(now, deadline)
            carry_out(charger.tick(now))
            check()
        now = end
        carry_out(charger.handle(event, now))
        check()
    # Starting the PWM may happen at any time; changing its duty not within 5 s of the last set.
    for (earlier, _), (later, change) in itertools.pairwise(pwm_sets):
        if change:
            assert later - earlier >= PWM_UPDATE_INTERVAL_S - 1e-9, "PWM changed within 5 s"
