"""The analyser: measurements, classification, debouncing, events and faults."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from evstack.pilot import (
    Analyser,
    AnalyserConfig,
    FaultsChanged,
    PilotFault,
    PilotState,
    PwmChanged,
    StateChanged,
    Waveform,
)
from evstack.pilot.reference import ReferenceAnalyser

from .helpers import duties, pwm, script, states, steady

A, B, C, D, E, F = PilotState
FS = 200_000.0
FLAWS = {"rise_s": 5e-6, "fall_s": 8e-6, "noise_v": 0.3, "jitter": 0.01}


@pytest.mark.parametrize(
    ("sample_rate_hz", "duty", "tolerance"),
    [(1_000_000.0, 0.25, 0.002), (1_000_000.0, 0.05, 0.002), (200_000.0, 0.5, 0.01)],
)
def test_measures_frequency_duty_and_plateaus(
    sample_rate_hz: float, duty: float, tolerance: float
) -> None:
    analyser = Analyser(sample_rate_hz, keep_measurements=True)
    waveform = Waveform(9.0, duty=duty, frequency_hz=990.0, rise_s=5e-6, fall_s=5e-6, noise_v=0.2)
    analyser.feed(script([(waveform, 0.05)], sample_rate_hz))
    periods = [m for m in analyser.take_measurements() if m.pwm][2:]
    assert len(periods) > 40
    for m in periods:
        assert m.frequency_hz == pytest.approx(990.0, abs=990.0 * 2.0 * 1000 / sample_rate_hz)
        assert m.duty == pytest.approx(duty, abs=tolerance)
        assert m.high_v == pytest.approx(9.0, abs=0.2)
        assert m.low_v == pytest.approx(-12.0, abs=0.1)
        assert m.end - m.start == pytest.approx(sample_rate_hz / 990.0, abs=1)


def test_a_steady_line_is_measured_in_windows() -> None:
    analyser = Analyser(FS, keep_measurements=True)
    analyser.feed(script([(steady(C, noise_v=0.5), 0.03)], FS))
    windows = analyser.take_measurements()
    assert len(windows) == 20  # 30 ms in 1.5 ms windows
    assert all(not m.pwm and m.frequency_hz == 0.0 and m.duty == 1.0 for m in windows)
    assert all(m.high_v == m.low_v == pytest.approx(6.0, abs=0.1) for m in windows)


@pytest.mark.parametrize("state", list(PilotState))
def test_each_steady_level_is_its_state(state: PilotState) -> None:
    analyser = Analyser(FS)
    events = analyser.feed(script([(steady(state, noise_v=0.5), 0.05)], FS))
    assert events == [StateChanged(events[0].sample, 0, events[0].time_s, 0.0, state, None)]
    assert analyser.state is state
    assert analyser.duty is None
    assert analyser.faults == PilotFault.NONE


@pytest.mark.parametrize("state", [A, B, C, D])
@pytest.mark.parametrize("duty", [0.05, 0.1, 0.533, 0.96])
def test_a_pwm_level_is_its_state_and_duty(state: PilotState, duty: float) -> None:
    analyser = Analyser(FS)
    events = analyser.feed(script([(pwm(state, duty, **FLAWS), 0.05)], FS))
    assert states(events) == [state]
    (reported,) = duties(events)
    assert reported == pytest.approx(duty, abs=0.01)
    assert analyser.duty == reported
    assert analyser.faults == PilotFault.NONE


def test_a_charging_session_reads_as_the_standard_says() -> None:
    pieces = [
        (steady(A, **FLAWS), 0.1),  # A1
        (steady(B, **FLAWS), 0.1),  # B1: plugged in
        (pwm(B, 0.16, **FLAWS), 0.1),  # B2: EVSE offers 10 A
        (pwm(C, 0.16, **FLAWS), 0.1),  # C2: EV charges
        (pwm(C, 0.5, **FLAWS), 0.1),  # C2: 30 A
        (pwm(B, 0.5, **FLAWS), 0.1),  # B2: EV stops
        (steady(B, **FLAWS), 0.1),  # B1
        (steady(A, **FLAWS), 0.1),  # unplugged
    ]
    events = Analyser(FS).feed(script(pieces, FS))
    assert states(events) == [A, B, C, B, A]
    assert [None if d is None else round(d, 2) for d in duties(events)] == [0.16, 0.5, None]
    assert not [e for e in events if isinstance(e, FaultsChanged)]
    changes = [e for e in events if isinstance(e, StateChanged)]
    assert [e.previous for e in changes] == [None, A, B, C, B]
    for event, true_onset in zip(changes[1:], [0.1, 0.3, 0.5, 0.7], strict=True):
        assert event.onset_s == pytest.approx(true_onset, abs=0.0025)  # within ~2 periods
        assert event.time_s - true_onset <= 0.05


def test_short_glitches_are_filtered_and_short_states_reported() -> None:
    pieces = [
        (pwm(B, 0.5, **FLAWS), 0.1),
        (pwm(C, 0.5, **FLAWS), 0.002),  # 2 ms: noise, not a state
        (pwm(B, 0.5, **FLAWS), 0.1),
        (pwm(C, 0.5, **FLAWS), 0.15),  # a 150 ms C glitch is real
        (pwm(B, 0.5, **FLAWS), 0.1),
    ]
    assert states(Analyser(FS).feed(script(pieces, FS))) == [B, C, B]


def test_hysteresis_holds_a_state_in_the_gap_between_windows() -> None:
    # 10.3 V is in neither A's (11-13) nor B's (8-10) window, but within B's widened one.
    pieces = [(steady(B, noise_v=0.3), 0.05), (Waveform(10.3, low_v=10.3, noise_v=0.05), 0.2)]
    analyser = Analyser(FS)
    assert states(analyser.feed(script(pieces, FS))) == [B]
    assert analyser.faults == PilotFault.NONE


def test_a_level_outside_every_window_is_an_invalid_level_fault() -> None:
    pieces = [(steady(B), 0.05), (Waveform(-6.0, low_v=-6.0), 0.05), (steady(B), 0.05)]
    events = Analyser(FS).feed(script(pieces, FS))
    assert states(events) == [B]
    faults = [e.faults for e in events if isinstance(e, FaultsChanged)]
    assert faults == [PilotFault.INVALID_LEVEL, PilotFault.NONE]


def test_a_missing_diode_is_a_diode_fault_until_unplugged() -> None:
    no_diode = {**FLAWS, "noise_v": 0.2}
    pieces = [
        (pwm(B, 0.5, **FLAWS), 0.05),
        (Waveform(8.8, low_v=-8.8, duty=0.5, **no_diode), 0.05),  # the EV's diode fails
        (Waveform(-12.0, low_v=-12.0, **FLAWS), 0.05),  # EVSE answers with state F
        (steady(A, **FLAWS), 0.05),  # unplugged
    ]
    events = Analyser(FS).feed(script(pieces, FS))
    faults = [e for e in events if isinstance(e, FaultsChanged)]
    assert [e.faults for e in faults] == [PilotFault.DIODE, PilotFault.NONE]
    assert faults[0].onset_s == pytest.approx(0.05, abs=0.002)
    assert faults[1].time_s > 0.15  # held through state F, cleared only in A
    assert states(events) == [B, F, A]


def test_a_short_to_pe_is_state_e() -> None:
    pieces = [(pwm(C, 0.5, **FLAWS), 0.05), (steady(E, noise_v=0.3), 0.05)]
    events = Analyser(FS).feed(script(pieces, FS))
    assert states(events) == [C, E]
    assert duties(events) == [pytest.approx(0.5, abs=0.01), None]


def test_a_frequency_outside_the_allowed_range_is_a_fault() -> None:
    pieces = [(pwm(B, 0.5), 0.05), (Waveform(9.0, duty=0.5, frequency_hz=900.0), 0.05)]
    events = Analyser(FS).feed(script(pieces, FS))
    assert [e.faults for e in events if isinstance(e, FaultsChanged)] == [PilotFault.FREQUENCY]


def test_a_small_duty_wobble_is_not_reported_but_a_real_change_is() -> None:
    pieces = [(pwm(C, 0.5), 0.05), (pwm(C, 0.503), 0.05), (pwm(C, 0.52), 0.05)]
    events = Analyser(FS).feed(script(pieces, FS))
    assert duties(events) == [pytest.approx(0.5, abs=0.002), pytest.approx(0.52, abs=0.002)]
    assert all(isinstance(e, PwmChanged) for e in events[1:])


def test_chunking_changes_nothing() -> None:
    pieces = [(steady(A, **FLAWS), 0.05), (pwm(B, 0.3, **FLAWS), 0.05), (pwm(C, 0.1), 0.05)]
    samples = script(pieces, FS, seed=9)
    whole = Analyser(FS).feed(samples)
    analyser, chunked, rng, i = Analyser(FS), [], random.Random(1), 0
    while i < len(samples):
        n = rng.choice([1, 2, 7, 199, 1000, 4096])
        chunked += analyser.feed(samples[i : i + n])
        i += n
    assert chunked == whole


def test_a_non_finite_sample_is_refused_and_nothing_is_lost() -> None:
    samples = script([(steady(A), 0.02), (pwm(B, 0.5), 0.05)], FS)
    reference = Analyser(FS).feed(samples)
    analyser = Analyser(FS)
    first = analyser.feed(samples[:4000])
    bad = samples[4000:5000]
    bad[10] = math.nan
    with pytest.raises(ValueError, match="sample 10 "):
        analyser.feed(bad)
    assert analyser.position == 4000
    assert first + analyser.feed(samples[4000:]) == reference


def test_a_huge_chunk_delivers_every_event_and_measurement() -> None:
    fs = 20_000.0
    toggles = [(steady(B if i % 2 else C), 0.01) for i in range(1000)]  # 1000 states, 10 s
    samples = script(toggles, fs)
    analyser = Analyser(fs, keep_measurements=True)
    events = analyser.feed(samples)
    assert len(states(events)) == 1000
    assert len(analyser.take_measurements()) == len(samples) // 30  # 1.5 ms windows


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (AnalyserConfig(window_v=1.2, hysteresis_v=0.4), "below 1.5 V"),
        (AnalyserConfig(debounce=0), "debounce"),
        (AnalyserConfig(debounce=33), "debounce"),
        (AnalyserConfig(settle_s=1e-3), "settle_s"),
        (AnalyserConfig(steady_s=1e-5), "steady_s"),
        (AnalyserConfig(min_frequency_hz=1100.0), "frequency range"),
        (AnalyserConfig(schmitt_v=math.nan), "finite"),
    ],
)
def test_unusable_settings_are_refused_with_a_reason(config: AnalyserConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Analyser(FS, config)
    with pytest.raises(ValueError, match=message):
        ReferenceAnalyser(FS, config)


def test_c_and_reference_agree_on_a_rough_session() -> None:
    rough = {"rise_s": 9e-6, "fall_s": 12e-6, "noise_v": 0.6, "jitter": 0.02}
    pieces = [
        (steady(A, **rough), 0.02),
        (pwm(B, 0.05, **rough), 0.02),
        (pwm(C, 0.05, **rough), 0.02),
        (pwm(C, 0.96, **rough), 0.02),
        (Waveform(6.0, low_v=-6.0, duty=0.3, **rough), 0.02),
        (Waveform(10.4, low_v=10.4, **rough), 0.02),
        (steady(E, **rough), 0.02),
        (steady(F, **rough), 0.02),
        (pwm(D, 0.5, **{**rough, "frequency_hz": 700.0}), 0.02),
    ]
    for sample_rate_hz in (50_000.0, 200_000.0, 1_000_000.0):
        samples = script(pieces, sample_rate_hz, seed=int(sample_rate_hz))
        fast = Analyser(sample_rate_hz, keep_measurements=True)
        slow = ReferenceAnalyser(sample_rate_hz, keep_measurements=True)
        events = fast.feed(samples)
        assert len(events) > 10
        assert events == slow.feed(samples)
        assert fast.take_measurements() == slow.take_measurements()
        assert fast.last_measurement == slow.last_measurement
        assert (fast.state, fast.duty, fast.faults, fast.position) == (
            slow.state,
            slow.duty,
            slow.faults,
            slow.position,
        )


def test_feed_accepts_plain_sequences() -> None:
    values = list(script([(steady(D), 0.02)], FS))
    assert states(Analyser(FS).feed(values)) == [D]
    assert states(Analyser(FS).feed(array("d", values))) == [D]


def test_an_empty_chunk_is_a_no_op() -> None:
    analyser = Analyser(FS)
    assert analyser.feed(array("f")) == []
    assert analyser.feed([]) == []
    assert analyser.position == 0
    assert analyser.state is None


def test_the_last_measurement_is_there_for_telemetry() -> None:
    analyser = Analyser(FS)
    before = analyser.last_measurement
    assert before is None
    analyser.feed(script([(pwm(C, 0.5), 0.02)], FS))
    last = analyser.last_measurement
    assert last is not None
    assert last.pwm
    assert (last.high_v, last.low_v, last.duty) == (6.0, -12.0, 0.5)
    assert last.end <= analyser.position


@pytest.mark.parametrize("with_pwm", [True, False])
def test_blips_under_4_ms_are_never_states_and_10_ms_always_are(with_pwm: bool) -> None:
    def line(state: PilotState) -> Waveform:
        return pwm(state, 0.5) if with_pwm else steady(state)

    for shift_s in [i * 0.00005 for i in range(30)]:
        blip = [(line(B), 0.05 + shift_s), (line(C), 0.0039), (line(B), 0.05)]
        assert states(Analyser(FS).feed(script(blip, FS))) == [B]
        short_state = [(line(B), 0.05 + shift_s), (line(C), 0.010), (line(B), 0.05)]
        assert states(Analyser(FS).feed(script(short_state, FS))) == [B, C, B]
