"""Error logs that a flood of bad input cannot turn into a flood of log lines.

Bad input from the bus (unparseable commands, invalid vars, stray replies) is worth an error
line: it usually means a misconfigured peer. But one peer sending twenty thousand of them must
not write twenty thousand lines, fill the disk of a charger and bury everything else. So each
kind of complaint gets a budget of lines per period; what goes over is counted and summed up
in one line when the period ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

__all__ = ["LogBudget"]


@dataclass(slots=True)
class _Window:
    started: float
    lines: int = 0
    suppressed: int = 0
    summary: asyncio.TimerHandle | None = None


class LogBudget:
    """At most `lines` log lines per `period_s` for each kind of message; the rest are counted."""

    def __init__(self, log: logging.Logger, *, lines: int = 5, period_s: float = 10.0) -> None:
        self._log = log
        self._lines = lines
        self._period_s = period_s
        self._windows: dict[str, _Window] = {}

    def log(
        self,
        level: int,
        kind: str,
        message: str,
        *args: object,
        exc: BaseException | None = None,
    ) -> None:
        """Log `message % args` (and `exc`) unless `kind` used up this period's lines."""
        now = time.monotonic()
        window = self._windows.get(kind)
        if window is None or now - window.started >= self._period_s:
            if window is not None:
                self._summarise(kind, window)
            window = self._windows[kind] = _Window(now)
        if window.lines < self._lines:
            window.lines += 1
            self._log.log(level, message, *args, exc_info=exc)
            return
        window.suppressed += 1
        if window.summary is None:
            # Say how many were left out even if nothing of this kind ever comes again.
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            delay = window.started + self._period_s - now
            window.summary = loop.call_later(delay, self._summarise, kind, window)

    def error(self, kind: str, message: str, *args: object) -> None:
        self.log(logging.ERROR, kind, message, *args)

    def warning(self, kind: str, message: str, *args: object) -> None:
        self.log(logging.WARNING, kind, message, *args)

    def _summarise(self, kind: str, window: _Window) -> None:
        if window.summary is not None:
            window.summary.cancel()
            window.summary = None
        if window.suppressed:
            self._log.warning(
                "%d more %s in %.0f s were not logged", window.suppressed, kind, self._period_s
            )
            window.suppressed = 0
        if self._windows.get(kind) is window:
            del self._windows[kind]
