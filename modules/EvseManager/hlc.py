"""EvseManager's wiring for DC high-level charging: the SECC (hlc), the DC supply and the
isolation monitor on the bus, around the `DcHlc` core.

The SECC's vars become `DcHlc` inputs; what `DcHlc` decides goes out as supply, monitor
and SECC commands, strictly in the order decided (`SeccLink`'s worker). The `Charger`
core's power permission, its authorization, the user's pause and the energy manager's
grants reach `DcHlc` through `EvseManager.feed` and `_perform`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.interfaces.isolation_monitor import IsolationMonitorClient
from evstack.generated.interfaces.power_supply_DC import PowerSupplyDCClient
from evstack.generated.types import iso15118 as types
from evstack.generated.types.isolation_monitor import IsolationMeasurement
from evstack.generated.types.power_supply_DC import (
    Capabilities,
    ChargingPhase,
    Mode,
    VoltageCurrent,
)
from evstack.hlc.secc import events as ev
from evstack.modules.EvseManager.dc_hlc import (
    Command,
    DcHlc,
    Imd,
    SeccFields,
    SupplyExport,
    SupplyImport,
    SupplyLimits,
    SupplyMode,
    ToSecc,
)
from evstack.modules.EvseManager.secc_link import CALL_S, SeccLink, Send

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager

AC_VOLTS = 230.0  # grants come as AC amps per phase (see energy.py); DC power from them


class DcLink(SeccLink):
    modes = (types.EnergyTransferMode.DC_extended,)

    def __init__(
        self,
        module: EvseManager,
        hlc: ISO15118ChargerClient,
        supply: PowerSupplyDCClient,
        imd: IsolationMonitorClient | None,
    ):
        super().__init__(module, hlc)
        self.supply = supply
        self.imd = imd
        self.dc = DcHlc(SupplyLimits())
        self._maxima: SeccFields = {}

    def subscribe(self) -> None:
        super().subscribe()
        h = self.hlc
        h.subscribe_dc_ev_maximum_limits(self._on_ev_limits)
        h.subscribe_start_cable_check(lambda _: self._on_hlc(ev.StartCableCheck()))
        h.subscribe_start_pre_charge(lambda _: self._on_hlc(ev.StartPreCharge()))
        h.subscribe_dc_ev_target_voltage_current(self._on_target)
        h.subscribe_v2g_setup_finished(lambda _: self._on_hlc(ev.PowerDelivery(True)))
        h.subscribe_dc_open_contactor(lambda _: self._on_hlc(ev.PowerDelivery(False)))
        self.supply.subscribe_voltage_current(self._on_supply)
        self.supply.subscribe_capabilities(self._on_capabilities)
        if self.imd is not None:
            self.imd.subscribe_isolation_measurement(self._on_isolation)

    # -- from the Charger core, the API and the energy manager ---------------------------

    def power_allowed(self, allowed: bool) -> None:
        self._perform(self.dc.set_power_allowed(allowed))

    def energy_limit(self, amps: float | None) -> None:
        watts = None if amps is None else amps * AC_VOLTS * self.module.config.phases
        self._perform(self.dc.set_energy_limit(watts))

    # -- from the SECC, the supply, the monitor ------------------------------------------

    def _on_hlc(self, event: ev.Event) -> None:
        self._perform(self.dc.on_hlc(event))

    def _on_ev_limits(self, limits: types.DcEvMaximumLimits) -> None:
        voltage = limits.dc_ev_maximum_voltage_limit
        if voltage is not None:
            self._on_hlc(
                ev.EvChargeParameters(
                    energy_transfer_mode="DC",
                    max_voltage=voltage,
                    max_current=limits.dc_ev_maximum_current_limit or 0.0,
                    max_power=limits.dc_ev_maximum_power_limit,
                    energy_capacity=None,
                    energy_request=None,
                    full_soc=None,
                    bulk_soc=None,
                    soc=0,
                )
            )

    def _on_target(self, target: types.DcEvTargetValues) -> None:
        self._on_hlc(ev.EvTarget(target.dc_ev_target_voltage, target.dc_ev_target_current))

    def session_ended(self, finished: types.V2gSessionFinished) -> None:
        self._on_hlc(ev.SessionEnded(finished.reason, finished.clean, finished.response_code))

    def _on_supply(self, reading: VoltageCurrent) -> None:
        self._perform(self.dc.on_supply(reading.voltage_V, reading.current_A))

    def _on_capabilities(self, caps: Capabilities) -> None:
        limits = SupplyLimits(
            max_voltage=caps.max_export_voltage_V,
            min_voltage=caps.min_export_voltage_V,
            max_current=caps.max_export_current_A,
            min_current=caps.min_export_current_A,
            max_power=caps.max_export_power_W,
            max_discharge_current=caps.max_import_current_A or 0.0,
            max_discharge_power=caps.max_import_power_W or 0.0,
        )
        self._perform(self.dc.set_limits(limits))

    def _on_isolation(self, measurement: IsolationMeasurement) -> None:
        voltage = measurement.voltage_V if measurement.voltage_V is not None else 0.0
        self._perform(self.dc.on_isolation(measurement.resistance_F_Ohm, voltage))

    # -- out -----------------------------------------------------------------------------

    def _perform(self, commands: list[Command]) -> None:
        for command in commands:
            self._queue(self._sender(command))

    def _sender(self, command: Command) -> Send:
        h, t = self.hlc, CALL_S
        match command:
            case SupplyMode(mode=mode, phase=phase):
                return lambda: self.supply.call_setMode(
                    mode=Mode(mode), phase=ChargingPhase(phase), timeout=t
                )
            case SupplyExport(voltage=v, current=i):
                return lambda: self.supply.call_setExportVoltageCurrent(
                    voltage=v, current=i, timeout=t
                )
            case SupplyImport(voltage=v, current=i):
                return lambda: self.supply.call_setImportVoltageCurrent(
                    voltage=v, current=i, timeout=t
                )
            case Imd(run=run):
                imd = self.imd
                if imd is None:
                    return _nothing
                return (
                    (lambda: imd.call_start(timeout=t))
                    if run
                    else (lambda: imd.call_stop(timeout=t))
                )
            case ToSecc(fields=fields):
                return lambda: self._to_secc(h, fields)
        raise AssertionError(command)

    async def _to_secc(self, h: ISO15118ChargerClient, fields: SeccFields) -> None:
        t = CALL_S
        if "power_allowed" in fields:
            await h.call_set_power_allowed(value=bool(fields["power_allowed"]), timeout=t)
        if "present_voltage" in fields:
            present = types.DcEvsePresentVoltageCurrent(
                evse_present_voltage=max(0.0, float(fields["present_voltage"])),
                evse_present_current=max(0.0, float(fields["present_current"])),
            )
            await h.call_update_dc_present_values(present_voltage_current=present, timeout=t)
        if "max_voltage" in fields or "max_discharge_current" in fields:
            # The SECC takes both directions' maxima in one command: keep what came last.
            self._maxima.update(fields)
            m = self._maxima
            if "max_voltage" in m:
                limits = types.DcEvseMaximumLimits(
                    evse_maximum_current_limit=float(m["max_current"]),
                    evse_maximum_power_limit=float(m["max_power"]),
                    evse_maximum_voltage_limit=float(m["max_voltage"]),
                    evse_maximum_discharge_current_limit=float(m.get("max_discharge_current", 0)),
                    evse_maximum_discharge_power_limit=float(m.get("max_discharge_power", 0)),
                )
                await h.call_update_dc_maximum_limits(maximum_limits=limits, timeout=t)
                await self.module.publish_limits(limits.evse_maximum_current_limit)
        if "min_voltage" in fields:
            minimum = types.DcEvseMinimumLimits(
                evse_minimum_current_limit=float(fields["min_current"]),
                evse_minimum_voltage_limit=float(fields["min_voltage"]),
                evse_minimum_power_limit=0.0,
            )
            await h.call_update_dc_minimum_limits(minimum_limits=minimum, timeout=t)
        if "isolation" in fields:
            value = types.IsolationStatus(fields["isolation"].value)
            await h.call_update_isolation_status(isolation_status=value, timeout=t)
        cable_check = fields.get("cable_check")
        if cable_check is not None:
            await h.call_cable_check_finished(status=cable_check, timeout=t)
        if fields.get("malfunction"):
            await h.call_send_error(error=types.EvseError.Error_Malfunction, timeout=t)


async def _nothing() -> None:
    return None
