"""A test-only EVSE for the station's cases that need session events and nothing of a real
charger: it publishes what an EvseManager would (plug-in, transaction, unplug, readings) when
the test says so, answers `evse_manager` commands as one would, and records them."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Coroutine
from typing import Any, ClassVar

import msgspec

from evstack.generated.interfaces.evse_manager import EvseManagerImplBase
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.evse_manager import (
    Connector,
    EnableDisableSource,
    Evse,
    SessionEvent,
    SessionEventEnum,
    SessionFinished,
    SessionStarted,
    StartSessionReason,
    StopTransactionReason,
    StopTransactionRequest,
    TransactionFinished,
    TransactionRecord,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.generated.types.units import Energy, Power
from evstack.runtime import ModuleBase, ProvidedSpec

_INSTANCES: dict[str, EvseStandIn] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


async def evse_stand_in(module_id: str) -> EvseStandIn:
    """The stand-in of that module id, once it has initialised."""
    await asyncio.wait_for(_ARRIVED.setdefault(module_id, asyncio.Event()).wait(), 10)
    return _INSTANCES[module_id]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def card(value: str = "AABBCCDD") -> ProvidedIdToken:
    return ProvidedIdToken(
        id_token=IdToken(value=value, type=IdTokenType.ISO14443),
        authorization_type=AuthorizationType.RFID,
    )


class NoConfig(msgspec.Struct, frozen=True):
    pass


class _Evse(EvseManagerImplBase):
    def __init__(self, stand_in: EvseStandIn) -> None:
        self._evse = stand_in

    async def handle_get_evse(self) -> Evse:
        return Evse(id=1, connectors=[Connector(id=1)])

    async def handle_enable_disable(
        self, connector_id: int, cmd_source: EnableDisableSource
    ) -> bool:
        enabled = cmd_source.enable_state != "Disable"
        self._evse.enabled = enabled
        self._evse.enable_calls.put_nowait(enabled)
        return enabled

    async def handle_authorize_response(
        self, provided_token: ProvidedIdToken, validation_result: ValidationResult
    ) -> None:
        self._evse.spawn(self._evse.start_transaction(provided_token))

    async def handle_withdraw_authorization(self) -> None:
        pass

    async def handle_pause_charging(self) -> bool:
        return False

    async def handle_resume_charging(self) -> bool:
        return False

    async def handle_stop_transaction(self, request: StopTransactionRequest) -> bool:
        if self._evse.transaction is None:
            return False
        self._evse.stops.put_nowait(request.reason)
        self._evse.spawn(self._evse.finish_transaction(request.reason))
        return True

    async def handle_get_transactions(self) -> list[TransactionRecord]:
        return list(self._evse.records.values())


class EvseStandIn(ModuleBase):
    """Publishes an EvseManager's session events on the test's command."""

    MODULE = "EvseStandIn"
    CONFIG = NoConfig
    PROVIDES: ClassVar = {"evse": ProvidedSpec("evse", _Evse, NoConfig)}

    def create_evse(self, config: NoConfig) -> EvseManagerImplBase:
        self.api = _Evse(self)
        return self.api

    async def init(self) -> None:
        self.enabled = True
        self.enable_calls: asyncio.Queue[bool] = asyncio.Queue()
        self.stops: asyncio.Queue[StopTransactionReason] = asyncio.Queue()
        self.session: str | None = None
        self.transaction: ProvidedIdToken | None = None
        self.meter_wh = 1000.0
        self.records: dict[str, TransactionRecord] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        _INSTANCES[self.module_id] = self
        _ARRIVED.setdefault(self.module_id, asyncio.Event()).set()

    async def shutdown(self) -> None:
        _INSTANCES.pop(self.module_id, None)
        _ARRIVED.pop(self.module_id, None)

    def spawn(self, step: Coroutine[Any, Any, None]) -> None:
        """Act after the command's reply, as an EVSE does."""
        task = asyncio.create_task(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _meter(self) -> Powermeter:
        return Powermeter(
            timestamp=_now(), energy_Wh_import=Energy(total=self.meter_wh), power_W=Power(total=0)
        )

    async def _publish(self, event: SessionEventEnum, **data: Any) -> None:
        assert self.session is not None
        message = SessionEvent(uuid=self.session, timestamp=_now(), event=event, **data)
        await self.api.publish_session_event(message)

    async def plug_in(self) -> None:
        self.session = uuid.uuid4().hex
        started = SessionStarted(reason=StartSessionReason.EVConnected, meter_value=self._meter())
        await self._publish(SessionEventEnum.SessionStarted, session_started=started)

    async def start_transaction(self, token: ProvidedIdToken | None = None) -> None:
        """Authorized with an EV plugged in: EvseManager's transaction starts."""
        if self.session is None:
            await self.plug_in()
        assert self.session is not None
        token = token or card()
        self.transaction = token
        started = TransactionStarted(id_tag=token, meter_value=self._meter())
        self.records[self.session] = TransactionRecord(
            session_uuid=self.session,
            started_at=_now(),
            transaction_started=started,
            meter_value=self._meter(),
        )
        await self._publish(SessionEventEnum.TransactionStarted, transaction_started=started)
        await self._publish(SessionEventEnum.ChargingStarted)

    async def finish_transaction(
        self, reason: StopTransactionReason = StopTransactionReason.Local
    ) -> None:
        if self.transaction is None:
            return
        self.transaction = None
        finished = TransactionFinished(meter_value=self._meter(), reason=reason)
        assert self.session is not None
        self.records[self.session] = msgspec.structs.replace(
            self.records[self.session],
            meter_value=finished.meter_value,
            finished_at=_now(),
            transaction_finished=finished,
        )
        await self._publish(SessionEventEnum.TransactionFinished, transaction_finished=finished)

    async def unplug(self) -> None:
        if self.session is None:
            return
        await self.finish_transaction(StopTransactionReason.EVDisconnected)
        finished = SessionFinished(meter_value=self._meter())
        await self._publish(SessionEventEnum.SessionFinished, session_finished=finished)
        self.session = None
