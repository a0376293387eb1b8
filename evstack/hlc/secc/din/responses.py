"""DIN 70121 response bodies, built from the charger's present state.

Each builder takes the response code, so the same function answers a good request and a
failed one (a FAILED response still carries every mandatory element).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evstack.hlc.secc.din import values as dc
from evstack.hlc.secc.din.values import SA_SCHEDULE_TUPLE_ID, SERVICE_ID_CHARGING
from evstack.hlc.secc.events import EvseState

Body = dict[str, Any]


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
                            "RelativeTimeInterval": {"start": 0, "duration": dc.DAY},
                            "PMax": min(32767, round(evse.max_power)),
                        }
                    ],
                },
            }
        ]
    }
    body["DC_EVSEChargeParameter"] = dc.dc_charge_parameter(evse)
    return body


def power_delivery(code: str, evse: EvseState) -> Body:
    return {"ResponseCode": code, "DC_EVSEStatus": dc.dc_evse_status(evse)}


def failure(request: str, code: str, evse: EvseState, transfer_type: str) -> Body | None:
    """A response to `request` carrying `code`, or None where DIN DC has none to give
    (Plug & Charge and AC requests: the SECC closes the connection instead)."""
    builders: dict[str, Callable[[], Body]] = {
        "SessionSetupReq": lambda: session_setup(code, evse),
        "ServiceDiscoveryReq": lambda: service_discovery(code, evse, transfer_type),
        "ServicePaymentSelectionReq": lambda: code_only(code),
        "ContractAuthenticationReq": lambda: contract_authentication(code, True),
        "ChargeParameterDiscoveryReq": lambda: charge_parameter_discovery(code, evse, True),
        "CableCheckReq": lambda: dc.cable_check(code, evse, True),
        "PreChargeReq": lambda: dc.present_voltage(code, evse),
        "PowerDeliveryReq": lambda: power_delivery(code, evse),
        "CurrentDemandReq": lambda: dc.current_demand(code, evse, 0.0, 0.0),
        "WeldingDetectionReq": lambda: dc.present_voltage(code, evse),
        "SessionStopReq": lambda: code_only(code),
        "ServiceDetailReq": lambda: {"ResponseCode": code, "ServiceID": SERVICE_ID_CHARGING},
    }
    build = builders.get(request)
    return build() if build else None
