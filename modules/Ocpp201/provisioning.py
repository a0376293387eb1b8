"""Provisioning (B): Heartbeat and the clock, Reset, SetNetworkProfile, and the checks on
NetworkConfigurationPriority. BootNotification itself is the core's (`boot.py`).

- Heartbeat (B01, G02): every OCPPCommCtrlr.HeartbeatInterval while Accepted and online; its
  answer sets the station's clock. A new interval applies at once. TriggerMessage(Heartbeat)
  sends one now.
- Reset (B11, B12): of the whole station only (an EVSE's own reset is Rejected: evstack's
  EVSEs cannot reboot on their own). Without transactions it is Accepted and the station
  reboots at once (BootNotification RemoteReset). OnIdle with transactions is Scheduled: the
  station reboots when the last one has finished (ScheduledReset). Immediate is Accepted: every
  transaction is stopped (EvseManager's reason HardReset, OCPP's ImmediateReset) and the
  station reboots once they have finished. A reboot is the OCPP side's (`Station.reboot`):
  what is owed goes out first, then the connection is dropped and the boot starts over.
- SetNetworkProfile (B09): a slot of NetworkConfigurationPriority's values list, OCPP 2.0 over
  JSON, a security profile the station has not risen above (no downgrade, A05), a URL whose
  scheme fits it (ws:// for 1, wss:// for 2 and 3), and whatever `station.network_checks` add.
  It is stored; the link uses it from the next connection attempt.
- NetworkConfigurationPriority may only name slots that have a profile (B10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

import msgspec

from evstack.generated.ocpp.v201.datatypes import StatusInfoType
from evstack.generated.ocpp.v201.enums import (
    BootReasonEnumType,
    MessageTriggerEnumType,
    OCPPTransportEnumType,
    OCPPVersionEnumType,
    RegistrationStatusEnumType,
    ResetEnumType,
    ResetStatusEnumType,
    SetNetworkProfileStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    HeartbeatRequest,
    HeartbeatResponse,
    ResetRequest,
    ResetResponse,
    SetNetworkProfileRequest,
    SetNetworkProfileResponse,
)
from evstack.generated.types.evse_manager import (
    SessionEvent,
    SessionEventEnum,
    StopTransactionReason,
    StopTransactionRequest,
)
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError
from evstack.runtime import CommandError

from .blocks import Block
from .boot import HEARTBEAT_INTERVAL
from .device_model import InvalidValueError
from .link import PRIORITY, SECURITY_PROFILE
from .station import Station

__all__ = ["Provisioning"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0  # simulated seconds the EVSEs get to finish their transactions
STOP_CALL_S = 5.0  # wall seconds for EvseManager to take stop_transaction


class Provisioning(Block):
    """Heartbeat, Reset and SetNetworkProfile (see the module's doc)."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self._scheduled: BootReasonEnumType | None = None  # a reset waiting for idle
        self._interval_changed = asyncio.Event()
        self._idle = asyncio.Event()
        station.route("Reset", self.reset)
        station.route("SetNetworkProfile", self.set_network_profile)
        station.register_trigger(MessageTriggerEnumType.Heartbeat, self._trigger_heartbeat)
        station.on_session_event(self._on_session_event)
        station.model.watch(HEARTBEAT_INTERVAL, lambda *_: self._interval_changed.set())
        station.model.veto(PRIORITY, self._check_priority)

    async def start(self) -> None:
        self.station.start_task(self._heartbeats())

    # -- Heartbeat --------------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        station = self.station
        while True:
            interval = station.model.get_int(HEARTBEAT_INTERVAL)
            self._interval_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval / station.clock.speedup):
                    await self._interval_changed.wait()
                    continue  # a new interval: count it from now
            if station.registration is RegistrationStatusEnumType.Accepted:
                await self._heartbeat()

    async def _heartbeat(self) -> None:
        try:
            response: HeartbeatResponse = await self.station.call(HeartbeatRequest())
        except (NotConnectedError, CallTimeoutError, OcppError) as error:
            log.info("no heartbeat: %s", error)
            return
        self.station.set_time(response.currentTime)

    def _trigger_heartbeat(
        self, evse: int | None, connector: int | None
    ) -> Coroutine[Any, Any, None] | None:
        return self._heartbeat()

    # -- Reset ------------------------------------------------------------------------------

    async def reset(self, request: ResetRequest) -> ResetResponse:
        if not isinstance(request.evseId, msgspec.UnsetType):
            return ResetResponse(
                status=ResetStatusEnumType.Rejected,
                statusInfo=StatusInfoType(
                    reasonCode="UnsupportedRequest",
                    additionalInfo="an EVSE cannot be reset on its own",
                ),
            )
        busy = [evse for evse in self.station.evses if evse.transaction is not None]
        if not busy:
            self.station.start_task(self.station.reboot(BootReasonEnumType.RemoteReset))
            return ResetResponse(status=ResetStatusEnumType.Accepted)
        if request.type is ResetEnumType.OnIdle:
            self._scheduled = BootReasonEnumType.ScheduledReset
            return ResetResponse(status=ResetStatusEnumType.Scheduled)
        self.station.start_task(self._reset_now())
        return ResetResponse(status=ResetStatusEnumType.Accepted)

    async def _reset_now(self) -> None:
        """Immediate: stop every transaction, wait for them to finish, reboot."""
        stop = StopTransactionRequest(reason=StopTransactionReason.HardReset)
        for evse in self.station.evses:
            if evse.transaction is None:
                continue
            try:
                await evse.client.call_stop_transaction(stop, timeout=STOP_CALL_S)
            except CommandError as error:
                log.warning("EVSE %d did not stop its transaction: %s", evse.id, error)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S / self.station.clock.speedup):
                while any(evse.transaction is not None for evse in self.station.evses):
                    self._idle.clear()
                    await self._idle.wait()
        except TimeoutError:
            log.warning("transactions still running after %g s: rebooting", STOP_TIMEOUT_S)
        await self.station.reboot(BootReasonEnumType.RemoteReset)

    def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        if event.event != SessionEventEnum.TransactionFinished:
            return
        self._idle.set()
        idle = all(evse.transaction is None for evse in self.station.evses)
        if idle and self._scheduled is not None:
            reason, self._scheduled = self._scheduled, None
            self.station.start_task(self.station.reboot(reason))

    # -- SetNetworkProfile ------------------------------------------------------------------

    async def set_network_profile(
        self, request: SetNetworkProfileRequest
    ) -> SetNetworkProfileResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            log.warning(
                "network profile for slot %d refused: %s", request.configurationSlot, refusal
            )
            return SetNetworkProfileResponse(
                status=SetNetworkProfileStatusEnumType.Rejected,
                statusInfo=StatusInfoType(
                    reasonCode="InvalidProfile", additionalInfo=refusal[:512]
                ),
            )
        link = self.station.link
        assert link is not None
        link.profiles.put(request.configurationSlot, request.connectionData)
        link.profiles_changed()
        return SetNetworkProfileResponse(status=SetNetworkProfileStatusEnumType.Accepted)

    def _refusal(self, request: SetNetworkProfileRequest) -> str | None:
        slot, profile = request.configurationSlot, request.connectionData
        slots = self.station.model.spec(PRIORITY)
        assert slots is not None
        allowed = slots.characteristics.values_list or ()
        if str(slot) not in allowed:
            return f"slot {slot} is not one of {', '.join(allowed)}"
        if profile.ocppVersion is not OCPPVersionEnumType.OCPP20:
            return f"{profile.ocppVersion} is not OCPP 2.0.1"
        if profile.ocppTransport is not OCPPTransportEnumType.JSON:
            return "only OCPP-J (JSON) is supported"
        current = self.station.model.get_int(SECURITY_PROFILE)
        if profile.securityProfile not in (1, 2, 3):
            return f"security profile {profile.securityProfile} does not exist in OCPP 2.0.1"
        if profile.securityProfile < current:
            return f"security profile {profile.securityProfile} is below the station's {current}"
        scheme = urlsplit(profile.ocppCsmsUrl).scheme
        wanted = "ws" if profile.securityProfile == 1 else "wss"
        if scheme != wanted:
            return f"security profile {profile.securityProfile} needs a {wanted}:// URL"
        for check in self.station.network_checks:
            refusal = check(slot, profile)
            if refusal is not None:
                return refusal
        return None

    def _check_priority(self, value: str) -> None:
        link = self.station.link
        assert link is not None
        stored = link.profiles.all()
        missing = [slot for slot in value.split(",") if slot.strip() and int(slot) not in stored]
        if missing:
            raise InvalidValueError(f"no network profile in slot {', '.join(missing)}")
