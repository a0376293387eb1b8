"""The OCPP 2.0.1 station (modules/Ocpp201) built as its module builds it, without the MQTT
runtime around it, for the station benchmarks: the device model, outbox and state in SQLite,
every block, the link, boot and sender; EVSEs whose commands answer at once and whose news
the benchmark feeds in (`charge`, `read`). Not used by the station itself.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)
from evstack.generated.types.evse_manager import (
    SessionEvent,
    SessionEventEnum,
    SessionStarted,
    StartSessionReason,
    TransactionRecord,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.generated.types.units import Current, Energy, Power
from evstack.modules.Ocpp201.blocks import Block, load_blocks
from evstack.modules.Ocpp201.boot import Boot
from evstack.modules.Ocpp201.device_model import DEFAULT_SEED, DeviceModel, load_seed, ref
from evstack.modules.Ocpp201.link import (
    MESSAGE_TIMEOUT,
    SECURITY_PROFILE,
    CredentialFiles,
    Link,
    NetworkProfiles,
)
from evstack.modules.Ocpp201.module import CORE
from evstack.modules.Ocpp201.sender import Sender
from evstack.modules.Ocpp201.station import Evse, Station
from evstack.ocpp.outbox import Outbox
from evstack.runtime.clock import ScaledClock
from evstack.runtime.state import ModuleState

PASSWORD = "evstack-bench-password-0123"


class QuietEvse:
    """An EvseManager client whose commands answer at once; nothing subscribes for real."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("subscribe_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    async def call_get_transactions(self, **_: Any) -> list[TransactionRecord]:
        return []

    async def call_stop_transaction(self, *_: Any, **__: Any) -> bool:
        return True

    async def call_enable_disable(self, *_: Any, **__: Any) -> bool:
        return True


@dataclass
class BuiltStation:
    station: Station
    blocks: list[Block]
    sender: Sender
    state: ModuleState
    tasks: set[asyncio.Task[None]]  # the blocks' `start_task`s, cancelled first at `stop`
    meter_wh: float = 0.0

    async def start(self) -> None:
        """As the module's `ready()`: blocks, sender, boot and link."""
        for block in self.blocks:
            await block.start()
        station = self.station
        station.keep_running(self.sender.run())
        assert station.boot is not None
        assert station.link is not None
        station.boot.start()
        station.link.start()

    async def stop(self) -> None:
        """As the runtime stops the module: its tasks first, then its `shutdown()`."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for block in reversed(self.blocks):
            await block.stop()
        await self.station.close(0.0)
        self.state.close()

    async def _event(self, kind: SessionEventEnum, session: str, **data: Any) -> None:
        event = SessionEvent(uuid=session, timestamp=_now(), event=kind, connector_id=1, **data)
        self.station.evses[0].track(event)
        await self.station.session_events.emit(1, event)

    async def charge(self, token: str) -> None:
        """EVSE 1: an EV plugged in, `token` authorized, charging."""
        session = uuid.uuid4().hex
        started = SessionStarted(reason=StartSessionReason.EVConnected, meter_value=self.meter())
        await self._event(SessionEventEnum.SessionStarted, session, session_started=started)
        provided = ProvidedIdToken(
            id_token=IdToken(value=token, type=IdTokenType.ISO14443),
            authorization_type=AuthorizationType.RFID,
        )
        tx = TransactionStarted(id_tag=provided, meter_value=self.meter())
        await self._event(SessionEventEnum.TransactionStarted, session, transaction_started=tx)
        await self._event(SessionEventEnum.ChargingStarted, session)

    def meter(self) -> Powermeter:
        return Powermeter(
            timestamp=_now(),
            energy_Wh_import=Energy(total=round(self.meter_wh, 3)),
            power_W=Power(total=11000.0),
            current_A=Current(L1=16.0, L2=16.0, L3=16.0),
        )

    async def read(self, wh: float) -> None:
        """EVSE 1's meter counts `wh` more and says so."""
        self.meter_wh += wh
        await self.station.readings.emit(1, self.meter())


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def build_station(
    folder: Path,
    station_id: str,
    url: str,
    settings: dict[str, str | int | float | bool] | None = None,
) -> BuiltStation:
    """A station of one EVSE for `url` (security profile 1), its state in `folder`; `settings`
    are device model values by "Component.Variable" (before it starts)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = ModuleState(folder, "station")  # the station's one database, as the module has it
    db = state.share()
    model = DeviceModel(db, load_seed(DEFAULT_SEED, [1]))
    for name, value in (settings or {}).items():
        component, _, variable = name.partition(".")
        model.set(ref(component, variable), value)
    profiles = NetworkProfiles(state)
    profiles.put(1, NetworkProfiles.first(url, 1, model.get_int(MESSAGE_TIMEOUT)))
    model.set(ref("OCPPCommCtrlr", "NetworkConfigurationPriority"), "1")
    model.set(SECURITY_PROFILE, 1)
    model.set(ref("SecurityCtrlr", "BasicAuthPassword"), PASSWORD)
    outbox = Outbox(db, {}, model.get_float(MESSAGE_TIMEOUT))
    tasks: set[asyncio.Task[None]] = set()

    def start_task(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    station = Station(
        station_id=station_id,
        model=model,
        evses=[Evse(1, cast(EvseManagerClient, QuietEvse()), 1)],
        clock=ScaledClock(1.0),
        outbox=outbox,
        state=state,
        state_dir=folder,
        start_task=start_task,
    )

    async def publish_token(token: ProvidedIdToken) -> None:
        return None

    station.publish_token = publish_token
    station.link = Link(station, profiles, state, CredentialFiles())
    station.boot = Boot(station)
    return BuiltStation(station, load_blocks(station, CORE), Sender(station), state, tasks)
