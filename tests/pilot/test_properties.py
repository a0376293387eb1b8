"""Property tests: within tolerance the analyser is never wrong, never late, never deaf.

"Within tolerance" means every plateau stays inside the standard's +-1 V window: a level
offset (generator tolerance, resistor spread) plus peak noise of at most 0.9 V, edges within
the standard's rise and fall times, and frequency jitter that keeps periods within
980-1020 Hz. Time is simulated: latency is counted in samples, never measured on a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evstack.pilot import Analyser, FaultsChanged, PilotState, StateChanged, Waveform
from evstack.pilot.reference import ReferenceAnalyser

from .helpers import script, states

A, B, C, D, E, F = PilotState
LATENCY_LIMIT_S = 0.05


@dataclass(frozen=True)
class Segment:
    state: PilotState
    waveform: Waveform
    seconds: float


@st.composite
def sessions(draw: st.DrawFn, min_s: float = 0.15, max_s: float = 0.4) -> list[Segment]:
    """2-6 segments of distinct consecutive states on one line, each 150-400 ms by default."""
    noise_v = draw(st.floats(0.0, 0.4))
    offsets = st.floats(-0.5, 0.5)
    line = {
        "noise_v": noise_v,
        "rise_s": draw(st.floats(0.0, 10e-6)),
        "fall_s": draw(st.floats(0.0, 13e-6)),
        "jitter": draw(st.floats(0.0, 0.01)),
        "frequency_hz": draw(st.floats(990.0, 1010.0)),
    }
    segments: list[Segment] = []
    for _ in range(draw(st.integers(2, 6))):
        previous = segments[-1].state if segments else None
        state = draw(st.sampled_from([s for s in PilotState if s is not previous]))
        high = state.nominal_v + draw(offsets)
        if state in (A, B, C, D) and draw(st.booleans()):
            low = -12.0 + draw(offsets)
            waveform = Waveform(high, low_v=low, duty=draw(st.floats(0.05, 0.96)), **line)
        else:
            waveform = Waveform(high, low_v=high, **line)
        segments.append(Segment(state, waveform, draw(st.floats(min_s, max_s))))
    return segments


def run(segments: list[Segment], sample_rate_hz: float, seed: int) -> list[StateChanged]:
    samples = script([(s.waveform, s.seconds) for s in segments], sample_rate_hz, seed)
    events = Analyser(sample_rate_hz).feed(samples)
    assert not [e for e in events if isinstance(e, FaultsChanged)], "no fault within tolerance"
    return [e for e in events if isinstance(e, StateChanged)]


@settings(max_examples=60, deadline=None)
@given(sessions(), st.sampled_from([200_000.0, 500_000.0, 1_000_000.0]), st.integers(0, 2**32))
def test_every_state_is_reported_right_and_within_50_ms(
    segments: list[Segment], sample_rate_hz: float, seed: int
) -> None:
    changes = run(segments, sample_rate_hz, seed)
    assert [e.state for e in changes] == [s.state for s in segments]
    true_onset = 0  # in samples, counted as script() renders them
    for segment, event in zip(segments, changes, strict=True):
        latency = event.sample - true_onset
        assert 0 <= latency <= LATENCY_LIMIT_S * sample_rate_hz
        # The onset is the first measurement of the new state: at most one steady window
        # early (it straddles the change), at most a few periods late.
        assert -0.0015 * sample_rate_hz <= event.onset_sample - true_onset
        assert event.onset_sample - true_onset <= 0.004 * sample_rate_hz
        true_onset += round(segment.seconds * sample_rate_hz)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.2, 0.4), min_size=2, max_size=6), st.floats(0.0, 0.4))
def test_bcb_toggles_are_all_reported(pulses: list[float], noise_v: float) -> None:
    """ISO 15118-3 wake-up: the EV toggles B-C-B with 200-400 ms pulses under 5 % PWM."""
    b = Waveform(9.0, duty=0.05, noise_v=noise_v, rise_s=5e-6, fall_s=5e-6)
    c = Waveform(6.0, duty=0.05, noise_v=noise_v, rise_s=5e-6, fall_s=5e-6)
    pieces = [(b if i % 2 == 0 else c, seconds) for i, seconds in enumerate(pulses)]
    samples = script(pieces, 200_000.0)
    expected = [B if i % 2 == 0 else C for i in range(len(pulses))]
    assert states(Analyser(200_000.0).feed(samples)) == expected


@settings(max_examples=15, deadline=None)
@given(sessions(min_s=0.01, max_s=0.06), st.integers(0, 2**32))
def test_c_and_reference_agree_on_random_sessions(segments: list[Segment], seed: int) -> None:
    samples = script([(s.waveform, s.seconds) for s in segments], 100_000.0, seed)
    fast = Analyser(100_000.0, keep_measurements=True)
    slow = ReferenceAnalyser(100_000.0, keep_measurements=True)
    assert fast.feed(samples) == slow.feed(samples)
    assert fast.take_measurements() == slow.take_measurements()


@pytest.mark.parametrize("state", [B, C, D])
def test_detection_latency_at_the_edge_of_tolerance(state: PilotState) -> None:
    """From A, with the worst offset and noise the property allows, at the lowest rate used."""
    pieces = [
        (Waveform(12.5, low_v=12.5, noise_v=0.4), 0.1),
        (Waveform(state.nominal_v - 0.5, low_v=-11.5, duty=0.05, noise_v=0.4), 0.1),
    ]
    events = Analyser(200_000.0).feed(script(pieces, 200_000.0))
    assert not [e for e in events if isinstance(e, FaultsChanged)]
    first, second = (e for e in events if isinstance(e, StateChanged))
    assert (first.state, second.state) == (A, state)
    assert second.time_s - 0.1 <= LATENCY_LIMIT_S


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.05, 0.96),
    st.sampled_from([B, C, D]),
    st.floats(0.0, 0.4),
    st.floats(0.0, 10e-6),
    st.sampled_from([100_000.0, 200_000.0, 1_000_000.0]),
)
def test_the_reported_duty_is_the_signalled_one(
    duty: float, state: PilotState, noise_v: float, ramp_s: float, sample_rate_hz: float
) -> None:
    """Within 0.1 % of duty (0.06 A), even where one sample is 1 % of a period."""
    waveform = Waveform(
        state.nominal_v, duty=duty, noise_v=noise_v, rise_s=ramp_s, fall_s=ramp_s, jitter=0.005
    )
    analyser = Analyser(sample_rate_hz)
    analyser.feed(script([(waveform, 0.03)], sample_rate_hz))
    assert analyser.duty == pytest.approx(duty, abs=0.001)
