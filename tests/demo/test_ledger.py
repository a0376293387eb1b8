"""The dashboard's bookkeeping: energy, durations, peaks and when a run is done."""

from __future__ import annotations

from typing import Any

import msgspec

from evstack.generated.types.evse_manager import Limits, SessionEvent
from evstack.generated.types.powermeter import Powermeter
from evstack.modules.ChargerDashboard.ledger import HlcView, Ledger


def event(name: str, session: str = "s1", **data: Any) -> SessionEvent:
    raw = {"uuid": session, "timestamp": "2026-01-01T00:00:00Z", "event": name, **data}
    return msgspec.convert(raw, SessionEvent)


def meter(wh: float) -> dict[str, Any]:
    return {"timestamp": "2026-01-01T00:00:00Z", "energy_Wh_import": {"total": wh}}


def reading(wh: float, amps: float) -> Powermeter:
    raw = {**meter(wh), "current_A": {"L1": amps, "L2": amps, "L3": amps}}
    return msgspec.convert(raw, Powermeter)


TOKEN = {"id_token": {"value": "AABBCCDD", "type": "ISO14443"}, "authorization_type": "RFID"}


def started(wh: float) -> dict[str, Any]:
    return {"transaction_started": {"id_tag": TOKEN, "meter_value": meter(wh)}}


def finished(wh: float, reason: str) -> dict[str, Any]:
    return {"transaction_finished": {"meter_value": meter(wh), "reason": reason}}


def all_free(ledger: Ledger) -> bool:
    """Read through a call, so that mypy keeps no narrowing between two readings."""
    return ledger.all_free


def test_a_transaction_is_summarised_in_the_chargers_time() -> None:
    ledger = Ledger.for_evses(["evse_1", "evse_2"])
    ledger.on_evse_id("evse_1", "DE*EVS*E0001*1")
    ledger.on_session_event("evse_1", event("SessionStarted", session_started=None), 10.0)
    ledger.on_session_event("evse_1", event("TransactionStarted", **started(1000.0)), 12.0)
    ledger.on_limits("evse_1", Limits(max_current=16.0, nr_of_phases_available=3))
    ledger.on_reading("evse_1", reading(1500.0, 15.9))
    ledger.on_reading("evse_2", reading(0.0, 16.1))
    ledger.on_reading("evse_1", reading(2000.0, 31.8))
    assert ledger.session_energy_wh("evse_1") == 1000.0
    assert not all_free(ledger)
    ledger.on_reading("evse_2", reading(0.0, 0.0))
    ledger.on_session_event(
        "evse_1", event("TransactionFinished", **finished(2500.0, "Local")), 162.0
    )
    ledger.on_session_event("evse_1", event("SessionFinished"), 170.0)

    assert all_free(ledger)
    assert ledger.evses["evse_1"].offered_a == 16.0
    summary = ledger.summary(complete=True, expected_sessions=1)
    assert summary["sessions_ended"] == 1
    # The worst moment for the fuse: 31.8 A on EVSE 1 while EVSE 2 still read 16.1 A.
    assert summary["peak_site_current_A"] == 47.9
    [session] = summary["sessions"]
    assert session["evse_id"] == "DE*EVS*E0001*1"
    assert session["id_token"] == "AABBCCDD"
    assert session["energy_kWh"] == 1.5
    assert session["duration_s"] == 150.0
    assert (session["started_s"], session["stopped_s"]) == (12.0, 162.0)
    assert session["peak_current_A"] == 31.8
    assert session["stop_reason"] == "Local"


def test_a_transaction_seen_only_at_its_end_is_left_out() -> None:
    # E.g. one of an earlier run that its EVSE finishes (PowerLoss) as the charger starts.
    ledger = Ledger.for_evses(["evse_1"])
    ledger.on_session_event("evse_1", event("TransactionFinished", **finished(10.0, "Local")), 5.0)
    ledger.on_session_event("evse_1", event("SessionFinished"), 6.0)
    assert ledger.finished == []
    assert ledger.sessions_ended == 0


def test_a_session_without_a_transaction_is_listed_not_dropped() -> None:
    # E.g. a validator whose handler raises: the EV plugs in, is never authorized, leaves.
    ledger = Ledger.for_evses(["evse_1", "evse_2"])
    ledger.on_evse_id("evse_2", "DE*EVS*E0002*1")
    ledger.on_session_event("evse_2", event("SessionStarted", session_started=None), 1.0)
    ledger.on_session_event("evse_2", event("AuthRequired"), 1.0)
    ledger.on_session_event("evse_2", event("SessionFinished"), 60.0)
    assert ledger.sessions_ended == 1
    assert ledger.finished == []
    summary = ledger.summary(complete=False, expected_sessions=1)
    assert summary["sessions_without_transaction"] == [
        {"evse": "evse_2", "evse_id": "DE*EVS*E0002*1", "last_state": "Waiting for auth"}
    ]


def test_the_last_frame_shows_no_current_once_the_transaction_is_over() -> None:
    # The meter's last reading was taken while charging; the run may end before the next.
    ledger = Ledger.for_evses(["evse_1"])
    ledger.on_session_event("evse_1", event("SessionStarted", session_started=None), 1.0)
    ledger.on_session_event("evse_1", event("TransactionStarted", **started(1000.0)), 2.0)
    ledger.on_reading("evse_1", reading(1500.0, 31.8))
    assert ledger.evses["evse_1"].drawn_a == 31.8
    ledger.on_session_event(
        "evse_1", event("TransactionFinished", **finished(1500.0, "Local")), 9.0
    )
    assert ledger.evses["evse_1"].drawn_a == 0.0


def dc_meter(wh_in: float, wh_back: float) -> dict[str, Any]:
    return {**meter(wh_in), "energy_Wh_export": {"total": wh_back}}


def test_a_dc_session_counts_its_current_and_the_energy_given_back() -> None:
    ledger = Ledger.for_evses(["evse_1"])
    view = ledger.evses["evse_1"]
    view.hlc = HlcView(protocol="iso20", message="DC_ChargeLoop", target_v=382.0, soc=50.0)
    ledger.on_session_event("evse_1", event("SessionStarted", session_started=None), 0.0)
    meter_value = {"id_tag": TOKEN, "meter_value": dc_meter(100.0, 10.0)}
    ledger.on_session_event(
        "evse_1", event("TransactionStarted", transaction_started=meter_value), 1.0
    )
    charging = {**dc_meter(200.0, 10.0), "voltage_V": {"DC": 370.0}, "current_A": {"DC": 57.8}}
    ledger.on_reading("evse_1", msgspec.convert(charging, Powermeter))
    back = {**dc_meter(200.0, 50.0), "voltage_V": {"DC": 361.0}, "current_A": {"DC": -29.7}}
    ledger.on_reading("evse_1", msgspec.convert(back, Powermeter))
    line = view.hlc.describe(view)
    assert line == "iso20 DC_ChargeLoop, present 361.0 V -29.7 A, SoC 50 %"  # no target current yet
    done = {"meter_value": dc_meter(200.0, 50.0), "reason": "EVDisconnected"}
    ledger.on_session_event("evse_1", event("TransactionFinished", transaction_finished=done), 60.0)
    (record,) = ledger.summary(complete=True, expected_sessions=1)["sessions"]
    assert record["energy_kWh"] == 0.1
    assert record["energy_export_kWh"] == 0.04
    assert record["peak_current_A"] == 57.8  # DC current, not 0 for want of phases
