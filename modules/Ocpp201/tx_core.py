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
    MeasurandEnumType,
    ReadingContextEnumType,
    ReasonEnumType,
    TransactionEventEnumType,
    TriggerReasonEnumType,
)
from evstack.generated.ocpp.v201.messages import MeterValuesRequest, TransactionEventRequest
from evstack.generated.types.authorization import ProvidedIdToken
from evstack.generated.types.evse_manager import SessionEvent, SessionEventEnum, TransactionRecord
from evstack.generated.types.powermeter import Powermeter

from .sampling import Reading, SampleSeries, meter_value, next_aligned
from .tx_state import (
    CHARGING_STATES,
    PAUSE_REASONS,
    RECONCILED,
    TRIGGERS,
    Effect,
    OpenTransaction,
    Sink,
    StopTransaction,
    TxSettings,
    TxStore,
    ocpp_id_token,
    stop_reason,
    timestamp,
    unix,
)

__all__ = ["Transactions"]

Trigger = TriggerReasonEnumType
State = ChargingStateEnumType
Reason = ReasonEnumType
Event = SessionEventEnum
Context = ReadingContextEnumType


@dataclass
class _PendingAuth:
    """An authorization for this EVSE before its EV was plugged in."""

    id_token: IdTokenType
    remote_start_id: int | None
    deadline: float


@dataclass
class _Authorized:
    """EvseManager's transaction began (the EV is authorized) before TxStartPoint's: what the
    station's transaction, once started, reports as its token (E01: the first event after the
    token was presented carries it)."""

    id_token: IdTokenType
    remote_start_id: int | None
    session_uuid: str


@dataclass
class _Evse:
    evse_id: int
    connector_id: int
    plugged: bool = False
    energy: bool = False
    state: ChargingStateEnumType = State.Idle
    reading: Reading | None = None
    pending: _PendingAuth | None = None
    authorized: _Authorized | None = None
    tx: OpenTransaction | None = None
    soc: float | None = None


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
    _evse: dict[int, _Evse] = field(init=False)
    _aligned_due: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._evse = {e: _Evse(e, c) for e, c in sorted(self.evses.items())}
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
        self._aligned_due = None

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
        meter = _event_meter(event)
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
        evse.pending = _PendingAuth(id_token, remote_start_id, deadline)
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
            tx = evse.tx
            if tx is None:
                continue
            if tx.updated_due is not None and now >= tx.updated_due:
                self._periodic(evse, tx, settings, now)
            for series, selected, context in self._series(tx, settings):
                while series.due <= now:
                    reading = evse.reading
                    sample = None
                    if reading is not None:
                        sample = meter_value(reading, selected, context, timestamp(series.due))
                    series.take(sample)
                    self.store.save(tx)
        effects += self._aligned(settings, now)
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
                times += [series.due for series, _, _ in self._series(tx, settings)]
        if self._aligned_due is not None:
            times.append(self._aligned_due)
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
            values = self._meter(evse, settings.updated_measurands, Context.Trigger, now)
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
        evse = self._evse[evse_id]
        seen = self.store.seen(evse_id)
        first_run = not seen
        tx = evse.tx
        by_session = {r.session_uuid: r for r in records}
        if tx is not None and tx.journaled:
            record = by_session.get(tx.session_uuid or "")
            if record is None or record.finished_at is not None:
                self._end_from_journal(evse, record, now)
        if evse.tx is not None:
            self._resume(evse.tx, now)
        for record in records:
            session = record.session_uuid
            if session in seen or (evse.tx is not None and evse.tx.session_uuid == session):
                continue
            if first_run and record.finished_at is not None:
                continue  # the station's first start: the past is not ours to report
            self._replay(evse, record, now)
        self.store.mark_seen(evse_id, [RECONCILED, *by_session])

    def _replay(self, evse: _Evse, record: TransactionRecord, now: float) -> None:
        """An EVSE transaction that ran while the station was down, reported as it was."""
        held, evse.tx = evse.tx, None
        plugged, state = evse.plugged, evse.state
        started = self.from_wall(unix(record.started_at))
        evse.reading = Reading(record.transaction_started.meter_value, evse.soc)
        provided = record.transaction_started.id_tag
        token = ocpp_id_token(provided)
        tx = self._start(evse, started, provided.request_id)
        tx.session_uuid, tx.journaled, tx.id_token = record.session_uuid, True, token
        trigger = Trigger.RemoteStart if provided.request_id is not None else Trigger.Authorized
        evse.plugged, evse.state = True, State.EVConnected
        self._emit(evse, started, trigger, id_token=token, state=evse.state, offline=True)
        if record.finished_at is not None:
            self._end_from_journal(evse, record, now)
        else:
            evse.reading = Reading(record.meter_value, evse.soc)
            tx.last_meter = record.meter_value
            self._resume(tx, now)
            self.store.save(tx)
        if held is not None:
            evse.tx, evse.plugged, evse.state = held, plugged, state

    def _end_from_journal(self, evse: _Evse, record: TransactionRecord | None, now: float) -> None:
        tx = evse.tx
        assert tx is not None
        meter, ended, reason = tx.last_meter, now, Reason.PowerLoss
        if record is not None and record.transaction_finished is not None:
            reason = stop_reason(str(record.transaction_finished.reason or "Other"))
            meter = record.meter_value
            ended = self.from_wall(unix(record.finished_at)) if record.finished_at else now
        if meter is not None:
            evse.reading = Reading(meter, evse.soc)
        evse.plugged, evse.energy, evse.pending, evse.state = False, False, None, State.Idle
        self._end(evse, ended, TRIGGERS.get(reason, Trigger.AbnormalCondition), reason, True)

    def _resume(self, tx: OpenTransaction, now: float) -> None:
        """Samples that fell due while the station was down were never taken: skip them."""
        if tx.updated_due is not None and tx.updated_due <= now:
            interval = self.settings().updated_interval_s
            tx.updated_due = None if interval <= 0 else now + interval
        for series in (tx.ended_sampled, tx.ended_aligned):
            while series is not None and series.due <= now:
                series.take(None)
        tx.charging_since = None  # not known to have charged while nobody watched
        self.store.save(tx)

    # --- the rules -----------------------------------------------------------------------

    def _plugged_in(self, evse: _Evse, session_uuid: str, now: float) -> None:
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
        self, evse: _Evse, provided: ProvidedIdToken, session_uuid: str, now: float
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
                evse.authorized = _Authorized(token, remote, session_uuid)  # EnergyTransfer's
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

    def _charging_state(self, evse: _Evse, state: ChargingStateEnumType, now: float) -> None:
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

    def _finished(self, evse: _Evse, reason: ReasonEnumType, now: float) -> None:
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

    def _unplugged(self, evse: _Evse, now: float) -> None:
        evse.plugged, evse.energy, evse.authorized = False, False, None
        evse.state = State.Idle
        evse.pending = None
        tx = evse.tx
        if tx is None:
            return
        # Without a parking bay sensor nothing outlasts the EV: the transaction ends here.
        reason = tx.stopped_reason or Reason.EVDisconnected
        self._end(evse, now, Trigger.EVCommunicationLost, reason, False)

    def _lapse(self, evse: _Evse, now: float) -> None:
        """An authorization before plug-in that no EVSE transaction took up in time ends the
        transaction it started. (Auth lets go of the token after its own connection timeout.)"""
        pending = evse.pending
        if pending is None or now < pending.deadline:
            return
        evse.pending = None
        if evse.tx is not None and not evse.tx.journaled:
            self._end(evse, now, Trigger.EVConnectTimeout, Reason.Timeout, False)

    # --- meter values --------------------------------------------------------------------

    def _series(
        self, tx: OpenTransaction, settings: TxSettings
    ) -> list[tuple[SampleSeries, tuple[MeasurandEnumType, ...], ReadingContextEnumType]]:
        out = []
        if tx.ended_sampled is not None and settings.ended_measurands:
            out.append((tx.ended_sampled, settings.ended_measurands, Context.Sample_Periodic))
        if tx.ended_aligned is not None and settings.aligned_ended_measurands:
            out.append((tx.ended_aligned, settings.aligned_ended_measurands, Context.Sample_Clock))
        return out

    def _meter(
        self,
        evse: _Evse,
        selected: tuple[MeasurandEnumType, ...],
        context: ReadingContextEnumType,
        now: float,
    ) -> list[MeterValueType]:
        if evse.reading is None:
            return []
        value = meter_value(evse.reading, selected, context, timestamp(now))
        return [] if value is None else [value]

    def _periodic(self, evse: _Evse, tx: OpenTransaction, settings: TxSettings, now: float) -> None:
        due = tx.updated_due
        assert due is not None
        interval = settings.updated_interval_s
        tx.updated_due = None if interval <= 0 else due + interval * (1 + (now - due) // interval)
        values = self._meter(evse, settings.updated_measurands, Context.Sample_Periodic, due)
        if values:
            self._emit(evse, due, Trigger.MeterValuePeriodic, meter=values)
        else:
            self.store.save(tx)

    def _aligned(self, settings: TxSettings, now: float) -> list[Effect]:
        """Clock-aligned values: in the transaction's events while one runs, else MeterValues."""
        interval = settings.aligned_interval_s
        if interval <= 0 or not settings.aligned_measurands:
            self._aligned_due = None
            return []
        if self._aligned_due is None:
            self._aligned_due = next_aligned(now, interval)
            return []
        if now < self._aligned_due:
            return []
        due, self._aligned_due = self._aligned_due, next_aligned(now, interval)
        if settings.aligned_only_when_idle and any(e.tx for e in self._evse.values()):
            return []
        effects: list[Effect] = []
        for evse in self._evse.values():
            values = self._meter(evse, settings.aligned_measurands, Context.Sample_Clock, due)
            if not values:
                continue
            if evse.tx is not None:
                self._emit(evse, due, Trigger.MeterValueClock, meter=values)
            else:
                effects.append(MeterValuesRequest(evseId=evse.evse_id, meterValue=values))
        return effects

    # --- events --------------------------------------------------------------------------

    def _start(self, evse: _Evse, now: float, remote_start_id: int | None) -> OpenTransaction:
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
        evse: _Evse,
        now: float,
        trigger: TriggerReasonEnumType,
        reason: ReasonEnumType,
        offline: bool,
    ) -> None:
        tx = evse.tx
        assert tx is not None
        settings = self.settings()
        values: list[MeterValueType] = []
        for series, _, _ in self._series(tx, settings):
            values += series.values
        values.sort(key=lambda v: v.timestamp)
        values += self._meter(evse, settings.ended_measurands, Context.Transaction_End, now)
        self._emit(
            evse, now, trigger, ended=reason, meter=values, state=evse.state, offline=offline
        )

    def _emit(
        self,
        evse: _Evse,
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
                meter = self._meter(evse, started, Context.Transaction_Begin, now)
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
        phases = _phases_used(evse)
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
    def _track_charging(tx: OpenTransaction, evse: _Evse, now: float) -> None:
        if tx.charging_since is not None:
            tx.charged_s += max(now - tx.charging_since, 0.0)
            tx.charging_since = None
        if evse.energy:
            tx.charging_since = now


def _event_meter(event: SessionEvent) -> Powermeter | None:
    for data in (
        event.session_started,
        event.transaction_started,
        event.transaction_finished,
        event.session_finished,
    ):
        if data is not None:
            return data.meter_value
    return None


def _phases_used(evse: _Evse) -> int | None:
    """Phases drawing current (more than 0.5 A) while energy flows; None otherwise."""
    if not evse.energy or evse.reading is None or evse.reading.meter.current_A is None:
        return None
    amps = evse.reading.meter.current_A
    drawing = sum(1 for a in (amps.L1, amps.L2, amps.L3) if a is not None and a > 0.5)
    return drawing or None
