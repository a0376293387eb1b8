"""The EnergyManager module: recomputes the current shares of the site and enforces them.

Each round allocates the fair shares (allocation.py) and sends them in order (sequencing.py):
lowerings at once, raises only as far as the EVSEs not yet down leave room.
"""

from __future__ import annotations

import asyncio
import datetime
import time

from evstack.generated.interfaces.energy_manager import EnergyManagerImplBase
from evstack.generated.modules.energy_manager import EnergyManagerModuleBase
from evstack.generated.types.energy import EnergyFlowRequest, EnforcedLimits
from evstack.modules.EnergyManager.allocation import allocate
from evstack.modules.EnergyManager.delivery import LimitCourier
from evstack.modules.EnergyManager.schedule import RecomputeSchedule
from evstack.modules.EnergyManager.sequencing import Sequencer
from evstack.modules.EnergyManager.tree import enforced_limits, reports_in, tree_from_request
from evstack.runtime.tasks import first_completed


class _Main(EnergyManagerImplBase):
    """The energy_manager interface has nothing to serve: the module works through its trunk."""


class EnergyManager(EnergyManagerModuleBase):
    def create_main(self, config: object) -> EnergyManagerImplBase:
        return _Main()

    async def init(self) -> None:
        self._schedule = RecomputeSchedule(self.clock.now, self.config.update_interval)
        self._latest: EnergyFlowRequest | None = None
        self._wake = asyncio.Event()
        self._courier = LimitCourier(self._send, self.log)
        # Numbered from the wall clock in microseconds: a restarted manager's grants are newer
        # than its predecessor's, so the EVSEs take them.
        self._sequencer = Sequencer(
            self.config.limits_valid_for,
            first_seq=time.time_ns() // 1000,
            nominal_volts=self.config.nominal_ac_voltage,
        )
        self.r_energy_trunk.subscribe_energy_flow_request(self._on_request)

    async def ready(self) -> None:
        self.start_task(self._run())

    async def shutdown(self) -> None:
        # The round loop is stopped already (the runtime cancels background tasks first).
        await self._courier.close()

    def _on_request(self, request: EnergyFlowRequest) -> None:
        self._latest = request
        for uuid, report in reports_in(request, self.clock.now(), self.clock.speedup):
            self._sequencer.observe(uuid, report)
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
        await first_completed(self.clock.sleep(deadline - self.clock.now()), self._wake.wait())

    async def _enforce(self, request: EnergyFlowRequest) -> None:
        try:
            tree = tree_from_request(request)
            targets = allocate(tree, self.config.nominal_ac_voltage)
        except ValueError as error:
            # A malformed tree must not stop the loop: EVSEs fall to 0 A as their limits lapse.
            self.log.error("energy tree rejected: %s", error)
            return
        # The issue time, to the millisecond, read before the sequencer dates the grants: an
        # EVSE takes a grant until its validity is over, and only after that may the
        # sequencer write it off.
        timestamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        grants = self._sequencer.grants(tree, targets, self.clock.now())
        valid_for = self.config.limits_valid_for
        for limits in enforced_limits(grants, valid_for, timestamp, source=self.module_id):
            # Not awaited: an EVSE that hangs must not hold up the next round, or every
            # other EVSE's limit would lapse while we wait.
            self._courier.post(limits)

    async def _send(self, limits: EnforcedLimits) -> None:
        # A call older than the limit's validity is worthless, so that is its timeout. It is
        # counted on the module clock like the validity itself: in a simulation sped up 10x
        # a 5 s limit lapses after 0.5 s of wall time, and a loaded machine can miss that.
        timeout = self.clock.wall_s(limits.valid_for)
        await self.r_energy_trunk.call_enforce_limits(limits, timeout=timeout)
