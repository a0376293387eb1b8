"""ISO 15118-2 from the EV's side, AC and DC, with external identification (EIM):
PaymentServiceSelection(ExternalPayment), Authorization while Ongoing, and the first
SAScheduleTuple the charger offers (no own charging profile: the charger's schedule rules)."""

from __future__ import annotations

from evstack.hlc.evcc.codec import Doc, physical, value_of
from evstack.hlc.evcc.flow import Flow


class Iso2Flow(Flow):
    schema = "iso2"
    payment_selection = "PaymentServiceSelectionReq"
    authorization = "AuthorizationReq"

    schedule_id = 1

    def charge_service(self, body: Doc) -> tuple[int, list[str], list[str]]:
        service = body["ChargeService"]
        payments = list(body["PaymentOptionList"]["PaymentOption"])
        modes = list(service["SupportedEnergyTransferMode"]["EnergyTransferMode"])
        return int(service["ServiceID"]), payments, modes

    def payment_selection_body(self) -> Doc:
        return {
            "SelectedPaymentOption": "ExternalPayment",
            "SelectedServiceList": {"SelectedService": [{"ServiceID": self.service_id}]},
        }

    def charge_parameter_body(self) -> Doc:
        departure = self.config.departure_time
        timing: Doc = {} if departure is None else {"DepartureTime": departure}
        if self.config.energy == "AC":
            battery = self.battery
            parameter: Doc = {
                **timing,
                "EAmount": physical(self.energy_request_wh(), "Wh"),
                "EVMaxVoltage": physical(battery.ac_voltage, "V"),
                "EVMaxCurrent": physical(battery.ac_max_current, "A"),
                "EVMinCurrent": physical(battery.ac_min_current, "A"),
            }
            return {
                "RequestedEnergyTransferMode": self.transfer_mode,
                "AC_EVChargeParameter": parameter,
            }
        parameter = {**timing, "DC_EVStatus": self.dc_status(), **self.dc_limits()}
        return {
            "RequestedEnergyTransferMode": self.transfer_mode,
            "DC_EVChargeParameter": parameter,
        }

    def charge_parameter_result(self, body: Doc) -> None:
        tuples = body.get("SAScheduleList", {}).get("SAScheduleTuple", [])
        if tuples:
            self.schedule_id = int(tuples[0]["SAScheduleTupleID"])
        if self.config.energy == "AC":
            evse = body.get("AC_EVSEChargeParameter", {})
            self.evse_max_current = value_of(evse.get("EVSEMaxCurrent"))
            return
        evse = body.get("DC_EVSEChargeParameter", {})
        self.evse_max_current = value_of(evse.get("EVSEMaximumCurrentLimit"))
        self.evse_max_power = value_of(evse.get("EVSEMaximumPowerLimit"))
        self.evse_max_voltage = value_of(evse.get("EVSEMaximumVoltageLimit"))

    def power_delivery_body(self, start: bool) -> Doc:
        body: Doc = {
            "ChargeProgress": "Start" if start else "Stop",
            "SAScheduleTupleID": self.schedule_id,
        }
        if self.config.energy == "DC":
            body["DC_EVPowerDeliveryParameter"] = self.dc_power_delivery_parameter(start)
        return body

    def session_stop_body(self) -> Doc:
        return {"ChargingSession": "Pause" if self.ctx.pause_requested else "Terminate"}
