"""ISO 15118-20 AC and DC with EIM and the scheduled control mode, EV side."""

from evstack.hlc.evcc.iso20.flow import Iso20Flow

__all__ = ["Iso20Flow"]
