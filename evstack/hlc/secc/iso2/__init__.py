"""ISO 15118-2 AC and DC (external identification), SECC side."""

from evstack.hlc.secc.iso2.machine import EXPECTED, Iso2Secc

__all__ = ["EXPECTED", "Iso2Secc"]
