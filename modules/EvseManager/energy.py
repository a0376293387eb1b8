"""This EVSE as a leaf of the energy tree: what it asks for, and the grants it obeys.

The EVSE asks for current every `energy_request_interval` seconds, and at once when a plug-in
or an authorization changes what it needs. It obeys each grant for its validity only: when no
grant came for `limits_valid_for` seconds it falls back to 0 A, so a silent energy manager
cannot leave it on its last grant.

Each request also says how much current the EV may still draw without a new grant (its
committed current) and which grant the EVSE applied last; grants older than that one, or held
up for longer than their validity, are ignored. With both the energy manager raises one EVSE
only once the others it lowered have come down (EnergyManager/sequencing.py).
"""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING

from evstack.generated.interfaces.energy import EnergyImplBase
from evstack.generated.types.energy import (
    EnergyFlowRequest,
    EnforcedLimits,
    EvseState,
    IntegerWithSource,
    LimitsReq,
    NodeType,
    NumberWithSource,
    ScheduleReqEntry,
)
from evstack.modules.EnergyManager.validity import LimitWindow, seconds_since
from evstack.modules.EvseManager.charger import Charger
from evstack.modules.EvseManager.signals import ChargerState, CurrentLimit, EnergyLost
from evstack.runtime.tasks import first_completed

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager

_ENERGY_STATE = {
    ChargerState.DISABLED: EvseState.Disabled,
    ChargerState.IDLE: EvseState.Unplugged,
    ChargerState.WAITING_FOR_AUTHENTICATION: EvseState.WaitForAuth,
    ChargerState.PREPARE_CHARGING: EvseState.PrepareCharging,
    ChargerState.CHARGING: EvseState.Charging,
    ChargerState.CHARGING_PAUSED_EV: EvseState.PausedEV,
    ChargerState.CHARGING_PAUSED_EVSE: EvseState.PausedEVSE,
    ChargerState.STOPPING_CHARGING: EvseState.Finished,
    ChargerState.FINISHED: EvseState.Finished,
}


def _rfc3339_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def grant_amps(limits: EnforcedLimits, phases: int) -> float:
    """The current per phase that ``limits`` allow an EVSE wired to ``phases`` phases."""
    granted = limits.limits_root_side
    amps = granted.ac_max_current_A.value if granted.ac_max_current_A else 0.0
    if granted.total_power_W is not None:
        amps = min(amps, granted.total_power_W.value / (230.0 * phases))
    return amps


def issued_ago_s(limits: EnforcedLimits, speedup: float) -> float:
    """How long ago, on a clock ``speedup`` times faster than the wall's, ``limits`` were issued.

    The issue time is the first schedule entry's timestamp; without a readable one the limits
    count as fresh.
    """
    ago = seconds_since(limits.schedule[0].timestamp, speedup) if limits.schedule else None
    return 0.0 if ago is None else ago


def flow_request(
    uuid: str,
    charger: Charger,
    window: LimitWindow,
    phases: int,
    now: float,
    *,
    priority: bool,
) -> EnergyFlowRequest:
    """The request of an EVSE whose core is ``charger`` and whose grants are in ``window``."""
    source = uuid
    wants = charger.state not in (ChargerState.IDLE, ChargerState.FINISHED)
    max_amps = charger.config.max_current_a if wants else 0.0
    limits = LimitsReq(
        ac_max_current_A=NumberWithSource(value=max_amps, source=source),
        ac_min_current_A=NumberWithSource(value=6.0, source=source),
        ac_max_phase_count=IntegerWithSource(value=phases, source=source),
        ac_min_phase_count=IntegerWithSource(value=1, source=source),
        ac_supports_changing_phases_during_charging=False,
        ac_number_of_active_phases=phases,
    )
    return EnergyFlowRequest(
        uuid=uuid,
        children=[],
        node_type=NodeType.Evse,
        priority_request=priority,
        evse_state=_ENERGY_STATE[charger.state],
        # A grant taken but still queued for the core counts too: the core will apply it.
        ac_committed_current_A=max(charger.committed_current(now), window.amps),
        applied_grant=window.applied_grant,
        schedule_import=[
            ScheduleReqEntry(
                timestamp=_rfc3339_now(), limits_to_root=limits, limits_to_leaves=limits
            )
        ],
        schedule_export=[],
    )


class EnergyLeaf(EnergyImplBase):
    """The `energy` implementation of an EvseManager: requests up, grants down."""

    def __init__(self, module: EvseManager) -> None:
        self.module = module
        self.uuid = module.module_id
        self.window = LimitWindow(lambda: module.clock.now())
        self.expires_at: float | None = None  # when the last grant lapses, until it is obeyed
        self._granted = asyncio.Event()
        # The modules our grants come through and from (the node that calls us, the manager
        # named as the limit's source): if one crashes, its last grant is not to be trusted.
        self.upstream: set[str] = set()

    async def handle_enforce_limits(self, value: EnforcedLimits) -> None:
        if value.uuid != self.uuid:
            return  # meant for another node; a leaf has no one to pass it to
        self.upstream.add(self.caller)
        if value.limits_root_side.ac_max_current_A is not None:
            self.upstream.add(value.limits_root_side.ac_max_current_A.source)
        self.obey(value)

    def lapse(self) -> None:
        """A module our grants depend on crashed: no current from now on, without the usual
        grace for the EV, until a new grant comes."""
        self.expires_at = None
        self.module.feed(EnergyLost())

    def obey(self, limits: EnforcedLimits) -> None:
        module = self.module
        valid_for = min(float(limits.valid_for), module.config.limits_valid_for)
        age = 0.0 if limits.grant is None else issued_ago_s(limits, module.clock.speedup)
        amps = grant_amps(limits, module.config.phases)
        if not self.window.apply(amps, valid_for, limits.grant, age):
            module.log.debug("ignored grant %s: a newer one came first, or it came late", limits)
            return
        self.expires_at = self.window.expires_at
        self._granted.set()
        module.feed(CurrentLimit(self.window.amps))

    async def run(self) -> None:
        """Ask for current periodically, and fall back to 0 A the moment a grant lapses."""
        module = self.module
        if not module.config.energy_management:
            return
        next_request = module.clock.now()
        while True:
            now = module.clock.now()
            if self.expires_at is not None and now >= self.expires_at:
                self.expires_at = None
                module.feed(CurrentLimit(0.0))
            if now >= next_request:
                next_request = now + module.config.energy_request_interval
                try:
                    await self.publish_request(priority=False)
                except (OSError, ValueError) as error:
                    module.log.warning("could not publish the energy request: %s", error)
            # On time, not a request later: the energy manager counts on the lapse.
            wake = next_request if self.expires_at is None else min(next_request, self.expires_at)
            await self._sleep_until(wake)

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep on the module clock, cut short by a grant: its lapse may come sooner."""
        self._granted.clear()
        clock = self.module.clock
        await first_completed(clock.sleep(deadline - clock.now()), self._granted.wait())

    async def publish_request(self, *, priority: bool) -> None:
        await self.publish_energy_flow_request(self.request(priority))

    def request(self, priority: bool) -> EnergyFlowRequest:
        module = self.module
        return flow_request(
            self.uuid,
            module.charger,
            self.window,
            module.config.phases,
            module.clock.now(),
            priority=priority,
        )
