"""A scripted ISO 15118-2 EV for the SECC's tests: its requests in the codec's JSON form."""

from __future__ import annotations

from typing import Any

from evstack import exi

from .din_ev import ev_status, pv

Doc = dict[str, Any]

DC_BODIES: dict[str, Doc] = {
    "SessionSetupReq": {"EVCCID": "0a0000000002"},
    "ServiceDiscoveryReq": {},
    "ServiceDetailReq": {"ServiceID": 1},
    "PaymentServiceSelectionReq": {
        "SelectedPaymentOption": "ExternalPayment",
        "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]},
    },
    "AuthorizationReq": {},
    "ChargeParameterDiscoveryReq": {
        "RequestedEnergyTransferMode": "DC_extended",
        "DC_EVChargeParameter": {
            "DC_EVStatus": ev_status(),
            "EVMaximumCurrentLimit": pv(150, "A"),
            "EVMaximumPowerLimit": pv(60, "W", 3),
            "EVMaximumVoltageLimit": pv(420, "V"),
        },
    },
    "CableCheckReq": {"DC_EVStatus": ev_status()},
    "PreChargeReq": {
        "DC_EVStatus": ev_status(),
        "EVTargetVoltage": pv(380, "V"),
        "EVTargetCurrent": pv(1, "A"),
    },
    "PowerDeliveryReq": {"ChargeProgress": "Start", "SAScheduleTupleID": 1},
    "CurrentDemandReq": {
        "DC_EVStatus": ev_status(),
        "EVTargetCurrent": pv(100, "A"),
        "ChargingComplete": False,
        "EVTargetVoltage": pv(390, "V"),
    },
    "ChargingStatusReq": {},
    "WeldingDetectionReq": {"DC_EVStatus": ev_status()},
    "SessionStopReq": {"ChargingSession": "Terminate"},
}

AC_PARAMETERS: Doc = {
    "RequestedEnergyTransferMode": "AC_three_phase_core",
    "AC_EVChargeParameter": {
        "EAmount": pv(20, "Wh", 3),
        "EVMaxVoltage": pv(400, "V"),
        "EVMaxCurrent": pv(16, "A"),
        "EVMinCurrent": pv(6, "A"),
    },
}


def iso2_request(name: str, session_id: str, body: Doc | None = None) -> bytes:
    content = DC_BODIES[name] if body is None else body
    message = {"V2G_Message": {"Header": {"SessionID": session_id}, "Body": {name: content}}}
    return exi.encode_any("iso2", message)


def iso2_response(payload: bytes) -> tuple[str, str, Doc]:
    """(session id, response name, body)."""
    message = exi.decode_any("iso2", payload)["V2G_Message"]
    ((name, body),) = message["Body"].items()
    return message["Header"]["SessionID"], name, body
