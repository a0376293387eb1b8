"""The transactions block (E): EvseManager's sessions as the CSMS's TransactionEvents.

The rules are in `tx_core.Transactions` (no I/O); this block feeds it the station's EVSE
events, readings, link state and time, and carries out what it answers:

- every TransactionEvent goes to the station's durable outbox (`station.enqueue`) before the
  transaction's next seqNo is saved; the core's sender delivers them in order, with E13's
  retries;
- at start-up, and whenever an EVSE comes back (its `ready` var), each EVSE's journal
  (`get_transactions`) is reconciled with what the station kept; the EVSE's events wait until
  then, so nothing is reported twice or out of order;
- GetTransactionStatus (E14), TriggerMessage(TransactionEvent) (F06), and the CSMS's refusal of a
  transaction's token (StopTxOnInvalidId, MaxEnergyOnInvalidId).

Time is the station's clock: `station.now()` advanced at the module clock's rate, so that a
simulation's meter intervals and timestamps agree.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import Coroutine
from typing import Any, ClassVar

import msgspec

from evstack.generated.ocpp.v201.enums import (
    AttributeEnumType,
    AuthorizationStatusEnumType,
    MessageTriggerEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    GetTransactionStatusRequest,
    GetTransactionStatusResponse,
    MeterValuesRequest,
    TransactionEventRequest,
    TransactionEventResponse,
)
from evstack.generated.types.evse_manager import (
    SessionEvent,
    StopTransactionReason,
    StopTransactionRequest,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.ocpp.errors import OcppError
from evstack.ocpp.j import CallTimeoutError, NotConnectedError
from evstack.ocpp.outbox import QueuedMessage
from evstack.runtime import CommandError
from evstack.runtime.tasks import first_completed

from .blocks import Block
from .device_model import VariableKey, ref
from .sampling import measurands
from .station import Station
from .tx_core import Transactions
from .tx_state import Effect, StopTransaction, TxSettings, TxStore

__all__ = ["BLOCK", "TransactionsBlock"]

log = logging.getLogger(__name__)

EVSE_CALL_S = 5.0  # wall seconds an EVSE gets to answer get_transactions or a stop
TX = "TxCtrlr"
SAMPLED = "SampledDataCtrlr"
ALIGNED = "AlignedDataCtrlr"
SETTINGS = {
    name: ref(component, variable)
    for name, (component, variable) in {
        "start": (TX, "TxStartPoint"),
        "stop": (TX, "TxStopPoint"),
        "timeout": (TX, "EVConnectionTimeOut"),
        "stop_invalid": (TX, "StopTxOnInvalidId"),
        "max_energy": (TX, "MaxEnergyOnInvalidId"),
        "started": (SAMPLED, "TxStartedMeasurands"),
        "updated": (SAMPLED, "TxUpdatedMeasurands"),
        "updated_interval": (SAMPLED, "TxUpdatedInterval"),
        "ended": (SAMPLED, "TxEndedMeasurands"),
        "ended_interval": (SAMPLED, "TxEndedInterval"),
        "aligned": (ALIGNED, "Measurands"),
        "aligned_interval": (ALIGNED, "Interval"),
        "aligned_ended": (ALIGNED, "TxEndedMeasurands"),
        "aligned_ended_interval": (ALIGNED, "TxEndedInterval"),
        "idle_only": (ALIGNED, "SendDuringIdle"),
    }.items()
}


class TransactionsBlock(Block):
    """See the module's doc; the other blocks find it with `TransactionsBlock.of(station)`."""

    _of: ClassVar[weakref.WeakKeyDictionary[Station, TransactionsBlock]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, station: Station) -> None:
        super().__init__(station)
        TransactionsBlock._of[station] = self
        self._settings: TxSettings | None = None
        self._changed = asyncio.Event()
        self._reconciled: set[int] = set()
        self._held: dict[int, list[SessionEvent]] = {evse.id: [] for evse in station.evses}
        self.store = TxStore(station.db)
        self.core = Transactions(
            evses={evse.id: 1 for evse in station.evses},
            sink=self,
            store=self.store,
            settings=self.settings,
            from_wall=self._from_wall,
            online=False,
        )
        self._recover_seq_nos()
        station.route("GetTransactionStatus", self._get_transaction_status)
        station.on_session_event(self._on_session_event)
        station.on_powermeter(self._on_powermeter)
        station.on_evse_ready(self._on_evse_ready)
        station.on_connection(self._on_connection)
        station.on_delivered("TransactionEvent", self._on_delivered)
        station.register_trigger(MessageTriggerEnumType.TransactionEvent, self._trigger)
        for key in SETTINGS.values():
            station.model.watch(key, self._setting_changed)

    @classmethod
    def of(cls, station: Station) -> TransactionsBlock:
        return cls._of[station]

    async def start(self) -> None:
        for evse in self.station.evses:
            await self._reconcile(evse.id)
        self.station.start_task(self._run_timers())

    # -- time ----------------------------------------------------------------------------

    def now(self) -> float:
        """The station's time in Unix seconds, running at the module clock's rate."""
        clock = self.station.clock
        return self.station.now().timestamp() + clock.now() * (1.0 - 1.0 / clock.speedup)

    def _from_wall(self, seconds: float) -> float:
        """A time the EVSEs stamped (the host's clock) on the station's clock."""
        return seconds + self.now() - time.time()

    # -- settings ------------------------------------------------------------------------

    def settings(self) -> TxSettings:
        if self._settings is None:
            model = self.station.model

            def points(name: str) -> frozenset[str]:
                return frozenset(model.get_list(SETTINGS[name]))

            def measured(name: str) -> tuple[Any, ...]:
                return measurands(model.get_str(SETTINGS[name]))

            self._settings = TxSettings(
                start_points=points("start"),
                stop_points=points("stop"),
                ev_connection_timeout_s=model.get_float(SETTINGS["timeout"]),
                stop_tx_on_invalid_id=model.get_bool(SETTINGS["stop_invalid"]),
                max_energy_on_invalid_id_wh=model.get_float(SETTINGS["max_energy"]),
                started_measurands=measured("started"),
                updated_measurands=measured("updated"),
                updated_interval_s=model.get_float(SETTINGS["updated_interval"]),
                ended_measurands=measured("ended"),
                ended_interval_s=model.get_float(SETTINGS["ended_interval"]),
                aligned_measurands=measured("aligned"),
                aligned_interval_s=model.get_float(SETTINGS["aligned_interval"]),
                aligned_ended_measurands=measured("aligned_ended"),
                aligned_ended_interval_s=model.get_float(SETTINGS["aligned_ended_interval"]),
                aligned_only_when_idle=model.get_bool(SETTINGS["idle_only"]),
            )
        return self._settings

    def _setting_changed(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> None:
        self._settings = None
        self.core.settings_changed()
        self._changed.set()

    # -- the outbox ----------------------------------------------------------------------

    def owe(self, request: TransactionEventRequest, transaction_id: str) -> None:
        self.station.enqueue(request, transaction_id=transaction_id)
        self._changed.set()

    def _recover_seq_nos(self) -> None:
        """seqNos the outbox holds beyond what the store saved: a crash between the two writes.

        The outbox offers no way to list a transaction's messages, so its table is read here,
        in the station's database."""
        try:
            rows = self.station.db.execute(
                "SELECT transaction_id, payload FROM outbox WHERE action = 'TransactionEvent'"
            ).fetchall()
        except sqlite3.Error as error:
            log.warning("the outbox could not be read for seqNos: %s", error)
            return
        for transaction_id, payload in rows:
            seq_no = msgspec.json.decode(payload, type=_SeqNo).seqNo
            self.core.recover_seq_no(transaction_id, seq_no + 1)

    async def _on_delivered(self, message: QueuedMessage, response: Any) -> None:
        if not isinstance(response, TransactionEventResponse) or message.transaction_id is None:
            return
        info = response.idTokenInfo
        if info is msgspec.UNSET or info.status is AuthorizationStatusEnumType.Accepted:
            return
        await self._carry_out(self.core.on_id_token_refused(message.transaction_id))

    # -- the EVSEs -----------------------------------------------------------------------

    async def _reconcile(self, evse_id: int) -> None:
        """Catch up with the EVSE's journal; its events wait meanwhile."""
        evse = self.station.evse(evse_id)
        assert evse is not None
        self._reconciled.discard(evse_id)
        try:
            records = await evse.client.call_get_transactions(timeout=EVSE_CALL_S)
        except CommandError as error:
            log.warning(
                "EVSE %d's journal is out of reach (%s): asked again when it is back",
                evse_id,
                error,
            )
            records = None
        if records is not None:
            self.core.reconcile(evse_id, records, self.now())
        self._reconciled.add(evse_id)
        held, self._held[evse_id] = self._held[evse_id], []
        for event in held:
            await self._carry_out(self.core.on_session_event(evse_id, event, self.now()))
        self._changed.set()

    async def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        if evse_id not in self._reconciled:
            self._held[evse_id].append(event)
            return
        await self._carry_out(self.core.on_session_event(evse_id, event, self.now()))
        self._changed.set()

    async def _on_powermeter(self, evse_id: int, reading: Powermeter) -> None:
        await self._carry_out(self.core.on_reading(evse_id, reading, self.now()))

    async def _on_evse_ready(self, evse_id: int, ready: bool) -> None:
        if ready and evse_id in self._reconciled:
            await self._reconcile(evse_id)  # it restarted: its journal may have moved on

    def _on_connection(self, up: bool) -> None:
        self.core.online = up

    # -- the CSMS's requests ----------------------------------------------------------------

    async def _get_transaction_status(
        self, request: GetTransactionStatusRequest
    ) -> GetTransactionStatusResponse:
        outbox = self.station.outbox
        if request.transactionId is msgspec.UNSET:
            return GetTransactionStatusResponse(messagesInQueue=outbox.pending() > 0)
        transaction_id = request.transactionId
        return GetTransactionStatusResponse(
            ongoingIndicator=self.core.find(transaction_id) is not None,
            messagesInQueue=outbox.pending(transaction_id) > 0,
        )

    def _trigger(
        self, evse_id: int | None, connector_id: int | None
    ) -> Coroutine[Any, Any, None] | None:
        targets = [e.id for e in self.station.evses if evse_id in (None, e.id)]
        if not any(self.core.open_transaction(e) for e in targets):
            return None  # no transaction to report: Rejected

        async def send() -> None:
            self.core.trigger(evse_id, self.now())

        return send()

    # -- timers and effects -----------------------------------------------------------------

    async def _run_timers(self) -> None:
        """Meter intervals, clock-aligned values, lapsed authorizations, on the module clock."""
        clock = self.station.clock
        while True:
            await self._carry_out(self.core.tick(self.now()))
            deadline = self.core.next_deadline()
            self._changed.clear()
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
            if deadline is not None:
                waits.append(asyncio.ensure_future(clock.sleep(deadline - self.now())))
            await first_completed(*waits)

    async def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, MeterValuesRequest):
                self.station.start_task(self.send_meter_values(effect))
            elif isinstance(effect, StopTransaction):
                await self.stop_transaction(effect.evse_id, StopTransactionReason.DeAuthorized)

    async def send_meter_values(self, request: MeterValuesRequest) -> None:
        """MeterValues are not owed: one that cannot go now is not worth sending late."""
        try:
            await self.station.call(request)
        except (NotConnectedError, CallTimeoutError, OcppError) as error:
            log.info("MeterValues for EVSE %d not sent: %s", request.evseId, error)

    async def stop_transaction(self, evse_id: int, reason: StopTransactionReason) -> bool:
        """Have the EVSE end its transaction; False if it had none or did not answer."""
        evse = self.station.evse(evse_id)
        assert evse is not None
        try:
            return await evse.client.call_stop_transaction(
                StopTransactionRequest(reason=reason), timeout=EVSE_CALL_S
            )
        except CommandError as error:
            log.warning("EVSE %d did not stop its transaction: %s", evse_id, error)
            return False


class _SeqNo(msgspec.Struct):
    seqNo: int  # noqa: N815 - as on the wire


BLOCK = TransactionsBlock
