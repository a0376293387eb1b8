"""A charger for the station's transaction, authorization and remote control cases.

The station (the Ocpp201 module) runs under a manager of its own, so a test can stop and start
it over the same state folder as a reboot would; Auth and test stand-ins run under another:

- `TxEvse`, an EvseManager's session side on the test's command: plug-in, authorization
  (Auth's `authorize_response`, or a card presented before the EV), charging, pauses, stops,
  unplug, meter readings (the `powermeter` var), and the journal `get_transactions` answers;
- `CardReader`, a token provider the test presents cards with.

Device model values a case needs are written before the station starts (`Rig.preset`), as the
OCTT's configuration state is set before a case runs.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from evstack.generated.interfaces.auth_token_provider import AuthTokenProviderImplBase
from evstack.generated.interfaces.evse_manager import EvseManagerImplBase
from evstack.generated.types.authorization import (
    AuthorizationStatus,
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
from evstack.generated.types.units import Current, Energy, Power
from evstack.modules.Ocpp201.device_model import DEFAULT_SEED, DeviceModel, load_seed, ref
from evstack.modules.Ocpp201.module import STATE_NAME, Ocpp201
from evstack.runtime import ModuleBase, ProvidedSpec
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan
from evstack.runtime.state import ModuleState

from .csms import Csms

SPEEDUP = 20.0  # simulated seconds per wall second, in every module of the rig
_INSTANCES: dict[str, ModuleBase] = {}
_ARRIVED: dict[str, asyncio.Event] = {}
E = SessionEventEnum


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def card(value: str = "AABBCCDD", kind: IdTokenType = IdTokenType.ISO14443) -> ProvidedIdToken:
    return ProvidedIdToken(
        id_token=IdToken(value=value, type=kind), authorization_type=AuthorizationType.RFID
    )


async def _instance(module_id: str) -> ModuleBase:
    await asyncio.wait_for(_ARRIVED.setdefault(module_id, asyncio.Event()).wait(), 10)
    return _INSTANCES[module_id]


def _arrived(module: ModuleBase) -> None:
    _INSTANCES[module.module_id] = module
    _ARRIVED.setdefault(module.module_id, asyncio.Event()).set()


class NoConfig(msgspec.Struct, frozen=True):
    pass


class _EvseApi(EvseManagerImplBase):
    def __init__(self, evse: TxEvse) -> None:
        self._evse = evse

    async def handle_get_evse(self) -> Evse:
        return Evse(id=1, connectors=[Connector(id=1)])

    async def handle_enable_disable(
        self, connector_id: int, cmd_source: EnableDisableSource
    ) -> bool:
        return cmd_source.enable_state != "Disable"

    async def handle_authorize_response(
        self, provided_token: ProvidedIdToken, validation_result: ValidationResult
    ) -> None:
        if validation_result.authorization_status == AuthorizationStatus.Accepted:
            self._evse.later(self._evse.authorized(provided_token))

    async def handle_withdraw_authorization(self) -> None:
        evse = self._evse
        if evse.running is not None:
            evse.later(evse.stop(StopTransactionReason.DeAuthorized))
        elif evse.token is not None:
            evse.token = None
            evse.later(evse.publish(E.Deauthorized))

    async def handle_pause_charging(self) -> bool:
        return False

    async def handle_resume_charging(self) -> bool:
        return False

    async def handle_stop_transaction(self, request: StopTransactionRequest) -> bool:
        evse = self._evse
        if evse.running is None:
            return False
        evse.stops.append(str(request.reason))
        evse.later(evse.stop(request.reason))
        return True

    async def handle_get_transactions(self) -> list[TransactionRecord]:
        return list(self._evse.journal.values())


class TxEvse(ModuleBase):
    """An EvseManager's session side; see the module's doc."""

    MODULE = "TxEvse"
    CONFIG = NoConfig
    PROVIDES: ClassVar = {"evse": ProvidedSpec("evse", _EvseApi, NoConfig)}

    def create_evse(self, config: NoConfig) -> EvseManagerImplBase:
        self.api = _EvseApi(self)
        return self.api

    async def init(self) -> None:
        self.session: str | None = None
        self.token: ProvidedIdToken | None = None
        self.running: ProvidedIdToken | None = None
        self.charging = False
        self.meter_wh = 1000.0
        self.amps = 0.0
        self.stops: list[str] = []
        self.journal: dict[str, TransactionRecord] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        _arrived(self)

    async def ready(self) -> None:
        await self.api.publish_ready(True)

    def later(self, step: Any) -> None:
        """Act after the command's reply, as an EVSE does."""
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def meter(self) -> Powermeter:
        return Powermeter(
            timestamp=_now(),
            energy_Wh_import=Energy(total=round(self.meter_wh, 3)),
            power_W=Power(total=self.amps * 230.0 * 3),
            current_A=Current(L1=self.amps, L2=self.amps, L3=self.amps),
        )

    async def publish(self, event: SessionEventEnum, **data: Any) -> None:
        assert self.session is not None
        await self.api.publish_session_event(
            SessionEvent(uuid=self.session, timestamp=_now(), event=event, connector_id=1, **data)
        )

    async def read(self, wh: float = 0.0) -> None:
        """The meter counts `wh` more and says so."""
        self.meter_wh += wh
        if self.running is not None and self.session is not None:
            record = self.journal[self.session]
            self.journal[self.session] = msgspec.structs.replace(record, meter_value=self.meter())
        await self.api.publish_powermeter(self.meter())

    async def plug_in(self) -> None:
        self.session = uuid.uuid4().hex
        started = SessionStarted(reason=StartSessionReason.EVConnected, meter_value=self.meter())
        await self.publish(E.SessionStarted, session_started=started)
        if self.token is None:
            await self.publish(E.AuthRequired)
        else:
            await self._start_transaction(self.token)

    async def authorized(self, token: ProvidedIdToken) -> None:
        if self.running is not None:
            return
        self.token = token
        if self.session is not None:
            await self.publish(E.Authorized)
            await self._start_transaction(token)

    async def _start_transaction(self, token: ProvidedIdToken) -> None:
        assert self.session is not None
        self.running, self.token = token, None
        started = TransactionStarted(id_tag=token, meter_value=self.meter())
        self.journal[self.session] = TransactionRecord(
            session_uuid=self.session,
            started_at=_now(),
            transaction_started=started,
            meter_value=self.meter(),
        )
        await self.publish(E.TransactionStarted, transaction_started=started)
        await self.publish(E.PrepareCharging)

    async def charge(self, amps: float = 16.0) -> None:
        """The EV draws current (ChargingStarted, or ChargingResumed after a pause)."""
        self.amps = amps
        await self.publish(E.ChargingResumed if self.charging else E.ChargingStarted)
        self.charging = True

    async def pause_ev(self) -> None:
        self.amps = 0.0
        await self.publish(E.ChargingPausedEV)

    async def stop(self, reason: StopTransactionReason = StopTransactionReason.Local) -> None:
        if self.running is None:
            return
        await self.publish(E.StoppingCharging)
        await self._finish(reason)

    async def _finish(self, reason: StopTransactionReason) -> None:
        assert self.session is not None
        self.running, self.amps, self.charging = None, 0.0, False
        finished = TransactionFinished(meter_value=self.meter(), reason=reason)
        self.journal[self.session] = msgspec.structs.replace(
            self.journal[self.session],
            meter_value=finished.meter_value,
            finished_at=_now(),
            transaction_finished=finished,
        )
        await self.publish(E.ChargingFinished)
        await self.publish(E.TransactionFinished, transaction_finished=finished)

    async def unplug(self) -> None:
        if self.session is None:
            return
        if self.running is not None:
            await self._finish(StopTransactionReason.EVDisconnected)
        await self.publish(
            E.SessionFinished, session_finished=SessionFinished(meter_value=self.meter())
        )
        self.session = None


class _Reader(AuthTokenProviderImplBase):
    pass


class CardReader(ModuleBase):
    """A token provider: `present` a card as a reader would."""

    MODULE = "CardReader"
    CONFIG = NoConfig
    PROVIDES: ClassVar = {"main": ProvidedSpec("main", _Reader, NoConfig)}

    def create_main(self, config: NoConfig) -> AuthTokenProviderImplBase:
        self.reader = _Reader()
        return self.reader

    async def init(self) -> None:
        _arrived(self)

    async def present(self, token: ProvidedIdToken) -> None:
        await self.reader.publish_provided_token(token)


class WatchedStation(Ocpp201):
    """The station module, findable by the test (its outbox, its blocks)."""

    async def init(self) -> None:
        await super().init()
        _arrived(self)


def _plan(module_id: str, module_class: str, **plan: Any) -> ModulePlan:
    return ModulePlan(module_id, module_class, **plan)


@dataclass
class Rig:
    """The world around the station, and the station; see the module's doc."""

    broker: BrokerSettings
    prefix: str
    state_dir: Path
    csms: Csms
    evse_count: int = 1
    auth_timeout_s: int = 60
    evses: list[TxEvse] = field(default_factory=list)
    reader: CardReader | None = None
    module: WatchedStation = field(init=False)

    @property
    def station_id(self) -> str:
        return f"{self.prefix}-station"

    def evse_ids(self) -> list[str]:
        return [f"{self.prefix}-evse{n}" for n in range(1, self.evse_count + 1)]

    def preset(self, values: dict[str, str | int | float | bool]) -> None:
        """Device model values the station starts with (the OCTT's configuration state), by
        "Component.Variable" or "Component.Variable[instance]"."""
        folder = self.state_dir / self.station_id
        folder.mkdir(parents=True, exist_ok=True)
        state = ModuleState(folder, STATE_NAME)  # the station's one database
        model = DeviceModel(state.share(), load_seed(DEFAULT_SEED, [1] * self.evse_count))
        try:
            for name, value in values.items():
                component, _, variable = name.partition(".")
                variable, _, instance = variable.partition("[")
                model.set(ref(component, variable, variable_instance=instance[:-1] or None), value)
        finally:
            state.close()

    def _world(self) -> RunPlan:
        evses = [(module_id, "evse") for module_id in self.evse_ids()]
        modules = [_plan(m, f"{__name__}:TxEvse") for m in self.evse_ids()]
        modules.append(_plan(f"{self.prefix}-reader", f"{__name__}:CardReader"))
        modules.append(
            _plan(
                f"{self.prefix}-auth",
                "evstack.modules.Auth.module:Auth",
                config_module={
                    "connection_timeout": self.auth_timeout_s,
                },
                connections={
                    "token_provider": [
                        (f"{self.prefix}-reader", "main"),
                        (self.station_id, "auth_token_provider"),
                    ],
                    "token_validator": [(self.station_id, "auth_token_validator")],
                    "evse_manager": evses,
                },
            )
        )
        return RunPlan(modules, broker=self.broker, prefix=self.prefix, speedup=SPEEDUP)

    def _station(self) -> RunPlan:
        station = _plan(
            self.station_id,
            f"{__name__}:WatchedStation",
            config_module={
                "csms_url": self.csms.url,
                "station_id": "CS001",
                "security_profile": 1,
                "basic_auth_password": "evstack-station-password",
            },
            connections={"evse_manager": [(m, "evse") for m in self.evse_ids()]},
        )
        return RunPlan(
            [station],
            broker=self.broker,
            prefix=self.prefix,
            state_dir=self.state_dir,
            speedup=SPEEDUP,
        )

    @asynccontextmanager
    async def world(self) -> AsyncIterator[Rig]:
        """Auth, the EVSEs and the reader; the station joins with `station()`."""
        async with running(self._world(), name="world", wait_ready=False):
            for module_id in self.evse_ids():
                evse = await _instance(module_id)
                assert isinstance(evse, TxEvse)
                self.evses.append(evse)
            reader = await _instance(f"{self.prefix}-reader")
            assert isinstance(reader, CardReader)
            self.reader = reader
            yield self

    @asynccontextmanager
    async def station(self) -> AsyncIterator[WatchedStation]:
        """The station, from its state folder: a second block is the station rebooted."""
        _ARRIVED.pop(self.station_id, None)
        async with running(self._station(), name="station"):
            station = await _instance(self.station_id)
            assert isinstance(station, WatchedStation)
            self.module = station
            yield station

    async def settled(self) -> None:
        """Until the station owes the CSMS nothing (every TransactionEvent answered)."""
        await until(lambda: self.module.station.outbox.pending() == 0)

    async def present(self, token: ProvidedIdToken) -> None:
        assert self.reader is not None
        await self.reader.present(token)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait, looking every few milliseconds, until `condition()` holds: the station's state
    (its outbox, its link) has no event a test could wait on, so this polls it; wall time
    bounds only a hang."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - see above: nothing to wait on
            await asyncio.sleep(0.01)


async def booted(csms: Csms) -> None:
    """The station is up and Accepted: its connectors' status has been reported."""
    await csms.connected()
    await csms.expect("BootNotification")
    await csms.expect("StatusNotification")


@asynccontextmanager
async def charger(
    broker: BrokerSettings,
    prefix: str,
    state_dir: Path,
    settings: dict[str, str | int | float | bool] | None = None,
    *,
    csms: Csms | None = None,
    **rig: Any,
) -> AsyncIterator[Rig]:
    """A CSMS (`csms`, or a plain one), the world and a booted station, with `settings` in
    its device model."""
    async with csms or Csms() as peer:
        setup = Rig(broker, prefix, state_dir, peer, **rig)
        setup.preset(settings or {})
        async with setup.world(), setup.station():
            await booted(peer)
            yield setup
