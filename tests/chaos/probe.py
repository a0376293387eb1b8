"""The chaos suite's observer: a module in a manager of its own, outside the charger.

It stays up whatever happens to the charger (its modules killed, `ev-manager` killed, the
broker restarted) and records, with the wall time it heard them: both EVSEs' session events,
both boards' contactor events and meter readings, and every module crash the charger's
manager reports. It also plays the driver and the operator: it plugs an EV in, authorizes it
at its EVSE (as Auth would after a swipe) and lets it leave.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, cast

import msgspec

from evstack.generated.interfaces.ev_simulator import EvSimulatorClient
from evstack.generated.interfaces.evse_board_support import EvseBoardSupportClient
from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.interfaces.powermeter import PowermeterClient
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.board_support_common import BspEvent
from evstack.generated.types.evse_manager import SessionEvent
from evstack.generated.types.powermeter import Powermeter
from evstack.runtime import ErrorEvent, ModuleBase, RequirementSpec

CARDS = ("AABBCCDD", "11223344")
_ARRIVED: dict[str, asyncio.Event] = {}
INSTANCES: dict[str, ChaosProbe] = {}


class _NoConfig(msgspec.Struct, frozen=True):
    pass


@dataclass
class ChargePoint:
    """What the probe heard of one EVSE, its board and its meter."""

    session: list[tuple[float, SessionEvent]] = field(default_factory=list)
    relay: list[tuple[float, str]] = field(default_factory=list)  # (when, PowerOn/PowerOff)
    readings: list[tuple[float, Powermeter]] = field(default_factory=list)

    def events(self) -> list[str]:
        return [str(event.event) for _, event in self.session]

    def relay_is(self, state: str) -> bool:
        return bool(self.relay) and self.relay[-1][1] == state

    def meter_wh(self) -> float:
        return self.readings[-1][1].energy_Wh_import.total if self.readings else 0.0

    def open_transactions(self) -> set[str]:
        started = {e.uuid for _, e in self.session if e.transaction_started is not None}
        return started - self.finished_transactions()

    def finished_transactions(self) -> set[str]:
        return {e.uuid for _, e in self.session if e.transaction_finished is not None}


class ChaosProbe(ModuleBase):
    MODULE = "ChaosProbe"
    CONFIG = _NoConfig
    REQUIRES: ClassVar = {
        "evse": RequirementSpec("evse", EvseManagerClient, 2, 2),
        "bsp": RequirementSpec("bsp", EvseBoardSupportClient, 2, 2),
        "meter": RequirementSpec("meter", PowermeterClient, 2, 2),
        "ev": RequirementSpec("ev", EvSimulatorClient, 2, 2),
    }

    async def init(self) -> None:
        self.points = [ChargePoint(), ChargePoint()]
        self.crashes: list[tuple[float, str, bool]] = []  # (when, module id, active)
        self._changed = asyncio.Event()
        for index in range(2):
            point = self.points[index]
            self.evse(index).subscribe_session_event(self._recorder(point.session))
            self.board(index).subscribe_event(self._relay_recorder(point))
            self.meter(index).subscribe_powermeter(self._reading_recorder(point))
        self.subscribe_module_crashes(self._on_crash)
        INSTANCES[self.module_id] = self
        _ARRIVED.setdefault(self.module_id, asyncio.Event()).set()

    def evse(self, index: int) -> EvseManagerClient:
        return cast(EvseManagerClient, self._requirement("evse")[index])

    def board(self, index: int) -> EvseBoardSupportClient:
        return cast(EvseBoardSupportClient, self._requirement("bsp")[index])

    def meter(self, index: int) -> PowermeterClient:
        return cast(PowermeterClient, self._requirement("meter")[index])

    def ev(self, index: int) -> EvSimulatorClient:
        return cast(EvSimulatorClient, self._requirement("ev")[index])

    def _recorder(self, into: list[tuple[float, SessionEvent]]) -> Callable[[SessionEvent], None]:
        def record(event: SessionEvent) -> None:
            into.append((time.monotonic(), event))
            self._changed.set()

        return record

    def _relay_recorder(self, point: ChargePoint) -> Callable[[BspEvent], None]:
        def record(event: BspEvent) -> None:
            if event.event in ("PowerOn", "PowerOff"):
                point.relay.append((time.monotonic(), str(event.event)))
                self._changed.set()

        return record

    def _reading_recorder(self, point: ChargePoint) -> Callable[[Powermeter], None]:
        def record(reading: Powermeter) -> None:
            point.readings.append((time.monotonic(), reading))
            self._changed.set()

        return record

    def _on_crash(self, event: ErrorEvent) -> None:
        self.crashes.append((time.monotonic(), event.sub_type, event.active))
        self._changed.set()

    async def until(self, condition: Callable[[], bool], within_s: float = 30.0) -> None:
        """Wait until `condition` holds on what was heard (a wall-clock bound, not a sleep)."""
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    # --- the driver and the operator ---------------------------------------------------

    async def arrive(self, index: int, amps: float) -> None:
        """The EV plugs in and asks for `amps`; its card is accepted at the EVSE."""
        script = f"plugin;iec_wait_pwr_ready;draw_power_regulated {amps},3;sleep 1000000"
        assert await self.ev(index).call_execute(commands=script) == ""
        await self.until(lambda: "AuthRequired" in self._since_last_plug(index))
        token = ProvidedIdToken(
            id_token=IdToken(value=CARDS[index], type=IdTokenType.ISO14443),
            authorization_type=AuthorizationType.RFID,
        )
        accepted = ValidationResult(authorization_status=AuthorizationStatus.Accepted)
        await self.evse(index).call_authorize_response(
            provided_token=token, validation_result=accepted
        )

    async def leave(self, index: int) -> None:
        assert await self.ev(index).call_execute(commands="unplug") == ""

    def _since_last_plug(self, index: int) -> list[str]:
        events = self.points[index].events()
        starts = [i for i, name in enumerate(events) if name == "SessionStarted"]
        return events[starts[-1] :] if starts else []


async def probe_instance(module_id: str) -> ChaosProbe:
    await _ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]


def forget_probe(module_id: str) -> None:
    """Let a new probe of this id be awaited (tests reuse ids on brokers of their own)."""
    INSTANCES.pop(module_id, None)
    _ARRIVED.pop(module_id, None)
