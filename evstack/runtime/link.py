"""The seam between generated classes and the runtime that moves their messages.

Generated `ImplBase`/`Client` subclasses talk only to this protocol, so they know nothing
about MQTT; `evstack.runtime.host.ModuleHost` is the implementation used in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

import msgspec

from evstack.runtime.specs import CommandSpec, ErrorSpec, Severity, VarSpec
from evstack.runtime.wire import ErrorEvent

__all__ = ["ErrorHandler", "Link", "RestartHandler", "Target", "VarHandler"]

VarHandler = Callable[[Any], Awaitable[None] | None]
ErrorHandler = Callable[[ErrorEvent], Awaitable[None] | None]
RestartHandler = Callable[[], Awaitable[None] | None]


class Target(NamedTuple):
    """One connection: the implementation `impl_id` of the module instance `module_id`."""

    module_id: str
    impl_id: str


class Link(Protocol):
    async def publish_var(self, impl_id: str, spec: VarSpec, value: Any) -> None: ...

    async def raise_error(
        self, impl_id: str, spec: ErrorSpec, *, sub_type: str, message: str, severity: Severity
    ) -> None: ...

    async def clear_error(self, impl_id: str, spec: ErrorSpec, *, sub_type: str) -> None: ...

    async def call(
        self,
        target: Target,
        spec: CommandSpec,
        args: msgspec.Struct,
        timeout: float | None,  # noqa: ASYNC109 - a per-call deadline is the API
    ) -> Any: ...

    def subscribe_var(self, target: Target, spec: VarSpec, handler: VarHandler) -> None: ...

    def subscribe_errors(self, target: Target, handler: ErrorHandler) -> None: ...

    def subscribe_restarts(self, target: Target, handler: RestartHandler) -> None: ...

    def is_up(self, target: Target) -> bool: ...

    def subscribe_module_crashes(self, handler: ErrorHandler) -> None: ...

    def subscribe_all_errors(self, handler: ErrorHandler) -> None: ...

    async def finish_run(self, exit_code: int, result: Any) -> None: ...
