"""Waiting for the first of several things without eating a cancellation.

The obvious way to tidy up after `asyncio.wait(..., FIRST_COMPLETED)` is to cancel the others
and `await` each under `suppress(CancelledError)`. But if the waiting task itself is cancelled
just then (its module is stopping), that suppress swallows its own cancellation, and the loop
it runs goes on after the module stopped. Cancelling the others without awaiting them is
enough: they finish on the next turn of the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["first_completed"]


async def first_completed(*awaitables: Awaitable[Any]) -> None:
    """Wait until one of `awaitables` is done; cancel the rest (pass tasks to read results)."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
