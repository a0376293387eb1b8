"""How fast one simulated charge point's hardware runs: simulated seconds per wall second.

The board simulator synthesises and analyses its control-pilot line sample by sample;
that is what bounds the speed-up a software-in-the-loop run can use. The same scripted
session (plug in, PWM, charge, pause, resume, unplug) runs on `Board` twice in one go:
with the C extension, and with the pure-Python reference of the same line as the
baseline. The last line is the BENCH summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from evstack.modules.BoardSimulator.board import Board, BoardConfig
from evstack.pilot import line
from evstack.pilot.reference import ReferenceAnalyser, ReferenceSynthesiser

TICK_S = 0.01  # the module's loop hands the board 10 ms at a time at 1x
SAMPLE_RATE_HZ = 100_000.0  # the BoardSimulator default


def session(board: Board, seconds: float) -> int:
    """Drive a charging session of `seconds` simulated seconds; return the events seen."""

    def to_c() -> None:
        board.ev_set_cp_state("C")
        board.allow_power_on(True)

    steps: list[tuple[float, Callable[[], None]]] = [
        (0.05, lambda: board.ev_set_cp_state("B")),
        (0.10, lambda: board.evse_pwm(26.7)),
        (0.20, to_c),
        (0.25, lambda: board.ev_draw(16, 3)),
        (0.60, lambda: board.ev_set_cp_state("B")),
        (0.70, lambda: board.ev_set_cp_state("C")),
        (0.95, lambda: board.ev_set_cp_state("A")),
    ]
    events, now, pending = 0, 0.0, list(steps)
    while now < seconds:
        now += TICK_S
        while pending and pending[0][0] * seconds <= now:
            pending.pop(0)[1]()
        board.allow_power_on(board.power_allowed)  # what EvseManager's refresh does
        events += len(board.advance(now))
    return events


def rate(make_board: Callable[[], Board], seconds: float) -> tuple[float, int]:
    board = make_board()
    start = time.perf_counter()
    events = session(board, seconds)
    return seconds / (time.perf_counter() - start), events


def native_board() -> Board:
    return Board(BoardConfig(sample_rate_hz=SAMPLE_RATE_HZ))


def reference_board() -> Board:
    """The same board on the pure-Python line (swapped in for the C classes)."""
    # The line looks its classes up in its module's namespace when a board is built.
    names = vars(line)
    saved = {name: names[name] for name in ("Analyser", "Synthesiser")}
    names.update(Analyser=ReferenceAnalyser, Synthesiser=ReferenceSynthesiser)
    try:
        return Board(BoardConfig(sample_rate_hz=SAMPLE_RATE_HZ))
    finally:
        names.update(saved)


def main() -> None:
    native, native_events = max(rate(native_board, 60.0) for _ in range(3))
    reference, reference_events = rate(reference_board, 2.0)
    print(f"C extension:      {native:8.1f} simulated s per wall s ({native_events} events)")
    print(f"Python reference: {reference:8.2f} simulated s per wall s ({reference_events} events)")
    print(
        f"BENCH charging sim_per_wall_c={native:.1f} sim_per_wall_python={reference:.2f} "
        f"ratio={native / reference:.1f} sample_rate_hz={SAMPLE_RATE_HZ:.0f}"
    )


if __name__ == "__main__":
    main()
