"""The SessionStore module: each EVSE's transactions in SQLite, reconciled, never guessed.

EVSE ids are the positions of the ``evse_manager`` connections, counted from 1. The session
uuid the EVSE sends with its events is the database key.

Two sources feed the database. Session events say what happens as it happens; meter readings
are kept in memory and written in one transaction every `meter_interval` seconds, so SQLite
stays off the hot path and a power cut costs at most one interval of energy. And whenever the
store or an EVSE (re)starts, the store asks the EVSE for the transactions it keeps in its own
journal (`get_transactions`) and catches up: a session still running stays open, one that
ended while the store was down gets its real end. Only a session that its EVSE no longer
knows at all is closed, as PowerLoss at its last stored reading.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.interfaces.session_history import SessionHistoryImplBase
from evstack.generated.modules.session_store import SessionStoreModuleBase
from evstack.generated.types.evse_manager import (
    SessionEvent,
    SessionEventEnum,
    TransactionFinished,
    TransactionRecord,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.generated.types.session_history import SessionPage, SessionRecord
from evstack.modules.SessionStore.database import (
    SessionDatabase,
    SessionDatabaseError,
    StoredSession,
)
from evstack.runtime import CommandError

# Wall seconds an EVSE gets to list its transactions; it is retried when the EVSE is back.
RECONCILE_TIMEOUT_S = 5.0


class _History(SessionHistoryImplBase):
    """Pages of the database for displays and apps (the ApiServer module)."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    async def handle_get_sessions(self, offset: int, limit: int) -> SessionPage:
        sessions, total = self._store.database.page(offset, limit)
        return SessionPage(sessions=[_record(s) for s in sessions], offset=offset, total=total)


def _record(session: StoredSession) -> SessionRecord:
    end_wh = session.stop_wh if session.stop_wh is not None else session.last_wh
    return SessionRecord(
        session_id=session.session_id,
        evse=session.evse_id,
        id_token=session.id_token,
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        energy_Wh=0.0 if end_wh is None else end_wh - session.start_wh,
        stop_reason=session.stop_reason,
        finished=session.finished,
    )


class SessionStore(SessionStoreModuleBase):
    def create_history(self, config: object) -> SessionHistoryImplBase:
        return _History(self)

    async def init(self) -> None:
        path = self.config.database_path or str(self.state_dir / "sessions.db")
        self.database = SessionDatabase(Path(path))
        self._open: dict[int, str] = {}  # EVSE -> its open session, as far as we know
        self._readings: dict[int, tuple[float, str]] = {}  # EVSE -> newest (Wh, time)
        self._reconciling: dict[int, asyncio.Task[None]] = {}
        for evse_id, evse in enumerate(self.r_evse_manager, start=1):
            evse.subscribe_session_event(functools.partial(self._on_session_event, evse_id))
            evse.subscribe_powermeter(functools.partial(self._on_reading, evse_id))
            # An EVSE that (re)started may have finished what we hold open meanwhile.
            evse.subscribe_ready(functools.partial(self._on_evse_ready, evse_id))
            evse.subscribe_restarts(functools.partial(self._reconcile_soon, evse_id))

    async def ready(self) -> None:
        for evse_id in range(1, len(self.r_evse_manager) + 1):
            self._reconcile_soon(evse_id)
        self.start_task(self._store_readings_forever())

    async def shutdown(self) -> None:
        self._store_readings()
        self.database.close()

    # --- events and readings ------------------------------------------------------------

    def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        try:
            if event.event == SessionEventEnum.TransactionStarted and event.transaction_started:
                self._started(evse_id, event.uuid, event.timestamp, event.transaction_started)
            elif event.event == SessionEventEnum.TransactionFinished and event.transaction_finished:
                self._finished(event.uuid, event.timestamp, event.transaction_finished)
                self._open.pop(evse_id, None)
        except SessionDatabaseError as error:
            self.log.error("EVSE %d: %s", evse_id, error)

    def _on_reading(self, evse_id: int, reading: Powermeter) -> None:
        self._readings[evse_id] = (reading.energy_Wh_import.total, reading.timestamp)

    def _started(
        self, evse_id: int, session_id: str, timestamp: str, started: TransactionStarted
    ) -> None:
        self.database.session_started(
            session_id=session_id,
            evse_id=evse_id,
            id_token=started.id_tag.id_token.value,
            started_at=timestamp,
            start_wh=started.meter_value.energy_Wh_import.total,
        )
        self._open[evse_id] = session_id

    def _finished(self, session_id: str, timestamp: str, finished: TransactionFinished) -> None:
        self.database.session_finished(
            session_id=session_id,
            stopped_at=timestamp,
            stop_wh=finished.meter_value.energy_Wh_import.total,
            stop_reason=str(finished.reason or "Other"),
        )

    async def _store_readings_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.meter_interval)
            self._store_readings()

    def _store_readings(self) -> None:
        batch = [
            (self._open[evse_id], wh, at)
            for evse_id, (wh, at) in self._readings.items()
            if evse_id in self._open
        ]
        self._readings.clear()
        if batch:
            self.database.record_readings(batch)

    # --- reconciliation -----------------------------------------------------------------

    def _on_evse_ready(self, evse_id: int, ready: bool) -> None:
        if ready:
            self._reconcile_soon(evse_id)

    def _reconcile_soon(self, evse_id: int) -> None:
        running = self._reconciling.get(evse_id)
        if running is None or running.done():
            self._reconciling[evse_id] = self.start_task(self._reconcile(evse_id))

    async def _reconcile(self, evse_id: int) -> None:
        evse: EvseManagerClient = self.r_evse_manager[evse_id - 1]
        try:
            records = await evse.call_get_transactions(timeout=RECONCILE_TIMEOUT_S)
        except CommandError as error:
            # Nothing is closed on a guess: we try again when the EVSE is back.
            self.log.warning("EVSE %d cannot list its transactions yet: %s", evse_id, error)
            return
        known = {record.session_uuid for record in records}
        try:
            for record in records:
                self._catch_up(evse_id, record)
            for session in self.database.open_sessions(evse_id):
                if session.session_id not in known:
                    closed = self.database.close_orphan(session.session_id)
                    self.log.warning(
                        "EVSE %d no longer knows session %s: closed as PowerLoss at %s Wh",
                        evse_id,
                        closed.session_id,
                        closed.stop_wh,
                    )
        except SessionDatabaseError as error:
            self.log.error("EVSE %d: %s", evse_id, error)

    def _catch_up(self, evse_id: int, record: TransactionRecord) -> None:
        session = record.session_uuid
        self.database.session_started(
            session_id=session,
            evse_id=evse_id,
            id_token=record.transaction_started.id_tag.id_token.value,
            started_at=record.started_at,
            start_wh=record.transaction_started.meter_value.energy_Wh_import.total,
        )
        if record.transaction_finished is not None:
            self._finished(
                session, record.finished_at or record.started_at, record.transaction_finished
            )
            if self._open.get(evse_id) == session:
                del self._open[evse_id]
            return
        self._open[evse_id] = session
        reading = record.meter_value
        self.database.record_readings(
            [(session, reading.energy_Wh_import.total, reading.timestamp)]
        )
