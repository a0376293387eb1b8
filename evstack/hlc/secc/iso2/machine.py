"""ISO 15118-2 AC and DC with external identification, SECC side: the state table and one
handler per request (see evstack.hlc.secc.machine for what every protocol shares).

DC: ... ChargeParameterDiscovery, CableCheck, PreCharge, PowerDelivery(Start),
CurrentDemand, PowerDelivery(Stop), WeldingDetection, SessionStop. AC: ...
ChargeParameterDiscovery, PowerDelivery(Start), ChargingStatus, PowerDelivery(Stop),
SessionStop. PowerDelivery(Renegotiate) goes back to ChargeParameterDiscovery.
SessionStop(Pause) ends the session clean and paused: a later SessionSetup with the same
session id (a new connection) joins it (OK_OldSessionJoined). Plug & Charge requests
(PaymentDetails, Certificate*) and MeteringReceipt (the SECC never asks for a receipt
under EIM) are not expected in any state.
"""

from __future__ import annotations

from evstack.hlc.secc import events as ev
from evstack.hlc.secc import timing
from evstack.hlc.secc.din import values as dc
from evstack.hlc.secc.din.values import number, optional
from evstack.hlc.secc.events import Authorization, EvseState, Output
from evstack.hlc.secc.iso2 import responses as res
from evstack.hlc.secc.machine import Body, Machine, Refused, State

_STOP = "SessionStopReq"
_PD = "PowerDeliveryReq"
EXPECTED: dict[State, frozenset[str]] = {
    State.SESSION_SETUP: frozenset({"SessionSetupReq"}),
    State.SERVICE_DISCOVERY: frozenset({"ServiceDiscoveryReq", _STOP}),
    State.PAYMENT_SELECTION: frozenset({"ServiceDetailReq", "PaymentServiceSelectionReq", _STOP}),
    State.AUTHORIZATION: frozenset({"AuthorizationReq", _STOP}),
    State.CHARGE_PARAMETERS: frozenset({"ChargeParameterDiscoveryReq", _STOP}),
    State.CABLE_CHECK: frozenset({"CableCheckReq", _STOP}),
    State.PRE_CHARGE: frozenset({"PreChargeReq", _PD, _STOP}),
    State.READY: frozenset({_PD, "ChargeParameterDiscoveryReq", _STOP}),
    State.CHARGING: frozenset({"CurrentDemandReq", "ChargingStatusReq", _PD, _STOP}),
    State.WELDING: frozenset({"WeldingDetectionReq", _STOP}),
    State.STOPPED: frozenset({_PD, _STOP}),
    State.ENDED: frozenset(),
}


class Iso2Secc(Machine):
    """One ISO 15118-2 session after SupportedAppProtocol chose it."""

    EXPECTED = EXPECTED
    protocol = "iso2"

    def __init__(self, evse: EvseState, new_session_id: str, *, paused_session: str | None = None):
        super().__init__(evse, new_session_id)
        self._paused_session = paused_session
        self.ac = False  # from the EV's RequestedEnergyTransferMode
        self._cable_check_requested = False
        self._pre_charge_started = False
        self._target = (0.0, 0.0)

    def failure(self, request: str, code: str) -> Body | None:
        return res.failure(request, code, self.evse, self.ac)

    # -- handlers ------------------------------------------------------------------------

    def _session_setup(self, body: Body, now: float, out: list[Output]) -> Body:
        paused = self._paused_session
        joined = paused is not None and self.header.get("SessionID") == paused
        self.session_id = paused if joined and paused is not None else self._new_session_id
        out.append(ev.SessionStarted(str(body["EVCCID"] or ""), self.session_id))
        self._enter(State.SERVICE_DISCOVERY, now)
        code = "OK_OldSessionJoined" if joined else "OK_NewSessionEstablished"
        return res.session_setup(code, self.evse)

    def _service_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        self._enter(State.PAYMENT_SELECTION, now)
        return res.service_discovery("OK", self.evse)

    def _service_detail(self, body: Body, now: float, out: list[Output]) -> Body:
        if body["ServiceID"] != dc.SERVICE_ID_CHARGING:
            raise Refused("FAILED_ServiceIDInvalid", f"no service {body['ServiceID']}")
        return {"ResponseCode": "OK", "ServiceID": dc.SERVICE_ID_CHARGING}

    def _payment_service_selection(self, body: Body, now: float, out: list[Output]) -> Body:
        option = body["SelectedPaymentOption"]
        if option not in self.evse.payment_options:
            raise Refused("FAILED_PaymentSelectionInvalid", f"payment option {option} not offered")
        services = {s["ServiceID"] for s in body["SelectedServiceList"]["SelectedService"]}
        if dc.SERVICE_ID_CHARGING not in services:
            raise Refused("FAILED_NoChargeServiceSelected", f"services {sorted(services)}")
        out.append(ev.RequireAuthEim())
        self._enter(State.AUTHORIZATION, now)
        return res.code_only("OK")

    def _authorization(self, body: Body, now: float, out: list[Output]) -> Body:
        auth = self.evse.auth
        if auth is Authorization.REJECTED:
            raise Refused("FAILED", "authorization rejected")
        if auth is Authorization.ACCEPTED:
            self._enter(State.CHARGE_PARAMETERS, now)
            return res.processing("OK", True)
        if self._elapsed(State.AUTHORIZATION, now) > timing.ONGOING_TIMEOUT:
            raise Refused("FAILED", "no authorization within V2G_EVCC_Ongoing_Timeout")
        return res.processing("OK", False)

    def _charge_parameter_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        mode = body["RequestedEnergyTransferMode"]
        self.ac = mode.startswith("AC")
        if mode not in self.evse.energy_modes:
            raise Refused("FAILED_WrongEnergyTransferMode", f"energy transfer mode {mode}")
        if self.ac:
            param = body.get("AC_EVChargeParameter")
            if param is None:
                raise Refused("FAILED_WrongChargeParameter", "AC mode without AC parameters")
            out.append(
                ev.EvChargeParameters(
                    energy_transfer_mode=mode,
                    max_voltage=number(param["EVMaxVoltage"]),
                    max_current=number(param["EVMaxCurrent"]),
                    max_power=None,
                    energy_capacity=None,
                    energy_request=number(param["EAmount"]),
                    full_soc=None,
                    bulk_soc=None,
                    soc=None,
                )
            )
            self._enter(State.READY, now)
            return res.charge_parameter_discovery("OK", self.evse, True, True)
        param = body.get("DC_EVChargeParameter")
        if param is None:
            raise Refused("FAILED_WrongChargeParameter", "DC mode without DC parameters")
        max_voltage = number(param["EVMaximumVoltageLimit"])
        out.append(
            ev.EvChargeParameters(
                energy_transfer_mode=mode,
                max_voltage=max_voltage,
                max_current=number(param["EVMaximumCurrentLimit"]),
                max_power=optional(param, "EVMaximumPowerLimit"),
                energy_capacity=optional(param, "EVEnergyCapacity"),
                energy_request=optional(param, "EVEnergyRequest"),
                full_soc=param.get("FullSOC"),
                bulk_soc=param.get("BulkSOC"),
                soc=int(param["DC_EVStatus"]["EVRESSSOC"]),
            )
        )
        if max_voltage < self.evse.min_voltage:
            raise Refused(
                "FAILED_WrongChargeParameter",
                f"EV maximum {max_voltage} V below the EVSE minimum {self.evse.min_voltage} V",
            )
        self._enter(State.CABLE_CHECK, now)
        return res.charge_parameter_discovery("OK", self.evse, True, False)

    def _cable_check(self, body: Body, now: float, out: list[Output]) -> Body:
        dc.report_ev_status(body, out)
        if not self._cable_check_requested:
            self._cable_check_requested = True
            self._started[State.CABLE_CHECK] = now
            out.append(ev.StartCableCheck())
        if self.evse.cable_check is False:
            raise Refused("FAILED", "cable check failed: isolation fault")
        if self.evse.cable_check is True:
            self._enter(State.PRE_CHARGE, now)
            return dc.cable_check("OK", self.evse, True)
        if self._elapsed(State.CABLE_CHECK, now) > timing.CABLE_CHECK_TIMEOUT:
            raise Refused("FAILED", "cable check unfinished after V2G_EVCC_CableCheck_Timeout")
        return dc.cable_check("OK", self.evse, False)

    def _pre_charge(self, body: Body, now: float, out: list[Output]) -> Body:
        dc.report_ev_status(body, out)
        if not self._pre_charge_started:
            self._pre_charge_started = True
            self._started[State.PRE_CHARGE] = now
            out.append(ev.StartPreCharge())
        elif self._elapsed(State.PRE_CHARGE, now) > timing.PRE_CHARGE_TIMEOUT:
            raise Refused("FAILED", "PreCharge still looping after V2G_EVCC_PreCharge_Timeout")
        self._target = dc.report_target(body, self._target, out)
        return dc.present_voltage("OK", self.evse)

    def _power_delivery(self, body: Body, now: float, out: list[Output]) -> Body:
        progress = body["ChargeProgress"]
        if "DC_EVPowerDeliveryParameter" in body:
            dc.report_ev_status(body["DC_EVPowerDeliveryParameter"], out)
        if progress == "Start":
            if self.state not in (State.PRE_CHARGE, State.READY, State.STOPPED):
                raise Refused("FAILED_SequenceError", f"PowerDelivery(Start) in {self.state.value}")
            if body["SAScheduleTupleID"] != dc.SA_SCHEDULE_TUPLE_ID:
                raise Refused(
                    "FAILED_TariffSelectionInvalid", f"schedule {body['SAScheduleTupleID']}"
                )
            if not self.evse.power_allowed:
                raise Refused("FAILED_PowerDeliveryNotApplied", "the charger allows no power")
            out.append(ev.PowerDelivery(True))
            self._enter(State.CHARGING, now)
        elif progress == "Stop":
            out.append(ev.PowerDelivery(False))
            self._enter(State.STOPPED if self.ac else State.WELDING, now)
        else:  # Renegotiate
            if self.state is not State.CHARGING:
                raise Refused("FAILED_SequenceError", f"Renegotiate in {self.state.value}")
            self._enter(State.CHARGE_PARAMETERS, now)
        return res.power_delivery("OK", self.evse, self.ac)

    def _current_demand(self, body: Body, now: float, out: list[Output]) -> Body:
        if self.ac:
            raise Refused("FAILED_SequenceError", "CurrentDemandReq in an AC session")
        dc.report_ev_status(body, out, complete=bool(body["ChargingComplete"]))
        if self.evse.malfunction:
            raise Refused("FAILED", "the power path reports a malfunction")
        self._target = dc.report_target(body, self._target, out)
        return res.current_demand("OK", self.evse, *self._target)

    def _charging_status(self, body: Body, now: float, out: list[Output]) -> Body:
        if not self.ac:
            raise Refused("FAILED_SequenceError", "ChargingStatusReq in a DC session")
        if self.evse.malfunction:
            raise Refused("FAILED", "the power path reports a malfunction")
        return res.charging_status("OK", self.evse)

    def _welding_detection(self, body: Body, now: float, out: list[Output]) -> Body:
        dc.report_ev_status(body, out)
        return dc.present_voltage("OK", self.evse)

    def _session_stop(self, body: Body, now: float, out: list[Output]) -> Body:
        if body.get("ChargingSession") == "Pause":
            self.paused = True
            self.stop_reason = "the EV paused the session"
        return res.code_only("OK")


Iso2Secc.HANDLERS = {
    "SessionSetupReq": Iso2Secc._session_setup,
    "ServiceDiscoveryReq": Iso2Secc._service_discovery,
    "ServiceDetailReq": Iso2Secc._service_detail,
    "PaymentServiceSelectionReq": Iso2Secc._payment_service_selection,
    "AuthorizationReq": Iso2Secc._authorization,
    "ChargeParameterDiscoveryReq": Iso2Secc._charge_parameter_discovery,
    "CableCheckReq": Iso2Secc._cable_check,
    "PreChargeReq": Iso2Secc._pre_charge,
    "PowerDeliveryReq": Iso2Secc._power_delivery,
    "CurrentDemandReq": Iso2Secc._current_demand,
    "ChargingStatusReq": Iso2Secc._charging_status,
    "WeldingDetectionReq": Iso2Secc._welding_detection,
    "SessionStopReq": Iso2Secc._session_stop,
}
