"""The errors an OCPP-J peer reports in a CALLERROR (OCPP-J 2.0.1 Part 4, section 4.3).

One taxonomy for every layer: the framing raises `RpcFrameworkError` or `ProtocolError`, payload
validation raises the constraint violations, a station without a handler raises `NotImplemented`
or `NotSupported`. Whoever catches an `OcppError` answers with its code, description and details,
and the connection stays up.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["ErrorCode", "OcppError"]


class ErrorCode(enum.StrEnum):
    """OCPP-J 2.0.1's RPC error codes, spelled as on the wire."""

    FORMAT_VIOLATION = "FormatViolation"  # the payload is syntactically incorrect
    GENERIC_ERROR = "GenericError"
    INTERNAL_ERROR = "InternalError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    NOT_IMPLEMENTED = "NotImplemented"  # the action is not known
    NOT_SUPPORTED = "NotSupported"  # the action is known but not supported
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"  # missing, or too many
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"  # an invalid value
    PROTOCOL_ERROR = "ProtocolError"  # not the PDU's structure
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"  # not a valid RPC message: no message id, say
    SECURITY_ERROR = "SecurityError"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"  # a field of the wrong type


class OcppError(Exception):
    """A request could not be served; its CALLERROR says why."""

    def __init__(
        self, code: ErrorCode, description: str = "", details: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.description = description
        self.details = details or {}
        super().__init__(f"{code.value}: {description}" if description else code.value)
