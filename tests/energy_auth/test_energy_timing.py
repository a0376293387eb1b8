"""The energy manager's clocks: validity windows and when to recompute."""

from __future__ import annotations

import pytest

from evstack.modules.EnergyManager.schedule import RecomputeSchedule
from evstack.modules.EnergyManager.validity import LimitWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_no_grant_means_zero_amps() -> None:
    assert LimitWindow(FakeClock()).amps == 0.0


def test_silent_manager_drives_the_limit_to_zero() -> None:
    clock = FakeClock()
    window = LimitWindow(clock)
    window.apply(16.0, valid_for_s=3)
    clock.now += 2.9
    assert window.amps == 16.0
    clock.now += 0.1
    assert window.amps == 0.0
    window.apply(10.0, valid_for_s=3)  # the manager is back
    assert window.amps == 10.0
    assert window.expires_at == pytest.approx(56.0)


def test_nonsense_limits_count_as_zero() -> None:
    window = LimitWindow(FakeClock())
    window.apply(float("nan"), valid_for_s=3)
    assert window.amps == 0.0
    window.apply(-5.0, valid_for_s=3)
    assert window.amps == 0.0
    window.apply(16.0, valid_for_s=-1)
    assert window.amps == 0.0


def test_periodic_runs_every_interval() -> None:
    clock = FakeClock()
    schedule = RecomputeSchedule(clock, interval_s=1.0)
    assert schedule.due()  # first run at start-up
    schedule.ran()
    assert not schedule.due()
    assert not schedule.request(priority=False)  # ordinary updates wait
    clock.now += 1.0
    assert schedule.due()
    assert schedule.next_run == pytest.approx(51.0)


def test_priority_request_runs_at_once() -> None:
    clock = FakeClock()
    schedule = RecomputeSchedule(clock, interval_s=1.0)
    schedule.ran()
    clock.now += 0.2
    assert schedule.request(priority=True)


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RecomputeSchedule(FakeClock(), interval_s=0)
