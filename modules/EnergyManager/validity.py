"""The EVSE side of the energy manager's promise: a limit holds only for ``valid_for`` seconds.

If the manager stops talking (crashed, partitioned broker) an EVSE must not keep drawing the
last current it was granted, because the fuse may meanwhile be shared with someone else. So
every enforced limit carries a validity window, and the holder below reports 0 A once it has
lapsed. It is deliberately tiny and free of I/O so the EvseManager can own one per EVSE and ask
it for the current limit on each decision, on the same monotonic clock as its other timers.
"""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]


class LimitWindow:
    """The latest enforced current limit and the monotonic time it lapses."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._amps = 0.0
        self._expires_at = -1.0  # nothing granted yet: 0 A until the manager speaks

    def apply(self, amps: float, valid_for_s: float) -> None:
        """Take a new limit from ``enforce_limits``; a negative or NaN current counts as 0 A."""
        self._amps = amps if amps > 0 else 0.0
        self._expires_at = self._clock() + max(valid_for_s, 0.0)

    @property
    def amps(self) -> float:
        """The limit to obey now: the last grant while it is valid, else 0 A."""
        return self._amps if self._clock() < self._expires_at else 0.0

    @property
    def expires_at(self) -> float:
        """When the limit lapses, so the owner can schedule a re-check instead of polling."""
        return self._expires_at
