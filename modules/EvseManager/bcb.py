"""The BCB toggle (ISO 15118-3): a paused EV wakes the charger by pulsing the pilot B-C-B.

After the EV has paused its V2G session (SessionStop with Pause) it may ask to go on by
toggling from B to C and back, each C pulse 200 to 400 ms long, one to three times within
3.5 s. This core, with no I/O, judges the pilot states the board confirms, with their times,
and says when a valid toggle is complete: at the third pulse, or when the window since the
first pulse's rising edge ends with one or two valid pulses in it.

The board reports each edge after its analyser's debounce (IEC 61851-1 practice: at most
50 ms); both edges of a pulse are delayed alike, so a pulse's width is kept within a few
periods. `EDGE_TOLERANCE_S` widens the standard's limits by that much, no more.
"""

from __future__ import annotations

from dataclasses import dataclass

from evstack.modules.EvseManager.signals import CpState

PULSE_MIN_S = 0.2  # ISO 15118-3: a C pulse of a BCB toggle lasts 200 ms ...
PULSE_MAX_S = 0.4  # ... to 400 ms
WINDOW_S = 3.5  # all toggles within this time from the first rising edge
MAX_TOGGLES = 3
EDGE_TOLERANCE_S = 0.05  # the analyser's jitter on a pulse's width


@dataclass
class BcbDetector:
    """Feed it the confirmed pilot states (`on_cp`) and poll it (`poll`) at `deadline`."""

    toggles: int = 0
    _first_edge: float | None = None  # the first pulse's rising edge: the window's start
    _c_since: float | None = None
    _previous: CpState | None = None

    @property
    def line(self) -> CpState | None:
        """The pilot state last confirmed."""
        return self._previous

    def reset(self) -> None:
        self.toggles = 0
        self._first_edge = None
        self._c_since = None

    def on_cp(self, state: CpState, now: float) -> bool:
        """A confirmed pilot state; True when it completes a valid toggle."""
        previous, self._previous = self._previous, state
        if state is CpState.C:
            if previous is CpState.B:  # a rising edge: a pulse may begin
                if self._first_edge is not None and now > self._first_edge + WINDOW_S:
                    self.reset()  # the earlier pulses lie outside the window: start afresh
                if self._first_edge is None:
                    self._first_edge = now
                self._c_since = now
            return False
        if state is not CpState.B or previous is not CpState.C or self._c_since is None:
            if state is not CpState.B:
                self.reset()  # unplugged, E, F, D: whatever came before is no toggle
            return False
        assert self._first_edge is not None
        width, self._c_since = now - self._c_since, None
        valid = PULSE_MIN_S - EDGE_TOLERANCE_S <= width <= PULSE_MAX_S + EDGE_TOLERANCE_S
        if not valid or now > self._first_edge + WINDOW_S + EDGE_TOLERANCE_S:
            self.reset()  # a pulse too short or too long, or too late: the sequence is broken
            return False
        self.toggles += 1
        if self.toggles >= MAX_TOGGLES or now >= self._first_edge + WINDOW_S:
            self.reset()
            return True
        return False

    def poll(self, now: float) -> bool:
        """True when the window has ended with one or two valid pulses and no pulse under way."""
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            self.reset()
            return True
        return False

    @property
    def deadline(self) -> float | None:
        """When the window ends with a toggle in it (a pulse under way ends it by its edge)."""
        if self.toggles and self._first_edge is not None and self._c_since is None:
            return self._first_edge + WINDOW_S
        return None
