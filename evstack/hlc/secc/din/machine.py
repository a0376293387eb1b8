"""DIN 70121 DC with external identification, SECC side: a table of states and the
requests each accepts, and one handler per request.

A request the table does not list for the present state is a sequence error: the SECC
answers FAILED_SequenceError and ends the session (DIN 70121 [V2G-DC-391]). A failed
response always ends the session; the session layer closes the connection and the
charger goes to its safe state.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from evstack.hlc.secc import events as ev
from evstack.hlc.secc import timing
from evstack.hlc.secc.din import responses as res
from evstack.hlc.secc.din.values import number, optional
from evstack.hlc.secc.events import Authorization, EvseState, Output

Body = dict[str, Any]

_DC_TRANSFER_TYPES = frozenset({"DC_core", "DC_extended", "DC_combo_core", "DC_unique"})


class State(enum.Enum):
    SESSION_SETUP = "SessionSetup"
    SERVICE_DISCOVERY = "ServiceDiscovery"
    PAYMENT_SELECTION = "ServicePaymentSelection"
    AUTHORIZATION = "ContractAuthentication"
    CHARGE_PARAMETERS = "ChargeParameterDiscovery"
    CABLE_CHECK = "CableCheck"
    PRE_CHARGE = "PreCharge"
    CHARGING = "CurrentDemand"
    WELDING = "WeldingDetection"
    ENDED = "Ended"


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


@dataclasses.dataclass(frozen=True)
class Reply:
    name: str  # response element, e.g. "SessionSetupRes"
    body: Body | None  # None: no response can be given, only a close
    end: ev.SessionEnded | None = None
    session_id: str | None = None  # set by SessionSetup: the header of this and later replies


class _Refused(Exception):  # noqa: N818 (a refusal, not an error of the SECC)
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class DinSecc:
    """One DIN 70121 session after SupportedAppProtocol chose DIN."""

    def __init__(
        self,
        evse: EvseState,
        new_session_id: str,
        *,
        transfer_type: str = "DC_extended",
    ):
        self.evse = evse
        self.state = State.SESSION_SETUP
        self.session_id = "00"
        self._new_session_id = new_session_id
        self.transfer_type = transfer_type
        self._started: dict[State, float] = {}  # when a looping state was entered
        self._cable_check_requested = False
        self._pre_charge_started = False
        self._target = (0.0, 0.0)

    def handle(
        self, request: str, body: Body, header: Body, now: float, out: list[Output]
    ) -> Reply:
        response = request[:-3] + "Res" if request.endswith("Req") else request
        if request not in EXPECTED[self.state]:
            known = res.failure(request, "FAILED", self.evse, self.transfer_type) is not None
            what = "unexpected" if known else "unknown"
            return self._fail(
                request,
                "FAILED_SequenceError",
                f"{what} {request} in state {self.state.value}",
            )
        if self.state is not State.SESSION_SETUP and header.get("SessionID") != self.session_id:
            return self._fail(
                request,
                "FAILED_UnknownSession",
                f"{request} with session id {header.get('SessionID')}, not {self.session_id}",
            )
        handler = _HANDLERS[request]
        try:
            body_out = handler(self, body, now, out)
        except _Refused as failed:
            return self._fail(request, failed.code, failed.reason)
        if request == _STOP:
            self.state = State.ENDED
            return Reply(response, body_out, ev.SessionEnded("the EV stopped the session", True))
        return Reply(response, body_out, session_id=self.session_id)

    def _fail(self, request: str, code: str, reason: str) -> Reply:
        self.state = State.ENDED
        name = request[:-3] + "Res" if request.endswith("Req") else request
        body = res.failure(request, code, self.evse, self.transfer_type)
        return Reply(name, body, ev.SessionEnded(reason, False, code))

    def _enter(self, state: State, now: float) -> None:
        if state is not self.state:
            self.state = state
            self._started[state] = now

    def _elapsed(self, state: State, now: float) -> float:
        return now - self._started.setdefault(state, now)

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
            raise _Refused("FAILED_PaymentSelectionInvalid", f"payment option {option} not offered")
        services = {s["ServiceID"] for s in body["SelectedServiceList"]["SelectedService"]}
        if res.SERVICE_ID_CHARGING not in services:
            raise _Refused("FAILED_ServiceSelectionInvalid", f"services {sorted(services)}")
        out.append(ev.RequireAuthEim())
        self._enter(State.AUTHORIZATION, now)
        return res.code_only("OK")

    def _contract_authentication(self, body: Body, now: float, out: list[Output]) -> Body:
        auth = self.evse.auth
        if auth is Authorization.REJECTED:
            raise _Refused("FAILED", "authorization rejected")
        if auth is Authorization.ACCEPTED:
            self._enter(State.CHARGE_PARAMETERS, now)
            return res.contract_authentication("OK", True)
        if self._elapsed(State.AUTHORIZATION, now) > timing.ONGOING_TIMEOUT:
            raise _Refused("FAILED", "no authorization within V2G_EVCC_Ongoing_Timeout")
        return res.contract_authentication("OK", False)

    def _charge_parameter_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        mode = body["EVRequestedEnergyTransferType"]
        if mode not in _DC_TRANSFER_TYPES or "DC_EVChargeParameter" not in body:
            raise _Refused("FAILED_WrongEnergyTransferType", f"energy transfer type {mode}")
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
            raise _Refused(
                "FAILED_WrongChargeParameter",
                f"EV maximum {max_voltage} V below the EVSE minimum {self.evse.min_voltage} V",
            )
        self._enter(State.CABLE_CHECK, now)
        return res.charge_parameter_discovery("OK", self.evse, True)

    def _cable_check(self, body: Body, now: float, out: list[Output]) -> Body:
        self._ev_status(body, out)
        if not self._cable_check_requested:
            self._cable_check_requested = True
            self._started[State.CABLE_CHECK] = now
            out.append(ev.StartCableCheck())
        result = self.evse.cable_check
        if result is False:
            raise _Refused("FAILED", "cable check failed: isolation fault")
        if result is True:
            self._enter(State.PRE_CHARGE, now)
            return res.cable_check("OK", self.evse, True)
        if self._elapsed(State.CABLE_CHECK, now) > timing.CABLE_CHECK_TIMEOUT:
            raise _Refused("FAILED", "cable check not finished within V2G_EVCC_CableCheck_Timeout")
        return res.cable_check("OK", self.evse, False)

    def _pre_charge(self, body: Body, now: float, out: list[Output]) -> Body:
        self._ev_status(body, out)
        if not self._pre_charge_started:
            self._pre_charge_started = True
            self._started[State.PRE_CHARGE] = now
            out.append(ev.StartPreCharge())
        elif self._elapsed(State.PRE_CHARGE, now) > timing.PRE_CHARGE_TIMEOUT:
            raise _Refused("FAILED", "PreCharge still looping after V2G_EVCC_PreCharge_Timeout")
        self._set_target(body, out)
        return res.pre_charge("OK", self.evse)

    def _power_delivery(self, body: Body, now: float, out: list[Output]) -> Body:
        start = bool(body["ReadyToChargeState"])
        if "DC_EVPowerDeliveryParameter" in body:
            self._ev_status(body["DC_EVPowerDeliveryParameter"], out)
        if start and self.state is State.PRE_CHARGE:
            if not self.evse.power_allowed:
                raise _Refused("FAILED_PowerDeliveryNotApplied", "the charger allows no power")
            out.append(ev.PowerDelivery(True))
            self._enter(State.CHARGING, now)
            return res.power_delivery("OK", self.evse)
        if not start:
            out.append(ev.PowerDelivery(False))
            self._enter(State.WELDING, now)
            return res.power_delivery("OK", self.evse)
        raise _Refused("FAILED_SequenceError", "PowerDeliveryReq(start) while already charging")

    def _current_demand(self, body: Body, now: float, out: list[Output]) -> Body:
        status = body["DC_EVStatus"]
        out.append(
            ev.EvStatus(
                bool(status["EVReady"]),
                str(status["EVErrorCode"]),
                int(status["EVRESSSOC"]),
                bool(body["ChargingComplete"]),
            )
        )
        if self.evse.malfunction:
            raise _Refused("FAILED", "the power path reports a malfunction")
        voltage, current = self._set_target(body, out)
        return res.current_demand("OK", self.evse, voltage, current)

    def _welding_detection(self, body: Body, now: float, out: list[Output]) -> Body:
        self._ev_status(body, out)
        return res.welding_detection("OK", self.evse)

    def _session_stop(self, body: Body, now: float, out: list[Output]) -> Body:
        return res.code_only("OK")

    # -- helpers -------------------------------------------------------------------------

    def _ev_status(self, body: Body, out: list[Output]) -> None:
        status = body["DC_EVStatus"]
        out.append(
            ev.EvStatus(
                bool(status["EVReady"]), str(status["EVErrorCode"]), int(status["EVRESSSOC"])
            )
        )

    def _set_target(self, body: Body, out: list[Output]) -> tuple[float, float]:
        target = (number(body["EVTargetVoltage"]), number(body["EVTargetCurrent"]))
        if target != self._target:
            self._target = target
            out.append(ev.EvTarget(*target))
        return target


_Handler = Callable[[DinSecc, Body, float, list[Output]], Body]
_HANDLERS: dict[str, _Handler] = {
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
