"""The energy an EVSE has delivered, counted from its meter's register without ever going back.

A meter's energy register only grows. When a reading is lower than the one before, the meter
was reset, replaced, or restarted without its memory (a simulated board that forgot its
count): that is a meter fault, not negative energy. The register here then keeps what it had
counted and goes on from the new reading, so a transaction's energy is never negative and
what was counted before the fault is never lost. While the meter behaves, the register equals
the meter's own reading: the offset only moves at a fault.
"""

from __future__ import annotations

import msgspec

__all__ = ["EnergyRegister"]


class EnergyRegister(msgspec.Struct):
    """Watt-hours imported, as the EVSE counts them; persisted with the EVSE's state."""

    offset_wh: float = 0.0  # what earlier meter faults would have lost
    last_meter_wh: float | None = None  # the meter's own register at the last reading
    faults: int = 0

    @property
    def total_wh(self) -> float:
        return self.offset_wh + (self.last_meter_wh or 0.0)

    def read(self, meter_wh: float) -> bool:
        """Take a meter reading; True if it went backwards (a meter fault)."""
        last = self.last_meter_wh
        fault = last is not None and meter_wh < last
        if fault:
            assert last is not None
            # Keep what was counted; the new register value starts from there.
            self.offset_wh += last
            self.faults += 1
        self.last_meter_wh = meter_wh
        return fault
