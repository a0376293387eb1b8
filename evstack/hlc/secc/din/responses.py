"""DIN 70121 response bodies, built from the charger's present state.

Each builder takes the response code, so the same function answers a good request and a
failed one (a FAILED response still carries every mandatory element).
"""

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
        "EVSEIsolationStatus": evse.isolation.value,
        "EVSEStatusCode": code,
        "NotificationMaxDelay": 0,
        "EVSENotification": "StopCharging" if evse.stop_requested else "None",
    }


def session_setup(code: str, evse: EvseState) -> Body:
    return {"ResponseCode": code, "EVSEID": evse.evse_id}


def service_discovery(code: str, evse: EvseState, transfer_type: str) -> Body:
    return {
        "ResponseCode": code,
        "PaymentOptions": {"PaymentOption": list(evse.payment_options)},
        "ChargeService": {
            "ServiceTag": {"ServiceID": SERVICE_ID_CHARGING, "ServiceCategory": "EVCharging"},
            "FreeService": False,
            "EnergyTransferType": transfer_type,
        },
    }


def code_only(code: str) -> Body:
    """ServicePaymentSelectionRes, SessionStopRes."""
    return {"ResponseCode": code}


def contract_authentication(code: str, finished: bool) -> Body:
    return {"ResponseCode": code, "EVSEProcessing": "Finished" if finished else "Ongoing"}


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


def charge_parameter_discovery(code: str, evse: EvseState, finished: bool) -> Body:
    body: Body = {"ResponseCode": code, "EVSEProcessing": "Finished" if finished else "Ongoing"}
    # The schedule is mandatory, also in a failed response. DIN's PMax is a plain short;
    # in watts it caps at 32767, so the real limit is EVSEMaximumPowerLimit.
    body["SAScheduleList"] = {
        "SAScheduleTuple": [
            {
                "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
                "PMaxSchedule": {
                    "PMaxScheduleID": 1,
                    "PMaxScheduleEntry": [
                        {
                            "RelativeTimeInterval": {"start": 0, "duration": _DAY},
                            "PMax": min(32767, round(evse.max_power)),
                        }
                    ],
                },
            }
        ]
    }
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


def power_delivery(code: str, evse: EvseState) -> Body:
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
    }


def welding_detection(code: str, evse: EvseState) -> Body:
    return {
        "ResponseCode": code,
        "DC_EVSEStatus": dc_evse_status(evse),
        "EVSEPresentVoltage": physical(evse.present_voltage, "V"),
    }


def failure(request: str, code: str, evse: EvseState, transfer_type: str) -> Body | None:
    """A response to `request` carrying `code`, or None where DIN DC has none to give
    (Plug & Charge and AC requests: the SECC closes the connection instead)."""
    builders: dict[str, Callable[[], Body]] = {
        "SessionSetupReq": lambda: session_setup(code, evse),
        "ServiceDiscoveryReq": lambda: service_discovery(code, evse, transfer_type),
        "ServicePaymentSelectionReq": lambda: code_only(code),
        "ContractAuthenticationReq": lambda: contract_authentication(code, True),
        "ChargeParameterDiscoveryReq": lambda: charge_parameter_discovery(code, evse, True),
        "CableCheckReq": lambda: cable_check(code, evse, True),
        "PreChargeReq": lambda: pre_charge(code, evse),
        "PowerDeliveryReq": lambda: power_delivery(code, evse),
        "CurrentDemandReq": lambda: current_demand(code, evse, 0.0, 0.0),
        "WeldingDetectionReq": lambda: welding_detection(code, evse),
        "SessionStopReq": lambda: code_only(code),
        "ServiceDetailReq": lambda: {"ResponseCode": code, "ServiceID": SERVICE_ID_CHARGING},
    }
    build = builders.get(request)
    return build() if build else None
