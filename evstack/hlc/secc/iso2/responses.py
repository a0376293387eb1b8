"""ISO 15118-2 response bodies (DC and AC, external identification), built from the
charger's present state; each takes the response code, so a FAILED response still
carries every mandatory element."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstack.hlc.secc.din.values import physical
from evstack.hlc.secc.events import EvseState

Body = dict[str, Any]

SERVICE_ID_CHARGING = 1
SA_SCHEDULE_TUPLE_ID = 1
_DAY = 86400


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


def ac_evse_status(evse: EvseState) -> Body:
    return {
        "NotificationMaxDelay": 0,
        "EVSENotification": "StopCharging" if evse.stop_requested else "None",
        "RCD": evse.rcd,
    }


def session_setup(code: str, evse: EvseState) -> Body:
    return {"ResponseCode": code, "EVSEID": evse.evse_id_iso}


def service_discovery(code: str, evse: EvseState) -> Body:
    return {
        "ResponseCode": code,
        "PaymentOptionList": {"PaymentOption": list(evse.payment_options)},
        "ChargeService": {
            "ServiceID": SERVICE_ID_CHARGING,
            "ServiceCategory": "EVCharging",
            "FreeService": False,
            "SupportedEnergyTransferMode": {"EnergyTransferMode": list(evse.energy_modes)},
        },
    }


def code_only(code: str) -> Body:
    return {"ResponseCode": code}


def processing(code: str, finished: bool) -> Body:
    """AuthorizationRes."""
    return {"ResponseCode": code, "EVSEProcessing": "Finished" if finished else "Ongoing"}


def _schedule(evse: EvseState) -> Body:
    return {
        "SAScheduleTuple": [
            {
                "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
                "PMaxSchedule": {
                    "PMaxScheduleEntry": [
                        {
                            "RelativeTimeInterval": {"start": 0, "duration": _DAY},
                            "PMax": physical(evse.max_power, "W"),
                        }
                    ]
                },
            }
        ]
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


def ac_charge_parameter(evse: EvseState) -> Body:
    return {
        "AC_EVSEStatus": ac_evse_status(evse),
        "EVSENominalVoltage": physical(evse.ac_nominal_voltage, "V"),
        "EVSEMaxCurrent": physical(evse.ac_max_current, "A"),
    }


def charge_parameter_discovery(code: str, evse: EvseState, finished: bool, ac: bool) -> Body:
    body: Body = {"ResponseCode": code, "EVSEProcessing": "Finished" if finished else "Ongoing"}
    if finished:
        body["SAScheduleList"] = _schedule(evse)
    if ac:
        body["AC_EVSEChargeParameter"] = ac_charge_parameter(evse)
    else:
        body["DC_EVSEChargeParameter"] = dc_charge_parameter(evse)
    return body


def cable_check(code: str, evse: EvseState, finished: bool) -> Body:
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse, cable_check_running=not finished),
        "EVSEProcessing": "Finished" if finished else "Ongoing",
    }


def pre_charge(code: str, evse: EvseState) -> Body:
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse),
        "EVSEPresentVoltage": physical(evse.present_voltage, "V"),
    }


def power_delivery(code: str, evse: EvseState, ac: bool) -> Body:
    if ac:
        return {"ResponseCode": code, "AC_EVSEStatus": ac_evse_status(evse)}
    return {"ResponseCode": code, "DC_EVSEStatus": dc_evse_status(evse)}


def current_demand(
    code: str, evse: EvseState, target_voltage: float, target_current: float
) -> Body:
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
        "EVSEID": evse.evse_id_iso,
        "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
    }


def charging_status(code: str, evse: EvseState) -> Body:
    return {
        "ResponseCode": code,
        "EVSEID": evse.evse_id_iso,
        "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
        "EVSEMaxCurrent": physical(evse.ac_max_current, "A"),
        "AC_EVSEStatus": ac_evse_status(evse),
    }


def welding_detection(code: str, evse: EvseState) -> Body:
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse),
        "EVSEPresentVoltage": physical(evse.present_voltage, "V"),
    }


def failure(request: str, code: str, evse: EvseState, ac: bool) -> Body | None:
    """A response to `request` carrying `code`, or None for the Plug & Charge requests,
    which EIM does not answer (the SECC closes the connection instead)."""
    builders: dict[str, Callable[[], Body]] = {
        "SessionSetupReq": lambda: session_setup(code, evse),
        "ServiceDiscoveryReq": lambda: service_discovery(code, evse),
        "ServiceDetailReq": lambda: {"ResponseCode": code, "ServiceID": SERVICE_ID_CHARGING},
        "PaymentServiceSelectionReq": lambda: code_only(code),
        "AuthorizationReq": lambda: processing(code, True),
        "ChargeParameterDiscoveryReq": lambda: charge_parameter_discovery(code, evse, True, ac),
        "CableCheckReq": lambda: cable_check(code, evse, True),
        "PreChargeReq": lambda: pre_charge(code, evse),
        "PowerDeliveryReq": lambda: power_delivery(code, evse, ac),
        "CurrentDemandReq": lambda: current_demand(code, evse, 0.0, 0.0),
        "ChargingStatusReq": lambda: charging_status(code, evse),
        "WeldingDetectionReq": lambda: welding_detection(code, evse),
        "SessionStopReq": lambda: code_only(code),
    }
    build = builders.get(request)
    return build() if build else None
