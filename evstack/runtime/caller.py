"""Who is calling: the module whose command a handler is serving right now.

The caller is the last level of the command topic, and on a locked-down bus the broker lets
only that module publish there, so it can be trusted as far as the bus is: a handler may
refuse a command from a module that has no business sending it.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

__all__ = ["current_caller"]

_caller: ContextVar[str] = ContextVar("evstack_caller", default="")


def current_caller() -> str:
    """The module id of the caller of the command being served; "" outside a handler."""
    return _caller.get()


def set_caller(module_id: str) -> Token[str]:
    """Make `module_id` the caller until `reset_caller(token)`; for the command server."""
    return _caller.set(module_id)


def reset_caller(token: Token[str]) -> None:
    _caller.reset(token)
