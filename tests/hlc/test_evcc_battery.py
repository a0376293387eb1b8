"""The EV's battery model: the curve, the taper, and energy against state of charge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evstack.hlc.evcc import Battery


def test_ocv_follows_the_curve_between_its_points() -> None:
    assert Battery(soc=0.0).ocv() == 320.0
    assert Battery(soc=0.3).ocv() == pytest.approx(360.0)
    assert Battery(soc=1.0).ocv() == 410.0


@given(st.floats(0.0, 0.999), st.floats(0.001, 0.2))
def test_ocv_and_taper_are_monotonic(soc: float, step: float) -> None:
    low, high = Battery(soc=soc), Battery(soc=min(1.0, soc + step))
    assert high.ocv() >= low.ocv()
    assert high.current_limit() <= low.current_limit()
    assert low.target_voltage() <= low.max_voltage


def test_taper_from_its_start_to_full() -> None:
    assert Battery(soc=0.5).current_limit() == 150.0
    assert Battery(soc=0.9).current_limit() == pytest.approx(77.5)
    assert Battery(soc=1.0).current_limit() == 0.0


def test_the_lowest_limit_wins() -> None:
    battery = Battery(soc=0.5)
    assert battery.target_current() == 150.0
    assert battery.target_current(evse_max_current=80) == 80.0
    assert battery.target_current(evse_max_power=10_000) == pytest.approx(
        10_000 / battery.target_voltage()
    )


def test_one_hour_at_ten_kilowatts_adds_what_reaches_the_cells() -> None:
    battery = Battery(capacity_wh=60_000, soc=0.5)
    energy = battery.exchange(400.0, 25.0, 3600.0)
    assert energy == pytest.approx(10_000.0)
    stored = (400.0 - 25.0 * battery.resistance_ohm) * 25.0
    assert battery.soc == pytest.approx(0.5 + stored / 60_000)
    assert battery.energy_in_wh == pytest.approx(10_000.0)


def test_discharge_counts_out_and_lowers_soc() -> None:
    battery = Battery(soc=0.5)
    assert battery.exchange(380.0, -10.0, 360.0) == pytest.approx(-380.0)
    assert battery.soc < 0.5
    assert battery.energy_out_wh == pytest.approx(380.0)


def test_ac_draw_respects_the_chargers_limit_and_the_minimum() -> None:
    battery = Battery(soc=0.5)
    assert battery.ac_current() == 16.0
    assert battery.ac_current(evse_max_current=10.0) == 10.0
    assert battery.ac_current(evse_max_current=4.0) == 0.0  # below the on-board charger's 6 A


def test_bad_curves_are_refused() -> None:
    with pytest.raises(ValueError, match="ocv_curve"):
        Battery(ocv_curve=((0.5, 300.0), (0.1, 350.0)))
    with pytest.raises(ValueError, match="soc"):
        Battery(soc=1.5)
