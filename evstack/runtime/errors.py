"""Exceptions the runtime raises to module code and to `ev-manager`'s user."""

from __future__ import annotations

import enum

__all__ = ["BrokerError", "CommandError", "CommandEvent", "ConfigurationError"]


class CommandEvent(enum.StrEnum):
    """Why a command failed; travels on the wire in the reply's `error.event`."""

    HANDLER_EXCEPTION = "HandlerException"
    TIMEOUT = "Timeout"
    SCHEMA_VALIDATION_FAILED = "SchemaValidationFailed"
    MESSAGE_PARSING_FAILED = "MessageParsingFailed"
    NOT_READY = "NotReady"
    SHUTDOWN = "Shutdown"
    UNKNOWN_COMMAND = "UnknownCommand"
    # The callee has too many of this caller's commands pending, or the caller has too many
    # calls in flight to that callee; nothing was done.
    BUSY = "Busy"
    # The caller's connection to the broker is down: the request was not sent, or the
    # connection dropped while it waited, so the reply cannot come.
    NOT_CONNECTED = "NotConnected"


class CommandError(Exception):
    """A command call did not produce a result.

    The callee's failure is reported, never hidden: `event` says which side failed and how,
    `message` carries the detail (for a handler exception, its type and text).
    """

    def __init__(self, event: CommandEvent, message: str, *, command: str = "") -> None:
        self.event = event
        self.message = message
        self.command = command
        where = f" in {command}" if command else ""
        super().__init__(f"{event.value}{where}: {message}")


class ConfigurationError(Exception):
    """A module, its config or its wiring does not fit what the runtime was given."""


class BrokerError(Exception):
    """The broker cannot be reached or refused us (bad address, credentials or TLS)."""
