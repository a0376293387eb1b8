"""SessionStore's history pages (the session_history interface), straight from the database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from evstack.modules.SessionStore.database import SessionDatabase
from evstack.modules.SessionStore.module import _History


def fill(database: SessionDatabase, count: int) -> None:
    for n in range(count):
        session = f"s{n:02d}"
        database.session_started(
            session, 1 + n % 2, f"TOKEN{n}", f"2026-12-01T10:{n:02d}:00Z", 100.0
        )
        if n % 3:
            database.session_finished(
                session, f"2026-12-01T11:{n:02d}:00Z", 150.0, "EVDisconnected"
            )
        else:
            database.record_readings([(session, 120.0, f"2026-12-01T10:{n:02d}:30Z")])


@pytest.mark.timeout(30)
def test_pages_run_newest_first_and_add_up_to_the_whole(tmp_path: Path) -> None:
    with SessionDatabase(tmp_path / "sessions.db") as database:
        fill(database, 25)
        pages = [database.page(offset, 10) for offset in (0, 10, 20, 30)]
    assert [total for _, total in pages] == [25] * 4
    ids = [s.session_id for sessions, _ in pages for s in sessions]
    assert ids == [f"s{n:02d}" for n in reversed(range(25))]
    assert pages[3][0] == []


@pytest.mark.timeout(30)
def test_a_record_says_how_much_a_running_and_a_finished_session_charged(
    tmp_path: Path,
) -> None:
    class Store:
        database: Any

    with SessionDatabase(tmp_path / "sessions.db") as database:
        fill(database, 2)
        store = Store()
        store.database = database
        page = asyncio.run(_History(store).handle_get_sessions(offset=0, limit=5))  # type: ignore[arg-type]
    finished, running = page.sessions
    assert (page.total, page.offset) == (2, 0)
    assert (finished.session_id, finished.finished, finished.energy_Wh) == ("s01", True, 50.0)
    assert finished.stop_reason == "EVDisconnected"
    assert finished.stopped_at == "2026-12-01T11:01:00Z"
    assert (running.session_id, running.finished, running.energy_Wh) == ("s00", False, 20.0)
    assert running.stopped_at is None
    assert running.stop_reason is None
