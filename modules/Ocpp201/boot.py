"""The boot state (B01-B03): BootNotification until the CSMS accepts the station.

Before any answer, and while Rejected, nothing but BootNotification goes to the CSMS and every
CSMS request is answered SecurityError (the core's handler table does that); while Pending the
CSMS may read and set the device model and trigger messages, and the station sends only what
it is asked for. A Pending or Rejected answer is followed by a new BootNotification after its
interval (ours when the CSMS gives none); TriggerMessage(BootNotification) in Pending sends it
at once with reason Triggered, and is refused once Accepted (F06.FR.17). A BootNotification
that goes unanswered is sent again after the message timeout.

On Accepted: the heartbeat interval is taken from the answer (B01.FR.04), the clock from its
currentTime, and `on_registered` listeners run (StatusNotification for every connector, say).
A reconnection after that sends no new BootNotification; a reboot does, with
the reason it was given (RemoteReset, FirmwareUpdate...), which is kept in the station's state
so that a restart of the process still reports it. `Station.reboot` starts it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import msgspec

from evstack.generated.ocpp.v201.datatypes import ChargingStationType
from evstack.generated.ocpp.v201.enums import (
    BootReasonEnumType,
    MessageTriggerEnumType,
    RegistrationStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    BootNotificationRequest,
    BootNotificationResponse,
)
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError

from .device_model import ref
from .station import Station

__all__ = ["Boot"]

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = ref("OCPPCommCtrlr", "HeartbeatInterval")
VENDOR = ref("ChargingStation", "VendorName")
MODEL = ref("ChargingStation", "Model")
SERIAL = ref("ChargingStation", "SerialNumber")
FIRMWARE = ref("Controller", "FirmwareVersion")
DEFAULT_RETRY_S = 60.0  # simulated seconds, when the CSMS's answer names no interval
_REASON_KEY = "boot/reason"


class Boot:
    """Sends BootNotification until Accepted; see the module's doc."""

    def __init__(self, station: Station) -> None:
        self.station = station
        stored = station.state.get(_REASON_KEY, str)
        self.reason = BootReasonEnumType(stored) if stored else BootReasonEnumType.PowerUp
        self._triggered = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        station.register_trigger(MessageTriggerEnumType.BootNotification, self._trigger)

    def start(self) -> None:
        self._task = self.station.start_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def set_reason(self, reason: BootReasonEnumType) -> None:
        """The reason the next BootNotification gives (kept through a restart)."""
        self.reason = reason
        self.station.state.put(_REASON_KEY, str(reason))

    def _trigger(self, evse: int | None, connector: int | None) -> Coroutine[Any, Any, None] | None:
        if self.station.registration is RegistrationStatusEnumType.Accepted:
            return None
        return self._boot_now()

    async def _boot_now(self) -> None:
        self._triggered = True
        self._wake.set()

    def request(self, reason: BootReasonEnumType) -> BootNotificationRequest:
        model = self.station.model

        def optional(key: Any) -> Any:
            value = model.get(key) if model.spec(key) is not None else None
            return value if value else msgspec.UNSET

        station = ChargingStationType(
            model=model.get_str(MODEL),
            vendorName=model.get_str(VENDOR),
            serialNumber=optional(SERIAL),
            firmwareVersion=optional(FIRMWARE),
        )
        return BootNotificationRequest(chargingStation=station, reason=reason)

    async def _run(self) -> None:
        station = self.station
        while True:
            await station.online.wait()
            reason = BootReasonEnumType.Triggered if self._triggered else self.reason
            self._wake.clear()
            try:
                response: BootNotificationResponse = await station.call(self.request(reason))
            except NotConnectedError:
                await station.clock.sleep(1.0)  # the link is going down: wait for it to be back
                continue
            except (CallTimeoutError, OcppError) as error:
                log.warning("BootNotification failed: %s", error)
                await self._wait(DEFAULT_RETRY_S)
                continue
            self._triggered = False
            station.registration = response.status
            station.set_time(response.currentTime)
            if response.status is RegistrationStatusEnumType.Accepted:
                log.info("accepted by the CSMS (%s)", reason)
                if self.reason is not BootReasonEnumType.PowerUp:
                    self.set_reason(BootReasonEnumType.PowerUp)  # told once
                if response.interval > 0:
                    station.model.set(HEARTBEAT_INTERVAL, response.interval)
                station.outbox_changed.set()
                await station.registered.emit()
                return
            log.warning("the CSMS answered %s; again in %d s", response.status, response.interval)
            await self._wait(response.interval if response.interval > 0 else DEFAULT_RETRY_S)

    async def _wait(self, seconds: float) -> None:
        """Sleep `seconds` of the module's clock, or until a trigger wakes us."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds / self.station.clock.speedup):
                await self._wake.wait()
