"""The waveform synthesiser: levels, PWM, edges, noise, jitter, determinism, C against reference."""

from __future__ import annotations

import math
from array import array
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evstack.pilot import PilotState, Synthesiser, Waveform
from evstack.pilot.reference import ReferenceSynthesiser

MS_PER_S = 1_000_000  # 1 MS/s: one sample per microsecond


def rising_edges(samples: array[float], threshold: float = 0.0) -> list[int]:
    return [i for i in range(1, len(samples)) if samples[i - 1] < threshold <= samples[i]]


@pytest.mark.parametrize("state", list(PilotState))
def test_a_steady_state_is_its_level(state: PilotState) -> None:
    samples = Synthesiser(MS_PER_S).render(Waveform(state.nominal_v), 5000)
    assert set(samples) == {state.nominal_v}


def test_state_f_is_the_low_plateau_held() -> None:
    samples = Synthesiser(MS_PER_S).render(Waveform(9.0, low_v=-12.0, duty=0.0), 5000)
    assert set(samples) == {-12.0}


@pytest.mark.parametrize("duty", [0.05, 0.1, 0.25, 0.5, 0.9, 0.96])
def test_pwm_spends_duty_of_each_period_high(duty: float) -> None:
    samples = Synthesiser(MS_PER_S).render(Waveform(9.0, duty=duty), 10_000)
    assert set(samples) == {9.0, -12.0}
    for start in range(0, 10_000, 1000):
        high = sum(1 for v in samples[start : start + 1000] if v > 0)
        assert abs(high - duty * 1000) <= 1


def test_jitter_keeps_every_period_within_its_bound() -> None:
    jitter = 0.02
    samples = Synthesiser(MS_PER_S, seed=7).render(Waveform(9.0, duty=0.5, jitter=jitter), 200_000)
    periods = [b - a for a, b in pairwise(rising_edges(samples))]
    assert len(periods) > 190
    assert all(1000 * (1 - jitter) - 1 <= p <= 1000 * (1 + jitter) + 1 for p in periods)
    assert len(set(periods)) > 10, "the periods should actually vary"


def test_edges_are_ramps_of_the_given_rise_and_fall_time() -> None:
    waveform = Waveform(12.0, duty=0.5, rise_s=10e-6, fall_s=20e-6)
    samples = Synthesiser(MS_PER_S).render(waveform, 3000)
    steps = [b - a for a, b in pairwise(samples)]
    # 24 V per 10 us upwards, per 20 us downwards, one sample per microsecond.
    assert max(steps) == pytest.approx(2.4, rel=1e-5)
    assert min(steps) == pytest.approx(-1.2, rel=1e-5)
    ramp_up = [v for v in samples[1000:1100] if -12.0 < v < 12.0]
    assert len(ramp_up) in (9, 10)


def test_noise_is_bounded_and_present() -> None:
    clean = Synthesiser(MS_PER_S, seed=3).render(Waveform(6.0, duty=0.3), 20_000)
    noisy = Synthesiser(MS_PER_S, seed=3).render(Waveform(6.0, duty=0.3, noise_v=0.5), 20_000)
    errors = [abs(a - b) for a, b in zip(noisy, clean, strict=True)]
    assert max(errors) <= 0.5 + 1e-6
    assert max(errors) > 0.45
    assert sum(errors) / len(errors) == pytest.approx(0.25, abs=0.02)  # uniform: mean |x| is a/2


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    waveform = Waveform(9.0, duty=0.4, noise_v=0.3, jitter=0.01)
    first = Synthesiser(200_000, seed=11).render(waveform, 10_000)
    assert Synthesiser(200_000, seed=11).render(waveform, 10_000) == first
    assert Synthesiser(200_000, seed=12).render(waveform, 10_000) != first


def test_chunks_join_seamlessly() -> None:
    waveform = Waveform(9.0, duty=0.4, noise_v=0.3, jitter=0.01, rise_s=5e-6)
    whole = Synthesiser(200_000, seed=5).render(waveform, 9_000)
    synth = Synthesiser(200_000, seed=5)
    parts = array("f")
    for n in (1, 999, 3000, 17, 4983):
        parts += synth.render(waveform, n)
    assert parts == whole


@pytest.mark.parametrize(
    "waveform",
    [
        Waveform(9.0, duty=1.5),
        Waveform(9.0, duty=-0.1),
        Waveform(math.nan),
        Waveform(9.0, frequency_hz=0.0),
        Waveform(9.0, jitter=0.5),
        Waveform(9.0, noise_v=-1.0),
        Waveform(9.0, rise_s=math.inf),
    ],
)
def test_an_invalid_waveform_is_refused_and_changes_nothing(waveform: Waveform) -> None:
    good = Waveform(9.0, duty=0.5, noise_v=0.2, jitter=0.01)
    synth = Synthesiser(100_000, seed=1)
    with pytest.raises(ValueError, match="waveform"):
        synth.render(waveform, 100)
    assert synth.render(good, 5000) == Synthesiser(100_000, seed=1).render(good, 5000)


waveforms = st.builds(
    Waveform,
    high_v=st.floats(-13.0, 13.0),
    low_v=st.floats(-13.0, 13.0),
    duty=st.floats(0.0, 1.0),
    frequency_hz=st.floats(500.0, 2000.0),
    rise_s=st.sampled_from([0.0, 1e-6, 7e-6, 1e-5, 3e-5]),
    fall_s=st.sampled_from([0.0, 1e-6, 1.3e-5]),
    noise_v=st.floats(0.0, 2.0),
    jitter=st.floats(0.0, 0.1),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(waveforms, st.integers(0, 3000)), min_size=1, max_size=4),
    st.integers(0, 2**64 - 1),
    st.sampled_from([50_000.0, 200_000.0, 1_000_000.0]),
)
def test_c_and_reference_draw_identical_samples(
    pieces: list[tuple[Waveform, int]], seed: int, sample_rate_hz: float
) -> None:
    fast, slow = Synthesiser(sample_rate_hz, seed), ReferenceSynthesiser(sample_rate_hz, seed)
    for waveform, count in pieces:
        assert fast.render(waveform, count) == slow.render(waveform, count)


def test_a_sample_straddling_an_edge_averages_its_interval() -> None:
    # 100 kS/s: 10 us per sample; 0.2533 duty puts the falling edge 3.3 us into sample 25.
    samples = Synthesiser(100_000.0).render(Waveform(9.0, duty=0.2533), 100)
    assert samples[24] == 9.0
    assert samples[25] == pytest.approx(-12.0 + 21.0 * 0.33, abs=1e-4)
    assert samples[26] == -12.0


@pytest.mark.parametrize("sample_rate_hz", [0.0, -1.0, math.nan, math.inf])
def test_an_impossible_sample_rate_is_refused(sample_rate_hz: float) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        Synthesiser(sample_rate_hz)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot render -1"):
        Synthesiser(100_000.0).render(Waveform(9.0), -1)
