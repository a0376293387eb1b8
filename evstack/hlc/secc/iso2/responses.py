"""ISO 15118-2 response bodies (DC and AC, external identification), built from the
charger's present state; each takes the response code, so a FAILED response still
carries every mandatory element."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstack.hlc.secc.din import values as dc
from evstack.hlc.secc.din.values import SA_SCHEDULE_TUPLE_ID, SERVICE_ID_CHARGING, physical
from evstack.hlc.secc.events import EvseState

Body = dict[str, Any]


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
                            "RelativeTimeInterval": {"start": 0, "duration": dc.DAY},
                            "PMax": physical(evse.max_power, "W"),
                        }
                    ]
                },
            }
        ]
    }


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
        body["DC_EVSEChargeParameter"] = dc.dc_charge_parameter(evse)
    return body


def power_delivery(code: str, evse: EvseState, ac: bool) -> Body:
    if ac:
        return {"ResponseCode": code, "AC_EVSEStatus": ac_evse_status(evse)}
    return {"ResponseCode": code, "DC_EVSEStatus": dc.dc_evse_status(evse)}


def current_demand(
    code: str, evse: EvseState, target_voltage: float, target_current: float
) -> Body:
    body = dc.current_demand(code, evse, target_voltage, target_current)
    body["EVSEID"] = evse.evse_id_iso
    body["SAScheduleTupleID"] = SA_SCHEDULE_TUPLE_ID
    return body


def charging_status(code: str, evse: EvseState) -> Body:
    return {
        "ResponseCode": code,
        "EVSEID": evse.evse_id_iso,
        "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
        "EVSEMaxCurrent": physical(evse.ac_max_current, "A"),
        "AC_EVSEStatus": ac_evse_status(evse),
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
        "CableCheckReq": lambda: dc.cable_check(code, evse, True),
        "PreChargeReq": lambda: dc.present_voltage(code, evse),
        "PowerDeliveryReq": lambda: power_delivery(code, evse, ac),
        "CurrentDemandReq": lambda: current_demand(code, evse, 0.0, 0.0),
        "ChargingStatusReq": lambda: charging_status(code, evse),
        "WeldingDetectionReq": lambda: dc.present_voltage(code, evse),
        "SessionStopReq": lambda: code_only(code),
    }
    build = builders.get(request)
    return build() if build else None
