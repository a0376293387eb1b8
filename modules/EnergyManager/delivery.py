"""Getting enforced limits to the nodes: the latest one each, never a queue of stale ones.

Every round of the energy manager produces a fresh limit for every node. If a node answers
slower than rounds come (a loaded machine, a sped-up simulation), sending each round's
limit as its own call would pile calls up on the bus faster than they drain, and every one
of them would time out: the slower the node, the more load we put on it. Instead each node
has at most one call in flight; limits computed meanwhile replace each other and only the
newest goes out once the node has answered. A hung node thus costs one call per timeout,
and the other nodes are not held up, because each node has its own courier.

A failing node is reported once when it starts failing, with what that means for the EVSE,
and once more (at info level) when limits get through again; the rounds in between are
counted, not logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from evstack.generated.types.energy import EnforcedLimits
from evstack.runtime import CommandError, CommandEvent

Send = Callable[[EnforcedLimits], Awaitable[None]]


class LimitCourier:
    """Delivers each node's newest limit with one call in flight per node."""

    def __init__(self, send: Send, log: logging.Logger) -> None:
        self._send = send
        self._log = log
        self._waiting: dict[str, EnforcedLimits] = {}  # newest undelivered limit per node
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._failures: dict[str, int] = {}  # consecutive failed calls per node

    def post(self, limits: EnforcedLimits) -> None:
        """Send `limits` now, or as soon as the node has answered the call before it."""
        self._waiting[limits.uuid] = limits
        if limits.uuid not in self._runs:
            self._runs[limits.uuid] = asyncio.create_task(self._serve(limits.uuid))

    async def close(self) -> None:
        """Stop delivering; limits still waiting are dropped, as they will lapse anyway."""
        runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        self._runs.clear()
        self._waiting.clear()

    async def _serve(self, uuid: str) -> None:
        try:
            while (limits := self._waiting.pop(uuid, None)) is not None:
                await self._deliver(limits)
        finally:
            # No await between the last pop and here: a post() cannot slip in unseen.
            self._runs.pop(uuid, None)

    async def _deliver(self, limits: EnforcedLimits) -> None:
        uuid = limits.uuid
        try:
            await self._send(limits)
        except CommandError as error:
            if error.event is CommandEvent.SHUTDOWN:
                return  # the node or we are stopping: no news
            failures = self._failures[uuid] = self._failures.get(uuid, 0) + 1
            if failures == 1:
                self._log.warning(
                    "enforce_limits for %s failed: %s. Its limit lapses to 0 A after %s s "
                    "unless a later round gets through; further failures are counted, "
                    "not logged.",
                    uuid,
                    error,
                    limits.valid_for,
                )
            return
        failures = self._failures.pop(uuid, 0)
        if failures:
            self._log.info("enforce_limits for %s got through after %d failures", uuid, failures)
