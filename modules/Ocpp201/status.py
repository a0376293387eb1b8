"""Connector status (G01) and what the CSMS is told of it: StatusNotification, the
AvailabilityState variables, and the offline threshold of B04.

A connector is Unavailable when it, its EVSE or the station is inoperative and no transaction
runs on its EVSE (a change asked for during one waits for its end, G03.FR.05), Occupied while
a session holds its EVSE (an EV plugged in, or authorized and waiting for one), else Available.

The CSMS hears each change as a StatusNotification. What it has not heard yet waits in a
queue that one task works off, in order, while the station is Accepted and online: a change
made while offline stays queued, and one whose notification failed goes back in. After a
reconnection (B04) the station also reports every connector when it was offline longer than
OCPPCommCtrlr.OfflineThreshold, else only those that changed meanwhile (those are still
queued). After each accepted BootNotification every connector is reported (B01).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from evstack.generated.ocpp.v201.enums import ConnectorStatusEnumType, MessageTriggerEnumType
from evstack.generated.ocpp.v201.messages import StatusNotificationRequest
from evstack.generated.types.evse_manager import SessionEvent
from evstack.generated.types.powermeter import Powermeter
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError

from .device_model import ref
from .station import Station

__all__ = ["OFFLINE_THRESHOLD", "StatusReporter"]

log = logging.getLogger(__name__)

OFFLINE_THRESHOLD = ref("OCPPCommCtrlr", "OfflineThreshold")
Connector = tuple[int, int]  # (EVSE id, connector id)
Operative = Callable[[int, int], bool]


class StatusReporter:
    """Keeps every connector's status and tells the CSMS (see the module's doc)."""

    def __init__(
        self, station: Station, operative: Operative, station_operative: Callable[[], bool]
    ) -> None:
        self.station = station
        self.operative = operative  # the connector, its EVSE and the station operative
        self.station_operative = station_operative
        self.connectors: list[Connector] = [
            (evse.id, connector)
            for evse in station.evses
            for connector in range(1, evse.connectors + 1)
        ]
        self._queue: dict[Connector, None] = {}  # an ordered set: what the CSMS must hear
        self._queued = asyncio.Event()
        self._offline_since: float | None = None
        self._power: dict[int, float] = {}
        station.on_session_event(self._on_session_event)
        station.on_powermeter(self._on_powermeter)
        station.on_registered(self.report_all)
        station.on_connection(self._on_connection)
        station.register_trigger(MessageTriggerEnumType.StatusNotification, self._trigger)
        model = station.model
        for evse in station.evses:
            key = ref("EVSE", "Power", evse=evse.id)
            if model.spec(key) is not None:
                model.live(key, functools.partial(self._power_of, evse.id))
        self.refresh()

    # -- the status -------------------------------------------------------------------------

    def status(self, evse_id: int, connector: int) -> ConnectorStatusEnumType:
        evse = self.station.evses[evse_id - 1]
        if evse.transaction is None and not self.operative(evse_id, connector):
            return ConnectorStatusEnumType.Unavailable
        if evse.session is not None:
            return ConnectorStatusEnumType.Occupied
        return ConnectorStatusEnumType.Available

    def refresh(self, evse_ids: list[int] | None = None) -> None:
        """Work out the status of the connectors of `evse_ids` (all: None) again; queue those
        that changed, and keep the AvailabilityState variables in line."""
        model = self.station.model
        for evse in self.station.evses:
            if evse_ids is not None and evse.id not in evse_ids:
                continue
            states = []
            for connector in range(1, evse.connectors + 1):
                state = self.status(evse.id, connector)
                states.append(state)
                key = ref("Connector", "AvailabilityState", evse=evse.id, connector=connector)
                if model.set(key, str(state)):
                    self._enqueue((evse.id, connector))
                model.set(
                    ref("Connector", "Available", evse=evse.id, connector=connector),
                    self.operative(evse.id, connector),
                )
            model.set(ref("EVSE", "AvailabilityState", evse=evse.id), str(_evse_state(states)))
            model.set(
                ref("EVSE", "Available", evse=evse.id),
                any(self.operative(evse.id, c) for c in range(1, evse.connectors + 1)),
            )
        up = self.station_operative()
        model.set(ref("ChargingStation", "AvailabilityState"), "Available" if up else "Unavailable")
        model.set(ref("ChargingStation", "Available"), up)

    # -- events -----------------------------------------------------------------------------

    def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        self.refresh([evse_id])

    def _power_of(self, evse_id: int) -> str:
        return f"{self._power.get(evse_id, 0.0):g}"

    def _on_powermeter(self, evse_id: int, reading: Powermeter) -> None:
        if reading.power_W is not None:
            self._power[evse_id] = reading.power_W.total

    def report_all(self) -> None:
        """Tell the CSMS every connector's status (after a boot, a long time offline)."""
        for connector in self.connectors:
            self._enqueue(connector)

    def _enqueue(self, connector: Connector) -> None:
        self._queue[connector] = None
        self._queued.set()

    def _on_connection(self, up: bool) -> None:
        now = self.station.clock.now()
        if not up:
            self._offline_since = now
            return
        since, self._offline_since = self._offline_since, None
        if since is not None and now - since > self.station.model.get_int(OFFLINE_THRESHOLD):
            self.report_all()
        self._queued.set()

    # -- telling the CSMS -------------------------------------------------------------------

    def _request(self, connector: Connector) -> StatusNotificationRequest:
        evse_id, connector_id = connector
        return StatusNotificationRequest(
            timestamp=self.station.now(),
            connectorStatus=self.status(evse_id, connector_id),
            evseId=evse_id,
            connectorId=connector_id,
        )

    async def run(self) -> None:
        """Work off the queue, for the module's life."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue and self.station.may_send("StatusNotification"):
                connector = next(iter(self._queue))
                del self._queue[connector]
                try:
                    await self.station.call(self._request(connector))
                except (NotConnectedError, CallTimeoutError, OcppError) as error:
                    log.info("status of %s not told (%s): again later", connector, error)
                    self._queue = {connector: None, **self._queue}
                    await self._wait_for_link()
                    break

    async def _wait_for_link(self) -> None:
        """After a failure: wait for a change (a reconnection) or a message timeout."""
        timeout = self.station.outbox.message_timeout_s / self.station.clock.speedup
        try:
            async with asyncio.timeout(timeout):
                await self._queued.wait()
        except TimeoutError:
            self._queued.set()

    def _trigger(self, evse: int | None, connector: int | None) -> Coroutine[Any, Any, None] | None:
        wanted = [
            c
            for c in self.connectors
            if (evse is None or c[0] == evse) and (connector is None or c[1] == connector)
        ]
        return self._send_now(wanted) if wanted else None

    async def _send_now(self, connectors: list[Connector]) -> None:
        """TriggerMessage: the current status, even unchanged (sent here, not queued, so that
        it may go while the station is Pending)."""
        for connector in connectors:
            self._queue.pop(connector, None)
            try:
                await self.station.call(self._request(connector))
            except (NotConnectedError, CallTimeoutError, OcppError) as error:
                log.info("triggered status of %s not told: %s", connector, error)
                self._enqueue(connector)


def _evse_state(states: list[ConnectorStatusEnumType]) -> ConnectorStatusEnumType:
    """An EVSE's AvailabilityState from its connectors': Occupied if one is, Unavailable if all
    are, else Available."""
    if ConnectorStatusEnumType.Occupied in states:
        return ConnectorStatusEnumType.Occupied
    if states and all(state is ConnectorStatusEnumType.Unavailable for state in states):
        return ConnectorStatusEnumType.Unavailable
    return ConnectorStatusEnumType.Available
