"""The EV's traction battery as the EVCC sees it: what it asks for and what it takes.

A lumped model, enough to shape the requests the way a car's BMS would: the open-circuit
voltage rises over the state of charge along a piecewise-linear curve, the charge current is
flat up to `taper_soc` and then falls linearly to `min_current` at full, and the terminal
voltage is the open-circuit voltage plus the drop over the internal resistance. Energy into
the battery is counted at its terminals; the state of charge follows what reaches the cells.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right

# A 400 V class pack: (state of charge 0..1, open-circuit volts).
DEFAULT_OCV = ((0.0, 320.0), (0.1, 350.0), (0.5, 370.0), (0.9, 395.0), (1.0, 410.0))


@dataclasses.dataclass
class Battery:
    capacity_wh: float = 60_000.0
    soc: float = 0.3
    ocv_curve: tuple[tuple[float, float], ...] = DEFAULT_OCV
    max_voltage: float = 420.0
    max_current: float = 150.0
    max_power: float = 60_000.0
    min_current: float = 5.0
    taper_soc: float = 0.8
    bulk_soc: float = 0.8
    target_soc: float = 1.0  # the EV stops asking at this state of charge
    min_soc: float = 0.2  # a bidirectional EV stops giving energy back at this one
    max_discharge_current: float = 100.0
    max_discharge_power: float = 11_000.0
    resistance_ohm: float = 0.08
    # AC: the on-board charger's limits and the grid it sees.
    ac_max_current: float = 16.0
    ac_min_current: float = 6.0
    ac_phases: int = 3
    ac_voltage: float = 230.0
    energy_in_wh: float = 0.0
    energy_out_wh: float = 0.0

    def __post_init__(self) -> None:
        socs = [point[0] for point in self.ocv_curve]
        if socs != sorted(socs) or len(socs) < 2:
            raise ValueError("ocv_curve: at least two points, in rising state of charge")
        if not 0.0 <= self.soc <= 1.0:
            raise ValueError(f"soc {self.soc} outside 0..1")

    @property
    def soc_percent(self) -> int:
        return max(0, min(100, round(self.soc * 100)))

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc

    @property
    def bulk_complete(self) -> bool:
        return self.soc >= self.bulk_soc

    def ocv(self) -> float:
        points = self.ocv_curve
        socs = [point[0] for point in points]
        i = min(max(bisect_right(socs, self.soc) - 1, 0), len(points) - 2)
        (s0, v0), (s1, v1) = points[i], points[i + 1]
        return v0 + (v1 - v0) * (min(max(self.soc, s0), s1) - s0) / (s1 - s0)

    def current_limit(self) -> float:
        """What the cells take now: flat, then a linear taper to `min_current` at full."""
        if self.full:
            return 0.0
        if self.soc <= self.taper_soc:
            return self.max_current
        share = (1.0 - self.soc) / (1.0 - self.taper_soc)
        return self.min_current + (self.max_current - self.min_current) * share

    def target_current(
        self, evse_max_current: float | None = None, evse_max_power: float | None = None
    ) -> float:
        """The DC current to ask for: the cells' limit, the pack's power limit and the
        charger's announced limits, whichever is lowest."""
        current = min(self.current_limit(), self.max_power / self.target_voltage())
        if evse_max_current is not None:
            current = min(current, evse_max_current)
        if evse_max_power is not None:
            current = min(current, evse_max_power / self.target_voltage())
        return max(0.0, current)

    def discharge_current(
        self, evse_max_current: float | None = None, evse_max_power: float | None = None
    ) -> float:
        """The current (positive, out of the pack) to give back: the pack's and the charger's
        discharge limits, none below `min_soc`."""
        if self.soc <= self.min_soc:
            return 0.0
        volts = self.ocv()
        current = min(self.max_discharge_current, self.max_discharge_power / volts)
        if evse_max_current is not None:
            current = min(current, evse_max_current)
        if evse_max_power is not None:
            current = min(current, evse_max_power / volts)
        return max(0.0, current)

    def target_voltage(self) -> float:
        """The voltage at which the pack takes its current limit (CC), capped (CV)."""
        return min(self.max_voltage, self.ocv() + self.current_limit() * self.resistance_ohm)

    def ac_current(self, evse_max_current: float | None = None) -> float:
        """Per phase, what the on-board charger draws: its limit, the cells' and the EVSE's."""
        cells = self.current_limit() * self.ocv() / (self.ac_voltage * self.ac_phases)
        current = min(self.ac_max_current, cells)
        if evse_max_current is not None:
            current = min(current, evse_max_current)
        return current if current >= self.ac_min_current else 0.0

    def exchange(self, voltage: float, current: float, seconds: float) -> float:
        """Energy (Wh) through the terminals at `voltage` and `current` (negative: out of the
        pack) for `seconds`; the state of charge moves by what reaches the cells."""
        if seconds <= 0.0 or current == 0.0:
            return 0.0
        energy = voltage * current * seconds / 3600.0
        stored = (voltage - abs(current) * self.resistance_ohm) * current * seconds / 3600.0
        self.soc = min(1.0, max(0.0, self.soc + stored / self.capacity_wh))
        if energy > 0:
            self.energy_in_wh += energy
        else:
            self.energy_out_wh -= energy
        return energy

    def seconds_to(self, soc: float, current: float) -> int:
        """A BMS-style estimate of the time to reach `soc` at `current`."""
        if current <= 0.0 or self.soc >= soc:
            return 0
        need_wh = (soc - self.soc) * self.capacity_wh
        return int(need_wh * 3600.0 / (self.ocv() * current))
