"""Charging sessions in SQLite: what a charger must still know after a power cut.

A session is written twice: when its transaction starts (so a crash mid-session leaves a trace)
and when it finishes. Each write is one transaction in WAL mode with ``synchronous=FULL``, so a
commit has reached the disk before the call returns; SQLite's journal makes a write cut short
by a crash vanish as a whole, and everything committed before it stays. Sessions a crash left
open are closed on the next start with the stop reason the caller chooses (``PowerLoss`` by
default), because their true end can no longer be known.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id     TEXT PRIMARY KEY,
    evse_id        INTEGER NOT NULL,
    id_token       TEXT,
    started_at     TEXT NOT NULL,
    start_wh       REAL NOT NULL,
    stopped_at     TEXT,
    stop_wh        REAL,
    stop_reason    TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (started_at);
"""


@dataclass(frozen=True)
class StoredSession:
    """One charging session; times are RFC 3339 UTC strings as EVerest's session events carry."""

    session_id: str
    evse_id: int
    id_token: str | None
    started_at: str
    start_wh: float
    stopped_at: str | None = None
    stop_wh: float | None = None
    stop_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.stopped_at is not None

    @property
    def energy_wh(self) -> float | None:
        """Energy charged, from the meter readings at start and stop."""
        return None if self.stop_wh is None else self.stop_wh - self.start_wh


class SessionDatabaseError(Exception):
    """A session could not be recorded as asked; nothing was written."""


class SessionDatabase:
    """The sessions database at ``path``; open it once per process and close it on shutdown."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # A fresh charger has no data folder yet; that is no reason to lose its first sessions.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open each transaction ourselves, so none is ever left implicit.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync the WAL on every commit
        with self._transaction() as db:
            # Not executescript(): it would commit behind our back, outside the transaction.
            for statement in _SCHEMA.split(";"):
                db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SessionDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def session_started(
        self, session_id: str, evse_id: int, id_token: str | None, started_at: str, start_wh: float
    ) -> None:
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO sessions (session_id, evse_id, id_token, started_at, start_wh)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (session_id, evse_id, id_token, started_at, start_wh),
                )
        except sqlite3.IntegrityError:
            raise SessionDatabaseError(f"session {session_id!r} was already started") from None

    def session_finished(
        self, session_id: str, stopped_at: str, stop_wh: float, stop_reason: str
    ) -> StoredSession:
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE sessions SET stopped_at = ?, stop_wh = ?, stop_reason = ?"
                " WHERE session_id = ? AND stopped_at IS NULL",
                (stopped_at, stop_wh, stop_reason, session_id),
            ).rowcount
        if updated != 1:
            raise SessionDatabaseError(f"no open session {session_id!r} to finish")
        found = self.get(session_id)
        assert found is not None
        return found

    def close_interrupted(self, stopped_at: str, stop_reason: str = "PowerLoss") -> list[str]:
        """Finish the sessions a crash left open, at their start reading; returns their ids."""
        with self._transaction() as db:
            ids = [
                row[0]
                for row in db.execute("SELECT session_id FROM sessions WHERE stopped_at IS NULL")
            ]
            db.execute(
                "UPDATE sessions SET stopped_at = ?, stop_wh = start_wh, stop_reason = ?"
                " WHERE stopped_at IS NULL",
                (stopped_at, stop_reason),
            )
        return ids

    def get(self, session_id: str) -> StoredSession | None:
        with closing(self._db.execute(f"{_SELECT} WHERE session_id = ?", (session_id,))) as rows:
            row = rows.fetchone()
        return None if row is None else StoredSession(*row)

    def sessions(self, *, finished_only: bool = False) -> list[StoredSession]:
        where = " WHERE stopped_at IS NOT NULL" if finished_only else ""
        with closing(self._db.execute(f"{_SELECT}{where} ORDER BY started_at, rowid")) as rows:
            return [StoredSession(*row) for row in rows]


_SELECT = (
    "SELECT session_id, evse_id, id_token, started_at, start_wh, stopped_at, stop_wh, stop_reason"
    " FROM sessions"
)
