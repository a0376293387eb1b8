"""Charging sessions in SQLite: what a charger must still know after a power cut.

A session is written when its transaction starts, its newest meter reading now and then while
it runs, and when it finishes. Each write is one transaction in WAL mode with
``synchronous=FULL``, so a commit has reached the disk before the call returns; SQLite's
journal makes a write cut short by a crash vanish as a whole, and everything committed before
it stays.

Every write is idempotent, because the same facts arrive more than once: as session events
(QoS 1 may deliver twice) and again when the store reconciles with an EVSE's own journal after
either of them restarted. A start is recorded once; a finish is recorded once and never
overwritten; readings only ever move an open session forward. The database never guesses an
end: `close_orphan` is for a session that no EVSE owns any more, and closes it at its last
stored reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from evstack.runtime.state import open_database, transaction

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
# Columns added after the first release; an older file gets them on opening.
_ADDED_COLUMNS = {"last_wh": "REAL", "last_at": "TEXT"}


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
    last_wh: float | None = None  # the newest reading stored while it ran
    last_at: str | None = None

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
        self._db = open_database(self.path)  # fsync the WAL on every commit
        with transaction(self._db) as db:
            # Not executescript(): it would commit behind our back, outside the transaction.
            for statement in _SCHEMA.split(";"):
                db.execute(statement)
            present = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE sessions ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SessionDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def session_started(
        self, session_id: str, evse_id: int, id_token: str | None, started_at: str, start_wh: float
    ) -> bool:
        """Record a start; False if it was recorded already (the first record stands)."""
        with transaction(self._db) as db:
            row = db.execute(
                "SELECT evse_id FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is not None:
                if row[0] != evse_id:
                    raise SessionDatabaseError(
                        f"session {session_id!r} belongs to EVSE {row[0]}, not {evse_id}"
                    )
                return False
            db.execute(
                "INSERT INTO sessions (session_id, evse_id, id_token, started_at, start_wh)"
                " VALUES (?, ?, ?, ?, ?)",
                (session_id, evse_id, id_token, started_at, start_wh),
            )
        return True

    def session_finished(
        self, session_id: str, stopped_at: str, stop_wh: float, stop_reason: str
    ) -> StoredSession:
        """Record the end of an open session; a finished one keeps its first recorded end."""
        with transaction(self._db) as db:
            db.execute(
                "UPDATE sessions SET stopped_at = ?, stop_wh = ?, stop_reason = ?,"
                " last_wh = ?, last_at = ? WHERE session_id = ? AND stopped_at IS NULL",
                (stopped_at, stop_wh, stop_reason, stop_wh, stopped_at, session_id),
            )
        found = self.get(session_id)
        if found is None:
            raise SessionDatabaseError(f"no session {session_id!r} to finish")
        return found

    def record_readings(self, readings: Iterable[tuple[str, float, str]]) -> None:
        """Store the newest (session, Wh, time) of open sessions, all in one transaction."""
        with transaction(self._db) as db:
            db.executemany(
                "UPDATE sessions SET last_wh = ?, last_at = ? WHERE session_id = ?"
                " AND stopped_at IS NULL AND (last_wh IS NULL OR last_wh <= ?)",
                [(wh, at, session_id, wh) for session_id, wh, at in readings],
            )

    def close_orphan(self, session_id: str, stop_reason: str = "PowerLoss") -> StoredSession:
        """Close an open session no EVSE knows any more, at its last stored reading.

        Its true end cannot be known; what was stored is the best that is left, and at most
        one storing interval of energy is missing from it.
        """
        with transaction(self._db) as db:
            db.execute(
                "UPDATE sessions SET stopped_at = COALESCE(last_at, started_at),"
                " stop_wh = COALESCE(last_wh, start_wh), stop_reason = ?"
                " WHERE session_id = ? AND stopped_at IS NULL",
                (stop_reason, session_id),
            )
        found = self.get(session_id)
        if found is None:
            raise SessionDatabaseError(f"no session {session_id!r} to close")
        return found

    def get(self, session_id: str) -> StoredSession | None:
        with closing(self._db.execute(f"{_SELECT} WHERE session_id = ?", (session_id,))) as rows:
            row = rows.fetchone()
        return None if row is None else StoredSession(*row)

    def open_sessions(self, evse_id: int) -> list[StoredSession]:
        query = f"{_SELECT} WHERE evse_id = ? AND stopped_at IS NULL ORDER BY started_at, rowid"
        with closing(self._db.execute(query, (evse_id,))) as rows:
            return [StoredSession(*row) for row in rows]

    def page(self, offset: int, limit: int) -> tuple[list[StoredSession], int]:
        """Up to `limit` sessions after the `offset` newest, newest first, and how many exist."""
        # This connection is the only writer, so nothing lands between the two reads.
        with closing(self._db.execute("SELECT COUNT(*) FROM sessions")) as rows:
            total = int(rows.fetchone()[0])
        query = f"{_SELECT} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?"
        with closing(self._db.execute(query, (limit, offset))) as rows:
            return [StoredSession(*row) for row in rows], total

    def sessions(self, *, finished_only: bool = False) -> list[StoredSession]:
        where = " WHERE stopped_at IS NOT NULL" if finished_only else ""
        with closing(self._db.execute(f"{_SELECT}{where} ORDER BY started_at, rowid")) as rows:
            return [StoredSession(*row) for row in rows]


_SELECT = (
    "SELECT session_id, evse_id, id_token, started_at, start_wh, stopped_at, stop_wh,"
    " stop_reason, last_wh, last_at FROM sessions"
)
