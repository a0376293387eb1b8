"""ISO 15118-2 AC and DC with EIM, EV side."""

from evstack.hlc.evcc.iso2.flow import Iso2Flow

__all__ = ["Iso2Flow"]
