"""The vocabulary of the control pilot: states, faults, events, measurements and settings.

The C analyser (:mod:`evstack.pilot.native`) and its pure-Python twin
(:mod:`evstack.pilot.reference`) both speak in these types, so callers and tests can swap one
for the other. Duty cycles are fractions (``0.1`` is 10 %); times are sample indices counted
from the analyser's first sample, with the same instant in seconds alongside.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields


class PilotState(enum.StrEnum):
    """IEC 61851-1 control-pilot state, named by its letter."""

    A = "A"  # +12 V: no EV
    B = "B"  # +9 V: EV connected
    C = "C"  # +6 V: EV ready to charge
    D = "D"  # +3 V: ready, ventilation required
    E = "E"  # 0 V: pilot shorted to PE, or no supply
    F = "F"  # -12 V: EVSE not available

    @property
    def nominal_v(self) -> float:
        """The level the standard puts this state at (the plateau while the generator is high)."""
        return _NOMINAL_V[self]

    @property
    def number(self) -> int:
        """The number the C extension uses for this state."""
        return _ORDER.index(self)

    @classmethod
    def from_number(cls, number: int) -> PilotState | None:
        """The state for a C state number; ``None`` for unknown (-1)."""
        return None if number < 0 else _ORDER[number]


_ORDER = (PilotState.A, PilotState.B, PilotState.C, PilotState.D, PilotState.E, PilotState.F)
_NOMINAL_V = {
    PilotState.A: 12.0,
    PilotState.B: 9.0,
    PilotState.C: 6.0,
    PilotState.D: 3.0,
    PilotState.E: 0.0,
    PilotState.F: -12.0,
}


class PilotFault(enum.Flag):
    """Faults the analyser sees on the line; several can be active at once."""

    NONE = 0
    DIODE = 1  # PWM runs but the low plateau is not at -12 V: the EV's diode is missing
    INVALID_LEVEL = 2  # the plateau fits no state's window
    FREQUENCY = 4  # PWM frequency outside the allowed range (980-1020 Hz by default)


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The debounced pilot state changed."""

    sample: int  # sample at which the analyser confirmed the change
    onset_sample: int  # first sample of the first period that showed the new state
    time_s: float
    onset_s: float
    state: PilotState
    previous: PilotState | None  # None for the first state after start-up


@dataclass(frozen=True, slots=True)
class PwmChanged:
    """PWM started, stopped, or its duty moved by more than the deadband."""

    sample: int
    onset_sample: int
    time_s: float
    onset_s: float
    duty: float | None  # mean duty of the confirming periods; None once PWM has stopped
    frequency_hz: float | None

    @property
    def running(self) -> bool:
        return self.duty is not None


@dataclass(frozen=True, slots=True)
class FaultsChanged:
    """A fault appeared or cleared; ``faults`` is the whole set active from now on."""

    sample: int
    onset_sample: int
    time_s: float
    onset_s: float
    faults: PilotFault


PilotEvent = StateChanged | PwmChanged | FaultsChanged


@dataclass(frozen=True, slots=True)
class Measurement:
    """One PWM period (rising edge to rising edge), or one window of a steady line."""

    start: int  # first sample
    end: int  # one past the last sample
    pwm: bool
    frequency_hz: float  # 0 for a steady window
    duty: float  # for a steady window: 1 if the level is >= 0 V, else 0
    high_v: float  # plateau while high, trimmed of the samples next to edges
    low_v: float  # plateau while low; equal to high_v for a steady window


@dataclass(frozen=True, slots=True)
class Waveform:
    """What the line carries for a while: the two plateaus, the PWM, and a real line's flaws.

    ``duty`` 1 holds ``high_v`` and 0 holds ``low_v``, which is how steady states (X1, F) are
    drawn. Edges are linear ramps at 24 V per ``rise_s`` / ``fall_s``, so a full -12 V to +12 V
    swing takes exactly that long. Noise is uniform within +-``noise_v``: bounded noise lets
    the tests state exactly which noise the classifier must survive.
    """

    high_v: float
    low_v: float = -12.0
    duty: float = 1.0
    frequency_hz: float = 1000.0
    rise_s: float = 0.0
    fall_s: float = 0.0
    noise_v: float = 0.0
    jitter: float = 0.0  # peak relative deviation of each period from 1 / frequency_hz

    def validate(self) -> None:
        """Raise ValueError naming the first field the synthesiser would refuse."""
        for field in fields(self):
            if not math.isfinite(getattr(self, field.name)):
                raise ValueError(f"waveform {field.name} must be finite")
        if not 0.0 <= self.duty <= 1.0:
            raise ValueError(f"waveform duty must be within [0, 1], got {self.duty}")
        if self.frequency_hz <= 0.0:
            raise ValueError(f"waveform frequency_hz must be positive, got {self.frequency_hz}")
        for name in ("rise_s", "fall_s", "noise_v"):
            if getattr(self, name) < 0.0:
                raise ValueError(f"waveform {name} must not be negative")
        if not 0.0 <= self.jitter < 0.5:
            raise ValueError(f"waveform jitter must be within [0, 0.5), got {self.jitter}")


MAX_DEBOUNCE = 32
MAX_GUARD_SAMPLES = 120


@dataclass(frozen=True, slots=True)
class AnalyserConfig:
    """How the analyser measures and decides; the defaults follow IEC 61851-1.

    With the defaults a change is reported 5 measurements (5 PWM periods, or 5 steady windows
    of 1.5 ms) after it shows, so about 10 ms late at worst: well inside the 50 ms budget,
    while anything that lasts 10 ms, such as a 150 ms C glitch, is still reported. Blips
    shorter than 4 ms are never reported: they cannot hold 5 measurements.
    """

    window_v: float = 1.0  # a plateau within level +- window_v enters that state
    hysteresis_v: float = 0.4  # the current state holds while within +- (window_v + this)
    schmitt_v: float = 1.0  # edges: rising through +schmitt_v, falling through -schmitt_v
    debounce: int = 5  # consecutive measurements that confirm a change
    settle_s: float = 10e-6  # samples this close to an edge are left out of plateaus
    steady_s: float = 1.5e-3  # no edge for this long: the line is measured as a steady level
    duty_deadband: float = 0.005  # duty changes up to this (plus one sample) are not reported
    min_frequency_hz: float = 980.0
    max_frequency_hz: float = 1020.0

    def guard_samples(self, sample_rate_hz: float) -> int:
        """Samples trimmed off each end of a plateau (at least one)."""
        return max(1, math.ceil(self.settle_s * sample_rate_hz))

    def validate(self, sample_rate_hz: float) -> None:
        """Raise ValueError if the analyser cannot work with these settings at this rate."""
        for field in fields(self):
            value = getattr(self, field.name)
            if not math.isfinite(value):
                raise ValueError(f"analyser {field.name} must be finite")
        if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0.0):
            raise ValueError(f"sample rate must be positive, got {sample_rate_hz}")
        if self.window_v <= 0.0 or self.hysteresis_v < 0.0:
            raise ValueError("window_v must be positive and hysteresis_v not negative")
        if self.window_v + self.hysteresis_v >= 1.5:
            # Levels are 3 V apart: wider windows would overlap their neighbours.
            raise ValueError("window_v + hysteresis_v must stay below 1.5 V")
        if self.schmitt_v <= 0.0:
            raise ValueError("schmitt_v must be positive")
        if not 1 <= self.debounce <= MAX_DEBOUNCE:
            raise ValueError(f"debounce must be within 1..{MAX_DEBOUNCE}, got {self.debounce}")
        if self.settle_s < 0.0 or self.settle_s * sample_rate_hz > MAX_GUARD_SAMPLES:
            raise ValueError(
                f"settle_s must cover 0..{MAX_GUARD_SAMPLES} samples at {sample_rate_hz} Hz"
            )
        steady_samples = self.steady_s * sample_rate_hz
        if not 2 * self.guard_samples(sample_rate_hz) + 2 <= steady_samples <= 1e12:
            raise ValueError("steady_s is too short for settle_s at this sample rate")
        if not 0.0 <= self.duty_deadband < 1.0:
            raise ValueError("duty_deadband must be within [0, 1)")
        if self.min_frequency_hz <= 0.0 or self.max_frequency_hz < self.min_frequency_hz:
            raise ValueError("the frequency range must be positive and not empty")


DIGITAL_COMMUNICATION_DUTY = 0.05
"""The duty an EVSE sends to ask for ISO 15118 / DIN 70121 instead of a PWM current limit."""


class DutyMeaning(enum.Enum):
    """What an EV makes of a duty (IEC 61851-1 Annex A)."""

    AMPS = 0  # 8-97 %: a current limit
    DIGITAL = 1  # 3-7 %: use digital communication
    NOT_ALLOWED = 2  # below 3 %, 7-8 %, above 97 %: the EV must not charge


@dataclass(frozen=True, slots=True)
class DutyReading:
    """A decoded duty: its meaning and, for ``AMPS``, the current limit."""

    meaning: DutyMeaning
    amps: float | None = None
