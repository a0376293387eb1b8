"""A DC charger's power path and the EV at its end, simulated in one place with no I/O.

    converter --+-- C -- bleeder -- discharge* --[output contactor]-- meter -- cable --
                 (the supply's output: voltage v)                    IMD on the cable
    -- inlet --[EV contactor]-- battery: OCV(SoC) behind R

    * switched across the output for a while after the supply switches off (active
      discharge; pulse-rated, so it would not drain a battery still connected for long)

`DcPowerPath` holds all of it, so the parts cannot disagree: the voltage the EV sees at
its inlet is the supply's output voltage whenever the output contactor is closed, the
current through the meter is the battery's, and the isolation monitor reads the cable.
The supply side is driven with the power_supply_DC commands, the EV side with the
ev_dc_inlet ones, the monitor with isolation_monitor's; :meth:`DcPowerPath.advance`
moves simulated time forward and returns what the monitor reported meanwhile.

The converter is a constant-voltage / constant-current source. In Export it holds its
output at the voltage set point unless that takes more than the current limit or the
power limit; it never sinks current. In Import it takes current from the EV, up to its
limits, as long as the output is above the import voltage. Set points rise at the
configured ramp rates and fall at once: a supply never gives more than it was last told,
and it takes time to give more. Within each step the circuit is solved exactly (rc.py),
which makes precharge, discharge and the battery's current agree with the energy ledger.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from evstack.modules.DcSupplySimulator.battery import Battery, BatteryConfig
from evstack.modules.DcSupplySimulator.imd import ImdConfig, ImdEvent, IsolationMonitor
from evstack.modules.DcSupplySimulator.rc import gain, rc_step

SAFE_VOLTAGE_V = 60.0  # touch-safe DC, below which a discharged output counts as dead
_JOULES_PER_WH = 3600.0


class SupplyMode(enum.StrEnum):
    OFF = "Off"
    EXPORT = "Export"
    IMPORT = "Import"


@dataclass(frozen=True)
class SupplyConfig:
    bidirectional: bool = True
    max_export_voltage_v: float = 900.0
    min_export_voltage_v: float = 200.0
    max_export_current_a: float = 200.0
    min_export_current_a: float = 1.0
    max_export_power_w: float = 150_000.0
    max_import_current_a: float = 200.0
    max_import_power_w: float = 150_000.0
    voltage_ramp_v_per_s: float = 400.0
    current_ramp_a_per_s: float = 50.0
    precharge_current_a: float = 2.0  # IEC 61851-23 allows 2 A while precharging
    capacitance_f: float = 1e-3
    discharge_resistance_ohm: float = 100.0
    discharge_time_s: float = 1.0  # how long the discharge resistor stays switched in
    bleeder_resistance_ohm: float = 100_000.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_export_voltage_v <= self.max_export_voltage_v:
            raise ValueError("need 0 <= min_export_voltage <= max_export_voltage")
        if not 0 <= self.min_export_current_a <= self.max_export_current_a:
            raise ValueError("need 0 <= min_export_current <= max_export_current")
        if min(self.capacitance_f, self.discharge_resistance_ohm, self.bleeder_resistance_ohm) <= 0:
            raise ValueError("capacitance and resistances must be positive")


@dataclass(frozen=True)
class PathConfig:
    supply: SupplyConfig = field(default_factory=SupplyConfig)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    imd: ImdConfig = field(default_factory=ImdConfig)
    step_s: float = 0.01  # the longest step; the solution is exact, this is for the ramps


@dataclass
class MeterRegisters:
    """The DC meter's energy registers; they only ever grow."""

    import_wh: float = 0.0  # towards the EV
    export_wh: float = 0.0  # from the EV


@dataclass
class Ledger:
    """Where the energy went since the start (Wh). The tests balance it:
    supplied = dissipated + (energy now in C - at the start) + metered, and
    metered = stored + battery_loss."""

    supplied_wh: float = 0.0  # out of the converter (negative: into it)
    dissipated_wh: float = 0.0  # in the bleeder and the discharge resistor
    metered_wh: float = 0.0  # through the meter towards the EV
    stored_wh: float = 0.0  # into the battery's cells
    battery_loss_wh: float = 0.0  # in the battery's internal resistance


class DcPowerPath:
    def __init__(
        self,
        config: PathConfig | None = None,
        *,
        soc_percent: float = 30.0,
        start_time: float = 0.0,
        output_contactor_closed: bool = True,
    ) -> None:
        self.config = config or PathConfig()
        self.time = start_time
        self.mode = SupplyMode.OFF
        self.battery = Battery(self.config.battery, soc_percent)
        self.imd = IsolationMonitor(self.config.imd)
        self.meter = MeterRegisters()
        self.ledger = Ledger()
        self.output_contactor_closed = output_contactor_closed
        self.ev_contactor_closed = False
        self.voltage_v = 0.0  # at the supply's output terminals
        self.current_a = 0.0  # out of the converter, over the last step
        self._battery_current_a = 0.0  # over the last step, while connected
        self._export: tuple[float, float] | None = None  # set points, as applied
        self._import: tuple[float, float] | None = None
        self._precharge = False
        self._v_ref = 0.0  # the voltage set point on its ramp
        self._i_limit = 0.0  # the current limit on its ramp
        self._discharge_until = start_time

    # --- supply side (power_supply_DC) -------------------------------------------------

    def set_mode(self, mode: SupplyMode, *, precharge: bool = False) -> None:
        """Switch the converter; `precharge` holds its current at the precharge limit.

        Entering Export or Import starts soft: the voltage set point from the present
        output voltage, the current limit from zero. Off switches the discharge resistor in
        (again, if it already was off).
        """
        if mode is SupplyMode.IMPORT and not self.config.supply.bidirectional:
            raise ValueError("this supply cannot import: it is not bidirectional")
        if mode is not self.mode:
            self._v_ref = self.voltage_v
            self._i_limit = 0.0
        self.mode = mode
        self._precharge = precharge
        if mode is SupplyMode.OFF:
            self.current_a = 0.0  # the converter stops at once
            self._discharge_until = self.time + self.config.supply.discharge_time_s

    def set_export(self, voltage_v: float, current_a: float) -> tuple[float, float]:
        """The export set points, brought within the capabilities; returns what applies."""
        c = self.config.supply
        applied = (
            _clamp(voltage_v, c.min_export_voltage_v, c.max_export_voltage_v),
            _clamp(current_a, c.min_export_current_a, c.max_export_current_a),
        )
        self._export = applied
        return applied

    def set_import(self, voltage_v: float, current_a: float) -> tuple[float, float]:
        """The import set points (voltage floor, current limit), within the capabilities."""
        c = self.config.supply
        applied = (
            _clamp(voltage_v, c.min_export_voltage_v, c.max_export_voltage_v),
            _clamp(current_a, c.min_export_current_a, c.max_import_current_a),
        )
        self._import = applied
        return applied

    def set_output_contactor(self, closed: bool) -> None:
        """The charger's output contactor, as its board reports it."""
        self.output_contactor_closed = closed

    # --- EV side (ev_dc_inlet) ---------------------------------------------------------

    def set_ev_contactor(self, closed: bool) -> None:
        self.ev_contactor_closed = closed

    def set_soc(self, soc_percent: float) -> None:
        self.battery.soc_percent = soc_percent

    def inject_isolation_fault(self, resistance_ohm: float | None) -> None:
        """A leak to earth in the cable; None removes it."""
        self.imd.leak_ohm = resistance_ohm

    # --- isolation monitor (isolation_monitor) -----------------------------------------

    def imd_start(self) -> None:
        self.imd.start(self.time)

    def imd_stop(self) -> None:
        self.imd.stop()

    def imd_self_test(self) -> None:
        self.imd.start_self_test(self.time)

    # --- readings ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the battery hangs on the supply's output (both contactors closed)."""
        return self.output_contactor_closed and self.ev_contactor_closed

    @property
    def inlet_voltage_v(self) -> float:
        """What the EV measures at its inlet, and the meter and the monitor on the cable."""
        if self.output_contactor_closed:
            return self.voltage_v
        if self.ev_contactor_closed:
            return self.battery.open_circuit_voltage_v
        return 0.0

    @property
    def battery_current_a(self) -> float:
        """Into the battery (negative: out of it); what the meter measures too."""
        return self._battery_current_a if self.connected else 0.0

    @property
    def battery_voltage_v(self) -> float:
        return self.voltage_v if self.connected else self.battery.open_circuit_voltage_v

    @property
    def insulation_ohm(self) -> float:
        """The insulation the monitor sees on the cable."""
        return self.imd.resistance_ohm(
            self.ev_contactor_closed, self.config.battery.isolation_resistance_ohm
        )

    @property
    def capacitor_wh(self) -> float:
        return self.config.supply.capacitance_f * self.voltage_v**2 / 2.0 / _JOULES_PER_WH

    @property
    def discharging(self) -> bool:
        return self.mode is SupplyMode.OFF and self.time < self._discharge_until

    @property
    def next_deadline(self) -> float | None:
        """When the monitor reports next: the host should advance to it promptly."""
        return self.imd.next_deadline

    # --- time --------------------------------------------------------------------------

    def advance(self, now: float) -> list[ImdEvent]:
        """Simulate up to `now`; returns what the isolation monitor reported meanwhile."""
        events: list[ImdEvent] = []
        while True:
            if now - self.time < 1e-9:
                self.time = max(self.time, now)  # absorb float dust, never go back
            events += self.imd.due(self.time, self.insulation_ohm, self.inlet_voltage_v)
            if self.time >= now:
                return events
            end = min(self.time + self.config.step_s, now)
            deadline = self.imd.next_deadline
            if deadline is not None:
                end = min(end, deadline)  # stop at it so the monitor reads that instant
            if self.discharging:
                end = min(end, self._discharge_until)
            self._step(end - self.time)
            self.time = end

    def _step(self, h: float) -> None:
        s = self.config.supply
        self._ramp(h)
        leak = 1.0 / s.bleeder_resistance_ohm
        if self.discharging:
            leak += 1.0 / s.discharge_resistance_ohm
        v0 = self.voltage_v
        if self.connected:
            ocv = self.battery.open_circuit_voltage_v
            r = self.config.battery.internal_resistance_ohm
            total = leak + 1.0 / r
            current = self._converter_current(h, total, ocv / r, v0)
            # Solved around the battery's voltage: u = v - ocv is small, v is not.
            step = rc_step(v0 - ocv, current - leak * ocv, total, s.capacitance_f, h)
            integral_v = step.integral_v + ocv * h
            integral_v2 = step.integral_v2 + 2.0 * ocv * step.integral_v + ocv * ocv * h
            stored = ocv * step.integral_v / r / _JOULES_PER_WH
            lost = step.integral_v2 / r / _JOULES_PER_WH
            self.voltage_v = ocv + step.v_end
            self._battery_current_a = step.v_end / r
            self.battery.store(stored)
            self._meter(stored + lost)
            self.ledger.stored_wh += stored
            self.ledger.battery_loss_wh += lost
        else:
            current = self._converter_current(h, leak, 0.0, v0)
            step = rc_step(v0, current, leak, s.capacitance_f, h)
            integral_v, integral_v2 = step.integral_v, step.integral_v2
            self.voltage_v = step.v_end
            self._battery_current_a = 0.0
        self.current_a = current
        self.ledger.supplied_wh += current * integral_v / _JOULES_PER_WH
        self.ledger.dissipated_wh += leak * integral_v2 / _JOULES_PER_WH

    def _meter(self, energy_wh: float) -> None:
        self.ledger.metered_wh += energy_wh
        if energy_wh >= 0.0:
            self.meter.import_wh += energy_wh
        else:
            self.meter.export_wh -= energy_wh

    def _ramp(self, h: float) -> None:
        """Move the set points along their ramps: up at the configured rates, down at once."""
        s = self.config.supply
        if self.mode is SupplyMode.EXPORT and self._export is not None:
            voltage, current = self._export
            if self._precharge:
                current = min(current, s.precharge_current_a)
            self._v_ref = min(voltage, self._v_ref + s.voltage_ramp_v_per_s * h)
        elif self.mode is SupplyMode.IMPORT and self._import is not None:
            self._v_ref, current = self._import  # a floor, not a target: no ramp
        else:
            return
        self._i_limit = min(current, self._i_limit + s.current_ramp_a_per_s * h)

    def _converter_current(self, h: float, conductance: float, source: float, v0: float) -> float:
        """The converter's current over the next `h` seconds: what lands the output on the
        voltage set point by then, within the current and power limits.

        The circuit is linear, so the end voltage is alpha + beta * I for a converter
        current I; `source` is what else feeds the node (the battery: OCV / R).
        """
        s = self.config.supply
        if self.mode is SupplyMode.OFF:
            return 0.0
        set_points = self._export if self.mode is SupplyMode.EXPORT else self._import
        if set_points is None:
            return 0.0  # a supply told nothing gives nothing
        beta = gain(conductance, s.capacitance_f, h)
        alpha = v0 + (source - conductance * v0) * beta
        wanted = (self._v_ref - alpha) / beta
        if self.mode is SupplyMode.EXPORT:
            # Power: I * max(v0, alpha + beta I) <= P; the quadratic's root in a stable form.
            power = s.max_export_power_w
            limit = min(
                self._i_limit,
                2.0 * power / (alpha + math.sqrt(alpha * alpha + 4.0 * beta * power)),
                power / v0 if v0 > 0.0 else math.inf,
            )
            return _clamp(wanted, 0.0, limit)
        # Importing pulls the output down, so its highest voltage is the one at the start.
        highest = max(v0, alpha)
        limit = min(self._i_limit, s.max_import_power_w / highest if highest > 0.0 else math.inf)
        return _clamp(wanted, -limit, 0.0)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
