"""The C bridge between events and MessagePack (ext/exi/exi_msgpack.c) on hostile input.

The Python API hands C whatever msgspec packs from the caller's message, so the bridge
parses input it cannot trust: it must refuse, never crash, and never accept a message the
pure-Python encoder would refuse or encode differently.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evstack import exi
from evstack.exi import codec, native, tables
from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.generated.exi import xsd_iso2

pytestmark = pytest.mark.skipif(not native.available(), reason="evstack.ext._exi not built")

SESSION_SETUP: xsd_iso2.Document_V2G_Message = {
    "V2G_Message": {
        "Header": {"SessionID": "0102030405060708"},
        "Body": {"SessionSetupReq": {"EVCCID": "00010203a0b0"}},
    }
}


def _raw_encode(schema: str, packed: bytes) -> tuple[int, bytes]:
    """exi_msgpack_encode without the Python fallback: (error code, EXI bytes)."""
    from evstack.ext import _exi

    ffi, lib = _exi.ffi, _exi.lib
    bridge = native._bridge(tables.load(schema)).schema
    size = len(packed)
    events = ffi.new("exi_event[]", size * 3 + 3)
    arena = ffi.new("uint8_t[]", max(size, 1))
    out_cap = 16 + (size * 3 + 3) * 12 + size * 10
    out = ffi.new("uint8_t[]", out_cap)
    counts = ffi.new("size_t[2]")
    err = lib.exi_msgpack_encode(
        bridge, packed, size, events, size * 3 + 3, arena, size, out, out_cap, counts, counts + 1
    )
    return err, bytes(ffi.buffer(out, counts[0])) if err == 0 else b""


def _python_verdict(schema: str, message: object) -> bytes | int:
    try:
        return codec.encode(tables.load(schema), message)  # type: ignore[arg-type]
    except ExiError as exc:
        return exc.code


@given(packed=st.binary(max_size=200))
@settings(max_examples=2000, deadline=None)
def test_random_bytes_are_refused_or_agree_with_python(packed: bytes) -> None:
    err, data = _raw_encode("iso2", packed)
    if err == 0:
        assert _python_verdict("iso2", msgspec.msgpack.decode(packed)) == data


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8)
    | st.sampled_from(["OK", "A", "W", "00ff", "0102030405060708", "EVSE_Ready"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            ["V2G_Message", "Header", "Body", "SessionID", "SessionSetupReq", "EVCCID",
             "SessionSetupRes", "ResponseCode", "EVSEID", "EVSETimeStamp", "$", "@Id", "x"]
        ),
        inner,
        max_size=4,
    ),
    max_leaves=20,
)  # fmt: skip


@given(message=_json)
@settings(max_examples=2000, deadline=None)
def test_json_shaped_messages_agree_with_python(message: object) -> None:
    packed = msgspec.msgpack.encode({"V2G_Message": message})
    err, data = _raw_encode("iso2", packed)
    verdict = _python_verdict("iso2", msgspec.msgpack.decode(packed))
    if err == 0:
        assert verdict == data
    elif err != ExiErrorCode.INVALID_MESSAGE:  # INVALID_MESSAGE falls back to Python
        assert verdict == err


def _nested(depth: int) -> bytes:
    return b"\x81\xa1x" * depth + b"\xc0"


@pytest.mark.parametrize(
    ("packed", "code"),
    [
        (b"", ExiErrorCode.INVALID_MESSAGE),
        (b"\x81", ExiErrorCode.INVALID_MESSAGE),
        (b"\x82\xa1a\xc0\xa1b\xc0", ExiErrorCode.INVALID_MESSAGE),  # two roots
        (b"\xdf\xff\xff\xff\xff", ExiErrorCode.INVALID_MESSAGE),  # a count beyond the input
        (b"\x81\xdb\xff\xff\xff\xffV2G", ExiErrorCode.INVALID_MESSAGE),  # a length beyond it
        (msgspec.msgpack.encode({"V2G_Message": 1.5}), ExiErrorCode.INVALID_MESSAGE),
        (msgspec.msgpack.encode(SESSION_SETUP) + b"\x00", ExiErrorCode.INVALID_MESSAGE),
    ],
)
def test_malformed_packing_is_refused(packed: bytes, code: int) -> None:
    assert _raw_encode("iso2", packed)[0] == code


def test_deep_nesting_stops_at_the_depth_limit() -> None:
    # xmldsig nests without end (Object holds any element); the bridge stops at 32
    packed = b"\x81\xa6Object" + b"\x81\xa6Object" * 40 + b"\xc0"
    assert _raw_encode("xmldsig_fragment", packed)[0] in (
        ExiErrorCode.DEPTH_EXCEEDED,
        ExiErrorCode.INVALID_MESSAGE,
    )
    assert _raw_encode("iso2", _nested(100_000))[0] == ExiErrorCode.INVALID_MESSAGE


def test_bytes_are_not_taken_for_hex() -> None:
    # b"\x00\x00\x00" packed as base64 would read "AAAA", valid hex: MessagePack keeps bytes
    # apart from strings, so the message goes to the Python encoder, which refuses it
    message = {"V2G_Message": {"Header": {"SessionID": b"\x00\x00\x00"}, "Body": {}}}
    with pytest.raises(ExiError) as caught:
        exi.encode_any("iso2", message)
    assert caught.value.code == ExiErrorCode.INVALID_MESSAGE


def test_upper_case_hex_falls_back_and_encodes_the_same() -> None:
    upper: xsd_iso2.Document_V2G_Message = {
        "V2G_Message": {**SESSION_SETUP["V2G_Message"], "Header": {"SessionID": "0A0B"}}
    }
    lower: xsd_iso2.Document_V2G_Message = {
        "V2G_Message": {**SESSION_SETUP["V2G_Message"], "Header": {"SessionID": "0a0b"}}
    }
    assert _raw_encode("iso2", msgspec.msgpack.encode(upper))[0] == ExiErrorCode.INVALID_MESSAGE
    assert exi.encode("iso2", upper) == exi.encode("iso2", lower)


def test_an_undersized_output_learns_the_size_it_needs() -> None:
    from evstack.ext import _exi

    ffi, lib = _exi.ffi, _exi.lib
    grammar = tables.load("iso2")
    data = exi.encode("iso2", SESSION_SETUP)
    events = ffi.new("exi_event[]", 256)
    arena = ffi.new("uint8_t[]", 256)
    counts = ffi.new("size_t[3]")
    bridge = native._bridge(grammar).schema
    assert lib.exi_decode(bridge.schema, data, len(data), events, 256, counts, arena, 256,
                          counts + 1, counts + 2) == 0  # fmt: skip
    small = ffi.new("uint8_t[]", 8)
    needed = ffi.new("size_t *")
    err = lib.exi_events_to_msgpack(bridge, events, counts[0], arena, small, 8, needed)
    assert err == ExiErrorCode.NO_MEMORY
    fits = ffi.new("uint8_t[]", needed[0])
    assert lib.exi_events_to_msgpack(bridge, events, counts[0], arena, fits, needed[0], needed) == 0
    assert msgspec.msgpack.decode(bytes(ffi.buffer(fits, needed[0]))) == SESSION_SETUP


def test_a_large_message_does_not_leave_large_buffers_behind() -> None:
    grammar = tables.load("iso2")
    big: xsd_iso2.Document_V2G_Message = {
        "V2G_Message": {**SESSION_SETUP["V2G_Message"], "Header": {"SessionID": "00" * 8}}
    }
    exi.decode("iso2", exi.encode("iso2", big))
    junk = b"\x80" + b"\xff" * 200_000  # refused, after the buffers grew for it
    with pytest.raises(ExiError):
        native.decode(grammar, junk)
    assert native._scratch.sizes == [0, 0, 0]
    assert exi.decode("iso2", exi.encode("iso2", big)) == big
