"""The EVCC's one door to `evstack.exi`: decode and encode by schema set.

Every message the EVCC handles passes here. The flows pick the schema set at run time (from
SupportedAppProtocol and, for ISO-20, the message), so this goes through the codec's untyped
`decode_any`/`encode_any`; messages are its JSON form (docs/exi.md), whose shapes the typed
classes in evstack.generated.exi describe.
"""

from __future__ import annotations

from typing import Any

from evstack import exi
from evstack.exi.v2gtp import PAYLOAD_TYPES

Doc = dict[str, Any]
"""One decoded document, or a part of one."""

CodecError = exi.ExiError


def decode(schema_set: str, payload: bytes) -> Doc:
    """The document in `payload`; raises CodecError for anything but one whole document."""
    return exi.decode_any(schema_set, payload)


def encode(schema_set: str, document: Doc) -> bytes:
    return exi.encode_any(schema_set, document)


def payload_type(schema_set: str) -> int:
    """The V2GTP payload type that carries `schema_set`."""
    return int(PAYLOAD_TYPES[schema_set])


def physical(value: float, unit: str) -> Doc:
    """A DIN / ISO-2 PhysicalValue: the value as a 16-bit integer with the smallest power-of-ten
    multiplier (-3..3) that fits it, so small values keep their decimals."""
    for multiplier in range(-3, 4):
        scaled = round(value / 10**multiplier)
        if -32768 <= scaled <= 32767:
            return {"Multiplier": multiplier, "Unit": unit, "Value": scaled}
    raise ValueError(f"{value} {unit} does not fit a PhysicalValue")


def value_of(physical_value: Doc | None) -> float | None:
    if physical_value is None:
        return None
    return float(physical_value["Value"]) * 10.0 ** int(physical_value["Multiplier"])
