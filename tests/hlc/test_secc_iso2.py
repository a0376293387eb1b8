"""The SECC session layer, ISO 15118-2 AC and DC with EIM, on a hand clock."""

from __future__ import annotations

from typing import Any

import pytest

from evstack.hlc.secc import Authorization, Close, EvseState, SeccSession, Send, SessionEnded
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.iso2 import EXPECTED
from evstack.hlc.secc.machine import State

from .din_ev import DIN_NS, EXI, ISO2_NS, pv, sap_request, sap_response
from .iso2_ev import AC_PARAMETERS, iso2_request, iso2_response

Doc = dict[str, Any]
SESSION_ID = "0102030405060708"
DC_ORDER = [
    "SessionSetupReq",
    "ServiceDiscoveryReq",
    "PaymentServiceSelectionReq",
    "AuthorizationReq",
    "ChargeParameterDiscoveryReq",
    "CableCheckReq",
    "PreChargeReq",
    "PowerDeliveryReq",
    "CurrentDemandReq",
]
AC_MODES = ("AC_three_phase_core", "AC_single_phase_core")


class Secc:
    def __init__(self, evse: EvseState | None = None, paused: str | None = None):
        self.now = 50.0
        self.evse = evse or EvseState(power_allowed=True)
        self.session = SeccSession(
            self.evse,
            self.now,
            random_bytes=lambda n: bytes(range(1, n + 1)),
            paused_session=paused,
        )
        self.events: list[object] = []
        self.closed: str | None = None
        self.session_id = "00"

    def raw(self, payload: bytes) -> list[Send]:
        sent: list[Send] = []
        for output in self.session.receive(EXI, payload, self.now):
            if isinstance(output, Send):
                sent.append(output)
            elif isinstance(output, Close):
                self.closed = output.reason
            else:
                self.events.append(output)
        return sent

    def sap(self) -> Doc:
        (sent,) = self.raw(sap_request((DIN_NS, 2, 0, 2), (ISO2_NS, 2, 0, 1)))
        return sap_response(sent.payload)

    def req(self, name: str, body: Doc | None = None, session_id: str | None = None) -> Doc:
        sid = session_id or (self.session_id if name != "SessionSetupReq" else "00")
        (sent,) = self.raw(iso2_request(name, sid, body))
        got_sid, res_name, res_body = iso2_response(sent.payload)
        assert res_name == name[:-3] + "Res"
        self.session_id = got_sid
        return res_body

    def ended(self) -> SessionEnded:
        (end,) = [e for e in self.events if isinstance(e, SessionEnded)]
        return end


def to_state(secc: Secc, last: str) -> None:
    assert secc.sap()["SchemaID"] == 2
    secc.evse.auth = Authorization.ACCEPTED
    secc.evse.cable_check = True
    for name in DC_ORDER:
        assert secc.req(name)["ResponseCode"].startswith("OK"), name
        if name == last:
            return


def test_a_whole_dc_session() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    assert secc.session_id == SESSION_ID
    demand = secc.req("CurrentDemandReq")
    assert demand["EVSEID"] == "ZZ00000"
    assert demand["SAScheduleTupleID"] == 1
    assert ev.EvTarget(390, 100) in secc.events
    stop = {"ChargeProgress": "Stop", "SAScheduleTupleID": 1}
    assert secc.req("PowerDeliveryReq", stop)["ResponseCode"] == "OK"
    assert secc.req("WeldingDetectionReq")["ResponseCode"] == "OK"
    assert secc.req("SessionStopReq")["ResponseCode"] == "OK"
    end = secc.ended()
    assert end.clean
    assert not end.paused
    assert secc.session.record.protocol == "iso2"


def test_the_schedule_and_dc_limits_are_offered() -> None:
    secc = Secc()
    to_state(secc, "AuthorizationReq")
    res = secc.req("ChargeParameterDiscoveryReq")
    (schedule,) = res["SAScheduleList"]["SAScheduleTuple"]
    assert schedule["SAScheduleTupleID"] == 1
    assert res["DC_EVSEChargeParameter"]["EVSEMaximumCurrentLimit"]["Unit"] == "A"


def test_a_whole_ac_session() -> None:
    evse = EvseState(power_allowed=True, energy_modes=AC_MODES, ac_max_current=16.0)
    secc = Secc(evse)
    to_state(secc, "AuthorizationReq")
    discovery = secc.req("ChargeParameterDiscoveryReq", AC_PARAMETERS)
    assert discovery["AC_EVSEChargeParameter"]["EVSEMaxCurrent"] == pv(16000, "A", -3)
    (params,) = [e for e in secc.events if isinstance(e, ev.EvChargeParameters)]
    assert (params.max_current, params.energy_request, params.soc) == (16, 20000, None)
    assert secc.req("PowerDeliveryReq")["AC_EVSEStatus"]["RCD"] is False
    assert ev.PowerDelivery(True) in secc.events
    evse.ac_max_current = 10.0  # the energy manager lowers the limit
    status = secc.req("ChargingStatusReq")
    assert status["EVSEMaxCurrent"] == pv(10000, "A", -3)
    stop = {"ChargeProgress": "Stop", "SAScheduleTupleID": 1}
    assert secc.req("PowerDeliveryReq", stop)["ResponseCode"] == "OK"
    assert secc.req("SessionStopReq")["ResponseCode"] == "OK"
    assert secc.ended().clean


def test_dc_requests_in_an_ac_session_are_sequence_errors() -> None:
    evse = EvseState(power_allowed=True, energy_modes=AC_MODES)
    secc = Secc(evse)
    to_state(secc, "AuthorizationReq")
    secc.req("ChargeParameterDiscoveryReq", AC_PARAMETERS)
    assert secc.req("CableCheckReq")["ResponseCode"] == "FAILED_SequenceError"


def test_an_energy_mode_not_offered_is_refused() -> None:
    secc = Secc()  # DC only
    to_state(secc, "AuthorizationReq")
    res = secc.req("ChargeParameterDiscoveryReq", AC_PARAMETERS)
    assert res["ResponseCode"] == "FAILED_WrongEnergyTransferMode"


def test_service_detail_and_an_unknown_service() -> None:
    secc = Secc()
    to_state(secc, "ServiceDiscoveryReq")
    assert secc.req("ServiceDetailReq")["ResponseCode"] == "OK"
    assert secc.req("ServiceDetailReq", {"ServiceID": 9})["ResponseCode"] == (
        "FAILED_ServiceIDInvalid"
    )


def test_no_charge_service_selected() -> None:
    secc = Secc()
    to_state(secc, "ServiceDiscoveryReq")
    body = {
        "SelectedPaymentOption": "ExternalPayment",
        "SelectedServiceList": {"SelectedService": [{"ServiceID": 3}]},
    }
    res = secc.req("PaymentServiceSelectionReq", body)
    assert res["ResponseCode"] == "FAILED_NoChargeServiceSelected"


def test_a_wrong_schedule_is_refused() -> None:
    secc = Secc()
    to_state(secc, "PreChargeReq")
    res = secc.req("PowerDeliveryReq", {"ChargeProgress": "Start", "SAScheduleTupleID": 7})
    assert res["ResponseCode"] == "FAILED_TariffSelectionInvalid"


def test_renegotiation_goes_back_to_charge_parameter_discovery() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    body = {"ChargeProgress": "Renegotiate", "SAScheduleTupleID": 1}
    assert secc.req("PowerDeliveryReq", body)["ResponseCode"] == "OK"
    assert secc.session.state == "ChargeParameterDiscovery"
    assert secc.req("ChargeParameterDiscoveryReq")["ResponseCode"] == "OK"


def test_pause_then_join_with_the_same_session_id() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    stop = {"ChargeProgress": "Stop", "SAScheduleTupleID": 1}
    secc.req("PowerDeliveryReq", stop)
    secc.req("WeldingDetectionReq")
    assert secc.req("SessionStopReq", {"ChargingSession": "Pause"})["ResponseCode"] == "OK"
    end = secc.ended()
    assert end.clean
    assert end.paused
    assert secc.session.record.paused
    again = Secc(paused=secc.session.record.session_id)
    again.sap()
    (sent,) = again.raw(iso2_request("SessionSetupReq", SESSION_ID))
    sid, _, body = iso2_response(sent.payload)
    assert (sid, body["ResponseCode"]) == (SESSION_ID, "OK_OldSessionJoined")


def test_an_unknown_id_in_session_setup_starts_a_new_session() -> None:
    secc = Secc(paused="aaaaaaaaaaaaaaaa")
    secc.sap()
    (sent,) = secc.raw(iso2_request("SessionSetupReq", "bbbbbbbbbbbbbbbb"))
    assert iso2_response(sent.payload)[2]["ResponseCode"] == "OK_NewSessionEstablished"


STATES_AFTER = {
    "SessionSetupReq": State.SERVICE_DISCOVERY,
    "ServiceDiscoveryReq": State.PAYMENT_SELECTION,
    "PaymentServiceSelectionReq": State.AUTHORIZATION,
    "AuthorizationReq": State.CHARGE_PARAMETERS,
    "ChargeParameterDiscoveryReq": State.CABLE_CHECK,
    "CableCheckReq": State.PRE_CHARGE,
    "PowerDeliveryReq": State.CHARGING,
}
WRONG = [
    (last, request)
    for last, state in STATES_AFTER.items()
    for request in (*DC_ORDER, "WeldingDetectionReq", "ServiceDetailReq")
    if request not in EXPECTED[state]
]


@pytest.mark.parametrize(("last", "request_name"), WRONG)
def test_a_request_out_of_sequence_is_a_sequence_error(last: str, request_name: str) -> None:
    secc = Secc()
    to_state(secc, last)
    sid = "00" if request_name == "SessionSetupReq" else SESSION_ID
    res = secc.req(request_name, session_id=sid)
    assert res["ResponseCode"] == "FAILED_SequenceError"
    end = secc.ended()
    assert end.response_code == "FAILED_SequenceError"
    assert secc.closed


def test_plug_and_charge_requests_are_closed_without_an_answer() -> None:
    secc = Secc()
    to_state(secc, "PaymentServiceSelectionReq")
    body = {"eMAID": "DE8AAABCDEFGHIJ", "ContractSignatureCertChain": {"Certificate": "00"}}
    assert secc.raw(iso2_request("PaymentDetailsReq", SESSION_ID, body)) == []
    assert "unknown PaymentDetailsReq" in secc.ended().reason
    assert secc.closed
