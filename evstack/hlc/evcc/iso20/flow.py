"""ISO 15118-20 AC and DC from the EV's side: external identification (EIM), the scheduled
control mode, and AC_BPT and DC_BPT for a bidirectional EV.

SessionSetup, AuthorizationSetup, Authorization (repeated while Ongoing), ServiceDiscovery,
ServiceDetail for AC (service 1) or DC (service 2), ServiceSelection of a parameter set
in the control mode the EV prefers (or the other one, where the charger offers only that:
evstack.hlc.evcc.iso20.dynamic), AC_/DC_ChargeParameterDiscovery, ScheduleExchange
(repeated while Ongoing);
for DC then DC_CableCheck and DC_PreCharge until the charger meets the battery (then once
more with EVProcessing Finished); PowerDelivery(Start), the AC_/DC_ChargeLoop,
PowerDelivery(Stop), for DC DC_WeldingDetection; SessionStop. A bidirectional EV asked to
give energy back (EvccSession.discharge) sends PowerDelivery(Start) with BPT_ChannelSelection
Discharge and a negative power profile, then asks for negative current (DC) or reports
negative active power (AC) in its loop. In the dynamic control mode the charger decides
the power and its direction: the EV states its energy requests and limits in each loop,
switches no channel, and counts what flows either way.

Every message carries its header (session id and a Unix time stamp) inside its root; common
messages travel as 0x8002, AC ones as 0x8003, DC ones as 0x8004.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from evstack.hlc.evcc import codec, timing
from evstack.hlc.evcc.codec import Doc
from evstack.hlc.evcc.iso20 import dynamic
from evstack.hlc.evcc.iso20.dynamic import rational
from evstack.hlc.evcc.protocol import Context, ProtocolFlow

AC_SERVICE, DC_SERVICE, AC_BPT_SERVICE, DC_BPT_SERVICE = 1, 2, 5, 6  # ISO 15118-20 services
DC_MESSAGES = frozenset(
    {
        "DC_ChargeParameterDiscoveryReq",
        "DC_CableCheckReq",
        "DC_PreChargeReq",
        "DC_ChargeLoopReq",
        "DC_WeldingDetectionReq",
    }
)
AC_MESSAGES = frozenset({"AC_ChargeParameterDiscoveryReq", "AC_ChargeLoopReq"})
SAFE_VOLTAGE = 60.0  # below this the inlet counts as dead for welding detection


def number(value: Doc | None) -> float | None:
    if value is None:
        return None
    return float(value["Value"]) * 10.0 ** int(value["Exponent"])


def three_phase(values: Doc, name: str) -> float | None:
    """An AC power over all phases: `name` for L1 (or all), plus `name`_L2 and _L3 if given."""
    parts = [number(values.get(key)) for key in (name, f"{name}_L2", f"{name}_L3")]
    present = [part for part in parts if part is not None]
    return sum(present) if present else None


class Iso20Flow(ProtocolFlow):
    schema = "iso20"
    timeouts = timing.ISO20_MESSAGE

    def __init__(self, ctx: Context, wall_clock: Callable[[], float] = time.time):
        super().__init__(ctx)
        self.wall_clock = wall_clock  # for the headers' Unix time stamps only
        self.selected = dynamic.Selected(1, dynamic.SCHEDULED, 1)
        self.schedule_id: int | None = None
        self.charging = False
        self.precharged = False
        self.welding_checks = 0
        self.discharging = False  # DC_BPT: the channel in force
        self.switching = False  # a PowerDelivery(Start) that changes the channel is out
        self.evse_max_discharge_current: float | None = None
        self.evse_max_discharge_power: float | None = None

    # -- framing --------------------------------------------------------------------------
    @property
    def first_session_id(self) -> str:
        return "0000000000000000"

    @property
    def ac(self) -> bool:
        return self.config.energy == "AC"

    @property
    def bpt(self) -> bool:
        return self.config.bidirectional

    @property
    def service(self) -> int:
        if self.ac:
            return AC_BPT_SERVICE if self.bpt else AC_SERVICE
        return DC_BPT_SERVICE if self.bpt else DC_SERVICE

    def request_schema(self, name: str) -> str:
        if name in AC_MESSAGES:
            return "iso20_ac"
        return "iso20_dc" if name in DC_MESSAGES else "iso20"

    def schema_for(self, payload_type: int) -> str | None:
        for schema in ("iso20", "iso20_ac", "iso20_dc"):
            if payload_type == codec.payload_type(schema):
                return schema
        return None

    def wrap(self, name: str, body: Doc, session_id: str) -> Doc:
        header = {"SessionID": session_id, "TimeStamp": int(self.wall_clock())}
        return {name: {"Header": header, **body}}

    def unwrap(self, document: Doc) -> tuple[str, Doc, str]:
        ((name, content),) = document.items()
        body = {key: value for key, value in content.items() if key != "Header"}
        return name, body, str(content["Header"]["SessionID"])

    # -- the road -------------------------------------------------------------------------
    def start(self, now: float) -> None:
        self.ctx.request("SessionSetupReq", {"EVCCID": self.config.evcc_id}, now)

    def handle(self, name: str, body: Doc, now: float) -> None:
        getattr(self, f"on_{name}")(body, now)

    def on_SessionSetupRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.ctx.request("AuthorizationSetupReq", {}, now)

    def on_AuthorizationSetupRes(self, body: Doc, now: float) -> None:  # noqa: N802
        services = body.get("AuthorizationServices", [])
        if "EIM" not in services:
            self.ctx.finish(f"charger offers no EIM authorisation: {services}", clean=False)
            return
        self.ctx.phase("authorization", timing.ONGOING, now)
        self.authorize(now)

    def authorize(self, now: float, delay: float = 0.0) -> None:
        body = {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}}
        self.ctx.request("AuthorizationReq", body, now, delay=delay)

    def on_AuthorizationRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if body.get("EVSEProcessing") == "Ongoing":
            self.authorize(now, delay=self.config.loop_interval)
            return
        self.ctx.clear_phase()
        self.ctx.request("ServiceDiscoveryReq", {}, now)

    def on_ServiceDiscoveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        services = body.get("EnergyTransferServiceList", {}).get("Service", [])
        ids = [int(service["ServiceID"]) for service in services]
        if self.service not in ids:
            self.ctx.finish(f"charger offers no {self.config.energy} service: {ids}", clean=False)
            return
        self.ctx.request("ServiceDetailReq", {"ServiceID": self.service}, now)

    @property
    def dynamic(self) -> bool:
        return self.selected.dynamic

    def on_ServiceDetailRes(self, body: Doc, now: float) -> None:  # noqa: N802
        sets = body.get("ServiceParameterList", {}).get("ParameterSet", [])
        selected = dynamic.select(sets, self.config.control_mode)
        if selected is None:
            energy = self.config.energy
            self.ctx.finish(f"charger offers no {energy} parameter set to run", clean=False)
            return
        self.selected = selected
        chosen = {"ServiceID": self.service, "ParameterSetID": selected.parameter_set}
        self.ctx.request("ServiceSelectionReq", {"SelectedEnergyTransferService": chosen}, now)

    def on_ServiceSelectionRes(self, body: Doc, now: float) -> None:  # noqa: N802
        battery = self.battery
        if self.ac:
            ac = {
                "EVMaximumChargePower": rational(self.ac_power(battery.ac_max_current)),
                "EVMinimumChargePower": rational(self.ac_power(battery.ac_min_current)),
            }
            if self.bpt:
                ac["EVMaximumDischargePower"] = rational(battery.max_discharge_power)
                ac["EVMinimumDischargePower"] = rational(0)
            key = "BPT_AC_CPDReqEnergyTransferMode" if self.bpt else "AC_CPDReqEnergyTransferMode"
            self.ctx.request("AC_ChargeParameterDiscoveryReq", {key: ac}, now)
            return
        mode = {
            "EVMaximumChargePower": rational(battery.max_power),
            "EVMinimumChargePower": rational(0),
            "EVMaximumChargeCurrent": rational(battery.max_current),
            "EVMinimumChargeCurrent": rational(0),
            "EVMaximumVoltage": rational(battery.max_voltage),
            "EVMinimumVoltage": rational(battery.ocv_curve[0][1]),
            "TargetSOC": round(battery.target_soc * 100),
        }
        if self.bpt:
            mode |= {
                "EVMaximumDischargePower": rational(battery.max_discharge_power),
                "EVMinimumDischargePower": rational(0),
                "EVMaximumDischargeCurrent": rational(battery.max_discharge_current),
                "EVMinimumDischargeCurrent": rational(0),
            }
        key = "BPT_DC_CPDReqEnergyTransferMode" if self.bpt else "DC_CPDReqEnergyTransferMode"
        self.ctx.request("DC_ChargeParameterDiscoveryReq", {key: mode}, now)

    def ac_power(self, current: float) -> float:
        return current * self.battery.ac_voltage * self.battery.ac_phases

    def on_AC_ChargeParameterDiscoveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        mode = body.get("BPT_AC_CPDResEnergyTransferMode") or body.get(
            "AC_CPDResEnergyTransferMode", {}
        )
        self.evse_max_power = three_phase(mode, "EVSEMaximumChargePower")
        self.evse_max_discharge_power = three_phase(mode, "EVSEMaximumDischargePower")
        self.ctx.phase("schedule exchange", timing.ONGOING, now)
        self.exchange_schedule(now)

    def on_DC_ChargeParameterDiscoveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        mode = body.get("BPT_DC_CPDResEnergyTransferMode") or body.get(
            "DC_CPDResEnergyTransferMode", {}
        )
        self.evse_max_current = number(mode.get("EVSEMaximumChargeCurrent"))
        self.evse_max_power = number(mode.get("EVSEMaximumChargePower"))
        self.evse_max_voltage = number(mode.get("EVSEMaximumVoltage"))
        self.evse_max_discharge_current = number(mode.get("EVSEMaximumDischargeCurrent"))
        self.evse_max_discharge_power = number(mode.get("EVSEMaximumDischargePower"))
        self.ctx.phase("schedule exchange", timing.ONGOING, now)
        self.exchange_schedule(now)

    def exchange_schedule(self, now: float, delay: float = 0.0) -> None:
        body: Doc = {"MaximumSupportingPoints": 1024}
        if self.dynamic:
            departure = self.config.departure_time
            mode = dynamic.schedule_request(self.battery, self.bpt, departure)
            body["Dynamic_SEReqControlMode"] = mode
            self.ctx.request("ScheduleExchangeReq", body, now, delay=delay)
            return
        need = max(0.0, (self.battery.target_soc - self.battery.soc) * self.battery.capacity_wh)
        if self.config.energy_request_wh is not None:
            need = self.config.energy_request_wh
        mode = {}
        if self.config.departure_time is not None:
            mode["DepartureTime"] = self.config.departure_time
        mode["EVTargetEnergyRequest"] = rational(need)
        mode["EVMaximumEnergyRequest"] = rational(need)
        mode["EVMinimumEnergyRequest"] = rational(0)
        body["Scheduled_SEReqControlMode"] = mode
        self.ctx.request("ScheduleExchangeReq", body, now, delay=delay)

    def on_ScheduleExchangeRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if body.get("EVSEProcessing") == "Ongoing":
            self.exchange_schedule(now, delay=self.config.loop_interval)
            return
        if self.dynamic:
            mode = body.get("Dynamic_SEResControlMode")
            if mode is None:
                self.ctx.finish("charger answered no Dynamic_SEResControlMode", clean=False)
                return
            if self.selected.mobility_needs == 2:
                dynamic.follow_needs(self.battery, mode)
        else:
            tuples = body.get("Scheduled_SEResControlMode", {}).get("ScheduleTuple", [])
            if not tuples:
                reason = "charger sent no schedule in the scheduled control mode"
                self.ctx.finish(reason, clean=False)
                return
            self.schedule_id = int(tuples[0]["ScheduleTupleID"])
        self.ctx.progress("PowerReady")
        if self.ac:
            self.ctx.clear_phase()
            self.ctx.request("PowerDeliveryReq", self.power_delivery(True), now)
            return
        self.ctx.phase("cable check", timing.CABLE_CHECK, now)
        self.ctx.request("DC_CableCheckReq", {}, now)

    def on_DC_CableCheckRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if body.get("EVSEProcessing") == "Ongoing":
            self.ctx.request("DC_CableCheckReq", {}, now, delay=self.config.loop_interval)
            return
        self.ctx.phase("precharge", timing.ISO20_PRECHARGE, now)
        self.precharge(now, "Ongoing")

    def precharge(self, now: float, processing: str, delay: float = 0.0) -> None:
        body = {
            "EVProcessing": processing,
            "EVPresentVoltage": rational(self.battery.ocv()),
            "EVTargetVoltage": rational(self.battery.target_voltage()),
        }
        self.ctx.request("DC_PreChargeReq", body, now, delay=delay)

    def on_DC_PreChargeRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if self.precharged:
            self.ctx.request("PowerDeliveryReq", self.power_delivery(True), now)
            return
        # A car trusts its own inlet measurement where it has one, not the charger's word.
        reported = number(body.get("EVSEPresentVoltage")) or 0.0
        present = reported if self.ctx.inlet_voltage is None else self.ctx.inlet_voltage
        if abs(present - self.battery.target_voltage()) <= self.config.precharge_tolerance:
            self.precharged = True
            self.ctx.clear_phase()
            self.ctx.progress("DcPowerOn", voltage=present)
            self.precharge(now, "Finished")
        else:
            self.precharge(now, "Ongoing", delay=self.config.loop_interval)

    def power_delivery(self, start: bool) -> Doc:
        if not start:
            return {"EVProcessing": "Finished", "ChargeProgress": "Stop"}
        # With EVProcessing Finished and Start the EV states its power profile: here the
        # whole energy request at its target power, under the schedule the charger sent.
        own = self.ac_power(self.battery.ac_max_current) if self.ac else self.battery.max_power
        power = min(own, self.evse_max_power or own)
        need_wh = max(0.0, (self.battery.target_soc - self.battery.soc) * self.battery.capacity_wh)
        if self.discharging:
            back = self.battery.max_discharge_power
            if self.evse_max_discharge_power is not None:
                back = min(back, self.evse_max_discharge_power)
            power = -back
            need_wh = max(0.0, (self.battery.soc - self.battery.min_soc) * self.battery.capacity_wh)
        duration = max(1, min(86_400, int(need_wh * 3600 / abs(power)))) if power else 86_400
        entry = {"Duration": duration, "Power": rational(power)}
        # PowerToleranceAcceptance is optional in the XSD, but the `iso15118` package's SECC
        # refuses a profile without it (its pydantic model makes it required).
        profile: Doc = {"TimeAnchor": int(self.wall_clock())}
        if self.dynamic:
            profile["Dynamic_EVPPTControlMode"] = {}
        else:
            profile["Scheduled_EVPPTControlMode"] = {
                "SelectedScheduleTupleID": self.schedule_id or 1,
                "PowerToleranceAcceptance": "PowerToleranceConfirmed",
            }
        profile["EVPowerProfileEntries"] = {"EVPowerProfileEntry": [entry]}
        body = {"EVProcessing": "Finished", "ChargeProgress": "Start", "EVPowerProfile": profile}
        if self.bpt:
            body["BPT_ChannelSelection"] = "Discharge" if self.discharging else "Charge"
        return body

    def on_PowerDeliveryRes(self, body: Doc, now: float) -> None:  # noqa: N802
        if self.switching:
            self.switching = False
            self.ctx.progress("Discharging" if self.discharging else "Charging")
            if self.ac:
                self.ctx.request("AC_ChargeLoopReq", self.ac_charge_loop(), now)
            else:
                self.ctx.request("DC_ChargeLoopReq", self.charge_loop(), now)
        elif not self.charging:
            self.charging = True
            self.ctx.progress("Charging")
            if self.ac:
                self.ctx.request("AC_ChargeLoopReq", self.ac_charge_loop(), now)
            else:
                self.ctx.request("DC_ChargeLoopReq", self.charge_loop(), now)
        elif self.ac:
            self.ctx.request("SessionStopReq", self.session_stop_body(), now)
        else:
            self.ctx.request("DC_WeldingDetectionReq", {"EVProcessing": "Ongoing"}, now)

    def display(self) -> Doc:
        battery = self.battery
        return {
            "PresentSOC": battery.soc_percent,
            "TargetSOC": round(battery.target_soc * 100),
            "ChargingComplete": battery.full or self.ctx.stop_requested,
        }

    def ac_draw(self) -> float:
        """The active power the on-board charger draws now (negative: gives back): its own
        limit (the cells' as well) and the charger's target or maximum, whichever is lowest."""
        battery = self.battery
        if self.discharging:
            if battery.soc <= battery.min_soc:
                return 0.0
            back = battery.max_discharge_power
            if self.evse_max_discharge_power is not None:
                back = min(back, self.evse_max_discharge_power)
            return -back
        own = self.ac_power(battery.ac_current())
        return min(own, self.evse_max_power) if self.evse_max_power is not None else own

    def ac_charge_loop(self) -> Doc:
        loop: Doc = {"DisplayParameters": self.display(), "MeterInfoRequested": False}
        if self.dynamic:
            own = self.ac_power(self.battery.ac_current())
            control = dynamic.ac_loop(
                self.battery, self.config.departure_time, own, self.ac_draw(), self.bpt
            )
            loop[
                "BPT_Dynamic_AC_CLReqControlMode" if self.bpt else "Dynamic_AC_CLReqControlMode"
            ] = control
            return loop
        control = {"EVPresentActivePower": rational(self.ac_draw())}
        if self.bpt:
            control["EVMaximumDischargePower"] = rational(self.battery.max_discharge_power)
        key = "BPT_Scheduled_AC_CLReqControlMode" if self.bpt else "Scheduled_AC_CLReqControlMode"
        return loop | {key: control}

    def control_mode_res(self, body: Doc, energy: str) -> Doc:
        """The charger's part of a charge loop response, in whichever form it came."""
        for key in (f"BPT_{{}}_{energy}_CLResControlMode", f"{{}}_{energy}_CLResControlMode"):
            for mode in ("Dynamic", "Scheduled"):
                if key.format(mode) in body:
                    part: Doc = body[key.format(mode)]
                    if mode == "Dynamic" and self.selected.mobility_needs == 2:
                        dynamic.follow_needs(self.battery, part)
                    return part
        return {}

    def on_AC_ChargeLoopRes(self, body: Doc, now: float) -> None:  # noqa: N802
        control = self.control_mode_res(body, "AC")
        target = three_phase(control, "EVSETargetActivePower")
        if self.dynamic and target is not None:
            # The charger's word decides the direction too.
            self.discharging = target < 0
            if self.discharging:
                self.evse_max_discharge_power = -target
        if target is not None and not self.discharging:
            self.evse_max_power = target
        power = self.ac_draw()
        grid = self.battery.ac_voltage * self.battery.ac_phases
        self.ctx.count_energy(grid, power / grid, now)
        self.ctx.progress("ChargeLoop", voltage=self.battery.ac_voltage, current=power / grid)
        self.end_or_loop(body, now, "AC_ChargeLoopReq", self.ac_charge_loop)

    def charge_loop(self) -> Doc:
        battery = self.battery
        loop: Doc = {
            "DisplayParameters": self.display(),
            "MeterInfoRequested": False,
            "EVPresentVoltage": rational(battery.ocv()),
        }
        if self.dynamic:
            key, control = dynamic.dc_loop(battery, self.bpt, self.config.departure_time)
            return loop | {key: control}
        current = battery.target_current(self.evse_max_current, self.evse_max_power)
        if self.discharging:
            back = battery.discharge_current(
                self.evse_max_discharge_current, self.evse_max_discharge_power
            )
            current = -back
        control = {
            "EVTargetCurrent": rational(current),
            "EVTargetVoltage": rational(battery.target_voltage()),
            "EVMaximumChargePower": rational(battery.max_power),
            "EVMaximumChargeCurrent": rational(battery.max_current),
            "EVMaximumVoltage": rational(battery.max_voltage),
        }
        if self.bpt:
            control |= {
                "EVMaximumDischargePower": rational(battery.max_discharge_power),
                "EVMaximumDischargeCurrent": rational(battery.max_discharge_current),
            }
        key = "BPT_Scheduled_DC_CLReqControlMode" if self.bpt else "Scheduled_DC_CLReqControlMode"
        return loop | {key: control}

    def on_DC_ChargeLoopRes(self, body: Doc, now: float) -> None:  # noqa: N802
        voltage = number(body.get("EVSEPresentVoltage")) or 0.0
        current = number(body.get("EVSEPresentCurrent")) or 0.0
        self.ctx.count_energy(voltage, current, now)
        limits = self.control_mode_res(body, "DC")
        if self.dynamic:
            self.discharging = current < 0  # the charger's choice, not a channel
        self.evse_max_current = number(limits.get("EVSEMaximumChargeCurrent")) or (
            self.evse_max_current
        )
        self.evse_max_power = number(limits.get("EVSEMaximumChargePower")) or self.evse_max_power
        self.evse_max_discharge_current = number(limits.get("EVSEMaximumDischargeCurrent")) or (
            self.evse_max_discharge_current
        )
        self.ctx.progress("ChargeLoop", voltage=voltage, current=current)
        self.end_or_loop(body, now, "DC_ChargeLoopReq", self.charge_loop)

    def end_or_loop(self, body: Doc, now: float, loop: str, request: Callable[[], Doc]) -> None:
        asked_to_stop = body.get("EVSEStatus", {}).get("EVSENotification") == "Terminate"
        if asked_to_stop:
            self.ctx.progress("StopFromCharger")
        empty = self.discharging and self.battery.soc <= self.battery.min_soc
        full = self.battery.full and not self.discharging
        if asked_to_stop or full or empty or self.ctx.stop_requested:
            self.ctx.progress("Stopping")
            self.ctx.count_energy(0.0, 0.0, now)
            self.ctx.request("PowerDeliveryReq", self.power_delivery(False), now)
        elif self.bpt and not self.dynamic and self.ctx.discharge_requested != self.discharging:
            # The other direction: a new PowerDelivery(Start) on the other channel.
            self.discharging = self.ctx.discharge_requested
            self.switching = True
            self.ctx.count_energy(0.0, 0.0, now)
            self.ctx.request("PowerDeliveryReq", self.power_delivery(True), now)
        else:
            self.ctx.request(loop, request(), now, delay=self.config.loop_interval)

    def on_DC_WeldingDetectionRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.welding_checks += 1
        present = number(body.get("EVSEPresentVoltage")) or 0.0
        if present < SAFE_VOLTAGE or self.welding_checks >= self.config.welding_checks:
            self.ctx.request("SessionStopReq", self.session_stop_body(), now)
        else:
            delay = self.config.loop_interval
            body = {"EVProcessing": "Ongoing"}
            self.ctx.request("DC_WeldingDetectionReq", body, now, delay=delay)

    def session_stop_body(self) -> Doc:
        return {"ChargingSession": "Pause" if self.ctx.pause_requested else "Terminate"}

    def on_SessionStopRes(self, body: Doc, now: float) -> None:  # noqa: N802
        self.ctx.finish("session stopped", clean=True)
