"""Test-only modules that stand where an EVSE and a display would be, hosted by the real runtime.

The energy probe is an EVSE's energy side and nothing else: it publishes an EVSE node's request
(its state, maximum current, committed current and applied grant), and keeps each enforced
limit in a :class:`~evstack.modules.EnergyManager.validity.LimitWindow`, exactly as an
EvseManager must.
The EVSE stand-in is an EVSE's session side reduced to what Auth and SessionStore see: plug-in,
authorization, transaction and unplug events, with a meter that counts on. The status watcher
subscribes to Auth's token statuses the way a display would.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Coroutine
from typing import Any, ClassVar

import msgspec

from evstack.generated.interfaces.auth import AuthClient
from evstack.generated.interfaces.energy import EnergyImplBase
from evstack.generated.interfaces.evse_manager import EvseManagerClient, EvseManagerImplBase
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    ProvidedIdToken,
    TokenValidationStatusMessage,
    ValidationResult,
)
from evstack.generated.types.energy import (
    EnergyFlowRequest,
    EnforcedLimits,
    EvseState,
    LimitsReq,
    NodeType,
    NumberWithSource,
    ScheduleReqEntry,
)
from evstack.generated.types.evse_manager import (
    Connector,
    EnableDisableSource,
    Evse,
    Limits,
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
from evstack.generated.types.units import Energy
from evstack.modules.EnergyManager.validity import LimitWindow
from evstack.modules.EvseManager.energy import issued_ago_s
from evstack.runtime import ModuleBase, ProvidedSpec, RequirementSpec
from evstack.runtime.clock import ScaledClock

INSTANCES: dict[str, ModuleBase] = {}
_ARRIVED: dict[str, asyncio.Event] = {}


def _register(module: ModuleBase) -> None:
    INSTANCES[module.module_id] = module
    _ARRIVED.setdefault(module.module_id, asyncio.Event()).set()


async def instance(module_id: str) -> ModuleBase:
    await _ARRIVED.setdefault(module_id, asyncio.Event()).wait()
    return INSTANCES[module_id]


class NoConfig(msgspec.Struct, frozen=True):
    pass


class EnergyProbeConfig(msgspec.Struct, frozen=True):
    max_amps: float = 32.0
    state: str = "Charging"
    hung: bool = False  # never answers enforce_limits, like a stuck EVSE
    delay_s: float = 0.0  # answers enforce_limits this late, like an EVSE on a loaded machine


class _EvseNode(EnergyImplBase):
    def __init__(self, probe: EnergyProbe) -> None:
        self._probe = probe

    async def handle_enforce_limits(self, value: EnforcedLimits) -> None:
        self._probe.calls_in_flight += 1
        self._probe.most_calls_in_flight = max(
            self._probe.most_calls_in_flight, self._probe.calls_in_flight
        )
        try:
            if self._probe.config.hung:
                await asyncio.Event().wait()
            await asyncio.sleep(self._probe.config.delay_s)
        finally:
            self._probe.calls_in_flight -= 1
        self._probe.enforce(value)


class EnergyProbe(ModuleBase):
    MODULE = "EnergyProbe"
    CONFIG = EnergyProbeConfig
    PROVIDES: ClassVar = {"energy_grid": ProvidedSpec("energy_grid", _EvseNode, NoConfig)}
    config: EnergyProbeConfig

    def create_energy_grid(self, config: NoConfig) -> EnergyImplBase:
        self.grid = _EvseNode(self)
        return self.grid

    async def init(self) -> None:
        self.window = LimitWindow(ScaledClock().now)
        self.state = EvseState(self.config.state)
        self.grants: list[float] = []
        self.calls_in_flight = 0
        self.most_calls_in_flight = 0
        _register(self)

    async def ready(self) -> None:
        self._ticker = asyncio.create_task(self._request_forever())

    def enforce(self, limits: EnforcedLimits) -> None:
        assert limits.uuid == self.module_id, f"{limits.uuid} routed to {self.module_id}"
        amps = limits.limits_root_side.ac_max_current_A
        age = 0.0 if limits.grant is None else issued_ago_s(limits, speedup=1.0)
        self.window.apply(amps.value if amps else 0.0, limits.valid_for, limits.grant, age)
        self.grants.append(self.window.amps)

    async def set_state(self, state: EvseState) -> None:
        self.state = state
        await self._publish(priority=True)

    def go_quiet(self) -> None:
        """Stop sending requests, as a crashed EVSE would."""
        self._ticker.cancel()

    async def _request_forever(self) -> None:
        while True:
            await self._publish(priority=False)
            await asyncio.sleep(0.2)

    async def _publish(self, *, priority: bool) -> None:
        limits = LimitsReq(
            ac_max_current_A=NumberWithSource(value=self.config.max_amps, source=self.module_id),
            ac_min_current_A=NumberWithSource(value=6.0, source=self.module_id),
        )
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        await self.grid.publish_energy_flow_request(
            EnergyFlowRequest(
                uuid=self.module_id,
                node_type=NodeType.Evse,
                evse_state=self.state,
                priority_request=priority,
                children=[],
                # No EV behind it: what it may let one draw is what it was granted.
                ac_committed_current_A=self.window.amps,
                applied_grant=self.window.applied_grant,
                schedule_import=[
                    ScheduleReqEntry(timestamp=now, limits_to_root=limits, limits_to_leaves=limits)
                ],
                schedule_export=[],
            )
        )

    async def amps_become(self, amps: float, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the valid limit is ``amps``; fail with what it was instead."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.window.amps != amps:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"{self.module_id} has {self.window.amps} A, wanted {amps} A"
                    f" (last grants {self.grants[-5:]})"
                )
            await asyncio.sleep(0.05)


class StatusWatcher(ModuleBase):
    MODULE = "StatusWatcher"
    CONFIG = NoConfig
    REQUIRES: ClassVar = {"auth": RequirementSpec("auth", AuthClient, 1, 1)}

    async def init(self) -> None:
        self.statuses: asyncio.Queue[TokenValidationStatusMessage] = asyncio.Queue()
        client = self._requirement("auth")[0]
        assert isinstance(client, AuthClient)
        client.subscribe_token_validation_status(self.statuses.put_nowait)
        _register(self)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class EvseStandInConfig(msgspec.Struct, frozen=True):
    hung: bool = False  # never answers authorize_response, like a stuck EVSE


class _Sessions(EvseManagerImplBase):
    def __init__(self, evse: EvseStandIn) -> None:
        self._evse = evse

    async def handle_get_evse(self) -> Evse:
        return Evse(id=1, connectors=[Connector(id=1)])

    async def handle_enable_disable(
        self, connector_id: int, cmd_source: EnableDisableSource
    ) -> bool:
        return True

    async def handle_authorize_response(
        self, provided_token: ProvidedIdToken, validation_result: ValidationResult
    ) -> None:
        if self._evse.config.hung:
            await asyncio.Event().wait()
        assert validation_result.authorization_status == AuthorizationStatus.Accepted
        self._evse.authorizations.put_nowait(provided_token.id_token.value)
        self._evse.spawn(self._evse.start_transaction(provided_token))

    async def handle_withdraw_authorization(self) -> None:
        self._evse.withdrawals += 1

    async def handle_pause_charging(self) -> bool:
        return False

    async def handle_resume_charging(self) -> bool:
        return False

    async def handle_stop_transaction(self, request: StopTransactionRequest) -> bool:
        if self._evse.transaction is None:
            return False
        self._evse.spawn(self._evse.finish_transaction(request.reason))
        return True

    async def handle_get_transactions(self) -> list[TransactionRecord]:
        return list(self._evse.records.values())


class EvseStandIn(ModuleBase):
    """Publishes the session events a real EvseManager would, on the test's command."""

    MODULE = "EvseStandIn"
    CONFIG = EvseStandInConfig
    PROVIDES: ClassVar = {"evse": ProvidedSpec("evse", _Sessions, NoConfig)}
    config: EvseStandInConfig

    def create_evse(self, config: NoConfig) -> EvseManagerImplBase:
        self.sessions = _Sessions(self)
        return self.sessions

    async def init(self) -> None:
        self.authorizations: asyncio.Queue[str] = asyncio.Queue()
        self.withdrawals = 0
        self.session: str | None = None
        self.transaction: ProvidedIdToken | None = None
        self.meter_wh = 1000.0
        self.records: dict[str, TransactionRecord] = {}  # by session, as get_transactions tells
        self._tasks: set[asyncio.Task[None]] = set()
        _register(self)

    def spawn(self, step: Coroutine[Any, Any, None]) -> None:
        """Act after the command's reply, as an EVSE reacts after accepting a command."""
        task = asyncio.create_task(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _meter(self) -> Powermeter:
        return Powermeter(timestamp=_now(), energy_Wh_import=Energy(total=self.meter_wh))

    async def _publish(self, event: SessionEventEnum, **data: Any) -> None:
        assert self.session is not None
        message = SessionEvent(uuid=self.session, timestamp=_now(), event=event, **data)
        await self.sessions.publish_session_event(message)

    async def plug_in(self) -> None:
        self.session = uuid.uuid4().hex
        started = SessionStarted(reason=StartSessionReason.EVConnected, meter_value=self._meter())
        await self._publish(SessionEventEnum.SessionStarted, session_started=started)

    async def start_transaction(self, token: ProvidedIdToken) -> None:
        self.transaction = token
        started = TransactionStarted(id_tag=token, meter_value=self._meter())
        assert self.session is not None
        self.records[self.session] = TransactionRecord(
            session_uuid=self.session,
            started_at=_now(),
            transaction_started=started,
            meter_value=self._meter(),
        )
        await self._publish(SessionEventEnum.TransactionStarted, transaction_started=started)

    def charge(self, wh: float) -> None:
        self.meter_wh += wh
        record = self.records.get(self.session or "")
        if record is not None and record.transaction_finished is None:
            # As an EvseManager journals every reading of its running transaction.
            self.records[record.session_uuid] = msgspec.structs.replace(
                record, meter_value=self._meter()
            )

    async def publish_reading(self) -> None:
        await self.sessions.publish_powermeter(self._meter())

    async def finish_transaction(self, reason: StopTransactionReason) -> None:
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
        if self.transaction is not None:
            await self.finish_transaction(StopTransactionReason.EVDisconnected)
        finished = SessionFinished(meter_value=self._meter())
        await self._publish(SessionEventEnum.SessionFinished, session_finished=finished)
        self.session = None


class LimitsWatcher(ModuleBase):
    """Records the current each connected EvseManager offers, as a dashboard would."""

    MODULE = "LimitsWatcher"
    CONFIG = NoConfig
    REQUIRES: ClassVar = {"evse": RequirementSpec("evse", EvseManagerClient, 1, 128)}

    async def init(self) -> None:
        self.offered: dict[str, list[float]] = {}
        for client in self._requirement("evse"):
            assert isinstance(client, EvseManagerClient)
            client.subscribe_limits(self._on_limits)
        _register(self)

    def _on_limits(self, limits: Limits) -> None:
        history = self.offered.setdefault(limits.uuid or "?", [])
        if not history or history[-1] != limits.max_current:
            history.append(limits.max_current)

    async def offers(self, evse: str, amps: float, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until ``evse`` has offered ``amps`` at some point."""
        deadline = asyncio.get_running_loop().time() + timeout
        while amps not in self.offered.get(evse, []):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{evse} never offered {amps} A: {self.offered}")
            await asyncio.sleep(0.05)
