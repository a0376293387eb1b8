"""The SECC's one door to `evstack.exi`: decode and encode by schema set.

Every message the session layer handles passes here, so moving to the codec's typed API
(TypedDicts per schema set) changes this file and the annotations of its callers only.
Messages are the codec's JSON form: a dict with one root key (docs/exi.md).
"""

from __future__ import annotations

from typing import Any

from evstack import exi
from evstack.exi.v2gtp import PAYLOAD_TYPES

Doc = dict[str, Any]
"""One decoded document (a dict holding exactly one root element)."""

CodecError = exi.ExiError


def decode(schema_set: str, payload: bytes) -> Doc:
    """The document in `payload`; raises CodecError for anything but one whole document."""
    return dict(exi.decode(schema_set, payload))  # type: ignore[call-overload, unused-ignore]


def encode(schema_set: str, document: Doc) -> bytes:
    return exi.encode(schema_set, document)  # type: ignore[call-overload, no-any-return, unused-ignore]


def payload_type(schema_set: str) -> int:
    """The V2GTP payload type that carries `schema_set`."""
    return int(PAYLOAD_TYPES[schema_set])
