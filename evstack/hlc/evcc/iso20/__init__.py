"""ISO 15118-20 DC with EIM and the scheduled control mode, EV side."""

from evstack.hlc.evcc.iso20.flow import Iso20DcFlow

__all__ = ["Iso20DcFlow"]
