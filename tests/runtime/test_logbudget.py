"""LogBudget: a few lines per kind and period, then one line with the count of the rest."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from evstack.runtime.logbudget import LogBudget


class Clock:
    """Stands in for time.monotonic, so a test moves time instead of waiting for it.

    Only in tests without an event loop: asyncio's own clock is time.monotonic too.
    """

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "monotonic", clock)
    return clock


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "budgeted"]


@pytest.mark.timeout(10)
def test_lines_per_period_then_a_count_then_a_fresh_period(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="budgeted")
    budget = LogBudget(logging.getLogger("budgeted"))
    for i in range(8):
        budget.error("bad values", "bad value %d", i)
        clock.now += 1
    assert lines(caplog) == [f"bad value {i}" for i in range(5)]

    # The period ends at 1010: the next line says how many were left out, then starts afresh.
    clock.now = 1010.0
    for i in range(8, 15):
        budget.error("bad values", "bad value %d", i)
    assert lines(caplog)[5:] == [
        "3 more bad values in 10 s were not logged",
        *(f"bad value {i}" for i in range(8, 13)),
    ]

    # A period in which nothing was left out ends without a summary line.
    clock.now = 1030.0
    caplog.clear()
    budget.error("bad values", "bad value %d", 15)
    clock.now = 1045.0
    budget.error("bad values", "bad value %d", 16)
    assert lines(caplog) == [
        "2 more bad values in 10 s were not logged",
        "bad value 15",
        "bad value 16",
    ]


@pytest.mark.timeout(10)
def test_kinds_have_their_own_budgets_and_keep_level_and_exception(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="budgeted")
    budget = LogBudget(logging.getLogger("budgeted"), lines=1, period_s=5)
    budget.warning("stray replies", "stray reply")
    budget.warning("stray replies", "stray reply")
    budget.error("bad vars", "bad var")
    try:
        raise ValueError("broken handler")
    except ValueError as exc:
        budget.log(logging.ERROR, "handler failures", "handler failed", exc=exc)
    records = [r for r in caplog.records if r.name == "budgeted"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "stray reply"),
        (logging.ERROR, "bad var"),
        (logging.ERROR, "handler failed"),
    ]
    assert records[2].exc_info is not None
    assert records[2].exc_info[1] is not None
    assert str(records[2].exc_info[1]) == "broken handler"


class _Seen(logging.Handler):
    """Sets an event when a record containing `text` is emitted."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.mark.timeout(10)
async def test_the_count_comes_at_the_end_of_the_period_without_further_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="budgeted")
    log = logging.getLogger("budgeted")
    summary = _Seen("were not logged")
    log.addHandler(summary)
    try:
        # On a running loop a timer says what was left out, even if the flood stopped.
        budget = LogBudget(log, lines=2, period_s=0.05)
        for i in range(5):
            budget.error("bad commands", "bad command %d", i)
        await asyncio.wait_for(summary.seen.wait(), 5)
    finally:
        log.removeHandler(summary)
    assert lines(caplog)[:2] == ["bad command 0", "bad command 1"]
    assert lines(caplog)[2].startswith("3 more bad commands in ")
    assert len(lines(caplog)) == 3
    # The next line opens a new period.
    budget.error("bad commands", "bad command %d", 5)
    assert lines(caplog)[-1] == "bad command 5"
