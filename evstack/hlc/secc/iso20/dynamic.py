"""ISO 15118-20 control modes on the SECC side: the parameter sets offered, and the dynamic
control mode, in which the charger, not the EV, decides the power.

Parameter sets (ServiceDetailRes): set 1 is the scheduled mode (ControlMode 1) with the
EV's mobility needs (MobilityNeedsMode 1); set 2 the dynamic mode (ControlMode 2) with
MobilityNeedsMode 1 or, as configured, 2: then the charger may state the departure time,
target and minimum SoC itself, in ScheduleExchangeRes and in every charge loop response
([V2G20-2663]: MobilityNeedsMode 2 only with ControlMode 2).

In the dynamic mode the EV sends, each loop, its energy requests (EVTargetEnergyRequest,
EVMaximumEnergyRequest, EVMinimumEnergyRequest: what it wants, what it takes at most, and
what it must have, negative where it lets energy go back) and its power, current and
voltage limits, but no target. The charger charges within every limit, never more than
the EV's maximum energy request, and takes energy back (DC_BPT, AC_BPT) only when asked to
(EvseState.dynamic_power below zero) and only while the EV's minimum request is negative.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evstack.hlc.secc.events import EvseState
from evstack.hlc.secc.iso20.responses import number, rational

Body = dict[str, Any]

SCHEDULED, DYNAMIC = 1, 2  # ControlMode
CONTROL_MODES = {"scheduled": SCHEDULED, "dynamic": DYNAMIC}
PARAMETER_SET_ID = {SCHEDULED: 1, DYNAMIC: 2}


@dataclasses.dataclass(frozen=True)
class Offer:
    """What the SECC offers: control modes in its order, and the dynamic set's
    MobilityNeedsMode."""

    control_modes: tuple[str, ...] = ("scheduled",)
    mobility_needs: int = 1

    def __post_init__(self) -> None:
        if not self.control_modes or set(self.control_modes) - set(CONTROL_MODES):
            raise ValueError(f"control modes: scheduled and/or dynamic, got {self.control_modes}")
        if self.mobility_needs not in (1, 2):
            raise ValueError(f"MobilityNeedsMode 1 or 2, got {self.mobility_needs}")

    def sets(self) -> dict[int, tuple[int, int]]:
        """{parameter set id: (ControlMode, MobilityNeedsMode)}, in the SECC's order."""
        out: dict[int, tuple[int, int]] = {}
        for name in self.control_modes:
            mode = CONTROL_MODES[name]
            out[PARAMETER_SET_ID[mode]] = (mode, self.mobility_needs if mode == DYNAMIC else 1)
        return out


@dataclasses.dataclass(frozen=True)
class EnergyRequest:
    target_wh: float
    max_wh: float
    min_wh: float
    departure_time: int | None  # s from now

    @classmethod
    def of(cls, control: Body) -> EnergyRequest:
        departure = control.get("DepartureTime")
        return cls(
            number(control["EVTargetEnergyRequest"]),
            number(control["EVMaximumEnergyRequest"]),
            number(control["EVMinimumEnergyRequest"]),
            None if departure is None else int(departure),
        )


def mobility_needs(evse: EvseState) -> Body:
    """The charger's own mobility needs (MobilityNeedsMode 2), those it has."""
    needs: Body = {}
    if evse.mobility_departure_time is not None:
        needs["DepartureTime"] = evse.mobility_departure_time
    if evse.mobility_minimum_soc is not None:
        needs["MinimumSOC"] = evse.mobility_minimum_soc
    if evse.mobility_target_soc is not None:
        needs["TargetSOC"] = evse.mobility_target_soc
    return needs


def dc_target(control: Body, present_voltage: float, evse: EvseState) -> tuple[float, float]:
    """(voltage limit, current) for the supply from one Dynamic_DC_CLReqControlMode or
    BPT_Dynamic_DC_CLReqControlMode; a negative current takes energy back."""
    energy = EnergyRequest.of(control)
    voltage = min(number(control["EVMaximumVoltage"]), evse.max_voltage)
    # Power to current at the output's voltage: the charger's own measurement, the EV's
    # word only where the charger has none yet (a peer EV was seen to report 20 kV).
    present = evse.present_voltage if evse.present_voltage > 0 else present_voltage
    volts = max(present, number(control["EVMinimumVoltage"]), 1.0)
    wanted = evse.dynamic_power
    if wanted is not None and wanted < 0 and "EVMaximumDischargePower" in control:
        if energy.min_wh >= 0 or not evse.bidirectional:
            return voltage, 0.0  # the EV has nothing to spare (or the charger cannot take it)
        power = min(-wanted, number(control["EVMaximumDischargePower"]), evse.max_discharge_power)
        limit = min(number(control["EVMaximumDischargeCurrent"]), evse.max_discharge_current)
        return voltage, -min(power / volts, limit)
    if energy.max_wh <= 0:
        return voltage, 0.0  # the EV takes no more
    power = min(number(control["EVMaximumChargePower"]), evse.max_power)
    if wanted is not None:
        power = min(power, max(wanted, 0.0))
    current = min(power / volts, number(control["EVMaximumChargeCurrent"]), evse.max_current)
    return voltage, max(current, 0.0)


def dc_limits(evse: EvseState, bpt: bool, needs: Body) -> Body:
    """Dynamic_DC_CLResControlMode or its BPT form: the charger's limits now."""
    limits: Body = dict(needs)
    limits |= {
        "EVSEMaximumChargePower": rational(evse.max_power),
        "EVSEMinimumChargePower": rational(0.0),
        "EVSEMaximumChargeCurrent": rational(evse.max_current),
        "EVSEMaximumVoltage": rational(evse.max_voltage),
    }
    if bpt:
        limits |= {
            "EVSEMaximumDischargePower": rational(evse.max_discharge_power),
            "EVSEMinimumDischargePower": rational(0.0),
            "EVSEMaximumDischargeCurrent": rational(evse.max_discharge_current),
            "EVSEMinimumVoltage": rational(evse.min_voltage),
        }
    return limits


def ac_target_power(control: Body, offered: float, evse: EvseState) -> float:
    """EVSETargetActivePower from one Dynamic_AC_CLReqControlMode or its BPT form: what the
    EVSE offers, within the EV's maximum, nothing once the EV takes no more energy; negative
    (AC_BPT) when the charger asks for power back and the EV has energy to spare."""
    energy = EnergyRequest.of(control)
    wanted = evse.dynamic_power
    if wanted is not None and wanted < 0 and "EVMaximumDischargePower" in control:
        if energy.min_wh >= 0 or not evse.bidirectional:
            return 0.0
        return -min(-wanted, number(control["EVMaximumDischargePower"]), evse.max_discharge_power)
    if energy.max_wh <= 0:
        return 0.0
    power = min(offered, number(control["EVMaximumChargePower"]))
    if evse.dynamic_power is not None:
        power = min(power, max(evse.dynamic_power, 0.0))
    return max(power, 0.0)
