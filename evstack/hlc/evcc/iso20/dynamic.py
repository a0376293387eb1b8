"""ISO 15118-20 control modes from the EV's side: which parameter set it selects, and what
it says in the dynamic control mode, where it states needs and limits and the charger
sets the power.

The EV prefers one control mode (EvccConfig.control_mode) and takes the other where the
charger offers only that; within a mode, the charger's first set. Its energy requests:
EVTargetEnergyRequest to its target SoC, EVMaximumEnergyRequest to full, and
EVMinimumEnergyRequest to its minimum SoC, negative above it when the EV is bidirectional
(energy it can spare). Under MobilityNeedsMode 2 the charger may state a target SoC and a
departure time of its own; the EV follows the target (never below its minimum SoC).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evstack.hlc.evcc.battery import Battery

Doc = dict[str, Any]

SCHEDULED, DYNAMIC = 1, 2  # ControlMode
MODES = {"scheduled": SCHEDULED, "dynamic": DYNAMIC}
DEFAULT_DEPARTURE = 8 * 3600  # s: the dynamic mode needs a departure time; a night's stay


def rational(value: float) -> Doc:
    """An ISO-20 RationalNumber: a 16-bit value with the smallest exponent (-3..3) that fits."""
    for exponent in range(-3, 4):
        scaled = round(value / 10**exponent)
        if -32768 <= scaled <= 32767:
            return {"Exponent": exponent, "Value": scaled}
    raise ValueError(f"{value} does not fit a RationalNumber")


@dataclasses.dataclass(frozen=True)
class Selected:
    parameter_set: int
    control_mode: int
    mobility_needs: int

    @property
    def dynamic(self) -> bool:
        return self.control_mode == DYNAMIC


def select(parameter_sets: list[Doc], preferred: str) -> Selected | None:
    """The set to select from a ServiceDetailRes's ParameterSets, or None if none has a
    control mode this EV runs."""
    found: dict[int, Selected] = {}
    for parameter_set in parameter_sets:
        values = {p["@Name"]: p.get("intValue") for p in parameter_set.get("Parameter", [])}
        mode = values.get("ControlMode")
        if mode in (SCHEDULED, DYNAMIC) and mode not in found:
            needs = int(values.get("MobilityNeedsMode") or 1)
            found[mode] = Selected(int(parameter_set["ParameterSetID"]), mode, needs)
    first = MODES[preferred]
    other = DYNAMIC if first == SCHEDULED else SCHEDULED
    return found.get(first) or found.get(other)


def energy_requests(battery: Battery, bpt: bool) -> Doc:
    """EVTarget/Maximum/MinimumEnergyRequest, in Wh from the battery's present state."""
    target = max(0.0, (battery.target_soc - battery.soc) * battery.capacity_wh)
    maximum = max(0.0, (1.0 - battery.soc) * battery.capacity_wh) if target > 0 else 0.0
    minimum = (battery.min_soc - battery.soc) * battery.capacity_wh
    if not bpt:
        minimum = max(0.0, minimum)
    return {
        "EVTargetEnergyRequest": rational(target),
        "EVMaximumEnergyRequest": rational(maximum),
        "EVMinimumEnergyRequest": rational(min(minimum, target)),
    }


def schedule_request(battery: Battery, bpt: bool, departure: int | None) -> Doc:
    """Dynamic_SEReqControlMode."""
    mode: Doc = {"DepartureTime": DEFAULT_DEPARTURE if departure is None else departure}
    mode["MinimumSOC"] = round(battery.min_soc * 100)
    mode["TargetSOC"] = round(battery.target_soc * 100)
    return mode | energy_requests(battery, bpt)


def dc_loop(battery: Battery, bpt: bool, departure: int | None) -> tuple[str, Doc]:
    """(key, Dynamic_DC_CLReqControlMode or its BPT form): needs and limits, no target."""
    control: Doc = {"DepartureTime": DEFAULT_DEPARTURE if departure is None else departure}
    control |= energy_requests(battery, bpt)
    control |= {
        "EVMaximumChargePower": rational(battery.max_power),
        "EVMinimumChargePower": rational(0),
        "EVMaximumChargeCurrent": rational(battery.current_limit()),
        "EVMaximumVoltage": rational(battery.max_voltage),
        "EVMinimumVoltage": rational(battery.ocv_curve[0][1]),
    }
    if not bpt:
        return "Dynamic_DC_CLReqControlMode", control
    spare = battery.soc > battery.min_soc
    control |= {
        "EVMaximumDischargePower": rational(battery.max_discharge_power if spare else 0),
        "EVMinimumDischargePower": rational(0),
        "EVMaximumDischargeCurrent": rational(battery.max_discharge_current if spare else 0),
    }
    return "BPT_Dynamic_DC_CLReqControlMode", control


def ac_loop(
    battery: Battery, departure: int | None, max_power: float, present_power: float, bpt: bool
) -> Doc:
    """Dynamic_AC_CLReqControlMode, or its BPT form."""
    control: Doc = {"DepartureTime": DEFAULT_DEPARTURE if departure is None else departure}
    control |= energy_requests(battery, bpt)
    control |= {
        "EVMaximumChargePower": rational(max_power),
        "EVMinimumChargePower": rational(0),
        "EVPresentActivePower": rational(present_power),
        "EVPresentReactivePower": rational(0),
    }
    if bpt:
        spare = battery.soc > battery.min_soc
        control["EVMaximumDischargePower"] = rational(battery.max_discharge_power if spare else 0)
        control["EVMinimumDischargePower"] = rational(0)
    return control


def follow_needs(battery: Battery, mode: Doc) -> None:
    """Under MobilityNeedsMode 2: the charger's target SoC, never below the EV's minimum."""
    target = mode.get("TargetSOC")
    if target is not None:
        battery.target_soc = max(battery.min_soc, min(1.0, int(target) / 100))
