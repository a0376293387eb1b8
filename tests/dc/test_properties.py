"""Properties of the DC power path under random supplies, batteries and commands: the
output never leaves its limits, energy is conserved between supply, meter and battery,
precharge always gets there and a switched-off output always discharges."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evstack.modules.DcSupplySimulator.battery import BatteryConfig
from evstack.modules.DcSupplySimulator.imd import ImdConfig
from evstack.modules.DcSupplySimulator.power_path import (
    SAFE_VOLTAGE_V,
    DcPowerPath,
    PathConfig,
    SupplyConfig,
    SupplyMode,
)

pytestmark = pytest.mark.timeout(120)

TOLERANCE = 1e-9  # relative, for limits compared within one step's arithmetic


@st.composite
def path_configs(draw: st.DrawFn) -> PathConfig:
    max_v = draw(st.floats(300.0, 1000.0))
    min_v = draw(st.floats(50.0, max_v / 2))
    max_i = draw(st.floats(10.0, 500.0))
    supply = SupplyConfig(
        bidirectional=draw(st.booleans()),
        max_export_voltage_v=max_v,
        min_export_voltage_v=min_v,
        max_export_current_a=max_i,
        min_export_current_a=draw(st.floats(0.0, 2.0)),
        max_export_power_w=draw(st.floats(5_000.0, 400_000.0)),
        max_import_current_a=draw(st.floats(0.0, max_i)),
        max_import_power_w=draw(st.floats(1_000.0, 200_000.0)),
        voltage_ramp_v_per_s=draw(st.floats(50.0, 2_000.0)),
        current_ramp_a_per_s=draw(st.floats(5.0, 500.0)),
        precharge_current_a=draw(st.floats(0.5, 5.0)),
        capacitance_f=draw(st.floats(50e-6, 20e-3)),
        discharge_resistance_ohm=draw(st.floats(20.0, 500.0)),
        discharge_time_s=draw(st.floats(0.0, 3.0)),
        bleeder_resistance_ohm=draw(st.floats(10e3, 10e6)),
    )
    empty = draw(st.floats(min_v / 2, max_v * 0.7))
    battery = BatteryConfig(
        capacity_wh=draw(st.floats(500.0, 120_000.0)),
        empty_voltage_v=empty,
        full_voltage_v=draw(st.floats(empty * 1.1, max_v)),
        internal_resistance_ohm=draw(st.floats(0.01, 1.0)),
    )
    return PathConfig(supply=supply, battery=battery, imd=ImdConfig(), step_s=0.02)


@dataclass(frozen=True)
class Mode:
    mode: SupplyMode
    precharge: bool


@dataclass(frozen=True)
class Export:
    voltage: float
    current: float


@dataclass(frozen=True)
class Import:
    voltage: float
    current: float


@dataclass(frozen=True)
class Contactor:
    ev_side: bool  # the EV's, else the charger's output contactor
    closed: bool


Command = Mode | Export | Import | Contactor

_volts = st.floats(0.0, 1200.0)
_amps = st.floats(0.0, 600.0)
# Each command is followed by a while of simulated time, checked step by step.
scripts = st.lists(
    st.tuples(
        st.one_of(
            st.builds(Mode, st.sampled_from(SupplyMode), st.booleans()),
            st.builds(Export, _volts, _amps),
            st.builds(Import, _volts, _amps),
            st.builds(Contactor, st.booleans(), st.booleans()),
        ),
        st.floats(0.0, 2.0),
    ),
    min_size=3,
    max_size=25,
)


class Limits:
    """What the supply was last told, as it applied it; the output must stay within it."""

    def __init__(self) -> None:
        self.export: tuple[float, float] | None = None
        self.import_: tuple[float, float] | None = None
        self.precharge = False

    def check(self, p: DcPowerPath, v_before: float, highest_ocv: float) -> None:
        s = p.config.supply
        i, v = p.current_a, p.voltage_v
        assert -1e-9 <= v <= max(s.max_export_voltage_v, highest_ocv) * (1 + TOLERANCE) + 1e-9
        highest_v = max(v, v_before)
        if p.mode is SupplyMode.OFF:
            assert i == 0.0
        elif p.mode is SupplyMode.EXPORT:
            limit = self.export[1] if self.export else 0.0
            if self.precharge:
                limit = min(limit, s.precharge_current_a)
            assert 0.0 <= i <= min(limit, s.max_export_current_a) * (1 + TOLERANCE)
            assert i * highest_v <= s.max_export_power_w * (1 + TOLERANCE) + 1e-9
        else:
            limit = self.import_[1] if self.import_ else 0.0
            assert -min(limit, s.max_import_current_a) * (1 + TOLERANCE) <= i <= 0.0
            assert -i * highest_v <= s.max_import_power_w * (1 + TOLERANCE) + 1e-9
        if p.output_contactor_closed:
            assert p.inlet_voltage_v == v  # the EV sees what the supply makes


def apply(p: DcPowerPath, op: Command, limits: Limits) -> None:
    match op:
        case Mode(mode=mode, precharge=precharge):
            if mode is SupplyMode.IMPORT and not p.config.supply.bidirectional:
                with pytest.raises(ValueError, match="bidirectional"):
                    p.set_mode(mode)
                return
            p.set_mode(mode, precharge=precharge)
            limits.precharge = precharge
        case Export(voltage=voltage, current=current):
            limits.export = p.set_export(voltage, current)
        case Import(voltage=voltage, current=current):
            limits.import_ = p.set_import(voltage, current)
        case Contactor(ev_side=True, closed=closed):
            p.set_ev_contactor(closed)
        case Contactor(ev_side=False, closed=closed):
            p.set_output_contactor(closed)


@settings(max_examples=150, deadline=None)
@given(config=path_configs(), soc=st.floats(0.0, 100.0), script=scripts)
def test_the_output_stays_within_its_limits_and_energy_is_conserved(
    config: PathConfig, soc: float, script: list[tuple[Command, float]]
) -> None:
    p = DcPowerPath(config, soc_percent=soc)
    limits = Limits()
    highest_ocv = p.battery.open_circuit_voltage_v
    steps = 0
    for command, wait in script:
        apply(p, command, limits)
        end = p.time + wait
        while p.time < end:
            before, started = p.voltage_v, p.time
            p.advance(min(p.time + config.step_s, end))
            steps += 1
            highest_ocv = max(highest_ocv, p.battery.open_circuit_voltage_v)
            if p.time - started > 1e-9:  # a step was taken (shorter ones are rounding dust)
                limits.check(p, before, highest_ocv)

    ledger = p.ledger
    scale = 1.0 + abs(ledger.supplied_wh) + ledger.dissipated_wh + abs(ledger.metered_wh)
    assert ledger.supplied_wh == pytest.approx(
        ledger.dissipated_wh + p.capacitor_wh + ledger.metered_wh, abs=1e-9 * scale
    )
    assert ledger.metered_wh == pytest.approx(
        ledger.stored_wh + ledger.battery_loss_wh, abs=1e-9 * scale
    )
    assert p.meter.import_wh - p.meter.export_wh == pytest.approx(
        ledger.metered_wh, abs=1e-9 * scale
    )
    # The state of charge is a large number taking small steps: each rounds by its last bit.
    rounding = steps * config.battery.capacity_wh * 1e-15
    assert (p.battery.soc_percent - soc) / 100.0 * config.battery.capacity_wh == pytest.approx(
        ledger.stored_wh, abs=1e-9 * scale + rounding
    )
    assert ledger.battery_loss_wh >= -1e-9 * scale
    assert ledger.dissipated_wh >= 0.0


@settings(max_examples=100, deadline=None)
@given(
    config=path_configs(),
    soc=st.floats(0.0, 95.0),
    voltage=_volts,
    current=_amps,
    seconds=st.floats(0.5, 20.0),
)
def test_charging_never_exceeds_the_current_and_power_limits(
    config: PathConfig, soc: float, voltage: float, current: float, seconds: float
) -> None:
    # The commands of a charging session, so that the limits are met head-on.
    p = DcPowerPath(config, soc_percent=soc)
    limits = Limits()
    apply(p, Export(p.battery.open_circuit_voltage_v, 2.0), limits)
    apply(p, Mode(SupplyMode.EXPORT, precharge=True), limits)
    p.advance(5.0)
    apply(p, Contactor(ev_side=True, closed=True), limits)
    apply(p, Export(voltage, current), limits)
    apply(p, Mode(SupplyMode.EXPORT, precharge=False), limits)
    highest_ocv = p.battery.open_circuit_voltage_v
    while p.time < 5.0 + seconds:
        before = p.voltage_v
        p.advance(p.time + config.step_s)
        highest_ocv = max(highest_ocv, p.battery.open_circuit_voltage_v)
        limits.check(p, before, highest_ocv)


@settings(max_examples=100, deadline=None)
@given(config=path_configs(), soc=st.floats(0.0, 100.0))
def test_precharge_always_reaches_the_battery_within_the_time_physics_allows(
    config: PathConfig, soc: float
) -> None:
    p = DcPowerPath(config, soc_percent=soc)
    s = config.supply
    target = p.battery.open_circuit_voltage_v
    applied, _ = p.set_export(target, 100.0)
    # The bleeder must leave the precharge current something to charge C with.
    leak = applied / s.bleeder_resistance_ohm
    rise = min(s.voltage_ramp_v_per_s, (s.precharge_current_a - leak) / s.capacitance_f)
    assert rise > 0
    p.set_mode(SupplyMode.EXPORT, precharge=True)
    allowed = applied / rise + s.precharge_current_a / s.current_ramp_a_per_s + 0.1
    while abs(p.inlet_voltage_v - applied) > 0.5:
        assert p.time <= allowed
        p.advance(p.time + 0.01)
        assert p.current_a <= s.precharge_current_a * (1 + TOLERANCE)
    assert p.voltage_v <= applied * (1 + TOLERANCE)


@settings(max_examples=100, deadline=None)
@given(config=path_configs(), fraction=st.floats(0.1, 1.0), later=st.floats(0.0, 5.0))
def test_switched_off_the_output_discharges_with_its_time_constants(
    config: PathConfig, fraction: float, later: float
) -> None:
    s = config.supply
    p = DcPowerPath(config)
    target, _ = p.set_export(s.max_export_voltage_v * fraction, 10.0)
    p.set_mode(SupplyMode.EXPORT)
    while p.voltage_v < target - 1e-6:
        p.advance(p.time + 0.1)
    start, off_at = p.voltage_v, p.time
    p.set_mode(SupplyMode.OFF)
    # RC with the discharge resistor while it is switched in, then with the bleeder alone.
    bleeder_tau = s.capacitance_f * s.bleeder_resistance_ohm
    tau = s.capacitance_f / (1 / s.discharge_resistance_ohm + 1 / s.bleeder_resistance_ohm)
    window = min(later, s.discharge_time_s)
    expected = start * math.exp(-window / tau - (later - window) / bleeder_tau)
    p.advance(off_at + later)
    assert p.voltage_v == pytest.approx(expected, rel=1e-6, abs=1e-9)
    if tau * math.log(start / SAFE_VOLTAGE_V) + 1e-6 < window:
        assert p.voltage_v < SAFE_VOLTAGE_V
