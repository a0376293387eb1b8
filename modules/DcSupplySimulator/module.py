"""DcSupplySimulator on the bus: the `DcPowerPath` core behind four interfaces, on
simulated time.

One module, because the four share their physics: the supply's output voltage is the
EV's inlet voltage, the meter's and the isolation monitor's; the battery's current is
the meter's. Split into modules they would each need their own copy of the circuit and
would drift apart, the very fault this simulator exists to avoid.

One task advances the power path to the clock's present every tick and publishes the
readings at their intervals; a command first brings the path up to the present, then
takes effect. The charger's output contactor is the one of the board wired as `bsp`
(its PowerOn/PowerOff reports); without one the output is wired straight to the cable.

It fails safe like real hardware: when the manager reports a crash of the module that
drives the supply (its last caller), the supply switches off and its output discharges;
when the board crashes, its contactor counts as open. The meter keeps its registers in
the module's state folder, as a real meter keeps them through a power cut
(`meter_memory` false simulates one that forgets); the EV's battery and contactor are
kept there too, within one run, since the car is still there when the charger restarts.
"""

from __future__ import annotations

import datetime

import msgspec

from evstack.generated.interfaces.ev_dc_inlet import EvDcInletImplBase
from evstack.generated.interfaces.isolation_monitor import IsolationMonitorImplBase
from evstack.generated.interfaces.power_supply_DC import PowerSupplyDCImplBase
from evstack.generated.interfaces.powermeter import PowermeterImplBase
from evstack.generated.modules.dc_supply_simulator import (
    DcSupplySimulatorEvConfig,
    DcSupplySimulatorImdConfig,
    DcSupplySimulatorMainConfig,
    DcSupplySimulatorModuleBase,
)
from evstack.generated.types.board_support_common import BspEvent
from evstack.generated.types.ev_dc_inlet import DcInletMeasurement
from evstack.generated.types.isolation_monitor import IsolationMeasurement
from evstack.generated.types.power_supply_DC import (
    Capabilities,
    ChargingPhase,
    Mode,
    VoltageCurrent,
)
from evstack.generated.types.powermeter import (
    Powermeter,
    TransactionReq,
    TransactionRequestStatus,
    TransactionStartResponse,
    TransactionStopResponse,
)
from evstack.generated.types.units import Current, Energy, Power, Voltage
from evstack.modules.DcSupplySimulator.battery import BatteryConfig
from evstack.modules.DcSupplySimulator.imd import ImdConfig, ImdEvent, IsolationMeasured
from evstack.modules.DcSupplySimulator.power_path import (
    DcPowerPath,
    PathConfig,
    SupplyConfig,
    SupplyMode,
)
from evstack.runtime import CommandError, ErrorEvent
from evstack.runtime.state import ModuleState

WALL_TICK_S = 0.005  # the loop wakes at most this often in real time
SIM_TICK_S = 0.01  # ... and at least this often in simulated time


def _rfc3339_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def path_config(
    main: DcSupplySimulatorMainConfig,
    imd: DcSupplySimulatorImdConfig,
    ev: DcSupplySimulatorEvConfig,
) -> PathConfig:
    """The core's configuration from the implementations' manifest configs."""
    return PathConfig(
        supply=SupplyConfig(
            bidirectional=main.bidirectional,
            max_export_voltage_v=main.max_voltage,
            min_export_voltage_v=main.min_voltage,
            max_export_current_a=main.max_current,
            min_export_current_a=main.min_current,
            max_export_power_w=main.max_power,
            max_import_current_a=main.max_import_current if main.bidirectional else 0.0,
            max_import_power_w=main.max_import_power if main.bidirectional else 0.0,
            voltage_ramp_v_per_s=main.voltage_ramp_V_per_s,
            current_ramp_a_per_s=main.current_ramp_A_per_s,
            precharge_current_a=main.precharge_current_A,
            capacitance_f=main.output_capacitance_uF * 1e-6,
            discharge_resistance_ohm=main.discharge_resistance_Ohm,
            discharge_time_s=main.discharge_time_s,
            bleeder_resistance_ohm=main.bleeder_resistance_Ohm,
        ),
        battery=BatteryConfig(
            capacity_wh=ev.battery_capacity_kWh * 1000.0,
            empty_voltage_v=ev.empty_voltage_V,
            full_voltage_v=ev.full_voltage_V,
            internal_resistance_ohm=ev.internal_resistance_Ohm,
            max_voltage_v=ev.max_voltage_V,
            max_charge_current_a=ev.max_charge_current_A,
            max_discharge_current_a=ev.max_discharge_current_A,
            taper_from_soc_percent=ev.taper_from_soc_percent,
            isolation_resistance_ohm=ev.isolation_resistance_Ohm,
        ),
        imd=ImdConfig(
            resistance_ohm=imd.resistance_F_Ohm,
            interval_s=imd.interval / 1000.0,
            self_test_s=imd.selftest_duration_s,
            self_test_passes=imd.selftest_success,
        ),
    )


class Supply(PowerSupplyDCImplBase):
    """The DC power supply: the charging logic's hands on the converter."""

    def __init__(self, module: DcSupplySimulator) -> None:
        self.module = module

    async def handle_setMode(self, mode: Mode, phase: ChargingPhase) -> None:  # noqa: N802
        if mode is Mode.Fault:
            raise ValueError("Fault is a mode a supply reports; it cannot be set")
        self.module.controller = self.caller
        path = self.module.catch_up()
        path.set_mode(SupplyMode(mode.value), precharge=phase is ChargingPhase.PreCharge)
        # The converter stops at once: an Off returns with no current left to break.
        await self.publish_mode(mode)

    async def handle_setExportVoltageCurrent(self, voltage: float, current: float) -> None:  # noqa: N802
        self.module.controller = self.caller
        applied = self.module.catch_up().set_export(voltage, current)
        if applied != (voltage, current):
            self.module.log.info(
                "export %s V, %s A brought within limits: %s", voltage, current, applied
            )

    async def handle_setImportVoltageCurrent(self, voltage: float, current: float) -> None:  # noqa: N802
        self.module.controller = self.caller
        applied = self.module.catch_up().set_import(voltage, current)
        if applied != (voltage, current):
            self.module.log.info(
                "import %s V, %s A brought within limits: %s", voltage, current, applied
            )

    def capabilities(self) -> Capabilities:
        s = self.module.path.config.supply
        imports = s.bidirectional
        return Capabilities(
            bidirectional=s.bidirectional,
            # The simulated converter holds its limit exactly, without ripple.
            current_regulation_tolerance_A=0.0,
            peak_current_ripple_A=0.0,
            max_export_voltage_V=s.max_export_voltage_v,
            min_export_voltage_V=s.min_export_voltage_v,
            max_export_current_A=s.max_export_current_a,
            min_export_current_A=s.min_export_current_a,
            max_export_power_W=s.max_export_power_w,
            max_import_voltage_V=s.max_export_voltage_v if imports else None,
            min_import_voltage_V=s.min_export_voltage_v if imports else None,
            max_import_current_A=s.max_import_current_a if imports else None,
            min_import_current_A=s.min_export_current_a if imports else None,
            max_import_power_W=s.max_import_power_w if imports else None,
        )

    def reading(self) -> VoltageCurrent:
        path = self.module.path
        return VoltageCurrent(voltage_V=path.voltage_v, current_A=path.current_a)


class Meter(PowermeterImplBase):
    """The DC meter. It does not sign: transactions are counted, not certified."""

    def __init__(self, module: DcSupplySimulator) -> None:
        self.module = module
        self.transactions: dict[str, float] = {}  # id -> imported energy at start (Wh)

    async def handle_start_transaction(self, value: TransactionReq) -> TransactionStartResponse:
        self.transactions[value.transaction_id] = self.module.catch_up().meter.import_wh
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
        energy = self.module.catch_up().meter.import_wh - start
        return TransactionStopResponse(status=TransactionRequestStatus.OK, energy_Wh=energy)

    def reading(self) -> Powermeter:
        path = self.module.path
        volts, amps = path.inlet_voltage_v, path.battery_current_a
        return Powermeter(
            timestamp=_rfc3339_now(),
            meter_id=self.module.module_id,
            energy_Wh_import=Energy(total=path.meter.import_wh),
            energy_Wh_export=Energy(total=path.meter.export_wh),
            power_W=Power(total=volts * amps),  # negative while the EV gives power back
            voltage_V=Voltage(DC=volts),
            current_A=Current(DC=amps),
        )


class Imd(IsolationMonitorImplBase):
    """The isolation monitor on the cable side of the output contactor."""

    def __init__(self, module: DcSupplySimulator) -> None:
        self.module = module

    async def handle_start(self) -> None:
        self.module.catch_up().imd_start()

    async def handle_stop(self) -> None:
        self.module.catch_up().imd_stop()

    async def handle_start_self_test(self, test_voltage_V: float) -> None:  # noqa: N803
        # The simulated test does not depend on the voltage; the cable's is in each reading.
        self.module.catch_up().imd_self_test()


class EvState(msgspec.Struct):
    """The EV's side, kept with the meter: physics, not process state. Only within one run:
    a new run starts the EV afresh."""

    run_id: str
    soc_percent: float
    contactor_closed: bool
    leak_ohm: float | None


class EvInlet(EvDcInletImplBase):
    """The EV's end of the cable: its contactor, its battery, a bench's fault injection."""

    def __init__(self, module: DcSupplySimulator) -> None:
        self.module = module

    async def handle_allow_power_on(self, value: bool) -> None:
        self.module.catch_up().set_ev_contactor(value)
        self.module.save()
        await self.publish_dc_measurement(self.reading())

    async def handle_set_soc(self, soc_percent: float) -> None:
        self.module.catch_up().set_soc(soc_percent)
        self.module.save()

    async def handle_set_isolation_fault(self, resistance_Ohm: float) -> None:  # noqa: N803
        self.module.catch_up().inject_isolation_fault(resistance_Ohm or None)
        self.module.save()

    def reading(self) -> DcInletMeasurement:
        path = self.module.path
        battery = path.battery
        return DcInletMeasurement(
            inlet_voltage_V=path.inlet_voltage_v,
            battery_voltage_V=path.battery_voltage_v,
            current_A=path.battery_current_a,
            soc_percent=battery.reported_soc_percent,
            contactor_closed=path.ev_contactor_closed,
            max_voltage_V=battery.config.max_voltage_v,
            max_charge_current_A=battery.max_charge_current_a,
            max_discharge_current_A=battery.max_discharge_current_a,
            capacity_Wh=battery.config.capacity_wh,
        )


class MeterState(msgspec.Struct):
    import_wh: float
    export_wh: float


class DcSupplySimulator(DcSupplySimulatorModuleBase):
    supply: Supply
    meter: Meter
    imd: Imd
    ev: EvInlet

    def create_main(self, config: DcSupplySimulatorMainConfig) -> Supply:
        self._main_config = config
        self.supply = Supply(self)
        return self.supply

    def create_powermeter(self, config: object) -> Meter:
        self.meter = Meter(self)
        return self.meter

    def create_imd(self, config: DcSupplySimulatorImdConfig) -> Imd:
        self._imd_config = config
        self.imd = Imd(self)
        return self.imd

    def create_ev(self, config: DcSupplySimulatorEvConfig) -> EvInlet:
        self._ev_config = config
        self.ev = EvInlet(self)
        return self.ev

    async def init(self) -> None:
        self.controller = ""  # the module that drives the supply, by its last command
        self._events: list[ImdEvent] = []
        self._mode_changed = False  # by the fail-safe, for the loop to publish
        self._state = ModuleState(self.state_dir)
        self.path = DcPowerPath(
            path_config(self._main_config, self._imd_config, self._ev_config),
            soc_percent=self._ev_config.soc_percent,
            start_time=self.clock.now(),
            output_contactor_closed=not self.r_bsp,
        )
        self._restore()
        self.subscribe_module_crashes(self._on_module_crash)
        for board in self.r_bsp:
            board.subscribe_event(self._on_board_event)
        await self._publish_state()
        await self.meter.publish_public_key_ocmf("")

    async def ready(self) -> None:
        self.start_task(self._run())

    async def reconnected(self) -> None:
        # Vars are not retained: whoever missed them must still learn what the supply can do.
        await self._publish_state()

    async def shutdown(self) -> None:
        # A supply that stops switches off and discharges its output, as hardware losing
        # its controller does.
        self.catch_up().set_mode(SupplyMode.OFF)
        self.path.advance(self.path.time + self.path.config.supply.discharge_time_s)
        self.save()
        self._state.close()

    def catch_up(self) -> DcPowerPath:
        """Bring the power path up to the present, so that what comes next happens now."""
        self._events += self.path.advance(self.clock.now())
        return self.path

    def save(self) -> None:
        path = self.path
        if self.config.meter_memory:
            registers = MeterState(path.meter.import_wh, path.meter.export_wh)
            self._state.put("meter", registers, durable=False)
        ev = EvState(
            self.run_id, path.battery.soc_percent, path.ev_contactor_closed, path.imd.leak_ohm
        )
        self._state.put("ev", ev, durable=False)

    def _restore(self) -> None:
        registers = self._state.get("meter", MeterState)
        if registers is not None and self.config.meter_memory:
            self.path.meter.import_wh = registers.import_wh
            self.path.meter.export_wh = registers.export_wh
        ev = self._state.get("ev", EvState)
        if ev is not None and ev.run_id == self.run_id:
            self.path.set_soc(ev.soc_percent)
            self.path.set_ev_contactor(ev.contactor_closed)
            self.path.inject_isolation_fault(ev.leak_ohm)

    async def _publish_state(self) -> None:
        await self.supply.publish_capabilities(self.supply.capabilities())
        await self.supply.publish_mode(Mode(self.path.mode.value))

    def _on_module_crash(self, event: ErrorEvent) -> None:
        if not event.active or not event.sub_type:
            return
        if event.sub_type == self.controller and self.path.mode is not SupplyMode.OFF:
            # Nobody is in charge of the supply now: switch it off and discharge the output.
            self.log.warning("%s crashed: supply off", self.controller)
            self.catch_up().set_mode(SupplyMode.OFF)
            self._mode_changed = True
        if any(event.sub_type == board.target.module_id for board in self.r_bsp):
            self.catch_up().set_output_contactor(False)  # a dead board's contactor drops

    def _on_board_event(self, event: BspEvent) -> None:
        if event.event in ("PowerOn", "PowerOff"):
            self.catch_up().set_output_contactor(event.event == "PowerOn")

    async def _run(self) -> None:
        next_reading = next_meter = self.clock.now()
        while True:
            try:
                self.catch_up()
                await self._publish_events()
                now = self.path.time
                if now >= next_reading:
                    next_reading = now + self.config.publish_interval
                    await self.supply.publish_voltage_current(self.supply.reading())
                    await self.ev.publish_dc_measurement(self.ev.reading())
                if now >= next_meter:
                    next_meter = now + self.config.meter_interval
                    self.save()
                    await self.meter.publish_powermeter(self.meter.reading())
            except (CommandError, OSError, ValueError) as error:
                # The bus hiccuped (or the module is stopping): the simulation goes on.
                self.log.warning("publishing the power path failed: %s", error)
            tick = max(WALL_TICK_S * self.clock.speedup, SIM_TICK_S)
            deadline = self.path.next_deadline
            if deadline is not None:
                tick = min(tick, max(deadline - self.clock.now(), 0.0))
            await self.clock.sleep(tick)

    async def _publish_events(self) -> None:
        if self._mode_changed:
            self._mode_changed = False
            await self.supply.publish_mode(Mode(self.path.mode.value))
        events, self._events = self._events, []
        for event in events:
            if isinstance(event, IsolationMeasured):
                await self.imd.publish_isolation_measurement(
                    IsolationMeasurement(
                        resistance_F_Ohm=event.resistance_ohm, voltage_V=event.voltage_v
                    )
                )
            else:
                await self.imd.publish_self_test_result(event.passed)
