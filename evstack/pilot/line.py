"""A simulated control-pilot line with an EVSE at one end and an EV at the other.

The EVSE side drives a +-12 V generator through R1 = 1 kOhm (steady +12 V, PWM, -12 V, or
0 V); the EV side hangs a diode and its state resistors on the line. The plateau voltages
follow from that circuit, the synthesiser draws the samples and the analyser reads them, so
the states a simulated EvseManager sees come from the waveform, not from a shortcut.

A board simulator calls the ``evse_*`` and ``ev_*`` setters as its two sides act, then
:meth:`PilotLine.run` for each tick of simulated time and forwards the returned events.
"""

from __future__ import annotations

from dataclasses import dataclass

from evstack.pilot.native import Analyser, Synthesiser, current_for_duty
from evstack.pilot.types import (
    AnalyserConfig,
    DutyReading,
    PilotEvent,
    PilotFault,
    PilotState,
    Waveform,
)

R1_OHM = 1000.0
DIODE_DROP_V = 0.7


def _parallel(*ohms: float) -> float:
    return 1.0 / sum(1.0 / r for r in ohms)


EV_RESISTANCE_OHM = {
    PilotState.B: 2740.0,
    PilotState.C: _parallel(2740.0, 1300.0),
    PilotState.D: _parallel(2740.0, 270.0),
}
"""Nominal EV-side resistance between pilot and PE for the states an EV can ask for."""


@dataclass(frozen=True, slots=True)
class LineFlaws:
    """What makes a real line differ from the ideal one."""

    generator_v: float = 12.0  # the standard allows +-5 %
    frequency_hz: float = 1000.0  # allowed 980-1020 Hz
    rise_s: float = 2e-6  # per 24 V swing; the standard asks < 10 us (B) and < 7 us (C)
    fall_s: float = 2e-6  # < 13 us
    noise_v: float = 0.0  # peak uniform noise
    jitter: float = 0.0  # peak relative period deviation


class PilotLine:
    """One control-pilot line, simulated sample by sample."""

    def __init__(
        self,
        sample_rate_hz: float = 200_000.0,
        *,
        seed: int = 0,
        flaws: LineFlaws | None = None,
        config: AnalyserConfig | None = None,
        chunk_s: float = 0.01,
    ) -> None:
        self.flaws = flaws or LineFlaws()
        self.sample_rate_hz = sample_rate_hz
        self.analyser = Analyser(sample_rate_hz, config)
        self._synth = Synthesiser(sample_rate_hz, seed)
        self._chunk = max(1, round(chunk_s * sample_rate_hz))
        self._elapsed_s = 0.0
        # EVSE side: duty 1 is steady +12 V (X1), 0 is steady -12 V (F); powered False is E.
        self._duty = 1.0
        self._powered = True
        # EV side: None while unplugged.
        self._ev_ohm: float | None = None
        self._diode = True
        self._shorted = False

    # -- EVSE side, named after the board-support commands

    def evse_x1(self) -> None:
        """Steady +12 V: no PWM (states A1, B1, C1)."""
        self._duty, self._powered = 1.0, True

    def evse_pwm(self, duty: float) -> None:
        """1 kHz PWM at ``duty`` (a fraction, 0 < duty < 1)."""
        if not 0.0 < duty < 1.0:
            raise ValueError(f"PWM duty must be within (0, 1), got {duty}; use evse_x1/evse_f")
        self._duty, self._powered = duty, True

    def evse_f(self) -> None:
        """Steady -12 V: EVSE not available (state F)."""
        self._duty, self._powered = 0.0, True

    def evse_e(self) -> None:
        """Generator off: the line sits at 0 V (state E)."""
        self._powered = False

    # -- EV side

    def ev_plug(self, state: PilotState = PilotState.B) -> None:
        """Plug in an EV presenting the nominal resistance of ``state`` (B, C or D)."""
        self.ev_state(state)

    def ev_state(self, state: PilotState) -> None:
        """Switch the EV's resistors to ask for ``state`` (B, C or D)."""
        if state not in EV_RESISTANCE_OHM:
            raise ValueError(f"an EV can only present B, C or D, not {state}")
        self._ev_ohm = EV_RESISTANCE_OHM[state]

    def ev_resistance(self, ohms: float) -> None:
        """Present any resistance, e.g. one at the edge of the standard's tolerance."""
        if not ohms > 0.0:
            raise ValueError(f"resistance must be positive, got {ohms}")
        self._ev_ohm = ohms

    def ev_unplug(self) -> None:
        self._ev_ohm = None

    def ev_diode(self, present: bool) -> None:
        """Fit or remove the EV's diode; without it the negative half collapses (diode fault)."""
        self._diode = present

    def short_to_pe(self, shorted: bool) -> None:
        """Short the pilot to PE: the line reads 0 V (state E) whatever both sides do."""
        self._shorted = shorted

    # -- running

    @property
    def waveform(self) -> Waveform:
        """What the line carries with both sides as they are now."""
        high, low = self._plateaus()
        f = self.flaws
        return Waveform(
            high_v=high,
            low_v=low,
            duty=self._duty,
            frequency_hz=f.frequency_hz,
            rise_s=f.rise_s,
            fall_s=f.fall_s,
            noise_v=f.noise_v,
            jitter=f.jitter,
        )

    def run(self, seconds: float) -> list[PilotEvent]:
        """Simulate the next ``seconds`` and return what the analyser reported meanwhile.

        Time is kept as a sample count, so many short runs add up to exactly one long one.
        """
        if not seconds >= 0.0:
            raise ValueError(f"cannot run for {seconds} s")
        self._elapsed_s += seconds
        remaining = round(self._elapsed_s * self.sample_rate_hz) - self.analyser.position
        waveform = self.waveform
        events: list[PilotEvent] = []
        while remaining > 0:
            n = min(remaining, self._chunk)
            events += self.analyser.feed(self._synth.render(waveform, n))
            remaining -= n
        return events

    @property
    def time_s(self) -> float:
        """Simulated time so far, as the analyser counts it."""
        return self.analyser.position / self.sample_rate_hz

    @property
    def state(self) -> PilotState | None:
        """The debounced state the analyser reports."""
        return self.analyser.state

    @property
    def duty(self) -> float | None:
        """The PWM duty the analyser reports, ``None`` without PWM."""
        return self.analyser.duty

    @property
    def faults(self) -> PilotFault:
        return self.analyser.faults

    @property
    def ev_reading(self) -> DutyReading | None:
        """What the EV makes of the PWM it sees; ``None`` while there is no PWM."""
        duty = self.analyser.duty
        return None if duty is None else current_for_duty(duty)

    def _plateaus(self) -> tuple[float, float]:
        """Line voltage while the generator is high and while it is low."""
        g = self.flaws.generator_v
        if self._shorted or not self._powered:
            return 0.0, 0.0
        r = self._ev_ohm
        if r is None:
            return g, -g
        if not self._diode:
            v = g * r / (r + R1_OHM)
            return v, -v
        # Forward through the diode into R; reverse-biased on the negative half.
        return (g * r + DIODE_DROP_V * R1_OHM) / (r + R1_OHM), -g
