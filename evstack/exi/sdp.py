"""SECC Discovery Protocol payloads (ISO 15118-2, 7.10.1.2), carried in V2GTP over UDP.

The EVCC multicasts a request to ff02::1 port 15118; the SECC answers with the address
and TCP port of its V2G server.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import struct
from typing import TypeVar

from evstack.exi import v2gtp

_E = TypeVar("_E", bound=enum.IntEnum)

SDP_PORT = 15118
SDP_MULTICAST = "ff02::1"
# EVCCs refuse an SECC port outside the dynamic range.
SECC_PORTS = range(49152, 65536)


class Security(enum.IntEnum):
    TLS = 0x00
    NONE = 0x10


class Transport(enum.IntEnum):
    TCP = 0x00
    UDP = 0x10  # reserved by the standard; accepted on the wire, never offered by evstack


class SdpError(ValueError):
    """An SDP payload of the wrong size or with values outside the standard."""


@dataclasses.dataclass(frozen=True)
class SdpRequest:
    security: Security
    transport: Transport = Transport.TCP

    def to_bytes(self) -> bytes:
        """The whole V2GTP message, ready for a UDP datagram."""
        payload = bytes([self.security, self.transport])
        return v2gtp.frame(v2gtp.PayloadType.SDP_REQUEST, payload)

    @classmethod
    def from_bytes(cls, message: bytes) -> SdpRequest:
        payload = _payload(message, v2gtp.PayloadType.SDP_REQUEST, 2)
        return cls(_enum(Security, payload[0]), _enum(Transport, payload[1]))


@dataclasses.dataclass(frozen=True)
class SdpResponse:
    address: ipaddress.IPv6Address
    port: int
    security: Security
    transport: Transport = Transport.TCP

    def __post_init__(self) -> None:
        if self.port not in SECC_PORTS:
            raise SdpError(f"SECC port {self.port} outside 49152-65535")

    def to_bytes(self) -> bytes:
        tail = struct.pack(">HBB", self.port, self.security, self.transport)
        payload = self.address.packed + tail
        return v2gtp.frame(v2gtp.PayloadType.SDP_RESPONSE, payload)

    @classmethod
    def from_bytes(cls, message: bytes) -> SdpResponse:
        payload = _payload(message, v2gtp.PayloadType.SDP_RESPONSE, 20)
        port, security, transport = struct.unpack(">HBB", payload[16:])
        return cls(
            ipaddress.IPv6Address(payload[:16]),
            port,
            _enum(Security, security),
            _enum(Transport, transport),
        )


def _payload(message: bytes, expected: v2gtp.PayloadType, size: int) -> bytes:
    try:
        payload_type, payload = v2gtp.unframe(message)
    except v2gtp.V2gtpError as exc:
        raise SdpError(str(exc)) from None
    if payload_type != expected:
        raise SdpError(f"payload type {payload_type:#06x}, expected {expected:#06x}")
    if len(payload) != size:
        raise SdpError(f"{expected.name} payload has {len(payload)} bytes, expected {size}")
    return payload


def _enum(kind: type[_E], value: int) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise SdpError(f"{kind.__name__} {value:#04x} is not defined") from None
