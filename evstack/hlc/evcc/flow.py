"""The EV's request sequence for DIN 70121 and ISO 15118-2, shared, with each protocol's
message names and bodies in a subclass (`evcc.din`, `evcc.iso2`).

DIN and ISO-2 walk the same road (ISO 15118-2 grew out of DIN 70121's messages):
SessionSetup, ServiceDiscovery, the payment selection (ExternalPayment: EIM), the
authorisation (repeated while the charger answers Ongoing), ChargeParameterDiscovery (the
same), then for DC CableCheck, PreCharge until the charger's voltage meets the battery's,
PowerDelivery(start), the CurrentDemand loop, PowerDelivery(stop), WeldingDetection; for AC
PowerDelivery(start), the ChargingStatus loop, PowerDelivery(stop); then SessionStop.

The flow never touches I/O or a clock: it answers each response through `Context`.
"""

from __future__ import annotations

import abc

from evstack.hlc.evcc import timing
from evstack.hlc.evcc.codec import Doc, physical, value_of
from evstack.hlc.evcc.protocol import Context, ProtocolFlow

PRECHARGE_CURRENT = 1.0  # A; the standards allow at most 2 A while precharging
SAFE_VOLTAGE = 60.0  # below this the inlet counts as dead for welding detection
SHUTDOWN_CODES = frozenset({"EVSE_Shutdown", "EVSE_EmergencyShutdown", "EVSE_Malfunction"})


class Flow(ProtocolFlow):
    """One session's EV side after SupportedAppProtocol; subclasses name the messages."""

    schema = ""
    payment_selection = ""
    authorization = ""

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.service_id = 1
        self.welding_checks = 0
        self.charging = False

    # -- what subclasses say --------------------------------------------------------------
    @abc.abstractmethod
    def charge_service(self, body: Doc) -> tuple[int, list[str], list[str]]:
        """(service id, payment options, energy transfer modes) of a ServiceDiscoveryRes."""
        raise NotImplementedError

    @abc.abstractmethod
    def payment_selection_body(self) -> Doc:
        raise NotImplementedError

    @abc.abstractmethod
    def charge_parameter_body(self) -> Doc:
        raise NotImplementedError

    @abc.abstractmethod
    def charge_parameter_result(self, body: Doc) -> None:
        """Take the charger's limits (and, ISO-2, its schedule) from the Finished response."""
        raise NotImplementedError

    @abc.abstractmethod
    def power_delivery_body(self, start: bool) -> Doc:
        raise NotImplementedError

    @abc.abstractmethod
    def session_stop_body(self) -> Doc:
        raise NotImplementedError

    @property
    def transfer_mode(self) -> str:
        if self.config.energy == "AC":
            return self.config.ac_transfer_mode
        return self.config.dc_transfer_mode

    # -- the road -------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self.ctx.request("SessionSetupReq", {"EVCCID": self.config.evcc_id}, now)

    def handle(self, name: str, body: Doc, now: float) -> None:
        """One response, already checked to be the awaited one with a non-FAILED code."""
        if name == self.payment_selection.removesuffix("Req") + "Res":
            self.on_payment_selected(body, now)
        elif name == self.authorization.removesuffix("Req") + "Res":
            self.on_authorized(body, now)
        else:
            getattr(self, f"on_{name}")(body, now)

    def on_SessionSetupRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.ctx.request("ServiceDiscoveryReq", {}, now)

    def on_ServiceDiscoveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.service_id, payments, modes = self.charge_service(body)
        if "ExternalPayment" not in payments:
            self.ctx.finish(f"charger offers no external payment (EIM): {payments}", clean=False)
        elif self.transfer_mode not in modes:
            self.ctx.finish(f"charger offers {modes}, not {self.transfer_mode}", clean=False)
        else:
            self.ctx.request(self.payment_selection, self.payment_selection_body(), now)

    def on_payment_selected(self, body: Doc, now: float) -> None:
        self.ctx.phase("authorization", timing.ONGOING, now)
        self.ctx.request(self.authorization, {}, now)

    def on_authorized(self, body: Doc, now: float) -> None:
        if body.get("EVSEProcessing") == "Ongoing":
            self.ctx.request(self.authorization, {}, now, delay=self.config.loop_interval)
            return
        self.ctx.phase("charge parameters", timing.ONGOING, now)
        self.ctx.request("ChargeParameterDiscoveryReq", self.charge_parameter_body(), now)

    def on_ChargeParameterDiscoveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if body.get("EVSEProcessing") == "Ongoing":
            interval = self.config.loop_interval
            self.ctx.request(
                "ChargeParameterDiscoveryReq", self.charge_parameter_body(), now, delay=interval
            )
            return
        self.charge_parameter_result(body)
        self.ctx.progress("PowerReady")  # the EV asks for power: state C from here on
        if self.config.energy == "AC":
            self.ctx.clear_phase()
            self.ctx.request("PowerDeliveryReq", self.power_delivery_body(True), now)
        else:
            self.ctx.phase("cable check", timing.CABLE_CHECK, now)
            self.ctx.request("CableCheckReq", {"DC_EVStatus": self.dc_status()}, now)

    def on_CableCheckRes(self, body: Doc, now: float) -> None:  # noqa: N802
        isolation = body.get("DC_EVSEStatus", {}).get("EVSEIsolationStatus")
        if body.get("EVSEProcessing") == "Ongoing":
            delay = self.config.loop_interval
            self.ctx.request("CableCheckReq", {"DC_EVStatus": self.dc_status()}, now, delay=delay)
        elif isolation in ("Invalid", "Fault"):
            self.ctx.finish(f"cable check ended with isolation {isolation}", clean=False)
        else:
            self.ctx.phase("precharge", timing.PRECHARGE, now)
            self.ctx.request("PreChargeReq", self.precharge_body(), now)

    def on_PreChargeRes(self, body: Doc, now: float) -> None:  # noqa: N802
        # A car trusts its own inlet measurement where it has one, not the charger's word.
        reported = value_of(body.get("EVSEPresentVoltage")) or 0.0
        present = reported if self.ctx.inlet_voltage is None else self.ctx.inlet_voltage
        target = self.battery.target_voltage()
        if abs(present - target) <= self.config.precharge_tolerance:
            self.ctx.clear_phase()
            self.ctx.progress("DcPowerOn", voltage=present)
            self.ctx.request("PowerDeliveryReq", self.power_delivery_body(True), now)
        else:
            delay = self.config.loop_interval
            self.ctx.request("PreChargeReq", self.precharge_body(), now, delay=delay)

    def on_PowerDeliveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if not self.charging:
            self.charging = True
            self.ctx.progress("Charging")
            self.loop_request(now, delay=0.0)
        elif self.config.energy == "DC":
            self.ctx.request("WeldingDetectionReq", {"DC_EVStatus": self.dc_status()}, now)
        else:
            self.ctx.request("SessionStopReq", self.session_stop_body(), now)

    def loop_request(self, now: float, delay: float) -> None:
        if self.config.energy == "AC":
            self.ctx.request("ChargingStatusReq", {}, now, delay=delay)
        else:
            self.ctx.request("CurrentDemandReq", self.current_demand_body(), now, delay=delay)

    def on_CurrentDemandRes(self, body: Doc, now: float) -> None:  # noqa: N802
        voltage = value_of(body.get("EVSEPresentVoltage")) or 0.0
        current = value_of(body.get("EVSEPresentCurrent")) or 0.0
        self.ctx.count_energy(voltage, current, now)
        self.evse_max_current = value_of(body.get("EVSEMaximumCurrentLimit")) or (
            self.evse_max_current
        )
        self.evse_max_power = value_of(body.get("EVSEMaximumPowerLimit")) or self.evse_max_power
        self.ctx.progress("ChargeLoop", voltage=voltage, current=current)
        status = body.get("DC_EVSEStatus", {})
        self.next_loop(status.get("EVSEStatusCode") in SHUTDOWN_CODES, status, now)

    def on_ChargingStatusRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.evse_max_current = value_of(body.get("EVSEMaxCurrent")) or self.evse_max_current
        current = self.battery.ac_current(self.evse_max_current)
        self.ctx.count_energy(self.battery.ac_voltage * self.battery.ac_phases, current, now)
        self.ctx.progress("ChargeLoop", voltage=self.battery.ac_voltage, current=current)
        self.next_loop(False, body.get("AC_EVSEStatus", {}), now)

    def next_loop(self, shutdown: bool, status: Doc, now: float) -> None:
        asked_to_stop = status.get("EVSENotification") == "StopCharging"
        if shutdown or asked_to_stop:
            self.ctx.progress("StopFromCharger")
        if shutdown or asked_to_stop or self.battery.full or self.ctx.stop_requested:
            self.ctx.progress("Stopping")
            self.ctx.count_energy(0.0, 0.0, now)
            self.ctx.request("PowerDeliveryReq", self.power_delivery_body(False), now)
        else:
            self.loop_request(now, delay=self.config.loop_interval)

    def on_WeldingDetectionRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.welding_checks += 1
        present = value_of(body.get("EVSEPresentVoltage")) or 0.0
        if present < SAFE_VOLTAGE or self.welding_checks >= self.config.welding_checks:
            self.ctx.request("SessionStopReq", self.session_stop_body(), now)
        else:
            delay = self.config.loop_interval
            self.ctx.request(
                "WeldingDetectionReq", {"DC_EVStatus": self.dc_status()}, now, delay=delay
            )

    def on_SessionStopRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.ctx.finish("session stopped", clean=True)

    # -- bodies both protocols share ------------------------------------------------------
    def dc_status(self) -> Doc:
        return {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": self.battery.soc_percent}

    def dc_limits(self) -> Doc:
        """The pack's limits, in schema order, for ChargeParameterDiscovery."""
        return {
            "EVMaximumCurrentLimit": physical(self.battery.max_current, "A"),
            "EVMaximumPowerLimit": physical(self.battery.max_power, "W"),
            "EVMaximumVoltageLimit": physical(self.battery.max_voltage, "V"),
            "EVEnergyCapacity": physical(self.battery.capacity_wh, "Wh"),
            "EVEnergyRequest": physical(self.energy_request_wh(), "Wh"),
            "FullSOC": round(self.battery.target_soc * 100),
            "BulkSOC": round(self.battery.bulk_soc * 100),
        }

    def energy_request_wh(self) -> float:
        if self.config.energy_request_wh is not None:
            return self.config.energy_request_wh
        return max(0.0, (self.battery.target_soc - self.battery.soc) * self.battery.capacity_wh)

    def precharge_body(self) -> Doc:
        return {
            "DC_EVStatus": self.dc_status(),
            "EVTargetVoltage": physical(self.battery.target_voltage(), "V"),
            "EVTargetCurrent": physical(PRECHARGE_CURRENT, "A"),
        }

    def current_demand_body(self) -> Doc:
        battery = self.battery
        current = battery.target_current(self.evse_max_current, self.evse_max_power)
        complete = battery.full or self.ctx.stop_requested
        return {
            "DC_EVStatus": self.dc_status(),
            "EVTargetCurrent": physical(current, "A"),
            "EVMaximumVoltageLimit": physical(battery.max_voltage, "V"),
            "EVMaximumCurrentLimit": physical(battery.max_current, "A"),
            "EVMaximumPowerLimit": physical(battery.max_power, "W"),
            "BulkChargingComplete": battery.bulk_complete,
            "ChargingComplete": complete,
            "RemainingTimeToFullSoC": physical(
                battery.seconds_to(battery.target_soc, current), "s"
            ),
            "RemainingTimeToBulkSoC": physical(battery.seconds_to(battery.bulk_soc, current), "s"),
            "EVTargetVoltage": physical(battery.target_voltage(), "V"),
        }

    def dc_power_delivery_parameter(self, start: bool) -> Doc:
        return {
            "DC_EVStatus": self.dc_status(),
            "BulkChargingComplete": self.battery.bulk_complete,
            "ChargingComplete": not start,
        }
