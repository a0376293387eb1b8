"""The control pilot (IEC 61851-1): synthesise it, analyse it, convert duty and current.

The analysis runs in C (``ext/pilot/``); :mod:`evstack.pilot.reference` is the same analysis
in plain Python, kept for the tests. :class:`PilotLine` joins an EVSE's generator and an
EV's load on one simulated line, which is what a board simulator needs.
"""

from evstack.pilot.line import EV_RESISTANCE_OHM, LineFlaws, PilotLine
from evstack.pilot.native import Analyser, Synthesiser, current_for_duty, duty_for_current
from evstack.pilot.types import (
    DIGITAL_COMMUNICATION_DUTY,
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

__all__ = [
    "DIGITAL_COMMUNICATION_DUTY",
    "EV_RESISTANCE_OHM",
    "Analyser",
    "AnalyserConfig",
    "DutyMeaning",
    "DutyReading",
    "FaultsChanged",
    "LineFlaws",
    "Measurement",
    "PilotEvent",
    "PilotFault",
    "PilotLine",
    "PilotState",
    "PwmChanged",
    "StateChanged",
    "Synthesiser",
    "Waveform",
    "current_for_duty",
    "duty_for_current",
]
