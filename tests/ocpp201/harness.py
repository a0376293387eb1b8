"""Steps of Part 6 that many cases share: its reusable states (Booted, Unavailable,
EVConnectedPreSession...) and the CSMS's usual requests, as the OCTT performs them."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.v201 import call

from evstack.modules.Ocpp201.blocks import optional_blocks

from .csms import WAIT, Csms
from .stand_ins import EvseStandIn

Connector = tuple[int, int]  # (EVSE id, connector id)


def connectors(evses: int) -> list[Connector]:
    """Every connector of a station of `evses` one-connector EVSEs."""
    return [(evse, 1) for evse in range(1, evses + 1)]


async def statuses(
    csms: Csms, wanted: list[Connector], *, wait: float = WAIT
) -> dict[Connector, str]:
    """The status each of `wanted` is next reported with (StatusNotification), whatever order
    they come in; others reported meanwhile are passed over."""
    got: dict[Connector, str] = {}
    while set(wanted) - set(got):
        message = await csms.expect(
            "StatusNotification",
            lambda p: (p["evseId"], p["connectorId"]) in wanted,
            wait=wait,
        )
        got[(message["evseId"], message["connectorId"])] = message["connectorStatus"]
    return got


def needs_block(name: str, why: str) -> pytest.MarkDecorator:
    """A case that cannot pass without the optional block `name` (its file in
    modules/Ocpp201) fails as expected, saying so, until the block is there."""
    present = bool(optional_blocks([name]))
    return pytest.mark.xfail(not present, reason=f"needs the {name} block: {why}", strict=True)


SECURITY_EVENT = "SecurityEventNotification (StartupOfTheDevice or ResetOrReboot) after a boot"


async def booted(
    csms: Csms,
    evses: int,
    *,
    reason: str | None = None,
    status: str | dict[Connector, str] = "Available",
    security_event: bool = False,
) -> dict[str, Any]:
    """Reusable State Booted, from the station's side: a BootNotification (with `reason`, if
    given), then every connector's status (`status`, or per connector), and with
    `security_event` the SecurityEventNotification of the boot. Returns the BootNotification."""
    mark = len(csms.history)
    boot = await csms.expect("BootNotification")
    if reason is not None:
        assert boot["reason"] == reason, boot
    reported = await statuses(csms, connectors(evses))
    wanted = status if isinstance(status, dict) else dict.fromkeys(reported, status)
    assert reported == wanted, reported
    if security_event:
        await csms.seen(
            "SecurityEventNotification",
            mark,
            lambda p: p["type"] in ("StartupOfTheDevice", "ResetOrReboot"),
        )
    return boot


async def energy_transfer_started(csms: Csms, evse: EvseStandIn, evse_id: int) -> str:
    """Reusable State EnergyTransferStarted on `evse_id`: the EV plugged in (Occupied), a
    transaction authorized and charging; returns the transaction's id from its Started event."""
    await evse.plug_in()
    assert (await statuses(csms, [(evse_id, 1)]))[(evse_id, 1)] == "Occupied"
    await evse.start_transaction()
    started = await csms.expect(
        "TransactionEvent",
        lambda p: p["eventType"] == "Started" and p.get("evse", {}).get("id") == evse_id,
    )
    transaction_id: str = started["transactionInfo"]["transactionId"]
    return transaction_id


async def set_variables(csms: Csms, *items: dict[str, Any]) -> list[dict[str, Any]]:
    """SetVariablesRequest of `items` (SetVariableDataType, snake_case); the results."""
    response = await csms.call(call.SetVariables(set_variable_data=list(items)))
    results: list[dict[str, Any]] = response.set_variable_result
    return results


def variable(
    component: str,
    name: str,
    value: str | None = None,
    *,
    instance: str | None = None,
    attribute: str | None = None,
    evse: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A SetVariableData (with `value`) or GetVariableData (without), snake_case."""
    item: dict[str, Any] = {"component": {"name": component}, "variable": {"name": name}}
    if evse is not None:
        item["component"]["evse"] = evse
    if instance is not None:
        item["variable"]["instance"] = instance
    if attribute is not None:
        item["attribute_type"] = attribute
    if value is not None:
        item["attribute_value"] = value
    return item


async def configure(csms: Csms, *items: tuple[str, str, str]) -> None:
    """The Configuration State of a case: (component, variable, value), each Accepted."""
    results = await set_variables(csms, *(variable(c, v, value) for c, v, value in items))
    assert [r["attribute_status"] for r in results] == ["Accepted"] * len(items), results


async def unavailable(
    csms: Csms, wanted: list[Connector], *, evse: dict[str, int] | None = None
) -> None:
    """Reusable State Unavailable: ChangeAvailability Inoperative (of the station, or of
    `evse`), Accepted, then Unavailable reported for each of `wanted`."""
    request = call.ChangeAvailability(operational_status="Inoperative", evse=evse)
    response = await csms.call(request)
    assert response.status == "Accepted", response
    assert set((await statuses(csms, wanted)).values()) == {"Unavailable"}


async def trigger_heartbeat(csms: Csms) -> None:
    """TriggerMessage(Heartbeat) and its Heartbeat: a mark in the station's message stream
    (what it sent before, it sent before this)."""
    response = await csms.call(call.TriggerMessage(requested_message="Heartbeat"))
    assert response.status == "Accepted", response
    await csms.expect("Heartbeat")


async def report(csms: Csms, request_id: int) -> list[dict[str, Any]]:
    """The reportData of every NotifyReport of request `request_id`, checking seqNo from 0
    and tbc on all but the last (B07.FR.10, B07.FR.12)."""
    data: list[dict[str, Any]] = []
    seq_no = 0
    while True:
        part = await csms.expect("NotifyReport", lambda p: p["requestId"] == request_id)
        assert part["seqNo"] == seq_no, part["seqNo"]
        assert part["generatedAt"]
        data.extend(part.get("reportData", []))
        seq_no += 1
        if not part.get("tbc", False):
            return data
