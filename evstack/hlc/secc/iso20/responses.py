"""ISO 15118-20 response bodies (AC, DC, AC_BPT, DC_BPT, EIM, scheduled and dynamic
control modes), from the charger's present state; each takes the response code, so a
FAILED response still carries every mandatory element. The header is added by the
machine's framing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstack.hlc.secc.events import EvseState

Body = dict[str, Any]

AC_SERVICE = 1  # ISO 15118-20 Table 204: 1 AC, 2 DC, 5 AC_BPT, 6 DC_BPT
DC_SERVICE = 2
AC_BPT_SERVICE = 5
DC_BPT_SERVICE = 6
NOMINAL_FREQUENCY = 50.0
SCHEDULED_SET = {1: (1, 1)}  # {parameter set: (ControlMode, MobilityNeedsMode)}
SCHEDULE_TUPLE = 1
_DAY = 86400


def rational(value: float) -> Body:
    """An ISO-20 RationalNumber: a 16-bit value with the finest exponent (-3..3) that fits."""
    for exponent in range(-3, 4):
        scaled = round(value / 10**exponent)
        if -32768 <= scaled <= 32767:
            return {"Exponent": exponent, "Value": scaled}
    raise ValueError(f"{value} does not fit a RationalNumber")


def number(value: Body) -> float:
    return float(value["Value"]) * 10.0 ** int(value["Exponent"])


def evse_status(evse: EvseState) -> Body | None:
    """EVSEStatus, only when the charger has something to say (it is optional)."""
    if evse.stop_requested or evse.malfunction:
        return {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
    return None


def code_only(code: str) -> Body:
    return {"ResponseCode": code}


def session_setup(code: str, evse: EvseState) -> Body:
    return {"ResponseCode": code, "EVSEID": evse.evse_id_iso}


def authorization_setup(code: str) -> Body:
    return {
        "ResponseCode": code,
        "AuthorizationServices": ["EIM"],
        "CertificateInstallationService": False,
        "EIM_ASResAuthorizationMode": {},
    }


def processing(code: str, finished: bool) -> Body:
    """AuthorizationRes, ScheduleExchangeRes without a schedule, DC_CableCheckRes."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished" if finished else "Ongoing"}


def services(evse: EvseState) -> list[int]:
    offered = []
    if any(m.startswith("AC") for m in evse.energy_modes):
        offered += [AC_SERVICE, AC_BPT_SERVICE] if evse.bidirectional else [AC_SERVICE]
    if any(m.startswith("DC") for m in evse.energy_modes):
        offered += [DC_SERVICE, DC_BPT_SERVICE] if evse.bidirectional else [DC_SERVICE]
    return offered


def service_discovery(code: str, evse: EvseState) -> Body:
    offered = [{"ServiceID": service, "FreeService": False} for service in services(evse)]
    return {
        "ResponseCode": code,
        "ServiceRenegotiationSupported": False,
        "EnergyTransferServiceList": {"Service": offered},
    }


def service_detail(
    code: str,
    service_id: int = DC_SERVICE,
    evse: EvseState | None = None,
    sets: dict[int, tuple[int, int]] | None = None,
) -> Body:
    """`sets`: {parameter set id: (ControlMode, MobilityNeedsMode)}, one ParameterSet each."""
    common = [
        # AC: 2 three phases (1 would be single phase); DC: 2 extended (CCS)
        {"@Name": "Connector", "intValue": 2},
        {"@Name": "Pricing", "intValue": 0},  # no tariff
    ]
    if service_id in (AC_SERVICE, AC_BPT_SERVICE):
        nominal = evse.ac_nominal_voltage if evse is not None else 230.0
        common.append({"@Name": "EVSENominalVoltage", "intValue": round(nominal)})
    if service_id in (AC_BPT_SERVICE, DC_BPT_SERVICE):
        common += [
            {"@Name": "BPTChannel", "intValue": 1},  # unified: one channel, both ways
            {"@Name": "GeneratorMode", "intValue": 1},  # grid following
        ]
    if service_id == AC_BPT_SERVICE:
        common.append({"@Name": "GridCodeIslandingDetectionMethod", "intValue": 1})  # active
    parameter_sets = [
        {
            "ParameterSetID": set_id,
            "Parameter": [
                *common,
                {"@Name": "ControlMode", "intValue": control_mode},
                {"@Name": "MobilityNeedsMode", "intValue": mobility_needs},
            ],
        }
        for set_id, (control_mode, mobility_needs) in (sets or SCHEDULED_SET).items()
    ]
    return {
        "ResponseCode": code,
        "ServiceID": service_id,
        "ServiceParameterList": {"ParameterSet": parameter_sets},
    }


def dc_charge_parameter_discovery(code: str, evse: EvseState, bpt: bool = False) -> Body:
    mode = {
        "EVSEMaximumChargePower": rational(evse.max_power),
        "EVSEMinimumChargePower": rational(0.0),
        "EVSEMaximumChargeCurrent": rational(evse.max_current),
        "EVSEMinimumChargeCurrent": rational(evse.min_current),
        "EVSEMaximumVoltage": rational(evse.max_voltage),
        "EVSEMinimumVoltage": rational(evse.min_voltage),
    }
    if not bpt:
        return {"ResponseCode": code, "DC_CPDResEnergyTransferMode": mode}
    mode |= {
        "EVSEMaximumDischargePower": rational(evse.max_discharge_power),
        "EVSEMinimumDischargePower": rational(0.0),
        "EVSEMaximumDischargeCurrent": rational(evse.max_discharge_current),
        "EVSEMinimumDischargeCurrent": rational(0.0),
    }
    return {"ResponseCode": code, "BPT_DC_CPDResEnergyTransferMode": mode}


def _prices(unix_now: int) -> Body:
    # One price level all day: the XSD makes prices optional, but the `iso15118` package's
    # EVCC refuses a ChargingSchedule without a price schedule of either kind.
    return {
        "TimeAnchor": unix_now,
        "PriceScheduleID": 1,
        "NumberOfPriceLevels": 1,
        "PriceLevelScheduleEntries": {
            "PriceLevelScheduleEntry": [{"Duration": _DAY, "PriceLevel": 0}]
        },
    }


def schedule_exchange(code: str, evse: EvseState, unix_now: int) -> Body:
    entry = {"Duration": _DAY, "Power": rational(evse.max_power)}
    schedule = {
        "TimeAnchor": unix_now,
        "PowerScheduleEntries": {"PowerScheduleEntry": [entry]},
    }
    charging = {"PowerSchedule": schedule, "PriceLevelSchedule": _prices(unix_now)}
    return {
        "ResponseCode": code,
        "EVSEProcessing": "Finished",
        "Scheduled_SEResControlMode": {
            "ScheduleTuple": [{"ScheduleTupleID": SCHEDULE_TUPLE, "ChargingSchedule": charging}]
        },
    }


def dynamic_schedule_exchange(code: str, unix_now: int, needs: Body) -> Body:
    """`needs`: the charger's mobility needs (MobilityNeedsMode 2), else empty."""
    mode = needs | {"PriceLevelSchedule": _prices(unix_now)}
    return {"ResponseCode": code, "EVSEProcessing": "Finished", "Dynamic_SEResControlMode": mode}


def present_voltage(code: str, evse: EvseState) -> Body:
    """DC_PreChargeRes, DC_WeldingDetectionRes."""
    return {"ResponseCode": code, "EVSEPresentVoltage": rational(evse.present_voltage)}


def power_delivery(code: str, evse: EvseState) -> Body:
    body: Body = {"ResponseCode": code}
    status = evse_status(evse)
    if status is not None:
        body["EVSEStatus"] = status
    return body


def dc_charge_loop(
    code: str,
    evse: EvseState,
    voltage: float,
    current: float,
    bpt: bool = False,
    dynamic: Body | None = None,
) -> Body:
    """Negative currents (BPT) flow from the EV and are judged by the discharge limits.
    `dynamic`: the dynamic control mode's limits (else the scheduled mode's)."""
    body: Body = {"ResponseCode": code}
    status = evse_status(evse)
    if status is not None:
        body["EVSEStatus"] = status
    back = current < 0
    max_current = evse.max_discharge_current if back else evse.max_current
    max_power = evse.max_discharge_power if back else evse.max_power
    limits = {
        "EVSEMaximumChargePower": rational(evse.max_power),
        "EVSEMaximumChargeCurrent": rational(evse.max_current),
        "EVSEMaximumVoltage": rational(evse.max_voltage),
    }
    if bpt:
        limits |= {
            "EVSEMaximumDischargePower": rational(evse.max_discharge_power),
            "EVSEMaximumDischargeCurrent": rational(evse.max_discharge_current),
        }
    body |= {
        "EVSEPresentCurrent": rational(evse.present_current),
        "EVSEPresentVoltage": rational(evse.present_voltage),
        "EVSEPowerLimitAchieved": voltage * abs(current) >= max_power,
        "EVSECurrentLimitAchieved": abs(current) >= max_current,
        "EVSEVoltageLimitAchieved": voltage >= evse.max_voltage,
    }
    mode = "Dynamic" if dynamic is not None else "Scheduled"
    key = f"BPT_{mode}_DC_CLResControlMode" if bpt else f"{mode}_DC_CLResControlMode"
    body[key] = limits if dynamic is None else dynamic
    return body


def ac_power(evse: EvseState) -> float:
    """What the EVSE offers on AC, all three phases."""
    return min(evse.max_power, evse.ac_max_current * evse.ac_nominal_voltage * 3)


def ac_charge_parameter_discovery(code: str, evse: EvseState, bpt: bool = False) -> Body:
    mode = {
        "EVSEMaximumChargePower": rational(ac_power(evse)),
        "EVSEMinimumChargePower": rational(0.0),
        "EVSENominalFrequency": rational(NOMINAL_FREQUENCY),
    }
    if not bpt:
        return {"ResponseCode": code, "AC_CPDResEnergyTransferMode": mode}
    mode |= {
        "EVSEMaximumDischargePower": rational(evse.max_discharge_power),
        "EVSEMinimumDischargePower": rational(0.0),
    }
    return {"ResponseCode": code, "BPT_AC_CPDResEnergyTransferMode": mode}


def ac_charge_loop(
    code: str,
    evse: EvseState,
    dynamic: Body | None = None,
    *,
    bpt: bool = False,
    back: bool = False,
) -> Body:
    """`dynamic`: the dynamic control mode's part (mobility needs, target power). In the
    scheduled mode the EVSE's target active power is what it offers now, negative while the
    EV of an AC_BPT session gives power back (`back`)."""
    body: Body = {"ResponseCode": code}
    status = evse_status(evse)
    if status is not None:
        body["EVSEStatus"] = status
    prefix = "BPT_" if bpt else ""
    if dynamic is not None:
        body[f"{prefix}Dynamic_AC_CLResControlMode"] = dynamic
    else:
        target = -evse.max_discharge_power if back else ac_power(evse)
        body[f"{prefix}Scheduled_AC_CLResControlMode"] = {"EVSETargetActivePower": rational(target)}
    return body


def failure(request: str, code: str, evse: EvseState, bpt: bool = False) -> Body | None:
    builders: dict[str, Callable[[], Body]] = {
        "SessionSetupReq": lambda: session_setup(code, evse),
        "AuthorizationSetupReq": lambda: authorization_setup(code),
        "AuthorizationReq": lambda: processing(code, True),
        "ServiceDiscoveryReq": lambda: service_discovery(code, evse),
        "ServiceDetailReq": lambda: service_detail(code),
        "ServiceSelectionReq": lambda: code_only(code),
        "DC_ChargeParameterDiscoveryReq": lambda: dc_charge_parameter_discovery(code, evse, bpt),
        "ScheduleExchangeReq": lambda: schedule_exchange(code, evse, 0),
        "DC_CableCheckReq": lambda: processing(code, True),
        "DC_PreChargeReq": lambda: present_voltage(code, evse),
        "PowerDeliveryReq": lambda: power_delivery(code, evse),
        "DC_ChargeLoopReq": lambda: dc_charge_loop(code, evse, 0.0, 0.0, bpt),
        "DC_WeldingDetectionReq": lambda: present_voltage(code, evse),
        "AC_ChargeParameterDiscoveryReq": lambda: ac_charge_parameter_discovery(code, evse, bpt),
        "AC_ChargeLoopReq": lambda: ac_charge_loop(code, evse, bpt=bpt),
        "SessionStopReq": lambda: code_only(code),
    }
    build = builders.get(request)
    return build() if build else None
