"""When the transactions core samples the meter, and where the samples go.

`sampling` says what a meter value holds; this module says when one is due: every
TxUpdatedInterval into an Updated event, every TxEndedInterval and at each clock-aligned
TxEnded boundary into the series the Ended event carries, and at AlignedDataInterval's
boundaries into a transaction's event or, on an EVSE without one, a MeterValues. It is apart
from `tx_core` because these schedules run on the clock, not on EvseManager's events; the
events they produce go through the core's `_emit` like every other. The two small readers at
the end (a session event's reading, the phases drawing current) serve that `_emit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from evstack.generated.ocpp.v201.datatypes import MeterValueType
from evstack.generated.ocpp.v201.enums import (
    MeasurandEnumType,
    ReadingContextEnumType,
    TriggerReasonEnumType,
)
from evstack.generated.ocpp.v201.messages import MeterValuesRequest
from evstack.generated.types.evse_manager import SessionEvent
from evstack.generated.types.powermeter import Powermeter

from .sampling import Reading, SampleSeries, meter_value, next_aligned
from .tx_state import Effect, EvseTx, OpenTransaction, TxSettings, timestamp

if TYPE_CHECKING:
    from .tx_core import Transactions

__all__ = [
    "AlignedClock",
    "Series",
    "event_meter",
    "meter",
    "phases_used",
    "series",
    "take_due",
]

Trigger = TriggerReasonEnumType
Context = ReadingContextEnumType

Series = tuple[SampleSeries, tuple[MeasurandEnumType, ...], ReadingContextEnumType]
"""A transaction's sample series for its Ended event, with what it samples and as what."""


def series(tx: OpenTransaction, settings: TxSettings) -> list[Series]:
    """The transaction's Ended series that its settings still ask for."""
    out = []
    if tx.ended_sampled is not None and settings.ended_measurands:
        out.append((tx.ended_sampled, settings.ended_measurands, Context.Sample_Periodic))
    if tx.ended_aligned is not None and settings.aligned_ended_measurands:
        out.append((tx.ended_aligned, settings.aligned_ended_measurands, Context.Sample_Clock))
    return out


def meter(
    reading: Reading | None,
    selected: tuple[MeasurandEnumType, ...],
    context: ReadingContextEnumType,
    at: float,
) -> list[MeterValueType]:
    """The reading's selected measurands as an event's meterValue list (empty without any)."""
    if reading is None:
        return []
    value = meter_value(reading, selected, context, timestamp(at))
    return [] if value is None else [value]


def take_due(
    core: Transactions, evse: EvseTx, tx: OpenTransaction, settings: TxSettings, now: float
) -> None:
    """The transaction's samples due by `now`: the periodic Updated event, the Ended series."""
    if tx.updated_due is not None and now >= tx.updated_due:
        _periodic(core, evse, tx, settings, now)
    for kept, selected, context in series(tx, settings):
        while kept.due <= now:
            reading = evse.reading
            sample = None
            if reading is not None:
                sample = meter_value(reading, selected, context, timestamp(kept.due))
            kept.take(sample)
            core.store.save(tx)


def _periodic(
    core: Transactions, evse: EvseTx, tx: OpenTransaction, settings: TxSettings, now: float
) -> None:
    due = tx.updated_due
    assert due is not None
    interval = settings.updated_interval_s
    tx.updated_due = None if interval <= 0 else due + interval * (1 + (now - due) // interval)
    values = meter(evse.reading, settings.updated_measurands, Context.Sample_Periodic, due)
    if values:
        core._emit(evse, due, Trigger.MeterValuePeriodic, meter=values)
    else:
        core.store.save(tx)


@dataclass
class AlignedClock:
    """The station's AlignedDataInterval schedule: one for all EVSEs, so their values line up.
    `due` is None until the first tick after a (re)start or a change of the settings."""

    due: float | None = None

    def take(self, core: Transactions, settings: TxSettings, now: float) -> list[Effect]:
        """Clock-aligned values: in the transaction's events while one runs, else MeterValues."""
        interval = settings.aligned_interval_s
        if interval <= 0 or not settings.aligned_measurands:
            self.due = None
            return []
        if self.due is None:
            self.due = next_aligned(now, interval)
            return []
        if now < self.due:
            return []
        due, self.due = self.due, next_aligned(now, interval)
        evses = core._evse.values()
        if settings.aligned_only_when_idle and any(e.tx for e in evses):
            return []
        effects: list[Effect] = []
        for evse in evses:
            values = meter(evse.reading, settings.aligned_measurands, Context.Sample_Clock, due)
            if not values:
                continue
            if evse.tx is not None:
                core._emit(evse, due, Trigger.MeterValueClock, meter=values)
            else:
                effects.append(MeterValuesRequest(evseId=evse.evse_id, meterValue=values))
        return effects


def event_meter(event: SessionEvent) -> Powermeter | None:
    """The reading a session event of EvseManager carries, if it carries one."""
    for data in (
        event.session_started,
        event.transaction_started,
        event.transaction_finished,
        event.session_finished,
    ):
        if data is not None:
            return data.meter_value
    return None


def phases_used(evse: EvseTx) -> int | None:
    """Phases drawing current (more than 0.5 A) while energy flows; None otherwise."""
    if not evse.energy or evse.reading is None or evse.reading.meter.current_A is None:
        return None
    amps = evse.reading.meter.current_A
    drawing = sum(1 for a in (amps.L1, amps.L2, amps.L3) if a is not None and a > 0.5)
    return drawing or None
