"""DIN 70121 DC, EV side."""

from evstack.hlc.evcc.din.flow import DinFlow

__all__ = ["DinFlow"]
