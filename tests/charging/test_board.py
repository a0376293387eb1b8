"""The board simulator on its own: pilot states from samples, the contactor, PP, RCD, meter."""

from __future__ import annotations

from typing import TypeVar

import pytest

from evstack.modules.BoardSimulator.board import (
    DIODE_FAULT,
    GROUND_FAILURE,
    PROXIMITY_FAULT,
    RCD_AC,
    Board,
    BoardConfig,
    BoardEvent,
    CableRating,
    CpSeen,
    FaultCleared,
    FaultRaised,
    PwmSeen,
    RelaySwitched,
    ampacity_for_pp,
)
from evstack.pilot import PilotState

E = TypeVar("E", bound=BoardEvent)


def charging_board(**config: object) -> Board:
    board = Board(BoardConfig(sample_rate_hz=50_000, **config))  # type: ignore[arg-type]
    board.ev_set_cp_state("B")
    board.evse_pwm(26.7)
    board.advance(0.1)
    board.ev_set_cp_state("C")
    board.allow_power_on(True)
    board.ev_draw(16, 3)
    board.advance(0.3)
    assert board.relay_on
    return board


def of_type(events: list[BoardEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def test_states_come_from_the_line() -> None:
    board = Board(BoardConfig(sample_rate_hz=50_000))
    events = board.advance(0.05)
    (seen,) = of_type(events, CpSeen)
    assert seen.state is PilotState.A
    assert seen.at == pytest.approx(0.01, abs=0.01)
    board.ev_set_cp_state("B")
    board.evse_pwm(26.7)
    events = board.advance(0.1)
    assert [e.state for e in of_type(events, CpSeen)] == [PilotState.B]
    (pwm,) = of_type(events, PwmSeen)
    assert pwm.duty_percent == pytest.approx(26.7, abs=1.0)
    assert of_type(events, CableRating)[0].amps == 32.0


def test_contactor_closes_only_in_c_with_permission_after_its_delay() -> None:
    board = Board(BoardConfig(sample_rate_hz=50_000, relay_close_s=0.08))
    board.ev_set_cp_state("B")
    board.allow_power_on(True)
    board.advance(0.5)
    assert not board.relay_on  # allowed, but the EV is in B
    board.ev_set_cp_state("C")
    events = board.advance(1.0)
    (seen_c,) = of_type(events, CpSeen)
    (closed,) = of_type(events, RelaySwitched)
    assert closed.on
    assert closed.at - seen_c.at == pytest.approx(0.08, abs=1e-6)


@pytest.mark.parametrize("leave_to", ["B", "A"])
def test_contactor_opens_within_100_ms_when_the_ev_leaves_c(leave_to: str) -> None:
    board = charging_board()
    left_at = board.time
    board.ev_set_cp_state(leave_to)
    events = board.advance(left_at + 0.2)
    (opened,) = of_type(events, RelaySwitched)
    assert not opened.on
    assert opened.at - left_at <= 0.1
    assert board.meter.current_a == 0


def test_meter_follows_the_current_drawn() -> None:
    board = charging_board(power_watchdog_s=None)
    start = board.meter.energy_wh
    board.advance(board.time + 60)
    assert board.meter.energy_wh - start == pytest.approx(16 * 3 * 230 / 60, rel=1e-6)
    assert board.meter.power_w == pytest.approx(16 * 3 * 230)


def test_permission_lapses_without_refresh() -> None:
    board = charging_board(power_watchdog_s=3.0)
    board.advance(board.time + 2.0)
    board.allow_power_on(True)  # the controller is alive
    board.advance(board.time + 2.0)
    assert board.relay_on
    events = board.advance(board.time + 1.5)  # ... and then it is not
    (opened,) = of_type(events, RelaySwitched)
    assert not opened.on
    assert not board.power_allowed


def test_diode_fault_is_raised_under_pwm_and_cleared_when_pwm_stops() -> None:
    board = charging_board()
    board.ev_diode_fail(True)
    (raised,) = of_type(board.advance(board.time + 0.1), FaultRaised)
    assert raised.error == DIODE_FAULT
    assert raised.at == pytest.approx(board.time, abs=0.1)
    board.evse_f()
    board.allow_power_on(False)
    events = board.advance(board.time + 0.1)
    assert [e.error for e in of_type(events, FaultCleared)] == [DIODE_FAULT]
    assert not board.relay_on


def test_rcd_trips_opens_the_contactor_and_resets_on_unplug() -> None:
    board = charging_board()
    board.ev_set_rcd_current(10)
    assert not of_type(board.advance(board.time + 0.1), FaultRaised)
    board.ev_set_rcd_current(40)
    events = board.advance(board.time + 0.1)
    assert {e.error for e in of_type(events, FaultRaised)} == {RCD_AC, GROUND_FAILURE}
    assert not board.relay_on  # opened without EvseManager: power_allowed is still True
    assert board.power_allowed
    board.advance(board.time + 1)
    assert not board.relay_on
    board.ev_set_cp_state("A")
    assert {e.error for e in of_type(board.advance(board.time + 0.1), FaultCleared)} == {
        RCD_AC,
        GROUND_FAILURE,
    }


def test_short_to_pe_reads_e_and_opens() -> None:
    board = charging_board()
    board.ev_set_cp_state("E")
    events = board.advance(board.time + 0.2)
    assert [e.state for e in of_type(events, CpSeen)] == [PilotState.E]
    assert not board.relay_on


def test_proximity_pilot() -> None:
    assert ampacity_for_pp(1500) == 13
    assert ampacity_for_pp(680) == 20
    assert ampacity_for_pp(220) == 32
    assert ampacity_for_pp(100) == 63
    assert ampacity_for_pp(30) is None
    assert ampacity_for_pp(5000) is None
    board = Board(BoardConfig(sample_rate_hz=50_000, pp_resistor_ohm=20))
    board.ev_set_cp_state("B")
    events = board.advance(0.05)
    assert FaultRaised(PROXIMITY_FAULT, 0.0) in events
    assert CableRating(None, 0.0) in events


def test_bad_commands_are_refused_and_change_nothing() -> None:
    board = Board(BoardConfig(sample_rate_hz=50_000))
    with pytest.raises(ValueError, match="duty"):
        board.evse_pwm(100)
    with pytest.raises(ValueError, match="state"):
        board.ev_set_cp_state("F")
    with pytest.raises(ValueError, match="draw"):
        board.ev_draw(-1, 3)
    with pytest.raises(ValueError, match="residual"):
        board.ev_set_rcd_current(-5)
    assert [e.state for e in of_type(board.advance(0.05), CpSeen)] == [PilotState.A]
