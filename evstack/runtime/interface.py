"""Base classes for both sides of an interface; the code generator subclasses them."""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from typing import Any, ClassVar

import msgspec

from evstack.runtime.caller import current_caller
from evstack.runtime.link import ErrorHandler, Link, RestartHandler, Target, VarHandler
from evstack.runtime.specs import CommandSpec, ErrorSpec, Severity, VarSpec

__all__ = ["Client", "ImplBase"]


class ImplBase(abc.ABC):
    """The implementation side of an interface: a provided implementation of a module.

    Instances are made by the module's `create_<impl_id>` factory with whatever
    constructor the author likes; the runtime attaches them afterwards (`_attach`), so no
    `super().__init__()` call is needed.
    """

    INTERFACE: ClassVar[str]
    COMMANDS: ClassVar[Mapping[str, CommandSpec]] = {}
    VARS: ClassVar[Mapping[str, VarSpec]] = {}
    ERRORS: ClassVar[Mapping[str, ErrorSpec]] = {}

    _link: Link | None = None
    _impl_id: str = ""

    def _attach(self, link: Link, impl_id: str) -> None:
        self._link = link
        self._impl_id = impl_id

    @property
    def impl_id(self) -> str:
        return self._impl_id

    @property
    def caller(self) -> str:
        """Inside a command handler: the module id of the module whose command it serves.

        It is the last level of the command's topic; on a bus locked down with per-module
        credentials only that module can publish there. Empty outside a handler.
        """
        return current_caller()

    def _attached_link(self) -> Link:
        if self._link is None:
            raise RuntimeError(
                f"{type(self).__name__} is not attached to a running module yet; "
                "publish from init()/ready() or later, not from the constructor"
            )
        return self._link

    async def _publish_var(self, name: str, value: Any) -> None:
        await self._attached_link().publish_var(self._impl_id, self.VARS[name], value)

    def _error_spec(self, error: enum.StrEnum | str) -> ErrorSpec:
        spec = self.ERRORS.get(str(error))
        if spec is None:
            declared = ", ".join(sorted(self.ERRORS)) or "none"
            raise ValueError(
                f"interface {self.INTERFACE!r} does not declare error {str(error)!r} "
                f"(declared: {declared})"
            )
        return spec

    async def raise_error(
        self,
        error: enum.StrEnum | str,
        message: str = "",
        *,
        severity: Severity = Severity.HIGH,
        sub_type: str = "",
    ) -> None:
        """Raise (or re-raise with a new message) an error; it stays active until cleared."""
        spec = self._error_spec(error)
        await self._attached_link().raise_error(
            self._impl_id, spec, sub_type=sub_type, message=message, severity=severity
        )

    async def clear_error(self, error: enum.StrEnum | str, sub_type: str = "") -> None:
        spec = self._error_spec(error)
        await self._attached_link().clear_error(self._impl_id, spec, sub_type=sub_type)


class Client:
    """The requirement side of an interface: one connection to a provided implementation."""

    INTERFACE: ClassVar[str]

    def __init__(self, link: Link, target: Target) -> None:
        self._link = link
        self._target = target

    @property
    def target(self) -> Target:
        return self._target

    async def _call(
        self,
        spec: CommandSpec,
        args: msgspec.Struct,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call deadline is the API
    ) -> Any:
        return await self._link.call(self._target, spec, args, timeout)

    def _subscribe_var(self, spec: VarSpec, handler: VarHandler) -> None:
        self._link.subscribe_var(self._target, spec, handler)

    def subscribe_errors(self, handler: ErrorHandler) -> None:
        """Call `handler` for every raise and clear of this implementation's errors.

        Errors active before the subscription are delivered too (they are retained).
        """
        self._link.subscribe_errors(self._target, handler)

    @property
    def is_up(self) -> bool:
        """Whether a call now goes out at once: the target module says it is ready and this
        module is connected. (A call to a target that is not up first waits for it.)"""
        return self._link.is_up(self._target)

    def subscribe_restarts(self, handler: RestartHandler) -> None:
        """Call `handler` each time the module behind this connection is up again after a
        crash or a restart (not at its first start).

        A restarted module has forgotten what it was told; this is where its users send it
        again (enable a board, set its PWM, repeat a limit) without waiting for a restart of
        their own.
        """
        self._link.subscribe_restarts(self._target, handler)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._target.module_id}:{self._target.impl_id}>"
