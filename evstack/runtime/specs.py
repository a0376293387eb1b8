"""Static descriptions of interfaces and modules, written by the code generator.

The generated classes carry these as class attributes so that the runtime can wire a
module without reading any YAML at start-up: everything it needs was settled at
generation time and checked by mypy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from evstack.runtime.interface import Client, ImplBase

__all__ = [
    "CommandSpec",
    "ErrorSpec",
    "ProvidedSpec",
    "RequirementSpec",
    "Severity",
    "VarSpec",
]


class Severity(enum.StrEnum):
    """How bad a raised error is; the values are EVerest's spellings."""

    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command of an interface.

    `args` is a struct holding the arguments (an empty struct when there are none), so one
    msgspec decode both parses and validates a request. `result` is any type msgspec can
    decode into (`None` for commands without a result). `handler` names the coroutine
    method on the implementation that serves the command.
    """

    name: str
    args: type[msgspec.Struct]
    result: Any
    handler: str


@dataclass(frozen=True, slots=True)
class VarSpec:
    """One var of an interface; `qos` comes from the manifest (see docs/runtime-protocol.md)."""

    name: str
    type: Any
    qos: int


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """One error an interface may raise; `type` is `<error file>/<ErrorName>`."""

    type: str
    description: str


@dataclass(frozen=True, slots=True)
class ProvidedSpec:
    """One implementation a module provides, with its typed per-implementation config."""

    impl_id: str
    interface_impl: type[ImplBase]
    config: type[msgspec.Struct]


@dataclass(frozen=True, slots=True)
class RequirementSpec:
    """One requirement of a module: which client class talks to it and how many connections."""

    req_id: str
    client: type[Client]
    min_connections: int = 1
    max_connections: int = 1
