"""OCPP-J's RPC frames (Part 4, section 4): parse what arrives, serialise what goes out.

A well-formed frame is decoded in one pass by msgspec into `Call`, `CallResult` or
`CallError`, its payload left as raw JSON for the codec to decode into its own types. Only a
frame that fails that pass is looked at again, slowly, to find which CALLERROR it deserves:

- not JSON, or not an array starting with an integer: RpcFrameworkError (not an RPC message);
- a message type other than 2, 3 or 4: MessageTypeNotSupported (section 4.4);
- a CALL whose message id is not a string of 1 to 36 characters: RpcFrameworkError, to "-1";
- a CALL that is not `[2, id, action, payload]` (elements missing or too many, an action that
  is not a name): ProtocolError, the PDU's structure broken;
- a CALL whose payload is not a JSON object, or whose JSON breaks off after a readable
  message id: FormatViolation;
- a frame over the size limit: FormatViolation, what Part 2 answers to a request over its
  BytesPerMessage (B06.FR.17);
- a malformed CALLRESULT or CALLERROR: nothing, a response is never answered.

Whenever the message id can be read it is echoed, so that the peer can match the error to its
CALL; otherwise the answer goes to "-1" as section 4.2.3 says.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from evstack.ocpp.errors import ErrorCode, OcppError

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "MAX_MESSAGE_ID",
    "UNKNOWN_ID",
    "Call",
    "CallError",
    "CallResult",
    "Frame",
    "FrameError",
    "encode_call",
    "encode_error",
    "encode_result",
    "oversized",
    "parse",
    "peek",
]

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_MESSAGE_ID = 36  # string[36]: room for a UUID
MAX_DESCRIPTION = 255  # errorDescription is string[255]
UNKNOWN_ID = "-1"  # the message id of an answer to a frame whose own id could not be read

MessageId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_ID)]


class Call(msgspec.Struct, array_like=True, tag=CALL, forbid_unknown_fields=True):
    """[2, messageId, action, {payload}]: a request."""

    message_id: MessageId
    action: str
    payload: msgspec.Raw


class CallResult(msgspec.Struct, array_like=True, tag=CALLRESULT, forbid_unknown_fields=True):
    """[3, messageId, {payload}]: the answer to a CALL."""

    message_id: MessageId
    payload: msgspec.Raw


class CallError(msgspec.Struct, array_like=True, tag=CALLERROR, forbid_unknown_fields=True):
    """[4, messageId, errorCode, errorDescription, {errorDetails}]: a CALL that failed.

    `details` stays raw: a peer's CALLERROR is reported, not validated."""

    message_id: MessageId
    code: str
    description: str
    details: msgspec.Raw


Frame = Call | CallResult | CallError


class FrameError(OcppError):
    """A frame that is not a valid RPC message.

    `message_id` is the id to answer to (`UNKNOWN_ID` when it could not be read), or None when
    the frame must not be answered: a CALLRESULT or CALLERROR is never answered. `response_to`
    is the id of a malformed CALLRESULT or CALLERROR, so that the CALL it answers can fail at
    once instead of timing out."""

    def __init__(
        self,
        code: ErrorCode,
        description: str,
        *,
        message_id: str | None,
        response_to: str | None = None,
    ) -> None:
        super().__init__(code, description)
        self.message_id = message_id
        self.response_to = response_to


_decoder = msgspec.json.Decoder(Frame)
_encoder = msgspec.json.Encoder()


def parse(data: bytes | str) -> Frame:
    """The frame in `data`; `FrameError` if it is not a valid one."""
    try:
        frame = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise _diagnose(data) from None
    if isinstance(frame, Call) and bytes(memoryview(frame.payload)[:1]) != b"{":
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION,
            "the payload of a CALL must be a JSON object",
            message_id=frame.message_id,
        )
    return frame


def encode_call(message_id: str, action: str, payload: bytes) -> bytes:
    """A CALL around `payload`, the request already encoded as a JSON object."""
    return _encoder.encode(Call(message_id, action, msgspec.Raw(payload)))


def encode_result(message_id: str, payload: bytes) -> bytes:
    """A CALLRESULT around `payload`, the response already encoded as a JSON object."""
    return _encoder.encode(CallResult(message_id, msgspec.Raw(payload)))


def encode_error(
    message_id: str, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None
) -> bytes:
    """A CALLERROR; the description is cut to the 255 characters Part 4 allows."""
    return _encoder.encode(
        (CALLERROR, message_id, code.value, description[:MAX_DESCRIPTION], details or {})
    )


# The start of a frame, read without parsing the rest: for a frame too large to parse, or
# whose JSON breaks off later on.
_HEAD = re.compile(rb'\s*\[\s*(-?\d+)\s*,\s*"([^"\\]{1,%d})"' % MAX_MESSAGE_ID)


def peek(data: bytes | str) -> tuple[int, str] | None:
    """The message type and id at the start of `data`, if they can be read there."""
    head = data[:128].encode() if isinstance(data, str) else data[:128]
    match = _HEAD.match(head)
    if match is None:
        return None
    return int(match[1]), match[2].decode("utf-8", "replace")


def oversized(data: bytes | str, limit: int) -> FrameError:
    """The error for a frame of more than `limit` bytes, answered unless it is a response."""
    head = peek(data)
    description = f"frame of {len(data)} bytes, more than the {limit} accepted"
    return _error_for(head, ErrorCode.FORMAT_VIOLATION, description)


def _error_for(head: tuple[int, str] | None, code: ErrorCode, description: str) -> FrameError:
    if head is None:
        return FrameError(code, description, message_id=UNKNOWN_ID)
    kind, message_id = head
    if kind in (CALLRESULT, CALLERROR):
        return FrameError(code, description, message_id=None, response_to=message_id)
    if kind != CALL:
        return FrameError(
            ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
            f"message type {kind} is not supported",
            message_id=message_id,
        )
    return FrameError(code, description, message_id=message_id)


def _diagnose(data: bytes | str) -> FrameError:
    """Why `data` is not a valid frame, and what to answer (the table in the module's doc)."""
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        head = peek(data)
        if head is None:
            return FrameError(
                ErrorCode.RPC_FRAMEWORK_ERROR,
                "not JSON, or no message id could be read",
                message_id=UNKNOWN_ID,
            )
        return _error_for(head, ErrorCode.FORMAT_VIOLATION, "the frame is not valid JSON")
    if not isinstance(value, list) or not value:
        return FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            "a frame is a JSON array: [type, id, ...]",
            message_id=UNKNOWN_ID,
        )
    kind, message_id = value[0], _message_id(value)
    if type(kind) is not int:
        return FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            "the message type must be an integer",
            message_id=message_id or UNKNOWN_ID,
        )
    if kind in (CALLRESULT, CALLERROR):
        return FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            "malformed CALLRESULT or CALLERROR",
            message_id=None,
            response_to=message_id,
        )
    if kind != CALL:
        return FrameError(
            ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
            f"message type {kind} is not supported",
            message_id=message_id or UNKNOWN_ID,
        )
    if message_id is None:
        return FrameError(
            ErrorCode.RPC_FRAMEWORK_ERROR,
            f"the message id must be a string of 1 to {MAX_MESSAGE_ID} characters",
            message_id=UNKNOWN_ID,
        )
    if len(value) != 4 or not isinstance(value[2], str) or not value[2]:
        return FrameError(
            ErrorCode.PROTOCOL_ERROR,
            "a CALL is [2, messageId, action, {payload}]",
            message_id=message_id,
        )
    return FrameError(
        ErrorCode.FORMAT_VIOLATION,
        "the payload of a CALL must be a JSON object",
        message_id=message_id,
    )


def _message_id(value: list[Any]) -> str | None:
    if len(value) < 2:
        return None
    candidate = value[1]
    if isinstance(candidate, str) and 0 < len(candidate) <= MAX_MESSAGE_ID:
        return candidate
    return None
