"""`encode` and `decode` by schema set id, on the C codec when built, else in Python.

Both are typed per schema set: `decode("iso2", data)` returns a `types_iso2.Message`, and
`encode("iso2", message)` takes one, so mypy checks a message literal against its schema
(the classes are in evstack.generated.exi, see docs/exi.md). They have no overload for a
schema set known only at run time: one that took the JSON form would also accept a wrong
message for a literal set. `decode_any` and `encode_any` serve that case, untyped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, overload

from evstack.exi import codec, native, tables
from evstack.exi.errors import ExiError, ExiErrorCode
from evstack.generated.exi import (
    types_app,
    types_din,
    types_iso2,
    types_iso2_fragment,
    types_iso20,
    types_iso20_ac,
    types_iso20_acdp,
    types_iso20_dc,
    types_iso20_fragment,
    types_iso20_wpt,
    types_xmldsig_fragment,
)


@overload
def decode(schema_set: Literal["app"], data: bytes) -> types_app.Message: ...


@overload
def decode(schema_set: Literal["din"], data: bytes) -> types_din.Message: ...


@overload
def decode(schema_set: Literal["iso2"], data: bytes) -> types_iso2.Message: ...


@overload
def decode(schema_set: Literal["iso20"], data: bytes) -> types_iso20.Message: ...


@overload
def decode(schema_set: Literal["iso20_ac"], data: bytes) -> types_iso20_ac.Message: ...


@overload
def decode(schema_set: Literal["iso20_dc"], data: bytes) -> types_iso20_dc.Message: ...


@overload
def decode(schema_set: Literal["iso20_acdp"], data: bytes) -> types_iso20_acdp.Message: ...


@overload
def decode(schema_set: Literal["iso20_wpt"], data: bytes) -> types_iso20_wpt.Message: ...


@overload
def decode(schema_set: Literal["iso2_fragment"], data: bytes) -> types_iso2_fragment.Message: ...


@overload
def decode(
    schema_set: Literal["xmldsig_fragment"], data: bytes
) -> types_xmldsig_fragment.Message: ...


@overload
def decode(schema_set: Literal["iso20_fragment"], data: bytes) -> types_iso20_fragment.Message: ...


def decode(schema_set: str, data: bytes) -> Any:
    """Decode one EXI stream of `schema_set`; every byte must belong to the document.

    Never guess the schema set from the bytes (some streams decode in two grammars):
    take it from the SupportedAppProtocol result and the V2GTP payload type.
    """
    grammar = tables.load(schema_set)
    if native.available():
        return native.decode(grammar, bytes(data))
    return codec.decode(grammar, bytes(data))


def decode_any(schema_set: str, data: bytes) -> dict[str, Any]:
    """`decode` for a schema set chosen at run time: the JSON form, untyped."""
    result: dict[str, Any] = decode(schema_set, data)  # type: ignore[call-overload]
    return result


@overload
def encode(schema_set: Literal["app"], message: types_app.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["din"], message: types_din.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso2"], message: types_iso2.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso20"], message: types_iso20.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso20_ac"], message: types_iso20_ac.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso20_dc"], message: types_iso20_dc.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso20_acdp"], message: types_iso20_acdp.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso20_wpt"], message: types_iso20_wpt.Message) -> bytes: ...


@overload
def encode(schema_set: Literal["iso2_fragment"], message: types_iso2_fragment.Message) -> bytes: ...


@overload
def encode(
    schema_set: Literal["xmldsig_fragment"], message: types_xmldsig_fragment.Message
) -> bytes: ...


@overload
def encode(
    schema_set: Literal["iso20_fragment"], message: types_iso20_fragment.Message
) -> bytes: ...


def encode(schema_set: str, message: Mapping[str, Any]) -> bytes:
    """Encode the JSON form of one message (a dict holding exactly one root element)."""
    grammar = tables.load(schema_set)
    if not isinstance(message, Mapping):
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, "a message is a dict with one root element")
    if native.available():
        try:
            return native.encode(grammar, dict(message))
        except ExiError as exc:
            if exc.code != ExiErrorCode.INVALID_MESSAGE:
                raise
            # keys out of schema order, or a real mistake: the Python encoder accepts the
            # first and explains the second by path
    return codec.encode(grammar, dict(message))


def encode_any(schema_set: str, message: Mapping[str, Any]) -> bytes:
    """`encode` for a schema set chosen at run time: the JSON form, untyped."""
    result: bytes = encode(schema_set, message)  # type: ignore[call-overload]
    return result
