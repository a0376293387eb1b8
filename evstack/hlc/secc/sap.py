"""SupportedAppProtocol negotiation (ISO 15118-2 8.2, DIN 70121 9.2), SECC side.

The EV lists the protocols it speaks, each with a priority (1 = its favourite). The SECC
picks among those it supports: by the EV's priority (as the standards describe it), or
by its own order when configured so (a charger that knows one stack works better).
The major version must match; a different minor version is accepted with
OK_SuccessfulNegotiationWithMinorDeviation.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class AppProtocol:
    name: str  # schema set of the session: "din", "iso2", "iso20"
    namespace: str
    major: int
    minor: int


DIN = AppProtocol("din", "urn:din:70121:2012:MsgDef", 2, 0)
ISO2 = AppProtocol("iso2", "urn:iso:15118:2:2013:MsgDef", 2, 0)
ISO20_DC = AppProtocol("iso20", "urn:iso:std:iso:15118:-20:DC", 1, 0)
ISO20_AC = AppProtocol("iso20", "urn:iso:std:iso:15118:-20:AC", 1, 0)
KNOWN = (DIN, ISO2, ISO20_DC)


@dataclasses.dataclass(frozen=True)
class Negotiated:
    protocol: AppProtocol
    schema_id: int
    response_code: str


def negotiate(
    request: dict[str, Any], supported: tuple[AppProtocol, ...], *, secc_priority: bool
) -> Negotiated | None:
    """The protocol for this session, or None (Failed_NoNegotiation).

    `supported` is in the SECC's order of preference; it decides only with `secc_priority`.
    """
    offers = request.get("AppProtocol", [])
    candidates: list[tuple[int, int, AppProtocol, dict[str, Any]]] = []
    for offer in offers:
        for rank, protocol in enumerate(supported):
            if offer["ProtocolNamespace"] == protocol.namespace and (
                offer["VersionNumberMajor"] == protocol.major
            ):
                key = rank if secc_priority else int(offer["Priority"])
                candidates.append((key, int(offer["Priority"]), protocol, offer))
    if not candidates:
        return None
    _, _, protocol, offer = min(candidates, key=lambda c: (c[0], c[1]))
    minor_ok = offer["VersionNumberMinor"] == protocol.minor
    code = "OK_SuccessfulNegotiation" if minor_ok else "OK_SuccessfulNegotiationWithMinorDeviation"
    return Negotiated(protocol, int(offer["SchemaID"]), code)


def response(result: Negotiated | None) -> dict[str, Any]:
    if result is None:
        return {"supportedAppProtocolRes": {"ResponseCode": "Failed_NoNegotiation"}}
    return {
        "supportedAppProtocolRes": {
            "ResponseCode": result.response_code,
            "SchemaID": result.schema_id,
        }
    }
