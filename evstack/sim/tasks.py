"""Background work that lives exactly as long as the module that started it.

A module's `ready()` hook returns at once, but a simulator must keep running (the
board advancing its line, the EV following its script). Tasks started through
:func:`run_alongside` are cancelled when the task that called it, the module's host,
finishes, so a stopped or restarted module leaves nothing running behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run_alongside(
    *coroutines: Coroutine[Any, Any, None], owner: asyncio.Task[Any] | None = None
) -> list[asyncio.Task[None]]:
    """Start `coroutines` as tasks that end when `owner` (default: the caller) ends.

    Call it from `ready()`, or pass the task captured there: a command handler's own
    task ends as soon as the handler returns.
    """
    tasks = [asyncio.create_task(c) for c in coroutines]
    caller = owner or asyncio.current_task()
    if caller is not None:

        def cancel_all(_: object) -> None:
            for task in tasks:
                task.cancel()

        caller.add_done_callback(cancel_all)
    return tasks
