"""Availability (G03, G04): ChangeAvailability for the station, an EVSE or a connector, kept
in the station's state across restarts and reboots (G03.FR.08), and carried out by EvseManager.

The station, each EVSE and each connector is Operative or Inoperative. A connector may charge
when it, its EVSE and the station are Operative; an EVSE whose connectors all may not is
disabled (`enable_disable`, source CSMS), and enabled again when one may. A request that would
stop a running transaction is Scheduled: it is stored at once, the connectors without a
transaction change now, and the EVSE with one is disabled when its transaction has finished
(EvseManager would end it otherwise). A request for the state things are already in is
Accepted and changes nothing; one naming an EVSE or connector the station does not have is
Rejected. A request for the station as a whole is followed by every connector's status, even
when nothing changed (TC_G_13).

A firmware install that waits for transactions to end may hold the station (L01.FR.07): until
it lets go, every connector without a transaction is Unavailable and its EVSE disabled, as if
Inoperative; the hold is not stored (a reboot, the install's own, ends it).

Status follows from all that (`status.StatusReporter`, which this block runs).
"""

from __future__ import annotations

import logging
import weakref

import msgspec

from evstack.generated.ocpp.v201.datatypes import StatusInfoType
from evstack.generated.ocpp.v201.enums import (
    ChangeAvailabilityStatusEnumType,
    OperationalStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    ChangeAvailabilityRequest,
    ChangeAvailabilityResponse,
)
from evstack.generated.types.evse_manager import (
    EnableDisableSource,
    SessionEvent,
    SessionEventEnum,
)
from evstack.runtime import CommandError

from .blocks import Block
from .station import Evse, Station
from .status import StatusReporter

__all__ = ["Availability"]

log = logging.getLogger(__name__)

INOPERATIVE = OperationalStatusEnumType.Inoperative
OPERATIVE = OperationalStatusEnumType.Operative
ENABLE_TIMEOUT_S = 5.0  # wall seconds for EvseManager to take enable_disable
_PREFIX = "availability/"
_BLOCKS: weakref.WeakKeyDictionary[Station, Availability] = weakref.WeakKeyDictionary()


class Availability(Block):
    """ChangeAvailability, and the connectors' status (see the module's doc)."""

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        self._told: dict[int, bool] = {}  # EVSE -> enabled, as we last told it
        self._held = False  # a firmware install waits (see the module's doc)
        self.status = StatusReporter(station, self.operative, self.station_operative)
        station.route("ChangeAvailability", self.change_availability)
        station.on_session_event(self._on_session_event)
        _BLOCKS[station] = self

    @staticmethod
    def of(station: Station) -> Availability:
        """The station's availability block (firmware holds the connectors with it)."""
        return _BLOCKS[station]

    async def start(self) -> None:
        self.station.start_task(self.status.run())
        for evse in self.station.evses:
            await self._apply(evse, force=True)

    # -- the stored states ------------------------------------------------------------------

    def _state(self, where: str) -> OperationalStatusEnumType:
        stored = self.station.state.get(_PREFIX + where, str)
        return OperationalStatusEnumType(stored) if stored else OPERATIVE

    def station_operative(self) -> bool:
        return self._state("station") is OPERATIVE

    def operative(self, evse_id: int, connector: int) -> bool:
        return (
            not self._held
            and self.station_operative()
            and self._state(f"evse/{evse_id}") is OPERATIVE
            and self._state(f"connector/{evse_id}/{connector}") is OPERATIVE
        )

    def _may_charge(self, evse: Evse) -> bool:
        return any(self.operative(evse.id, c) for c in range(1, evse.connectors + 1))

    # -- ChangeAvailability -----------------------------------------------------------------

    async def change_availability(
        self, request: ChangeAvailabilityRequest
    ) -> ChangeAvailabilityResponse:
        wanted = request.operationalStatus
        target = request.evse
        if isinstance(target, msgspec.UnsetType) or target.id == 0:
            where, evses = "station", list(self.station.evses)
        else:
            evse = self.station.evse(target.id)
            connector = target.connectorId
            if evse is None:
                return _refused(f"there is no EVSE {target.id}")
            if isinstance(connector, msgspec.UnsetType):
                where = f"evse/{evse.id}"
            elif 0 < connector <= evse.connectors:
                where = f"connector/{evse.id}/{connector}"
            else:
                return _refused(f"EVSE {evse.id} has no connector {connector}")
            evses = [evse]
        if self._state(where) is wanted:
            if where == "station":  # the CSMS hears every connector again (TC_G_13)
                self.status.report_all()
            return ChangeAvailabilityResponse(status=ChangeAvailabilityStatusEnumType.Accepted)
        self.station.state.put(_PREFIX + where, str(wanted))
        busy = wanted is INOPERATIVE and any(evse.transaction is not None for evse in evses)
        self.station.start_task(self._carry_out([evse.id for evse in evses]))
        status = ChangeAvailabilityStatusEnumType.Scheduled if busy else None
        return ChangeAvailabilityResponse(
            status=status or ChangeAvailabilityStatusEnumType.Accepted
        )

    async def hold(self, held: bool) -> None:
        """Hold the connectors without a transaction Unavailable (a pending firmware install,
        L01.FR.07), or let them go."""
        if held == self._held:
            return
        self._held = held
        await self._carry_out([evse.id for evse in self.station.evses])

    async def _carry_out(self, evse_ids: list[int]) -> None:
        """After the response: the new status to the CSMS, and the EVSEs in line with it."""
        self.status.refresh(evse_ids)
        for evse_id in evse_ids:
            await self._apply(self.station.evses[evse_id - 1])

    async def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        if event.event == SessionEventEnum.TransactionFinished:
            await self._apply(self.station.evses[evse_id - 1])  # a scheduled change, now

    async def _apply(self, evse: Evse, *, force: bool = False) -> None:
        """Enable or disable `evse` as its availability says; never during a transaction."""
        enable = self._may_charge(evse)
        if not enable and evse.transaction is not None:
            return
        if not force and self._told.get(evse.id) == enable:
            return
        source = EnableDisableSource(
            enable_source="CSMS",
            enable_state="Enable" if enable else "Disable",
            enable_priority=0,
        )
        try:
            await evse.client.call_enable_disable(0, source, timeout=ENABLE_TIMEOUT_S)
        except CommandError as error:
            log.warning("EVSE %d was not %s: %s", evse.id, source.enable_state, error)
            return
        self._told[evse.id] = enable


def _refused(why: str) -> ChangeAvailabilityResponse:
    return ChangeAvailabilityResponse(
        status=ChangeAvailabilityStatusEnumType.Rejected,
        statusInfo=StatusInfoType(reasonCode="UnknownEvse", additionalInfo=why),
    )
