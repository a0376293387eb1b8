"""When the energy manager recomputes: every interval, and at once on a priority request.

A priority request is what an EVSE sends when its state changes in a way that matters now (an
EV plugged in, authorization arrived, the car paused). Waiting up to a full interval would delay
the start of charging, so those trigger an immediate run; ordinary updates (meter values) only
mark the tree as changed and wait for the next periodic run. Periodic runs happen even when
nothing changed, because they renew the EVSEs' validity windows.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]


class RecomputeSchedule:
    """Decides when to run the allocation, on a monotonic clock."""

    def __init__(self, clock: Clock, interval_s: float = 1.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval must be positive, got {interval_s}")
        self._clock = clock
        self.interval_s = interval_s
        self._next_run = clock()  # the first run happens as soon as the manager starts

    def request(self, priority: bool) -> bool:
        """A node sent a request; true if the caller should recompute right now."""
        if priority:
            self._next_run = self._clock()
        return self.due()

    def due(self) -> bool:
        return self._clock() >= self._next_run

    def ran(self) -> None:
        """Call after each recomputation; the next periodic one is an interval later."""
        self._next_run = self._clock() + self.interval_s

    @property
    def next_run(self) -> float:
        return self._next_run
