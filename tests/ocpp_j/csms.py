"""A CSMS built on the PyPI `ocpp` package (v201, its strict schema validation on): the
independent peer of the OCPP-J tests. Only tests import `ocpp`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection

NOW = "2026-01-01T00:00:00.000Z"  # at most 3 fractional digits, as strict CSMSs want


class Csms(ChargePoint):  # type: ignore[misc]  # the ocpp package has no type hints
    """Accepts every BootNotification and Heartbeat, and remembers the boots."""

    def __init__(self, station_id: str, connection: ServerConnection) -> None:
        super().__init__(station_id, connection, response_timeout=5)
        self.boots: list[dict[str, Any]] = []

    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **extra: Any
    ) -> Any:
        self.boots.append({"charging_station": charging_station, "reason": reason})
        return call_result.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    async def on_heartbeat(self, **extra: Any) -> Any:
        return call_result.Heartbeat(current_time=NOW)


@contextlib.asynccontextmanager
async def csms_on(connection: ServerConnection, station_id: str) -> AsyncIterator[Csms]:
    """A `Csms` serving `connection` for the duration."""
    csms = Csms(station_id, connection)
    task = asyncio.create_task(csms.start())
    try:
        yield csms
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
