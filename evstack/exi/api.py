"""`encode` and `decode` by schema set id, on the C codec when built, else in Python."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evstack.exi import codec, native, tables
from evstack.exi.errors import ExiError, ExiErrorCode


def decode(schema_set: str, data: bytes) -> dict[str, Any]:
    """Decode one EXI stream of `schema_set`; every byte must belong to the document.

    Never guess the schema set from the bytes (some streams decode in two grammars):
    take it from the SupportedAppProtocol result and the V2GTP payload type.
    """
    grammar = tables.load(schema_set)
    if native.available():
        return native.decode(grammar, bytes(data))
    return codec.decode(grammar, bytes(data))


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
