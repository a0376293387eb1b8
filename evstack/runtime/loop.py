"""The event loop ev-manager and module processes run on.

uvloop when it is installed (a dependency on Linux): it takes about a sixth off every
message hop (bench/bench_rpc.py). The plain asyncio loop otherwise, e.g. on a board
without a uvloop wheel; everything works the same on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
