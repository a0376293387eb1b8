"""The run's clock, which every module reads its time from (`ModuleBase.clock`).

Charging logic is full of deadlines (100 ms to open a contactor, 6 s for a C1
timeout, 5 s between PWM changes). Reading them from one injected clock instead
of ``time.monotonic()`` lets a software-in-the-loop demo run those realistic
durations many times faster than real time, and lets tests step time by hand.
Only monotonic time is offered: a wall clock that jumps (NTP, a user setting the
date) must never expire a budget.

The runtime owns the speed-up: it is set once per run (`ev-manager run --speedup`, or the
config's `settings.speedup`) and every module gets a clock running at it from its base
class; 1 on a real charger.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """What a module needs from time: a reading and a way to wait."""

    def now(self) -> float:
        """Seconds on this clock; only differences between readings mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on this clock."""
        ...


class ScaledClock:
    """The host's monotonic clock, running ``speedup`` times faster.

    With ``speedup=20`` a 30 s charging session takes 1.5 s of wall time, while
    every module still sees 30 s go by. ``wall_s`` turns a span on this clock into wall
    seconds, for timeouts that only take those (a call to another module).
    """

    def __init__(self, speedup: float = 1.0) -> None:
        if not speedup > 0:
            raise ValueError(f"speedup must be positive, got {speedup!r}")
        self.speedup = speedup
        self._wall_origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._wall_origin) * self.speedup

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speedup)

    def wall_s(self, seconds: float) -> float:
        return seconds / self.speedup


class ManualClock:
    """A clock that only moves when told to: for tests and for lock-step simulation.

    ``sleep`` parks the caller until :meth:`advance` passes its deadline, so
    asynchronous code can be driven through minutes of simulated time instantly.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties wake in the order they slept

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)
