"""V2G Transfer Protocol framing (ISO 15118-2, 7.8.3): an 8-byte header before each payload.

Header: version 0x01, inverted version 0xFE, payload type (2 bytes), payload length
(4 bytes), big endian.
"""

from __future__ import annotations

import enum
import struct

HEADER = struct.Struct(">BBHI")
HEADER_SIZE = HEADER.size
VERSION = 0x01
# The largest payload accepted: far above any V2G message, far below memory trouble.
MAX_PAYLOAD = 1 << 20


class PayloadType(enum.IntEnum):
    EXI = 0x8001  # SupportedAppProtocol; all DIN and ISO-2 messages
    ISO20_COMMON = 0x8002
    ISO20_AC = 0x8003
    ISO20_DC = 0x8004
    ISO20_ACDP = 0x8005
    ISO20_WPT = 0x8006
    SDP_REQUEST = 0x9000
    SDP_RESPONSE = 0x9001


# Which payload type carries each schema set.
PAYLOAD_TYPES: dict[str, PayloadType] = {
    "app": PayloadType.EXI,
    "din": PayloadType.EXI,
    "iso2": PayloadType.EXI,
    "iso20": PayloadType.ISO20_COMMON,
    "iso20_ac": PayloadType.ISO20_AC,
    "iso20_dc": PayloadType.ISO20_DC,
    "iso20_acdp": PayloadType.ISO20_ACDP,
    "iso20_wpt": PayloadType.ISO20_WPT,
}


class V2gtpError(ValueError):
    """A header that is not V2GTP, or a payload the header does not match."""


def frame(payload_type: int, payload: bytes) -> bytes:
    """Prefix `payload` with its V2GTP header."""
    if len(payload) > MAX_PAYLOAD:
        raise V2gtpError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(VERSION, VERSION ^ 0xFF, payload_type, len(payload)) + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """(payload type, payload length) from the first 8 bytes; for stream readers."""
    if len(header) < HEADER_SIZE:
        raise V2gtpError(f"header needs {HEADER_SIZE} bytes, got {len(header)}")
    version, inverted, payload_type, length = HEADER.unpack_from(header)
    if version != VERSION or inverted != VERSION ^ 0xFF:
        raise V2gtpError(f"not V2GTP version 1: {version:#04x} {inverted:#04x}")
    if length > MAX_PAYLOAD:
        raise V2gtpError(f"payload length {length} exceeds {MAX_PAYLOAD}")
    return payload_type, length


def unframe(message: bytes) -> tuple[int, bytes]:
    """(payload type, payload) of one complete V2GTP message; the length must match."""
    payload_type, length = parse_header(message)
    if len(message) != HEADER_SIZE + length:
        raise V2gtpError(f"header announces {length} bytes, message has {len(message) - 8}")
    return payload_type, message[HEADER_SIZE:]
