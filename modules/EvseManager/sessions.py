"""Session events of one EVSE, and the transaction journal behind them.

Every milestone the core announces becomes a session event here, with the meter reading it
belongs to. The transaction behind the events is written to the EVSE's journal before anyone
hears of it: the start and the end durably, each meter reading cheaply. So a transaction
outlives the process running it: a restarted EvseManager carries it on or finishes it once,
with the last real reading (`take_over`, `finish_now`).
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

import msgspec

from evstack.generated.types.authorization import ProvidedIdToken
from evstack.generated.types.evse_manager import (
    SessionEvent,
    SessionEventEnum,
    SessionFinished,
    SessionStarted,
    StartSessionReason,
    StopTransactionReason,
    TransactionFinished,
    TransactionRecord,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter, TransactionReq
from evstack.generated.types.units import Energy
from evstack.modules.EvseManager.journal import (
    RunningTransaction,
    TransactionJournal,
    with_reading,
)
from evstack.modules.EvseManager.signals import Publish, StopReason
from evstack.modules.EvseManager.signals import SessionEvent as Milestone
from evstack.runtime import CommandError

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager

METER_FAULT = "evse_manager/MeterFault"
METER_CALL_S = 2.0  # wall seconds a meter gets to answer a transaction start or stop


def rfc3339_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class SessionBook:
    """The session and transaction state of one EVSE, and the events that report it."""

    def __init__(self, module: EvseManager, journal: TransactionJournal) -> None:
        self.module = module
        self.journal = journal
        self.register = journal.register()
        self.session_uuid = ""
        self.pending_token: ProvidedIdToken | None = None  # from authorize_response
        self.running: RunningTransaction | None = None
        self.reading: Powermeter | None = None  # the newest, its energy counted on

    # --- meter readings -----------------------------------------------------------------

    def on_reading(self, reading: Powermeter) -> tuple[Powermeter, bool]:
        """Count `reading` into the register; returns it as counted, and whether it was a fault."""
        fault = self.register.read(reading.energy_Wh_import.total)
        energy = msgspec.structs.replace(reading.energy_Wh_import, total=self.register.total_wh)
        counted = msgspec.structs.replace(reading, energy_Wh_import=energy)
        self.reading = counted
        self.journal.save_register(self.register)
        if self.running is not None:
            self.running = with_reading(self.running, counted)
            self.journal.update(self.running)
        return counted, fault

    def meter_value(self) -> Powermeter:
        """The newest reading; after a restart, until the meter speaks, the journal's."""
        if self.reading is not None:
            return self.reading
        if self.running is not None:
            return self.running.record.meter_value
        total = Energy(total=self.register.total_wh)
        return Powermeter(timestamp=rfc3339_now(), energy_Wh_import=total)

    # --- restarts -----------------------------------------------------------------------

    def take_over(self, running: RunningTransaction) -> str:
        """Carry on a transaction this run of the charger started; returns its token."""
        self.running = running
        self.session_uuid = running.record.session_uuid
        self.pending_token = running.record.transaction_started.id_tag
        return running.record.transaction_started.id_tag.id_token.value

    async def finish_now(self, running: RunningTransaction, reason: StopReason) -> None:
        """Finish `running` at its last reading, outside the core: the charger is stopping,
        or it restarted and the transaction belongs to a run that is over."""
        self.running = running
        self.session_uuid = running.record.session_uuid
        await self._publish(Milestone.TRANSACTION_FINISHED, reason)
        await self._publish(Milestone.SESSION_FINISHED, None)

    # --- milestones ---------------------------------------------------------------------

    async def publish(self, publish: Publish) -> None:
        await self._publish(publish.event, publish.stop_reason)

    async def _publish(self, milestone: Milestone, stop_reason: StopReason | None) -> None:
        if milestone is Milestone.SESSION_STARTED or not self.session_uuid:
            self.session_uuid = str(uuid.uuid4())
        fields: dict[str, object] = {}
        meter = self.meter_value()
        timestamp = rfc3339_now()
        if milestone is Milestone.SESSION_STARTED:
            reason = StartSessionReason.EVConnected
            fields["session_started"] = SessionStarted(reason=reason, meter_value=meter)
        elif milestone is Milestone.TRANSACTION_STARTED:
            fields["transaction_started"] = await self._start_transaction(timestamp, meter)
        elif milestone is Milestone.STOPPING_CHARGING and self.running and stop_reason:
            # Remembered, so a restart in the middle of stopping does not charge on.
            self.running.stop_reason = stop_reason.value
            self.journal.update(self.running, durable=True)
        elif milestone is Milestone.TRANSACTION_FINISHED:
            finished = await self._finish_transaction(timestamp, stop_reason)
            if finished is None:
                return  # nothing was running: nothing to report
            fields["transaction_finished"] = finished
        elif milestone is Milestone.SESSION_FINISHED:
            fields["session_finished"] = SessionFinished(meter_value=meter)
        event = SessionEvent(
            uuid=self.session_uuid,
            timestamp=timestamp,
            connector_id=self.module.config.connector_id,
            event=SessionEventEnum(milestone.value),
            **fields,  # type: ignore[arg-type]
        )
        await self.module.api.publish_session_event(event)
        if milestone is Milestone.SESSION_FINISHED:
            self.session_uuid = ""
            self.pending_token = None

    async def _start_transaction(self, timestamp: str, meter: Powermeter) -> TransactionStarted:
        # Authorize reaches the core only from authorize_response, which keeps the token.
        assert self.pending_token is not None
        started = TransactionStarted(id_tag=self.pending_token, meter_value=meter)
        self.running = RunningTransaction(
            record=TransactionRecord(
                session_uuid=self.session_uuid,
                started_at=timestamp,
                transaction_started=started,
                meter_value=meter,
            ),
            run_id=self.module.run_id,
        )
        self.journal.start(self.running)  # durably, before anyone hears of it
        if self.register.faults:
            await self.module.api.clear_error(METER_FAULT)
        await self._meter_transaction(start=True)
        return started

    async def _finish_transaction(
        self, timestamp: str, stop_reason: StopReason | None
    ) -> TransactionFinished | None:
        running = self.running
        if running is None:
            return None
        finished = TransactionFinished(
            meter_value=self.meter_value(),
            reason=StopTransactionReason(str(stop_reason or StopReason.OTHER)),
            id_tag=running.record.transaction_started.id_tag,
        )
        self.journal.finish(running, timestamp, finished)  # durably, before the event
        self.running = None
        await self._meter_transaction(start=False)
        return finished

    async def _meter_transaction(self, *, start: bool) -> None:
        """Tell the meters (they may count per transaction); a meter that cannot be reached
        must not hold up the session, whose energy comes from the readings anyway."""
        for meter in self.module.r_powermeter_grid_side:
            try:
                if start:
                    request = TransactionReq(
                        evse_id=self.module.config.evse_id, transaction_id=self.session_uuid
                    )
                    await meter.call_start_transaction(value=request, timeout=METER_CALL_S)
                else:
                    await meter.call_stop_transaction(
                        transaction_id=self.session_uuid, timeout=METER_CALL_S
                    )
            except CommandError as error:
                self.module.log.warning("meter %s: %s", meter.target.module_id, error)
