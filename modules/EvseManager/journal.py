"""The EVSE's transactions on disk: the running one as it changes, and the last finished ones.

A transaction belongs to its EVSE, not to the process that happens to run it. EvseManager
writes it to its state folder when it starts (durably, before anyone hears of it), with every
meter reading (cheaply: a crash of the process loses none, a power cut at most the newest),
and when it finishes (durably, before the event goes out). A restarted EvseManager so finds
what it was doing; a consumer that was down asks `get_transactions` for the same records.
"""

from __future__ import annotations

import msgspec

from evstack.generated.types.evse_manager import TransactionFinished, TransactionRecord
from evstack.generated.types.powermeter import Powermeter
from evstack.modules.EvseManager.metering import EnergyRegister
from evstack.runtime.state import ModuleState

__all__ = ["FINISHED_KEPT", "RunningTransaction", "TransactionJournal"]

FINISHED_KEPT = 32  # finished transactions a consumer can still catch up on

_RUNNING = "running"
_REGISTER = "register"
_FINISHED = "finished/"


class RunningTransaction(msgspec.Struct):
    """The running transaction with what a restart needs to decide its fate."""

    record: TransactionRecord
    run_id: str  # the charger run it started in: another run means the charger restarted
    stop_reason: str | None = None  # set once a stop was asked for and is under way


class TransactionJournal:
    """Reads and writes the transactions of one EVSE in its `ModuleState`."""

    def __init__(self, state: ModuleState) -> None:
        self._state = state
        finished = list(state.items(_FINISHED, TransactionRecord))
        self._next = int(finished[-1][0][len(_FINISHED) :]) + 1 if finished else 0

    def register(self) -> EnergyRegister:
        return self._state.get(_REGISTER, EnergyRegister) or EnergyRegister()

    def save_register(self, register: EnergyRegister) -> None:
        # Every reading: cheap, not fsynced; the transaction's durable writes carry it.
        self._state.put(_REGISTER, register, durable=False)

    def running(self) -> RunningTransaction | None:
        running = self._state.get(_RUNNING, RunningTransaction)
        if running is not None and self.finished(running.record.session_uuid):
            # A crash between writing its end and forgetting it: it is over already.
            self._state.delete(_RUNNING)
            return None
        return running

    def start(self, running: RunningTransaction) -> None:
        self._state.put(_RUNNING, running)

    def update(self, running: RunningTransaction, *, durable: bool = False) -> None:
        self._state.put(_RUNNING, running, durable=durable)

    def finish(
        self, running: RunningTransaction, finished_at: str, data: TransactionFinished
    ) -> TransactionRecord:
        """Record the end durably and forget the running transaction; returns the record."""
        record = msgspec.structs.replace(
            running.record,
            meter_value=data.meter_value,
            finished_at=finished_at,
            transaction_finished=data,
        )
        # Written before the running entry goes: a crash in between finishes nothing twice,
        # because running() drops a running entry that has a finished twin.
        self._state.put(f"{_FINISHED}{self._next:012d}", record)
        self._next += 1
        self._state.delete(_RUNNING)
        for key, _ in list(self._state.items(_FINISHED, TransactionRecord))[:-FINISHED_KEPT]:
            self._state.delete(key, durable=False)
        return record

    def finished(self, session_uuid: str) -> bool:
        return any(r.session_uuid == session_uuid for _, r in self._finished())

    def records(self) -> list[TransactionRecord]:
        """The finished transactions kept, oldest first, then the running one."""
        records = [record for _, record in self._finished()]
        running = self.running()
        if running is not None:
            records.append(running.record)
        return records

    def _finished(self) -> list[tuple[str, TransactionRecord]]:
        return list(self._state.items(_FINISHED, TransactionRecord))


def with_reading(running: RunningTransaction, reading: Powermeter) -> RunningTransaction:
    return msgspec.structs.replace(
        running, record=msgspec.structs.replace(running.record, meter_value=reading)
    )
