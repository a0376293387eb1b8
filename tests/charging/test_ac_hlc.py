"""EvseManager's AC core for high-level charging (ISO 15118-2 and -20 AC): the contactor
closes only with the Charger's permission, a grant above 0 A and the EV's PowerDelivery
Start, and opens on Stop, the session's end or the permission going; the energy manager's
grant reaches the SECC in the same step; the Charger core's own AllowPower, on a hand
clock, drives it as EvseManager wires it."""

from __future__ import annotations

from collections.abc import Callable

from evstack.modules.EvseManager.ac_hlc import (
    TRANSITIONS,
    AcHlc,
    Command,
    Contactor,
    Event,
    Phase,
    ToSecc,
)
from evstack.modules.EvseManager.charger import C1_TIMEOUT_S, Charger, ChargerConfig
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    Authorize,
    CpChanged,
    CpState,
    FaultChanged,
    Input,
    Pause,
)
from evstack.modules.EvseManager.signals import Fault as LineFault


def phase_of(ac: AcHlc) -> Phase:
    """The phase now (a call, so that mypy does not narrow it across steps)."""
    return ac.phase


def secc(commands: list[Command]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for command in commands:
        if isinstance(command, ToSecc):
            merged.update(command.fields)
    return merged


def contactor(commands: list[Command]) -> list[Contactor]:
    return [c for c in commands if isinstance(c, Contactor)]


def allowed_and_granted(amps: float = 16.0) -> AcHlc:
    ac = AcHlc(max_current=32.0)
    ac.set_grant(amps)
    ac.set_charger_allows(True)
    return ac


def test_the_contactor_waits_for_the_ev_to_ask() -> None:
    ac = allowed_and_granted()
    assert ac.phase is Phase.IDLE
    assert contactor(ac.set_charger_allows(True)) == []  # a refresh: nothing to switch yet
    assert contactor(ac.ev_power_delivery(True)) == [Contactor(True)]
    assert phase_of(ac) is Phase.DELIVERING


def test_the_contactor_waits_for_the_chargers_permission() -> None:
    ac = AcHlc(max_current=32.0)
    ac.set_grant(16.0)
    assert contactor(ac.ev_power_delivery(True)) == []
    assert phase_of(ac) is Phase.WAITING
    assert contactor(ac.set_charger_allows(True)) == [Contactor(True)]


def test_the_contactor_waits_for_a_grant_above_zero() -> None:
    ac = AcHlc(max_current=32.0)
    ac.set_grant(0.0)
    ac.set_charger_allows(True)
    assert contactor(ac.ev_power_delivery(True)) == []
    out = ac.set_grant(10.0)
    assert contactor(out) == [Contactor(True)]
    assert secc(out)["ac_max_current"] == 10.0


def test_a_grant_falling_to_zero_offers_zero_without_breaking_the_current() -> None:
    ac = allowed_and_granted()
    ac.ev_power_delivery(True)
    out = ac.set_grant(0.0)
    assert contactor(out) == []
    assert secc(out) == {"ac_max_current": 0.0}


def test_each_permission_repeat_refreshes_the_board_while_delivering() -> None:
    ac = allowed_and_granted()
    ac.ev_power_delivery(True)
    assert ac.set_charger_allows(True) == [Contactor(True)]


def test_power_delivery_stop_the_session_end_and_the_permission_open_it() -> None:
    ends: list[Callable[[AcHlc], list[Command]]] = [
        lambda ac: ac.ev_power_delivery(False),
        lambda ac: ac.session_ended(),
        lambda ac: ac.set_charger_allows(False),
    ]
    for end in ends:
        ac = allowed_and_granted()
        ac.ev_power_delivery(True)
        assert contactor(end(ac)) == [Contactor(False)]
        assert phase_of(ac) is not Phase.DELIVERING


def test_after_the_permission_came_back_it_closes_again_for_the_same_request() -> None:
    ac = allowed_and_granted()
    ac.ev_power_delivery(True)
    ac.set_charger_allows(False)
    assert phase_of(ac) is Phase.WAITING
    assert contactor(ac.set_charger_allows(True)) == [Contactor(True)]


def test_every_withdrawal_reaches_the_board() -> None:
    ac = AcHlc(max_current=32.0)
    assert contactor(ac.set_charger_allows(False)) == [Contactor(False)]


def test_the_grant_is_capped_by_the_rating_and_the_cable() -> None:
    ac = AcHlc(max_current=32.0)
    assert secc(ac.set_grant(50.0))["ac_max_current"] == 32.0
    assert secc(ac.set_cable(20.0))["ac_max_current"] == 20.0
    assert secc(ac.set_grant(16.0))["ac_max_current"] == 16.0
    assert secc(ac.set_grant(16.0)) == {}  # unchanged: nothing to send


def test_the_secc_may_accept_power_delivery_unless_paused_or_inoperative() -> None:
    ac = AcHlc(max_current=32.0)
    assert secc(ac.set_grant(16.0))["power_allowed"] is True
    assert secc(ac.set_paused(True))["power_allowed"] is False
    assert secc(ac.set_paused(False))["power_allowed"] is True
    assert secc(ac.set_inoperative(True))["power_allowed"] is False


def test_the_table_never_closes_from_idle() -> None:
    # Only WAITING leads to DELIVERING: the EV's request comes first, always.
    closing = [key for key, after in TRANSITIONS.items() if after is Phase.DELIVERING]
    assert closing == [(Phase.WAITING, Event.READY)]


# -- with the Charger core, as EvseManager wires them -------------------------------------


class Run:
    """A Charger in HLC mode on a hand clock; its AllowPower goes to an AcHlc."""

    def __init__(self) -> None:
        self.charger = Charger(ChargerConfig(max_current_a=32.0, hlc=True))
        self.ac = AcHlc(max_current=32.0)
        self.now = 0.0
        self.board: list[bool] = []  # the contactor commands the board got
        self._carry_out(self.charger.start(self.now))

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, AllowPower):
                self.to_board(self.ac.set_charger_allows(action.allow))

    def to_board(self, commands: list[Command]) -> None:
        self.board += [c.closed for c in contactor(commands)]

    def send(self, event: Input) -> None:
        self._carry_out(self.charger.handle(event, self.now))

    def wait(self, seconds: float) -> None:
        end = self.now + seconds
        while (deadline := self.charger.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self._carry_out(self.charger.tick(self.now))
        self.now = end
        self._carry_out(self.charger.tick(self.now))

    def is_closed(self) -> bool:
        return bool(self.board) and self.board[-1]


def charging_run() -> Run:
    run = Run()
    run.to_board(run.ac.set_grant(16.0))
    run.send(CpChanged(CpState.B))
    run.send(Authorize("AABBCCDD"))  # EIM in the V2G session
    run.send(CpChanged(CpState.C))  # the EV switched to C just before PowerDelivery Start
    assert not run.is_closed()  # the Charger allows, but the EV has not asked yet
    run.to_board(run.ac.ev_power_delivery(True))
    assert run.is_closed()
    return run


def test_with_the_charger_the_contactor_closes_on_the_evs_request_and_stays_refreshed() -> None:
    run = charging_run()
    before = len(run.board)
    run.wait(3.0)
    assert run.board[before:] == [True, True, True]  # the watchdog's refreshes


def test_with_the_charger_a_fault_opens_the_contactor() -> None:
    run = charging_run()
    run.send(FaultChanged(LineFault.GROUND_FAILURE, True))
    assert not run.is_closed()


def test_with_the_charger_a_pause_opens_the_contactor_after_the_grace() -> None:
    run = charging_run()
    run.to_board(run.ac.set_paused(True))
    run.send(Pause())
    assert run.is_closed()  # the EV gets the C1 grace to stop its current
    run.wait(C1_TIMEOUT_S)
    assert not run.is_closed()
