"""The EnergyManager module: recomputes the current shares of the site and enforces them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import Awaitable

from evstack.generated.interfaces.energy_manager import EnergyManagerImplBase
from evstack.generated.modules.energy_manager import EnergyManagerModuleBase
from evstack.generated.types.energy import EnergyFlowRequest
from evstack.modules.EnergyManager.allocation import allocate
from evstack.modules.EnergyManager.schedule import RecomputeSchedule
from evstack.modules.EnergyManager.tree import enforced_limits, tree_from_request
from evstack.runtime import CommandError, CommandEvent
from evstack.sim.clock import Clock, ScaledClock


class _Main(EnergyManagerImplBase):
    """The energy_manager interface has nothing to serve: the module works through its trunk."""


class EnergyManager(EnergyManagerModuleBase):
    def create_main(self, config: object) -> EnergyManagerImplBase:
        return _Main()

    async def init(self) -> None:
        self.clock: Clock = ScaledClock(self.config.sim_speedup)
        self._schedule = RecomputeSchedule(self.clock.now, self.config.update_interval)
        self._latest: EnergyFlowRequest | None = None
        self._wake = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self.r_energy_trunk.subscribe_energy_flow_request(self._on_request)

    async def ready(self) -> None:
        self._runner = asyncio.create_task(self._run())

    def _on_request(self, request: EnergyFlowRequest) -> None:
        self._latest = request
        if self._schedule.request(bool(request.priority_request)):
            self._wake.set()

    async def _run(self) -> None:
        while True:
            if self._latest is not None and self._schedule.due():
                self._schedule.ran()
                await self._enforce(self._latest)
            await self._sleep_until(self._schedule.next_run)

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep on the module clock, cut short by a priority request."""
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(deadline - self.clock.now()))
        woken = asyncio.ensure_future(self._wake.wait())
        await asyncio.wait((sleeper, woken), return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, woken):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _enforce(self, request: EnergyFlowRequest) -> None:
        try:
            grants = allocate(tree_from_request(request), self.config.nominal_ac_voltage)
        except ValueError as error:
            # A malformed tree must not stop the loop: EVSEs fall to 0 A as their limits lapse.
            self.log.error("energy tree rejected: %s", error)
            return
        timestamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        valid_for = self.config.limits_valid_for
        for limits in enforced_limits(grants, valid_for, timestamp, source=self.module_id):
            # Not awaited here: an EVSE that hangs must not hold up the next round, or every
            # other EVSE's limit would lapse while we wait. A call older than the limit's
            # validity is worthless, so that is its timeout (in wall seconds).
            call = self.r_energy_trunk.call_enforce_limits(
                limits, timeout=valid_for / self.config.sim_speedup
            )
            task = asyncio.create_task(self._deliver(limits.uuid, call))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, uuid: str, call: Awaitable[None]) -> None:
        try:
            await call
        except CommandError as error:
            if error.event is not CommandEvent.SHUTDOWN:  # stopping is no news
                self.log.warning("enforce_limits for %s failed: %s", uuid, error)
