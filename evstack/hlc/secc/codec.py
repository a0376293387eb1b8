"""The SECC's one door to `evstack.exi`: decode and encode by schema set.

The session layer picks the schema set at run time (from SupportedAppProtocol and the
V2GTP payload type), so it goes through the codec's run-time entry points
(`decode_any`/`encode_any`); the typed per-set overloads are for literal schema sets.
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
    return exi.decode_any(schema_set, payload)


def encode(schema_set: str, document: Doc) -> bytes:
    return exi.encode_any(schema_set, document)


def payload_type(schema_set: str) -> int:
    """The V2GTP payload type that carries `schema_set`."""
    return int(PAYLOAD_TYPES[schema_set])
