"""V2GTP framing and SDP payloads."""

from __future__ import annotations

import ipaddress

import pytest

from evstack.exi import sdp, v2gtp


def test_frame_and_unframe_round_trip() -> None:
    message = v2gtp.frame(v2gtp.PayloadType.ISO20_DC, b"\x80\x01\x02")
    assert message[:8] == bytes.fromhex("01fe800400000003")
    assert v2gtp.unframe(message) == (0x8004, b"\x80\x01\x02")


@pytest.mark.parametrize(
    "message",
    [
        bytes.fromhex("01fe8001000000"),  # short header
        bytes.fromhex("02fd800100000000"),  # version 2
        bytes.fromhex("01ff800100000000"),  # inverted version wrong
        bytes.fromhex("01fe80010000000280"),  # length says 2, one byte present
        bytes.fromhex("01fe8001ffffffff"),  # absurd length
    ],
)
def test_bad_headers_are_refused(message: bytes) -> None:
    with pytest.raises(v2gtp.V2gtpError):
        v2gtp.unframe(message)


def test_every_schema_set_has_its_payload_type() -> None:
    assert v2gtp.PAYLOAD_TYPES["iso2"] == 0x8001
    assert v2gtp.PAYLOAD_TYPES["iso20"] == 0x8002
    assert v2gtp.PAYLOAD_TYPES["iso20_wpt"] == 0x8006


def test_sdp_request_bytes() -> None:
    request = sdp.SdpRequest(sdp.Security.NONE)
    assert request.to_bytes().hex() == "01fe9000000000021000"
    assert sdp.SdpRequest.from_bytes(request.to_bytes()) == request


def test_sdp_response_round_trip() -> None:
    address = ipaddress.IPv6Address("fe80::1234:5678")
    response = sdp.SdpResponse(address, 50000, sdp.Security.TLS)
    data = response.to_bytes()
    assert len(data) == 8 + 20
    assert data[8:24] == address.packed
    assert data[24:].hex() == "c3500000"
    assert sdp.SdpResponse.from_bytes(data) == response


@pytest.mark.parametrize(
    "message",
    [
        bytes.fromhex("01fe900000000003100000"),  # three payload bytes
        bytes.fromhex("01fe90010000000210 00".replace(" ", "")),  # response type
        bytes.fromhex("01fe9000000000022000"),  # security 0x20 undefined
    ],
)
def test_bad_sdp_requests_are_refused(message: bytes) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.SdpRequest.from_bytes(message)


def test_sdp_response_port_outside_dynamic_range_is_refused() -> None:
    payload = bytes(16) + bytes.fromhex("0fa01000")  # port 4000
    with pytest.raises(sdp.SdpError):
        sdp.SdpResponse.from_bytes(v2gtp.frame(v2gtp.PayloadType.SDP_RESPONSE, payload))
