"""Run a coroutine's first step at once, and make a task only if it has to wait.

Python 3.11 has no eager task factory. Most command and var handlers finish without ever
suspending; running them in a task costs an extra trip through the event loop per
message, which is most of our overhead on a command round trip.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["Finished", "start_eagerly"]

T = TypeVar("T")


class Finished:
    """The coroutine completed during its first step; `value` is what it returned."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def start_eagerly(coro: Coroutine[Any, Any, T]) -> Finished | Coroutine[Any, Any, T]:
    """Step `coro` once; return `Finished`, or an awaitable that completes it.

    Exceptions raised during the first step propagate to the caller. The returned
    awaitable must be awaited in a task; it resumes `coro` exactly where it suspended,
    and delivers cancellation to it as a task would.
    """
    try:
        pending = coro.send(None)
    except StopIteration as done:
        return Finished(done.value)
    return _resume(coro, pending)


async def _resume(coro: Coroutine[Any, Any, T], pending: Any) -> T:
    return await _continue(coro, pending)


@types.coroutine
def _continue(coro: Coroutine[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    while True:
        try:
            # Hand the future `coro` waits on to our task; the task resumes us when it is done.
            yield pending
        except BaseException as exc:  # cancellation (or anything thrown) goes where coro waits
            try:
                pending = coro.throw(exc)
            except StopIteration as done:
                result: T = done.value
                return result
            continue
        return (yield from coro.__await__())
