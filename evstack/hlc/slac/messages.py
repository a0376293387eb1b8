"""SLAC management messages (HomePlug Green PHY 1.1, ISO 15118-3 Annex A) as Ethernet frames.

A frame is an Ethernet II header (destination, source, ethertype 0x88E1), the HomePlug
management header and the message:

    MMV       1 byte   0x01: HomePlug AV 1.1 / Green PHY; it is followed by
    MMTYPE    2 bytes  little endian: base type | 0 REQ, 1 CNF, 2 IND, 3 RSP
    FMI       2 bytes  fragmentation info; SLAC messages are never fragmented: 0x0000

then the payload, zero-padded to the 60-byte minimum of an Ethernet frame (without FCS).
As in all HomePlug AV management messages, multi-byte integers are little endian; MAC
addresses, run ids, NIDs and keys are byte strings in transmission order. ISO 15118-3 fixes
the application type (0x00, PEV-EVSE matching) and the security type (0x00, none), leaves
the 17-byte station ids (sender, source, response, PEV and EVSE ids) zero, and uses an
8-byte run id chosen by the EV for each run.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import struct
from typing import Any, ClassVar, Protocol

ETHERTYPE = 0x88E1
MMV = 0x01
BROADCAST = b"\xff" * 6
MIN_FRAME = 60
HEADER = struct.Struct(">6s6sHBHH")  # MMTYPE and FMI are swapped to little endian by hand
HEADER_SIZE = HEADER.size  # 19

RUN_ID_LEN = 8
NID_LEN = 7
NMK_LEN = 16
STATION_ID_LEN = 17
GROUPS = 58  # OFDM carrier groups of an attenuation profile in Green PHY
APPLICATION_TYPE = 0x00  # PEV-EVSE matching
SECURITY_TYPE = 0x00  # no security
RESP_TYPE_OTHER_STA = 0x01  # sounds are characterised by another station (the EVSE)
KEY_TYPE_NMK = 0x01
PID_HLE = 0x04  # CM_SET_KEY protocol id: key provided by the higher layer entity
SET_KEY_SUCCESS = 0x00

_ZERO_ID = bytes(STATION_ID_LEN)


class MmType(enum.IntEnum):
    """Base values (the REQ variant) of the management messages SLAC uses."""

    CM_SET_KEY = 0x6008
    CM_SLAC_PARM = 0x6064
    CM_START_ATTEN_CHAR = 0x6068
    CM_ATTEN_CHAR = 0x606C
    CM_MNBC_SOUND = 0x6074
    CM_SLAC_MATCH = 0x607C
    CM_ATTEN_PROFILE = 0x6084


class Variant(enum.IntEnum):
    REQ = 0
    CNF = 1
    IND = 2
    RSP = 3


class SlacFormatError(ValueError):
    """A frame that is not a well-formed SLAC message."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """An Ethernet frame carrying a HomePlug management message, header decoded."""

    destination: bytes
    source: bytes
    mmtype: int
    payload: bytes  # everything after the header, padding included


def encode_frame(destination: bytes, source: bytes, mmtype: int, payload: bytes) -> bytes:
    _check_len("destination", destination, 6)
    _check_len("source", source, 6)
    head = HEADER.pack(destination, source, ETHERTYPE, MMV, _swap16(mmtype), 0)
    return (head + payload).ljust(MIN_FRAME, b"\x00")


def decode_frame(data: bytes) -> Frame:
    if len(data) < HEADER_SIZE:
        raise SlacFormatError(f"frame of {len(data)} bytes is shorter than the headers")
    destination, source, ethertype, mmv, mmtype, fmi = HEADER.unpack_from(data)
    if ethertype != ETHERTYPE:
        raise SlacFormatError(f"ethertype {ethertype:#06x} is not HomePlug ({ETHERTYPE:#06x})")
    if mmv != MMV:
        raise SlacFormatError(f"MMV {mmv:#04x} is not HomePlug Green PHY ({MMV:#04x})")
    if fmi != 0:
        raise SlacFormatError("fragmented management message")
    return Frame(destination, source, _swap16(mmtype), data[HEADER_SIZE:])


class Message(Protocol):
    MMTYPE: ClassVar[int]

    def payload(self) -> bytes: ...


# --- the messages, in the order of a matching run -----------------------------------------


@dataclasses.dataclass(frozen=True)
class SlacParmReq:
    """EV -> all (broadcast): a new run; ISO 15118-3 Table A.2."""

    MMTYPE: ClassVar[int] = MmType.CM_SLAC_PARM | Variant.REQ
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BB8s")
    run_id: bytes

    def payload(self) -> bytes:
        return self.LAYOUT.pack(APPLICATION_TYPE, SECURITY_TYPE, self.run_id)

    @classmethod
    def parse(cls, payload: bytes) -> SlacParmReq:
        app, sec, run_id = _unpack(cls.LAYOUT, payload, "CM_SLAC_PARM.REQ")
        _check_types(app, sec)
        return cls(run_id)


@dataclasses.dataclass(frozen=True)
class SlacParmCnf:
    """EVSE -> EV: the sounding parameters; Table A.2."""

    MMTYPE: ClassVar[int] = MmType.CM_SLAC_PARM | Variant.CNF
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<6sBBB6sBB8s")
    forwarding_sta: bytes  # the EV host, where the results go
    run_id: bytes
    num_sounds: int
    time_out: int  # in 100 ms
    m_sound_target: bytes = BROADCAST
    resp_type: int = RESP_TYPE_OTHER_STA

    def payload(self) -> bytes:
        return self.LAYOUT.pack(
            self.m_sound_target,
            self.num_sounds,
            self.time_out,
            self.resp_type,
            self.forwarding_sta,
            APPLICATION_TYPE,
            SECURITY_TYPE,
            self.run_id,
        )

    @classmethod
    def parse(cls, payload: bytes) -> SlacParmCnf:
        target, sounds, time_out, resp, fwd, app, sec, run_id = _unpack(
            cls.LAYOUT, payload, "CM_SLAC_PARM.CNF"
        )
        _check_types(app, sec)
        return cls(fwd, run_id, sounds, time_out, target, resp)


@dataclasses.dataclass(frozen=True)
class StartAttenCharInd:
    """EV -> all (broadcast), three times: sounds follow; Table A.4."""

    MMTYPE: ClassVar[int] = MmType.CM_START_ATTEN_CHAR | Variant.IND
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBBBB6s8s")
    num_sounds: int
    time_out: int  # in 100 ms
    forwarding_sta: bytes
    run_id: bytes
    resp_type: int = RESP_TYPE_OTHER_STA

    def payload(self) -> bytes:
        return self.LAYOUT.pack(
            APPLICATION_TYPE,
            SECURITY_TYPE,
            self.num_sounds,
            self.time_out,
            self.resp_type,
            self.forwarding_sta,
            self.run_id,
        )

    @classmethod
    def parse(cls, payload: bytes) -> StartAttenCharInd:
        app, sec, sounds, time_out, resp, fwd, run_id = _unpack(
            cls.LAYOUT, payload, "CM_START_ATTEN_CHAR.IND"
        )
        _check_types(app, sec)
        return cls(sounds, time_out, fwd, run_id, resp)


@dataclasses.dataclass(frozen=True)
class MnbcSoundInd:
    """EV -> all (broadcast), C_EV_match_MNBC times: the sounds themselves; Table A.4.

    The HomePlug run id field is 16 bytes; ISO 15118-3 uses the first 8 and reserves 8.
    """

    MMTYPE: ClassVar[int] = MmType.CM_MNBC_SOUND | Variant.IND
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BB17sB8s8s16s")
    remaining: int  # sounds still to come after this one
    run_id: bytes
    random: bytes = bytes(16)

    def payload(self) -> bytes:
        return self.LAYOUT.pack(
            APPLICATION_TYPE,
            SECURITY_TYPE,
            _ZERO_ID,
            self.remaining,
            self.run_id,
            bytes(8),
            self.random,
        )

    @classmethod
    def parse(cls, payload: bytes) -> MnbcSoundInd:
        app, sec, _sender, remaining, run_id, _rsvd, rnd = _unpack(
            cls.LAYOUT, payload, "CM_MNBC_SOUND.IND"
        )
        _check_types(app, sec)
        return cls(remaining, run_id, rnd)


@dataclasses.dataclass(frozen=True)
class AttenProfileInd:
    """EVSE modem -> EVSE host, one per sound heard: the attenuation per group, in dB."""

    MMTYPE: ClassVar[int] = MmType.CM_ATTEN_PROFILE | Variant.IND
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<6sBB")
    pev_mac: bytes
    aag: tuple[int, ...]

    def payload(self) -> bytes:
        return self.LAYOUT.pack(self.pev_mac, len(self.aag), 0) + _groups(self.aag)

    @classmethod
    def parse(cls, payload: bytes) -> AttenProfileInd:
        pev_mac, count, _rsvd = _unpack(cls.LAYOUT, payload, "CM_ATTEN_PROFILE.IND")
        return cls(pev_mac, _read_groups(payload, cls.LAYOUT.size, count))


@dataclasses.dataclass(frozen=True)
class AttenCharInd:
    """EVSE -> EV: the averaged profile of the sounds it heard; Table A.4."""

    MMTYPE: ClassVar[int] = MmType.CM_ATTEN_CHAR | Variant.IND
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BB6s8s17s17sBB")
    source_address: bytes  # the EV host that sounded
    run_id: bytes
    num_sounds: int  # how many sounds the average is over
    aag: tuple[int, ...]

    def payload(self) -> bytes:
        head = self.LAYOUT.pack(
            APPLICATION_TYPE,
            SECURITY_TYPE,
            self.source_address,
            self.run_id,
            _ZERO_ID,
            _ZERO_ID,
            self.num_sounds,
            len(self.aag),
        )
        return head + _groups(self.aag)

    @classmethod
    def parse(cls, payload: bytes) -> AttenCharInd:
        app, sec, source, run_id, _src_id, _resp_id, sounds, count = _unpack(
            cls.LAYOUT, payload, "CM_ATTEN_CHAR.IND"
        )
        _check_types(app, sec)
        return cls(source, run_id, sounds, _read_groups(payload, cls.LAYOUT.size, count))


@dataclasses.dataclass(frozen=True)
class AttenCharRsp:
    """EV -> EVSE: profile received; Table A.4."""

    MMTYPE: ClassVar[int] = MmType.CM_ATTEN_CHAR | Variant.RSP
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BB6s8s17s17sB")
    source_address: bytes
    run_id: bytes
    result: int = 0x00  # success

    def payload(self) -> bytes:
        return self.LAYOUT.pack(
            APPLICATION_TYPE,
            SECURITY_TYPE,
            self.source_address,
            self.run_id,
            _ZERO_ID,
            _ZERO_ID,
            self.result,
        )

    @classmethod
    def parse(cls, payload: bytes) -> AttenCharRsp:
        app, sec, source, run_id, _src_id, _resp_id, result = _unpack(
            cls.LAYOUT, payload, "CM_ATTEN_CHAR.RSP"
        )
        _check_types(app, sec)
        return cls(source, run_id, result)


# MatchVarField: PEV id, PEV MAC, EVSE id, EVSE MAC, run id, 8 reserved bytes.
_MATCH_HEAD = struct.Struct("<BBH17s6s17s6s8s8s")
_MATCH_REQ_MVF = _MATCH_HEAD.size - 4  # 62 = 0x3E
_MATCH_CNF_TAIL = struct.Struct("<7sB16s")  # NID, reserved (pads NID to 8), NMK
_MATCH_CNF_MVF = _MATCH_REQ_MVF + _MATCH_CNF_TAIL.size  # 86 = 0x56


@dataclasses.dataclass(frozen=True)
class SlacMatchReq:
    """EV -> the chosen EVSE; Table A.7."""

    MMTYPE: ClassVar[int] = MmType.CM_SLAC_MATCH | Variant.REQ
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes

    def payload(self) -> bytes:
        return _match_head(_MATCH_REQ_MVF, self.pev_mac, self.evse_mac, self.run_id)

    @classmethod
    def parse(cls, payload: bytes) -> SlacMatchReq:
        pev_mac, evse_mac, run_id = _parse_match_head(payload, _MATCH_REQ_MVF, "REQ")
        return cls(pev_mac, evse_mac, run_id)


@dataclasses.dataclass(frozen=True)
class SlacMatchCnf:
    """EVSE -> EV: the logical network to join (NID and NMK); Table A.7."""

    MMTYPE: ClassVar[int] = MmType.CM_SLAC_MATCH | Variant.CNF
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes

    def payload(self) -> bytes:
        head = _match_head(_MATCH_CNF_MVF, self.pev_mac, self.evse_mac, self.run_id)
        return head + _MATCH_CNF_TAIL.pack(self.nid, 0, self.nmk)

    @classmethod
    def parse(cls, payload: bytes) -> SlacMatchCnf:
        pev_mac, evse_mac, run_id = _parse_match_head(payload, _MATCH_CNF_MVF, "CNF")
        tail = payload[_MATCH_HEAD.size :]
        nid, _rsvd, nmk = _unpack(_MATCH_CNF_TAIL, tail, "CM_SLAC_MATCH.CNF")
        return cls(pev_mac, evse_mac, run_id, nid, nmk)


@dataclasses.dataclass(frozen=True)
class SetKeyReq:
    """Host -> its own modem: join the logical network of this NMK; Table A.8.

    Nonces, PRN and PMN are zero: the key travels in the clear over the host interface.
    """

    MMTYPE: ClassVar[int] = MmType.CM_SET_KEY | Variant.REQ
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BIIBHBB7sB16s")
    nid: bytes
    nmk: bytes
    cco_capability: int = 0x00

    def payload(self) -> bytes:
        return self.LAYOUT.pack(
            KEY_TYPE_NMK, 0, 0, PID_HLE, 0, 0, self.cco_capability, self.nid, 0x01, self.nmk
        )

    @classmethod
    def parse(cls, payload: bytes) -> SetKeyReq:
        key_type, _my, _your, pid, _prn, _pmn, cco, nid, new_eks, nmk = _unpack(
            cls.LAYOUT, payload, "CM_SET_KEY.REQ"
        )
        if key_type != KEY_TYPE_NMK or pid != PID_HLE or new_eks != 0x01:
            raise SlacFormatError("CM_SET_KEY.REQ is not an NMK from the host (ISO 15118-3)")
        return cls(nid, nmk, cco)


@dataclasses.dataclass(frozen=True)
class SetKeyCnf:
    """Modem -> host: key set (result 0x00) or not."""

    MMTYPE: ClassVar[int] = MmType.CM_SET_KEY | Variant.CNF
    LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BIIBHBB")
    result: int
    my_nonce: int = 0
    your_nonce: int = 0
    pid: int = PID_HLE
    prn: int = 0
    pmn: int = 0
    cco_capability: int = 0

    def payload(self) -> bytes:
        return self.LAYOUT.pack(
            self.result,
            self.my_nonce,
            self.your_nonce,
            self.pid,
            self.prn,
            self.pmn,
            self.cco_capability,
        )

    @classmethod
    def parse(cls, payload: bytes) -> SetKeyCnf:
        return cls(*_unpack(cls.LAYOUT, payload, "CM_SET_KEY.CNF"))


SlacMessage = (
    SlacParmReq
    | SlacParmCnf
    | StartAttenCharInd
    | MnbcSoundInd
    | AttenProfileInd
    | AttenCharInd
    | AttenCharRsp
    | SlacMatchReq
    | SlacMatchCnf
    | SetKeyReq
    | SetKeyCnf
)
_PARSERS: dict[int, type[SlacMessage]] = {
    kind.MMTYPE: kind
    for kind in (
        SlacParmReq,
        SlacParmCnf,
        StartAttenCharInd,
        MnbcSoundInd,
        AttenProfileInd,
        AttenCharInd,
        AttenCharRsp,
        SlacMatchReq,
        SlacMatchCnf,
        SetKeyReq,
        SetKeyCnf,
    )
}


def encode(destination: bytes, source: bytes, message: Message) -> bytes:
    """The whole Ethernet frame of `message`."""
    return encode_frame(destination, source, message.MMTYPE, message.payload())


def decode(data: bytes) -> tuple[Frame, SlacMessage | None]:
    """The frame and its SLAC message; None for a HomePlug message SLAC does not use.

    Raises SlacFormatError for a frame that is not HomePlug Green PHY, or a SLAC message
    that is short or has values ISO 15118-3 does not allow.
    """
    frame = decode_frame(data)
    kind = _PARSERS.get(frame.mmtype)
    return frame, None if kind is None else kind.parse(frame.payload)


def nid_from_nmk(nmk: bytes, security_level: int = 0) -> bytes:
    """The network id of a network membership key (HomePlug AV 1.1, 4.4.3.1).

    SHA-256 applied five times to the NMK (PBKDF1 without salt); the first 52 bits,
    then the 2-bit security level (0: simple connect) above them, in 7 bytes.
    """
    _check_len("NMK", nmk, NMK_LEN)
    digest = nmk
    for _ in range(5):
        digest = hashlib.sha256(digest).digest()
    return digest[:6] + bytes([(digest[6] >> 4) | (security_level << 4)])


# --- helpers -------------------------------------------------------------------------------


def _swap16(value: int) -> int:
    return ((value & 0xFF) << 8) | (value >> 8)


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _unpack(layout: struct.Struct, payload: bytes, name: str) -> tuple[Any, ...]:
    if len(payload) < layout.size:
        raise SlacFormatError(f"{name} needs {layout.size} bytes, got {len(payload)}")
    return layout.unpack_from(payload)


def _check_types(application_type: int, security_type: int) -> None:
    if application_type != APPLICATION_TYPE or security_type != SECURITY_TYPE:
        raise SlacFormatError(
            f"application type {application_type}, security type {security_type}: "
            "ISO 15118-3 matching uses 0 and 0"
        )


def _groups(aag: tuple[int, ...]) -> bytes:
    if not 0 < len(aag) <= 255 or any(not 0 <= v <= 255 for v in aag):
        raise ValueError("an attenuation profile is 1-255 groups of 0-255 dB")
    return bytes(aag)


def _read_groups(payload: bytes, offset: int, count: int) -> tuple[int, ...]:
    if count == 0 or len(payload) < offset + count:
        raise SlacFormatError(f"attenuation profile of {count} groups does not fit")
    return tuple(payload[offset : offset + count])


def _match_head(mvf_length: int, pev_mac: bytes, evse_mac: bytes, run_id: bytes) -> bytes:
    return _MATCH_HEAD.pack(
        APPLICATION_TYPE,
        SECURITY_TYPE,
        mvf_length,
        _ZERO_ID,
        pev_mac,
        _ZERO_ID,
        evse_mac,
        run_id,
        bytes(8),
    )


def _parse_match_head(payload: bytes, mvf_length: int, variant: str) -> tuple[bytes, bytes, bytes]:
    app, sec, length, _pev_id, pev_mac, _evse_id, evse_mac, run_id, _rsvd = _unpack(
        _MATCH_HEAD, payload, f"CM_SLAC_MATCH.{variant}"
    )
    _check_types(app, sec)
    if length != mvf_length:
        raise SlacFormatError(f"CM_SLAC_MATCH.{variant} MVFLength {length}, expected {mvf_length}")
    return pev_mac, evse_mac, run_id
