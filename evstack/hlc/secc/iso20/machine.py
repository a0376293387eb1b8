"""ISO 15118-20 DC, DC_BPT, AC and AC_BPT with external identification, scheduled and
dynamic control modes, SECC side (see evstack.hlc.secc.machine for what every protocol shares). AC
(service 1, schema set iso20_ac, V2GTP 0x8003) skips cable check, precharge and welding
detection.

SessionSetup, AuthorizationSetup, Authorization (Ongoing until the charger decides),
ServiceDiscovery, ServiceDetail, ServiceSelection, DC_ChargeParameterDiscovery,
ScheduleExchange, DC_CableCheck, DC_PreCharge, PowerDelivery(Start), DC_ChargeLoop,
PowerDelivery(Stop), DC_WeldingDetection, SessionStop. Each message carries its header
(session id, Unix time stamp) inside its root element; common messages travel as V2GTP
0x8002, DC ones as 0x8004. Not here: Plug & Charge, Standby and renegotiation (refused
with FAILED). The control mode is the EV's choice among the parameter sets the SECC offers
(evstack.hlc.secc.iso20.dynamic): scheduled, or dynamic, where the charger sets the power
within the EV's energy requests and limits. DC_BPT and AC_BPT (services 6 and 5, when the
charger is bidirectional): the EV's negative target current (DC) or present active power
(AC, scheduled mode) asks for energy back, and a PowerDelivery(Start) while charging
switches the channel. ISO 15118-20 requires TLS: the session layer offers it only on a TLS
connection. SessionStop(Pause) ends the session paused: a later SessionSetup with the same
SessionID joins it again (OK_OldSessionJoined).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from evstack.exi.v2gtp import PayloadType
from evstack.hlc.secc import events as ev
from evstack.hlc.secc import timing
from evstack.hlc.secc.events import Authorization, EvseState, Output
from evstack.hlc.secc.iso20 import dynamic
from evstack.hlc.secc.iso20 import responses as res
from evstack.hlc.secc.iso20.responses import number
from evstack.hlc.secc.machine import Body, Machine, Refused, State

_STOP = "SessionStopReq"
_PD = "PowerDeliveryReq"
DC_MESSAGES = frozenset(
    {
        "DC_ChargeParameterDiscovery",
        "DC_CableCheck",
        "DC_PreCharge",
        "DC_ChargeLoop",
        "DC_WeldingDetection",
    }
)
AC_MESSAGES = frozenset({"AC_ChargeParameterDiscovery", "AC_ChargeLoop"})
EXPECTED: dict[State, frozenset[str]] = {
    State.SESSION_SETUP: frozenset({"SessionSetupReq"}),
    State.AUTHORIZATION_SETUP: frozenset({"AuthorizationSetupReq", _STOP}),
    State.AUTHORIZATION: frozenset({"AuthorizationReq", _STOP}),
    State.SERVICE_DISCOVERY: frozenset({"ServiceDiscoveryReq", _STOP}),
    State.SERVICE_SELECTION: frozenset({"ServiceDetailReq", "ServiceSelectionReq", _STOP}),
    State.CHARGE_PARAMETERS: frozenset(
        {"DC_ChargeParameterDiscoveryReq", "AC_ChargeParameterDiscoveryReq", _STOP}
    ),
    State.SCHEDULE_EXCHANGE: frozenset({"ScheduleExchangeReq", _STOP}),
    State.CABLE_CHECK: frozenset({"DC_CableCheckReq", _STOP}),
    State.PRE_CHARGE: frozenset({"DC_PreChargeReq", _PD, _STOP}),
    State.READY: frozenset({_PD, _STOP}),  # AC: from ScheduleExchange to PowerDelivery
    State.CHARGING: frozenset({"DC_ChargeLoopReq", "AC_ChargeLoopReq", _PD, _STOP}),
    State.WELDING: frozenset({"DC_WeldingDetectionReq", _STOP}),
    State.STOPPED: frozenset({_STOP}),  # AC: after PowerDelivery(Stop)
    State.ENDED: frozenset(),
}


class Iso20DcSecc(Machine):
    """One ISO 15118-20 DC session after SupportedAppProtocol chose it."""

    EXPECTED = EXPECTED
    protocol = "iso20"

    def __init__(
        self,
        evse: EvseState,
        new_session_id: str,
        *,
        wall_clock: Callable[[], float] = time.time,
        offer: dynamic.Offer | None = None,
        paused_session: str | None = None,
    ):
        super().__init__(evse, new_session_id)
        self._paused_session = paused_session  # the EV may join it again at SessionSetup
        self.offer = offer or dynamic.Offer()
        self.session_id = "0000000000000000"
        self._wall_clock = wall_clock  # for the headers' and the schedule's Unix times only
        self._auth_asked = False
        self._cable_check_requested = False
        self._pre_charge_started = False
        self._target = (0.0, 0.0)
        self.bpt = False  # DC_BPT selected
        self.ac = False  # the AC service selected
        self.dynamic = False  # the dynamic control mode selected
        self.mobility_needs = 1  # the selected set's MobilityNeedsMode
        self.energy_request: dynamic.EnergyRequest | None = None  # the EV's latest

    def failure(self, request: str, code: str) -> Body | None:
        return res.failure(request, code, self.evse, self.bpt)

    # -- framing: the header inside each root, two schema sets ---------------------------

    def schema_for(self, payload_type: int) -> str | None:
        if payload_type == PayloadType.ISO20_COMMON:
            return "iso20"
        if payload_type == PayloadType.ISO20_DC:
            return "iso20_dc"
        if payload_type == PayloadType.ISO20_AC:
            return "iso20_ac"
        return None

    def unwrap(self, document: Body) -> tuple[str, Body, Body] | None:
        if len(document) != 1:
            return None
        ((name, content),) = document.items()
        if not isinstance(content, dict) or "Header" not in content:
            return None
        body = {key: value for key, value in content.items() if key != "Header"}
        return name, body, content["Header"]

    def wrap(self, name: str, body: Body, now: float) -> tuple[str, Body]:
        header = {"SessionID": self.session_id, "TimeStamp": int(self._wall_clock())}
        root = name[:-3]
        schema = (
            "iso20_dc" if root in DC_MESSAGES else "iso20_ac" if root in AC_MESSAGES else "iso20"
        )
        return schema, {name: {"Header": header, **body}}

    # -- handlers ------------------------------------------------------------------------

    def _session_setup(self, body: Body, now: float, out: list[Output]) -> Body:
        paused = self._paused_session
        joined = paused is not None and self.header.get("SessionID") == paused
        self.session_id = paused if joined and paused is not None else self._new_session_id
        out.append(ev.SessionStarted(str(body["EVCCID"] or ""), self.session_id))
        self._enter(State.AUTHORIZATION_SETUP, now)
        code = "OK_OldSessionJoined" if joined else "OK_NewSessionEstablished"
        return res.session_setup(code, self.evse)

    def _authorization_setup(self, body: Body, now: float, out: list[Output]) -> Body:
        self._enter(State.AUTHORIZATION, now)
        return res.authorization_setup("OK")

    def _authorization(self, body: Body, now: float, out: list[Output]) -> Body:
        service = body.get("SelectedAuthorizationService")
        if service != "EIM":
            raise Refused("FAILED", f"authorization service {service} not offered")
        if not self._auth_asked:
            self._auth_asked = True
            out.append(ev.RequireAuthEim())
        auth = self.evse.auth
        if auth is Authorization.REJECTED:
            raise Refused("FAILED", "authorization rejected")
        if auth is Authorization.ACCEPTED:
            self._enter(State.SERVICE_DISCOVERY, now)
            return res.processing("OK", True)
        if self._elapsed(State.AUTHORIZATION, now) > timing.ONGOING_TIMEOUT:
            raise Refused("FAILED", "no authorization within V2G_EVCC_Ongoing_Timeout")
        return res.processing("OK", False)

    def _service_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        self._enter(State.SERVICE_SELECTION, now)
        return res.service_discovery("OK", self.evse)

    def _service_detail(self, body: Body, now: float, out: list[Output]) -> Body:
        if body["ServiceID"] not in res.services(self.evse):
            raise Refused("FAILED_ServiceIDInvalid", f"no service {body['ServiceID']}")
        return res.service_detail("OK", body["ServiceID"], self.evse, self.offer.sets())

    def _service_selection(self, body: Body, now: float, out: list[Output]) -> Body:
        selected = body["SelectedEnergyTransferService"]
        chosen = (selected["ServiceID"], selected["ParameterSetID"])
        service, parameter_set = chosen
        sets = self.offer.sets()
        if service not in res.services(self.evse) or parameter_set not in sets:
            raise Refused("FAILED_ServiceSelectionInvalid", f"service, parameter set {chosen}")
        control_mode, self.mobility_needs = sets[parameter_set]
        self.dynamic = control_mode == dynamic.DYNAMIC
        self.bpt = service in (res.DC_BPT_SERVICE, res.AC_BPT_SERVICE)
        self.ac = service in (res.AC_SERVICE, res.AC_BPT_SERVICE)
        self._enter(State.CHARGE_PARAMETERS, now)
        return res.code_only("OK")

    def _ac_charge_parameter_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        key = "BPT_AC_CPDReqEnergyTransferMode" if self.bpt else "AC_CPDReqEnergyTransferMode"
        mode = body.get(key)
        if not self.ac or mode is None:
            raise Refused("FAILED_WrongChargeParameter", "AC parameters for a DC service")
        out.append(
            ev.EvChargeParameters(
                energy_transfer_mode="AC",
                max_voltage=self.evse.ac_nominal_voltage,
                max_current=0.0,
                max_power=number(mode["EVMaximumChargePower"]),
                energy_capacity=None,
                energy_request=None,
                full_soc=None,
                bulk_soc=None,
                soc=None,
            )
        )
        self._enter(State.SCHEDULE_EXCHANGE, now)
        return res.ac_charge_parameter_discovery("OK", self.evse, self.bpt)

    def _ac_charge_loop(self, body: Body, now: float, out: list[Output]) -> Body:
        if not self.ac:
            raise Refused("FAILED_SequenceError", "AC_ChargeLoopReq in a DC session")
        if self.evse.malfunction:
            raise Refused("FAILED", "the power path reports a malfunction")
        display = body.get("DisplayParameters") or {}
        complete = display.get("ChargingComplete")
        out.append(ev.EvStatus(True, "NO_ERROR", int(display.get("PresentSOC", 0)), complete))
        mode = "Dynamic" if self.dynamic else "Scheduled"
        key = f"{'BPT_' if self.bpt else ''}{mode}_AC_CLReqControlMode"
        control = body.get(key)
        if control is None:
            raise Refused("FAILED", f"charge loop without {key}")
        power = number(control["EVPresentActivePower"])
        out.append(ev.AcEvPower(power))
        if not self.dynamic:
            return res.ac_charge_loop("OK", self.evse, bpt=self.bpt, back=self.bpt and power < 0)
        self.energy_request = dynamic.EnergyRequest.of(control)
        target = dynamic.ac_target_power(control, res.ac_power(self.evse), self.evse)
        part = self._needs() | {"EVSETargetActivePower": res.rational(target)}
        return res.ac_charge_loop("OK", self.evse, part, bpt=self.bpt)

    def _dc_charge_parameter_discovery(self, body: Body, now: float, out: list[Output]) -> Body:
        if self.ac:
            raise Refused("FAILED_WrongChargeParameter", "DC parameters for an AC service")
        key = "BPT_DC_CPDReqEnergyTransferMode" if self.bpt else "DC_CPDReqEnergyTransferMode"
        mode = body.get(key)
        if mode is None:
            raise Refused("FAILED_WrongChargeParameter", f"no {key} for the service selected")
        max_voltage = number(mode["EVMaximumVoltage"])
        out.append(
            ev.EvChargeParameters(
                energy_transfer_mode="DC",
                max_voltage=max_voltage,
                max_current=number(mode["EVMaximumChargeCurrent"]),
                max_power=number(mode["EVMaximumChargePower"]),
                energy_capacity=None,
                energy_request=None,
                full_soc=mode.get("TargetSOC"),
                bulk_soc=None,
                soc=None,
            )
        )
        if max_voltage < self.evse.min_voltage:
            raise Refused(
                "FAILED_WrongChargeParameter",
                f"EV maximum {max_voltage} V below the EVSE minimum {self.evse.min_voltage} V",
            )
        self._enter(State.SCHEDULE_EXCHANGE, now)
        return res.dc_charge_parameter_discovery("OK", self.evse, self.bpt)

    def _schedule_exchange(self, body: Body, now: float, out: list[Output]) -> Body:
        key = "Dynamic_SEReqControlMode" if self.dynamic else "Scheduled_SEReqControlMode"
        if key not in body:
            raise Refused("FAILED", f"ScheduleExchangeReq without {key}, the mode selected")
        self._enter(State.READY if self.ac else State.CABLE_CHECK, now)
        if not self.dynamic:
            return res.schedule_exchange("OK", self.evse, int(self._wall_clock()))
        self.energy_request = dynamic.EnergyRequest.of(body[key])
        return res.dynamic_schedule_exchange("OK", int(self._wall_clock()), self._needs())

    def _needs(self) -> Body:
        """The charger's mobility needs where the selected set lets it state them."""
        return dynamic.mobility_needs(self.evse) if self.mobility_needs == 2 else {}

    def _dc_cable_check(self, body: Body, now: float, out: list[Output]) -> Body:
        if not self._cable_check_requested:
            self._cable_check_requested = True
            self._started[State.CABLE_CHECK] = now
            out.append(ev.StartCableCheck())
        if self.evse.cable_check is False:
            raise Refused("FAILED", "cable check failed: isolation fault")
        if self.evse.cable_check is True:
            self._enter(State.PRE_CHARGE, now)
            return res.processing("OK", True)
        if self._elapsed(State.CABLE_CHECK, now) > timing.CABLE_CHECK_TIMEOUT:
            raise Refused("FAILED", "cable check unfinished after V2G_EVCC_CableCheck_Timeout")
        return res.processing("OK", False)

    def _dc_pre_charge(self, body: Body, now: float, out: list[Output]) -> Body:
        if not self._pre_charge_started:
            self._pre_charge_started = True
            self._started[State.PRE_CHARGE] = now
            out.append(ev.StartPreCharge())
        elif self._elapsed(State.PRE_CHARGE, now) > timing.ISO20_PRE_CHARGE_TIMEOUT:
            raise Refused("FAILED", "PreCharge still looping after V2G_EVCC_PreCharge_Timeout")
        # ISO-20's precharge names no current: the supply holds its precharge limit.
        self._set_target(number(body["EVTargetVoltage"]), timing.PRE_CHARGE_CURRENT, out)
        return res.present_voltage("OK", self.evse)

    def _power_delivery(self, body: Body, now: float, out: list[Output]) -> Body:
        progress = body["ChargeProgress"]
        if progress == "Start" and body.get("EVProcessing") == "Ongoing":
            # The EV is not ready yet (its contactor, say) and will ask again: nothing moves.
            if self.state not in (State.PRE_CHARGE, State.READY):
                raise Refused("FAILED_SequenceError", f"PowerDelivery(Start) in {self.state.value}")
            return res.power_delivery("OK", self.evse)
        if progress == "Start" and self.bpt and self.state is State.CHARGING:
            # The other channel (BPT_ChannelSelection): the targets that follow say which.
            return res.power_delivery("OK", self.evse)
        if progress == "Start":
            if self.state not in (State.PRE_CHARGE, State.READY):
                raise Refused("FAILED_SequenceError", f"PowerDelivery(Start) in {self.state.value}")
            if not self.evse.power_allowed:
                raise Refused("FAILED_PowerDeliveryNotApplied", "the charger allows no power")
            out.append(ev.PowerDelivery(True))
            self._enter(State.CHARGING, now)
        elif progress == "Stop":
            out.append(ev.PowerDelivery(False))
            self._enter(State.STOPPED if self.ac else State.WELDING, now)
        else:
            raise Refused("FAILED", f"ChargeProgress {progress} (not supported)")
        return res.power_delivery("OK", self.evse)

    def _dc_charge_loop(self, body: Body, now: float, out: list[Output]) -> Body:
        if self.ac:  # Charging is one state for both: the service tells them apart
            raise Refused("FAILED_SequenceError", "DC_ChargeLoopReq in an AC session")
        mode = "Dynamic" if self.dynamic else "Scheduled"
        key = f"BPT_{mode}_DC_CLReqControlMode" if self.bpt else f"{mode}_DC_CLReqControlMode"
        control = body.get(key)
        if control is None:
            raise Refused("FAILED", f"charge loop without {key}")
        display = body.get("DisplayParameters") or {}
        out.append(
            ev.EvStatus(
                True,
                "NO_ERROR",
                int(display.get("PresentSOC", 0)),
                display.get("ChargingComplete"),
            )
        )
        if self.evse.malfunction:
            raise Refused("FAILED", "the power path reports a malfunction")
        if self.dynamic:
            # The charger decides: the EV states its needs and limits, not a target.
            self.energy_request = dynamic.EnergyRequest.of(control)
            present = number(body["EVPresentVoltage"])
            voltage, current = dynamic.dc_target(control, present, self.evse)
            self._set_target(voltage, current, out)
            limits = dynamic.dc_limits(self.evse, self.bpt, self._needs())
            return res.dc_charge_loop("OK", self.evse, voltage, current, self.bpt, limits)
        voltage = number(control["EVTargetVoltage"])
        current = number(control["EVTargetCurrent"])
        if current < 0 and not self.bpt:
            raise Refused("FAILED", f"a target of {current} A without bidirectional transfer")
        self._set_target(voltage, current, out)
        return res.dc_charge_loop("OK", self.evse, voltage, current, self.bpt)

    def _dc_welding_detection(self, body: Body, now: float, out: list[Output]) -> Body:
        return res.present_voltage("OK", self.evse)

    def _session_stop(self, body: Body, now: float, out: list[Output]) -> Body:
        if body.get("ChargingSession") == "Pause":
            self.paused = True
            self.stop_reason = "the EV paused the session"
        return res.code_only("OK")

    def _set_target(self, voltage: float, current: float, out: list[Output]) -> None:
        if (voltage, current) != self._target:
            self._target = (voltage, current)
            out.append(ev.EvTarget(voltage, current))


Iso20DcSecc.HANDLERS = {
    "SessionSetupReq": Iso20DcSecc._session_setup,
    "AuthorizationSetupReq": Iso20DcSecc._authorization_setup,
    "AuthorizationReq": Iso20DcSecc._authorization,
    "ServiceDiscoveryReq": Iso20DcSecc._service_discovery,
    "ServiceDetailReq": Iso20DcSecc._service_detail,
    "ServiceSelectionReq": Iso20DcSecc._service_selection,
    "DC_ChargeParameterDiscoveryReq": Iso20DcSecc._dc_charge_parameter_discovery,
    "AC_ChargeParameterDiscoveryReq": Iso20DcSecc._ac_charge_parameter_discovery,
    "AC_ChargeLoopReq": Iso20DcSecc._ac_charge_loop,
    "ScheduleExchangeReq": Iso20DcSecc._schedule_exchange,
    "DC_CableCheckReq": Iso20DcSecc._dc_cable_check,
    "DC_PreChargeReq": Iso20DcSecc._dc_pre_charge,
    "PowerDeliveryReq": Iso20DcSecc._power_delivery,
    "DC_ChargeLoopReq": Iso20DcSecc._dc_charge_loop,
    "DC_WeldingDetectionReq": Iso20DcSecc._dc_welding_detection,
    "SessionStopReq": Iso20DcSecc._session_stop,
}
