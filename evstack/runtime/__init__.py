"""The evstack runtime: base classes for generated code, the MQTT module host, `ev-manager`."""

from evstack.runtime.errors import BrokerError, CommandError, CommandEvent, ConfigurationError
from evstack.runtime.interface import Client, ImplBase
from evstack.runtime.link import Target
from evstack.runtime.module import ModuleBase, ModuleContext
from evstack.runtime.specs import (
    CommandSpec,
    ErrorSpec,
    ProvidedSpec,
    RequirementSpec,
    Severity,
    VarSpec,
)
from evstack.runtime.wire import ErrorEvent

__all__ = [
    "BrokerError",
    "Client",
    "CommandError",
    "CommandEvent",
    "CommandSpec",
    "ConfigurationError",
    "ErrorEvent",
    "ErrorSpec",
    "ImplBase",
    "ModuleBase",
    "ModuleContext",
    "ProvidedSpec",
    "RequirementSpec",
    "Severity",
    "Target",
    "VarSpec",
]
