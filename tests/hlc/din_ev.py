"""A scripted DIN 70121 EV for the SECC's tests: the requests as the codec's JSON form.

Not an EVCC (that is evstack.hlc.evcc and the `iso15118` package in the interop tests):
only the messages, so each test can send any of them in any state.
"""

from __future__ import annotations

from typing import Any

from evstack import exi
from evstack.exi.v2gtp import PayloadType

Doc = dict[str, Any]

DIN_NS = "urn:din:70121:2012:MsgDef"
ISO2_NS = "urn:iso:15118:2:2013:MsgDef"


def pv(value: int, unit: str, multiplier: int = 0) -> Doc:
    return {"Multiplier": multiplier, "Unit": unit, "Value": value}


def ev_status(soc: int = 40, ready: bool = True) -> Doc:
    return {"EVReady": ready, "EVErrorCode": "NO_ERROR", "EVRESSSOC": soc}


def sap_request(*offers: tuple[str, int, int, int]) -> bytes:
    """offers: (namespace, major, minor, priority); schema ids count from 1."""
    protocols = [
        {
            "ProtocolNamespace": ns,
            "VersionNumberMajor": major,
            "VersionNumberMinor": minor,
            "SchemaID": i + 1,
            "Priority": priority,
        }
        for i, (ns, major, minor, priority) in enumerate(offers)
    ]
    return exi.encode_any("app", {"supportedAppProtocolReq": {"AppProtocol": protocols}})


def sap_response(payload: bytes) -> Doc:
    res: Doc = exi.decode_any("app", payload)["supportedAppProtocolRes"]
    return res


BODIES: dict[str, Doc] = {
    "SessionSetupReq": {"EVCCID": "0a0000000001"},
    "ServiceDiscoveryReq": {},
    "ServicePaymentSelectionReq": {
        "SelectedPaymentOption": "ExternalPayment",
        "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]},
    },
    "ContractAuthenticationReq": {},
    "ChargeParameterDiscoveryReq": {
        "EVRequestedEnergyTransferType": "DC_extended",
        "DC_EVChargeParameter": {
            "DC_EVStatus": ev_status(),
            "EVMaximumCurrentLimit": pv(150, "A"),
            "EVMaximumPowerLimit": pv(60, "W", 3),
            "EVMaximumVoltageLimit": pv(420, "V"),
            "EVEnergyCapacity": pv(60, "Wh", 3),
            "FullSOC": 100,
            "BulkSOC": 80,
        },
    },
    "CableCheckReq": {"DC_EVStatus": ev_status()},
    "PreChargeReq": {
        "DC_EVStatus": ev_status(),
        "EVTargetVoltage": pv(380, "V"),
        "EVTargetCurrent": pv(1, "A"),
    },
    "PowerDeliveryReq": {
        "ReadyToChargeState": True,
        "DC_EVPowerDeliveryParameter": {"DC_EVStatus": ev_status(), "ChargingComplete": False},
    },
    "CurrentDemandReq": {
        "DC_EVStatus": ev_status(),
        "EVTargetCurrent": pv(100, "A"),
        "ChargingComplete": False,
        "EVTargetVoltage": pv(390, "V"),
    },
    "WeldingDetectionReq": {"DC_EVStatus": ev_status()},
    "SessionStopReq": {},
    "ServiceDetailReq": {"ServiceID": 1},
    "ChargingStatusReq": {},
}


def din_request(name: str, session_id: str, body: Doc | None = None) -> bytes:
    content = BODIES[name] if body is None else body
    message = {"V2G_Message": {"Header": {"SessionID": session_id}, "Body": {name: content}}}
    return exi.encode_any("din", message)


def din_response(payload: bytes) -> tuple[str, str, Doc]:
    """(session id, response name, body)."""
    message = exi.decode_any("din", payload)["V2G_Message"]
    ((name, body),) = message["Body"].items()
    return message["Header"]["SessionID"], name, body


EXI = int(PayloadType.EXI)
