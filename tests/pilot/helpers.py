"""Shared helpers for the pilot tests: scripted waveforms and event filters."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from evstack.pilot import PilotEvent, PilotState, PwmChanged, StateChanged, Synthesiser, Waveform


def script(
    pieces: Sequence[tuple[Waveform, float]], sample_rate_hz: float, seed: int = 0
) -> array[float]:
    """Samples for each (waveform, seconds) in turn, as one stream."""
    synth = Synthesiser(sample_rate_hz, seed)
    samples = array("f")
    for waveform, seconds in pieces:
        samples += synth.render(waveform, round(seconds * sample_rate_hz))
    return samples


def states(events: Sequence[PilotEvent]) -> list[PilotState]:
    return [e.state for e in events if isinstance(e, StateChanged)]


def duties(events: Sequence[PilotEvent]) -> list[float | None]:
    return [e.duty for e in events if isinstance(e, PwmChanged)]


def pwm(state: PilotState, duty: float, **flaws: float) -> Waveform:
    """``state``'s level with 1 kHz PWM at ``duty``."""
    return Waveform(state.nominal_v, duty=duty, **flaws)


def steady(state: PilotState, **flaws: float) -> Waveform:
    """``state``'s level held without PWM."""
    return Waveform(state.nominal_v, low_v=state.nominal_v, **flaws)
