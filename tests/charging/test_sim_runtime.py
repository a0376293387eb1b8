"""The simulated clocks and the stepper that runs sans-IO cores on them."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from evstack.modules.EvseManager.charger import (
    C1_TIMEOUT_S,
    Charger,
)
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    Authorize,
    CpChanged,
    CpState,
    Input,
    Pause,
)
from evstack.runtime import CommandError, CommandEvent
from evstack.runtime.clock import ManualClock, ScaledClock
from evstack.runtime.stepper import Stepper


async def test_scaled_clock_runs_faster_than_the_wall() -> None:
    clock = ScaledClock(speedup=50)
    wall = time.monotonic()
    start = clock.now()
    await clock.sleep(2.5)  # 50 ms of wall time
    assert clock.now() - start >= 2.5
    assert time.monotonic() - wall < 1.0


def test_scaled_clock_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="speedup"):
        ScaledClock(0)


async def test_manual_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("late", 2.0), ("early", 1.0))]
    await asyncio.sleep(0)
    clock.advance(1.5)
    await asyncio.sleep(0)
    assert woke == ["early"]
    clock.advance(0.5)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"]
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)


async def test_stepper_runs_inputs_and_timers_in_order() -> None:
    clock = ManualClock()
    charger = Charger()
    done: list[Action] = []

    async def perform(action: Action) -> None:
        done.append(action)

    stepper: Stepper[Input, Action] = Stepper(charger, clock, perform)
    task = asyncio.create_task(stepper.run(charger.start(clock.now())))
    for event in (CpChanged(CpState.B), Authorize("t"), CpChanged(CpState.C), Pause()):
        stepper.feed(event)
    for _ in range(10):
        await asyncio.sleep(0)
    assert charger.power_allowed  # inside the C1 grace period
    clock.advance(C1_TIMEOUT_S)
    for _ in range(10):
        await asyncio.sleep(0)
    assert done[-1] == AllowPower(False)  # fired by the stepper's own timer
    task.cancel()


async def test_stepper_keeps_going_when_an_action_fails() -> None:
    clock = ManualClock()
    charger = Charger()
    done: list[Action] = []

    async def flaky(action: Action) -> None:
        if not done:
            done.append(action)
            raise ConnectionError("broker gone for a moment")
        done.append(action)

    stepper: Stepper[Input, Action] = Stepper(charger, clock, flaky)
    task = asyncio.create_task(stepper.run(charger.start(clock.now())))
    await asyncio.sleep(0)
    assert AllowPower(False) in done
    task.cancel()


@pytest.mark.parametrize(
    ("event", "loud"), [(CommandEvent.SHUTDOWN, False), (CommandEvent.TIMEOUT, True)]
)
async def test_only_a_shutdown_reply_is_an_expected_failure(
    caplog: pytest.LogCaptureFixture, event: CommandEvent, loud: bool
) -> None:
    clock = ManualClock()
    charger = Charger()
    done: list[Action] = []

    async def board(action: Action) -> None:
        done.append(action)
        if action == AllowPower(False):  # what the charger says on its way out
            raise CommandError(event, "board_2 stopped", command="allow_power_on")

    stepper: Stepper[Input, Action] = Stepper(charger, clock, board)
    caplog.set_level(logging.DEBUG, logger="evstack.runtime.stepper")
    task = asyncio.create_task(stepper.run(charger.start(clock.now())))
    await asyncio.sleep(0)
    task.cancel()
    assert AllowPower(False) in done
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bool(errors) is loud, errors
    if not loud:
        assert "not carried out" in caplog.text  # still there for whoever debugs
