"""A test module that stands where Auth and an operator would: it authorizes, watches, asks.

It requires the EVSE's evse_manager, the board's evse_board_support and the EV
simulator's control, records everything they publish, and lets a test wait for a
condition on what it recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar, cast

import msgspec

from evstack.generated.interfaces.ev_simulator import EvSimulatorClient
from evstack.generated.interfaces.evse_board_support import EvseBoardSupportClient
from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.board_support_common import BspEvent
from evstack.generated.types.evse_manager import Limits, SessionEvent
from evstack.generated.types.powermeter import Powermeter
from evstack.runtime import ErrorEvent, ModuleBase, RequirementSpec

INSTANCES: dict[str, Probe] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class Probe(ModuleBase):
    MODULE = "Probe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "evse": RequirementSpec("evse", EvseManagerClient, 1, 1),
        "bsp": RequirementSpec("bsp", EvseBoardSupportClient, 1, 1),
        "ev": RequirementSpec("ev", EvSimulatorClient, 1, 1),
    }

    @property
    def r_evse(self) -> EvseManagerClient:
        return cast(EvseManagerClient, self._requirement("evse")[0])

    @property
    def r_bsp(self) -> EvseBoardSupportClient:
        return cast(EvseBoardSupportClient, self._requirement("bsp")[0])

    @property
    def r_ev(self) -> EvSimulatorClient:
        return cast(EvSimulatorClient, self._requirement("ev")[0])

    async def init(self) -> None:
        self.session: list[SessionEvent] = []
        self.board: list[str] = []
        self.errors: list[tuple[str, str]] = []  # (type, state)
        self.limits: list[float] = []  # every current offered, in A
        self._changed = asyncio.Event()
        self.r_evse.subscribe_session_event(self._on_session)
        self.r_bsp.subscribe_event(self._on_board)
        self.r_evse.subscribe_errors(self._on_error)
        self.r_evse.subscribe_limits(self._on_limits)
        self.r_bsp.subscribe_errors(self._on_error)
        self.meter_wh: list[float] = []  # the EVSE's readings, counted on across meter faults
        self.r_evse.subscribe_powermeter(self._on_meter)
        INSTANCES[self.module_id] = self
        _ARRIVED.setdefault(self.module_id, asyncio.Event()).set()

    def _on_session(self, event: SessionEvent) -> None:
        self.session.append(event)
        self._changed.set()

    def _on_limits(self, limits: Limits) -> None:
        self.limits.append(limits.max_current)
        self._changed.set()

    def _on_board(self, event: BspEvent) -> None:
        self.board.append(str(event.event))
        self._changed.set()

    def _on_error(self, event: ErrorEvent) -> None:
        self.errors.append((event.type, "Active" if event.active else "Cleared"))
        self._changed.set()

    def _on_meter(self, reading: Powermeter) -> None:
        self.meter_wh.append(reading.energy_Wh_import.total)
        self._changed.set()

    def counted_wh(self) -> float:
        return self.meter_wh[-1] if self.meter_wh else 0.0

    def events(self) -> list[str]:
        return [str(e.event) for e in self.session]

    def stop_reasons(self) -> list[str]:
        return [
            str(e.transaction_finished.reason)
            for e in self.session
            if e.transaction_finished is not None
        ]

    async def until(self, condition: Callable[[], bool], within_s: float = 20.0) -> None:
        """Wait until `condition` holds on what was recorded (wall-clock bound)."""
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def authorize(self, card: str = "AABBCCDD") -> None:
        token = ProvidedIdToken(
            id_token=IdToken(value=card, type=IdTokenType.ISO14443),
            authorization_type=AuthorizationType.RFID,
        )
        await self.r_evse.call_authorize_response(
            provided_token=token,
            validation_result=ValidationResult(authorization_status=AuthorizationStatus.Accepted),
        )


async def instance(module_id: str) -> Probe:
    await _ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]
