"""The fast path: typed wrappers around the C control-pilot extension (``ext/pilot/``).

The C objects are streaming: a :class:`Synthesiser` continues its waveform and an
:class:`Analyser` its periods and debouncing from one chunk to the next, so a simulator can
hand them any slice of time it likes.

Importing this module checks that the compiled extension matches the C sources next to it:
in an editable install, editing ``ext/pilot/`` without reinstalling would otherwise run the
old code silently (and the bit-exact tests against the reference would fail mysteriously).
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import evstack.ext
from evstack.ext._pilot import ffi, lib
from evstack.pilot.types import (
    AnalyserConfig,
    DutyMeaning,
    DutyReading,
    FaultsChanged,
    Measurement,
    PilotEvent,
    PilotFault,
    PilotState,
    PwmChanged,
    StateChanged,
    Waveform,
)

_DRAIN = 64  # events or measurements copied out per call
_SOURCES = ("pilot.h", "pilot.c")  # in the order ext/pilot/build_pilot.py hashes them


def _check_build() -> None:
    sources = [Path(evstack.ext.__file__).parent / "pilot" / name for name in _SOURCES]
    if not all(source.is_file() for source in sources):
        return  # an install without the sources: nothing to compare with
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.read_bytes())
    if ffi.string(lib.cp_source_digest()).decode() != digest.hexdigest():
        raise ImportError(
            "evstack.ext._pilot was built from older ext/pilot/ sources; "
            "rebuild it with `pip install -e .` (or `make install`)"
        )


_check_build()


def as_samples(samples: Sequence[float]) -> array[float]:
    """The samples as a float32 array, without a copy when they already are one."""
    if isinstance(samples, array) and samples.typecode == "f":
        return samples
    return array("f", samples)


class Synthesiser:
    """Draws a sampled pilot waveform, deterministic for a given seed."""

    def __init__(self, sample_rate_hz: float, seed: int = 0) -> None:
        if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0.0):
            raise ValueError(f"sample rate must be positive and finite, got {sample_rate_hz}")
        if not 0 <= seed < 2**64:
            raise ValueError("seed must fit in 64 unsigned bits")
        self.sample_rate_hz = float(sample_rate_hz)
        self._synth = ffi.gc(lib.cp_synth_new(self.sample_rate_hz, seed), lib.cp_synth_free)
        if self._synth == ffi.NULL:
            raise MemoryError("cp_synth_new failed")
        self._waveform = ffi.new("cp_waveform *")

    def render(self, waveform: Waveform, count: int) -> array[float]:
        """The next ``count`` samples of ``waveform``."""
        if count < 0:
            raise ValueError(f"cannot render {count} samples")
        out = array("f", bytes(4 * count))
        self.render_into(waveform, out)
        return out

    def render_into(self, waveform: Waveform, out: array[float]) -> None:
        """Overwrite all of ``out`` (a float32 array) with the next samples of ``waveform``."""
        if out.typecode != "f":
            raise TypeError("render_into needs an array('f')")
        waveform.validate()
        w = self._waveform
        w.high_v, w.low_v, w.duty = waveform.high_v, waveform.low_v, waveform.duty
        w.frequency_hz, w.rise_s, w.fall_s = waveform.frequency_hz, waveform.rise_s, waveform.fall_s
        w.noise_v, w.jitter = waveform.noise_v, waveform.jitter
        buffer = ffi.from_buffer("float[]", out, require_writable=True)
        if lib.cp_synth_render(self._synth, w, buffer, len(out)) != lib.CP_OK:
            raise ValueError(f"the synthesiser refused {waveform}")


class Analyser:
    """Measures, classifies and debounces a sampled pilot line, chunk by chunk.

    ``feed`` returns the events the chunk completed. With ``keep_measurements`` the analyser
    also keeps every period measurement for :meth:`take_measurements` (tests, telemetry).
    """

    def __init__(
        self,
        sample_rate_hz: float,
        config: AnalyserConfig | None = None,
        *,
        keep_measurements: bool = False,
    ) -> None:
        self.config = config or AnalyserConfig()
        self.config.validate(sample_rate_hz)
        self.sample_rate_hz = float(sample_rate_hz)
        c_config = ffi.new("cp_config *")
        for field in fields(AnalyserConfig):
            setattr(c_config, field.name, getattr(self.config, field.name))
        if lib.cp_config_check(c_config, self.sample_rate_hz) != 0:
            raise ValueError(f"the C analyser refused {self.config} at {sample_rate_hz} Hz")
        raw = lib.cp_analyser_new(self.sample_rate_hz, c_config, int(keep_measurements))
        if raw == ffi.NULL:
            raise MemoryError("cp_analyser_new failed")
        self._analyser = ffi.gc(raw, lib.cp_analyser_free)
        self._events = ffi.new(f"cp_event[{_DRAIN}]")
        self._measurements: list[Measurement] = []
        self._measurement_buffer = ffi.new(f"cp_measurement[{_DRAIN}]")
        self._last = ffi.new("cp_measurement *")
        self._out_duty = ffi.new("double *")
        self._out_frequency = ffi.new("double *")

    def feed(self, samples: Sequence[float]) -> list[PilotEvent]:
        """Analyse the next samples; a non-finite sample is refused before anything is used."""
        data = as_samples(samples)
        buffer = ffi.cast("float *", ffi.from_buffer("float[]", data))
        bad = lib.cp_first_nonfinite(buffer, len(data))
        if bad != len(data):
            raise ValueError(f"sample {bad} of the chunk is {data[bad]}, not a voltage")
        events: list[PilotEvent] = []
        done = 0
        while done < len(data):
            done += lib.cp_analyser_feed(self._analyser, buffer + done, len(data) - done)
            self._drain(events)
        return events

    def take_measurements(self) -> list[Measurement]:
        """The measurements since the last call (only with ``keep_measurements``)."""
        taken, self._measurements = self._measurements, []
        return taken

    @property
    def position(self) -> int:
        """Samples analysed so far."""
        return int(lib.cp_analyser_position(self._analyser))

    @property
    def last_measurement(self) -> Measurement | None:
        """The latest period or steady window: plateau voltages and duty for telemetry."""
        if not lib.cp_analyser_last_measurement(self._analyser, self._last):
            return None
        return _measurement(self._last)

    @property
    def state(self) -> PilotState | None:
        """The debounced state; ``None`` until the first one is confirmed."""
        return PilotState.from_number(int(lib.cp_analyser_state(self._analyser)))

    @property
    def faults(self) -> PilotFault:
        return PilotFault(int(lib.cp_analyser_faults(self._analyser)))

    @property
    def duty(self) -> float | None:
        """The reported PWM duty, or ``None`` while no PWM is reported."""
        running = lib.cp_analyser_pwm(self._analyser, self._out_duty, self._out_frequency)
        return float(self._out_duty[0]) if running else None

    def _drain(self, events: list[PilotEvent]) -> None:
        while count := lib.cp_analyser_drain_events(self._analyser, self._events, _DRAIN):
            events.extend(self._event(self._events[i]) for i in range(count))
        buffer = self._measurement_buffer
        while count := lib.cp_analyser_drain_measurements(self._analyser, buffer, _DRAIN):
            self._measurements.extend(_measurement(buffer[i]) for i in range(count))

    def _event(self, raw: Any) -> PilotEvent:
        sample, onset = int(raw.at), int(raw.onset)
        times = (sample, onset, sample / self.sample_rate_hz, onset / self.sample_rate_hz)
        if raw.kind == lib.CP_EVENT_STATE:
            state = PilotState.from_number(int(raw.state))
            assert state is not None, "the analyser never confirms an unknown state"
            return StateChanged(*times, state, PilotState.from_number(int(raw.previous)))
        if raw.kind == lib.CP_EVENT_PWM:
            if raw.pwm:
                return PwmChanged(*times, float(raw.duty), float(raw.frequency_hz))
            return PwmChanged(*times, None, None)
        return FaultsChanged(*times, PilotFault(int(raw.faults)))


def _measurement(raw: Any) -> Measurement:
    return Measurement(
        start=int(raw.start),
        end=int(raw.end),
        pwm=bool(raw.pwm),
        frequency_hz=float(raw.frequency_hz),
        duty=float(raw.duty),
        high_v=float(raw.high_v),
        low_v=float(raw.low_v),
    )


def duty_for_current(amps: float) -> float:
    """The duty an EVSE sends to allow ``amps`` (IEC 61851-1 Annex A; 6-80 A)."""
    duty = ffi.new("double *")
    if lib.cp_duty_for_current(amps, duty) != lib.CP_OK:
        raise ValueError(f"{amps} A cannot be signalled by PWM: the range is 6-80 A")
    return float(duty[0])


def current_for_duty(duty: float) -> DutyReading:
    """What an EV reads from ``duty``: a current limit, digital communication, or nothing."""
    amps = ffi.new("double *")
    meaning = DutyMeaning(lib.cp_current_for_duty(duty, amps))
    return DutyReading(meaning, float(amps[0]) if meaning is DutyMeaning.AMPS else None)
