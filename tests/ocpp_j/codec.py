"""A small codec with a few OCPP 2.0.1 actions, for the OCPP-J tests: msgspec structs that
check what the official schemas check for these actions, and the error codes of Part 4."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import msgspec

from evstack.ocpp.errors import ErrorCode, OcppError
from evstack.ocpp.j.codec import Payload


class _Message(msgspec.Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=True):
    pass


class OperationalStatus(enum.StrEnum):
    OPERATIVE = "Operative"
    INOPERATIVE = "Inoperative"


class Evse(_Message):
    id: Annotated[int, msgspec.Meta(ge=0)]
    connector_id: int | None = None


class ChangeAvailabilityRequest(_Message):
    operational_status: OperationalStatus
    evse: Evse | None = None


class ChangeAvailabilityResponse(_Message):
    status: str


class ClearCacheRequest(_Message):
    pass


class ClearCacheResponse(_Message):
    status: str


class ResetRequest(_Message):
    type: str


class ResetResponse(_Message):
    status: str


class ChargingStation(_Message):
    model: Annotated[str, msgspec.Meta(max_length=20)]
    vendor_name: Annotated[str, msgspec.Meta(max_length=50)]


class BootNotificationRequest(_Message):
    reason: str
    charging_station: ChargingStation


class BootNotificationResponse(_Message):
    current_time: str
    interval: int
    status: str


class HeartbeatRequest(_Message):
    pass


class HeartbeatResponse(_Message):
    current_time: str


ACTIONS: dict[str, tuple[type[_Message], type[_Message]]] = {
    "BootNotification": (BootNotificationRequest, BootNotificationResponse),
    "ChangeAvailability": (ChangeAvailabilityRequest, ChangeAvailabilityResponse),
    "ClearCache": (ClearCacheRequest, ClearCacheResponse),
    "Heartbeat": (HeartbeatRequest, HeartbeatResponse),
    "Reset": (ResetRequest, ResetResponse),
}
_decoders = {
    action: (msgspec.json.Decoder(request), msgspec.json.Decoder(response))
    for action, (request, response) in ACTIONS.items()
}
_encoder = msgspec.json.Encoder()


def _error(error: msgspec.ValidationError) -> OcppError:
    """The Part 4 code for what msgspec found wrong."""
    text = str(error)
    if text.startswith("Object missing required field"):
        code = ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    elif text.startswith("Expected `") and "`, got `" in text:
        code = ErrorCode.TYPE_CONSTRAINT_VIOLATION
    else:  # a value out of its range, enumeration or length; a property not in the schema
        code = ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    return OcppError(code, text)


class SmallCodec:
    def _decode(self, action: str, payload: Payload, which: int) -> Any:
        try:
            decoder = _decoders[action][which]
        except KeyError:
            raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"unknown action {action}") from None
        try:
            return decoder.decode(payload)
        except msgspec.ValidationError as error:
            raise _error(error) from None
        except msgspec.DecodeError as error:
            raise OcppError(ErrorCode.FORMAT_VIOLATION, str(error)) from None

    def decode_request(self, action: str, payload: Payload) -> Any:
        return self._decode(action, payload, 0)

    def decode_response(self, action: str, payload: Payload) -> Any:
        return self._decode(action, payload, 1)

    def encode(self, message: Any) -> bytes:
        return _encoder.encode(message)
