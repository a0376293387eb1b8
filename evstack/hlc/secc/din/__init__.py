"""DIN 70121 DC (external identification), SECC side."""

from evstack.hlc.secc.din.machine import EXPECTED, DinSecc
from evstack.hlc.secc.machine import Reply, State

__all__ = ["EXPECTED", "DinSecc", "Reply", "State"]
