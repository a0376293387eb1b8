"""Known-bad streams are refused with a clear code by both codecs, and nothing crashes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evstack import exi
from evstack.exi import codec, native, tables
from evstack.exi.bits import BitWriter
from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.generated.exi import types_app, types_din, types_iso2, xsd_app, xsd_din, xsd_iso2

APP_REQ = bytes.fromhex(
    "8000f3ab9371d34b9b79d39ba321d34b9b79d189a98989c1d1699181d20a18010000040040"
)
DIN_SESSION_SETUP_REQ = bytes.fromhex("809a02000000000000000011d01a121dc983cd6000")


def _decoders() -> list[object]:
    found: list[object] = [codec.decode]
    if native.available():
        found.append(native.decode)
    return found


DECODERS = pytest.mark.parametrize("decode", _decoders(), ids=lambda d: d.__module__)


def _code(decode: object, schema: str, data: bytes) -> ExiErrorCode:
    with pytest.raises(ExiError) as caught:
        decode(tables.load(schema), data)  # type: ignore[operator]
    return caught.value.code


@DECODERS
def test_every_truncation_is_refused(decode: object) -> None:
    for end in range(len(APP_REQ)):
        code = _code(decode, "app", APP_REQ[:end])
        assert code in (
            ExiErrorCode.TRUNCATED,
            ExiErrorCode.BAD_HEADER,
            ExiErrorCode.TRAILING_BYTES,
        )


@DECODERS
@pytest.mark.parametrize("extra", [b"\x00", b"\xff", b"\x00" * 100])
def test_trailing_bytes_are_refused(decode: object, extra: bytes) -> None:
    assert _code(decode, "din", DIN_SESSION_SETUP_REQ + extra) == ExiErrorCode.TRAILING_BYTES


@DECODERS
@pytest.mark.parametrize("data", [b"", b"\x00", b"\x81\x00", b"\xa0\x00"])
def test_wrong_header_is_refused(decode: object, data: bytes) -> None:
    assert _code(decode, "app", data) == ExiErrorCode.BAD_HEADER


@DECODERS
def test_wrong_grammar_is_refused(decode: object) -> None:
    # a DIN message read with the SupportedAppProtocol grammar does not fit it exactly
    with pytest.raises(ExiError):
        decode(tables.load("app"), DIN_SESSION_SETUP_REQ)  # type: ignore[operator]


def _app_namespace_stream(length_field: int, chars: int) -> bytes:
    """supportedAppProtocolReq whose first ProtocolNamespace announces `length_field`."""
    writer = BitWriter()
    writer.write(0x80, 8)
    writer.write(0, 2)  # supportedAppProtocolReq
    writer.write(0, 1)  # SE(AppProtocol)
    writer.write(0, 1)  # SE(ProtocolNamespace)
    writer.write(0, 1)  # CH
    writer.uint(length_field + 2)
    for _ in range(chars):
        writer.uint(ord("a"))
    return writer.getvalue()


@DECODERS
def test_string_longer_than_its_facet_is_refused(decode: object) -> None:
    # protocolNamespaceType has maxLength 100
    data = _app_namespace_stream(101, 101)
    assert _code(decode, "app", data) == ExiErrorCode.LENGTH_EXCEEDED


@DECODERS
def test_huge_announced_length_is_refused_before_reading(decode: object) -> None:
    data = _app_namespace_stream(2**40, 0)
    assert _code(decode, "app", data) in (
        ExiErrorCode.LENGTH_EXCEEDED,
        ExiErrorCode.TRUNCATED,
    )


@DECODERS
def test_string_table_hit_is_refused(decode: object) -> None:
    writer = BitWriter()
    for value, width in ((0x80, 8), (0, 2), (0, 1), (0, 1), (0, 1), (0, 8)):
        writer.write(value, width)  # length field 0: a local value-table hit
    assert _code(decode, "app", writer.getvalue()) == ExiErrorCode.STRING_TABLE_HIT


def _app_protocol() -> xsd_app.AppProtocolType:
    return {
        "ProtocolNamespace": "urn:din:70121:2012:MsgDef",
        "VersionNumberMajor": 2,
        "VersionNumberMinor": 0,
        "SchemaID": 1,
        "Priority": 1,
    }


def test_array_at_its_bound_encodes_and_one_more_is_refused() -> None:
    twenty: types_app.Message = {"supportedAppProtocolReq": {"AppProtocol": [_app_protocol()] * 20}}
    data = exi.encode("app", twenty)
    assert exi.decode("app", data) == twenty
    with pytest.raises(ExiError) as caught:
        exi.encode("app", {"supportedAppProtocolReq": {"AppProtocol": [_app_protocol()] * 21}})
    assert caught.value.code == ExiErrorCode.INVALID_MESSAGE


@DECODERS
def test_array_element_past_its_bound_is_refused(decode: object) -> None:
    # after 20 AppProtocol entries the grammar allows only EE (code 0 of 1 bit); that EE is
    # the last bit before the padding, and flipping it asks for a 21st element
    grammar = tables.load("app")
    request = grammar.grammars[grammar.roots[0][1]]
    loop = next(iter(request.limits))  # the counted loop of AppProtocol, 19 more after one
    assert [p.kind for p in request.offered(loop, 19)] == [tables.EE]
    writer = BitWriter()
    writer.write(0x80, 8)
    writer.write(0, 2)  # supportedAppProtocolReq
    content = {"AppProtocol": [_app_protocol()] * 20}
    codec._Encoder(grammar, writer).element(grammar.grammars[0], content, "req", 1)
    last_bit = writer.bits_written - 1
    flipped = bytearray(writer.getvalue())
    flipped[last_bit // 8] ^= 0x80 >> (last_bit % 8)
    assert _code(decode, "app", bytes(flipped)) == ExiErrorCode.UNSUPPORTED_EVENT


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"supportedAppProtocolRes": {"ResponseCode": "Maybe"}}, ExiErrorCode.VALUE_OUT_OF_RANGE),
        ({"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 256}},
         ExiErrorCode.VALUE_OUT_OF_RANGE),
        ({"supportedAppProtocolRes": {}}, ExiErrorCode.INVALID_MESSAGE),
        ({"supportedAppProtocolRes": {"Nonsense": 1}}, ExiErrorCode.INVALID_MESSAGE),
        ({"V2G_Message": {}}, ExiErrorCode.INVALID_MESSAGE),
        ({"a": 1, "b": 2}, ExiErrorCode.INVALID_MESSAGE),
    ],
)  # fmt: skip
def test_invalid_messages_are_refused_on_encode(message: Any, code: int) -> None:
    with pytest.raises(ExiError) as caught:
        exi.encode("app", message)
    assert caught.value.code == code


def test_unknown_schema_set() -> None:
    with pytest.raises(ExiError) as caught:
        exi.decode("iso3", b"\x80")  # type: ignore[call-overload]  # mypy knows the sets
    assert caught.value.code == ExiErrorCode.UNKNOWN_SCHEMA


@pytest.mark.skipif(not native.available(), reason="evstack.ext._exi not built")
@pytest.mark.parametrize("schema", ["app", "din", "iso2", "iso20", "iso20_dc"])
@given(data=st.binary(max_size=64))
@settings(max_examples=1000, deadline=None)
def test_random_bytes_get_the_same_verdict_in_c_and_python(schema: str, data: bytes) -> None:
    grammar = tables.load(schema)
    verdicts: list[object] = []
    for decode in (codec.decode, native.decode):
        try:
            verdicts.append(decode(grammar, b"\x80" + data))
        except ExiError as exc:
            verdicts.append(exc.code)
    assert verdicts[0] == verdicts[1]


def _schedule(entries: int) -> types_iso2.Message:
    schedule: xsd_iso2.SAScheduleTupleType = {
        "SAScheduleTupleID": 1,
        "PMaxSchedule": {
            "PMaxScheduleEntry": [
                {
                    "RelativeTimeInterval": {"start": i},
                    "PMax": {"Multiplier": 0, "Unit": "W", "Value": 7},
                }
                for i in range(entries)
            ]
        },
    }
    body: xsd_iso2.BodyType = {
        "ChargeParameterDiscoveryRes": {
            "ResponseCode": "OK",
            "EVSEProcessing": "Finished",
            "SAScheduleList": {"SAScheduleTuple": [schedule]},
            "AC_EVSEChargeParameter": {
                "AC_EVSEStatus": {
                    "NotificationMaxDelay": 0,
                    "EVSENotification": "None",
                    "RCD": False,
                },
                "EVSENominalVoltage": {"Multiplier": 0, "Unit": "V", "Value": 230},
                "EVSEMaxCurrent": {"Multiplier": 0, "Unit": "A", "Value": 32},
            },
        }
    }
    return {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": body}}


@pytest.mark.parametrize("entries", [1023, 1024])
def test_counted_loop_up_to_its_bound(entries: int) -> None:
    grammar = tables.load("iso2")
    data = codec.encode(grammar, _schedule(entries))
    assert exi.encode("iso2", _schedule(entries)) == data
    assert exi.decode("iso2", data) == _schedule(entries)


def test_counted_loop_past_its_bound_is_refused() -> None:
    with pytest.raises(ExiError) as caught:
        exi.encode("iso2", _schedule(1025))
    assert caught.value.code == ExiErrorCode.INVALID_MESSAGE


# Found by the atheris harness (ext/exi/fuzz/fuzz_api.py): messages that an encoder took and
# wrote as bytes the decoder refuses, or that made it crash. Both encoders must agree.
@pytest.mark.parametrize(
    ("schema", "message", "code"),
    [
        # null (no characters) only where an empty value is valid: EVSEID has minLength 7
        ("iso2", {"SessionSetupRes": {"ResponseCode": "OK", "EVSEID": None}},
         ExiErrorCode.INVALID_MESSAGE),
        # xs:integer holds 64 bits here, as decoding does
        ("xmldsig_fragment",
         {"SignatureMethod": {"@Algorithm": "a", "HMACOutputLength": 2**64}},
         ExiErrorCode.VALUE_OUT_OF_RANGE),
        ("xmldsig_fragment",
         {"SignatureMethod": {"@Algorithm": "a", "HMACOutputLength": -(2**63) - 1}},
         ExiErrorCode.VALUE_OUT_OF_RANGE),
    ],
)  # fmt: skip
def test_encoders_refuse_what_decoding_refuses(schema: str, message: Any, code: int) -> None:
    for encode in (exi.encode_any, lambda s, m: codec.encode(tables.load(s), m)):
        with pytest.raises(ExiError) as caught:
            encode(schema, message)
        assert caught.value.code == code


def test_an_empty_array_is_no_occurrence() -> None:
    entry: xsd_din.SalesTariffEntryType = {"RelativeTimeInterval": {"start": 0}, "EPriceLevel": 0}
    empty: types_din.Message = {"SalesTariffEntry": {**entry, "ConsumptionCost": []}}
    data = exi.encode("din", {"SalesTariffEntry": entry})
    assert exi.encode("din", empty) == data
    assert codec.encode(tables.load("din"), empty) == data


@pytest.mark.parametrize("message", [None, [], "V2G_Message", 1])
def test_a_message_that_is_not_a_mapping_is_refused(message: object) -> None:
    with pytest.raises(ExiError) as caught:
        exi.encode("iso2", message)  # type: ignore[call-overload]
    assert caught.value.code == ExiErrorCode.INVALID_MESSAGE
