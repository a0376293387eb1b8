"""A scripted ISO 15118-20 DC charger for the EVCC's tests: valid responses in the codec's
JSON form, a supply that follows the EV's targets, and knobs for the cases under test."""

from __future__ import annotations

import dataclasses
from typing import Any

from evstack.hlc.evcc import codec
from evstack.hlc.evcc.iso20.dynamic import rational
from evstack.hlc.evcc.iso20.flow import number

Doc = dict[str, Any]


@dataclasses.dataclass
class ScriptedCharger20:
    session_id: str = "a1b2c3d4e5f60718"
    services: tuple[str, ...] = ("EIM",)
    control_mode: int = 1  # 1 scheduled, 2 dynamic
    ongoing: int = 0
    silent: str | None = None
    terminate_after: int | None = None  # charge loops before EVSENotification Terminate
    max_current: float = 200.0
    ac_power: float = 7_000.0  # W over all phases, the AC limit it offers
    max_discharge_power: float = 3_700.0
    dc_currents: list[float] = dataclasses.field(default_factory=list)
    voltage: float = 0.0
    ac_drawn: list[float] = dataclasses.field(default_factory=list)
    requests: list[str] = dataclasses.field(default_factory=list)
    schemas: list[str] = dataclasses.field(default_factory=list)
    headers: list[Doc] = dataclasses.field(default_factory=list)
    bodies: dict[str, Doc] = dataclasses.field(default_factory=dict)
    _ongoing_left: dict[str, int] = dataclasses.field(default_factory=dict)
    _loops: int = 0

    def answer(self, payload: bytes, schema: str) -> bytes | None:
        document = codec.decode(schema, payload)
        ((name, content),) = document.items()
        self.requests.append(name)
        self.schemas.append(schema)
        if schema == "app":
            (offer, *_) = content["AppProtocol"]
            res = {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": offer["SchemaID"]}
            return codec.encode("app", {"supportedAppProtocolRes": res})
        self.headers.append(content["Header"])
        self.bodies[name] = content
        if name == self.silent:
            return None
        body = self.respond(name, content)
        header = {"SessionID": self.session_id, "TimeStamp": content["Header"]["TimeStamp"]}
        response = {name.removesuffix("Req") + "Res": {"Header": header, **body}}
        return codec.encode(schema, response)

    def processing(self, phase: str) -> str:
        left = self._ongoing_left.setdefault(phase, self.ongoing)
        self._ongoing_left[phase] = left - 1
        return "Ongoing" if left > 0 else "Finished"

    def respond(self, name: str, body: Doc) -> Doc:
        ok: Doc = {"ResponseCode": "OK"}
        if name == "SessionSetupReq":
            return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": "DE*EVS*E1"}
        if name == "AuthorizationSetupReq":
            return {
                **ok,
                "AuthorizationServices": list(self.services),
                "CertificateInstallationService": False,
                "EIM_ASResAuthorizationMode": {},
            }
        if name == "AuthorizationReq":
            return {**ok, "EVSEProcessing": self.processing("auth")}
        if name == "ServiceDiscoveryReq":
            offered = [{"ServiceID": sid, "FreeService": False} for sid in (1, 2, 5, 6)]
            services = {"Service": offered}
            return {
                **ok,
                "ServiceRenegotiationSupported": False,
                "EnergyTransferServiceList": services,
            }
        if name == "ServiceDetailReq":
            parameters = [{"@Name": "ControlMode", "intValue": self.control_mode}]
            sets = {"ParameterSet": [{"ParameterSetID": 3, "Parameter": parameters}]}
            return {**ok, "ServiceID": body["ServiceID"], "ServiceParameterList": sets}
        if name in ("ServiceSelectionReq", "PowerDeliveryReq", "SessionStopReq"):
            return ok
        if name == "DC_ChargeParameterDiscoveryReq":
            mode = {
                "EVSEMaximumChargePower": rational(100_000),
                "EVSEMinimumChargePower": rational(0),
                "EVSEMaximumChargeCurrent": rational(self.max_current),
                "EVSEMinimumChargeCurrent": rational(0),
                "EVSEMaximumVoltage": rational(500),
                "EVSEMinimumVoltage": rational(50),
            }
            if "BPT_DC_CPDReqEnergyTransferMode" not in body:
                return {**ok, "DC_CPDResEnergyTransferMode": mode}
            mode |= {
                "EVSEMaximumDischargePower": rational(self.max_discharge_power),
                "EVSEMinimumDischargePower": rational(0),
                "EVSEMaximumDischargeCurrent": rational(100),
                "EVSEMinimumDischargeCurrent": rational(0),
            }
            return {**ok, "BPT_DC_CPDResEnergyTransferMode": mode}
        if name == "ScheduleExchangeReq":
            entry = {"Duration": 3600, "Power": rational(100_000)}
            schedule = {
                "PowerSchedule": {
                    "TimeAnchor": 0,
                    "PowerScheduleEntries": {"PowerScheduleEntry": [entry]},
                }
            }
            tuples: Doc = {"ScheduleTuple": [{"ScheduleTupleID": 5, "ChargingSchedule": schedule}]}
            return {
                **ok,
                "EVSEProcessing": self.processing("schedule"),
                "Scheduled_SEResControlMode": tuples,
            }
        if name == "DC_CableCheckReq":
            return {**ok, "EVSEProcessing": self.processing("cable")}
        if name == "DC_PreChargeReq":
            self.voltage = number(body["EVTargetVoltage"]) or 0.0
            return {**ok, "EVSEPresentVoltage": rational(self.voltage)}
        if name == "DC_ChargeLoopReq":
            self._loops += 1
            bpt = "BPT_Scheduled_DC_CLReqControlMode" in body
            control = body[
                "BPT_Scheduled_DC_CLReqControlMode" if bpt else "Scheduled_DC_CLReqControlMode"
            ]
            self.voltage = number(control["EVTargetVoltage"]) or 0.0
            current = min(self.max_current, number(control["EVTargetCurrent"]) or 0.0)
            self.dc_currents.append(current)
            res: Doc = {**ok}
            if self.terminate_after is not None and self._loops >= self.terminate_after:
                res["EVSEStatus"] = {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
            return {
                **res,
                "EVSEPresentCurrent": rational(current),
                "EVSEPresentVoltage": rational(self.voltage),
                "EVSEPowerLimitAchieved": False,
                "EVSECurrentLimitAchieved": False,
                "EVSEVoltageLimitAchieved": False,
                (
                    "BPT_Scheduled_DC_CLResControlMode" if bpt else "Scheduled_DC_CLResControlMode"
                ): {},
            }
        if name == "AC_ChargeParameterDiscoveryReq":
            ac = {
                "EVSEMaximumChargePower": rational(self.ac_power),
                "EVSEMinimumChargePower": rational(0),
                "EVSENominalFrequency": rational(50),
            }
            if "BPT_AC_CPDReqEnergyTransferMode" not in body:
                return {**ok, "AC_CPDResEnergyTransferMode": ac}
            ac["EVSEMaximumDischargePower"] = rational(self.max_discharge_power)
            ac["EVSEMinimumDischargePower"] = rational(0)
            return {**ok, "BPT_AC_CPDResEnergyTransferMode": ac}
        if name == "AC_ChargeLoopReq":
            self._loops += 1
            bpt = "BPT_Scheduled_AC_CLReqControlMode" in body
            req_key = (
                "BPT_Scheduled_AC_CLReqControlMode" if bpt else "Scheduled_AC_CLReqControlMode"
            )
            drawn = number(body[req_key]["EVPresentActivePower"])
            self.ac_drawn.append(drawn or 0.0)
            target = {"EVSETargetActivePower": rational(self.ac_power)}
            return {**ok, req_key.replace("CLReq", "CLRes"): target}
        if name == "DC_WeldingDetectionReq":
            return {**ok, "EVSEPresentVoltage": rational(0)}
        raise AssertionError(f"unexpected request {name}")
