"""DIN 70121 DC with external identification, SECC side: a table of states and the
requests each accepts, and one handler per request (see evstack.hlc.secc.machine for what
every protocol shares)."""

from __future__ import annotations

from evstack.hlc.secc import events as ev
from evstack.hlc.secc import timing
from evstack.hlc.secc.din import responses as res
from evstack.hlc.secc.din import values as dc
from evstack.hlc.secc.din.values import number, optional
from evstack.hlc.secc.events import Authorization, EvseState, Output
from evstack.hlc.secc.machine import Body, Machine, Refused, State

_DC_TRANSFER_TYPES = frozenset({"DC_core", "DC_extended", "DC_combo_core", "DC_unique"})


_STOP = "SessionStopReq"
EXPECTED: dict[State, frozenset[str]] = {
    State.SESSION_SETUP: frozenset({"SessionSetupReq"}),
    State.SERVICE_DISCOVERY: frozenset({"ServiceDiscoveryReq", _STOP}),
    State.PAYMENT_SELECTION: frozenset({"ServicePaymentSelectionReq", _STOP}),
    State.AUTHORIZATION: frozenset({"ContractAuthenticationReq", _STOP}),
    State.CHARGE_PARAMETERS: frozenset({"ChargeParameterDiscoveryReq", _STOP}),
    State.CABLE_CHECK: frozenset({"CableCheckReq", _STOP}),
    State.PRE_CHARGE: frozenset({"PreChargeReq", "PowerDeliveryReq", _STOP}),
    State.CHARGING: frozenset({"CurrentDemandReq", "PowerDeliveryReq", _STOP}),
    State.WELDING: frozenset({"WeldingDetectionReq", _STOP}),
    State.ENDED: frozenset(),
}


class DinSecc(Machine):
    """One DIN 70121 session after SupportedAppProtocol chose DIN."""

    EXPECTED = EXPECTED
    protocol = "din"

    def __init__(
        self,
        evse: EvseState,
        new_session_id: str,
        *,
        transfer_type: str = "DC_extended",
    ):
        super().__init__(evse, new_session_id)
        self.transfer_type = transfer_type
        self._cable_check_requested = False
        self._pre_charge_started = False
        self._target = (0.0, 0.0)

    def failure(self, request: str, code: str) -> Body | None:
        return res.failure(request, code, self.evse, self.transfer_type)

    # -- handlers, one per request: body in, response body out ------------------------

    def _session_setup(self, body: Body, now: float, out: list[Output]) -> Body:
        self.session_id = self._new_session_id
        out.append(ev.SessionStarted(str(body["EVCCID"] or ""), self.session_id))
        self._enter(State.SERVICE_DISCOVERY, now)
        return res.session_setup("OK_NewSessionEstablished", self.evse)

    def _service_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        self._enter(State.PAYMENT_SELECTION, now)
        return res.service_discovery("OK", self.evse, self.transfer_type)

    def _service_payment_selection(self, body: Body, now: float, out: list[Output]) -> Body:
        option = body["SelectedPaymentOption"]
        if option not in self.evse.payment_options:
            raise Refused("FAILED_PaymentSelectionInvalid", f"payment option {option} not offered")
        services = {s["ServiceID"] for s in body["SelectedServiceList"]["SelectedService"]}
        if dc.SERVICE_ID_CHARGING not in services:
            raise Refused("FAILED_ServiceSelectionInvalid", f"services {sorted(services)}")
        out.append(ev.RequireAuthEim())
        self._enter(State.AUTHORIZATION, now)
        return res.code_only("OK")

    def _contract_authentication(self, body: Body, now: float, out: list[Output]) -> Body:
        auth = self.evse.auth
        if auth is Authorization.REJECTED:
            raise Refused("FAILED", "authorization rejected")
        if auth is Authorization.ACCEPTED:
            self._enter(State.CHARGE_PARAMETERS, now)
            return res.contract_authentication("OK", True)
        if self._elapsed(State.AUTHORIZATION, now) > timing.ONGOING_TIMEOUT:
            raise Refused("FAILED", "no authorization within V2G_EVCC_Ongoing_Timeout")
        return res.contract_authentication("OK", False)

    def _charge_parameter_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        mode = body["EVRequestedEnergyTransferType"]
        if mode not in _DC_TRANSFER_TYPES or "DC_EVChargeParameter" not in body:
            raise Refused("FAILED_WrongEnergyTransferType", f"energy transfer type {mode}")
        param = body["DC_EVChargeParameter"]
        max_voltage = number(param["EVMaximumVoltageLimit"])
        status = param["DC_EVStatus"]
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
                soc=int(status["EVRESSSOC"]),
            )
        )
        if max_voltage < self.evse.min_voltage:
            raise Refused(
                "FAILED_WrongChargeParameter",
                f"EV maximum {max_voltage} V below the EVSE minimum {self.evse.min_voltage} V",
            )
        self._enter(State.CABLE_CHECK, now)
        return res.charge_parameter_discovery("OK", self.evse, True)

    def _cable_check(self, body: Body, now: float, out: list[Output]) -> Body:
        dc.report_ev_status(body, out)
        if not self._cable_check_requested:
            self._cable_check_requested = True
            self._started[State.CABLE_CHECK] = now
            out.append(ev.StartCableCheck())
        result = self.evse.cable_check
        if result is False:
            raise Refused("FAILED", "cable check failed: isolation fault")
        if result is True:
            self._enter(State.PRE_CHARGE, now)
            return dc.cable_check("OK", self.evse, True)
        if self._elapsed(State.CABLE_CHECK, now) > timing.CABLE_CHECK_TIMEOUT:
            raise Refused("FAILED", "cable check not finished within V2G_EVCC_CableCheck_Timeout")
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
        start = bool(body["ReadyToChargeState"])
        if "DC_EVPowerDeliveryParameter" in body:
            dc.report_ev_status(body["DC_EVPowerDeliveryParameter"], out)
        if start and self.state is State.PRE_CHARGE:
            if not self.evse.power_allowed:
                raise Refused("FAILED_PowerDeliveryNotApplied", "the charger allows no power")
            out.append(ev.PowerDelivery(True))
            self._enter(State.CHARGING, now)
            return res.power_delivery("OK", self.evse)
        if not start:
            out.append(ev.PowerDelivery(False))
            self._enter(State.WELDING, now)
            return res.power_delivery("OK", self.evse)
        raise Refused("FAILED_SequenceError", "PowerDeliveryReq(start) while already charging")

    def _current_demand(self, body: Body, now: float, out: list[Output]) -> Body:
        dc.report_ev_status(body, out, complete=bool(body["ChargingComplete"]))
        if self.evse.malfunction:
            raise Refused("FAILED", "the power path reports a malfunction")
        self._target = dc.report_target(body, self._target, out)
        return dc.current_demand("OK", self.evse, *self._target)

    def _welding_detection(self, body: Body, now: float, out: list[Output]) -> Body:
        dc.report_ev_status(body, out)
        return dc.present_voltage("OK", self.evse)

    def _session_stop(self, body: Body, now: float, out: list[Output]) -> Body:
        return res.code_only("OK")


DinSecc.HANDLERS = {
    "SessionSetupReq": DinSecc._session_setup,
    "ServiceDiscoveryReq": DinSecc._service_discovery,
    "ServicePaymentSelectionReq": DinSecc._service_payment_selection,
    "ContractAuthenticationReq": DinSecc._contract_authentication,
    "ChargeParameterDiscoveryReq": DinSecc._charge_parameter_discovery,
    "CableCheckReq": DinSecc._cable_check,
    "PreChargeReq": DinSecc._pre_charge,
    "PowerDeliveryReq": DinSecc._power_delivery,
    "CurrentDemandReq": DinSecc._current_demand,
    "WeldingDetectionReq": DinSecc._welding_detection,
    "SessionStopReq": DinSecc._session_stop,
}
