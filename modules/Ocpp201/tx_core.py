"""Transactions of the OCPP 2.0.1 station (functional block E), without I/O.

`Transactions` is fed EvseManager's session events, meter readings, authorizations made
before the EV was plugged in (a remote start, a card swiped first) and the time, and owes the
CSMS a `TransactionEvent` for each of them that a configured TxStartPoint or TxStopPoint, a
change of the charging state or a meter interval calls for. EvseManager's own transaction is
"EV plugged in and authorized"; OCPP's starts at the first of TxStartPoint's events and ends
at the first of TxStopPoint's that is no longer true:

| TxCtrlr point | true from | until |
|---|---|---|
| EVConnected | SessionStarted | SessionFinished (or TransactionFinished, EVDisconnected) |
| Authorized | TransactionStarted; an authorization before plug-in | TransactionFinished |
| PowerPathClosed | TransactionStarted | TransactionFinished |
| EnergyTransfer | ChargingStarted, ChargingResumed | a pause, TransactionFinished |

ParkingBayOccupancy and DataSigned need a bay sensor and a signing meter, which evstack's
EVSEs do not have: those points never occur.

Every event is handed to the `Sink` (the station's durable outbox) before the transaction's
state, with the next seqNo, is saved: after a crash the outbox holds all that was promised,
and the seqNo goes on from there (`recover_seq_no`). The state lives in the station's state
folder (`TxStore`), so a restarted station continues its transactions, and `reconcile`
squares it with each EVSE's journal (`get_transactions`).

The rules for EvseManager's events and the events owed live here; the meter's schedules
(`tx_meter`) and the reconciliation with the journals (`tx_journal`) are modules of their own
that call back into `_start`, `_emit` and `_end`, so every event is made in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from evstack.generated.ocpp.v201.datatypes import (
    EVSEType,
    IdTokenType,
    MeterValueType,
    TransactionType,
)
from evstack.generated.ocpp.v201.enums import (
    ChargingStateEnumType,
    ReadingContextEnumType,
    ReasonEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)
from evstack.generated.ocpp.v201.messages import MeterValuesRequest, TransactionEventRequest
from evstack.generated.types.authorization import ProvidedIdToken
from evstack.generated.types.evse_manager import SessionEvent, SessionEventEnum, TransactionRecord
from evstack.generated.types.powermeter import Powermeter

from . import tx_journal, tx_meter
from .sampling import Reading, SampleSeries, meter_value, next_aligned
from .tx_state import (
    CHARGING_STATES,
    PAUSE_REASONS,
    TRIGGERS,
    Effect,
    EvseTx,
    HeldAuth,
    OpenTransaction,
    PendingAuth,
    Sink,
    StopTransaction,
    TxSettings,
    TxStore,
    ocpp_id_token,
    stop_reason,
    timestamp,
)

__all__ = ["Transactions"]

Trigger = TriggerReasonEnumType
State = ChargingStateEnumType
Reason = ReasonEnumType
Event = SessionEventEnum
Context = ReadingContextEnumType


@dataclass
class Transactions:
    """The transactions of every EVSE of the station; see the module docstring.

    `evses` maps EVSE ids to their connector ids. `settings` is read at every input, so a
    SetVariables takes effect at once. Times are Unix seconds on the station's clock.
    """

    evses: dict[int, int]
    sink: Sink
    store: TxStore
    settings: Callable[[], TxSettings] = TxSettings
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    from_wall: Callable[[float], float] = lambda seconds: seconds  # EVSE times to the station's
    online: bool = True
    _evse: dict[int, EvseTx] = field(init=False)
    _aligned: tx_meter.AlignedClock = field(init=False, default_factory=tx_meter.AlignedClock)

    def __post_init__(self) -> None:
        self._evse = {e: EvseTx(e, c) for e, c in sorted(self.evses.items())}
        for tx in self.store.load():
            if tx.evse_id in self._evse:
                self._evse[tx.evse_id].tx = tx

    # --- what the station asks -------------------------------------------------------------

    def open_transaction(self, evse_id: int) -> OpenTransaction | None:
        evse = self._evse.get(evse_id)
        return None if evse is None else evse.tx

    def find(self, transaction_id: str) -> OpenTransaction | None:
        """The open transaction with this id (GetTransactionStatus, RequestStopTransaction)."""
        for evse in self._evse.values():
            if evse.tx is not None and evse.tx.transaction_id == transaction_id:
                return evse.tx
        return None

    def plugged(self, evse_id: int) -> bool:
        return self._evse[evse_id].plugged

    def free(self, evse_id: int) -> bool:
        """No EV and no transaction: a token accepted now would wait for its EV here."""
        evse = self._evse[evse_id]
        return not evse.plugged and evse.tx is None and evse.pending is None

    def awaits_authorization(self, evse_id: int) -> bool:
        """An EV is plugged in and EvseManager has no transaction for it yet."""
        evse = self._evse[evse_id]
        return evse.plugged and (evse.tx is None or not evse.tx.journaled)

    def charging_state(self, evse_id: int) -> ChargingStateEnumType:
        return self._evse[evse_id].state

    def reading(self, evse_id: int) -> Reading | None:
        return self._evse[evse_id].reading

    def settings_changed(self) -> None:
        """A setting changed: the clock-aligned schedule starts again from the new interval."""
        self._aligned.due = None

    def recover_seq_no(self, transaction_id: str, owed: int) -> None:
        """The outbox still holds seqNo `owed - 1` of this transaction: a crash came between
        owing an event and saving the next seqNo. Continue after it."""
        tx = self.find(transaction_id)
        if tx is not None and tx.seq_no < owed:
            tx.seq_no = owed
            self.store.save(tx)

    # --- inputs ------------------------------------------------------------------------

    def on_reading(self, evse_id: int, meter: Powermeter, now: float) -> list[Effect]:
        evse = self._evse[evse_id]
        evse.reading = Reading(meter, evse.soc)
        tx = evse.tx
        if tx is None:
            return []
        tx.last_meter = meter
        if tx.energy_cap_wh is not None and meter.energy_Wh_import.total >= tx.energy_cap_wh:
            tx.energy_cap_wh = None
            self.store.save(tx)
            return [StopTransaction(evse_id)]
        return []

    def on_soc(self, evse_id: int, soc: float | None) -> None:
        self._evse[evse_id].soc = soc

    def on_session_event(self, evse_id: int, event: SessionEvent, now: float) -> list[Effect]:
        """One of EvseManager's milestones, as it happened."""
        evse = self._evse[evse_id]
        meter = tx_meter.event_meter(event)
        if meter is not None:
            evse.reading = Reading(meter, evse.soc)
        kind = event.event
        if kind is Event.SessionStarted:
            self._plugged_in(evse, event.uuid, now)
        elif kind is Event.TransactionStarted:
            assert event.transaction_started is not None
            self._authorized(evse, event.transaction_started.id_tag, event.uuid, now)
        elif kind in CHARGING_STATES:
            self._charging_state(evse, CHARGING_STATES[kind], now)
        elif kind is Event.TransactionFinished:
            finished = event.transaction_finished
            reason = stop_reason(str(finished.reason)) if finished and finished.reason else None
            self._finished(evse, reason or Reason.Other, now)
        elif kind is Event.SessionFinished:
            self._unplugged(evse, now)
        return []

    def on_authorized_before_plugin(
        self, evse_id: int, id_token: IdTokenType, remote_start_id: int | None, now: float
    ) -> None:
        """A token was accepted for this EVSE before an EV was plugged in: a RequestStart-
        Transaction, or a card presented first. It lapses after EVConnectionTimeOut."""
        evse = self._evse[evse_id]
        if evse.plugged:
            return  # EvseManager's TransactionStarted comes at once and says it all
        deadline = now + self.settings().ev_connection_timeout_s
        evse.pending = PendingAuth(id_token, remote_start_id, deadline)
        if evse.tx is None and "Authorized" in self.settings().start_points:
            trigger = Trigger.RemoteStart if remote_start_id is not None else Trigger.Authorized
            tx = self._start(evse, now, remote_start_id)
            tx.id_token = id_token
            self._emit(evse, now, trigger, id_token=id_token)

    def tick(self, now: float) -> list[Effect]:
        """Lapse authorizations before plug-in, take the meter samples that are due."""
        settings = self.settings()
        effects: list[Effect] = []
        for evse in self._evse.values():
            self._lapse(evse, now)
            if evse.tx is not None:
                tx_meter.take_due(self, evse, evse.tx, settings, now)
        effects += self._aligned.take(self, settings, now)
        return effects

    def next_deadline(self) -> float | None:
        """When `tick` next has something to do."""
        settings = self.settings()
        times: list[float] = []
        for evse in self._evse.values():
            if evse.pending is not None:
                times.append(evse.pending.deadline)
            tx = evse.tx
            if tx is not None:
                if tx.updated_due is not None:
                    times.append(tx.updated_due)
                times += [series.due for series, _, _ in tx_meter.series(tx, settings)]
        if self._aligned.due is not None:
            times.append(self._aligned.due)
        return min(times, default=None)

    def trigger(self, evse_id: int | None, now: float) -> bool:
        """TriggerMessage(TransactionEvent): an Updated event for the transaction on `evse_id`
        (on every EVSE with one when None), with a meter value. False when there is none."""
        settings = self.settings()
        targets = [e for e in self._evse.values() if evse_id in (None, e.evse_id)]
        found = False
        for evse in targets:
            if evse.tx is None:
                continue
            found = True
            values = tx_meter.meter(evse.reading, settings.updated_measurands, Context.Trigger, now)
            self._emit(evse, now, Trigger.Trigger, meter=values, state=evse.state)
        return found

    def meter_values(self, evse_id: int | None, now: float) -> list[MeterValuesRequest]:
        """TriggerMessage(MeterValues): AlignedDataCtrlr's measurands for one or every EVSE."""
        measured = self.settings().aligned_measurands
        out = []
        for evse in self._evse.values():
            if evse_id not in (None, evse.evse_id) or evse.reading is None:
                continue
            value = meter_value(evse.reading, measured, Context.Trigger, timestamp(now))
            if value is not None:
                out.append(MeterValuesRequest(evseId=evse.evse_id, meterValue=[value]))
        return out

    def end_remotely(self, evse_id: int, now: float) -> None:
        """RequestStopTransaction for a transaction EvseManager does not run (yet): an EV
        waiting for authorization, or a remote start waiting for its EV. It ends here."""
        evse = self._evse[evse_id]
        evse.pending = None
        if evse.tx is not None:
            self._end(evse, now, Trigger.RemoteStop, Reason.Remote, False)

    def on_id_token_refused(self, transaction_id: str) -> list[Effect]:
        """The CSMS answered an event of this transaction with an idTokenInfo other than
        Accepted: stop it (StopTxOnInvalidId), or let it draw MaxEnergyOnInvalidId more."""
        tx = self.find(transaction_id)
        if tx is None:
            return []
        settings = self.settings()
        if settings.stop_tx_on_invalid_id:
            return [StopTransaction(tx.evse_id)]
        reading = self._evse[tx.evse_id].reading
        if settings.max_energy_on_invalid_id_wh > 0 and reading is not None:
            energy = reading.meter.energy_Wh_import.total
            tx.energy_cap_wh = energy + settings.max_energy_on_invalid_id_wh
            self.store.save(tx)
        return []

    # --- reconciliation with EvseManager's journal ---------------------------------------

    def reconcile(self, evse_id: int, records: list[TransactionRecord], now: float) -> None:
        """Square what the station kept with what the EVSE journaled, after either restarted.

        Our transaction whose EVSE transaction has finished meanwhile gets its Ended event, with
        the EVSE's stop reason, time and last reading; one still running goes on with its next
        seqNo. EVSE transactions the station never heard of (it was down) are reported as they
        were, oldest first: Started, and Ended if they are over. A transaction the journal no
        longer knows at all ended with the charger (PowerLoss), at its last reading.
        """
        tx_journal.reconcile(self, self._evse[evse_id], records, now)

    # --- the rules -----------------------------------------------------------------------

    def _plugged_in(self, evse: EvseTx, session_uuid: str, now: float) -> None:
        tx = evse.tx
        if tx is not None and tx.session_uuid not in (None, session_uuid):
            # A new session, so the old one ended unseen (the station was down meanwhile).
            evse.state = State.Idle
            reason = tx.stopped_reason or Reason.EVDisconnected
            self._end(evse, now, Trigger.EVCommunicationLost, reason, True)
        evse.plugged = True
        evse.state = State.EVConnected
        if evse.tx is None:
            if "EVConnected" not in self.settings().start_points:
                return
            self._start(evse, now, None)
        assert evse.tx is not None
        evse.tx.session_uuid = session_uuid
        self._emit(evse, now, Trigger.CablePluggedIn, state=State.EVConnected)

    def _authorized(
        self, evse: EvseTx, provided: ProvidedIdToken, session_uuid: str, now: float
    ) -> None:
        token = ocpp_id_token(provided)
        remote = provided.request_id
        evse.pending = None
        self.store.mark_seen(evse.evse_id, [session_uuid])
        points = self.settings().start_points
        trigger = Trigger.RemoteStart if remote is not None else Trigger.Authorized
        tx = evse.tx
        if tx is None:
            if not points & {"Authorized", "PowerPathClosed"}:
                evse.authorized = HeldAuth(token, remote, session_uuid)  # EnergyTransfer's
                return
            tx = self._start(evse, now, remote)
        tx.session_uuid, tx.journaled = session_uuid, True
        if tx.id_token is not None and tx.id_token.idToken.casefold() == token.idToken.casefold():
            self.store.save(tx)  # authorized before plug-in: reported already
            return
        tx.id_token = token
        if remote is not None and tx.remote_start_id is None:
            tx.remote_start_id = remote
        self._emit(evse, now, trigger, id_token=token)

    def _charging_state(self, evse: EvseTx, state: ChargingStateEnumType, now: float) -> None:
        evse.state = state
        was_flowing, evse.energy = evse.energy, state is State.Charging
        tx = evse.tx
        points = self.settings()
        if tx is None:
            if evse.energy and "EnergyTransfer" in points.start_points:
                held, evse.authorized = evse.authorized, None
                tx = self._start(evse, now, held.remote_start_id if held else None)
                token, trigger = None, Trigger.ChargingStateChanged
                if held is not None:
                    token = tx.id_token = held.id_token
                    tx.session_uuid, tx.journaled = held.session_uuid, True
                    if held.remote_start_id is not None:
                        trigger = Trigger.RemoteStart  # the first event after the request
                self._emit(evse, now, trigger, state=state, id_token=token)
            return
        if was_flowing and not evse.energy and "EnergyTransfer" in points.stop_points:
            reason = PAUSE_REASONS.get(state, Reason.Other)
            self._end(evse, now, Trigger.ChargingStateChanged, reason, False)
            return
        if tx.charging_state is not state:
            self._emit(evse, now, Trigger.ChargingStateChanged, state=state)

    def _finished(self, evse: EvseTx, reason: ReasonEnumType, now: float) -> None:
        """EvseManager's transaction is over: authorization and power path end here."""
        evse.energy, evse.authorized = False, None
        if reason is Reason.EVDisconnected:
            evse.plugged = False  # SessionFinished follows: the EV has gone already
        evse.state = State.EVConnected if evse.plugged else State.Idle
        tx = evse.tx
        if tx is None:
            return
        trigger = TRIGGERS.get(reason, Trigger.AbnormalCondition)
        ending = {"Authorized", "PowerPathClosed", "EnergyTransfer"}
        if not evse.plugged or self.settings().stop_points & ending:
            self._end(evse, now, trigger, reason, False)
            return
        tx.stopped_reason = reason
        self._emit(evse, now, trigger, state=evse.state)

    def _unplugged(self, evse: EvseTx, now: float) -> None:
        evse.plugged, evse.energy, evse.authorized = False, False, None
        evse.state = State.Idle
        evse.pending = None
        tx = evse.tx
        if tx is None:
            return
        # Without a parking bay sensor nothing outlasts the EV: the transaction ends here.
        reason = tx.stopped_reason or Reason.EVDisconnected
        self._end(evse, now, Trigger.EVCommunicationLost, reason, False)

    def _lapse(self, evse: EvseTx, now: float) -> None:
        """An authorization before plug-in that no EVSE transaction took up in time ends the
        transaction it started. (Auth lets go of the token after its own connection timeout.)"""
        pending = evse.pending
        if pending is None or now < pending.deadline:
            return
        evse.pending = None
        if evse.tx is not None and not evse.tx.journaled:
            self._end(evse, now, Trigger.EVConnectTimeout, Reason.Timeout, False)

    # --- events --------------------------------------------------------------------------

    def _start(self, evse: EvseTx, now: float, remote_start_id: int | None) -> OpenTransaction:
        settings = self.settings()
        tx = OpenTransaction(
            transaction_id=self.new_id(),
            evse_id=evse.evse_id,
            connector_id=evse.connector_id,
            started_at=now,
            remote_start_id=remote_start_id,
        )
        if settings.updated_interval_s > 0:
            tx.updated_due = now + settings.updated_interval_s
        if settings.ended_interval_s > 0:
            tx.ended_sampled = SampleSeries(
                settings.ended_interval_s, now + settings.ended_interval_s
            )
        if settings.aligned_ended_interval_s > 0:
            interval = settings.aligned_ended_interval_s
            tx.ended_aligned = SampleSeries(interval, next_aligned(now, interval))
        if evse.reading is not None:
            tx.last_meter = evse.reading.meter
        evse.tx = tx
        return tx

    def _end(
        self,
        evse: EvseTx,
        now: float,
        trigger: TriggerReasonEnumType,
        reason: ReasonEnumType,
        offline: bool,
    ) -> None:
        tx = evse.tx
        assert tx is not None
        settings = self.settings()
        values: list[MeterValueType] = []
        for series, _, _ in tx_meter.series(tx, settings):
            values += series.values
        values.sort(key=lambda v: v.timestamp)
        values += tx_meter.meter(
            evse.reading, settings.ended_measurands, Context.Transaction_End, now
        )
        self._emit(
            evse, now, trigger, ended=reason, meter=values, state=evse.state, offline=offline
        )

    def _emit(
        self,
        evse: EvseTx,
        now: float,
        trigger: TriggerReasonEnumType,
        *,
        state: ChargingStateEnumType | None = None,
        id_token: IdTokenType | None = None,
        meter: list[MeterValueType] | None = None,
        ended: ReasonEnumType | None = None,
        offline: bool = False,
    ) -> None:
        """Owe the CSMS one event of the open transaction, then save its next seqNo."""
        tx = evse.tx
        assert tx is not None
        first = tx.seq_no == 0
        kind = TransactionEventEnumType.Updated
        if first:
            kind = TransactionEventEnumType.Started
            if meter is None and evse.reading is not None:
                started = self.settings().started_measurands
                meter = tx_meter.meter(evse.reading, started, Context.Transaction_Begin, now)
        elif ended is not None:
            kind = TransactionEventEnumType.Ended
        if state is None and first:
            state = evse.state
        self._track_charging(tx, evse, now)
        remote = tx.remote_start_id if not tx.remote_start_reported else None
        info = TransactionType(
            transactionId=tx.transaction_id,
            chargingState=msgspec.UNSET if state is None else state,
            timeSpentCharging=int(tx.charged_s) if ended is not None else msgspec.UNSET,
            stoppedReason=msgspec.UNSET if ended is None else ended,
            remoteStartId=msgspec.UNSET if remote is None else remote,
        )
        phases = tx_meter.phases_used(evse)
        request = TransactionEventRequest(
            eventType=kind,
            timestamp=timestamp(now),
            triggerReason=trigger,
            seqNo=tx.seq_no,
            offline=True if offline or not self.online else msgspec.UNSET,
            numberOfPhasesUsed=msgspec.UNSET if phases is None else phases,
            meterValue=meter if meter else msgspec.UNSET,
            transactionInfo=info,
            evse=EVSEType(id=evse.evse_id, connectorId=evse.connector_id),
            idToken=msgspec.UNSET if id_token is None else id_token,
        )
        self.sink.owe(request, tx.transaction_id)
        tx.seq_no += 1
        if state is not None:
            tx.charging_state = state
        if remote is not None:
            tx.remote_start_reported = True
        if ended is None:
            self.store.save(tx)
        else:
            self.store.end(tx)
            evse.tx = None

    @staticmethod
    def _track_charging(tx: OpenTransaction, evse: EvseTx, now: float) -> None:
        if tx.charging_since is not None:
            tx.charged_s += max(now - tx.charging_since, 0.0)
            tx.charging_since = None
        if evse.energy:
            tx.charging_since = now
