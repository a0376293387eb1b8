"""The negative cases ISO 15118-2 and ISO 15118-20 share with DIN 70121 (whose own are in
test_secc_din.py), on a hand clock: an unknown message in each state, a malformed EXI
stream, a connection that goes silent. Each ends with the protocol's response code or a
close without one, the session record saying why, and a SessionEnded, the last event, on
which the charger goes to its safe state (no current, contactors open)."""

from __future__ import annotations

import pytest

from evstack import exi
from evstack.exi.v2gtp import PayloadType
from evstack.hlc.secc import Authorization, EvseState, SessionEnded, sap, timing
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.iso20.responses import rational

from . import test_secc_iso2 as iso2
from . import test_secc_iso20 as iso20
from .din_ev import EXI, sap_request, sap_response
from .iso2_ev import iso2_request

PAYMENT_DETAILS = {"eMAID": "DE8AAABCDEFGHIJ", "ContractSignatureCertChain": {"Certificate": "00"}}
CHECK_IN = {"EVCheckInStatus": "CheckIn", "ParkingMethod": "Manual"}  # not implemented here


def assert_ended_safe(events: list[object], closed: str | None, reason: str) -> SessionEnded:
    (end,) = [e for e in events if isinstance(e, SessionEnded)]
    assert not end.clean
    assert reason in end.reason
    assert closed is not None
    assert events[-1] is end  # nothing after it: the charger is left in its safe state
    return end


@pytest.mark.parametrize("last", [None, *iso2.STATES_AFTER])
def test_iso2_an_unknown_message_in_each_state_closes(last: str | None) -> None:
    secc = iso2.Secc()
    if last is None:
        secc.sap()
    else:
        iso2.to_state(secc, last)
    sid = secc.session_id
    assert secc.raw(iso2_request("PaymentDetailsReq", sid, PAYMENT_DETAILS)) == []
    state = "SessionSetup" if last is None else iso2.STATES_AFTER[last].value
    end = assert_ended_safe(secc.events, secc.closed, f"unknown PaymentDetailsReq in state {state}")
    assert secc.session.record.end_reason == end.reason
    assert secc.session.record.last_request == "PaymentDetailsReq"


@pytest.mark.parametrize("last", [None, *iso20.STATES_AFTER])
def test_iso20_an_unknown_message_in_each_state_closes(last: str | None) -> None:
    secc = iso20.Secc()
    if last is None:
        secc.sap()
    else:
        iso20.to_state(secc, last)
    sid = "0000000000000000" if last is None else iso20.SESSION_ID
    header = {"SessionID": sid, "TimeStamp": 1_800_000_000}
    document = {"VehicleCheckInReq": {"Header": header, **CHECK_IN}}
    payload = exi.encode_any("iso20", document)
    assert secc.raw(int(PayloadType.ISO20_COMMON), payload) == []
    state = "SessionSetup" if last is None else iso20.STATES_AFTER[last].value
    end = assert_ended_safe(secc.events, secc.closed, f"unknown VehicleCheckInReq in state {state}")
    assert secc.session.record.end_reason == end.reason


MALFORMED = [b"", b"\x80", bytes(range(40)), b"\x80\x98\x02\x00"]


@pytest.mark.parametrize("payload", MALFORMED)
def test_iso2_malformed_exi_closes_without_an_answer(payload: bytes) -> None:
    secc = iso2.Secc()
    iso2.to_state(secc, "SessionSetupReq")
    assert secc.raw(payload) == []
    assert_ended_safe(secc.events, secc.closed, "malformed EXI for iso2")
    # A request cut short is no request either.
    truncated = iso2.Secc()
    iso2.to_state(truncated, "ChargeParameterDiscoveryReq")
    whole = iso2_request("CableCheckReq", truncated.session_id)
    assert truncated.raw(whole[:-1]) == []
    assert_ended_safe(truncated.events, truncated.closed, "malformed EXI")


@pytest.mark.parametrize("payload", MALFORMED)
@pytest.mark.parametrize(
    "payload_type", [PayloadType.ISO20_COMMON, PayloadType.ISO20_DC, PayloadType.ISO20_AC]
)
def test_iso20_malformed_exi_closes_without_an_answer(payload_type: int, payload: bytes) -> None:
    secc = iso20.Secc()
    iso20.to_state(secc, "ServiceSelectionReq")
    assert secc.raw(int(payload_type), payload) == []
    assert_ended_safe(secc.events, secc.closed, "malformed EXI")


@pytest.mark.parametrize("last", ["SessionSetupReq", "PowerDeliveryReq"])
def test_iso2_a_silent_ev_is_closed_at_the_sequence_timeout(last: str) -> None:
    secc = iso2.Secc()
    iso2.to_state(secc, last)
    assert secc.session.poll(secc.now + timing.SEQUENCE_TIMEOUT - 0.01) == []
    out = secc.session.poll(secc.now + timing.SEQUENCE_TIMEOUT)
    events: list[object] = [o for o in out if isinstance(o, SessionEnded)]
    closed = [o for o in out if isinstance(o, ev.Close)]
    assert closed
    assert_ended_safe(events, closed[0].reason, "V2G_SECC_Sequence_Timeout")
    assert last in (secc.session.record.end_reason or "")  # after which request it went silent


@pytest.mark.parametrize("last", ["SessionSetupReq", "DC_ChargeLoopReq"])
def test_iso20_a_silent_ev_is_closed_at_the_sequence_timeout(last: str) -> None:
    secc = iso20.Secc()
    iso20.to_state(secc, last)
    assert secc.session.poll(secc.now + timing.SEQUENCE_TIMEOUT - 0.01) == []
    out = secc.session.poll(secc.now + timing.SEQUENCE_TIMEOUT)
    closed = [o for o in out if isinstance(o, ev.Close)]
    assert closed
    ends = [o for o in out if isinstance(o, SessionEnded)]
    (end,) = ends
    assert not end.clean
    assert "V2G_SECC_Sequence_Timeout" in end.reason
    assert last in (secc.session.record.end_reason or "")


def test_iso2_an_unknown_session_id_fails() -> None:
    secc = iso2.Secc()
    iso2.to_state(secc, "SessionSetupReq")
    res = secc.req("ServiceDiscoveryReq", session_id="ffffffffffffffff")
    assert res["ResponseCode"] == "FAILED_UnknownSession"
    end = assert_ended_safe(secc.events, secc.closed, "with session id ffffffffffffffff")
    assert end.response_code == "FAILED_UnknownSession"


def test_iso20_an_unknown_session_id_fails() -> None:
    secc = iso20.Secc()
    iso20.to_state(secc, "SessionSetupReq")
    (sent,) = secc.raw(*iso20.request("AuthorizationSetupReq", "ffffffffffffffff"))
    ((_, content),) = exi.decode_any("iso20", sent.payload).items()
    assert content["ResponseCode"] == "FAILED_UnknownSession"
    end = assert_ended_safe(secc.events, secc.closed, "with session id ffffffffffffffff")
    assert end.response_code == "FAILED_UnknownSession"


def ac_session(until: str) -> iso20.Secc:
    """An ISO-20 AC session up to `until`: ServiceSelectionReq, ScheduleExchangeReq,
    PowerDeliveryReq, or "stop" (the stopping PowerDeliveryReq)."""
    evse = EvseState(power_allowed=True, energy_modes=("AC_three_phase_core",))
    evse.auth = Authorization.ACCEPTED
    secc = iso20.Secc(evse=evse)
    (sent,) = secc.raw(EXI, sap_request((sap.ISO20_AC.namespace, 1, 0, 1)))
    assert sap_response(sent.payload)["ResponseCode"] == "OK_SuccessfulNegotiation"
    for name in iso20.ORDER[:4]:
        secc.req(name)
    selected = {"SelectedEnergyTransferService": {"ServiceID": 1, "ParameterSetID": 1}}
    secc.req("ServiceSelectionReq", selected)
    if until == "ServiceSelectionReq":
        return secc
    mode = {"EVMaximumChargePower": rational(11000), "EVMinimumChargePower": rational(0)}
    secc.req("AC_ChargeParameterDiscoveryReq", {"AC_CPDReqEnergyTransferMode": mode})
    secc.req("ScheduleExchangeReq")
    if until != "ScheduleExchangeReq":
        secc.req("PowerDeliveryReq")
    if until == "stop":
        stop = {"EVProcessing": "Finished", "ChargeProgress": "Stop"}
        secc.req("PowerDeliveryReq", stop)
    return secc


@pytest.mark.parametrize("until", ["ScheduleExchangeReq", "PowerDeliveryReq", "stop"])
@pytest.mark.parametrize("name", ["DC_CableCheckReq", "DC_ChargeLoopReq", "ScheduleExchangeReq"])
def test_iso20_ac_a_request_out_of_sequence_is_a_sequence_error(until: str, name: str) -> None:
    secc = ac_session(until)
    assert secc.req(name)["ResponseCode"] == "FAILED_SequenceError"
    end = assert_ended_safe(secc.events, secc.closed, name)
    assert end.response_code == "FAILED_SequenceError"
    assert not any(isinstance(e, ev.EvTarget) for e in secc.events)  # no DC target in AC


def test_iso20_dc_parameters_in_an_ac_session_are_refused() -> None:
    secc = ac_session("ServiceSelectionReq")
    res = secc.req("DC_ChargeParameterDiscoveryReq")
    assert res["ResponseCode"] == "FAILED_WrongChargeParameter"
    assert_ended_safe(secc.events, secc.closed, "DC parameters for an AC service")
