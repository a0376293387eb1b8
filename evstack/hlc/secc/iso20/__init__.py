"""ISO 15118-20 DC (EIM, scheduled control mode), SECC side."""

from evstack.hlc.secc.iso20.machine import EXPECTED, Iso20DcSecc

__all__ = ["EXPECTED", "Iso20DcSecc"]
