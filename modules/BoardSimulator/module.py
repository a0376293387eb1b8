"""BoardSimulator on the bus: the `Board` core behind three interfaces, on simulated time.

One task advances the board to the clock's present every tick and publishes what the
two boards saw; commands from EvseManager and the EV simulator take effect on the
board at once and show on the line from the next tick on.

Like real hardware it fails safe. When the manager reports a crash of the module that
drives its contactor, the board withdraws the permission at once instead of waiting for
its watchdog; a board that stops opens the contactor. Its meter keeps its register in
the module's state folder, as a real meter keeps it through a power cut (`meter_memory`
false simulates one that forgets).
"""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import msgspec

from evstack.generated.interfaces.ev_board_support import EvBoardSupportImplBase
from evstack.generated.interfaces.evse_board_support import EvseBoardSupportImplBase
from evstack.generated.interfaces.powermeter import PowermeterImplBase
from evstack.generated.modules.board_simulator import BoardSimulatorModuleBase
from evstack.generated.types.board_support_common import (
    BspEvent,
    BspMeasurement,
    ProximityPilot,
)
from evstack.generated.types.ev_board_support import EvCpState
from evstack.generated.types.evse_board_support import (
    HardwareCapabilities,
    PowerOnOff,
    Telemetry,
)
from evstack.generated.types.powermeter import (
    Powermeter,
    TransactionReq,
    TransactionRequestStatus,
    TransactionStartResponse,
    TransactionStopResponse,
)
from evstack.generated.types.units import Current, Energy, Power, Voltage
from evstack.modules.BoardSimulator.board import (
    Board,
    BoardConfig,
    BoardEvent,
    CableRating,
    CpSeen,
    FaultCleared,
    FaultRaised,
    PwmSeen,
    RelaySwitched,
)
from evstack.pilot import PilotState
from evstack.runtime import CommandError, ErrorEvent
from evstack.runtime.state import ModuleState

WALL_TICK_S = 0.005  # the loop wakes at most this often in real time
SIM_TICK_S = 0.01  # ... and at least this often in simulated time

BspEventName = Literal["A", "B", "C", "D", "E", "F", "PowerOn", "PowerOff", "Disconnected"]
AmpacityName = Literal["None", "A_13", "A_20", "A_32", "A_63_3ph_70_1ph"]

_EVENT_NAMES: dict[PilotState, BspEventName] = {
    PilotState.A: "A",
    PilotState.B: "B",
    PilotState.C: "C",
    PilotState.D: "D",
    PilotState.E: "E",
    PilotState.F: "F",
}
_AMPACITY_NAMES: dict[float | None, AmpacityName] = {
    None: "None",
    13.0: "A_13",
    20.0: "A_20",
    32.0: "A_32",
    63.0: "A_63_3ph_70_1ph",
}


def _rfc3339_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class EvseSide(EvseBoardSupportImplBase):
    """The charger's board: EvseManager's hands on the pilot and the contactor."""

    def __init__(self, module: BoardSimulator) -> None:
        self.module = module

    async def handle_enable(self, value: bool) -> None:
        """Enable the port, and tell the (maybe just restarted) controller where things stand."""
        self.module.controller = self.caller
        self.module.board.evse_enable(value)
        await self.module.republish()

    async def handle_pwm_on(self, value: float) -> None:
        self.module.board.evse_pwm(value)

    async def handle_cp_state_X1(self) -> None:  # noqa: N802 - the interface's name
        self.module.board.evse_x1()

    async def handle_cp_state_F(self) -> None:  # noqa: N802 - the interface's name
        self.module.board.evse_f()

    async def handle_cp_state_E(self) -> None:  # noqa: N802 - the interface's name
        self.module.board.evse_e()

    async def handle_allow_power_on(self, value: PowerOnOff) -> None:
        self.module.controller = self.caller
        self.module.board.allow_power_on(value.allow_power_on)

    async def handle_ac_switch_three_phases_while_charging(self, value: bool) -> None:
        raise NotImplementedError("the simulated board cannot switch phases while charging")

    async def handle_ac_set_overcurrent_limit_A(self, value: float) -> None:  # noqa: N802
        # The simulated board has no fast over-current trip; EVerest boards may ignore this.
        return None


class EvSideState(msgspec.Struct):
    """What the EV has set on its side of the cable. It is physics, not process state: when
    the board's process restarts the car is still there, so it is kept with the meter. Only
    within one run, though: a new run starts the EV simulator afresh as well."""

    run_id: str = ""
    cp_state: str = "A"
    diode_failed: bool = False
    rcd_ma: float = 0.0
    amps: float = 0.0
    three_phases: bool = True


class EvSide(EvBoardSupportImplBase):
    """The EV's board: the EV simulator's hands on its resistors, diode and load."""

    def __init__(self, module: BoardSimulator) -> None:
        self.module = module
        self.state = EvSideState(run_id=module.run_id)

    def restore(self, state: EvSideState) -> None:
        """Put the line back as the EV left it before the board restarted."""
        self.state = state
        board = self.module.board
        board.ev_set_cp_state(state.cp_state)
        board.ev_diode_fail(state.diode_failed)
        board.ev_set_rcd_current(state.rcd_ma)
        self.module.apply_ev_load()

    def _changed(self, **changes: object) -> None:
        self.state = msgspec.structs.replace(self.state, **changes)
        self.module.save_ev_side()

    async def handle_enable(self, value: bool) -> None:
        if not value:
            self.module.board.ev_set_cp_state("A")
            self._changed(cp_state="A")

    async def handle_set_cp_state(self, cp_state: EvCpState) -> None:
        self.module.board.ev_set_cp_state(str(cp_state))
        self._changed(cp_state=str(cp_state))

    async def handle_allow_power_on(self, value: bool) -> None:
        return None  # the simulated EV has no contactor of its own

    async def handle_diode_fail(self, value: bool) -> None:
        self.module.board.ev_diode_fail(value)
        self._changed(diode_failed=value)

    async def handle_set_ac_max_current(self, current: float) -> None:
        self._changed(amps=current)
        self.module.apply_ev_load()

    async def handle_set_three_phases(self, three_phases: bool) -> None:
        self._changed(three_phases=three_phases)
        self.module.apply_ev_load()

    async def handle_set_rcd_error(self, rcd_current_mA: float) -> None:  # noqa: N803
        self.module.board.ev_set_rcd_current(rcd_current_mA)
        self._changed(rcd_ma=rcd_current_mA)


class Meter(PowermeterImplBase):
    """The simulated meter. It does not sign: transactions are counted, not certified."""

    def __init__(self, module: BoardSimulator) -> None:
        self.module = module
        self.transactions: dict[str, float] = {}  # id -> energy at start (Wh)

    async def handle_start_transaction(self, value: TransactionReq) -> TransactionStartResponse:
        self.transactions[value.transaction_id] = self.module.board.meter.energy_wh
        return TransactionStartResponse(status=TransactionRequestStatus.OK)

    async def handle_stop_transaction(self, transaction_id: str) -> TransactionStopResponse:
        if not transaction_id:
            self.transactions.clear()
            return TransactionStopResponse(status=TransactionRequestStatus.OK)
        start = self.transactions.pop(transaction_id, None)
        if start is None:
            return TransactionStopResponse(
                status=TransactionRequestStatus.UNEXPECTED_ERROR,
                error=f"no open transaction {transaction_id!r}",
            )
        energy = self.module.board.meter.energy_wh - start
        return TransactionStopResponse(status=TransactionRequestStatus.OK, energy_Wh=energy)

    def reading(self) -> Powermeter:
        meter = self.module.board.meter
        phases = meter.phases
        amps = [meter.current_a if phases > i else 0.0 for i in range(3)]
        return Powermeter(
            timestamp=_rfc3339_now(),
            meter_id=self.module.module_id,
            energy_Wh_import=Energy(total=meter.energy_wh),
            power_W=Power(total=meter.power_w),
            voltage_V=Voltage(L1=meter.voltage_v, L2=meter.voltage_v, L3=meter.voltage_v),
            current_A=Current(L1=amps[0], L2=amps[1], L3=amps[2]),
        )


class BoardSimulator(BoardSimulatorModuleBase):
    evse_side: EvseSide
    ev_side: EvSide
    meter: Meter

    def create_board_support(self, config: object) -> EvseSide:
        self.evse_side = EvseSide(self)
        return self.evse_side

    def create_ev_board_support(self, config: object) -> EvSide:
        self.ev_side = EvSide(self)
        return self.ev_side

    def create_powermeter(self, config: object) -> Meter:
        self.meter = Meter(self)
        return self.meter

    async def init(self) -> None:
        c = self.config
        self.controller = ""  # the module that drives our contactor, by its last command
        self._state = ModuleState(self.state_dir)
        self.board = Board(
            BoardConfig(
                nominal_voltage_v=c.nominal_voltage_V,
                phases=c.phases,
                pp_resistor_ohm=c.pp_resistor_ohm or None,
                relay_close_s=c.relay_close_s,
                relay_open_s=c.relay_open_s,
                rcd_trip_ma=c.rcd_trip_mA,
                power_watchdog_s=c.power_watchdog_s or None,
                sample_rate_hz=c.sample_rate_Hz,
                seed=c.seed ^ uuid.uuid5(uuid.NAMESPACE_OID, self.module_id).int % 2**32,
            ),
            start_time=self.clock.now(),
        )
        if c.meter_memory:
            self.board.meter.energy_wh = self._state.get("meter_wh", float) or 0.0
        ev_side = self._state.get("ev_side", EvSideState)
        if ev_side is not None and ev_side.run_id == self.run_id:
            self.ev_side.restore(ev_side)
        self.subscribe_module_crashes(self._on_module_crash)
        await self.evse_side.publish_capabilities(
            HardwareCapabilities(
                max_current_A_import=c.max_current_A,
                min_current_A_import=6.0,
                max_phase_count_import=c.phases,
                min_phase_count_import=1,
                max_current_A_export=0.0,
                min_current_A_export=0.0,
                max_phase_count_export=c.phases,
                min_phase_count_export=1,
                supports_changing_phases_during_charging=False,
                supports_cp_state_E=True,
                connector_type="IEC62196Type2Socket" if c.pp_resistor_ohm else "IEC62196Type2Cable",
            )
        )
        await self.evse_side.publish_ac_nr_of_phases_available(c.phases)
        await self.meter.publish_public_key_ocmf("")

    async def ready(self) -> None:
        self.start_task(self._run())

    async def reconnected(self) -> None:
        # Events published while the broker was away may be lost: say where things stand.
        await self.republish()

    async def shutdown(self) -> None:
        # A board that stops drops its contactor, like hardware losing its controller.
        self.board.allow_power_on(False)
        self.board.advance(self.board.time + self.config.relay_open_s)
        self._save_meter()
        self._state.close()

    def _on_module_crash(self, event: ErrorEvent) -> None:
        if event.active and event.sub_type and event.sub_type == self.controller:
            # Nobody is in charge of the contactor now: open it, do not wait for the watchdog.
            self.log.warning("%s crashed: power off", self.controller)
            self.board.allow_power_on(False)

    def _save_meter(self) -> None:
        if self.config.meter_memory:
            self._state.put("meter_wh", self.board.meter.energy_wh, durable=False)

    async def republish(self) -> None:
        """Publish the present pilot state, contactor and cable as if they had just changed.

        Vars are not retained, so a controller that (re)starts would otherwise not know
        that an EV is already plugged in.
        """
        board, now = self.board, self.board.time
        if board.cp is not None:
            await self._publish(CpSeen(board.cp, now))
        await self._publish(RelaySwitched(board.relay_on, now))
        await self._publish(CableRating(board.cable_amps, now))

    def apply_ev_load(self) -> None:
        ev = self.ev_side.state
        phases = 3 if ev.three_phases else 1
        self.board.ev_draw(ev.amps, min(phases, self.config.phases))

    def save_ev_side(self) -> None:
        self._state.put("ev_side", self.ev_side.state, durable=False)

    async def _run(self) -> None:
        next_reading = self.clock.now()
        while True:
            try:
                for event in self.board.advance(self.clock.now()):
                    await self._publish(event)
                now = self.clock.now()
                if now >= next_reading:
                    next_reading = now + self.config.meter_interval
                    self._save_meter()
                    await self._publish_readings()
            except (CommandError, OSError, ValueError) as error:
                # The bus hiccuped (or the module is stopping): the simulation goes on.
                self.log.warning("publishing board events failed: %s", error)
                now = self.clock.now()
            tick = max(WALL_TICK_S * self.clock.speedup, SIM_TICK_S)
            deadline = self.board.next_deadline
            if deadline is not None:
                tick = min(tick, max(deadline - now, 0.0))
            await self.clock.sleep(tick)

    async def _publish(self, event: BoardEvent) -> None:
        match event:
            case CpSeen(state=state):
                await self._publish_both(_EVENT_NAMES[state])
            case RelaySwitched(on=on):
                await self._publish_both("PowerOn" if on else "PowerOff")
            case PwmSeen():
                await self._publish_measurement(event.duty_percent)
            case FaultRaised(error=error):
                await self.evse_side.raise_error(error, "seen by the simulated board")
            case FaultCleared(error=error):
                await self.evse_side.clear_error(error)
            case CableRating(amps=amps):
                await self.evse_side.publish_ac_pp_ampacity(
                    ProximityPilot(ampacity=_AMPACITY_NAMES[amps])
                )

    async def _publish_both(self, name: BspEventName) -> None:
        await self.evse_side.publish_event(BspEvent(event=name))
        await self.ev_side.publish_bsp_event(BspEvent(event=name))

    async def _publish_measurement(self, duty_percent: float | None) -> None:
        await self.ev_side.publish_bsp_measurement(
            BspMeasurement(
                cp_pwm_duty_cycle=100.0 if duty_percent is None else duty_percent,
                proximity_pilot=ProximityPilot(ampacity=_AMPACITY_NAMES[self.board.cable_amps]),
            )
        )

    async def _publish_readings(self) -> None:
        await self.meter.publish_powermeter(self.meter.reading())
        await self.evse_side.publish_telemetry(
            Telemetry(
                evse_temperature_C=25.0,
                fan_rpm=0.0,
                supply_voltage_12V=12.0,
                supply_voltage_minus_12V=-12.0,
                relais_on=self.board.relay_on,
            )
        )
