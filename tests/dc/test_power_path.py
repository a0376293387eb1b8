"""The DC power path's core by hand, on simulated time: ramps, limits, precharge,
discharge, the isolation monitor, energy in both directions, what the EV sees."""

from __future__ import annotations

import math
from typing import Any

import pytest

from evstack.modules.DcSupplySimulator.battery import Battery, BatteryConfig
from evstack.modules.DcSupplySimulator.imd import ImdConfig, IsolationMeasured, SelfTestDone
from evstack.modules.DcSupplySimulator.power_path import (
    SAFE_VOLTAGE_V,
    DcPowerPath,
    PathConfig,
    SupplyConfig,
    SupplyMode,
)
from evstack.modules.DcSupplySimulator.rc import rc_step

pytestmark = pytest.mark.timeout(30)

# The figures the tests hold the simulator to, and where they come from (README).
DISCHARGE_BUDGET_S = 1.0  # from full voltage to below 60 V after switching off
PRECHARGE_TOLERANCE_V = 20.0  # the inlet within this of the battery before the EV closes


def path(
    *, supply: dict[str, Any] | None = None, battery: dict[str, Any] | None = None, **kw: Any
) -> DcPowerPath:
    config = PathConfig(
        supply=SupplyConfig(**supply or {}),
        battery=BatteryConfig(**battery or {}),
        imd=ImdConfig(),
    )
    return DcPowerPath(config, **kw)


def run(p: DcPowerPath, seconds: float, every: float = 0.01) -> list[tuple[float, float, float]]:
    """Advance in small hops, recording (time, output voltage, converter current)."""
    samples = []
    end = p.time + seconds
    while p.time < end - 1e-9:
        p.advance(min(p.time + every, end))
        samples.append((p.time, p.voltage_v, p.current_a))
    return samples


def precharged(p: DcPowerPath) -> None:
    p.set_export(p.battery.open_circuit_voltage_v, 2.0)
    p.set_mode(SupplyMode.EXPORT, precharge=True)
    run(p, 2.0)


# --- the circuit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conductance", "capacitance"), [(1e-5, 1e-3), (0.01, 1e-3), (10.0, 1e-3), (0.0, 1e-3)]
)
def test_rc_step_agrees_with_fine_numerical_integration(
    conductance: float, capacitance: float
) -> None:
    v0, source, h = 120.0, 3.0 + conductance * 400.0, 0.01
    exact = rc_step(v0, source, conductance, capacitance, h)
    n = 100_000
    dt = h / n
    v, integral_v, integral_v2 = v0, 0.0, 0.0
    for _ in range(n):  # midpoint rule on the exact exponential's own ODE
        half = v + (source - conductance * v) / capacitance * dt / 2
        integral_v += half * dt
        integral_v2 += half * half * dt
        v += (source - conductance * half) / capacitance * dt
    assert exact.v_end == pytest.approx(v, rel=1e-6)
    assert exact.integral_v == pytest.approx(integral_v, rel=1e-6)
    assert exact.integral_v2 == pytest.approx(integral_v2, rel=1e-6)


# --- ramps and limits -------------------------------------------------------------------


def test_voltage_rises_at_the_ramp_rate_to_the_set_point_and_no_further() -> None:
    p = path()
    p.set_export(500.0, 10.0)
    p.set_mode(SupplyMode.EXPORT)
    samples = run(p, 2.0)
    at = {round(t, 2): v for t, v, _ in samples}
    assert at[0.5] == pytest.approx(200.0, abs=1.0)  # 400 V/s
    assert at[1.0] == pytest.approx(400.0, abs=1.0)
    assert at[1.3] == pytest.approx(500.0, abs=1e-6)
    assert max(v for _, v, _ in samples) <= 500.0 + 1e-9


def test_current_limit_rises_at_the_ramp_rate_and_falls_at_once() -> None:
    p = path()
    precharged(p)
    p.set_ev_contactor(True)
    p.set_export(410.0, 150.0)
    p.set_mode(SupplyMode.EXPORT)  # the end of precharge: the limit ramps from 2 A
    samples = run(p, 4.0)
    at = {round(t - samples[0][0] + 0.01, 2): i for t, _, i in samples}
    assert at[1.0] == pytest.approx(52.0, abs=1.0)  # 50 A/s from the precharge's 2 A
    assert at[2.0] == pytest.approx(102.0, abs=1.0)
    assert at[4.0] == pytest.approx(150.0)
    assert max(i for *_, i in samples) <= 150.0 + 1e-9
    p.set_export(410.0, 40.0)
    run(p, 0.01)
    assert p.current_a == pytest.approx(40.0)
    assert p.battery_current_a == pytest.approx(40.0, abs=0.01)


def test_power_limit_holds_when_the_current_limit_would_allow_more() -> None:
    p = path(supply={"max_export_power_w": 30_000.0})
    precharged(p)
    p.set_ev_contactor(True)
    p.set_export(410.0, 200.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 6.0)
    assert p.voltage_v * p.current_a == pytest.approx(30_000.0, rel=1e-6)
    assert p.current_a < 200.0


def test_set_points_are_brought_within_the_capabilities() -> None:
    p = path()
    assert p.set_export(1000.0, 500.0) == (900.0, 200.0)
    assert p.set_export(100.0, 0.0) == (200.0, 1.0)
    assert p.set_import(950.0, 300.0) == (900.0, 200.0)


def test_a_supply_told_no_set_points_gives_nothing() -> None:
    p = path()
    p.set_mode(SupplyMode.EXPORT)
    run(p, 1.0)
    assert p.voltage_v == 0.0
    assert p.current_a == 0.0


def test_a_unidirectional_supply_cannot_import() -> None:
    p = path(supply={"bidirectional": False})
    with pytest.raises(ValueError, match="not bidirectional"):
        p.set_mode(SupplyMode.IMPORT)


# --- precharge, the EV's view, discharge ---------------------------------------------------


def test_precharge_reaches_the_battery_voltage_with_the_current_held_at_2_a() -> None:
    # 10 mF: at 2 A the output rises 200 V/s, slower than the 400 V/s ramp, so the
    # precharge current is what sets the pace, and it is held whatever the EV asks for.
    p = path(supply={"capacitance_f": 10e-3})
    target = p.battery.open_circuit_voltage_v
    p.set_export(target, 50.0)
    p.set_mode(SupplyMode.EXPORT, precharge=True)
    samples = run(p, 2.5)
    assert max(i for *_, i in samples) <= 2.0 + 1e-9
    assert max(i for *_, i in samples) == pytest.approx(2.0)
    assert p.inlet_voltage_v == pytest.approx(target, abs=0.01)
    reached = next(t for t, v, _ in samples if abs(v - target) < PRECHARGE_TOLERANCE_V)
    assert 1.6 < reached < 1.9  # (355 - 20) V at 200 V/s, after the limit's 40 ms ramp


def test_closing_the_ev_contactor_after_precharge_takes_no_surge() -> None:
    p = path()
    precharged(p)
    p.set_ev_contactor(True)
    run(p, 0.01)
    assert abs(p.battery_current_a) < 2.0 + 1e-9


def test_closing_onto_an_output_far_above_the_battery_dumps_its_charge_within_limits() -> None:
    # No precharge: the output's 500 V meet the battery's 355 V. The capacitor's charge
    # rushes into the battery at once; the supply, still at 500 V as the step begins,
    # holds its power limit there too.
    p = path(supply={"max_export_power_w": 30_000.0})
    p.set_export(500.0, 200.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 6.0)
    before, stored = p.voltage_v, p.ledger.stored_wh
    p.set_ev_contactor(True)
    run(p, 0.01)
    assert p.current_a * before <= 30_000.0 * (1 + 1e-12)
    assert p.voltage_v < 380.0
    dumped = 1e-3 * (before**2 - p.voltage_v**2) / 2 / 3600
    assert p.ledger.stored_wh - stored > dumped / 2  # most of it reached the cells


def test_the_ev_sees_the_supply_voltage_through_the_output_contactor() -> None:
    p = path(output_contactor_closed=False)
    p.set_export(500.0, 10.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 2.0)
    assert p.voltage_v == pytest.approx(500.0)
    assert p.inlet_voltage_v == 0.0
    p.set_output_contactor(True)
    assert p.inlet_voltage_v == p.voltage_v
    # The EV closed, the charger open: the inlet shows the battery (welding detection).
    p.set_output_contactor(False)
    p.set_ev_contactor(True)
    assert p.inlet_voltage_v == p.battery.open_circuit_voltage_v
    assert p.battery_current_a == 0.0


def test_charging_the_ev_sees_the_supply_voltage_and_the_meter_the_battery_current() -> None:
    p = path()
    precharged(p)
    p.set_ev_contactor(True)
    p.set_export(410.0, 100.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 5.0)
    assert p.inlet_voltage_v == p.voltage_v == p.battery_voltage_v
    assert p.battery_current_a == pytest.approx(100.0, abs=0.01)  # less the bleeder's 4 mA
    ocv = p.battery.open_circuit_voltage_v
    assert p.voltage_v == pytest.approx(ocv + 100.0 * 0.1, abs=0.01)  # I R above the cells


@pytest.mark.parametrize("from_v", [900.0, 500.0])
def test_switched_off_the_output_falls_below_60_v_within_the_budget(from_v: float) -> None:
    p = path()
    p.set_export(from_v, 10.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 3.0)
    off_at = p.time
    p.set_mode(SupplyMode.OFF)
    samples = run(p, DISCHARGE_BUDGET_S, every=0.001)
    safe_at = next(t for t, v, _ in samples if v < SAFE_VOLTAGE_V)
    # RC = 100 ohm x 1 mF: ln(900 / 60) x 0.1 s = 0.27 s.
    assert safe_at - off_at < DISCHARGE_BUDGET_S
    assert safe_at - off_at == pytest.approx(0.1 * math.log(from_v / SAFE_VOLTAGE_V), abs=2e-3)


def test_without_active_discharge_the_bleeder_takes_minutes() -> None:
    p = path(supply={"discharge_time_s": 0.0})
    p.set_export(500.0, 10.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 2.0)
    p.set_mode(SupplyMode.OFF)
    run(p, 60.0, every=1.0)
    assert p.voltage_v > 200.0  # 100 kohm x 1 mF = 100 s


def test_a_lowered_set_point_needs_a_load_or_a_switch_off_to_bring_the_voltage_down() -> None:
    # An exporting supply never sinks current: told a lower voltage with nothing
    # connected, its output only sags through the bleeder. Off discharges it.
    p = path()
    p.set_export(500.0, 10.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 2.0)
    p.set_export(350.0, 10.0)
    run(p, 2.0)
    assert p.voltage_v > 480.0
    p.set_mode(SupplyMode.OFF)
    run(p, 0.5)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 1.0)
    assert p.voltage_v == pytest.approx(350.0)


def test_the_discharge_resistor_drains_a_connected_battery_only_briefly() -> None:
    p = path()
    precharged(p)
    p.set_ev_contactor(True)
    p.set_mode(SupplyMode.OFF)
    run(p, 0.5)
    ocv = p.battery.open_circuit_voltage_v
    assert p.battery_current_a == pytest.approx(-ocv / 100.0, rel=2e-3)
    run(p, 1.0)
    assert p.battery_current_a == pytest.approx(-ocv / 100_000.0, rel=1e-2)


# --- bidirectional ----------------------------------------------------------------------


def test_import_discharges_the_battery_and_the_meter_counts_it_as_export() -> None:
    p = path()
    precharged(p)
    p.set_ev_contactor(True)
    p.set_import(300.0, 50.0)
    p.set_mode(SupplyMode.IMPORT)
    run(p, 1.0)  # the limit's ramp
    imported, exported, soc = p.meter.import_wh, p.meter.export_wh, p.battery.soc_percent
    run(p, 10.0)
    assert p.current_a == pytest.approx(-50.0)
    assert p.battery_current_a == pytest.approx(-50.0, abs=0.01)
    assert p.meter.import_wh == imported
    given = p.meter.export_wh - exported
    assert given == pytest.approx(p.voltage_v * 50.0 * 10.0 / 3600.0, rel=1e-3)
    assert p.battery.soc_percent < soc


def test_import_takes_nothing_below_its_voltage_floor() -> None:
    p = path()
    precharged(p)
    p.set_ev_contactor(True)
    p.set_import(p.battery.open_circuit_voltage_v + 5.0, 50.0)
    p.set_mode(SupplyMode.IMPORT)
    run(p, 3.0)
    assert p.current_a == 0.0
    assert p.battery_current_a == pytest.approx(0.0, abs=0.05)  # the bleeder's milliamps


def test_energy_balances_through_a_whole_session_in_both_directions() -> None:
    p = path()
    soc, cap0 = p.battery.soc_percent, p.capacitor_wh
    p.set_export(500.0, 2.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 2.0)  # cable check
    p.set_mode(SupplyMode.OFF)
    run(p, 1.0)
    precharged(p)
    p.set_ev_contactor(True)
    p.set_export(410.0, 150.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 30.0)
    p.set_import(300.0, 80.0)
    p.set_mode(SupplyMode.IMPORT)
    run(p, 20.0)
    p.set_mode(SupplyMode.OFF)
    run(p, 2.0)
    p.set_ev_contactor(False)
    run(p, 1.0)
    ledger = p.ledger
    assert ledger.metered_wh > 0
    assert p.meter.export_wh > 0
    lost = ledger.dissipated_wh + p.capacitor_wh - cap0
    assert ledger.supplied_wh == pytest.approx(lost + ledger.metered_wh, abs=1e-6)
    assert ledger.metered_wh == pytest.approx(ledger.stored_wh + ledger.battery_loss_wh, abs=1e-6)
    assert p.meter.import_wh - p.meter.export_wh == pytest.approx(ledger.metered_wh, abs=1e-6)
    stored = (p.battery.soc_percent - soc) / 100.0 * p.config.battery.capacity_wh
    assert stored == pytest.approx(ledger.stored_wh, abs=1e-6)


# --- the battery --------------------------------------------------------------------------


def test_battery_voltage_follows_the_state_of_charge() -> None:
    config = BatteryConfig()
    voltages = [Battery(config, soc).open_circuit_voltage_v for soc in range(0, 101, 5)]
    assert (voltages[0], voltages[-1]) == (300.0, 400.0)
    assert voltages == sorted(voltages)
    assert Battery(config, 101.0).open_circuit_voltage_v > 400.0 + 10 * 1.0  # runs away


def test_the_battery_management_tapers_towards_full() -> None:
    config = BatteryConfig(max_charge_current_a=200.0, taper_from_soc_percent=80.0)
    assert Battery(config, 50.0).max_charge_current_a == 200.0
    assert Battery(config, 90.0).max_charge_current_a == pytest.approx(100.0)
    assert Battery(config, 100.0).max_charge_current_a == 0.0


def test_near_full_the_current_falls_by_itself_at_the_voltage_limit() -> None:
    # Constant voltage at the battery's full voltage: the current tapers as it fills.
    p = path(battery={"capacity_wh": 2_000.0}, soc_percent=93.0)
    precharged(p)
    p.set_ev_contactor(True)
    p.set_export(400.0, 100.0)
    p.set_mode(SupplyMode.EXPORT)
    run(p, 2.1)
    early = p.battery_current_a
    run(p, 60.0, every=0.5)
    assert early > 80.0
    assert 0.0 < p.battery_current_a < 30.0
    assert p.voltage_v <= 400.0 + 1e-9


# --- the isolation monitor ------------------------------------------------------------------


def test_the_monitor_reports_at_its_interval_with_the_cable_voltage() -> None:
    p = path()
    p.set_export(500.0, 2.0)
    p.set_mode(SupplyMode.EXPORT)
    p.imd_start()
    events = p.advance(3.0)
    readings = [e for e in events if isinstance(e, IsolationMeasured)]
    assert len(events) == len(readings) == 3
    assert [e.at for e in readings] == [1.0, 2.0, 3.0]
    assert [e.voltage_v for e in readings] == pytest.approx([400.0, 500.0, 500.0])  # 400 V/s
    assert [e.resistance_ohm for e in readings] == pytest.approx([900_000.0] * 3)
    p.imd_stop()
    assert p.advance(10.0) == []


def test_an_insulation_fault_and_the_evs_own_insulation_show_in_the_measurement() -> None:
    p = path()
    p.imd_start()
    p.inject_isolation_fault(50_000.0)
    (measured,) = p.advance(1.0)
    assert isinstance(measured, IsolationMeasured)
    assert measured.resistance_ohm == pytest.approx(1 / (1 / 900e3 + 1 / 50e3))
    p.inject_isolation_fault(None)
    p.set_ev_contactor(True)
    (measured,) = p.advance(2.0)
    assert isinstance(measured, IsolationMeasured)
    assert measured.resistance_ohm == pytest.approx(1 / (1 / 900e3 + 1 / 10e6))


@pytest.mark.parametrize("passes", [True, False])
def test_the_self_test_takes_its_time_and_reports_as_configured(passes: bool) -> None:
    config = PathConfig(imd=ImdConfig(self_test_s=5.0, self_test_passes=passes))
    p = DcPowerPath(config)
    p.advance(1.0)
    p.imd_self_test()
    assert p.advance(5.9) == []
    assert p.advance(6.5) == [SelfTestDone(passes, 6.0)]
