"""The charging core across restarts: a transaction taken over after a crash of EvseManager,
a board that crashes and comes back, an energy manager that crashes."""

from __future__ import annotations

import pytest

from evstack.modules.EvseManager.charger import C1_TIMEOUT_S
from evstack.modules.EvseManager.signals import (
    INOPERATIVE,
    AllowPower,
    BoardBack,
    BoardLost,
    ChargerState,
    ClearError,
    CurrentLimit,
    EnableBoard,
    EnergyLost,
    Publish,
    RaiseError,
    Recovery,
    SessionEvent,
    SetCpX1,
    SetPwm,
    StopReason,
)

from .test_charger import Run

pytestmark = pytest.mark.timeout(10)

_BOARD_COMMANDS = (SetPwm, SetCpX1, AllowPower, EnableBoard)


def recovered(stop_reason: StopReason | None = None) -> Run:
    return Run(recovery=Recovery("tag-1", stop_reason))


def test_a_recovered_transaction_resumes_if_the_ev_is_still_there() -> None:
    run = recovered()
    assert isinstance(run.actions[1], SetPwm)  # no X1 in between: the EV keeps its PWM
    run.cp("C")
    assert run.charger.power_allowed
    assert run.charger.state is ChargerState.CHARGING
    # For everyone else the transaction never stopped: no new session, no new authorization.
    assert run.events() == [SessionEvent.ENABLED, SessionEvent.CHARGING_RESUMED]


def test_a_recovered_transaction_finishes_if_the_ev_has_left() -> None:
    run = recovered()
    run.cp("A")
    assert run.events()[1:] == [
        SessionEvent.CHARGING_FINISHED,
        SessionEvent.TRANSACTION_FINISHED,
        SessionEvent.SESSION_FINISHED,
    ]
    assert run.stop_reasons() == [StopReason.EV_DISCONNECTED]
    assert AllowPower(True) not in run.actions
    assert run.charger.state is ChargerState.IDLE


def test_a_stop_under_way_at_the_crash_is_completed_not_undone() -> None:
    run = recovered(StopReason.REMOTE)
    run.cp("C")
    assert run.stop_reasons() == [StopReason.REMOTE]
    assert AllowPower(True) not in run.actions
    assert not [a for a in run.actions if isinstance(a, SetPwm)]


def test_a_lost_board_pauses_the_transaction_and_its_return_re_arms_it() -> None:
    run = Run().charging()
    lost = run.send(BoardLost())
    # A dead board hears nothing: no command goes to it; the session pauses, not ends.
    assert not [a for a in lost if isinstance(a, _BOARD_COMMANDS)]
    assert Publish(SessionEvent.CHARGING_PAUSED_EVSE) in lost
    assert RaiseError(INOPERATIVE) in lost
    assert not run.charger.power_allowed
    assert run.wait(30) == []  # no timer spins while the board is away

    back = run.send(BoardBack())
    assert back[0] == EnableBoard()
    assert not run.charger.power_allowed  # the new board has not told us the line yet
    resumed = run.cp("C")
    assert AllowPower(True) in resumed
    assert Publish(SessionEvent.CHARGING_RESUMED) in resumed
    assert ClearError(INOPERATIVE) in run.actions
    assert SessionEvent.TRANSACTION_FINISHED not in run.events()


def test_an_ev_that_left_while_the_board_was_away_ends_the_transaction() -> None:
    run = Run().charging()
    run.send(BoardLost(), BoardBack())
    run.cp("A")
    assert run.stop_reasons() == [StopReason.EV_DISCONNECTED]


def test_a_lapsed_grant_keeps_the_evs_grace_but_a_crashed_energy_manager_does_not() -> None:
    lapsed = Run().charging()
    lapsed.send(CurrentLimit(0.0))
    assert allowed(lapsed)  # the EV has C1_TIMEOUT_S to stop drawing
    lapsed.wait(C1_TIMEOUT_S)
    assert not allowed(lapsed)

    crashed = Run().charging()
    cut = crashed.send(EnergyLost())
    assert SetCpX1() in cut
    assert AllowPower(False) in cut
    assert not allowed(crashed)
    crashed.send(CurrentLimit(32.0))  # a new grant after the manager is back
    crashed.wait(1)
    assert allowed(crashed)


def allowed(run: Run) -> bool:
    # A call, not the property: mypy would narrow the property across the waits in between.
    return run.charger.power_allowed
