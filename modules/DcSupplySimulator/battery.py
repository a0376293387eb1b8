"""The EV's traction battery: an open-circuit voltage that follows the state of charge,
behind an internal resistance, and the limits its battery management asks a charger for.

The battery takes whatever current the circuit drives through it: (terminal voltage -
open-circuit voltage) / internal resistance. Near full that current falls by itself as the
open-circuit voltage climbs towards the charger's voltage limit (the constant-voltage part
of a charge); the battery management's own taper (`max_charge_current_a`) is what a
charging EV asks the charger for.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

# Open-circuit voltage against state of charge, both as fractions of the way from empty to
# full: the shape of a lithium-ion pack, steep at both ends and flat in the middle.
_OCV_SOC = (0.0, 0.05, 0.10, 0.30, 0.60, 0.80, 0.95, 1.0)
_OCV_LEVEL = (0.0, 0.30, 0.42, 0.55, 0.68, 0.79, 0.92, 1.0)
# Beyond full (or empty) a cell's voltage runs away; the curve goes on this much steeper.
_RUNAWAY = 10.0


@dataclass(frozen=True)
class BatteryConfig:
    capacity_wh: float = 60_000.0
    empty_voltage_v: float = 300.0
    full_voltage_v: float = 400.0
    internal_resistance_ohm: float = 0.1
    max_voltage_v: float = 410.0  # what the EV tells a charger it accepts at most
    max_charge_current_a: float = 200.0
    max_discharge_current_a: float = 100.0  # 0: the EV cannot give power back
    taper_from_soc_percent: float = 80.0
    isolation_resistance_ohm: float = 10e6  # its high-voltage system to earth

    def __post_init__(self) -> None:
        if not 0 < self.empty_voltage_v < self.full_voltage_v:
            raise ValueError("a battery's full voltage must be above its empty voltage")
        if self.capacity_wh <= 0 or self.internal_resistance_ohm <= 0:
            raise ValueError("a battery needs a positive capacity and internal resistance")


def _level(soc: float) -> float:
    """The open-circuit voltage's fraction of the way from empty to full at `soc` (0..1)."""
    if soc <= 0.0:
        return _OCV_LEVEL[0] + soc * _RUNAWAY * _slope(0)
    if soc >= 1.0:
        return _OCV_LEVEL[-1] + (soc - 1.0) * _RUNAWAY * _slope(len(_OCV_SOC) - 2)
    i = bisect.bisect_right(_OCV_SOC, soc) - 1
    return _OCV_LEVEL[i] + (soc - _OCV_SOC[i]) * _slope(i)


def _slope(i: int) -> float:
    return (_OCV_LEVEL[i + 1] - _OCV_LEVEL[i]) / (_OCV_SOC[i + 1] - _OCV_SOC[i])


class Battery:
    """State of charge and what follows from it.

    The state of charge counts energy: what the cells store (open-circuit voltage times
    charge) over the capacity. It is not clamped: a battery pushed past full stores the
    energy all the same, at a voltage that runs away, so no energy ever goes missing; what
    the EV reports is clamped to 0..100 %.
    """

    def __init__(self, config: BatteryConfig, soc_percent: float) -> None:
        self.config = config
        self.soc_percent = soc_percent

    @property
    def open_circuit_voltage_v(self) -> float:
        c = self.config
        return c.empty_voltage_v + _level(self.soc_percent / 100.0) * (
            c.full_voltage_v - c.empty_voltage_v
        )

    @property
    def reported_soc_percent(self) -> float:
        return min(max(self.soc_percent, 0.0), 100.0)

    @property
    def max_charge_current_a(self) -> float:
        """What the battery management accepts now: all of it, then less towards full."""
        c = self.config
        if self.soc_percent <= c.taper_from_soc_percent:
            return c.max_charge_current_a
        if self.soc_percent >= 100.0:
            return 0.0
        left = (100.0 - self.soc_percent) / (100.0 - c.taper_from_soc_percent)
        return c.max_charge_current_a * left

    @property
    def max_discharge_current_a(self) -> float:
        return self.config.max_discharge_current_a if self.soc_percent > 0.0 else 0.0

    def store(self, energy_wh: float) -> None:
        """Energy into the cells (negative: out of them)."""
        self.soc_percent += energy_wh / self.config.capacity_wh * 100.0
