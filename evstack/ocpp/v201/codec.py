"""Decoding and encoding OCPP payloads with the generated types, failing as OCPP-J says.

msgspec parses and validates in one pass: a decoder per payload class checks every
constraint of the schema (required properties, enums, lengths, bounds, item counts, unknown
properties, date-times). What it refuses becomes an `OcppError` whose code is the one
OCPP-J's Part 4 (section 4.3) gives the case and whose details name the JSON path.

Nothing here depends on the version: `Codec` takes a version's `ACTIONS` table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from evstack.generated.ocpp.values import Record, dec_hook, enc_hook
from evstack.ocpp.errors import ErrorCode, OcppError

__all__ = ["Codec", "Payload", "error_from_msgspec"]

Payload = bytes | msgspec.Raw

# An OCPP-J errorDescription is at most 255 characters (Part 4, table 7); msgspec's message
# may quote a value the peer sent.
_DESCRIPTION_LIMIT = 255
_PATH_SUFFIX = re.compile(r" - at `(\$[^`]*)`$")
_WRONG_TYPE = re.compile(r"^Expected `[^`]+`, got `[^`]+`$")
# How msgspec writes a datetime with microseconds: six digits, then the offset.
_MICROSECONDS = re.compile(rb'[0-9]:[0-9]{2}\.[0-9]{6}(?:Z|[+-][0-9]{2}:[0-9]{2})"')


def _split_path(message: str) -> tuple[str, str]:
    """msgspec's message without its path, and the path ('$' for the payload itself).

    An open object's properties are checked inside a hook, whose message carries the
    path inside the object before the path of the object: they are joined.
    """
    path = "$"
    while match := _PATH_SUFFIX.search(message):
        path += match.group(1)[1:]  # the last suffix is the outermost path
        message = message[: match.start()]
    return message, path


def _code(message: str, path: str) -> ErrorCode:
    if message.startswith("Object missing required field") or message.startswith(
        "Expected `array` of length"
    ):
        return ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    if _WRONG_TYPE.match(message):
        if path == "$":  # the payload is not a JSON object at all
            return ErrorCode.FORMAT_VIOLATION
        return ErrorCode.TYPE_CONSTRAINT_VIOLATION
    # The rest are values out of their range: enum values, lengths, bounds, patterns,
    # date-times, and properties the schema does not allow (`additionalProperties: false`).
    return ErrorCode.PROPERTY_CONSTRAINT_VIOLATION


def error_from_msgspec(exc: msgspec.DecodeError) -> OcppError:
    """The OcppError for what msgspec refused: FormatViolation for text that is not JSON."""
    if not isinstance(exc, msgspec.ValidationError):
        return OcppError(ErrorCode.FORMAT_VIOLATION, _limit(str(exc)))
    message, path = _split_path(str(exc))
    return OcppError(_code(message, path), _limit(message), {"path": path})


def _limit(text: str) -> str:
    return text if len(text) <= _DESCRIPTION_LIMIT else text[: _DESCRIPTION_LIMIT - 1] + "…"


class Codec:
    """Payload decoding and encoding for one OCPP version's `ACTIONS`.

    Decoders are made on first use of a class, so a station pays only for the actions it
    sees.
    """

    def __init__(self, actions: Mapping[str, tuple[type[Record], type[Record] | None]]) -> None:
        self._actions = actions
        self._decoders: dict[type[Record], msgspec.json.Decoder[Any]] = {}
        self._encoder = msgspec.json.Encoder(enc_hook=enc_hook)

    def _decoder(self, cls: type[Record]) -> msgspec.json.Decoder[Any]:
        decoder = self._decoders.get(cls)
        if decoder is None:
            decoder = self._decoders[cls] = msgspec.json.Decoder(cls, dec_hook=dec_hook)
        return decoder

    def _classes(self, action: str) -> tuple[type[Record], type[Record] | None]:
        classes = self._actions.get(action)
        if classes is None:
            raise OcppError(ErrorCode.NOT_IMPLEMENTED, _limit(f"unknown action {action!r}"))
        return classes

    def decode(self, cls: type[Record], payload: Payload) -> Record:
        """`payload` as a `cls`, validated; OcppError when it is not one."""
        try:
            result: Record = self._decoder(cls).decode(payload)
        except msgspec.DecodeError as exc:
            raise error_from_msgspec(exc) from None
        return result

    def decode_request(self, action: str, payload: Payload) -> Record:
        """The payload of a CALL of `action`, validated."""
        return self.decode(self._classes(action)[0], payload)

    def decode_response(self, action: str, payload: Payload) -> Record:
        """The payload of a CALLRESULT to a CALL of `action`, validated."""
        response = self._classes(action)[1]
        if response is None:
            raise OcppError(
                ErrorCode.PROTOCOL_ERROR, _limit(f"{action} is not answered with a result")
            )
        return self.decode(response, payload)

    def encode(self, message: Record) -> bytes:
        """`message` as JSON, after checking it as a peer would check it.

        The check decodes what was written, with the decoder the peer side uses here. A plain
        `datetime` put where a DateTime belongs (mypy would object) is written by msgspec
        with six fractional digits: then the text is written again from the decoded copy,
        whose DateTimes have milliseconds at most.
        """
        if not isinstance(message, Record):
            raise TypeError(f"not an OCPP payload: {type(message).__name__}")
        try:
            text = self._encoder.encode(message)
        except (TypeError, msgspec.EncodeError) as exc:
            raise OcppError(ErrorCode.TYPE_CONSTRAINT_VIOLATION, _limit(str(exc))) from None
        checked = self.decode(type(message), text)
        if _MICROSECONDS.search(text):  # maybe such a datetime; at worst a string like one
            return self._encoder.encode(checked)
        return text
