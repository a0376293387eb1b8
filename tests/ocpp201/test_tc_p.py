"""Part 6, P (DataTransfer) and customData, against the running station."""

# ruff: noqa: N802 - the tests are named by the OCA's case ids (test_TC_N_25_CS)

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v201 import call

from .csms import Csms

pytestmark = pytest.mark.timeout(60)

OCTT = "org.openchargealliance.octt"


async def test_TC_P_01_CS(csms: Csms, charger: Any) -> None:
    """A DataTransfer of a vendor the station has no extension for: UnknownVendorId."""
    async with charger(csms):
        await csms.expect("StatusNotification")
        answer = await csms.call(call.DataTransfer(vendor_id=OCTT, message_id="TestMessage"))
        assert answer.status == "UnknownVendorId"  # P01.FR.05
        answer = await csms.call(call.DataTransfer(vendor_id=OCTT, data={"any": ["json", 1]}))
        assert answer.status == "UnknownVendorId"


async def test_TC_P_03_CS(csms: Csms, charger: Any) -> None:
    """customData in a request (on the payload and inside its objects) is taken as any other
    property: SetVariables OfflineThreshold 200 is Accepted and reads back 200."""
    custom = {"vendorId": OCTT, "note": "customData must not upset the station", "n": 1}
    variable = {
        "component": {"name": "OCPPCommCtrlr", "customData": custom},
        "variable": {"name": "OfflineThreshold", "customData": custom},
        "attributeType": "Actual",
        "attributeValue": "200",
        "customData": custom,
    }
    async with charger(csms):
        await csms.expect("StatusNotification")
        result = await csms.call(
            call.SetVariables(set_variable_data=[variable], custom_data=custom)
        )
        assert result.set_variable_result[0]["attribute_status"] == "Accepted"
        read = await csms.call(
            call.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "OfflineThreshold"},
                        "attributeType": "Actual",
                        "customData": custom,
                    }
                ],
                custom_data=custom,
            )
        )
        (value,) = read.get_variable_result
        assert value["attribute_status"] == "Accepted"
        assert value.get("attribute_type", "Actual") == "Actual"
        assert value["attribute_value"] == "200"
