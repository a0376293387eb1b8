"""The EV's side of the BCB toggle (ISO 15118-3): a paused EV wakes the charger by pulsing its
pilot from B to C and back, each C pulse 200 to 400 ms, one to three times within 3.5 s.

The simulated EV pulses in the middle of the range, C for 300 ms then B for 300 ms, so that
a charger's pilot analyser, which confirms each state some tens of milliseconds late, still
measures each pulse inside the standard's limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PULSE_S = 0.3  # each C pulse, and the B after it
MAX_TOGGLES = 3  # ISO 15118-3: one to three toggles


@dataclass(frozen=True)
class BcbToggle:
    count: int
    start: float

    def _phase(self, now: float) -> int:
        # A hair of slack so that a deadline computed from `start` lands in its own phase.
        return math.floor((now - self.start) / PULSE_S + 1e-9)

    def in_c(self, now: float) -> bool | None:
        """Whether the pilot shows C (True) or B (False) at `now`; None once done."""
        phase = self._phase(now)
        return None if phase >= 2 * self.count else phase % 2 == 0

    def next_edge(self, now: float) -> float | None:
        phase = self._phase(now)
        return None if phase >= 2 * self.count else self.start + (phase + 1) * PULSE_S
