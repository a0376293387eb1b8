"""Meter values of the OCPP 2.0.1 station (functional block J), without I/O.

What the CSMS gets is what the device model selects: SampledDataCtrlr's measurands at the
start of a transaction, every TxUpdatedInterval while it runs and every TxEndedInterval for
its Ended event; AlignedDataCtrlr's at the clock's interval boundaries (counted from midnight
UTC, so every station's values line up), in MeterValues and, for TxEndedMeasurands, in the
Ended event. The readings are EvseManager's `powermeter` var: its energy register is counted
on across a meter that went backwards, so the values never decrease.

A measurand the meter does not report is left out rather than sent as 0: a CSMS would bill a
zero. Units are the ones Part 2's Appendix 2 standardises, phases as the schema names them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

from evstack.generated.ocpp.v201.datatypes import (
    MeterValueType,
    SampledValueType,
    UnitOfMeasureType,
)
from evstack.generated.ocpp.v201.enums import (
    LocationEnumType,
    MeasurandEnumType,
    PhaseEnumType,
    ReadingContextEnumType,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.ocpp.v201 import DateTime

__all__ = [
    "SUPPORTED_MEASURANDS",
    "Reading",
    "SampleSeries",
    "measurands",
    "member_list",
    "meter_value",
    "next_aligned",
    "sampled_values",
]

M = MeasurandEnumType
SUPPORTED_MEASURANDS: tuple[MeasurandEnumType, ...] = (
    M.Energy_Active_Import_Register,
    M.Power_Active_Import,
    M.Current_Import,
    M.Voltage,
    M.Frequency,
    M.SoC,
)
_UNITS = {
    M.Energy_Active_Import_Register: UnitOfMeasureType(unit="Wh"),
    M.Power_Active_Import: UnitOfMeasureType(unit="W"),
    M.Current_Import: UnitOfMeasureType(unit="A"),
    M.Voltage: UnitOfMeasureType(unit="V"),
    M.Frequency: UnitOfMeasureType(unit="Hz"),
    M.SoC: UnitOfMeasureType(unit="Percent"),
}
_PHASES = (("L1", PhaseEnumType.L1), ("L2", PhaseEnumType.L2), ("L3", PhaseEnumType.L3))
_PHASES_TO_N = (("L1", PhaseEnumType.L1_N), ("L2", PhaseEnumType.L2_N), ("L3", PhaseEnumType.L3_N))
_DAY_S = 86_400.0
# The Ended event carries every sample of a transaction; a long one halves its rate instead of
# growing without bound (a day at 10 s would be 8,640 values in one message).
MAX_ENDED_SAMPLES = 480


class Reading(msgspec.Struct, frozen=True):
    """One EVSE's newest reading, with what the EV said about its state of charge."""

    meter: Powermeter
    soc: float | None = None


def member_list(text: str) -> tuple[str, ...]:
    """A MemberList variable's members ("A,B, C" -> ("A", "B", "C")), blanks dropped."""
    return tuple(member.strip() for member in text.split(",") if member.strip())


def measurands(text: str) -> tuple[MeasurandEnumType, ...]:
    """The measurands a MemberList names that this station can report, in its order."""
    known = {m.value: m for m in SUPPORTED_MEASURANDS}
    return tuple(known[name] for name in member_list(text) if name in known)


def _sample(
    value: float,
    measurand: MeasurandEnumType,
    context: ReadingContextEnumType,
    phase: PhaseEnumType | None = None,
    location: LocationEnumType | None = None,
) -> SampledValueType:
    return SampledValueType(
        value=round(value, 3),
        context=context,
        measurand=measurand,
        phase=msgspec.UNSET if phase is None else phase,
        location=msgspec.UNSET if location is None else location,
        unitOfMeasure=_UNITS[measurand],
    )


def _per_phase(
    values: object,
    names: Sequence[tuple[str, PhaseEnumType]],
    measurand: MeasurandEnumType,
    context: ReadingContextEnumType,
) -> list[SampledValueType]:
    out = []
    for attribute, phase in names:
        value = getattr(values, attribute, None)
        if value is not None:
            out.append(_sample(value, measurand, context, phase))
    return out


def sampled_values(
    reading: Reading, selected: Iterable[MeasurandEnumType], context: ReadingContextEnumType
) -> list[SampledValueType]:
    """The `selected` measurands of `reading` that the meter reports, with their units."""
    meter = reading.meter
    out: list[SampledValueType] = []
    for measurand in selected:
        if measurand is M.Energy_Active_Import_Register:
            out.append(_sample(meter.energy_Wh_import.total, measurand, context))
        elif measurand is M.Power_Active_Import and meter.power_W is not None:
            out.append(_sample(meter.power_W.total, measurand, context))
        elif measurand is M.Current_Import and meter.current_A is not None:
            out += _per_phase(meter.current_A, _PHASES, measurand, context)
        elif measurand is M.Voltage and meter.voltage_V is not None:
            out += _per_phase(meter.voltage_V, _PHASES_TO_N, measurand, context)
        elif measurand is M.Frequency and meter.frequency_Hz is not None:
            out.append(_sample(meter.frequency_Hz.L1, measurand, context))
        elif measurand is M.SoC and reading.soc is not None:
            out.append(_sample(reading.soc, measurand, context, location=LocationEnumType.EV))
    return out


def meter_value(
    reading: Reading,
    selected: Iterable[MeasurandEnumType],
    context: ReadingContextEnumType,
    timestamp: DateTime,
) -> MeterValueType | None:
    """One MeterValue of the `selected` measurands; None when the meter reports none of them."""
    values = sampled_values(reading, selected, context)
    return MeterValueType(sampledValue=values, timestamp=timestamp) if values else None


def next_aligned(now: float, interval_s: float) -> float:
    """The first clock-aligned boundary after `now` (Unix seconds): intervals are counted from
    midnight UTC, so 900 s means :00, :15, :30 and :45 of every hour."""
    midnight = math.floor(now / _DAY_S) * _DAY_S
    boundary = midnight + (math.floor((now - midnight) / interval_s) + 1) * interval_s
    # An interval that does not divide the day starts again at the next midnight.
    return min(boundary, midnight + _DAY_S)


class SampleSeries(msgspec.Struct):
    """Meter values collected for a transaction's Ended event while it runs.

    One every `interval_s` (times `stride`) from `due`; past MAX_ENDED_SAMPLES every other one
    is dropped and the stride doubles, so the values stay evenly spaced and the message
    bounded. A struct, so that it is kept with its transaction across restarts.
    """

    interval_s: float
    due: float  # Unix seconds of the next sample
    values: list[MeterValueType] = msgspec.field(default_factory=list)
    stride: int = 1

    def take(self, value: MeterValueType | None) -> None:
        """The sample due now (None: the meter had nothing to say); the next is due later."""
        if value is not None:
            self.values.append(value)
            if len(self.values) > MAX_ENDED_SAMPLES:
                self.values = self.values[::2]
                self.stride *= 2
        self.due += self.interval_s * self.stride
