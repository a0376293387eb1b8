"""The same synthesis, analysis and conversions as ``ext/pilot/pilot.c``, in plain Python.

This is the yardstick the tests hold the C extension to: same algorithm, same order of
floating-point operations, so both give the same samples and the same events, bit for bit.
It is readable rather than fast (100-170 times slower, see bench/bench_pilot.py); use
:mod:`evstack.pilot.native` for real work.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

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

_MASK = (1 << 64) - 1
_RING = 256
_LEVELS = (12.0, 9.0, 6.0, 3.0, 0.0, -12.0)
_NOMINAL_SWING_V = 24.0
_LOW_PLATEAU_V = -12.0
_PERCENT_SLACK = 1e-9
_UNKNOWN = -1
_STATE_A = 0
_STATE_D = 3
_STATE_F = 5
_FAULT_BITS = (PilotFault.DIODE, PilotFault.INVALID_LEVEL, PilotFault.FREQUENCY)


class _Random:
    """splitmix64, as in the C file."""

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK

    def symmetric(self) -> float:
        """Uniform in [-1, 1)."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        z = z ^ (z >> 31)
        return (z >> 11) * 2.0**-53 * 2.0 - 1.0


class ReferenceSynthesiser:
    """Pure-Python twin of :class:`evstack.pilot.native.Synthesiser`."""

    def __init__(self, sample_rate_hz: float, seed: int = 0) -> None:
        self.dt = 1.0 / sample_rate_hz
        self._random = _Random(seed)
        self._phase = 0.0
        self._period = 0.0
        self._level = 0.0
        self._started = False

    def render(self, waveform: Waveform, count: int) -> array[float]:
        waveform.validate()
        w = waveform
        if not self._started:
            self._period = self._next_period(w)
            self._level = w.high_v if w.duty > 0.0 else w.low_v
            self._started = True
        up = _NOMINAL_SWING_V * self.dt / w.rise_s if w.rise_s > 0.0 else 0.0
        down = _NOMINAL_SWING_V * self.dt / w.fall_s if w.fall_s > 0.0 else 0.0
        out = array("f")
        for _ in range(count):
            target = self._target(w)
            level = self._level
            if level < target:
                level = level + up if up > 0.0 and level + up < target else target
            elif level > target:
                level = level - down if down > 0.0 and level - down > target else target
            self._level = level
            v = level
            if w.noise_v > 0.0:
                v = v + w.noise_v * self._random.symmetric()
            out.append(v)  # rounds to float32 exactly as the C cast does
            self._phase = self._phase + self.dt
            if self._phase >= self._period:
                self._phase = self._phase - self._period
                self._period = self._next_period(w)
        return out

    def _target(self, w: Waveform) -> float:
        """The ideal line averaged over this sample's interval (an integrating ADC)."""
        if w.duty >= 1.0:
            return w.high_v
        if w.duty <= 0.0:
            return w.low_v
        end = self._phase + self.dt
        high_end = w.duty * self._period
        if end <= high_end:
            return w.high_v
        if self._phase >= high_end and end <= self._period:
            return w.low_v
        high_time = max(min(end, high_end) - self._phase, 0.0)
        if end > self._period:
            high_time = high_time + min(end - self._period, high_end)
        fraction = high_time / self.dt
        if fraction >= 1.0:
            return w.high_v
        if fraction <= 0.0:
            return w.low_v
        return w.low_v + (w.high_v - w.low_v) * fraction

    def _next_period(self, w: Waveform) -> float:
        period = 1.0 / w.frequency_hz
        if w.jitter > 0.0:
            period = period * (1.0 + w.jitter * self._random.symmetric())
        return period


@dataclass(slots=True)
class _Debounced:
    """A value that changes only after ``debounce`` measurements disagree with it."""

    run: int = 0
    onset: int = 0


class ReferenceAnalyser:
    """Pure-Python twin of :class:`evstack.pilot.native.Analyser`."""

    def __init__(
        self,
        sample_rate_hz: float,
        config: AnalyserConfig | None = None,
        *,
        keep_measurements: bool = False,
    ) -> None:
        self.config = cfg = config or AnalyserConfig()
        cfg.validate(sample_rate_hz)
        self.sample_rate_hz = fs = float(sample_rate_hz)
        self._keep_measurements = keep_measurements
        self._guard = cfg.guard_samples(fs)
        self._steady_len = math.ceil(cfg.steady_s * fs)
        self._duty_quantum = 1000.0 / fs
        # edge detection and the segment being measured
        self._t = 0
        self._high = False
        self._segment_from_edge = False
        self._edge_at = 0
        self._window_start = 0
        self._sum = 0.0
        self._counted = 0
        self._window_emitted = False
        self._ring = [0.0] * _RING
        # the PWM period being assembled
        self._period_sum = 0.0
        self._have_rise = False
        self._rise_at = 0
        self._have_high = False
        self._fall_at = 0
        self._high_v = 0.0
        # debounced state
        self._state = _UNKNOWN
        self._pending = _UNKNOWN
        self._pending_run = 0
        self._pending_onset = 0
        # debounced PWM
        self._pwm_on = False
        self._duty = 0.0
        self._frequency_hz = 0.0
        n = cfg.debounce
        self._duties = [0.0] * n
        self._frequencies = [0.0] * n
        self._starts = [0] * n
        self._history_next = 0
        self._history_len = 0
        self._steady = _Debounced()
        # debounced faults
        self._faults = PilotFault.NONE
        self._fault_runs = [_Debounced() for _ in _FAULT_BITS]
        self._events: list[PilotEvent] = []
        self._measurements: list[Measurement] = []
        self.last_measurement: Measurement | None = None

    @property
    def position(self) -> int:
        return self._t

    @property
    def state(self) -> PilotState | None:
        return PilotState.from_number(self._state)

    @property
    def faults(self) -> PilotFault:
        return self._faults

    @property
    def duty(self) -> float | None:
        return self._duty if self._pwm_on else None

    def take_measurements(self) -> list[Measurement]:
        taken, self._measurements = self._measurements, []
        return taken

    def feed(self, samples: Sequence[float]) -> list[PilotEvent]:
        data = array("f", samples)
        for i, x in enumerate(data):
            if not math.isfinite(x):
                raise ValueError(f"sample {i} of the chunk is {x}, not a voltage")
        cfg = self.config
        ring = self._ring
        for x in data:
            t = self._t
            if t == 0:
                self._high = x >= 0.0
            ring[t % _RING] = x
            if x < -cfg.schmitt_v if self._high else x > cfg.schmitt_v:
                self._on_edge(not self._high)
            self._period_sum = self._period_sum + x
            if t - self._edge_at >= self._guard:
                self._sum = self._sum + x
                self._counted += 1
            if t + 1 - self._window_start >= self._steady_len:
                self._on_steady_window()
            self._t = t + 1
        events, self._events = self._events, []
        return events

    # -- segments and periods

    def _plateau(self) -> float:
        length = self._t - self._edge_at
        g = self._guard
        if length > 2 * g:
            tail = 0.0
            for j in range(self._t - g, self._t):
                tail = tail + self._ring[j % _RING]
            return (self._sum - tail) / (length - 2 * g)
        lo = self._edge_at + length // 4
        hi = self._t - length // 4
        if hi <= lo:
            hi = lo + 1
        total = 0.0
        for j in range(lo, hi):
            total = total + self._ring[j % _RING]
        return total / (hi - lo)

    def _period_duty(self, period: int, high_v: float, low_v: float) -> float:
        swing = high_v - low_v
        if swing < 2.0 * self.config.schmitt_v:
            return (self._fall_at - self._rise_at) / period
        duty = (self._period_sum / period - low_v) / swing
        return 0.0 if duty < 0.0 else 1.0 if duty > 1.0 else duty

    def _on_edge(self, rising: bool) -> None:
        measurable = self._segment_from_edge and not self._window_emitted
        if not rising:
            self._have_high = self._have_rise and measurable
            if self._have_high:
                self._high_v = self._plateau()
                self._fall_at = self._t
        else:
            if self._have_rise and self._have_high and measurable:
                period = self._t - self._rise_at
                low_v = self._plateau()
                self._take(
                    Measurement(
                        start=self._rise_at,
                        end=self._t,
                        pwm=True,
                        frequency_hz=self.sample_rate_hz / period,
                        duty=self._period_duty(period, self._high_v, low_v),
                        high_v=self._high_v,
                        low_v=low_v,
                    )
                )
            self._have_rise = True
            self._rise_at = self._t
            self._have_high = False
            self._period_sum = 0.0
        self._high = rising
        self._segment_from_edge = True
        self._edge_at = self._window_start = self._t
        self._sum = 0.0
        self._counted = 0
        self._window_emitted = False

    def _on_steady_window(self) -> None:
        mean = self._sum / self._counted
        self._take(
            Measurement(
                start=self._window_start,
                end=self._t + 1,
                pwm=False,
                frequency_hz=0.0,
                duty=1.0 if mean >= 0.0 else 0.0,
                high_v=mean,
                low_v=mean,
            )
        )
        self._window_start = self._t + 1
        self._sum = 0.0
        self._counted = 0
        self._window_emitted = True
        self._have_rise = False
        self._have_high = False

    # -- classification and debouncing

    def _take(self, m: Measurement) -> None:
        self.last_measurement = m
        if self._keep_measurements:
            self._measurements.append(m)
        seen = self._classify(m.high_v if m.pwm else m.low_v, m.pwm)
        self._debounce_state(m, seen)
        self._debounce_pwm(m)
        self._debounce_faults(m, seen)

    def _classify(self, v: float, pwm: bool) -> int:
        states = _STATE_D + 1 if pwm else _STATE_F + 1
        wide = self.config.window_v + self.config.hysteresis_v
        if 0 <= self._state < states and abs(v - _LEVELS[self._state]) <= wide:
            return self._state
        if 0 <= self._pending < states and abs(v - _LEVELS[self._pending]) <= wide:
            return self._pending
        for s in range(states):
            if abs(v - _LEVELS[s]) <= self.config.window_v:
                return s
        return _UNKNOWN

    def _event_times(self, m: Measurement, onset: int) -> tuple[int, int, float, float]:
        return (m.end, onset, m.end / self.sample_rate_hz, onset / self.sample_rate_hz)

    def _debounce_state(self, m: Measurement, seen: int) -> None:
        if seen == self._state:
            self._pending = _UNKNOWN
            self._pending_run = 0
            return
        if seen != self._pending or self._pending_run == 0:
            self._pending = seen
            self._pending_run = 0
            self._pending_onset = m.start
        self._pending_run += 1
        if seen == _UNKNOWN or self._pending_run < self.config.debounce:
            return
        new = PilotState.from_number(seen)
        assert new is not None
        times = self._event_times(m, self._pending_onset)
        self._events.append(StateChanged(*times, new, PilotState.from_number(self._state)))
        self._state = seen
        self._pending = _UNKNOWN
        self._pending_run = 0

    def _debounce_pwm(self, m: Measurement) -> None:
        n = self.config.debounce
        if not m.pwm:
            self._history_len = 0
            if not self._pwm_on:
                return
            if self._steady.run == 0:
                self._steady.onset = m.start
            self._steady.run += 1
            if self._steady.run < n:
                return
            self._events.append(PwmChanged(*self._event_times(m, self._steady.onset), None, None))
            self._pwm_on = False
            self._duty = self._frequency_hz = 0.0
            self._steady.run = 0
            return
        self._steady.run = 0
        k = self._history_next
        self._duties[k], self._frequencies[k], self._starts[k] = m.duty, m.frequency_hz, m.start
        self._history_next = (k + 1) % n
        self._history_len = min(self._history_len + 1, n)
        if self._history_len < n:
            return
        oldest_first = [(self._history_next + i) % n for i in range(n)]
        duties = [self._duties[k] for k in oldest_first]
        duty_sum = frequency_sum = 0.0
        for k in oldest_first:
            duty_sum = duty_sum + self._duties[k]
            frequency_sum = frequency_sum + self._frequencies[k]
        if max(duties) - min(duties) > self.config.duty_deadband + 2.0 * self._duty_quantum:
            return
        duty = duty_sum / n
        deadband = self.config.duty_deadband + self._duty_quantum
        if self._pwm_on and abs(duty - self._duty) <= deadband:
            return
        frequency = frequency_sum / n
        onset = self._starts[self._history_next]
        self._events.append(PwmChanged(*self._event_times(m, onset), duty, frequency))
        self._pwm_on = True
        self._duty = duty
        self._frequency_hz = frequency

    def _debounce_faults(self, m: Measurement, seen: int) -> None:
        cfg = self.config
        raw = PilotFault.NONE
        if seen == _UNKNOWN:
            raw |= PilotFault.INVALID_LEVEL
        if m.pwm:
            if abs(m.low_v - _LOW_PLATEAU_V) > cfg.window_v:
                raw |= PilotFault.DIODE
            if not cfg.min_frequency_hz <= m.frequency_hz <= cfg.max_frequency_hz:
                raw |= PilotFault.FREQUENCY
        elif self._state != _STATE_A:
            raw |= self._faults & PilotFault.DIODE
        flipped = PilotFault.NONE
        onset = m.start
        for bit, run in zip(_FAULT_BITS, self._fault_runs, strict=True):
            if (raw & bit) == (self._faults & bit):
                run.run = 0
                continue
            if run.run == 0:
                run.onset = m.start
            run.run += 1
            if run.run < cfg.debounce:
                continue
            flipped |= bit
            run.run = 0
            onset = min(onset, run.onset)
        if flipped:
            self._faults ^= flipped
            self._events.append(FaultsChanged(*self._event_times(m, onset), self._faults))


def duty_for_current(amps: float) -> float:
    """Pure-Python twin of :func:`evstack.pilot.native.duty_for_current`."""
    if not 6.0 <= amps <= 80.0:
        raise ValueError(f"{amps} A cannot be signalled by PWM: the range is 6-80 A")
    return amps / 0.6 / 100.0 if amps <= 51.0 else (amps / 2.5 + 64.0) / 100.0


def current_for_duty(duty: float) -> DutyReading:
    """Pure-Python twin of :func:`evstack.pilot.native.current_for_duty`."""
    p = duty * 100.0
    e = _PERCENT_SLACK
    if not math.isfinite(p) or p < 3.0 - e or p > 97.0 + e or 7.0 + e < p < 8.0 - e:
        return DutyReading(DutyMeaning.NOT_ALLOWED)
    if p <= 7.0 + e:
        return DutyReading(DutyMeaning.DIGITAL)
    if p < 10.0 - e:
        amps = 6.0
    elif p <= 85.0 + e:
        amps = p * 0.6
    elif p <= 96.0 + e:
        amps = (p - 64.0) * 2.5
    else:
        amps = 80.0
    return DutyReading(DutyMeaning.AMPS, amps)
