"""SLAC: matching an EV with the charger it is plugged into (ISO 15118-3 Annex A).

messages    the HomePlug Green PHY management messages, bytes both ways
timing      the standard's timers and counters
core        events and the timer/outbox machinery both sides share
ev, evse    the two state machines (sans-IO)
modem       an emulated Green PHY modem, for links without one
link        SimulatedLink: many stations, an attenuation per pair, simulated time
rawsocket   the cores on a real interface (AF_PACKET)
"""

from evstack.hlc.slac.core import LinkLost, Matched, MatchFailed, SlacEvent, SlacInitTimeout
from evstack.hlc.slac.ev import EvSlac, EvState
from evstack.hlc.slac.evse import EvseSlac, EvseState
from evstack.hlc.slac.link import SimulatedLink
from evstack.hlc.slac.modem import EmulatedModem

__all__ = [
    "EmulatedModem",
    "EvSlac",
    "EvState",
    "EvseSlac",
    "EvseState",
    "LinkLost",
    "MatchFailed",
    "Matched",
    "SimulatedLink",
    "SlacEvent",
    "SlacInitTimeout",
]
