"""DIN 70121 from the EV's side: DC only, ExternalPayment, ServicePaymentSelection and
ContractAuthentication; no schedules."""

from __future__ import annotations

from evstack.hlc.evcc import timing
from evstack.hlc.evcc.codec import Doc, value_of
from evstack.hlc.evcc.flow import Flow


class DinFlow(Flow):
    schema = "din"
    timeouts = timing.DIN_MESSAGE
    payment_selection = "ServicePaymentSelectionReq"
    authorization = "ContractAuthenticationReq"

    def charge_service(self, body: Doc) -> tuple[int, list[str], list[str]]:
        service = body["ChargeService"]
        payments = list(body["PaymentOptions"]["PaymentOption"])
        return int(service["ServiceTag"]["ServiceID"]), payments, [service["EnergyTransferType"]]

    def payment_selection_body(self) -> Doc:
        return {
            "SelectedPaymentOption": "ExternalPayment",
            "SelectedServiceList": {"SelectedService": [{"ServiceID": self.service_id}]},
        }

    def charge_parameter_body(self) -> Doc:
        return {
            "EVRequestedEnergyTransferType": self.transfer_mode,
            "DC_EVChargeParameter": {"DC_EVStatus": self.dc_status(), **self.dc_limits()},
        }

    def charge_parameter_result(self, body: Doc) -> None:
        evse = body.get("DC_EVSEChargeParameter", {})
        self.evse_max_current = value_of(evse.get("EVSEMaximumCurrentLimit"))
        self.evse_max_power = value_of(evse.get("EVSEMaximumPowerLimit"))
        self.evse_max_voltage = value_of(evse.get("EVSEMaximumVoltageLimit"))

    def power_delivery_body(self, start: bool) -> Doc:
        return {
            "ReadyToChargeState": start,
            "DC_EVPowerDeliveryParameter": self.dc_power_delivery_parameter(start),
        }

    def session_stop_body(self) -> Doc:
        return {}
