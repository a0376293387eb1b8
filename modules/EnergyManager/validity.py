"""The EVSE side of the energy manager's promise: a limit holds only for ``valid_for`` seconds.

If the manager stops talking (crashed, partitioned broker) an EVSE must not keep drawing the
last current it was granted, because the fuse may meanwhile be shared with someone else. So
every enforced limit carries a validity window, and the holder below reports 0 A once it has
lapsed. It is deliberately tiny and free of I/O so the EvseManager can own one per EVSE and ask
it for the current limit on each decision, on the same monotonic clock as its other timers.

A limit with a sequence number (``grant``) is taken only if it is newer than every numbered
limit taken before and younger than its validity: the energy manager counts a limit it sent as
possibly in force until the EVSE confirms that one or a newer one, or until it is too old to be
taken, so a limit that overtook it must win, and a late one must not come back to life. Taken,
a limit holds for its validity from its arrival, as any other: a loaded machine that delivers
limits late must not make them lapse early.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

Clock = Callable[[], float]


def seconds_since(timestamp: str, speedup: float = 1.0) -> float | None:
    """Seconds since the RFC 3339 ``timestamp`` on a clock ``speedup`` times faster than the
    wall's (a simulation's); None if it cannot be read. Hosts on one bus keep their clocks in
    step (NTP), as they must for metering anyway."""
    try:
        then = datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - then).total_seconds() * speedup


class LimitWindow:
    """The latest enforced current limit and the monotonic time it lapses."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._amps = 0.0
        self._expires_at = -1.0  # nothing granted yet: 0 A until the manager speaks
        self._grant: int | None = None

    def apply(
        self, amps: float, valid_for_s: float, grant: int | None = None, age_s: float = 0.0
    ) -> bool:
        """Take a limit from ``enforce_limits``, issued ``age_s`` ago; False if it is refused.

        A negative or NaN current counts as 0 A. A numbered limit (``grant``) is refused when
        a newer one was taken, and when it is older than its validity.
        """
        if grant is not None:
            if age_s > valid_for_s or (self._grant is not None and grant <= self._grant):
                return False
            self._grant = grant
        self._amps = amps if amps > 0 else 0.0
        self._expires_at = self._clock() + max(valid_for_s, 0.0)
        return True

    @property
    def amps(self) -> float:
        """The limit to obey now: the last grant while it is valid, else 0 A."""
        return self._amps if self._clock() < self._expires_at else 0.0

    @property
    def expires_at(self) -> float:
        """When the limit lapses, so the owner can schedule a re-check instead of polling."""
        return self._expires_at

    @property
    def applied_grant(self) -> int | None:
        """The number of the newest numbered limit taken, for the EVSE to echo upwards."""
        return self._grant
