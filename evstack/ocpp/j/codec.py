"""What the RPC layer needs from an OCPP version's message types: a codec for the payloads.

OCPP-J frames the messages and leaves their payloads to the version: `evstack.ocpp.v201`
is such a codec (a module satisfies this protocol as well as an object does).
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

__all__ = ["Codec", "Payload"]

Payload = bytes | msgspec.Raw  # a payload's JSON text, as the frame held it (no copy)


class Codec(Protocol):
    """Payloads from JSON into typed messages and back.

    A payload arrives as the raw JSON of a CALL's or CALLRESULT's payload object. Decoding
    raises `evstack.ocpp.errors.OcppError` with the code Part 4 prescribes: NotImplemented for
    an action it does not know, FormatViolation, ProtocolError, TypeConstraintViolation,
    OccurrenceConstraintViolation or PropertyConstraintViolation for a payload that does not
    fit the action's schema. The RPC endpoint answers that error as it is.
    """

    def decode_request(self, action: str, payload: Payload) -> Any:
        """The request of a CALL for `action`."""
        ...

    def decode_response(self, action: str, payload: Payload) -> Any:
        """The response, in a CALLRESULT, to a CALL for `action`."""
        ...

    def encode(self, message: Any) -> bytes:
        """A request or response as the JSON object of a payload."""
        ...
