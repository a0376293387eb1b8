"""The DC side of high-level charging in EvseManager, with no I/O: what the SECC asks for
(cable check, precharge, the EV's targets, power delivery) turned into commands for the DC
supply and the isolation monitor, and the supply's and monitor's readings turned into what
the SECC tells the EV.

EvseManager's `Charger` core decides whether power may flow at all (pilot in C with 5 %
PWM, authorized, no fault); this core never drives the supply to a voltage while that
permission is missing, and switches it off the moment the permission goes. The energy
manager's limit caps the power (and hence the current) offered to the EV: a new limit
goes to the SECC at once, so the EV has it in the next CurrentDemandRes, and to the
supply's current set point in the same step.

Cable check (IEC 61851-23 CC.4.1, as far as a simulated IMD makes sense): the supply
holds the test voltage (the lower of the EV's and the supply's maximum) at 2 A, the
monitor runs; a measurement at that voltage above 500 ohm per volt is valid, 100 to 500
a warning, below a fault. Then the supply switches off and the check is reported once the
output is below 60 V. The monitor keeps measuring while energy flows; a fault stops it.
"""

from __future__ import annotations

import dataclasses
from typing import TypedDict

from evstack.hlc.secc import events as hlc

VALID_OHM_PER_V = 500.0
FAULT_OHM_PER_V = 100.0
SAFE_V = 60.0  # touch-safe: the cable check reports only below this
CABLE_CHECK_CURRENT_A = 2.0
PRE_CHARGE_CURRENT_A = 2.0
VOLTAGE_REACHED = 0.95  # of the test voltage, for a measurement to count


@dataclasses.dataclass(frozen=True)
class SupplyMode:
    mode: str  # power_supply_DC Mode: Off, Export
    phase: str  # ChargingPhase: CableCheck, PreCharge, Charging, Other


@dataclasses.dataclass(frozen=True)
class SupplyExport:
    voltage: float
    current: float


@dataclasses.dataclass(frozen=True)
class SupplyImport:
    """Take current from the EV down to `voltage`, at most `current` (BPT)."""

    voltage: float
    current: float


@dataclasses.dataclass(frozen=True)
class Imd:
    run: bool


class SeccFields(TypedDict, total=False):
    """Fields of the SECC's EvseState (evstack.hlc.secc.events), by name."""

    power_allowed: bool
    present_voltage: float
    present_current: float
    max_voltage: float
    max_current: float
    max_power: float
    min_voltage: float
    min_current: float
    isolation: hlc.IsolationStatus
    cable_check: bool | None
    malfunction: bool
    bidirectional: bool
    max_discharge_current: float
    max_discharge_power: float


@dataclasses.dataclass(frozen=True)
class ToSecc:
    """What to tell the SECC (ISO15118_charger commands in the module)."""

    fields: SeccFields


Command = SupplyMode | SupplyExport | SupplyImport | Imd | ToSecc


@dataclasses.dataclass
class SupplyLimits:
    max_voltage: float = 500.0
    min_voltage: float = 50.0
    max_current: float = 200.0
    min_current: float = 0.0
    max_power: float = 100_000.0
    max_discharge_current: float = 0.0  # 0: the supply cannot take energy back
    max_discharge_power: float = 0.0


class DcHlc:
    def __init__(self, limits: SupplyLimits):
        self.limits = limits
        self.energy_limit_w: float | None = None
        self.power_allowed = False
        self.phase = "Idle"  # Idle, CableCheck, CableCheckDischarge, PreCharge, Charging
        self.present = (0.0, 0.0)
        self._test_voltage = 0.0
        self._target = (0.0, 0.0)
        self._offered: tuple[float, float, float] | None = None
        self._cable_check_wanted = False
        self._ev_max_voltage: float | None = None
        self._mode: str | None = None  # the supply's mode while charging: Export or Import

    # -- the SECC ------------------------------------------------------------------------

    def on_hlc(self, event: hlc.Event) -> list[Command]:
        out: list[Command] = []
        match event:
            case hlc.EvChargeParameters(max_voltage=v):
                self._ev_max_voltage = v
            case hlc.StartCableCheck():
                self._cable_check_wanted = True
                self._start_cable_check(out)
            case hlc.StartPreCharge():
                self.phase = "PreCharge"
            case hlc.EvTarget(voltage=v, current=i):
                self._target = (v, i)
                self._follow_target(out)
            case hlc.PowerDelivery(start=True):
                if self.power_allowed and self.phase != "Charging":
                    self.phase = "Charging"
                    self._mode = "Export"
                    out.append(SupplyMode("Export", "Charging"))
                    self._follow_target(out)
            case hlc.PowerDelivery(start=False) | hlc.SessionEnded():
                self._off(out)
        return out

    # -- the Charger core and the energy manager -----------------------------------------

    def set_power_allowed(self, allowed: bool) -> list[Command]:
        out: list[Command] = [ToSecc({"power_allowed": allowed})]
        self.power_allowed = allowed
        if not allowed and self.phase != "Idle":
            self._off(out)
        elif allowed and self._cable_check_wanted and self.phase == "Idle":
            self._start_cable_check(out)
        return out

    def set_energy_limit(self, watts: float | None) -> list[Command]:
        self.energy_limit_w = watts
        out: list[Command] = []
        self._offer(out)
        if self.phase == "Charging":
            self._follow_target(out)
        return out

    def set_limits(self, limits: SupplyLimits) -> list[Command]:
        self.limits = limits
        out: list[Command] = [
            ToSecc(
                {
                    "min_voltage": limits.min_voltage,
                    "min_current": limits.min_current,
                    "bidirectional": limits.max_discharge_current > 0,
                    "max_discharge_current": limits.max_discharge_current,
                    "max_discharge_power": limits.max_discharge_power,
                }
            )
        ]
        self._offer(out)
        return out

    # -- the supply and the monitor ------------------------------------------------------

    def on_supply(self, voltage: float, current: float) -> list[Command]:
        self.present = (voltage, current)
        out: list[Command] = [ToSecc({"present_voltage": voltage, "present_current": current})]
        if self.phase == "CableCheckDischarge" and voltage < SAFE_V:
            self.phase = "Idle"
            self._cable_check_wanted = False
            out.append(ToSecc({"cable_check": True}))
        self._offer(out)  # the current limit follows the voltage at constant power
        return out

    def on_isolation(self, resistance_ohm: float, voltage: float) -> list[Command]:
        out: list[Command] = []
        status = self._judge(resistance_ohm)
        if self.phase == "CableCheck":
            if voltage < VOLTAGE_REACHED * self._test_voltage:
                return out  # not at the test voltage yet: proves nothing
            out.append(ToSecc({"isolation": status}))
            if status is hlc.IsolationStatus.FAULT:
                out.append(ToSecc({"cable_check": False}))
                self._off(out)
            else:
                self.phase = "CableCheckDischarge"
                out.append(SupplyMode("Off", "CableCheck"))
        elif self.phase in ("PreCharge", "Charging") and status is hlc.IsolationStatus.FAULT:
            out.append(ToSecc({"isolation": status, "malfunction": True}))
            self._off(out)
        return out

    # -- helpers -------------------------------------------------------------------------

    def _judge(self, resistance_ohm: float) -> hlc.IsolationStatus:
        rated = self.limits.max_voltage
        if resistance_ohm > VALID_OHM_PER_V * rated:
            return hlc.IsolationStatus.VALID
        if resistance_ohm > FAULT_OHM_PER_V * rated:
            return hlc.IsolationStatus.WARNING
        return hlc.IsolationStatus.FAULT

    def _start_cable_check(self, out: list[Command]) -> None:
        if not self.power_allowed:
            return  # EvseManager has not allowed power: the SECC answers Ongoing meanwhile
        ev_max = self._ev_max_voltage or self.limits.max_voltage
        self._test_voltage = min(ev_max, self.limits.max_voltage)
        self.phase = "CableCheck"
        out += [
            ToSecc({"cable_check": None, "isolation": hlc.IsolationStatus.INVALID}),
            Imd(True),
            SupplyExport(self._test_voltage, CABLE_CHECK_CURRENT_A),
            SupplyMode("Export", "CableCheck"),
        ]

    def _follow_target(self, out: list[Command]) -> None:
        voltage, current = self._target
        if not self.power_allowed:
            return
        # Never above what the supply, or the EV, said it takes (an EV asking more is wrong).
        voltage = min(voltage, self.limits.max_voltage, self._ev_max_voltage or voltage)
        if self.phase == "PreCharge":
            out.append(SupplyExport(voltage, min(current, PRE_CHARGE_CURRENT_A)))
            out.append(SupplyMode("Export", "PreCharge"))
        elif self.phase == "Charging" and current < 0:
            # Energy back (BPT): the supply imports, within its own import limits.
            lim = self.limits
            back = min(-current, lim.max_discharge_current)
            back = min(back, lim.max_discharge_power / max(self.present[0], lim.min_voltage, 1.0))
            out.append(SupplyImport(lim.min_voltage, back))
            if self._mode != "Import":
                self._mode = "Import"
                out.append(SupplyMode("Import", "Charging"))
        elif self.phase == "Charging":
            _, max_current, _ = self._limits_now()
            out.append(SupplyExport(voltage, min(current, max_current)))
            if self._mode != "Export":
                self._mode = "Export"
                out.append(SupplyMode("Export", "Charging"))

    def _limits_now(self) -> tuple[float, float, float]:
        lim = self.limits
        power = lim.max_power
        if self.energy_limit_w is not None:
            power = max(0.0, min(power, self.energy_limit_w))
        voltage = max(self.present[0], lim.min_voltage, 1.0)
        return lim.max_voltage, min(lim.max_current, power / voltage), power

    def _offer(self, out: list[Command]) -> None:
        offered = self._limits_now()
        if offered != self._offered:
            self._offered = offered
            v, i, p = offered
            out.append(ToSecc({"max_voltage": v, "max_current": i, "max_power": p}))

    def _off(self, out: list[Command]) -> None:
        if self.phase != "Idle" or self._target != (0.0, 0.0):
            out.append(SupplyMode("Off", "Other"))
        self.phase = "Idle"
        self._mode = None
        self._target = (0.0, 0.0)
        self._cable_check_wanted = False
        out.append(Imd(False))
