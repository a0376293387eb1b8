"""What the dashboard puts on a terminal, rendered the way rich renders it there."""

from __future__ import annotations

from rich.console import Console

from evstack.generated.types.evse_manager import Limits
from evstack.modules.ChargerDashboard.ledger import Ledger
from evstack.modules.ChargerDashboard.render import (
    event_line,
    live_view,
    summary_table,
    table_width,
)

from .test_ledger import event, finished, reading, started


def text_of(renderable: object) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def charging_ledger() -> Ledger:
    ledger = Ledger.for_evses(["evse_1"])
    ledger.on_evse_id("evse_1", "DE*EVS*E0001*1")
    ledger.on_session_event("evse_1", event("TransactionStarted", **started(1000.0)), 5.0)
    ledger.on_session_event("evse_1", event("ChargingStarted"), 6.0)
    ledger.on_limits("evse_1", Limits(max_current=16.0, nr_of_phases_available=3))
    ledger.on_reading("evse_1", reading(1250.0, 15.9))
    return ledger


def test_the_live_view_shows_state_currents_energy_and_progress() -> None:
    text = text_of(live_view(charging_ledger(), 65.0, expected_sessions=2, max_current_a=32.0))
    assert "charger time 1:05" in text
    row = next(line for line in text.splitlines() if "DE*EVS*E0001*1" in line)
    for cell in ("Charging", "15.9/16.0 A", "0.250 kWh"):
        assert cell in row
    assert "sessions done" in text
    assert "0/2" in text


def test_a_plain_line_per_event_and_a_summary_row_per_session() -> None:
    ledger = charging_ledger()
    stop = event("TransactionFinished", **finished(1500.0, "EVDisconnected"))
    ledger.on_session_event("evse_1", stop, 155.0)

    line = event_line(ledger, "evse_1", stop, 155.0)
    assert line == (
        "[2:35] DE*EVS*E0001*1: TransactionFinished (reason EVDisconnected); "
        "offered 16.0 A, drawn 0.0 A"  # the contactor is open, whatever the last reading
    )
    row = next(line for line in text_of(summary_table(ledger)).splitlines() if "AABB" in line)
    for cell in ("DE*EVS*E0001*1", "0.500 kWh", "2:30", "15.9 A", "EVDisconnected"):
        assert cell in row


def test_the_summary_keeps_a_session_without_a_transaction_and_never_cuts_cells() -> None:
    ledger = charging_ledger()
    ledger.on_session_event(
        "evse_1", event("TransactionFinished", **finished(1300.0, "EVDisconnected")), 9.0
    )
    ledger.on_session_event("evse_1", event("SessionFinished"), 9.0)
    ledger.without_transaction.append(("evse_2", "DE*EVS*E0002*1", "Waiting for auth"))
    # A terminal of 80 columns: the demo's rows fit it whole.
    lines = text_at(80, summary_table(ledger)).splitlines()
    assert any("DE*EVS*E0001*1" in line and "EVDisconnected" in line for line in lines)
    assert any("DE*EVS*E0002*1" in line and "no transaction" in line for line in lines)
    # A longer id wraps within its cell, never cut to an ellipsis.
    ledger.finished[0].evse_id = "DE*EVS*E0001*1-A-MUCH-LONGER-ID-OF-A-REAL-CHARGER"
    table = summary_table(ledger)
    width = table_width(Console(width=80), table)
    assert width > 80
    text = text_at(width, table)  # as the dashboard prints it on such a terminal
    assert "…" not in text
    assert any(
        "DE*EVS*E0001*1-A-MUCH-LONGER-ID-OF-A-REAL-CHARGER" in line and "EVDisconnected" in line
        for line in text.splitlines()
    )


def text_at(width: int, renderable: object) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_an_evse_still_in_a_session_at_the_end_is_in_the_summary() -> None:
    ledger = Ledger.for_evses(["evse_1", "evse_2"])
    ledger.on_evse_id("evse_2", "DE*EVS*E0002*1")
    ledger.on_session_event("evse_2", event("SessionStarted", session_started=None), 1.0)
    text = text_at(80, summary_table(ledger))
    assert any("DE*EVS*E0002*1" in ln and "no transaction yet" in ln for ln in text.splitlines())
