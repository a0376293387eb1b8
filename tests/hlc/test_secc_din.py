"""The SECC session layer, DIN 70121 DC with EIM, on a hand clock: the whole session, the
charger's part in it, and every way a session can go wrong."""

from __future__ import annotations

from typing import Any

import pytest

from evstack.hlc.secc import (
    Authorization,
    Close,
    EvseState,
    SeccConfig,
    SeccSession,
    Send,
    SessionEnded,
    events,
    sap,
    timing,
)
from evstack.hlc.secc.din import EXPECTED, State

from .din_ev import DIN_NS, EXI, ISO2_NS, din_request, din_response, sap_request, sap_response

Doc = dict[str, Any]
SESSION_ID = "0102030405060708"
ISO20_NS = sap.ISO20_DC.namespace  # known, not implemented: never chosen
ORDER = [
    "SessionSetupReq",
    "ServiceDiscoveryReq",
    "ServicePaymentSelectionReq",
    "ContractAuthenticationReq",
    "ChargeParameterDiscoveryReq",
    "CableCheckReq",
    "PreChargeReq",
    "PowerDeliveryReq",
    "CurrentDemandReq",
]


class Secc:
    """A session on a hand clock, and what it said so far."""

    def __init__(self, evse: EvseState | None = None, config: SeccConfig | None = None):
        self.now = 1000.0
        self.evse = evse or EvseState(power_allowed=True)
        self.session = SeccSession(
            self.evse, self.now, config, random_bytes=lambda n: bytes(range(1, n + 1))
        )
        self.events: list[object] = []
        self.closed: str | None = None

    def _collect(self, outputs: list[Any]) -> list[Send]:
        sent = []
        for output in outputs:
            if isinstance(output, Send):
                assert self.closed is None, "sent after close"
                sent.append(output)
            elif isinstance(output, Close):
                self.closed = output.reason
            else:
                self.events.append(output)
        return sent

    def raw(self, payload: bytes, payload_type: int = EXI) -> list[Send]:
        return self._collect(self.session.receive(payload_type, payload, self.now))

    def sap(self, *offers: tuple[str, int, int, int]) -> Doc:
        (sent,) = self.raw(sap_request(*offers or ((DIN_NS, 2, 0, 1),)))
        return sap_response(sent.payload)

    def din(self, name: str, body: Doc | None = None, session_id: str = SESSION_ID) -> Doc:
        sid = "00" if name == "SessionSetupReq" else session_id
        sent = self.raw(din_request(name, sid, body))
        assert len(sent) == 1, f"{name}: {sent} {self.closed}"
        got_sid, res_name, res_body = din_response(sent[0].payload)
        assert res_name == name[:-3] + "Res"
        assert got_sid == SESSION_ID
        return res_body

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._collect(self.session.poll(self.now))

    def ended(self) -> SessionEnded:
        ends = [e for e in self.events if isinstance(e, SessionEnded)]
        assert len(ends) == 1, self.events
        return ends[0]

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def to_state(secc: Secc, last: str) -> None:
    """Drive a good session up to and including `last`."""
    secc.sap()
    secc.evse.auth = Authorization.ACCEPTED
    secc.evse.cable_check = True
    for name in ORDER:
        assert secc.din(name)["ResponseCode"].startswith("OK"), name
        if name == last:
            return


def test_a_whole_session_ends_clean_and_tells_the_charger_each_step() -> None:
    secc = Secc()
    res = secc.sap((ISO2_NS, 2, 0, 2), (DIN_NS, 2, 0, 1))
    assert res == {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 2}
    setup = secc.din("SessionSetupReq")
    assert setup["ResponseCode"] == "OK_NewSessionEstablished"
    assert secc.of(events.SessionStarted) == [events.SessionStarted("0a0000000001", SESSION_ID)]
    discovery = secc.din("ServiceDiscoveryReq")
    assert discovery["PaymentOptions"] == {"PaymentOption": ["ExternalPayment"]}
    assert discovery["ChargeService"]["EnergyTransferType"] == "DC_extended"
    assert secc.din("ServicePaymentSelectionReq")["ResponseCode"] == "OK"
    assert secc.of(events.RequireAuthEim)
    assert secc.din("ContractAuthenticationReq")["EVSEProcessing"] == "Ongoing"
    secc.evse.auth = Authorization.ACCEPTED
    assert secc.din("ContractAuthenticationReq")["EVSEProcessing"] == "Finished"
    cpd = secc.din("ChargeParameterDiscoveryReq")
    assert cpd["DC_EVSEChargeParameter"]["EVSEMaximumVoltageLimit"] == {
        "Multiplier": -1,
        "Unit": "V",
        "Value": 5000,
    }
    (params,) = secc.of(events.EvChargeParameters)
    assert (params.max_voltage, params.max_current, params.max_power) == (420, 150, 60000)
    cable = secc.din("CableCheckReq")
    assert cable["EVSEProcessing"] == "Ongoing"
    assert cable["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_IsolationMonitoringActive"
    assert secc.of(events.StartCableCheck)
    secc.evse.cable_check = True
    secc.evse.isolation = events.IsolationStatus.VALID
    assert secc.din("CableCheckReq")["EVSEProcessing"] == "Finished"
    secc.evse.present_voltage = 379.6
    pre = secc.din("PreChargeReq")
    assert pre["EVSEPresentVoltage"] == {"Multiplier": -1, "Unit": "V", "Value": 3796}
    assert secc.of(events.StartPreCharge)
    assert events.EvTarget(380, 1) in secc.events
    assert secc.din("PowerDeliveryReq")["ResponseCode"] == "OK"
    assert events.PowerDelivery(True) in secc.events
    for _ in range(3):
        secc.now += 0.1
        demand = secc.din("CurrentDemandReq")
        assert demand["ResponseCode"] == "OK"
    assert events.EvTarget(390, 100) in secc.events
    stop = {
        "ReadyToChargeState": False,
        "DC_EVPowerDeliveryParameter": {
            "DC_EVStatus": {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 80},
            "ChargingComplete": True,
        },
    }
    assert secc.din("PowerDeliveryReq", stop)["ResponseCode"] == "OK"
    assert events.PowerDelivery(False) in secc.events
    assert secc.din("WeldingDetectionReq")["ResponseCode"] == "OK"
    assert secc.din("SessionStopReq")["ResponseCode"] == "OK"
    assert secc.ended().clean
    assert secc.closed
    assert secc.session.record.protocol == "din"
    assert secc.session.record.evcc_id == "0a0000000001"
    assert secc.session.deadline() is None


def test_a_limit_the_charger_lowers_is_in_the_next_current_demand_response() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    secc.evse.max_current = 40.0
    secc.evse.max_power = 15_000.0
    res = secc.din("CurrentDemandReq")
    assert res["EVSEMaximumCurrentLimit"] == {"Multiplier": -2, "Unit": "A", "Value": 4000}
    assert res["EVSEMaximumPowerLimit"]["Value"] * 10 ** res["EVSEMaximumPowerLimit"][
        "Multiplier"
    ] == pytest.approx(15_000)
    assert res["EVSECurrentLimitAchieved"]
    assert res["EVSEPowerLimitAchieved"]


def test_a_stop_from_the_charger_is_notified_to_the_ev() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    secc.evse.stop_requested = True
    status = secc.din("CurrentDemandReq")["DC_EVSEStatus"]
    assert status["EVSENotification"] == "StopCharging"
    assert status["EVSEStatusCode"] == "EVSE_Shutdown"


# -- SupportedAppProtocol ----------------------------------------------------------------


def test_sap_without_a_common_protocol_fails_and_closes() -> None:
    secc = Secc()
    assert secc.sap((ISO20_NS, 1, 0, 1), ("urn:x", 1, 0, 2)) == {
        "ResponseCode": "Failed_NoNegotiation"
    }
    assert secc.ended().response_code == "Failed_NoNegotiation"
    assert secc.closed


def test_sap_other_minor_version_is_a_minor_deviation() -> None:
    assert Secc().sap((DIN_NS, 2, 3, 1))["ResponseCode"] == (
        "OK_SuccessfulNegotiationWithMinorDeviation"
    )


def test_sap_other_major_version_is_no_match() -> None:
    assert Secc().sap((DIN_NS, 3, 0, 1))["ResponseCode"] == "Failed_NoNegotiation"


def offers(*rows: tuple[str, int]) -> Doc:
    return {
        "AppProtocol": [
            {
                "ProtocolNamespace": ns,
                "VersionNumberMajor": 2,
                "VersionNumberMinor": 0,
                "SchemaID": i + 10,
                "Priority": prio,
            }
            for i, (ns, prio) in enumerate(rows)
        ]
    }


@pytest.mark.parametrize(
    ("secc_priority", "supported", "chosen"),
    [
        (False, (sap.DIN, sap.ISO2), "iso2"),  # the EV's favourite
        (False, (sap.ISO2, sap.DIN), "iso2"),
        (True, (sap.DIN, sap.ISO2), "din"),  # the SECC's favourite
        (True, (sap.ISO2, sap.DIN), "iso2"),
        (True, (sap.DIN,), "din"),
    ],
)
def test_sap_priorities(
    secc_priority: bool, supported: tuple[sap.AppProtocol, ...], chosen: str
) -> None:
    request = offers((DIN_NS, 2), (ISO2_NS, 1))
    result = sap.negotiate(request, supported, secc_priority=secc_priority)
    assert result is not None
    assert result.protocol.name == chosen
    assert result.schema_id == (10 if chosen == "din" else 11)


def test_sap_offers_only_implemented_protocols() -> None:
    secc = Secc(config=SeccConfig(protocols=(sap.ISO20_DC, sap.DIN), secc_priority=True))
    assert secc.sap((ISO20_NS, 1, 0, 1), (DIN_NS, 2, 0, 2))["SchemaID"] == 2


# -- wrong messages ----------------------------------------------------------------------

STATES_AFTER = {None: State.SESSION_SETUP} | {
    name: state
    for name, state in zip(
        ORDER,
        [
            State.SERVICE_DISCOVERY,
            State.PAYMENT_SELECTION,
            State.AUTHORIZATION,
            State.CHARGE_PARAMETERS,
            State.CABLE_CHECK,
            State.PRE_CHARGE,
            State.PRE_CHARGE,
            State.CHARGING,
            State.CHARGING,
        ],
        strict=True,
    )
}
WRONG = [
    (last, request)
    for last, state in STATES_AFTER.items()
    for request in (*ORDER, "WeldingDetectionReq", "ServiceDetailReq", "ChargingStatusReq")
    if request not in EXPECTED[state]
]


@pytest.mark.parametrize(("last", "request_name"), WRONG)
def test_a_request_out_of_sequence_is_answered_sequence_error_and_ends_safe(
    last: str | None, request_name: str
) -> None:
    secc = Secc()
    if last is None:
        secc.sap()
    else:
        to_state(secc, last)
    sid = "00" if request_name == "SessionSetupReq" else SESSION_ID
    sent = secc.raw(din_request(request_name, sid))
    end = secc.ended()
    assert not end.clean
    assert end.response_code == "FAILED_SequenceError"
    assert request_name in end.reason
    assert secc.closed
    if request_name == "ChargingStatusReq":  # an AC request: DIN DC has no answer for it
        assert sent == []
    else:
        (response,) = sent
        _, name, body = din_response(response.payload)
        assert (name, body["ResponseCode"]) == (request_name[:-3] + "Res", "FAILED_SequenceError")
    assert secc.session.deadline() is None
    assert secc.raw(din_request("SessionStopReq", SESSION_ID)) == []  # ended stays ended


def test_unknown_session_id() -> None:
    secc = Secc()
    to_state(secc, "SessionSetupReq")
    body = secc.raw(din_request("ServiceDiscoveryReq", "ffffffffffffffff"))
    assert din_response(body[0].payload)[2]["ResponseCode"] == "FAILED_UnknownSession"
    assert secc.ended().response_code == "FAILED_UnknownSession"


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x80", b"\x80\x98\x02\x00", bytes(range(40)), din_request("SessionStopReq", "00")[:-1]],
)
def test_malformed_exi_closes_without_an_answer(payload: bytes) -> None:
    secc = Secc()
    to_state(secc, "SessionSetupReq")
    assert secc.raw(payload) == []
    assert "malformed EXI" in secc.ended().reason
    assert secc.closed


def test_a_din_message_before_sap_closes() -> None:
    secc = Secc()
    assert secc.raw(din_request("SessionSetupReq", "00")) == []
    assert secc.closed


def test_a_second_sap_is_malformed_din() -> None:
    secc = Secc()
    to_state(secc, "SessionSetupReq")
    assert secc.raw(sap_request((DIN_NS, 2, 0, 1))) == []
    assert secc.closed


def test_a_wrong_payload_type_closes() -> None:
    secc = Secc()
    secc.sap()
    assert secc.raw(din_request("SessionSetupReq", "00"), payload_type=0x8004) == []
    assert "payload type 0x8004" in secc.ended().reason


def test_the_connection_lost_ends_without_close() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    secc._collect(secc.session.connection_lost("the peer closed the connection"))
    assert "peer closed" in secc.ended().reason
    assert secc.closed is None


# -- refusals ----------------------------------------------------------------------------


def test_payment_option_not_offered() -> None:
    secc = Secc()
    to_state(secc, "ServiceDiscoveryReq")
    body = {
        "SelectedPaymentOption": "Contract",
        "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]},
    }
    assert secc.din("ServicePaymentSelectionReq", body)["ResponseCode"] == (
        "FAILED_PaymentSelectionInvalid"
    )


def test_charging_service_not_selected() -> None:
    secc = Secc()
    to_state(secc, "ServiceDiscoveryReq")
    body = {
        "SelectedPaymentOption": "ExternalPayment",
        "SelectedServiceList": {"SelectedService": [{"ServiceID": 7}]},
    }
    res = secc.din("ServicePaymentSelectionReq", body)
    assert res["ResponseCode"] == "FAILED_ServiceSelectionInvalid"


def test_authorization_rejected() -> None:
    secc = Secc()
    to_state(secc, "ServicePaymentSelectionReq")
    secc.evse.auth = Authorization.REJECTED
    assert secc.din("ContractAuthenticationReq")["ResponseCode"] == "FAILED"
    assert "rejected" in secc.ended().reason


def test_an_ac_energy_transfer_type_is_refused() -> None:
    secc = Secc()
    to_state(secc, "ContractAuthenticationReq")
    body = {
        "EVRequestedEnergyTransferType": "AC_three_phase_core",
        "AC_EVChargeParameter": {
            "DepartureTime": 0,
            "EAmount": {"Multiplier": 0, "Unit": "Wh", "Value": 100},
            "EVMaxVoltage": {"Multiplier": 0, "Unit": "V", "Value": 230},
            "EVMaxCurrent": {"Multiplier": 0, "Unit": "A", "Value": 16},
            "EVMinCurrent": {"Multiplier": 0, "Unit": "A", "Value": 6},
        },
    }
    res = secc.din("ChargeParameterDiscoveryReq", body)
    assert res["ResponseCode"] == "FAILED_WrongEnergyTransferType"


def test_the_cable_check_failing_ends_the_session() -> None:
    secc = Secc()
    to_state(secc, "ChargeParameterDiscoveryReq")
    secc.evse.cable_check = None
    assert secc.din("CableCheckReq")["EVSEProcessing"] == "Ongoing"
    secc.evse.cable_check = False
    secc.evse.isolation = events.IsolationStatus.FAULT
    res = secc.din("CableCheckReq")
    assert res["ResponseCode"] == "FAILED"
    assert res["DC_EVSEStatus"]["EVSEIsolationStatus"] == "Fault"


def test_power_delivery_without_the_chargers_permission_is_not_applied() -> None:
    secc = Secc()
    to_state(secc, "PreChargeReq")
    secc.evse.power_allowed = False
    assert secc.din("PowerDeliveryReq")["ResponseCode"] == "FAILED_PowerDeliveryNotApplied"
    assert events.PowerDelivery(True) not in secc.events


def test_a_malfunction_during_current_demand_fails_the_session() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    secc.evse.malfunction = True
    res = secc.din("CurrentDemandReq")
    assert res["ResponseCode"] == "FAILED"
    assert res["DC_EVSEStatus"]["EVSEStatusCode"] == "EVSE_Malfunction"


@pytest.mark.parametrize("last", [None, "SessionSetupReq", "ServiceDiscoveryReq", "CableCheckReq"])
def test_an_ev_stopping_early_ends_clean(last: str | None) -> None:
    secc = Secc()
    if last is None:
        to_state(secc, "SessionSetupReq")
    else:
        to_state(secc, last)
    assert secc.din("SessionStopReq")["ResponseCode"] == "OK"
    assert secc.ended().clean


# -- timers ------------------------------------------------------------------------------


def test_sequence_timeout() -> None:
    secc = Secc()
    to_state(secc, "CurrentDemandReq")
    secc.advance(timing.SEQUENCE_TIMEOUT - 0.01)
    assert secc.closed is None
    secc.advance(0.01)
    assert "Sequence_Timeout" in secc.ended().reason
    assert secc.closed


def test_a_silent_connection_is_closed_at_the_communication_setup_time() -> None:
    secc = Secc()
    assert secc.session.deadline() == secc.now + timing.COMMUNICATION_SETUP_TIMEOUT
    secc.advance(timing.COMMUNICATION_SETUP_TIMEOUT)
    assert "communication setup" in secc.ended().reason
    assert secc.closed


def test_sap_alone_does_not_count_as_setup() -> None:
    secc = Secc()
    secc.advance(10)
    secc.sap()
    secc.advance(timing.COMMUNICATION_SETUP_TIMEOUT - 10)
    assert secc.closed


def test_authorization_ongoing_for_too_long() -> None:
    secc = Secc()
    to_state(secc, "ServicePaymentSelectionReq")
    secc.evse.auth = Authorization.PENDING
    for _ in range(30):
        secc.now += 2
        assert secc.din("ContractAuthenticationReq")["EVSEProcessing"] == "Ongoing"
    secc.now += 2
    assert secc.din("ContractAuthenticationReq")["ResponseCode"] == "FAILED"
    assert "Ongoing" in secc.ended().reason


def test_cable_check_too_long() -> None:
    secc = Secc()
    to_state(secc, "ChargeParameterDiscoveryReq")
    secc.evse.cable_check = None
    for _ in range(20):
        assert secc.din("CableCheckReq")["EVSEProcessing"] == "Ongoing"
        secc.now += 2
    secc.now += 0.1
    assert secc.din("CableCheckReq")["ResponseCode"] == "FAILED"


def test_pre_charge_too_long() -> None:
    secc = Secc()
    to_state(secc, "CableCheckReq")
    for _ in range(8):
        assert secc.din("PreChargeReq")["ResponseCode"] == "OK"
        secc.now += 0.875
    secc.now += 0.1
    assert secc.din("PreChargeReq")["ResponseCode"] == "FAILED"
    assert "PreCharge" in secc.ended().reason
