"""B05-B07: GetVariables, SetVariables, GetBaseReport (Part 6, TC_B_06 to TC_B_15, TC_B_53)."""

# ruff: noqa: N802 - tests are named after their OCA test case (test_TC_B_01_CS)
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.v201 import call

from .conftest import StartCharger
from .csms import Csms
from .harness import booted, configure, report, set_variables, trigger_heartbeat, variable

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(60)]

LISTS = ("OptionList", "SequenceList", "MemberList")


@pytest.fixture
async def accepted(csms: Csms, charger: StartCharger) -> AsyncIterator[Csms]:
    """The general precondition: the station booted and Accepted."""
    async with charger(csms):
        await booted(csms, evses=1)
        yield csms


async def get_variables(csms: Csms, *items: dict[str, Any]) -> list[dict[str, Any]]:
    response = await csms.call(call.GetVariables(get_variable_data=list(items)))
    results: list[dict[str, Any]] = response.get_variable_result
    return results


def named(result: dict[str, Any]) -> tuple[str, str]:
    return result["component"]["name"], result["variable"]["name"]


async def test_TC_B_06_CS(accepted: Csms) -> None:
    csms = accepted
    await configure(csms, ("OCPPCommCtrlr", "OfflineThreshold", "300"))
    (result,) = await get_variables(
        csms, variable("OCPPCommCtrlr", "OfflineThreshold", attribute="Actual")
    )
    assert result["attribute_status"] == "Accepted"
    assert (result["attribute_type"], result["attribute_value"]) == ("Actual", "300")
    assert named(result) == ("OCPPCommCtrlr", "OfflineThreshold")
    assert "attribute_status_info" not in result


async def test_TC_B_07_CS(accepted: Csms) -> None:
    csms = accepted
    await configure(
        csms,
        ("OCPPCommCtrlr", "OfflineThreshold", "300"),
        ("AuthCtrlr", "LocalAuthorizeOffline", "true"),
    )
    results = await get_variables(
        csms,
        variable("OCPPCommCtrlr", "OfflineThreshold", attribute="Actual"),
        variable("AuthCtrlr", "LocalAuthorizeOffline", attribute="Actual"),
    )
    values = {named(r): (r["attribute_status"], r["attribute_value"]) for r in results}
    assert values == {
        ("OCPPCommCtrlr", "OfflineThreshold"): ("Accepted", "300"),
        ("AuthCtrlr", "LocalAuthorizeOffline"): ("Accepted", "true"),
    }


async def test_TC_B_32_CS(accepted: Csms) -> None:
    (result,) = await get_variables(accepted, variable("UnknownComponent", "OfflineThreshold"))
    assert result["attribute_status"] == "UnknownComponent"
    assert named(result) == ("UnknownComponent", "OfflineThreshold")


async def test_TC_B_33_CS(accepted: Csms) -> None:
    (result,) = await get_variables(accepted, variable("OCPPCommCtrlr", "UnknownVariable"))
    assert result["attribute_status"] == "UnknownVariable"
    assert named(result) == ("OCPPCommCtrlr", "UnknownVariable")


async def test_TC_B_34_CS(accepted: Csms) -> None:
    (result,) = await get_variables(
        accepted, variable("OCPPCommCtrlr", "OfflineThreshold", attribute="Target")
    )
    assert (result["attribute_status"], result["attribute_type"]) == (
        "NotSupportedAttributeType",
        "Target",
    )


async def test_TC_B_08_CS(accepted: Csms) -> None:
    """One variable more than ItemsPerMessage[GetVariables]: the last is Rejected."""
    csms = accepted
    response = await csms.call(call.GetBaseReport(request_id=8, report_base="FullInventory"))
    assert response.status == "Accepted"
    readable = [
        item
        for item in await report(csms, 8)
        if item["variableAttribute"][0].get("mutability") != "WriteOnly"
    ]
    (limit,) = await get_variables(
        csms, variable("DeviceDataCtrlr", "ItemsPerMessage", instance="GetVariables")
    )
    most = int(limit["attribute_value"])
    assert len(readable) > most, "the station needs more variables than ItemsPerMessage"
    asked = [
        {"component": _snake(item["component"]), "variable": _snake(item["variable"])}
        for item in readable[: most + 1]
    ]
    results = await get_variables(csms, *asked)
    assert [r["attribute_status"] for r in results] == ["Accepted"] * most + ["Rejected"]
    assert results[-1]["attribute_status_info"]["reason_code"] == "TooManyElements"


def _snake(wire: dict[str, Any]) -> dict[str, Any]:
    """A reported component or variable as the ocpp package's requests take it."""
    out = {key: value for key, value in wire.items() if key != "evse"}
    if "evse" in wire:
        evse = wire["evse"]
        out["evse"] = {"id": evse["id"]}
        if "connectorId" in evse:
            out["evse"]["connector_id"] = evse["connectorId"]
    return out


async def test_TC_B_09_CS(accepted: Csms) -> None:
    (result,) = await set_variables(
        accepted, variable("OCPPCommCtrlr", "OfflineThreshold", "300", attribute="Actual")
    )
    assert (result["attribute_status"], result["attribute_type"]) == ("Accepted", "Actual")
    assert named(result) == ("OCPPCommCtrlr", "OfflineThreshold")
    assert "attribute_status_info" not in result


async def test_TC_B_10_CS(accepted: Csms) -> None:
    results = await set_variables(
        accepted,
        variable("OCPPCommCtrlr", "OfflineThreshold", "300", attribute="Actual"),
        variable("AuthCtrlr", "LocalAuthorizeOffline", "true", attribute="Actual"),
    )
    assert {named(r): r["attribute_status"] for r in results} == {
        ("OCPPCommCtrlr", "OfflineThreshold"): "Accepted",
        ("AuthCtrlr", "LocalAuthorizeOffline"): "Accepted",
    }


async def test_TC_B_35_CS(accepted: Csms) -> None:
    (result,) = await set_variables(accepted, variable("UnknownComponent", "OfflineThreshold", "1"))
    assert result["attribute_status"] == "UnknownComponent"
    assert named(result) == ("UnknownComponent", "OfflineThreshold")


async def test_TC_B_36_CS(accepted: Csms) -> None:
    (result,) = await set_variables(accepted, variable("OCPPCommCtrlr", "UnknownVariable", "1"))
    assert result["attribute_status"] == "UnknownVariable"
    assert named(result) == ("OCPPCommCtrlr", "UnknownVariable")


async def test_TC_B_37_CS(accepted: Csms) -> None:
    (result,) = await set_variables(
        accepted, variable("OCPPCommCtrlr", "OfflineThreshold", "300", attribute="Target")
    )
    assert (result["attribute_status"], result["attribute_type"]) == (
        "NotSupportedAttributeType",
        "Target",
    )


async def test_TC_B_11_CS(accepted: Csms) -> None:
    """Values of the wrong format are Rejected (InvalidValue), fitting ones Accepted; the
    SmartChargingCtrlr step is left out, as Part 6 does for a component not supported."""
    csms = accepted
    moment = "2027-03-28T01:00:00.000Z"
    fits = {
        ("OCPPCommCtrlr", "OfflineThreshold"): {"1"},
        ("AuthCtrlr", "AuthorizeRemoteStart"): {"true"},
        ("ClockCtrlr", "NextTimeOffsetTransitionDateTime"): {moment},
    }
    for value in ("1", "1.1", "true", moment, "abc"):
        for (component, name), good in fits.items():
            (result,) = await set_variables(csms, variable(component, name, value))
            if value in good:
                assert result["attribute_status"] == "Accepted", (name, value, result)
            else:
                assert result["attribute_status"] == "Rejected", (name, value, result)
                assert result["attribute_status_info"]["reason_code"] == "InvalidValue"


async def test_TC_B_39_CS(accepted: Csms) -> None:
    (result,) = await set_variables(
        accepted, variable("OCPPCommCtrlr", "MessageTimeout", "30", instance="Default")
    )
    assert result["attribute_status"] == "Rejected"
    assert (result["variable"]["name"], result["variable"]["instance"]) == (
        "MessageTimeout",
        "Default",
    )


async def test_TC_B_12_CS(accepted: Csms) -> None:
    csms = accepted
    response = await csms.call(
        call.GetBaseReport(request_id=12, report_base="ConfigurationInventory")
    )
    assert response.status == "Accepted"
    data = await report(csms, 12)
    assert data
    for item in data:
        characteristics = item["variableCharacteristics"]
        if characteristics["dataType"] in LISTS:
            assert characteristics.get("valuesList"), item
        mutabilities = {a.get("mutability", "ReadWrite") for a in item["variableAttribute"]}
        assert mutabilities & {"ReadWrite", "WriteOnly"}, item
    reported = {(i["component"]["name"], i["variable"]["name"]) for i in data}
    writable = {(c, v) for c, v, _, mutability, _ in CORE_REQUIRED if mutability == ("ReadWrite",)}
    assert writable - reported == set()


async def test_TC_B_13_CS(accepted: Csms) -> None:
    csms = accepted
    response = await csms.call(call.GetBaseReport(request_id=13, report_base="FullInventory"))
    assert response.status == "Accepted"
    data = await report(csms, 13)
    for item in data:
        characteristics = item["variableCharacteristics"]
        if characteristics["dataType"] in LISTS:
            assert characteristics.get("valuesList"), item
    components = {i["component"]["name"] for i in data}
    assert {"ChargingStation", "EVSE", "Connector"} <= components


async def test_TC_B_15_CS(accepted: Csms) -> None:
    csms = accepted
    response = await csms.call(call.GetBaseReport(request_id=15, report_base="SummaryInventory"))
    assert response.status == "NotSupported"
    assert response.status_info["reason_code"] == "UnsupportedParam"
    await trigger_heartbeat(csms)  # anything the report would have sent came before this
    assert "NotifyReport" not in [m.action for m in csms.history]


# TC_B_53_CS: the required Core components and variables: (component, variable, instance,
# mutabilities allowed, dataType).
CORE_REQUIRED = [
    ("AlignedDataCtrlr", "Interval", None, ("ReadWrite",), "integer"),
    ("AlignedDataCtrlr", "Measurands", None, ("ReadWrite",), "MemberList"),
    ("AlignedDataCtrlr", "TxEndedInterval", None, ("ReadWrite",), "integer"),
    ("AlignedDataCtrlr", "TxEndedMeasurands", None, ("ReadWrite",), "MemberList"),
    ("AuthCtrlr", "AuthorizeRemoteStart", None, ("ReadOnly", "ReadWrite"), "boolean"),
    ("AuthCtrlr", "LocalAuthorizeOffline", None, ("ReadWrite",), "boolean"),
    ("AuthCtrlr", "LocalPreAuthorize", None, ("ReadWrite",), "boolean"),
    ("ChargingStation", "AvailabilityState", None, ("ReadOnly",), "OptionList"),
    ("ChargingStation", "Available", None, ("ReadOnly",), "boolean"),
    ("ChargingStation", "SupplyPhases", None, ("ReadOnly",), "integer"),
    ("ClockCtrlr", "DateTime", None, ("ReadOnly",), "dateTime"),
    ("ClockCtrlr", "TimeSource", None, ("ReadWrite",), "SequenceList"),
    ("Connector", "AvailabilityState", None, ("ReadOnly",), "OptionList"),
    ("Connector", "Available", None, ("ReadOnly",), "boolean"),
    ("Connector", "ConnectorType", None, ("ReadOnly",), "string"),
    ("Connector", "SupplyPhases", None, ("ReadOnly",), "integer"),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetReport", ("ReadOnly",), "integer"),
    ("DeviceDataCtrlr", "BytesPerMessage", "GetVariables", ("ReadOnly",), "integer"),
    ("DeviceDataCtrlr", "BytesPerMessage", "SetVariables", ("ReadOnly",), "integer"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetReport", ("ReadOnly",), "integer"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "GetVariables", ("ReadOnly",), "integer"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "SetVariables", ("ReadOnly",), "integer"),
    ("EVSE", "AvailabilityState", None, ("ReadOnly",), "OptionList"),
    ("EVSE", "Available", None, ("ReadOnly",), "boolean"),
    ("EVSE", "Power", None, ("ReadOnly",), "decimal"),
    ("EVSE", "SupplyPhases", None, ("ReadOnly",), "integer"),
    ("OCPPCommCtrlr", "FileTransferProtocols", None, ("ReadOnly",), "MemberList"),
    ("OCPPCommCtrlr", "MessageTimeout", "Default", ("ReadOnly",), "integer"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent", ("ReadWrite",), "integer"),
    ("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent", ("ReadWrite",), "integer"),
    ("OCPPCommCtrlr", "NetworkConfigurationPriority", None, ("ReadWrite",), "SequenceList"),
    ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", None, ("ReadWrite",), "integer"),
    ("OCPPCommCtrlr", "OfflineThreshold", None, ("ReadWrite",), "integer"),
    ("OCPPCommCtrlr", "ResetRetries", None, ("ReadWrite",), "integer"),
    ("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", None, ("ReadWrite", "ReadOnly"), "boolean"),
    ("SampledDataCtrlr", "TxEndedInterval", None, ("ReadWrite",), "integer"),
    ("SampledDataCtrlr", "TxEndedMeasurands", None, ("ReadWrite",), "MemberList"),
    ("SampledDataCtrlr", "TxStartedMeasurands", None, ("ReadWrite",), "MemberList"),
    ("SampledDataCtrlr", "TxUpdatedInterval", None, ("ReadWrite",), "integer"),
    ("SampledDataCtrlr", "TxUpdatedMeasurands", None, ("ReadWrite",), "MemberList"),
    ("SecurityCtrlr", "CertificateEntries", None, ("ReadOnly",), "integer"),
    ("SecurityCtrlr", "OrganizationName", None, ("ReadWrite",), "string"),
    ("SecurityCtrlr", "SecurityProfile", None, ("ReadOnly",), "integer"),
    ("TxCtrlr", "EVConnectionTimeOut", None, ("ReadWrite",), "integer"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", None, ("ReadWrite", "ReadOnly"), "boolean"),
    ("TxCtrlr", "StopTxOnInvalidId", None, ("ReadWrite",), "boolean"),
    ("TxCtrlr", "TxStartPoint", None, ("ReadWrite", "ReadOnly"), "MemberList"),
    ("TxCtrlr", "TxStopPoint", None, ("ReadWrite", "ReadOnly"), "MemberList"),
]
UNITS = {"Interval": "s", "TxEndedInterval": "s", "TxUpdatedInterval": "s", "MessageTimeout": "s"}


async def test_TC_B_53_CS(accepted: Csms) -> None:
    csms = accepted
    response = await csms.call(call.GetBaseReport(request_id=53, report_base="FullInventory"))
    assert response.status == "Accepted"
    assert "status_info" not in vars(response) or response.status_info is None
    reported = {
        (i["component"]["name"], i["variable"]["name"], i["variable"].get("instance")): i
        for i in await report(csms, 53)
    }
    for component, name, instance, mutabilities, data_type in CORE_REQUIRED:
        item = reported.get((component, name, instance))
        assert item is not None, f"{component}.{name}[{instance}] is not reported"
        actual = next(a for a in item["variableAttribute"] if a.get("type", "Actual") == "Actual")
        assert actual.get("mutability", "ReadWrite") in mutabilities, item
        characteristics = item["variableCharacteristics"]
        assert characteristics["dataType"] == data_type, item
        if name in UNITS:
            assert characteristics.get("unit") == UNITS[name], item
        if data_type == "MemberList" and component != "OCPPCommCtrlr":
            assert characteristics.get("maxLimit", 0) > 0, item
        if (component, name) in (("EVSE", "Power"), ("SecurityCtrlr", "CertificateEntries")):
            assert characteristics.get("maxLimit", 0) > 0, item
        if (component, name) == ("EVSE", "Power"):
            assert characteristics.get("unit") in ("W", "kW"), item
