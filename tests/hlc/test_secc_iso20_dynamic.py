"""The SECC's ISO 15118-20 dynamic control mode (DC, DC_BPT, AC) on a hand clock: the
parameter sets it offers, and the charger deciding the power from the EV's energy
requests and limits."""

from __future__ import annotations

from evstack.hlc.secc import Authorization, EvseState, SeccConfig, sap
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.iso20.dynamic import Offer
from evstack.hlc.secc.iso20.responses import rational

from .din_ev import EXI, sap_request, sap_response
from .test_secc_iso20 import BODIES, ORDER, Doc, Secc

DYNAMIC = SeccConfig(iso20=Offer(("dynamic", "scheduled"), mobility_needs=2))


def dynamic_loop(
    max_wh: float = 20_000, min_wh: float = 0, bpt: bool = False, present: float = 350
) -> Doc:
    control = {
        "DepartureTime": 7200,
        "EVTargetEnergyRequest": rational(max_wh / 2),
        "EVMaximumEnergyRequest": rational(max_wh),
        "EVMinimumEnergyRequest": rational(min_wh),
        "EVMaximumChargePower": rational(50_000),
        "EVMinimumChargePower": rational(0),
        "EVMaximumChargeCurrent": rational(125),
        "EVMaximumVoltage": rational(420),
        "EVMinimumVoltage": rational(300),
    }
    if bpt:
        control |= {
            "EVMaximumDischargePower": rational(20_000),
            "EVMinimumDischargePower": rational(0),
            "EVMaximumDischargeCurrent": rational(40),
        }
    key = "BPT_Dynamic_DC_CLReqControlMode" if bpt else "Dynamic_DC_CLReqControlMode"
    return {
        "DisplayParameters": {"PresentSOC": 50},
        "MeterInfoRequested": False,
        "EVPresentVoltage": rational(present),
        key: control,
    }


SCHEDULE: Doc = {
    "MaximumSupportingPoints": 1024,
    "Dynamic_SEReqControlMode": {
        "DepartureTime": 7200,
        "EVTargetEnergyRequest": rational(10_000),
        "EVMaximumEnergyRequest": rational(20_000),
        "EVMinimumEnergyRequest": rational(-5_000),
    },
}


def to_dynamic_loop(secc: Secc, service: int = 2) -> None:
    secc.evse.auth, secc.evse.cable_check = Authorization.ACCEPTED, True
    assert secc.sap()["SchemaID"] == 1
    bodies = dict(BODIES)
    bodies["ServiceDetailReq"] = {"ServiceID": service}
    bodies["ServiceSelectionReq"] = {
        "SelectedEnergyTransferService": {"ServiceID": service, "ParameterSetID": 2}
    }
    if service == 6:
        mode = dict(BODIES["DC_ChargeParameterDiscoveryReq"]["DC_CPDReqEnergyTransferMode"])
        mode |= {
            "EVMaximumDischargePower": rational(20_000),
            "EVMinimumDischargePower": rational(0),
            "EVMaximumDischargeCurrent": rational(40),
            "EVMinimumDischargeCurrent": rational(0),
        }
        bodies["DC_ChargeParameterDiscoveryReq"] = {"BPT_DC_CPDReqEnergyTransferMode": mode}
    bodies["ScheduleExchangeReq"] = SCHEDULE
    bodies["DC_ChargeLoopReq"] = dynamic_loop(bpt=service == 6)
    for name in ORDER:
        assert secc.req(name, bodies[name])["ResponseCode"].startswith("OK"), name


def test_the_parameter_sets_follow_the_offer() -> None:
    secc = Secc(config=DYNAMIC)
    secc.evse.auth = Authorization.ACCEPTED
    secc.sap()
    for name in ORDER[:4]:
        secc.req(name)
    detail = secc.req("ServiceDetailReq")["ServiceParameterList"]["ParameterSet"]
    modes = {}
    for parameter_set in detail:
        values = {p["@Name"]: p["intValue"] for p in parameter_set["Parameter"]}
        modes[parameter_set["ParameterSetID"]] = (
            values["ControlMode"],
            values["MobilityNeedsMode"],
        )
    assert modes == {2: (2, 2), 1: (1, 1)}
    assert [s["ParameterSetID"] for s in detail] == [2, 1]  # the SECC's order


def test_a_dynamic_set_not_offered_cannot_be_selected() -> None:
    secc = Secc()  # scheduled only
    secc.evse.auth = Authorization.ACCEPTED
    secc.sap()
    for name in ORDER[:4]:
        secc.req(name)
    body = {"SelectedEnergyTransferService": {"ServiceID": 2, "ParameterSetID": 2}}
    assert secc.req("ServiceSelectionReq", body)["ResponseCode"] == "FAILED_ServiceSelectionInvalid"
    assert secc.ended().response_code == "FAILED_ServiceSelectionInvalid"


def test_a_dynamic_dc_session_the_charger_sets_the_power() -> None:
    evse = EvseState(power_allowed=True, mobility_target_soc=80, mobility_departure_time=3600)
    secc = Secc(evse=evse, config=DYNAMIC)
    secc.evse.auth, secc.evse.cable_check = Authorization.ACCEPTED, True
    secc.sap()
    for name in ORDER[:4]:
        secc.req(name)
    secc.req("ServiceDetailReq")
    selected = {"SelectedEnergyTransferService": {"ServiceID": 2, "ParameterSetID": 2}}
    secc.req("ServiceSelectionReq", selected)
    secc.req("DC_ChargeParameterDiscoveryReq")
    exchange = secc.req("ScheduleExchangeReq", SCHEDULE)
    mode = exchange["Dynamic_SEResControlMode"]
    assert (mode["TargetSOC"], mode["DepartureTime"]) == (80, 3600)  # MobilityNeedsMode 2
    for name in ("DC_CableCheckReq", "DC_PreChargeReq", "PowerDeliveryReq"):
        assert secc.req(name)["ResponseCode"] == "OK"
    # 50 kW at 350 V is 142.9 A, above the EV's 125 A: its current limit holds.
    loop = secc.req("DC_ChargeLoopReq", dynamic_loop())
    assert ev.EvTarget(420, 125) in secc.events
    limits = loop["Dynamic_DC_CLResControlMode"]
    assert limits["TargetSOC"] == 80
    assert limits["EVSEMaximumChargeCurrent"] == rational(200)
    # The charger's own setpoint: 14 kW at 350 V.
    evse.dynamic_power = 14_000
    secc.req("DC_ChargeLoopReq", dynamic_loop())
    assert ev.EvTarget(420, 40) in secc.events
    # The energy manager lowers the EVSE's limit: the next loop follows it.
    evse.dynamic_power, evse.max_power = None, 7_000
    secc.req("DC_ChargeLoopReq", dynamic_loop())
    assert ev.EvTarget(420, 20) in secc.events
    # The EV takes no more energy: no current, whatever the charger would give.
    secc.req("DC_ChargeLoopReq", dynamic_loop(max_wh=0))
    assert ev.EvTarget(420, 0) in secc.events


def test_dynamic_dc_bpt_takes_energy_back_only_when_the_ev_spares_it() -> None:
    evse = EvseState(
        power_allowed=True, bidirectional=True, max_discharge_current=30, max_discharge_power=9000
    )
    secc = Secc(evse=evse, config=DYNAMIC)
    to_dynamic_loop(secc, service=6)
    evse.dynamic_power = -20_000
    loop = secc.req("DC_ChargeLoopReq", dynamic_loop(bpt=True, min_wh=-5000, present=360))
    assert ev.EvTarget(420, -25) in secc.events  # 9 kW at 360 V, below the 30 A
    assert loop["BPT_Dynamic_DC_CLResControlMode"]["EVSEMaximumDischargeCurrent"] == rational(30)
    secc.req("DC_ChargeLoopReq", dynamic_loop(bpt=True, min_wh=0, present=360))
    assert ev.EvTarget(420, 0) in secc.events
    assert not secc.session.ended


def test_a_scheduled_loop_in_a_dynamic_session_fails() -> None:
    secc = Secc(config=DYNAMIC)
    to_dynamic_loop(secc)
    assert secc.req("DC_ChargeLoopReq", BODIES["DC_ChargeLoopReq"])["ResponseCode"] == "FAILED"
    assert "Dynamic_DC_CLReqControlMode" in secc.ended().reason


def test_a_dynamic_ac_loop_targets_the_active_power() -> None:
    evse = EvseState(power_allowed=True, energy_modes=("AC_three_phase_core",))
    evse.auth, evse.ac_max_current = Authorization.ACCEPTED, 16.0
    secc = Secc(evse=evse, config=DYNAMIC)
    (sent,) = secc.raw(EXI, sap_request((sap.ISO20_AC.namespace, 1, 0, 1)))
    assert sap_response(sent.payload)["ResponseCode"] == "OK_SuccessfulNegotiation"
    for name in ORDER[:4]:
        secc.req(name)
    secc.req("ServiceDetailReq", {"ServiceID": 1})
    selected = {"SelectedEnergyTransferService": {"ServiceID": 1, "ParameterSetID": 2}}
    assert secc.req("ServiceSelectionReq", selected)["ResponseCode"] == "OK"
    cpd = {
        "AC_CPDReqEnergyTransferMode": {
            "EVMaximumChargePower": rational(7400),
            "EVMinimumChargePower": rational(0),
        }
    }
    secc.req("AC_ChargeParameterDiscoveryReq", cpd)
    assert secc.req("ScheduleExchangeReq", SCHEDULE)["ResponseCode"] == "OK"
    assert secc.req("PowerDeliveryReq")["ResponseCode"] == "OK"
    control = dict(SCHEDULE["Dynamic_SEReqControlMode"])
    control |= {
        "EVMaximumChargePower": rational(7400),
        "EVMinimumChargePower": rational(0),
        "EVPresentActivePower": rational(7000),
        "EVPresentReactivePower": rational(0),
    }
    body = {"MeterInfoRequested": False, "Dynamic_AC_CLReqControlMode": control}
    loop = secc.req("AC_ChargeLoopReq", body)
    assert loop["Dynamic_AC_CLResControlMode"]["EVSETargetActivePower"] == rational(7400)
    control["EVMaximumEnergyRequest"] = rational(0)
    loop = secc.req("AC_ChargeLoopReq", body)
    assert loop["Dynamic_AC_CLResControlMode"]["EVSETargetActivePower"] == rational(0)
