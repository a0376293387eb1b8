"""How an EVCC is set up: which protocols it offers, AC or DC, and its pacing."""

from __future__ import annotations

import dataclasses
from typing import Literal

from evstack.hlc.evcc.timing import Timing


@dataclasses.dataclass(frozen=True)
class EvccConfig:
    # Offered in SupportedAppProtocolReq in this order (priority 1 first): "iso20" (TLS 1.3
    # by the standard), "iso2", "din" (DC only).
    protocols: tuple[str, ...] = ("iso2", "din")
    energy: Literal["AC", "DC"] = "DC"
    evcc_id: str = "0a0000000001"  # the EV's MAC, hex
    ac_transfer_mode: str = "AC_three_phase_core"
    dc_transfer_mode: str = "DC_extended"
    # Pause between two requests of a loop (charge loop, Ongoing, precharge), as cars pace them.
    loop_interval: float = 0.1
    welding_checks: int = 3  # WeldingDetectionReqs at most while the inlet stays live
    precharge_tolerance: float = 20.0  # V between the charger's voltage and the battery's
    energy_request_wh: float | None = None  # ISO-2 / DIN EVEnergyRequest; None: to target SoC
    departure_time: int | None = None  # s from now (ISO-2 DepartureTime)
    # ISO-20 DC_BPT: the EV can give energy back when asked (EvccSession.discharge).
    bidirectional: bool = False
    # ISO-20: the control mode the EV selects where the charger offers it (else the other):
    # scheduled (the EV sets its targets) or dynamic (the charger sets the power).
    control_mode: Literal["scheduled", "dynamic"] = "scheduled"
    timing: Timing = dataclasses.field(default_factory=Timing)

    def __post_init__(self) -> None:
        unknown = set(self.protocols) - {"din", "iso2", "iso20"}
        if unknown or not self.protocols:
            raise ValueError(f"protocols: from iso20, iso2 and din, got {self.protocols}")
        if self.bidirectional and "iso20" not in self.protocols:
            raise ValueError("bidirectional: ISO-20 only (AC_BPT, DC_BPT)")
        if self.energy == "AC" and self.protocols == ("din",):
            raise ValueError("AC charging needs iso2 or iso20: DIN 70121 is DC only")
