"""The SessionStore module: writes each EVSE's transactions to SQLite as they start and finish.

EVSE ids are the positions of the ``evse_manager`` connections, counted from 1. The session
uuid the EVSE sends with its events is the database key, so a repeated event (a QoS 1
redelivery) is refused by the database instead of recorded twice.
"""

from __future__ import annotations

import datetime
import functools

from evstack.generated.modules.session_store import SessionStoreModuleBase
from evstack.generated.types.evse_manager import SessionEvent, SessionEventEnum
from evstack.modules.SessionStore.database import SessionDatabase, SessionDatabaseError


class SessionStore(SessionStoreModuleBase):
    async def init(self) -> None:
        self.database = SessionDatabase(self.config.database_path)
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        for session_id in self.database.close_interrupted(stopped_at=now):
            self.log.warning(
                "session %s was cut short by a restart; closed as PowerLoss", session_id
            )
        for evse_id, evse in enumerate(self.r_evse_manager, start=1):
            evse.subscribe_session_event(functools.partial(self._on_session_event, evse_id))

    def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        try:
            if event.event == SessionEventEnum.TransactionStarted and event.transaction_started:
                started = event.transaction_started
                self.database.session_started(
                    session_id=event.uuid,
                    evse_id=evse_id,
                    id_token=started.id_tag.id_token.value,
                    started_at=event.timestamp,
                    start_wh=started.meter_value.energy_Wh_import.total,
                )
            elif event.event == SessionEventEnum.TransactionFinished and event.transaction_finished:
                finished = event.transaction_finished
                self.database.session_finished(
                    session_id=event.uuid,
                    stopped_at=event.timestamp,
                    stop_wh=finished.meter_value.energy_Wh_import.total,
                    stop_reason=str(finished.reason or "Other"),
                )
        except SessionDatabaseError as error:
            self.log.error("EVSE %d: %s", evse_id, error)
