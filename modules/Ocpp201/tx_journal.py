"""Squaring the transactions core with each EVSE's journal, after either restarted.

Kept apart from `tx_core` because it answers a different question: not "what does this
event owe the CSMS" but "what happened while nobody watched". The station and EvseManager
restart independently; EvseManager's journal (`get_transactions`) is the truth about its
transactions, and the station's `TxStore` about what the CSMS was told. These functions take
the `Transactions` core they act for and use its own rules (`_start`, `_emit`, `_end`) to
report the difference, so a replayed transaction reads exactly as a live one would have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evstack.generated.ocpp.v201.enums import (
    ChargingStateEnumType,
    ReasonEnumType,
    TriggerReasonEnumType,
)
from evstack.generated.types.evse_manager import TransactionRecord

from .sampling import Reading
from .tx_state import (
    RECONCILED,
    TRIGGERS,
    EvseTx,
    OpenTransaction,
    ocpp_id_token,
    stop_reason,
    unix,
)

if TYPE_CHECKING:
    from .tx_core import Transactions

__all__ = ["reconcile"]

Trigger = TriggerReasonEnumType
State = ChargingStateEnumType
Reason = ReasonEnumType


def reconcile(
    core: Transactions, evse: EvseTx, records: list[TransactionRecord], now: float
) -> None:
    """`Transactions.reconcile` for one EVSE; see there."""
    seen = core.store.seen(evse.evse_id)
    first_run = not seen
    tx = evse.tx
    by_session = {r.session_uuid: r for r in records}
    if tx is not None and tx.journaled:
        record = by_session.get(tx.session_uuid or "")
        if record is None or record.finished_at is not None:
            _end_from_journal(core, evse, record, now)
    if evse.tx is not None:
        _resume(core, evse.tx, now)
    for record in records:
        session = record.session_uuid
        if session in seen or (evse.tx is not None and evse.tx.session_uuid == session):
            continue
        if first_run and record.finished_at is not None:
            continue  # the station's first start: the past is not ours to report
        _replay(core, evse, record, now)
    core.store.mark_seen(evse.evse_id, [RECONCILED, *by_session])


def _replay(core: Transactions, evse: EvseTx, record: TransactionRecord, now: float) -> None:
    """An EVSE transaction that ran while the station was down, reported as it was."""
    held, evse.tx = evse.tx, None
    plugged, state = evse.plugged, evse.state
    started = core.from_wall(unix(record.started_at))
    evse.reading = Reading(record.transaction_started.meter_value, evse.soc)
    provided = record.transaction_started.id_tag
    token = ocpp_id_token(provided)
    tx = core._start(evse, started, provided.request_id)
    tx.session_uuid, tx.journaled, tx.id_token = record.session_uuid, True, token
    trigger = Trigger.RemoteStart if provided.request_id is not None else Trigger.Authorized
    evse.plugged, evse.state = True, State.EVConnected
    core._emit(evse, started, trigger, id_token=token, state=evse.state, offline=True)
    if record.finished_at is not None:
        _end_from_journal(core, evse, record, now)
    else:
        evse.reading = Reading(record.meter_value, evse.soc)
        tx.last_meter = record.meter_value
        _resume(core, tx, now)
        core.store.save(tx)
    if held is not None:
        evse.tx, evse.plugged, evse.state = held, plugged, state


def _end_from_journal(
    core: Transactions, evse: EvseTx, record: TransactionRecord | None, now: float
) -> None:
    tx = evse.tx
    assert tx is not None
    meter, ended, reason = tx.last_meter, now, Reason.PowerLoss
    if record is not None and record.transaction_finished is not None:
        reason = stop_reason(str(record.transaction_finished.reason or "Other"))
        meter = record.meter_value
        ended = core.from_wall(unix(record.finished_at)) if record.finished_at else now
    if meter is not None:
        evse.reading = Reading(meter, evse.soc)
    evse.plugged, evse.energy, evse.pending, evse.state = False, False, None, State.Idle
    core._end(evse, ended, TRIGGERS.get(reason, Trigger.AbnormalCondition), reason, True)


def _resume(core: Transactions, tx: OpenTransaction, now: float) -> None:
    """Samples that fell due while the station was down were never taken: skip them."""
    if tx.updated_due is not None and tx.updated_due <= now:
        interval = core.settings().updated_interval_s
        tx.updated_due = None if interval <= 0 else now + interval
    for series in (tx.ended_sampled, tx.ended_aligned):
        while series is not None and series.due <= now:
            series.take(None)
    tx.charging_since = None  # not known to have charged while nobody watched
    core.store.save(tx)
