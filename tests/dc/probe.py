"""Test modules for the DC power path over the bus.

`Probe` stands where EvseManager, the SECC and the EV's charging logic will: it drives
the supply, the isolation monitor and the EV's contactor, and records everything the
power path (and, when wired, the board) publishes. `Driver` only switches the supply on
and then idles, so that a test can kill it and watch the supply fail safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar, TypeVar, cast

import msgspec

from evstack.generated.interfaces.ev_board_support import EvBoardSupportClient
from evstack.generated.interfaces.ev_dc_inlet import EvDcInletClient
from evstack.generated.interfaces.evse_board_support import EvseBoardSupportClient
from evstack.generated.interfaces.isolation_monitor import IsolationMonitorClient
from evstack.generated.interfaces.power_supply_DC import PowerSupplyDCClient
from evstack.generated.interfaces.powermeter import PowermeterClient
from evstack.generated.types.board_support_common import BspEvent
from evstack.generated.types.ev_dc_inlet import DcInletMeasurement
from evstack.generated.types.isolation_monitor import IsolationMeasurement
from evstack.generated.types.power_supply_DC import (
    Capabilities,
    ChargingPhase,
    Mode,
    VoltageCurrent,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.runtime import ModuleBase, RequirementSpec

T = TypeVar("T")

INSTANCES: dict[str, Probe] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class Probe(ModuleBase):
    MODULE = "DcProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "supply": RequirementSpec("supply", PowerSupplyDCClient, 1, 1),
        "meter": RequirementSpec("meter", PowermeterClient, 1, 1),
        "imd": RequirementSpec("imd", IsolationMonitorClient, 1, 1),
        "ev": RequirementSpec("ev", EvDcInletClient, 1, 1),
        "bsp": RequirementSpec("bsp", EvseBoardSupportClient, 0, 1),
        "ev_board": RequirementSpec("ev_board", EvBoardSupportClient, 0, 1),
    }

    @property
    def supply(self) -> PowerSupplyDCClient:
        return cast(PowerSupplyDCClient, self._requirement("supply")[0])

    @property
    def meter(self) -> PowermeterClient:
        return cast(PowermeterClient, self._requirement("meter")[0])

    @property
    def imd(self) -> IsolationMonitorClient:
        return cast(IsolationMonitorClient, self._requirement("imd")[0])

    @property
    def ev(self) -> EvDcInletClient:
        return cast(EvDcInletClient, self._requirement("ev")[0])

    @property
    def bsp(self) -> EvseBoardSupportClient:
        return cast(EvseBoardSupportClient, self._requirement("bsp")[0])

    @property
    def ev_board(self) -> EvBoardSupportClient:
        return cast(EvBoardSupportClient, self._requirement("ev_board")[0])

    async def init(self) -> None:
        self.outputs: list[VoltageCurrent] = []
        self.modes: list[str] = []
        self.capabilities: list[Capabilities] = []
        self.readings: list[Powermeter] = []
        self.isolation: list[IsolationMeasurement] = []
        self.self_tests: list[bool] = []
        self.inlet: list[DcInletMeasurement] = []
        self.board: list[str] = []
        self._changed = asyncio.Event()
        self.supply.subscribe_voltage_current(self._record(self.outputs))
        self.supply.subscribe_mode(lambda mode: self._record(self.modes)(str(mode)))
        self.supply.subscribe_capabilities(self._record(self.capabilities))
        self.meter.subscribe_powermeter(self._record(self.readings))
        self.imd.subscribe_isolation_measurement(self._record(self.isolation))
        self.imd.subscribe_self_test_result(self._record(self.self_tests))
        self.ev.subscribe_dc_measurement(self._record(self.inlet))
        for board in self._requirement("bsp"):
            cast(EvseBoardSupportClient, board).subscribe_event(self._on_board)
        INSTANCES[self.module_id] = self
        _ARRIVED.setdefault(self.module_id, asyncio.Event()).set()

    def _record(self, into: list[T]) -> Callable[[T], None]:
        def record(value: T) -> None:
            into.append(value)
            self._changed.set()

        return record

    def _on_board(self, event: BspEvent) -> None:
        self.board.append(str(event.event))
        self._changed.set()

    async def until(self, condition: Callable[[], bool], within_s: float = 20.0) -> None:
        """Wait until `condition` holds on what was recorded (wall-clock bound)."""
        async with asyncio.timeout(within_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def output_v(self) -> float:
        return self.outputs[-1].voltage_V if self.outputs else 0.0

    def inlet_v(self) -> float:
        return self.inlet[-1].inlet_voltage_V if self.inlet else 0.0

    async def fresh_inlet(self) -> DcInletMeasurement:
        """The EV's next reading, taken after this call."""
        seen = len(self.inlet)
        await self.until(lambda: len(self.inlet) > seen)
        return self.inlet[-1]

    async def export(self, voltage: float, current: float, phase: ChargingPhase) -> None:
        await self.supply.call_setExportVoltageCurrent(voltage=voltage, current=current)
        await self.supply.call_setMode(mode=Mode.Export, phase=phase)

    async def precharge_and_connect(self) -> float:
        """Precharge to the battery's voltage as the EV reports it, then close the EV's
        contactor, as an EV does once its inlet is within 20 V; returns that voltage."""
        battery = (await self.fresh_inlet()).battery_voltage_V
        await self.export(battery, 2.0, ChargingPhase.PreCharge)
        await self.until(lambda: abs(self.inlet_v() - battery) < 20.0)
        await self.ev.call_allow_power_on(value=True)
        await self.until(lambda: self.inlet[-1].contactor_closed)
        return battery


class Driver(ModuleBase):
    """Switches the supply on at 500 V and then does nothing."""

    MODULE = "DcDriver"
    CONFIG = _Empty
    REQUIRES: ClassVar = {"supply": RequirementSpec("supply", PowerSupplyDCClient, 1, 1)}

    async def ready(self) -> None:
        supply = cast(PowerSupplyDCClient, self._requirement("supply")[0])
        await supply.call_setExportVoltageCurrent(voltage=500.0, current=10.0)
        await supply.call_setMode(mode=Mode.Export, phase=ChargingPhase.CableCheck)


async def instance(module_id: str) -> Probe:
    await _ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]
