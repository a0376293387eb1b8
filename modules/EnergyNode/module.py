"""The EnergyNode module: one fuse between the energy manager and what is behind it.

Upwards it republishes its consumers' requests as children of its own, with the fuse limit
(tightened by any external limit) as its import limit; it does so on every change, passing a
priority flag through so an EV plugging in is answered at once. Downwards it hands each
``enforce_limits`` to the consumer whose subtree holds the target uuid. The fuse itself does
no enforcing: the energy manager already kept every grant within it.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import math
from collections.abc import Iterator

from evstack.generated.interfaces.energy import EnergyClient, EnergyImplBase
from evstack.generated.interfaces.external_energy_limits import ExternalEnergyLimitsImplBase
from evstack.generated.modules.energy_node import EnergyNodeModuleBase
from evstack.generated.types.energy import (
    EnergyFlowRequest,
    EnforcedLimits,
    ExternalLimits,
    IntegerWithSource,
    LimitsReq,
    NodeType,
    NumberWithSource,
    ScheduleReqEntry,
)
from evstack.runtime import CommandError, CommandEvent


class UnknownNodeError(LookupError):
    """``enforce_limits`` named a uuid that is neither this node nor below it."""


def uuids_in(request: EnergyFlowRequest) -> Iterator[str]:
    yield request.uuid
    for child in request.children:
        yield from uuids_in(child)


class _Grid(EnergyImplBase):
    def __init__(self, node: EnergyNode) -> None:
        self._node = node

    async def handle_enforce_limits(self, value: EnforcedLimits) -> None:
        # In a task of its own: the runtime may run a handler's first step outside any task,
        # where the nested call could not arm its timeout.
        await asyncio.create_task(self._node.route_down(value))


class _ExternalLimits(ExternalEnergyLimitsImplBase):
    def __init__(self, node: EnergyNode) -> None:
        self._node = node

    async def handle_set_external_limits(self, value: ExternalLimits) -> None:
        await self._node.set_external_limits(value)


class EnergyNode(EnergyNodeModuleBase):
    def create_energy_grid(self, config: object) -> EnergyImplBase:
        self._grid = _Grid(self)
        return self._grid

    def create_external_limits(self, config: object) -> ExternalEnergyLimitsImplBase:
        return _ExternalLimits(self)

    async def init(self) -> None:
        # Each consumer's latest request and when it came, on the module clock.
        self._children: dict[int, tuple[EnergyFlowRequest, float]] = {}
        self._external_amps = math.inf
        for index, consumer in enumerate(self.r_energy_consumer):
            consumer.subscribe_energy_flow_request(functools.partial(self._on_child, index))

    async def _on_child(self, index: int, request: EnergyFlowRequest) -> None:
        self._children[index] = (request, self.clock.now())
        await self._publish(priority=bool(request.priority_request))

    async def set_external_limits(self, value: ExternalLimits) -> None:
        entries = value.schedule_import
        limit = entries[0].limits_to_root.ac_max_current_A if entries else None
        self._external_amps = math.inf if limit is None else max(limit.value, 0.0)
        await self._publish(priority=True)

    async def _publish(self, *, priority: bool) -> None:
        amps = min(self.config.fuse_limit_A, self._external_amps)
        limits = LimitsReq(
            ac_max_current_A=NumberWithSource(value=amps, source=self.module_id),
            ac_max_phase_count=IntegerWithSource(
                value=self.config.phase_count, source=self.module_id
            ),
        )
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        await self._grid.publish_energy_flow_request(
            EnergyFlowRequest(
                uuid=self.module_id,
                node_type=NodeType.Generic,
                children=self._live_children(),
                priority_request=priority,
                schedule_import=[
                    ScheduleReqEntry(timestamp=now, limits_to_root=limits, limits_to_leaves=limits)
                ],
                schedule_export=[],
            )
        )

    def _live_children(self) -> list[EnergyFlowRequest]:
        """The consumers' requests, without those gone quiet for ``consumer_timeout``.

        A consumer that stopped publishing (crashed, cut off) would otherwise keep its share
        of the fuse forever, taken from the EVSEs that are still charging.
        """
        oldest = self.clock.now() - self.config.consumer_timeout
        return [
            request
            for _, (request, received) in sorted(self._children.items())
            if received >= oldest
        ]

    async def route_down(self, limits: EnforcedLimits) -> None:
        if limits.uuid == self.module_id:
            return  # our own share: the grants below already respect it
        consumer = self._consumer_holding(limits.uuid)
        # The same budget as the manager's call to us, on the same module clock: a limit is
        # worthless once its validity is over, and waiting longer would pile up calls.
        timeout = self.clock.wall_s(limits.valid_for)
        try:
            await consumer.call_enforce_limits(limits, timeout=timeout)
        except CommandError as error:
            if error.event is CommandEvent.SHUTDOWN:
                return  # a consumer stopping is no fault
            if error.event is CommandEvent.TIMEOUT:
                # The manager's call to us had the same budget and started first, so it has
                # already timed out and reported it; raising here would only add a second,
                # unread error (and a traceback) for the same missed deadline.
                self.log.debug("%s: %s", limits.uuid, error)
                return
            raise

    def _consumer_holding(self, uuid: str) -> EnergyClient:
        for index, (request, _) in self._children.items():
            if uuid in uuids_in(request):
                return self.r_energy_consumer[index]
        raise UnknownNodeError(f"no node {uuid!r} behind {self.module_id}")
