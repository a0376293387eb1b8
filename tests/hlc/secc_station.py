"""Our SECC as a charger in a test: SDP and the V2G server in a namespace, each session's
events driving EvseManager's DC core (`DcHlc`) and a simulated power path (the
DcSupplySimulator's, without the bus). Authorization is granted at once and EvseManager's
permission is given from the start: the pilot and Auth are not in this picture (the SIL
tests have them). The EV's DC contactor is closed at PowerDelivery(start) and opened at
PowerDelivery(stop), which a real EV would do itself and the `iso15118` peer cannot.
With `bidirectional` the charger offers ISO 15118-20 DC_BPT and AC_BPT and its power path
takes energy back.
With `ac` the power path is an AC one instead (`ac_path.py`: the board simulator's contactor
and meter, and what the EV draws as its messages say).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from evstack.exi.sdp import Security
from evstack.hlc.secc import Authorization, EvseState, SeccConfig, SeccSession, driver
from evstack.hlc.secc import events as ev
from evstack.hlc.transport.netif import link_local_address
from evstack.hlc.transport.sdp import SdpResponder
from evstack.hlc.transport.stream import V2gServer, V2gtpStream, start_server
from evstack.modules.DcSupplySimulator.battery import BatteryConfig
from evstack.modules.DcSupplySimulator.imd import IsolationMeasured
from evstack.modules.DcSupplySimulator.power_path import DcPowerPath, PathConfig, SupplyMode
from evstack.modules.EvseManager.dc_hlc import (
    Command,
    DcHlc,
    Imd,
    SupplyExport,
    SupplyImport,
    SupplyLimits,
    ToSecc,
)
from evstack.modules.EvseManager.dc_hlc import SupplyMode as ModeCommand

from .ac_path import AcPowerPath
from .netns import Namespace

STEP_S = 0.02


class Station:
    def __init__(
        self,
        space: Namespace,
        interface: str = "v2g0",
        soc: float = 30.0,
        ac: bool = False,
        tls: ssl.SSLContext | None = None,
        bidirectional: bool = False,
        battery: BatteryConfig | None = None,
    ):
        self.tls = tls
        self.space = space
        self.interface = interface
        modes = ("AC_three_phase_core", "AC_single_phase_core") if ac else ("DC_extended",)
        self.evse = EvseState(evse_id="00", max_voltage=500.0, energy_modes=modes)
        self.config = SeccConfig()
        back = (100.0, 50e3) if bidirectional else (0.0, 0.0)
        self.dc = DcHlc(
            SupplyLimits(
                max_voltage=500.0,
                max_current=200.0,
                max_power=100e3,
                max_discharge_current=back[0],
                max_discharge_power=back[1],
            )
        )
        self.path = DcPowerPath(PathConfig(battery=battery or BatteryConfig()), soc_percent=soc)
        self.ac_path = AcPowerPath(self.evse) if ac else None
        self.sessions: list[SeccSession] = []
        self.events: list[ev.Event] = []
        self._server: V2gServer | None = None
        self._sdp: SdpResponder | None = None
        self._physics: asyncio.Task[None] | None = None
        self._t0 = 0.0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        self._apply(self.dc.set_limits(self.dc.limits))
        self._apply(self.dc.set_power_allowed(True))
        address = link_local_address(self.interface, self.space.socket)
        self._server = await start_server(
            self._serve,
            self.interface,
            address,
            ssl_context=self.tls,
            socket_factory=self.space.socket,
        )
        self._sdp = await SdpResponder.start(
            self.interface,
            tcp_port=self._server.port,
            offered={Security.NONE} if self.tls is None else {Security.TLS},
            address=address,
            socket_factory=self.space.socket,
        )
        self._physics = asyncio.create_task(self._run_physics())

    async def close(self) -> None:
        if self._physics is not None:
            self._physics.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._physics
        if self._sdp is not None:
            await self._sdp.close()
        if self._server is not None:
            await self._server.close()

    async def _serve(self, stream: V2gtpStream) -> None:
        now = asyncio.get_running_loop().time()
        tls = stream.tls_version is not None
        session = SeccSession(self.evse, now, self.config, tls=tls)
        self.sessions.append(session)
        await driver.serve(stream, session, self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        self.events.append(event)
        if isinstance(event, ev.RequireAuthEim):
            self.evse.auth = Authorization.ACCEPTED
        if self.ac_path is not None:
            self.ac_path.on_event(event)
            return
        if isinstance(event, ev.PowerDelivery):
            self.path.set_ev_contactor(event.start)
        self._apply(self.dc.on_hlc(event))

    def _apply(self, commands: list[Command]) -> None:
        for command in commands:
            match command:
                case ToSecc(fields=fields):
                    for name, value in fields.items():
                        setattr(self.evse, name, value)
                case ModeCommand(mode=mode, phase=phase):
                    self.path.set_mode(SupplyMode(mode), precharge=phase == "PreCharge")
                case SupplyExport(voltage=v, current=i):
                    self.path.set_export(v, i)
                case SupplyImport(voltage=v, current=i):
                    self.path.set_import(v, i)
                case Imd(run=run):
                    if run:
                        self.path.imd_start()
                    else:
                        self.path.imd_stop()

    async def _run_physics(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.ac_path is not None:
                self.ac_path.advance(loop.time() - self._t0)
                await asyncio.sleep(STEP_S)
                continue
            reports = self.path.advance(loop.time() - self._t0)
            self._apply(self.dc.on_supply(self.path.voltage_v, self.path.current_a))
            for report in reports:
                if isinstance(report, IsolationMeasured):
                    self._apply(self.dc.on_isolation(report.resistance_ohm, report.voltage_v))
            await asyncio.sleep(STEP_S)
