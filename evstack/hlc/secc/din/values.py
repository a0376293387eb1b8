"""What DIN 70121 and ISO 15118-2 DC share on the SECC side: PhysicalValueType (a 16-bit
value times ten to a multiplier of -3..3), the DC response parts both schemas define alike,
and reading the EV's DC status and targets out of a request."""

from __future__ import annotations

from typing import Any

from evstack.hlc.secc import events as ev
from evstack.hlc.secc.events import EvseState, Output

Body = dict[str, Any]

SERVICE_ID_CHARGING = 1
SA_SCHEDULE_TUPLE_ID = 1
DAY = 86400  # seconds: the one schedule entry both protocols offer

_INT16 = 32767


def physical(value: float, unit: str) -> dict[str, Any]:
    """`value` in the finest multiplier whose mantissa fits 16 bits."""
    for multiplier in range(-3, 4):
        mantissa = round(value / 10**multiplier)
        if -_INT16 - 1 <= mantissa <= _INT16:
            return {"Multiplier": multiplier, "Unit": unit, "Value": mantissa}
    raise ValueError(f"{value} {unit} does not fit a DIN physical value")


def number(value: dict[str, Any]) -> float:
    return float(value["Value"]) * 10.0 ** int(value["Multiplier"])


def optional(container: dict[str, Any], key: str) -> float | None:
    return number(container[key]) if key in container else None


# -- the EV's side of a DC request ----------------------------------------------------------


def report_ev_status(body: Body, out: list[Output], *, complete: bool | None = None) -> None:
    """The DC_EVStatus of `body` as an EvStatus event (`complete`: CurrentDemand's
    ChargingComplete)."""
    status = body["DC_EVStatus"]
    ready, error, soc = bool(status["EVReady"]), str(status["EVErrorCode"]), status["EVRESSSOC"]
    out.append(ev.EvStatus(ready, error, int(soc), complete))


def report_target(body: Body, last: tuple[float, float], out: list[Output]) -> tuple[float, float]:
    """The EV's (voltage, current) target in `body`; an EvTarget event only when it moved
    from `last`, so the supply is not told the same thing every loop."""
    target = (number(body["EVTargetVoltage"]), number(body["EVTargetCurrent"]))
    if target != last:
        out.append(ev.EvTarget(*target))
    return target


# -- DC response parts ---------------------------------------------------------------------


def dc_evse_status(evse: EvseState, *, cable_check_running: bool = False) -> Body:
    if evse.malfunction:
        code = "EVSE_Malfunction"
    elif evse.stop_requested:
        code = "EVSE_Shutdown"
    elif cable_check_running:
        code = "EVSE_IsolationMonitoringActive"
    else:
        code = "EVSE_Ready"
    return {
        "NotificationMaxDelay": 0,
        "EVSENotification": "StopCharging" if evse.stop_requested else "None",
        "EVSEIsolationStatus": evse.isolation.value,
        "EVSEStatusCode": code,
    }


def dc_charge_parameter(evse: EvseState) -> Body:
    body: Body = {
        "DC_EVSEStatus": dc_evse_status(evse),
        "EVSEMaximumCurrentLimit": physical(evse.max_current, "A"),
        "EVSEMaximumPowerLimit": physical(evse.max_power, "W"),
        "EVSEMaximumVoltageLimit": physical(evse.max_voltage, "V"),
        "EVSEMinimumCurrentLimit": physical(evse.min_current, "A"),
        "EVSEMinimumVoltageLimit": physical(evse.min_voltage, "V"),
    }
    if evse.current_regulation_tolerance is not None:
        body["EVSECurrentRegulationTolerance"] = physical(evse.current_regulation_tolerance, "A")
    body["EVSEPeakCurrentRipple"] = physical(evse.peak_current_ripple, "A")
    if evse.energy_to_be_delivered is not None:
        body["EVSEEnergyToBeDelivered"] = physical(evse.energy_to_be_delivered, "Wh")
    return body


def cable_check(code: str, evse: EvseState, finished: bool) -> Body:
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse, cable_check_running=not finished),
        "EVSEProcessing": "Finished" if finished else "Ongoing",
    }


def present_voltage(code: str, evse: EvseState) -> Body:
    """PreChargeRes and WeldingDetectionRes."""
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse),
        "EVSEPresentVoltage": physical(evse.present_voltage, "V"),
    }


def current_demand(
    code: str, evse: EvseState, target_voltage: float, target_current: float
) -> Body:
    """CurrentDemandRes as DIN defines it (ISO-2 adds the EVSE's id and the schedule)."""
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse),
        "EVSEPresentVoltage": physical(evse.present_voltage, "V"),
        "EVSEPresentCurrent": physical(evse.present_current, "A"),
        "EVSECurrentLimitAchieved": target_current >= evse.max_current,
        "EVSEVoltageLimitAchieved": target_voltage >= evse.max_voltage,
        "EVSEPowerLimitAchieved": target_voltage * target_current >= evse.max_power,
        "EVSEMaximumVoltageLimit": physical(evse.max_voltage, "V"),
        "EVSEMaximumCurrentLimit": physical(evse.max_current, "A"),
        "EVSEMaximumPowerLimit": physical(evse.max_power, "W"),
    }
