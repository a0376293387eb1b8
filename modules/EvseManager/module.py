"""EvseManager on the bus: the `Charger` core between the board, Auth and the energy tree.

Everything that reaches the module (board vars and errors, commands from Auth and
operators, grants from the energy manager, a crash or restart of the board) becomes an
input of the core, queued on one `Stepper` so the core sees a single ordered stream. What
the core answers is carried out here: board commands, session events with meter readings
(`SessionBook`, which journals the transaction), the energy request.

A transaction survives this module's process. Started in this run of the charger and found
running at start-up, it is carried on (the core resumes it, or finishes it if the EV has
left); found from an earlier run (the charger lost power or was killed) it is finished at
once as PowerLoss, at its last reading. A graceful stop finishes it as Reboot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Coroutine
from typing import Any

from evstack.generated.modules.evse_manager import EvseManagerModuleBase
from evstack.generated.types.board_support_common import BspEvent, ProximityPilot
from evstack.generated.types.evse_board_support import HardwareCapabilities, PowerOnOff
from evstack.generated.types.evse_manager import Limits
from evstack.generated.types.powermeter import Powermeter
from evstack.modules.EvseManager.api import EvseApi
from evstack.modules.EvseManager.charger import Charger, ChargerConfig
from evstack.modules.EvseManager.energy import EnergyLeaf
from evstack.modules.EvseManager.hlc import DcLink
from evstack.modules.EvseManager.hlc_ac import AcLink
from evstack.modules.EvseManager.journal import TransactionJournal
from evstack.modules.EvseManager.secc_link import SeccLink
from evstack.modules.EvseManager.sessions import METER_FAULT, SessionBook
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    BoardBack,
    BoardLost,
    CableAmpacity,
    ClearError,
    CpChanged,
    CpState,
    CurrentLimit,
    EnableBoard,
    EnergyLost,
    Fault,
    FaultChanged,
    Input,
    MeasuredCurrent,
    Pause,
    Publish,
    RaiseError,
    Recovery,
    RelayChanged,
    Resume,
    SetCpF,
    SetCpX1,
    SetPwm,
    StopReason,
)
from evstack.modules.EvseManager.signals import SessionEvent as Milestone
from evstack.modules.EvseManager.slac import SlacLink
from evstack.modules.EvseManager.wakeup import HlcCharger, HlcInput, HlcPilot, PausePilot, WakeStep
from evstack.runtime import CommandError, CommandEvent, ErrorEvent
from evstack.runtime.eager import Finished, start_eagerly
from evstack.runtime.state import ModuleState
from evstack.runtime.stepper import Stepper

_KNOWN_FAULTS = {fault.value: fault for fault in Fault}
_AMPACITY = {"A_13": 13.0, "A_20": 20.0, "A_32": 32.0, "A_63_3ph_70_1ph": 63.0}
# Wall seconds a board command may take. The charging logic waits for each in turn, so a
# board that does not answer must not hold it up for the runtime's default 30 s.
BOARD_CALL_S = 2.0
_MODULE_CRASHED = "evstack/ModuleCrashed"


class EvseManager(EvseManagerModuleBase):
    api: EvseApi
    energy: EnergyLeaf

    def create_evse(self, config: object) -> EvseApi:
        self.api = EvseApi(self)
        return self.api

    def create_energy_grid(self, config: object) -> EnergyLeaf:
        self.energy = EnergyLeaf(self)
        return self.energy

    async def init(self) -> None:
        c = self.config
        dc = c.charge_mode == "DC"
        hlc = dc or bool(self.r_hlc)  # AC with an SECC wired: ISO 15118 AC
        self.charger = Charger(
            ChargerConfig(max_current_a=c.max_current_A, has_ventilation=c.has_ventilation, hlc=hlc)
        )
        self.hlc: SeccLink | None = None
        if dc:
            if not (self.r_hlc and self.r_powersupply_DC):
                raise ValueError("charge_mode DC needs an SECC (hlc) and a powersupply_DC")
            imd = self.r_imd[0] if self.r_imd else None
            self.hlc = DcLink(self, self.r_hlc[0], self.r_powersupply_DC[0], imd)
        elif hlc:
            self.hlc = AcLink(self, self.r_hlc[0])
        if self.hlc is not None:
            self.hlc.subscribe()
        self.slac: SlacLink | None = None
        if self.r_slac:
            self.slac = SlacLink(self, self.r_slac[0])
            self.slac.subscribe()
            if self.hlc is not None:
                self.hlc.link_ready = False
        # The EV's pause and BCB toggle, the charger's wake-up: inert without an SECC.
        pilot = HlcPilot(PausePilot(c.hlc_pause_pilot), WakeStep(c.hlc_wake_up))
        core = HlcCharger(self.charger, pilot)
        self.stepper: Stepper[Input | HlcInput, Action] = Stepper(core, self.clock, self._perform)
        self._stopped = False
        self._announced_limit: float | None = None
        self._state = ModuleState(self.state_dir)
        self.sessions = SessionBook(self, TransactionJournal(self._state))
        if c.energy_management:
            self.charger.current_limit_a = 0.0  # nothing until the energy manager grants it
            if self.hlc is not None:
                self.hlc.energy_limit(0.0)
        self._recovery = await self._take_over_transaction()

        bsp = self.r_bsp
        bsp.subscribe_event(self._on_bsp_event)
        bsp.subscribe_ac_pp_ampacity(self._on_ampacity)
        bsp.subscribe_capabilities(self._on_capabilities)
        bsp.subscribe_errors(self._on_bsp_error)
        bsp.subscribe_restarts(self._on_board_restart)
        self.subscribe_module_crashes(self._on_module_crash)
        for meter in self.r_powermeter_grid_side:
            meter.subscribe_powermeter(self._on_reading)

    async def _take_over_transaction(self) -> Recovery | None:
        running = self.sessions.journal.running()
        if running is None:
            return None
        session = running.record.session_uuid
        if running.run_id != self.run_id:
            # The charger itself went down meanwhile: the EV was cut off then.
            self.log.warning("finishing transaction %s of an earlier run", session)
            await self.sessions.finish_now(running, StopReason.POWER_LOSS)
            return None
        self.log.info("carrying on transaction %s after a restart", session)
        stop = None if running.stop_reason is None else StopReason(running.stop_reason)
        return Recovery(self.sessions.take_over(running), stop)

    async def ready(self) -> None:
        await self.api.publish_evse_id(self.config.evse_id)
        # The board answers with where things stand.
        await self.r_bsp.call_enable(value=True, timeout=BOARD_CALL_S)
        first = self.charger.start(self.clock.now(), self._recovery)
        self.start_task(self.stepper.run(first))
        self.start_task(self.energy.run())
        if self.hlc is not None:
            self.start_task(self.hlc.run())
        if self.slac is not None:
            self.start_task(self.slac.run())
        await self.api.publish_ready(True)

    async def shutdown(self) -> None:
        # The stepper is stopped already (the runtime cancels background tasks first).
        self._stopped = True
        running = self.sessions.running
        if running is not None:
            with contextlib.suppress(Exception):  # the board may be gone already: best effort
                await self._allow_power(False)
            await self.sessions.finish_now(running, StopReason.REBOOT)
        self._state.close()

    def feed(self, event: Input | HlcInput) -> None:
        self.stepper.feed(event)
        if self.hlc is not None:
            match event:
                case Pause() | Resume():
                    self.hlc.pause(isinstance(event, Pause))
                case CurrentLimit(amps=amps):
                    self.hlc.energy_limit(amps)
                case EnergyLost():
                    self.hlc.energy_limit(0.0)
                case CableAmpacity(amps=amps) if isinstance(self.hlc, AcLink):
                    self.hlc.cable_ampacity(amps)

    # --- inputs -------------------------------------------------------------------------

    def _on_bsp_event(self, event: BspEvent) -> None:
        name = str(event.event)
        if name in ("PowerOn", "PowerOff"):
            self.feed(RelayChanged(name == "PowerOn"))
        elif name in CpState.__members__:
            if self.slac is not None:
                self.slac.pilot(CpState(name))
            self.feed(CpChanged(CpState(name)))

    def _on_ampacity(self, value: ProximityPilot) -> None:
        self.feed(CableAmpacity(_AMPACITY.get(str(value.ampacity))))

    def _on_capabilities(self, caps: HardwareCapabilities) -> None:
        self.charger.config.max_current_a = min(
            self.config.max_current_A, caps.max_current_A_import
        )

    def _on_bsp_error(self, event: ErrorEvent) -> None:
        fault = _KNOWN_FAULTS.get(event.type)
        if fault is not None:
            self.feed(FaultChanged(fault, event.active))

    def _on_module_crash(self, event: ErrorEvent) -> None:
        if event.type != _MODULE_CRASHED or not event.active:
            return
        crashed = event.sub_type
        if crashed == self.r_bsp.target.module_id:
            self.feed(BoardLost())
        elif crashed in self.energy.upstream:
            # Whoever shares the fuse can no longer be coordinated with: stop drawing now.
            self.log.warning("%s crashed: no current until a new grant", crashed)
            self.energy.lapse()

    def _on_board_restart(self) -> None:
        self.feed(BoardBack())

    async def reconnected(self) -> None:
        # What we sent the board while cut off is lost: bring it in line with us again.
        self.feed(BoardBack())

    async def _on_reading(self, reading: Powermeter) -> None:
        if self._stopped:
            return  # the transaction is finished and its journal closed
        counted, fault = self.sessions.on_reading(reading)
        if fault:
            await self.api.raise_error(
                METER_FAULT, "the meter's energy register went backwards; counting on from it"
            )
        amps = reading.current_A
        if amps is not None:
            phases = [a for a in (amps.L1, amps.L2, amps.L3) if a is not None]
            self.feed(MeasuredCurrent(max(phases, default=0.0)))
        await self.api.publish_powermeter(counted)

    # --- actions ------------------------------------------------------------------------

    async def _perform(self, action: Action) -> None:
        bsp = self.r_bsp
        match action:
            case SetPwm(duty_percent=duty):
                await self._to_board(bsp.call_pwm_on(value=duty, timeout=BOARD_CALL_S))
                await self._publish_limits()
            case SetCpX1():
                await self._to_board(bsp.call_cp_state_X1(timeout=BOARD_CALL_S))
                await self._publish_limits()
            case SetCpF():
                await self._to_board(bsp.call_cp_state_F(timeout=BOARD_CALL_S))
                await self._publish_limits()
            case AllowPower(allow=allow):
                if self.hlc is None or not self.hlc.drives_contactor:
                    await self._to_board(self._allow_power(allow))
                if self.hlc is not None:
                    self.hlc.power_allowed(allow)
            case EnableBoard():
                await self._to_board(bsp.call_enable(value=True, timeout=BOARD_CALL_S))
            case Publish():
                if self.hlc is not None and action.event is Milestone.AUTHORIZED:
                    self.hlc.authorized()
                await self.sessions.publish(action)
                if action.event in (Milestone.SESSION_STARTED, Milestone.TRANSACTION_STARTED):
                    # Plug-in and authorization change what this EVSE needs: tell the tree now.
                    await self.energy.publish_request(priority=True)
            case RaiseError(error=error):
                if isinstance(self.hlc, AcLink):
                    self.hlc.inoperative(True)
                await self.api.raise_error(error, "charging is not possible: see the board")
            case ClearError(error=error):
                if isinstance(self.hlc, AcLink):
                    self.hlc.inoperative(False)
                await self.api.clear_error(error)

    def switch_contactor(self, closed: bool) -> None:
        """The board's contactor, for a link that decides it (AC high-level charging)."""
        self._send_to_board(self._allow_power(closed))

    async def _to_board(self, command: Coroutine[Any, Any, None]) -> None:
        self._send_to_board(command)

    def _send_to_board(self, command: Coroutine[Any, Any, None]) -> None:
        """Send a board command in order; once it is on its way, do not wait for the answer.

        The charging logic must keep its rhythm (the permission is repeated every second and
        the board's watchdog counts on it) even while answers queue behind other traffic on
        this module's one connection, a flood of requests, say. A call to a board that is up
        sends its request in its first step, so the requests leave in the order the core
        decided them; a refusal is logged when its answer comes.

        A board that is not up (it crashed, or we are cut off from the broker) is not waited
        for: nothing sent now would reach it, and waiting would hold up the news of its
        crash. It is re-armed in full when it is back (BoardBack): enabled, then every output.
        """
        if not self.r_bsp.is_up:
            command.close()
            return
        started = start_eagerly(command)
        if not isinstance(started, Finished):
            self.start_task(self._answer_of(started))

    async def _answer_of(self, command: Awaitable[None]) -> None:
        try:
            await command
        except CommandError as error:
            if error.event is not CommandEvent.SHUTDOWN:
                self.log.warning("the board did not take a command: %s", error)

    async def _allow_power(self, allow: bool) -> None:
        value = PowerOnOff(
            allow_power_on=allow, reason="FullPowerCharging" if allow else "PowerOff"
        )
        await self.r_bsp.call_allow_power_on(value=value, timeout=BOARD_CALL_S)

    async def _publish_limits(self) -> None:
        if self.hlc is None:  # with HLC the duty offers nothing: the link tells the offer
            await self.publish_limits(self.charger.offered_current)

    async def publish_limits(self, amps: float) -> None:
        """The current offered now: by the PWM, or over the V2G session (AC per phase, DC)."""
        if amps != self._announced_limit:
            self._announced_limit = amps
            await self.api.publish_limits(
                Limits(
                    uuid=self.module_id,
                    max_current=amps,
                    nr_of_phases_available=self.config.phases,
                )
            )
