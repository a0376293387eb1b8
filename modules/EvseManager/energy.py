"""This EVSE as a leaf of the energy tree: what it asks for, and the grants it obeys.

The EVSE asks for current every `energy_request_interval` seconds, and at once when a plug-in
or an authorization changes what it needs. It obeys each grant for its validity only: when no
grant came for `limits_valid_for` seconds it falls back to 0 A, so a silent energy manager
cannot leave it on its last grant.
"""

from __future__ import annotations

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
from evstack.modules.EvseManager.signals import ChargerState, CurrentLimit, EnergyLost

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


class EnergyLeaf(EnergyImplBase):
    """The `energy` implementation of an EvseManager: requests up, grants down."""

    def __init__(self, module: EvseManager) -> None:
        self.module = module
        self.uuid = module.module_id
        self.expires_at: float | None = None  # when the last grant lapses, on the module clock
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
        granted = limits.limits_root_side
        amps = granted.ac_max_current_A.value if granted.ac_max_current_A else 0.0
        if granted.total_power_W is not None:
            volts_times_phases = 230.0 * module.config.phases
            amps = min(amps, granted.total_power_W.value / volts_times_phases)
        valid_for = min(float(limits.valid_for), module.config.limits_valid_for)
        self.expires_at = module.clock.now() + valid_for
        module.feed(CurrentLimit(amps))

    async def run(self) -> None:
        """Ask for current periodically, and fall back to 0 A when grants stop coming."""
        module = self.module
        while True:
            if module.config.energy_management:
                now = module.clock.now()
                if self.expires_at is not None and now >= self.expires_at:
                    self.expires_at = None
                    module.feed(CurrentLimit(0.0))
                try:
                    await self.publish_request(priority=False)
                except (OSError, ValueError) as error:
                    module.log.warning("could not publish the energy request: %s", error)
            await module.clock.sleep(module.config.energy_request_interval)

    async def publish_request(self, *, priority: bool) -> None:
        await self.publish_energy_flow_request(self.request(priority))

    def request(self, priority: bool) -> EnergyFlowRequest:
        module = self.module
        charger = module.charger
        source = self.uuid
        wants = charger.state not in (ChargerState.IDLE, ChargerState.FINISHED)
        max_amps = charger.config.max_current_a if wants else 0.0
        limits = LimitsReq(
            ac_max_current_A=NumberWithSource(value=max_amps, source=source),
            ac_min_current_A=NumberWithSource(value=6.0, source=source),
            ac_max_phase_count=IntegerWithSource(value=module.config.phases, source=source),
            ac_min_phase_count=IntegerWithSource(value=1, source=source),
            ac_supports_changing_phases_during_charging=False,
            ac_number_of_active_phases=module.config.phases,
        )
        return EnergyFlowRequest(
            uuid=self.uuid,
            children=[],
            node_type=NodeType.Evse,
            priority_request=priority,
            evse_state=_ENERGY_STATE[charger.state],
            schedule_import=[
                ScheduleReqEntry(
                    timestamp=_rfc3339_now(), limits_to_root=limits, limits_to_leaves=limits
                )
            ],
            schedule_export=[],
        )
