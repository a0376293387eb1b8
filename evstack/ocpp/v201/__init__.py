"""OCPP 2.0.1 payloads: decode and validate what a peer sent, check and encode what we send.

The types are generated from the OCA's JSON schemas (`ev-codegen ocpp-import`) into
`evstack.generated.ocpp.v201`: `messages` (a request and a response class per action, and
`ACTIONS`), `datatypes` and `enums`. Every call here raises `evstack.ocpp.errors.OcppError`
with the code a CALLERROR carries: FormatViolation (not JSON, or not an object),
TypeConstraintViolation (a value of the wrong JSON type), OccurrenceConstraintViolation (a
required property missing, too few or too many array items), PropertyConstraintViolation (a
value out of its enum, length or bounds, a bad date-time, a property the schema does not
allow), NotImplemented (an unknown action); `details["path"]` is the JSON path.

    request = decode_request("BootNotification", payload)   # a BootNotificationRequest
    reply = encode(BootNotificationResponse(currentTime=DateTime.now(UTC), interval=300,
                                            status=RegistrationStatusEnumType.Accepted))
"""

from __future__ import annotations

from evstack.generated.ocpp.v201 import datatypes, enums, messages
from evstack.generated.ocpp.v201.messages import ACTIONS
from evstack.generated.ocpp.values import DateTime, OpenObject, Record

from .codec import Codec, Payload

__all__ = [
    "ACTIONS",
    "DateTime",
    "OpenObject",
    "Payload",
    "Record",
    "datatypes",
    "decode_request",
    "decode_response",
    "encode",
    "enums",
    "messages",
]

_codec = Codec(ACTIONS)


def decode_request(action: str, payload: Payload) -> Record:
    """The payload of a CALL of `action`, as its request class, validated."""
    return _codec.decode_request(action, payload)


def decode_response(action: str, payload: Payload) -> Record:
    """The payload of the CALLRESULT to a CALL of `action`, as its response class, validated."""
    return _codec.decode_response(action, payload)


def encode(message: Record) -> bytes:
    """`message` as JSON text, checked against its schema first (OcppError if it fails)."""
    return _codec.encode(message)
