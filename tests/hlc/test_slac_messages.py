"""SLAC frames byte for byte, against layouts written out by hand from the tables.

Each expected frame is spelled field by field: Ethernet header, HomePlug header (MMV 01,
MMTYPE little endian, FMI 0000), then the payload, zero-padded to 60 bytes.
"""

from __future__ import annotations

import pytest

from evstack.hlc.slac import messages as m

pytestmark = pytest.mark.timeout(10)

EV = bytes.fromhex("020000000001")
EVSE = bytes.fromhex("0a0000000002")
RUN = bytes.fromhex("0102030405060708")
NMK = bytes.fromhex("b59319d7e8157ba001b018669ccee30d")
NID = bytes.fromhex("026bcba5354e08")
ZERO17 = "00" * 17


def frame(dst: str, src: str, mmtype_le: str, *fields: str) -> bytes:
    data = bytes.fromhex(dst + src + "88e1" + "01" + mmtype_le + "0000" + "".join(fields))
    return data.ljust(60, b"\x00")


CASES: list[tuple[str, bytes, bytes, m.Message, bytes]] = [
    (
        "CM_SLAC_PARM.REQ",
        m.BROADCAST,
        EV,
        m.SlacParmReq(RUN),
        frame("ffffffffffff", "020000000001", "6460", "00", "00", "0102030405060708"),
    ),
    (
        "CM_SLAC_PARM.CNF",
        EV,
        EVSE,
        m.SlacParmCnf(EV, RUN, num_sounds=10, time_out=6),
        frame(
            "020000000001",
            "0a0000000002",
            "6560",
            "ffffffffffff",  # M-SOUND_TARGET
            "0a",  # NUM_SOUNDS
            "06",  # Time_Out, 600 ms
            "01",  # RESP_TYPE: other GP station
            "020000000001",  # FORWARDING_STA
            "00",
            "00",
            "0102030405060708",
        ),
    ),
    (
        "CM_START_ATTEN_CHAR.IND",
        m.BROADCAST,
        EV,
        m.StartAttenCharInd(10, 6, EV, RUN),
        frame(
            "ffffffffffff",
            "020000000001",
            "6a60",
            "00",
            "00",
            "0a",
            "06",
            "01",
            "020000000001",
            "0102030405060708",
        ),
    ),
    (
        "CM_MNBC_SOUND.IND",
        m.BROADCAST,
        EV,
        m.MnbcSoundInd(9, RUN, bytes(range(16))),
        frame(
            "ffffffffffff",
            "020000000001",
            "7660",
            "00",
            "00",
            ZERO17,  # SenderID
            "09",  # Cnt
            "0102030405060708",
            "0000000000000000",  # the run id field's reserved half
            "000102030405060708090a0b0c0d0e0f",
        ),
    ),
    (
        "CM_ATTEN_PROFILE.IND",
        EVSE,
        bytes.fromhex("00b052000001"),
        m.AttenProfileInd(EV, (20,) * 58),
        frame("0a0000000002", "00b052000001", "8660", "020000000001", "3a", "00", "14" * 58),
    ),
    (
        "CM_ATTEN_CHAR.IND",
        EV,
        EVSE,
        m.AttenCharInd(EV, RUN, 10, (30,) * 58),
        frame(
            "020000000001",
            "0a0000000002",
            "6e60",
            "00",
            "00",
            "020000000001",  # SOURCE_ADDRESS
            "0102030405060708",
            ZERO17,  # SOURCE_ID
            ZERO17,  # RESP_ID
            "0a",  # NumSounds
            "3a",  # NumGroups: 58
            "1e" * 58,
        ),
    ),
    (
        "CM_ATTEN_CHAR.RSP",
        EVSE,
        EV,
        m.AttenCharRsp(EV, RUN),
        frame(
            "0a0000000002",
            "020000000001",
            "6f60",
            "00",
            "00",
            "020000000001",
            "0102030405060708",
            ZERO17,
            ZERO17,
            "00",
        ),
    ),
    (
        "CM_SLAC_MATCH.REQ",
        EVSE,
        EV,
        m.SlacMatchReq(EV, EVSE, RUN),
        frame(
            "0a0000000002",
            "020000000001",
            "7c60",
            "00",
            "00",
            "3e00",  # MVFLength 62, little endian
            ZERO17,  # PEV ID
            "020000000001",
            ZERO17,  # EVSE ID
            "0a0000000002",
            "0102030405060708",
            "0000000000000000",
        ),
    ),
    (
        "CM_SLAC_MATCH.CNF",
        EV,
        EVSE,
        m.SlacMatchCnf(EV, EVSE, RUN, NID, NMK),
        frame(
            "020000000001",
            "0a0000000002",
            "7d60",
            "00",
            "00",
            "5600",  # MVFLength 86
            ZERO17,
            "020000000001",
            ZERO17,
            "0a0000000002",
            "0102030405060708",
            "0000000000000000",
            "026bcba5354e08",  # NID
            "00",  # pads the NID to 8 bytes
            "b59319d7e8157ba001b018669ccee30d",  # NMK
        ),
    ),
    (
        "CM_SET_KEY.REQ",
        bytes.fromhex("00b052000001"),
        EV,
        m.SetKeyReq(NID, NMK),
        frame(
            "00b052000001",
            "020000000001",
            "0860",
            "01",  # KeyType: NMK
            "00000000",  # MyNonce
            "00000000",  # YourNonce
            "04",  # PID: HLE
            "0000",  # PRN
            "00",  # PMN
            "00",  # CCo capability
            "026bcba5354e08",
            "01",  # NewEKS: NMK
            "b59319d7e8157ba001b018669ccee30d",
        ),
    ),
    (
        "CM_SET_KEY.CNF",
        EV,
        bytes.fromhex("00b052000001"),
        m.SetKeyCnf(0, my_nonce=0x11223344),
        frame(
            "020000000001",
            "00b052000001",
            "0960",
            "00",
            "44332211",  # little endian
            "00000000",
            "04",
            "0000",
            "00",
            "00",
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "dst", "src", "message", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_layout(name: str, dst: bytes, src: bytes, message: m.Message, expected: bytes) -> None:
    encoded = m.encode(dst, src, message)
    assert encoded.hex() == expected.hex()
    frame_, decoded = m.decode(encoded)
    assert decoded == message
    assert (frame_.destination, frame_.source) == (dst, src)


def test_frame_sizes_follow_the_payloads() -> None:
    sizes = {name: len(expected) for name, _d, _s, _m, expected in CASES}
    assert sizes["CM_MNBC_SOUND.IND"] == 19 + 52
    assert sizes["CM_ATTEN_PROFILE.IND"] == 19 + 66
    assert sizes["CM_ATTEN_CHAR.IND"] == 19 + 110
    assert sizes["CM_SLAC_MATCH.REQ"] == 19 + 66
    assert sizes["CM_SLAC_MATCH.CNF"] == 19 + 90
    assert sizes["CM_SLAC_PARM.REQ"] == 60  # padded


def test_nid_from_nmk_matches_the_published_default_pair() -> None:
    # The HomePlug default key pair ("HomePlugAV0123"): NMK b593..., NID 02:6B:CB:A5:35:4E:08.
    assert m.nid_from_nmk(NMK) == NID
    assert m.nid_from_nmk(NMK, security_level=1)[6] == 0x18


def raw(ethertype: str = "88e1", mmv: str = "01", fmi: str = "0000", payload: str = "") -> bytes:
    """A CM_SLAC_PARM.REQ-typed frame with the given header fields, unpadded."""
    return bytes.fromhex("ffffffffffff" + "020000000001" + ethertype + mmv + "6460" + fmi + payload)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(10), "shorter than the headers"),
        (raw(ethertype="0800").ljust(60, b"\0"), "ethertype"),
        (raw(mmv="00").ljust(60, b"\0"), "MMV"),
        (raw(fmi="0100").ljust(60, b"\0"), "fragmented"),
        (raw(payload="0100"), "needs 10 bytes"),
        (raw(payload="01000102030405060708"), "application type"),
    ],
)
def test_malformed_frames_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(m.SlacFormatError, match=reason):
        m.decode(data)


def test_wrong_mvf_length_is_refused() -> None:
    data = bytearray(m.encode(EVSE, EV, m.SlacMatchReq(EV, EVSE, RUN)))
    data[21] = 0x3F
    with pytest.raises(m.SlacFormatError, match="MVFLength"):
        m.decode(bytes(data))


def test_other_homeplug_messages_decode_to_none() -> None:
    data = m.encode_frame(m.BROADCAST, EV, 0xA0B8, b"\x00\xb0\x52")  # a vendor MME
    frame_, message = m.decode(data)
    assert message is None
    assert frame_.mmtype == 0xA0B8
