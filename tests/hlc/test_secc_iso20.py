"""The SECC session layer, ISO 15118-20 DC (EIM, scheduled), on a hand clock."""

from __future__ import annotations

from typing import Any

import pytest

from evstack import exi
from evstack.exi.v2gtp import PayloadType
from evstack.hlc.secc import (
    Authorization,
    Close,
    EvseState,
    SeccConfig,
    SeccSession,
    Send,
    SessionEnded,
    sap,
)
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.iso20 import EXPECTED
from evstack.hlc.secc.iso20.responses import rational
from evstack.hlc.secc.machine import State

from .din_ev import DIN_NS, EXI, sap_request, sap_response

Doc = dict[str, Any]
ISO20_NS = sap.ISO20_DC.namespace
SESSION_ID = "0102030405060708"
DC = {"DC_ChargeParameterDiscoveryReq", "DC_CableCheckReq", "DC_PreChargeReq"} | {
    "DC_ChargeLoopReq",
    "DC_WeldingDetectionReq",
}
BODIES: dict[str, Doc] = {
    "SessionSetupReq": {"EVCCID": "0a0000000003"},
    "AuthorizationSetupReq": {},
    "AuthorizationReq": {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}},
    "ServiceDiscoveryReq": {},
    "ServiceDetailReq": {"ServiceID": 2},
    "ServiceSelectionReq": {"SelectedEnergyTransferService": {"ServiceID": 2, "ParameterSetID": 1}},
    "DC_ChargeParameterDiscoveryReq": {
        "DC_CPDReqEnergyTransferMode": {
            "EVMaximumChargePower": rational(60000),
            "EVMinimumChargePower": rational(0),
            "EVMaximumChargeCurrent": rational(150),
            "EVMinimumChargeCurrent": rational(0),
            "EVMaximumVoltage": rational(420),
            "EVMinimumVoltage": rational(300),
        }
    },
    "ScheduleExchangeReq": {
        "MaximumSupportingPoints": 1024,
        "Scheduled_SEReqControlMode": {"EVTargetEnergyRequest": rational(10000)},
    },
    "DC_CableCheckReq": {},
    "DC_PreChargeReq": {
        "EVProcessing": "Ongoing",
        "EVPresentVoltage": rational(350),
        "EVTargetVoltage": rational(352),
    },
    "PowerDeliveryReq": {"EVProcessing": "Finished", "ChargeProgress": "Start"},
    "DC_ChargeLoopReq": {
        "DisplayParameters": {"PresentSOC": 41},
        "MeterInfoRequested": False,
        "EVPresentVoltage": rational(352),
        "Scheduled_DC_CLReqControlMode": {
            "EVTargetCurrent": rational(100),
            "EVTargetVoltage": rational(400),
        },
    },
    "DC_WeldingDetectionReq": {"EVProcessing": "Ongoing"},
    "SessionStopReq": {"ChargingSession": "Terminate"},
}
ORDER = list(BODIES)[:-2]  # up to the charge loop


AC = {"AC_ChargeParameterDiscoveryReq", "AC_ChargeLoopReq"}


def schema_of(name: str) -> str:
    return "iso20_dc" if name in DC else "iso20_ac" if name in AC else "iso20"


def request(name: str, session_id: str, body: Doc | None = None) -> tuple[int, bytes]:
    schema = schema_of(name)
    header = {"SessionID": session_id, "TimeStamp": 1_800_000_000}
    document = {name: {"Header": header, **(BODIES[name] if body is None else body)}}
    return int(exi.v2gtp.PAYLOAD_TYPES[schema]), exi.encode_any(schema, document)


class Secc:
    def __init__(
        self, tls: bool = True, evse: EvseState | None = None, config: SeccConfig | None = None
    ):
        self.now = 10.0
        self.evse = evse or EvseState(power_allowed=True)
        random = lambda n: bytes(range(1, n + 1))  # noqa: E731
        self.session = SeccSession(self.evse, self.now, config, random_bytes=random, tls=tls)
        self.events: list[object] = []
        self.closed: str | None = None

    def raw(self, payload_type: int, payload: bytes) -> list[Send]:
        sent: list[Send] = []
        for output in self.session.receive(payload_type, payload, self.now):
            if isinstance(output, Send):
                sent.append(output)
            elif isinstance(output, Close):
                self.closed = output.reason
            else:
                self.events.append(output)
        return sent

    def sap(self) -> Doc:
        (sent,) = self.raw(EXI, sap_request((ISO20_NS, 1, 0, 1), (DIN_NS, 2, 0, 2)))
        return sap_response(sent.payload)

    def req(self, name: str, body: Doc | None = None) -> Doc:
        sid = "0000000000000000" if name == "SessionSetupReq" else SESSION_ID
        (sent,) = self.raw(*request(name, sid, body))
        schema = schema_of(name)
        assert sent.payload_type == exi.v2gtp.PAYLOAD_TYPES[schema]
        ((res_name, content),) = exi.decode_any(schema, sent.payload).items()
        assert res_name == name[:-3] + "Res"
        assert content["Header"]["SessionID"] == SESSION_ID
        return dict(content)

    def ended(self) -> SessionEnded:
        (end,) = [e for e in self.events if isinstance(e, SessionEnded)]
        return end


def to_state(secc: Secc, last: str) -> None:
    assert secc.sap()["SchemaID"] == 1
    secc.evse.auth = Authorization.ACCEPTED
    secc.evse.cable_check = True
    for name in ORDER:
        assert secc.req(name)["ResponseCode"].startswith("OK"), name
        if name == last:
            return


def test_a_whole_dc_session() -> None:
    secc = Secc()
    to_state(secc, "DC_ChargeLoopReq")
    assert ev.EvTarget(400, 100) in secc.events
    secc.evse.max_current = 50.0  # the energy manager lowers the limit
    loop = secc.req("DC_ChargeLoopReq")
    assert loop["Scheduled_DC_CLResControlMode"]["EVSEMaximumChargeCurrent"] == rational(50)
    assert loop["EVSECurrentLimitAchieved"] is True
    stop = {"EVProcessing": "Finished", "ChargeProgress": "Stop"}
    assert secc.req("PowerDeliveryReq", stop)["ResponseCode"] == "OK"
    assert secc.req("DC_WeldingDetectionReq")["ResponseCode"] == "OK"
    assert secc.req("SessionStopReq")["ResponseCode"] == "OK"
    assert secc.ended().clean
    assert secc.session.record.protocol == "iso20"


def test_power_delivery_start_while_the_ev_is_ongoing_waits() -> None:
    secc = Secc()
    to_state(secc, "DC_PreChargeReq")
    ongoing = {"EVProcessing": "Ongoing", "ChargeProgress": "Start"}
    assert secc.req("PowerDeliveryReq", ongoing)["ResponseCode"] == "OK"
    assert ev.PowerDelivery(True) not in secc.events
    assert secc.req("PowerDeliveryReq")["ResponseCode"] == "OK"
    assert ev.PowerDelivery(True) in secc.events


def test_a_whole_ac_session() -> None:
    evse = EvseState(power_allowed=True, energy_modes=("AC_three_phase_core",))
    evse.auth, evse.ac_max_current = Authorization.ACCEPTED, 16.0
    secc = Secc(evse=evse)
    (sent,) = secc.raw(EXI, sap_request((sap.ISO20_AC.namespace, 1, 0, 1)))
    assert sap_response(sent.payload)["ResponseCode"] == "OK_SuccessfulNegotiation"
    for name in ORDER[:3]:
        secc.req(name)
    services = secc.req("ServiceDiscoveryReq")["EnergyTransferServiceList"]["Service"]
    assert [s["ServiceID"] for s in services] == [1]
    parameters = secc.req("ServiceDetailReq", {"ServiceID": 1})["ServiceParameterList"]
    names = {p["@Name"] for p in parameters["ParameterSet"][0]["Parameter"]}
    assert "EVSENominalVoltage" in names
    selected = {"SelectedEnergyTransferService": {"ServiceID": 1, "ParameterSetID": 1}}
    assert secc.req("ServiceSelectionReq", selected)["ResponseCode"] == "OK"
    cpd = {"AC_CPDReqEnergyTransferMode": {"EVMaximumChargePower": rational(11000)}}
    cpd["AC_CPDReqEnergyTransferMode"]["EVMinimumChargePower"] = rational(0)
    res = secc.req("AC_ChargeParameterDiscoveryReq", cpd)
    assert res["AC_CPDResEnergyTransferMode"]["EVSEMaximumChargePower"] == rational(11040)
    assert secc.req("ScheduleExchangeReq")["ResponseCode"] == "OK"
    assert secc.req("PowerDeliveryReq")["ResponseCode"] == "OK"
    evse.ac_max_current = 10.0  # the energy manager lowers the limit
    loop_body = {
        "MeterInfoRequested": False,
        "Scheduled_AC_CLReqControlMode": {"EVPresentActivePower": rational(11000)},
    }
    loop = secc.req("AC_ChargeLoopReq", loop_body)
    assert loop["Scheduled_AC_CLResControlMode"]["EVSETargetActivePower"] == rational(6900)
    assert ev.AcEvPower(11000) in secc.events  # what the EV takes, for the charger's meter
    stop = {"EVProcessing": "Finished", "ChargeProgress": "Stop"}
    assert secc.req("PowerDeliveryReq", stop)["ResponseCode"] == "OK"
    assert secc.req("SessionStopReq")["ResponseCode"] == "OK"
    assert secc.ended().clean


def test_a_whole_ac_bpt_session_charges_then_gives_power_back() -> None:
    modes = ("AC_three_phase_core",)
    evse = EvseState(power_allowed=True, energy_modes=modes, bidirectional=True)
    evse.auth, evse.max_discharge_power = Authorization.ACCEPTED, 7000.0
    secc = Secc(evse=evse)
    (sent,) = secc.raw(EXI, sap_request((sap.ISO20_AC.namespace, 1, 0, 1)))
    assert sap_response(sent.payload)["ResponseCode"] == "OK_SuccessfulNegotiation"
    for name in ORDER[:3]:
        secc.req(name)
    services = secc.req("ServiceDiscoveryReq")["EnergyTransferServiceList"]["Service"]
    assert [s["ServiceID"] for s in services] == [1, 5]
    parameters = secc.req("ServiceDetailReq", {"ServiceID": 5})["ServiceParameterList"]
    names = {p["@Name"] for p in parameters["ParameterSet"][0]["Parameter"]}
    assert {"EVSENominalVoltage", "BPTChannel", "GridCodeIslandingDetectionMethod"} <= names
    selected = {"SelectedEnergyTransferService": {"ServiceID": 5, "ParameterSetID": 1}}
    assert secc.req("ServiceSelectionReq", selected)["ResponseCode"] == "OK"
    mode = {"EVMaximumChargePower": rational(11000), "EVMinimumChargePower": rational(0)}
    mode |= {"EVMaximumDischargePower": rational(5000), "EVMinimumDischargePower": rational(0)}
    cpd = secc.req("AC_ChargeParameterDiscoveryReq", {"BPT_AC_CPDReqEnergyTransferMode": mode})
    assert cpd["BPT_AC_CPDResEnergyTransferMode"]["EVSEMaximumDischargePower"] == rational(7000)
    assert secc.req("ScheduleExchangeReq")["ResponseCode"] == "OK"
    assert secc.req("PowerDeliveryReq")["ResponseCode"] == "OK"

    def loop(watts: float) -> Doc:
        control = {"BPT_Scheduled_AC_CLReqControlMode": {"EVPresentActivePower": rational(watts)}}
        res = secc.req("AC_ChargeLoopReq", {"MeterInfoRequested": False, **control})
        assert res["ResponseCode"] == "OK"
        return dict(res["BPT_Scheduled_AC_CLResControlMode"])

    assert loop(11000)["EVSETargetActivePower"] == rational(22080)  # 32 A on three phases
    discharge = {"EVProcessing": "Finished", "ChargeProgress": "Start"}
    switch = secc.req("PowerDeliveryReq", discharge | {"BPT_ChannelSelection": "Discharge"})
    assert switch["ResponseCode"] == "OK"
    assert loop(-5000)["EVSETargetActivePower"] == rational(-7000)
    assert [e for e in secc.events if isinstance(e, ev.AcEvPower)] == [
        ev.AcEvPower(11000),
        ev.AcEvPower(-5000),
    ]
    stop = {"EVProcessing": "Finished", "ChargeProgress": "Stop"}
    assert secc.req("PowerDeliveryReq", stop)["ResponseCode"] == "OK"
    assert secc.req("SessionStopReq")["ResponseCode"] == "OK"
    assert secc.ended().clean


def test_the_schedule_has_a_power_and_a_price_schedule() -> None:
    secc = Secc()
    to_state(secc, "DC_ChargeParameterDiscoveryReq")
    res = secc.req("ScheduleExchangeReq")
    (schedule,) = res["Scheduled_SEResControlMode"]["ScheduleTuple"]
    assert set(schedule["ChargingSchedule"]) == {"PowerSchedule", "PriceLevelSchedule"}


def test_a_bidirectional_charger_offers_dc_bpt() -> None:
    secc = Secc(evse=EvseState(power_allowed=True, bidirectional=True))
    to_state(secc, "AuthorizationReq")
    services = secc.req("ServiceDiscoveryReq")["EnergyTransferServiceList"]["Service"]
    assert [s["ServiceID"] for s in services] == [2, 6]
    detail = secc.req("ServiceDetailReq", {"ServiceID": 6})
    (parameter_set,) = detail["ServiceParameterList"]["ParameterSet"]
    names = {p["@Name"] for p in parameter_set["Parameter"]}
    assert {"BPTChannel", "GeneratorMode", "ControlMode"} <= names


def test_a_charger_that_is_not_bidirectional_refuses_dc_bpt() -> None:
    secc = Secc()
    to_state(secc, "ServiceDiscoveryReq")
    body = {"SelectedEnergyTransferService": {"ServiceID": 6, "ParameterSetID": 1}}
    assert secc.req("ServiceSelectionReq", body)["ResponseCode"] == "FAILED_ServiceSelectionInvalid"


def test_without_tls_iso20_is_not_offered() -> None:
    assert Secc(tls=False).sap()["SchemaID"] == 2  # DIN, the EV's second choice


def test_a_schedule_exchange_in_the_mode_not_selected_is_refused() -> None:
    secc = Secc()  # parameter set 1: scheduled
    to_state(secc, "DC_ChargeParameterDiscoveryReq")
    dynamic = {
        "DepartureTime": 7200,
        "EVTargetEnergyRequest": rational(10000),
        "EVMaximumEnergyRequest": rational(20000),
        "EVMinimumEnergyRequest": rational(0),
    }
    body = {"MaximumSupportingPoints": 1024, "Dynamic_SEReqControlMode": dynamic}
    assert secc.req("ScheduleExchangeReq", body)["ResponseCode"] == "FAILED"
    assert "Scheduled_SEReqControlMode" in secc.ended().reason


def test_power_delivery_needs_the_chargers_permission() -> None:
    secc = Secc()
    to_state(secc, "DC_PreChargeReq")
    secc.evse.power_allowed = False
    assert secc.req("PowerDeliveryReq")["ResponseCode"] == "FAILED_PowerDeliveryNotApplied"
    assert ev.PowerDelivery(True) not in secc.events


def test_a_stop_from_the_charger_is_terminate() -> None:
    secc = Secc()
    to_state(secc, "DC_ChargeLoopReq")
    secc.evse.stop_requested = True
    assert secc.req("DC_ChargeLoopReq")["EVSEStatus"]["EVSENotification"] == "Terminate"


def test_a_common_message_on_the_dc_payload_type_is_malformed() -> None:
    secc = Secc()
    to_state(secc, "SessionSetupReq")
    _, payload = request("AuthorizationSetupReq", SESSION_ID)
    assert secc.raw(int(PayloadType.ISO20_DC), payload) == []
    assert "malformed EXI" in secc.ended().reason


STATES_AFTER = dict(
    zip(
        ORDER,
        [
            State.AUTHORIZATION_SETUP,
            State.AUTHORIZATION,
            State.SERVICE_DISCOVERY,
            State.SERVICE_SELECTION,
            State.SERVICE_SELECTION,
            State.CHARGE_PARAMETERS,
            State.SCHEDULE_EXCHANGE,
            State.CABLE_CHECK,
            State.PRE_CHARGE,
            State.PRE_CHARGE,
            State.CHARGING,
            State.CHARGING,
        ],
        strict=True,
    )
)
WRONG = [
    (last, name)
    for last, state in STATES_AFTER.items()
    for name in (*ORDER, "DC_WeldingDetectionReq")
    if name not in EXPECTED[state] and name != "SessionSetupReq"
]


@pytest.mark.parametrize(("last", "name"), WRONG)
def test_a_request_out_of_sequence_is_a_sequence_error(last: str, name: str) -> None:
    secc = Secc()
    to_state(secc, last)
    assert secc.req(name)["ResponseCode"] == "FAILED_SequenceError"
    assert secc.ended().response_code == "FAILED_SequenceError"
    assert secc.closed
