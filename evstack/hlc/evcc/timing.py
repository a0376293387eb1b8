"""The EVCC's timers (ISO 15118-2 Table 109 and 8.8, DIN 70121 9.6), in seconds.

`scale` stretches them all at once: only for a peer known to be slow (the interop tests' Java
codec on a loaded machine); a car uses 1.
"""

from __future__ import annotations

import dataclasses

# EVCC message timeouts: from sending a request until its response must be in.
MESSAGE = {
    "supportedAppProtocolReq": 2.0,
    "ServiceDetailReq": 5.0,
    "PaymentDetailsReq": 5.0,
    "PowerDeliveryReq": 5.0,
    "CertificateInstallationReq": 5.0,
    "CertificateUpdateReq": 5.0,
    "CurrentDemandReq": 0.25,
}
MESSAGE_DEFAULT = 2.0
DIN_MESSAGE = {**MESSAGE, "PowerDeliveryReq": 2.0}
ISO20_MESSAGE = {**MESSAGE, "DC_ChargeLoopReq": 0.5, "AC_ChargeLoopReq": 0.5}

COMMUNICATION_SETUP = 20.0  # from supportedAppProtocolReq until SessionSetupRes
ONGOING = 60.0  # the charger may answer Ongoing for this long (authorisation, parameters)
CABLE_CHECK = 40.0
PRECHARGE = 7.0
ISO20_PRECHARGE = 10.0


@dataclasses.dataclass(frozen=True)
class Timing:
    scale: float = 1.0

    def message(self, request: str, table: dict[str, float] = MESSAGE) -> float:
        return table.get(request, MESSAGE_DEFAULT) * self.scale

    def phase(self, seconds: float) -> float:
        return seconds * self.scale
