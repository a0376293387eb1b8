"""A scripted charger for the EVCC's tests: it answers each request with a valid response of
DIN 70121 or ISO 15118-2 in the codec's JSON form, with knobs for the cases under test
(Ongoing counts, a voltage that never meets the battery's, a FAILED code, silence).

Not an SECC (that is evstack.hlc.secc and the `iso15118` package in the interop tests): only
the messages, with a supply whose voltage follows the EV's targets after `ramp` requests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from evstack.hlc.evcc import codec
from evstack.hlc.evcc.codec import physical, value_of

Doc = dict[str, Any]


def dc_status(din: bool, code: str = "EVSE_Ready") -> Doc:
    status: Doc = {"EVSEIsolationStatus": "Valid", "EVSEStatusCode": code}
    if din:
        return {**status, "NotificationMaxDelay": 0, "EVSENotification": "None"}
    return {"NotificationMaxDelay": 0, "EVSENotification": "None", **status}


@dataclasses.dataclass
class ScriptedCharger:
    schema: str = "din"
    session_id: str = "1122334455667788"
    ongoing: int = 0  # Ongoing answers to authorisation and to cable check before Finished
    precharge_reaches: bool = True  # whether the supply ever meets the EV's target voltage
    fail: str | None = None  # answer this response with a FAILED code
    silent: str | None = None  # never answer this request
    max_current: float = 200.0
    voltage: float = 0.0
    current: float = 0.0
    requests: list[str] = dataclasses.field(default_factory=list)
    _ongoing_left: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def din(self) -> bool:
        return self.schema == "din"

    def answer(self, payload: bytes, schema: str) -> bytes | None:
        """The encoded response to one encoded request, or None (silent)."""
        document = codec.decode(schema, payload)
        if schema == "app":
            (offer, *_) = document["supportedAppProtocolReq"]["AppProtocol"]
            self.requests.append("supportedAppProtocolReq")
            res = {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": offer["SchemaID"]}
            return codec.encode("app", {"supportedAppProtocolRes": res})
        ((name, body),) = document["V2G_Message"]["Body"].items()
        self.requests.append(name)
        if name == self.silent:
            return None
        response = name.removesuffix("Req") + "Res"
        content = self.respond(name, body)
        if response == self.fail:
            content["ResponseCode"] = "FAILED"
        header = {"SessionID": self.session_id}
        message = {"V2G_Message": {"Header": header, "Body": {response: content}}}
        return codec.encode(schema, message)

    def processing(self, phase: str) -> str:
        left = self._ongoing_left.setdefault(phase, self.ongoing)
        self._ongoing_left[phase] = left - 1
        return "Ongoing" if left > 0 else "Finished"

    def respond(self, name: str, body: Doc) -> Doc:
        ok: Doc = {"ResponseCode": "OK"}
        status = dc_status(self.din)
        if name == "SessionSetupReq":
            return {**ok, "EVSEID": "00" if self.din else "DE*EVS*E1"}
        if name == "ServiceDiscoveryReq":
            if self.din:
                tag = {"ServiceID": 1, "ServiceCategory": "EVCharging"}
                service = {
                    "ServiceTag": tag,
                    "FreeService": False,
                    "EnergyTransferType": "DC_extended",
                }
                return {
                    **ok,
                    "PaymentOptions": {"PaymentOption": ["ExternalPayment"]},
                    "ChargeService": service,
                }
            modes = {"EnergyTransferMode": ["AC_three_phase_core", "DC_extended"]}
            service = {
                "ServiceID": 1,
                "ServiceCategory": "EVCharging",
                "FreeService": False,
                "SupportedEnergyTransferMode": modes,
            }
            return {
                **ok,
                "PaymentOptionList": {"PaymentOption": ["ExternalPayment"]},
                "ChargeService": service,
            }
        if name in ("ServicePaymentSelectionReq", "PaymentServiceSelectionReq"):
            return ok
        if name in ("ContractAuthenticationReq", "AuthorizationReq"):
            return {**ok, "EVSEProcessing": self.processing("auth")}
        if name == "ChargeParameterDiscoveryReq":
            return self.charge_parameters(body)
        if name == "CableCheckReq":
            return {**ok, "DC_EVSEStatus": status, "EVSEProcessing": self.processing("cable")}
        if name == "PreChargeReq":
            target = value_of(body["EVTargetVoltage"]) or 0.0
            self.voltage = target if self.precharge_reaches else target / 2
            return {
                **ok,
                "DC_EVSEStatus": status,
                "EVSEPresentVoltage": physical(self.voltage, "V"),
            }
        if name == "PowerDeliveryReq":
            if self.din or "DC_EVPowerDeliveryParameter" in body:
                return {**ok, "DC_EVSEStatus": status}
            return {**ok, "AC_EVSEStatus": ac_status()}
        if name == "CurrentDemandReq":
            self.voltage = value_of(body["EVTargetVoltage"]) or 0.0
            self.current = min(self.max_current, value_of(body["EVTargetCurrent"]) or 0.0)
            return {
                **ok,
                "DC_EVSEStatus": status,
                "EVSEPresentVoltage": physical(self.voltage, "V"),
                "EVSEPresentCurrent": physical(self.current, "A"),
                "EVSECurrentLimitAchieved": False,
                "EVSEVoltageLimitAchieved": False,
                "EVSEPowerLimitAchieved": False,
                "EVSEMaximumCurrentLimit": physical(self.max_current, "A"),
                **({} if self.din else {"EVSEID": "DE*EVS*E1", "SAScheduleTupleID": 7}),
            }
        if name == "ChargingStatusReq":
            return {
                **ok,
                "EVSEID": "DE*EVS*E1",
                "SAScheduleTupleID": 1,
                "EVSEMaxCurrent": physical(self.max_current, "A"),
                "AC_EVSEStatus": ac_status(),
            }
        if name == "WeldingDetectionReq":
            self.voltage = 0.0
            return {**ok, "DC_EVSEStatus": status, "EVSEPresentVoltage": physical(0, "V")}
        if name == "SessionStopReq":
            return ok
        raise AssertionError(f"unexpected request {name}")

    def charge_parameters(self, body: Doc) -> Doc:
        ok: Doc = {"ResponseCode": "OK", "EVSEProcessing": "Finished"}
        dc = {
            "DC_EVSEStatus": dc_status(self.din),
            "EVSEMaximumCurrentLimit": physical(self.max_current, "A"),
            "EVSEMaximumPowerLimit": physical(100_000, "W"),
            "EVSEMaximumVoltageLimit": physical(500, "V"),
            "EVSEMinimumCurrentLimit": physical(0, "A"),
            "EVSEMinimumVoltageLimit": physical(50, "V"),
            "EVSEPeakCurrentRipple": physical(2, "A"),
        }
        if self.din:
            entry = {"RelativeTimeInterval": {"start": 0, "duration": 86400}, "PMax": 32767}
            schedule = {
                "SAScheduleTupleID": 1,
                "PMaxSchedule": {"PMaxScheduleID": 1, "PMaxScheduleEntry": [entry]},
            }
            listed = {"SAScheduleList": {"SAScheduleTuple": [schedule]}}
            return {**ok, **listed, "DC_EVSEChargeParameter": dc}
        entry = {
            "RelativeTimeInterval": {"start": 0, "duration": 86400},
            "PMax": physical(100_000, "W"),
        }
        schedule = {"SAScheduleTupleID": 7, "PMaxSchedule": {"PMaxScheduleEntry": [entry]}}
        result: Doc = {**ok, "SAScheduleList": {"SAScheduleTuple": [schedule]}}
        if "AC_EVChargeParameter" in body:
            ac = {
                "AC_EVSEStatus": ac_status(),
                "EVSENominalVoltage": physical(230, "V"),
                "EVSEMaxCurrent": physical(self.max_current, "A"),
            }
            return {**result, "AC_EVSEChargeParameter": ac}
        return {**result, "DC_EVSEChargeParameter": dc}


def ac_status() -> Doc:
    return {"NotificationMaxDelay": 0, "EVSENotification": "None", "RCD": False}
