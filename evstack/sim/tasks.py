"""Background work of a module: the loops that keep a simulator running after `ready()`.

The runtime has no hook yet that tells a module it is being stopped, and `ready()`
runs in a task of its own that ends when it returns, so nothing a module starts can be
tied to its lifetime from the inside. Until such a hook exists, :func:`run_alongside`
keeps strong references to the tasks (an unreferenced asyncio task may be garbage
collected mid-flight) and they run until their event loop ends: at process exit in
process mode, at the end of the test's loop in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

_RUNNING: set[asyncio.Task[None]] = set()


def run_alongside(*coroutines: Coroutine[Any, Any, None]) -> list[asyncio.Task[None]]:
    """Start `coroutines` as tasks that run until cancelled."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    for task in tasks:
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
    return tasks
