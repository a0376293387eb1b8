"""Session persistence against a real SQLite file, including a process killed mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from evstack.modules.SessionStore.database import SessionDatabase, SessionDatabaseError

T0 = "2026-11-23T10:00:00Z"
T1 = "2026-11-23T11:30:00Z"


def test_finished_session_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with SessionDatabase(db) as store:
        store.session_started("s1", evse_id=1, id_token="AABBCCDD", started_at=T0, start_wh=1000.0)
        done = store.session_finished(
            "s1", stopped_at=T1, stop_wh=12_500.0, stop_reason="EVDisconnected"
        )
    assert done.energy_wh == pytest.approx(11_500.0)
    with SessionDatabase(db) as reopened:
        (session,) = reopened.sessions(finished_only=True)
    assert session == done
    assert session.id_token == "AABBCCDD"
    assert session.stop_reason == "EVDisconnected"


def test_finding_1_a_restart_of_the_store_closes_nothing(tmp_path: Path) -> None:
    """Opening the database after a crash leaves open sessions open: only their EVSE knows
    whether they still run (the store reconciles with it), so nothing is closed on a guess."""
    db = tmp_path / "sessions.db"
    with SessionDatabase(db) as store:
        store.session_started("s1", 1, "card", T0, 500.0)
    with SessionDatabase(db) as restarted:
        (session,) = restarted.open_sessions(evse_id=1)
        assert not session.finished
        done = restarted.session_finished("s1", T1, 838.6, "EVDisconnected")
    assert done.energy_wh == pytest.approx(338.6)


def test_finding_2_an_orphan_is_closed_at_its_last_stored_reading(tmp_path: Path) -> None:
    with SessionDatabase(tmp_path / "sessions.db") as store:
        store.session_started("s1", 1, "card", T0, 500.0)
        store.record_readings([("s1", 560.0, "2026-11-23T10:20:00Z")])
        store.record_readings([("s1", 630.0, "2026-11-23T10:40:00Z")])
        store.record_readings([("s1", 600.0, "2026-11-23T10:30:00Z")])  # older: ignored
        closed = store.close_orphan("s1")
    assert closed.stop_reason == "PowerLoss"
    assert closed.energy_wh == pytest.approx(130.0)  # not 0 Wh
    assert closed.stopped_at == "2026-11-23T10:40:00Z"


def test_starts_and_ends_arriving_twice_are_recorded_once(tmp_path: Path) -> None:
    with SessionDatabase(tmp_path / "sessions.db") as store:
        assert store.session_started("s1", 1, "card", T0, 0.0)
        assert not store.session_started("s1", 1, "card", T0, 0.0)  # a redelivery
        first = store.session_finished("s1", T1, 10.0, "Local")
        again = store.session_finished("s1", "2026-11-23T12:00:00Z", 99.0, "Other")
        store.record_readings([("s1", 120.0, "2026-11-23T12:00:00Z")])  # finished: ignored
        assert again == first
        assert store.close_orphan("s1") == first
        (session,) = store.sessions()
    assert (session.stop_wh, session.stop_reason) == (10.0, "Local")


def test_bad_requests_are_refused_and_change_nothing(tmp_path: Path) -> None:
    with SessionDatabase(tmp_path / "sessions.db") as store:
        store.session_started("s1", 1, None, T0, 0.0)
        with pytest.raises(SessionDatabaseError, match="belongs to EVSE 1, not 2"):
            store.session_started("s1", 2, "other", T1, 5.0)
        with pytest.raises(SessionDatabaseError, match="no session 'nope' to finish"):
            store.session_finished("nope", T1, 10.0, "Local")
        with pytest.raises(SessionDatabaseError, match="no session 'nope' to close"):
            store.close_orphan("nope")
        (session,) = store.sessions()
    assert (session.evse_id, session.id_token, session.stopped_at) == (1, None, None)


def test_a_database_of_the_first_release_gains_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with closing(sqlite3.connect(db)) as old:
        old.execute(
            "CREATE TABLE sessions (session_id TEXT PRIMARY KEY, evse_id INTEGER NOT NULL,"
            " id_token TEXT, started_at TEXT NOT NULL, start_wh REAL NOT NULL,"
            " stopped_at TEXT, stop_wh REAL, stop_reason TEXT)"
        )
        old.execute("INSERT INTO sessions VALUES ('s0', 1, 'x', ?, 1.0, NULL, NULL, NULL)", (T0,))
        old.commit()
    with SessionDatabase(db) as store:
        store.record_readings([("s0", 5.0, T1)])
        assert store.close_orphan("s0").energy_wh == pytest.approx(4.0)


def test_missing_data_folder_is_created(tmp_path: Path) -> None:
    with SessionDatabase(tmp_path / "var" / "lib" / "sessions.db") as store:
        store.session_started("s1", 1, None, T0, 0.0)
    assert (tmp_path / "var" / "lib" / "sessions.db").exists()


def test_wal_mode_and_full_sync_are_on(tmp_path: Path) -> None:
    with SessionDatabase(tmp_path / "sessions.db") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store._db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


_WRITER = """
import sys
from evstack.modules.SessionStore.database import SessionDatabase

store = SessionDatabase(sys.argv[1])
i = 0
while True:
    store.session_started(f"s{i}", 1, "card", "2026-11-23T10:00:00Z", float(i))
    store.session_finished(f"s{i}", "2026-11-23T10:01:00Z", float(i) + 7.0, "EVDisconnected")
    print(i, flush=True)  # only after both commits returned
    i += 1
"""


def test_kill_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    confirmed = -1
    deadline = time.monotonic() + 20
    while confirmed < 50 and time.monotonic() < deadline:
        confirmed = int(writer.stdout.readline())
    os.kill(writer.pid, signal.SIGKILL)  # no chance to close or checkpoint
    writer.wait()
    assert confirmed >= 50, "the writer never got going"

    with SessionDatabase(db) as store:
        assert store._db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finished = {s.session_id for s in store.sessions(finished_only=True)}
        assert {f"s{i}" for i in range(confirmed + 1)} <= finished
        for session in store.sessions(finished_only=True):
            assert session.energy_wh == 7.0
        # Whatever was in flight is either absent or a consistent open session.
        for session in store.open_sessions(evse_id=1):
            store.close_orphan(session.session_id)
        assert all(s.finished for s in store.sessions())


def test_corrupt_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        SessionDatabase(db)
    assert db.read_bytes().startswith(b"this is not a database")
