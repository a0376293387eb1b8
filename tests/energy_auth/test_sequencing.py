"""The pieces of finding 8 one by one: the sequencer, the EVSE's grant window, its committed
current. `test_fuse_sequencing` has them working together."""

from __future__ import annotations

import pytest

from evstack.modules.EnergyManager import sequencing
from evstack.modules.EnergyManager.allocation import EvseDemand, Node
from evstack.modules.EnergyManager.sequencing import EV_FOLLOW_S, Grant, Report, Sequencer
from evstack.modules.EnergyManager.validity import LimitWindow
from evstack.modules.EvseManager import charger
from evstack.modules.EvseManager.charger import PWM_UPDATE_INTERVAL_S, Charger
from evstack.modules.EvseManager.signals import (
    Authorize,
    CpChanged,
    CpState,
    CurrentLimit,
    Input,
    MeasuredCurrent,
    RelayChanged,
)

pytestmark = pytest.mark.timeout(30)

VALID_S = 3.0
SITE = Node.fuse("site", 32, EvseDemand("a", 32), EvseDemand("b", 32))


def sequencer() -> Sequencer:
    return Sequencer(VALID_S, first_seq=100)


def amps(grants: dict[str, Grant]) -> dict[str, float]:
    return {uuid: grant.amps for uuid, grant in grants.items()}


def test_the_manager_counts_the_follow_time_the_evse_does() -> None:
    assert sequencing.EV_FOLLOW_S == charger.EV_FOLLOW_S


def test_a_lowering_goes_out_at_once_and_the_raise_waits_until_it_is_done() -> None:
    seq = sequencer()
    seq.observe("a", Report(32.0, 99, made_at=0.0))  # a's EV draws the whole fuse
    seq.observe("b", Report(0.0, None, made_at=0.0))
    first = seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=1.0)
    assert amps(first) == {"a": 16.0, "b": 0.0}
    # a applied its 16 A, but its EV has not followed yet: nothing changes.
    seq.observe("a", Report(32.0, first["a"].seq, made_at=1.5))
    assert amps(seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=2.0)) == {"a": 16.0, "b": 0.0}
    seq.observe("a", Report(16.0, first["a"].seq, made_at=2.5))  # now it has
    assert amps(seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=3.0)) == {"a": 16.0, "b": 16.0}


def test_a_raise_goes_as_far_as_the_fuse_allows_and_never_below_the_minimum() -> None:
    seq = sequencer()
    seq.observe("a", Report(20.0, 99, made_at=0.0))
    seq.observe("b", Report(0.0, None, made_at=0.0))
    assert amps(seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=1.0)) == {"a": 16.0, "b": 12.0}
    seq = sequencer()
    seq.observe("a", Report(28.0, 99, made_at=0.0))
    seq.observe("b", Report(0.0, None, made_at=0.0))
    assert amps(seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=1.0)) == {"a": 16.0, "b": 0.0}


def test_a_grant_counts_until_the_evse_confirms_it() -> None:
    seq = sequencer()
    seq.observe("a", Report(0.0, None, made_at=0.0))
    alone = seq.grants(Node.fuse("site", 32, EvseDemand("a", 32)), {"a": 32.0}, now=0.0)
    assert amps(alone) == {"a": 32.0}
    # b plugs in before a has confirmed: a may be drawing 32 A by now.
    seq.observe("b", Report(0.0, None, made_at=0.5))
    assert amps(seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=1.0)) == {"a": 16.0, "b": 0.0}
    assert seq.possible("a", now=1.0) == 32.0


def test_a_report_overtaken_on_the_way_is_ignored() -> None:
    seq = sequencer()
    seq.observe("a", Report(16.0, 7, made_at=2.0))
    seq.observe("a", Report(0.0, 6, made_at=1.0))
    assert seq.possible("a", now=3.0) == 16.0


def test_numbering_goes_on_above_any_grant_an_evse_applied() -> None:
    # A restarted manager: the EVSEs took its predecessor's grants up to 500.
    seq = sequencer()
    seq.observe("a", Report(0.0, 500, made_at=0.0))
    assert seq.grants(SITE, {"a": 0.0, "b": 0.0}, now=0.0)["a"].seq > 500


def test_a_grant_never_confirmed_is_written_off_once_it_is_too_old_to_be_applied() -> None:
    # An EVSE that hangs in enforce_limits reports on, but never applies anything.
    seq = sequencer()
    seq.observe("a", Report(0.0, None, made_at=0.0))
    seq.grants(Node.fuse("site", 32, EvseDemand("a", 32)), {"a": 32.0}, now=0.0)
    seq.observe("a", Report(0.0, None, made_at=VALID_S - 0.1))
    assert seq.possible("a", now=VALID_S) == 32.0  # it could still take it
    seq.observe("a", Report(0.0, None, made_at=VALID_S))
    assert seq.possible("a", now=VALID_S) == 0.0


def test_an_evse_gone_from_the_tree_counts_until_its_grant_lapsed_and_its_ev_followed() -> None:
    seq = sequencer()
    seq.observe("a", Report(16.0, 99, made_at=0.0))
    seq.observe("b", Report(16.0, 99, made_at=0.0))
    seq.grants(SITE, {"a": 16.0, "b": 16.0}, now=0.0)
    alone = Node.fuse("site", 32, EvseDemand("a", 32))  # b went quiet; its node left it out
    gone_until = 2 * VALID_S + EV_FOLLOW_S  # taken as late as it may be, then lapsed
    assert amps(seq.grants(alone, {"a": 32.0}, now=gone_until - 0.1)) == {"a": 16.0}
    assert amps(seq.grants(alone, {"a": 32.0}, now=gone_until)) == {"a": 32.0}


def test_a_peer_that_reports_nothing_counts_by_the_clock() -> None:
    seq = sequencer()  # an EVerest EVSE: no committed current, no applied grant
    seq.grants(SITE, {"a": 32.0, "b": 0.0}, now=0.0)
    assert seq.possible("a", now=2 * VALID_S + EV_FOLLOW_S - 0.1) == 32.0
    assert seq.possible("a", now=2 * VALID_S + EV_FOLLOW_S) == 0.0


def test_a_one_phase_evse_waits_only_for_its_own_phase() -> None:
    site = Node.fuse(
        "site",
        32,
        EvseDemand("l1", 32, phases=frozenset({1})),
        EvseDemand("l2", 32, phases=frozenset({2})),
        EvseDemand("all", 32),
    )
    seq = sequencer()
    seq.observe("l1", Report(32.0, 99, made_at=0.0))
    seq.observe("l2", Report(0.0, None, made_at=0.0))
    seq.observe("all", Report(0.0, None, made_at=0.0))
    grants = seq.grants(site, {"l1": 16.0, "l2": 16.0, "all": 16.0}, now=1.0)
    # L2 and L3 have room now; the three-phase EVSE also needs L1, where l1 still draws 32 A.
    assert amps(grants) == {"l1": 16.0, "l2": 16.0, "all": 0.0}


# --- the EVSE's side: its grant window ---------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_a_grant_older_than_one_applied_is_ignored() -> None:
    window = LimitWindow(Clock())
    assert window.apply(16.0, 3.0, grant=8)
    assert not window.apply(32.0, 3.0, grant=7)
    assert not window.apply(32.0, 3.0, grant=8)  # nor the same one twice
    assert (window.amps, window.applied_grant) == (16.0, 8)


def test_a_grant_held_up_beyond_its_validity_is_ignored() -> None:
    clock = Clock()
    window = LimitWindow(clock)
    assert not window.apply(32.0, 3.0, grant=1, age_s=3.1)
    assert window.applied_grant is None
    assert window.apply(32.0, 3.0, grant=2, age_s=2.9)
    clock.now += 2.9  # a late one still holds for its validity: load must not stop charging
    assert window.amps == 32.0


def test_unnumbered_grants_are_taken_in_any_order_as_before() -> None:
    window = LimitWindow(Clock())
    assert window.apply(16.0, 3.0)
    assert window.apply(32.0, 3.0, age_s=0.0)
    assert (window.amps, window.applied_grant) == (32.0, None)


# --- the EVSE's side: its committed current ----------------------------------------------


class Core:
    """One charger on a hand-stepped clock."""

    def __init__(self) -> None:
        self.charger = Charger()
        self.charger.current_limit_a = 0.0
        self.now = 0.0
        self.charger.start(self.now)

    def send(self, *events: Input) -> None:
        for event in events:
            self.charger.handle(event, self.now)

    def wait(self, seconds: float) -> None:
        end = self.now + seconds
        while (deadline := self.charger.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.charger.tick(self.now)
        self.now = end
        self.charger.tick(self.now)

    @property
    def committed(self) -> float:
        return self.charger.committed_current(self.now)


def charging_at(amps: float) -> Core:
    core = Core()
    core.send(CurrentLimit(amps), CpChanged(CpState.B), Authorize("tag"), CpChanged(CpState.C))
    core.send(RelayChanged(True), MeasuredCurrent(amps))
    assert core.charger.power_allowed
    return core


def test_nothing_is_committed_before_a_grant_and_a_grant_is_committed_at_once() -> None:
    core = Core()
    assert core.committed == 0.0
    core.send(CurrentLimit(16.0))  # no EV yet, but one may plug in and charge on it
    assert core.committed == 16.0


def test_a_lowered_limit_commits_the_old_one_until_the_ev_follows() -> None:
    core = charging_at(32.0)
    core.wait(PWM_UPDATE_INTERVAL_S)
    core.send(CurrentLimit(16.0))
    assert core.charger.offered_current == 16.0  # on the wire now
    assert core.committed == 32.0  # but the EV may take 5 s to follow
    core.wait(0.5)
    core.send(MeasuredCurrent(16.0))
    assert core.committed == 16.0


def test_without_readings_the_follow_time_ends_the_old_limit() -> None:
    core = charging_at(32.0)
    core.wait(PWM_UPDATE_INTERVAL_S)
    core.send(CurrentLimit(16.0))
    core.wait(EV_FOLLOW_S - 0.1)
    assert core.committed == 32.0
    core.wait(0.1)
    assert core.committed == 16.0


def test_a_reading_from_before_the_change_proves_nothing() -> None:
    core = charging_at(32.0)
    core.send(MeasuredCurrent(10.0))  # the EV drew little, then
    core.wait(PWM_UPDATE_INTERVAL_S)
    core.send(CurrentLimit(16.0))
    assert core.committed == 32.0


def test_a_lower_limit_the_pwm_cannot_signal_yet_keeps_the_wire_committed() -> None:
    core = charging_at(32.0)
    core.send(CurrentLimit(16.0))  # the duty changed less than 5 s ago: it must wait
    core.send(MeasuredCurrent(32.0))
    assert core.committed == 32.0


def test_an_ev_stopped_by_0_a_is_committed_until_the_contactor_opens() -> None:
    core = charging_at(32.0)
    core.send(CurrentLimit(0.0))  # pause: the PWM stops, the EV has its C1 grace
    assert not core.charger.pwm_on
    assert core.committed == 32.0
    core.send(CpChanged(CpState.B), RelayChanged(False))
    assert core.committed == 0.0


@pytest.mark.parametrize("drawn", [15.9, 16.0, 16.02])
def test_an_ev_within_the_pwm_resolution_has_followed(drawn: float) -> None:
    core = charging_at(32.0)
    core.wait(PWM_UPDATE_INTERVAL_S)
    core.send(CurrentLimit(16.0), MeasuredCurrent(drawn))
    assert core.committed == 16.0
