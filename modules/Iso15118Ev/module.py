"""Iso15118Ev on the bus: the EVCC session layer (evstack.hlc.evcc) behind ISO15118_ev.

An EV simulator calls start_charging; the module finds the charger by SDP on `device` (in
the `netns` namespace when set), runs one session on the event loop's real clock (the V2G
timers are the standards', not simulated time), and publishes its steps. With a DC inlet
wired as `inlet`, the battery's state of charge and the inlet voltage come from there, and
the module closes the EV's DC contactor when precharge is done and opens it when the charge
loop ends, as a car's BMS does.

A session paused (ISO 15118-2 or -20 SessionStop with Pause) is remembered: the next start_charging
asks the charger to join it again with its session id.
"""

from __future__ import annotations

import asyncio
import pathlib
import ssl
from typing import Literal

from evstack.generated.interfaces.ISO15118_ev import ISO15118EvImplBase, ISO15118EvSessionState
from evstack.generated.modules.iso15118_ev import Iso15118EvEvConfig, Iso15118EvModuleBase
from evstack.generated.types.ev_dc_inlet import DcInletMeasurement
from evstack.hlc.evcc import Battery, EvccConfig, EvccSession, Timing
from evstack.hlc.evcc import events as ev
from evstack.hlc.evcc.driver import connect_and_run
from evstack.hlc.evcc.netns import namespace_socket_factory
from evstack.hlc.evcc.security import iso20_context
from evstack.hlc.transport import pki, tls
from evstack.hlc.transport.netif import SocketFactory, default_socket_factory
from evstack.runtime import CommandError

TransferMode = Literal[
    "AC_single_phase_core",
    "AC_three_phase_core",
    "DC_core",
    "DC_extended",
    "DC_combo_core",
    "DC_unique",
]


class Evcc(ISO15118EvImplBase):
    def __init__(self, module: Iso15118Ev) -> None:
        self.module = module

    # The argument names are EVerest's (the wire uses them).
    async def handle_start_charging(
        self,
        EnergyTransferMode: TransferMode,  # noqa: N803
        DepartureTime: float,  # noqa: N803
        EAmount: float,  # noqa: N803
    ) -> bool:
        return self.module.start_session(EnergyTransferMode, DepartureTime, EAmount)

    async def handle_stop_charging(self) -> None:
        self.module.stop_session()

    async def handle_pause_charging(self) -> bool:
        return self.module.pause_session()

    async def handle_set_discharge(self, discharge: bool) -> bool:
        return self.module.set_discharge(discharge)

    async def handle_update_soc(self, SoC: float) -> None:  # noqa: N803
        self.module.battery.soc = SoC / 100.0


class Iso15118Ev(Iso15118EvModuleBase):
    evcc: Evcc

    def create_ev(self, config: Iso15118EvEvConfig) -> Evcc:
        self.evcc = Evcc(self)
        return self.evcc

    async def init(self) -> None:
        c = self.config
        self.battery = Battery(
            capacity_wh=c.battery_capacity_kWh * 1000.0,
            soc=c.soc_percent / 100.0,
            target_soc=c.target_soc_percent / 100.0,
            max_voltage=c.max_voltage_V,
            max_current=c.max_current_A,
            max_power=c.max_power_W,
            ac_max_current=c.ac_max_current_A,
        )
        self.protocols = tuple(p.strip() for p in c.supported_protocols.split(",") if p.strip())
        EvccConfig(protocols=self.protocols)  # a bad list fails the start, with the reason
        self.socket_factory: SocketFactory = (
            namespace_socket_factory(c.netns) if c.netns else default_socket_factory
        )
        self.session: EvccSession | None = None
        self.running: asyncio.Task[None] | None = None
        self.outbox: asyncio.Queue[ev.Output] = asyncio.Queue()
        self.step = "Idle"
        self.paused_session: str | None = None  # the id of the ISO-2 session this EV paused
        for inlet in self.r_inlet:
            inlet.subscribe_dc_measurement(self._on_inlet)

    async def ready(self) -> None:
        self.start_task(self._publish_forever())
        await self._publish_state(None)

    # -- commands ---------------------------------------------------------------------------
    def start_session(self, mode: TransferMode, departure: float, eamount_kwh: float) -> bool:
        if self.running is not None and not self.running.done():
            self.log.warning("start_charging while a session runs: refused")
            return False
        ac = mode.startswith("AC")
        protocols = tuple(p for p in self.protocols if not ac or p != "din")
        if not protocols:
            self.log.warning("start_charging %s: none of %s charges AC", mode, self.protocols)
            return False
        config = EvccConfig(
            protocols=protocols,
            energy="AC" if ac else "DC",
            ac_transfer_mode=mode if ac else "AC_three_phase_core",
            dc_transfer_mode="DC_extended" if ac else mode,
            loop_interval=self.config.loop_interval_s,
            energy_request_wh=eamount_kwh * 1000.0 if eamount_kwh > 0 else None,
            departure_time=int(departure) if departure > 0 else None,
            bidirectional=self.config.bidirectional and "iso20" in protocols,
            control_mode="dynamic" if self.config.iso20_control_mode == "dynamic" else "scheduled",
            timing=Timing(scale=self.config.timeout_scale),
        )
        self.session = EvccSession(config, self.battery, resume=self.paused_session)
        self.paused_session = None
        self.running = self.start_task(self._run(self.session))
        return True

    def set_discharge(self, discharge: bool) -> bool:
        session = self.session
        if session is None or session.ended or not session.config.bidirectional:
            self.log.warning("set_discharge: no bidirectional session runs")
            return False
        session.discharge(discharge)
        return True

    def pause_session(self) -> bool:
        session = self.session
        if session is None or session.ended or not session.pause_charging():
            self.log.warning("pause_charging: no ISO 15118-2 or -20 session runs")
            return False
        return True

    def stop_session(self) -> None:
        if self.session is not None:
            self.session.stop_charging()

    # -- the session ------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context, read at each session's start: the trust store may appear after the
        module starts (a SIL's SECC makes its test PKI when it starts)."""
        c = self.config
        if not c.tls:
            return None
        if "iso20" in self.protocols:
            return iso20_context(
                pathlib.Path(c.v2g_root),
                pathlib.Path(c.ev_chain) if c.ev_chain else None,
                pathlib.Path(c.ev_key) if c.ev_key else None,
                c.ev_key_password or None,
            )
        return tls.evcc_context(pki.Profile.ISO2, pathlib.Path(c.v2g_root))

    async def _run(self, session: EvccSession) -> None:
        try:
            await connect_and_run(
                session,
                self.config.device,
                self.outbox.put_nowait,
                ssl_context=self._ssl_context(),
                socket_factory=self.socket_factory,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            # No trust store, no charger found, or refused: the session never began. (A chain
            # not trusted ends the session in connect_and_run, with the reason.)
            reason = f"no V2G session: {exc}"
            self.log.warning(reason)
            self.outbox.put_nowait(ev.SessionEnded(reason, False, None, 0.0))

    async def _publish_forever(self) -> None:
        while True:
            output = await self.outbox.get()
            try:
                await self._carry_out(output)
            except (CommandError, OSError, ValueError) as error:
                self.log.warning("could not carry out %s: %s", type(output).__name__, error)

    async def _carry_out(self, output: ev.Output) -> None:
        match output:
            case ev.Progress(step="PowerReady"):
                await self.evcc.publish_ev_power_ready(True)
            case ev.Progress(step="DcPowerOn"):
                await self._contactor(True)
                await self.evcc.publish_dc_power_on(None)
            case ev.Progress(step="StopFromCharger"):
                await self.evcc.publish_stop_from_charger(None)
            case ev.Progress(step="Stopping"):
                await self._contactor(False)
            case ev.Progress(step="Discharging"):
                self.log.info("giving energy back")
            case ev.Progress(step="ChargeLoop") if self.session is not None:
                if self.session.config.energy == "AC" and self.session.flow is not None:
                    limit = self.session.flow.evse_max_current
                    if limit is not None:
                        await self.evcc.publish_ac_evse_max_current(max(0.0, limit))
            case ev.SessionEnded():
                if self.session is not None:  # before the EV hears of the end
                    self.paused_session = self.session.paused_session
                await self._contactor(False)
                await self.evcc.publish_ev_power_ready(False)
                self.log.info("V2G session ended: %s (%.1f Wh)", output.reason, output.energy_wh)
        if isinstance(output, ev.Progress | ev.SessionEnded):
            if isinstance(output, ev.Progress):
                self.step = output.step
            await self._publish_state(output)
        if isinstance(output, ev.SessionEnded):
            await self.evcc.publish_v2g_session_finished(None)

    async def _publish_state(self, output: ev.Progress | ev.SessionEnded | None) -> None:
        session = self.session
        ended = isinstance(output, ev.SessionEnded)
        progress = output if isinstance(output, ev.Progress) else None
        await self.evcc.publish_session_state(
            ISO15118EvSessionState(
                protocol=(session.protocol or "") if session is not None else "",
                step="Ended" if ended else self.step,
                voltage_V=progress.voltage if progress is not None else None,
                current_A=progress.current if progress is not None else None,
                soc_percent=round(self.battery.soc * 100.0, 1),
                energy_Wh=session.energy_wh if session is not None else 0.0,
                end_reason=output.reason if isinstance(output, ev.SessionEnded) else None,
            )
        )

    async def _contactor(self, closed: bool) -> None:
        for inlet in self.r_inlet:
            await inlet.call_allow_power_on(value=closed)

    def _on_inlet(self, measurement: DcInletMeasurement) -> None:
        self.battery.soc = max(0.0, min(1.0, measurement.soc_percent / 100.0))
        if self.session is not None:
            self.session.inlet_voltage = measurement.inlet_voltage_V
