"""Duty cycle <-> current, IEC 61851-1 Annex A, in C and in the Python reference."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evstack.pilot import (
    DIGITAL_COMMUNICATION_DUTY,
    DutyMeaning,
    DutyReading,
    current_for_duty,
    duty_for_current,
)
from evstack.pilot import reference as ref


@pytest.mark.parametrize(
    ("amps", "duty"),
    [
        (6.0, 0.10),
        (10.0, 10 / 0.6 / 100),
        (16.0, 16 / 0.6 / 100),
        (32.0, 32 / 0.6 / 100),
        (51.0, 0.85),  # last current of the first formula
        (51.5, (51.5 / 2.5 + 64) / 100),  # first of the second
        (63.0, (63 / 2.5 + 64) / 100),
        (80.0, 0.96),
    ],
)
def test_duty_for_current(amps: float, duty: float) -> None:
    assert duty_for_current(amps) == pytest.approx(duty, abs=1e-12)


@pytest.mark.parametrize("amps", [0.0, 5.99, 80.01, -6.0, math.nan, math.inf])
def test_currents_pwm_cannot_signal_are_refused(amps: float) -> None:
    with pytest.raises(ValueError, match="6-80 A"):
        duty_for_current(amps)
    with pytest.raises(ValueError, match="6-80 A"):
        ref.duty_for_current(amps)


AMPS = DutyMeaning.AMPS


@pytest.mark.parametrize(
    ("duty", "reading"),
    [
        (0.0, DutyReading(DutyMeaning.NOT_ALLOWED)),
        (0.0299, DutyReading(DutyMeaning.NOT_ALLOWED)),
        (0.03, DutyReading(DutyMeaning.DIGITAL)),
        (DIGITAL_COMMUNICATION_DUTY, DutyReading(DutyMeaning.DIGITAL)),
        (0.07, DutyReading(DutyMeaning.DIGITAL)),  # 0.07 * 100 is 7.000000000000001
        (0.075, DutyReading(DutyMeaning.NOT_ALLOWED)),
        (0.08, DutyReading(AMPS, 6.0)),
        (0.095, DutyReading(AMPS, 6.0)),
        (0.10, DutyReading(AMPS, 6.0)),
        (0.25, DutyReading(AMPS, 15.0)),
        (0.5, DutyReading(AMPS, 30.0)),
        (0.85, DutyReading(AMPS, 51.0)),
        (0.86, DutyReading(AMPS, 55.0)),
        (0.96, DutyReading(AMPS, 80.0)),
        (0.965, DutyReading(AMPS, 80.0)),
        (0.97, DutyReading(AMPS, 80.0)),
        (0.9701, DutyReading(DutyMeaning.NOT_ALLOWED)),
        (1.0, DutyReading(DutyMeaning.NOT_ALLOWED)),
        (math.nan, DutyReading(DutyMeaning.NOT_ALLOWED)),
    ],
)
def test_current_for_duty(duty: float, reading: DutyReading) -> None:
    for decode in (current_for_duty, ref.current_for_duty):
        got = decode(duty)
        assert got.meaning is reading.meaning
        if reading.amps is None:
            assert got.amps is None
        else:
            assert got.amps == pytest.approx(reading.amps, abs=1e-9)


@given(st.floats(min_value=6.0, max_value=80.0))
def test_an_ev_reads_back_at_most_what_the_evse_allows(amps: float) -> None:
    reading = current_for_duty(duty_for_current(amps))
    assert reading.meaning is AMPS
    assert reading.amps is not None
    if 51.0 < amps < 52.5:
        # The standard's formulas overlap here: the EVSE's (A / 2.5 + 64) gives duties below
        # 85 %, which the EV reads with (d * 0.6). It reads less, which is the safe side.
        assert amps - 1.5 < reading.amps <= amps
    else:
        assert reading.amps == pytest.approx(amps, abs=1e-9)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_c_and_reference_agree_on_any_duty(duty: float) -> None:
    assert current_for_duty(duty) == ref.current_for_duty(duty)


@given(st.floats(min_value=0.0, max_value=100.0))
def test_c_and_reference_agree_on_any_current(amps: float) -> None:
    try:
        expected = ref.duty_for_current(amps)
    except ValueError:
        with pytest.raises(ValueError, match="6-80 A"):
            duty_for_current(amps)
    else:
        assert duty_for_current(amps) == expected
