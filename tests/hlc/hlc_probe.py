"""A test module for the SIL tests of DC high-level charging: it stands where an EIM app
(authorizing at the SECC's require_auth_eim) and the EV's pilot and contactor logic would
be (the `iso15118` peer drives neither the pilot nor the simulated EV's contactor), and
records what the SECC publishes and what the meter counts.

As the EV it plugs in (B) at start, goes to C after ChargeParameterDiscovery (a DIN EV
does so before CableCheck), closes its DC contactor at PowerDelivery(start), opens it at
PowerDelivery(stop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar, cast

import msgspec

from evstack.generated.interfaces.ev_board_support import EvBoardSupportClient
from evstack.generated.interfaces.ev_dc_inlet import EvDcInletClient
from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.interfaces.powermeter import PowermeterClient
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.ev_board_support import EvCpState
from evstack.generated.types.iso15118 import DcEvTargetValues, V2gSessionFinished
from evstack.generated.types.powermeter import Powermeter
from evstack.runtime import ModuleBase, RequirementSpec

T = TypeVar("T")
INSTANCES: dict[str, HlcProbe] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class HlcProbe(ModuleBase):
    MODULE = "HlcProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "evse": RequirementSpec("evse", EvseManagerClient, 1, 1),
        "hlc": RequirementSpec("hlc", ISO15118ChargerClient, 1, 1),
        "ev": RequirementSpec("ev", EvDcInletClient, 1, 1),
        "meter": RequirementSpec("meter", PowermeterClient, 1, 1),
        "pilot": RequirementSpec("pilot", EvBoardSupportClient, 1, 1),
    }

    def _one(self, name: str) -> object:
        return self._requirement(name)[0]

    async def init(self) -> None:
        self.finished: list[V2gSessionFinished] = []
        self.targets: list[DcEvTargetValues] = []
        self.protocols: list[str] = []
        self.readings: list[Powermeter] = []
        self._changed = asyncio.Event()
        hlc = cast(ISO15118ChargerClient, self._one("hlc"))
        hlc.subscribe_require_auth_eim(lambda _: self._later(self._authorize()))
        hlc.subscribe_v2g_setup_finished(lambda _: self._later(self._ev_contactor(True)))
        hlc.subscribe_dc_open_contactor(lambda _: self._later(self._ev_contactor(False)))
        hlc.subscribe_dc_ev_maximum_limits(lambda _: self._later(self._cp(EvCpState.C)))
        hlc.subscribe_session_finished(self._record(self.finished))
        hlc.subscribe_dc_ev_target_voltage_current(self._record(self.targets))
        hlc.subscribe_selected_protocol(self._record(self.protocols))
        cast(PowermeterClient, self._one("meter")).subscribe_powermeter(self._record(self.readings))
        INSTANCES[self.module_id] = self
        _ARRIVED.setdefault(self.module_id, asyncio.Event()).set()

    def _later(self, action: Coroutine[Any, Any, None]) -> None:
        self.start_task(action)

    def _record(self, into: list[T]) -> Callable[[T], None]:
        def record(value: T) -> None:
            into.append(value)
            self._changed.set()

        return record

    async def _authorize(self) -> None:
        token = ProvidedIdToken(
            id_token=IdToken(value="EIM-APP-1", type=IdTokenType.Central),
            authorization_type=AuthorizationType.OCPP,
        )
        await cast(EvseManagerClient, self._one("evse")).call_authorize_response(
            provided_token=token,
            validation_result=ValidationResult(authorization_status=AuthorizationStatus.Accepted),
        )

    async def ready(self) -> None:
        pilot = cast(EvBoardSupportClient, self._one("pilot"))
        await pilot.call_enable(value=True)
        await self._cp(EvCpState.B)

    async def _cp(self, state: EvCpState) -> None:
        await cast(EvBoardSupportClient, self._one("pilot")).call_set_cp_state(cp_state=state)

    async def _ev_contactor(self, closed: bool) -> None:
        await cast(EvDcInletClient, self._one("ev")).call_allow_power_on(value=closed)

    async def until(self, condition: Callable[[], bool], within_s: float) -> None:
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


async def instance(module_id: str) -> HlcProbe:
    await _ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]
