"""EvSimulator on the bus: the `Ev` core driving an ev_board_support board.

The EV hears the pilot through its board's vars (PWM duty, contactor events) and acts
through the board's commands. A script comes from the config at start, or replaces
the running one through the `execute` command.
"""

from __future__ import annotations

from evstack.generated.interfaces.ev_manager import EvManagerImplBase
from evstack.generated.interfaces.ev_simulator import EvSimulatorImplBase
from evstack.generated.modules.ev_simulator import EvSimulatorModuleBase
from evstack.generated.types.board_support_common import BspEvent, BspMeasurement
from evstack.generated.types.ev_board_support import EvCpState as WireCpState
from evstack.generated.types.evse_manager import EVInfo
from evstack.modules.EvSimulator.ev import (
    AllowPowerOn,
    Battery,
    BoardForgot,
    CommandDone,
    Discharge,
    DrawCurrent,
    DutySeen,
    Ev,
    EvAction,
    EvInput,
    HlcSeen,
    PauseV2g,
    PowerSeen,
    ResetSlac,
    SetCpState,
    SetDiodeFail,
    SetRcdCurrent,
    SlacSeen,
    StartV2g,
    StopV2g,
    TriggerSlac,
)
from evstack.modules.EvSimulator.script import Command, ScriptError, parse_script
from evstack.runtime import CommandError
from evstack.runtime.stepper import Stepper

REPORT_INTERVAL_S = 1.0  # simulated seconds between two battery reports


class EvView(EvManagerImplBase):
    """What neighbours see of the EV: its pilot events and its battery."""


class Control(EvSimulatorImplBase):
    def __init__(self, module: EvSimulator) -> None:
        self.module = module

    async def handle_execute(self, commands: str) -> str:
        try:
            script = parse_script(commands)
            self.module._check_hlc(script)
        except ScriptError as error:
            return str(error)
        self.module.start_script(script)
        return ""


class EvSimulator(EvSimulatorModuleBase):
    view: EvView
    control: Control

    def create_main(self, config: object) -> EvView:
        self.view = EvView()
        return self.view

    def create_control(self, config: object) -> Control:
        self.control = Control(self)
        return self.control

    async def init(self) -> None:
        c = self.config
        self.battery = Battery(
            capacity_kwh=c.battery_capacity_kWh,
            soc_percent=c.soc_percent,
            max_current_a=c.max_current_A,
            phases=1 if c.phases < 3 else 3,
        )
        # A bad script fails the module's start, with the reason in the log.
        script = parse_script(c.auto_exec_commands)
        self._check_hlc(script)
        self.ev = Ev(
            script,
            self.battery,
            plugged=c.plugged_in,
            follows_pilot=c.follows_pilot,
            slac_state="UNMATCHED" if self.r_slac else None,
        )
        self.stepper: Stepper[EvInput, EvAction] = Stepper(self.ev, self.clock, self._perform)
        self.r_ev_board.subscribe_bsp_event(self._on_bsp_event)
        self.r_ev_board.subscribe_bsp_measurement(self._on_measurement)
        # A restarted board has forgotten the EV's side of the cable; a real EV would still
        # be plugged in, drawing: tell the new board again.
        self.r_ev_board.subscribe_restarts(lambda: self.stepper.feed(BoardForgot()))
        for evcc in self.r_ev:
            evcc.subscribe_ev_power_ready(lambda on: self.stepper.feed(HlcSeen("power_ready", on)))
            evcc.subscribe_dc_power_on(lambda _: self.stepper.feed(HlcSeen("dc_power_on")))
            evcc.subscribe_ac_evse_max_current(
                lambda amps: self.stepper.feed(HlcSeen("ac_max_current", amps))
            )
            evcc.subscribe_stop_from_charger(
                lambda _: self.stepper.feed(HlcSeen("stop_from_charger"))
            )
            evcc.subscribe_v2g_session_finished(
                lambda _: self.stepper.feed(HlcSeen("session_finished"))
            )
        for slac in self.r_slac:
            slac.subscribe_state(lambda state: self.stepper.feed(SlacSeen(state)))

    def _check_hlc(self, script: list[Command]) -> None:
        """An iso_* command without an ISO15118_ev to carry it out would block for ever."""
        if not self.r_ev and any(command.name.startswith("iso_") for command in script):
            raise ScriptError("iso_* commands need an ISO15118_ev wired as `ev`")

    async def ready(self) -> None:
        await self.r_ev_board.call_enable(value=True)
        self.start_task(self.stepper.run(self.ev.tick(self.clock.now())))
        self.start_task(self._report_forever())

    async def _report_forever(self) -> None:
        """Publish the battery and the energy taken in once a simulated second, for displays."""
        while True:
            try:
                await self._report()
            except (CommandError, OSError, ValueError) as error:
                self.log.warning("could not publish the EV's state: %s", error)
            await self.clock.sleep(REPORT_INTERVAL_S)

    async def _report(self) -> None:
        await self.control.publish_energy_Wh(self.ev.energy_wh)
        await self.view.publish_ev_info(
            EVInfo(
                soc=self.battery.soc_percent,
                battery_capacity=self.battery.capacity_kwh * 1000.0,
            )
        )

    def start_script(self, script: list[Command]) -> None:
        """Replace the running script; the EV keeps its plug, battery, faults and view."""
        old = self.ev
        self.ev = Ev(
            script,
            self.battery,
            hlc_power_ready=old.hlc_power_ready,
            hlc_dc_power_on=old.hlc_dc_power_on,
            hlc_ac_max_current=old.hlc_ac_max_current,
            hlc_charging=old.hlc_charging,
            hlc_paused=old.hlc_paused,
            plugged=old.plugged,
            follows_pilot=old.follows_pilot,
            error_e=old.error_e,
            diode_failed=old.diode_failed,
            rcd_milliamps=old.rcd_milliamps,
            duty_percent=old.duty_percent,
            power_on=old.power_on,
            slac_state=old.slac_state,
        )
        self.stepper.core = self.ev
        self.stepper.feed(DutySeen(old.duty_percent))  # wake the stepper for the new script

    def _on_bsp_event(self, event: BspEvent) -> None:
        if event.event in ("PowerOn", "PowerOff"):
            self.stepper.feed(PowerSeen(event.event == "PowerOn"))

    def _on_measurement(self, measurement: BspMeasurement) -> None:
        duty = measurement.cp_pwm_duty_cycle
        self.stepper.feed(DutySeen(None if duty <= 0 or duty >= 100 else duty))

    async def _perform(self, action: EvAction) -> None:
        board = self.r_ev_board
        match action:
            case SetCpState(state=state):
                await board.call_set_cp_state(cp_state=WireCpState(state.value))
                await self.view.publish_bsp_event(BspEvent(event=state.value))
            case DrawCurrent(amps=amps, phases=phases):
                await board.call_set_three_phases(three_phases=phases == 3)
                await board.call_set_ac_max_current(current=amps)
            case SetDiodeFail(failed=failed):
                await board.call_diode_fail(value=failed)
            case SetRcdCurrent(milliamps=ma):
                await board.call_set_rcd_error(rcd_current_mA=ma)
            case StartV2g(mode=mode, departure_s=departure, eamount_kwh=eamount):
                await self._start_v2g(mode, departure, eamount)
            case StopV2g():
                for evcc in self.r_ev:
                    await evcc.call_stop_charging()
            case PauseV2g():
                for evcc in self.r_ev:
                    if not await evcc.call_pause_charging():
                        self.log.warning("the EVCC could not pause its V2G session")
            case Discharge():
                for evcc in self.r_ev:
                    if not await evcc.call_set_discharge(discharge=True):
                        self.log.warning("the EVCC refused to give energy back")
            case AllowPowerOn(on=on):
                await board.call_allow_power_on(value=on)
            case TriggerSlac():
                for slac in self.r_slac:
                    if not await slac.call_trigger_matching():
                        self.log.info("SLAC matching runs already")
            case ResetSlac():
                for slac in self.r_slac:
                    await slac.call_reset()
            case CommandDone(command=command):
                self.log.info("done: %s", command)
                next_command = self.ev.current_command
                await self.control.publish_script_state(str(next_command or ""))

    async def _start_v2g(self, mode: str, departure: float, eamount: float) -> None:
        for evcc in self.r_ev:
            started = await evcc.call_start_charging(
                EnergyTransferMode=mode,  # type: ignore[arg-type]  # one of the interface's names
                DepartureTime=departure,
                EAmount=eamount,
            )
            if not started:
                self.log.warning("the EVCC refused to start a %s session", mode)
