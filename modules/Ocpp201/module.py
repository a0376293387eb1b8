"""The Ocpp201 module: an OCPP 2.0.1 charging station on the bus (docs/design/ocpp-station.md).

The module is a shell: it builds the device model from its seed, the `Station` core with its
link, boot state and outbox sender, and the functional blocks (`blocks.py`), and turns what the
EVSEs publish into the station's events. Everything OCPP happens in the blocks.

EVSE ids are the positions of the `evse_manager` connections, counted from 1 (as in Auth);
each EVSE's connectors are numbered from 1 as its `get_evse` lists them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from evstack.generated.interfaces.auth_token_provider import AuthTokenProviderImplBase
from evstack.generated.interfaces.auth_token_validator import AuthTokenValidatorImplBase
from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.modules.ocpp201 import (
    Ocpp201AuthTokenProviderConfig,
    Ocpp201AuthTokenValidatorConfig,
    Ocpp201ModuleBase,
)
from evstack.generated.types.authorization import (
    AuthorizationStatus,
    ProvidedIdToken,
    ValidationResult,
)
from evstack.generated.types.evse_manager import SessionEvent
from evstack.generated.types.powermeter import Powermeter
from evstack.ocpp.outbox import Outbox
from evstack.runtime import CommandError
from evstack.runtime.state import ModuleState, absorb_databases

from .availability import Availability
from .blocks import Block, load_blocks
from .boot import Boot
from .device_model import DEFAULT_SEED, DeviceModel, load_seed, ref
from .device_model.service import DeviceModelService
from .link import MESSAGE_TIMEOUT, SECURITY_PROFILE, CredentialFiles, Link, NetworkProfiles
from .provisioning import Provisioning
from .sender import Sender
from .station import Evse, Station

T = TypeVar("T")
# Wall seconds an EVSE gets to describe itself at start-up.
GET_EVSE_TIMEOUT_S = 5.0
# Wall seconds the station may spend at shutdown sending what it owes (of the runtime's 3 s).
FLUSH_S = 1.5
PASSWORD = ref("SecurityCtrlr", "BasicAuthPassword")
PRIORITY = ref("OCPPCommCtrlr", "NetworkConfigurationPriority")
# The station's one SQLite database is <state_dir>/station.db; its stores once had a file
# each, whose tables a station started after an update moves into it (nothing is lost).
STATE_NAME = "station"
FORMER_FILES = (
    "device_model.db",
    "authorization.db",
    "security_log.db",
    "transactions.db",
    "outbox.db",
)
CORE: tuple[type[Block], ...] = (DeviceModelService, Provisioning, Availability)


async def in_task(work: Awaitable[T]) -> T:
    """Run `work` in a task of its own. The runtime starts handlers eagerly, outside any task,
    and what the blocks do may need one (`asyncio.timeout`, the RPC layer's message timeout);
    the listeners' lock keeps the events in order."""
    return await asyncio.ensure_future(work)


class _Validator(AuthTokenValidatorImplBase):
    def __init__(self, module: Ocpp201) -> None:
        self._module = module

    async def handle_validate_token(self, provided_token: ProvidedIdToken) -> ValidationResult:
        validate = self._module.station.validate_token
        if validate is None:  # no authorization block: the CSMS's word is not known here
            return ValidationResult(authorization_status=AuthorizationStatus.Unknown)
        return await in_task(validate(provided_token))


class _Provider(AuthTokenProviderImplBase):
    pass


class Ocpp201(Ocpp201ModuleBase):
    station: Station

    def create_auth_token_validator(
        self, config: Ocpp201AuthTokenValidatorConfig
    ) -> AuthTokenValidatorImplBase:
        return _Validator(self)

    def create_auth_token_provider(
        self, config: Ocpp201AuthTokenProviderConfig
    ) -> AuthTokenProviderImplBase:
        self._provider = _Provider()
        return self._provider

    async def init(self) -> None:
        c = self.config
        clock = self.clock
        evses = [await self._describe(i, client) for i, client in enumerate(self.r_evse_manager, 1)]
        seed = Path(c.device_model_seed) if c.device_model_seed else DEFAULT_SEED
        self._state = ModuleState(self.state_dir, STATE_NAME)
        db = self._state.share()
        absorb_databases(db, [self.state_dir / name for name in FORMER_FILES])
        model = DeviceModel(db, load_seed(seed, [evse.connectors for evse in evses]))
        profiles = NetworkProfiles(self._state)
        if not profiles.all():
            self._first_start(model, profiles)
        outbox = Outbox(db, {}, model.get_float(MESSAGE_TIMEOUT))
        self.station = station = Station(
            station_id=c.station_id,
            model=model,
            evses=evses,
            clock=clock,
            outbox=outbox,
            state=self._state,
            state_dir=self.state_dir,
            start_task=self.start_task,
        )
        station.publish_token = self._provider.publish_provided_token
        files = CredentialFiles(
            csms_root_certificates=Path(c.csms_root_certificates)
            if c.csms_root_certificates
            else None,
            station_certificate=Path(c.station_certificate) if c.station_certificate else None,
            station_key=Path(c.station_key) if c.station_key else None,
        )
        station.link = Link(station, profiles, self._state, files)
        station.boot = Boot(station)
        self._sender = Sender(station)
        self.blocks = load_blocks(station, CORE)
        for evse in evses:
            client = evse.client
            client.subscribe_session_event(functools.partial(self._on_session_event, evse.id))
            client.subscribe_powermeter(functools.partial(self._on_powermeter, evse.id))
            client.subscribe_ready(functools.partial(self._on_evse_ready, evse.id))
            client.subscribe_evse_id(functools.partial(self._on_evse_id, evse))

    async def _describe(self, evse_id: int, client: EvseManagerClient) -> Evse:
        try:
            described = await client.call_get_evse(timeout=GET_EVSE_TIMEOUT_S)
            connectors = len(described.connectors)
        except CommandError as error:
            self.log.warning("EVSE %d did not describe itself (%s): one connector", evse_id, error)
            connectors = 1
        evse = Evse(evse_id, client, connectors)
        try:
            records = await client.call_get_transactions(timeout=GET_EVSE_TIMEOUT_S)
        except CommandError as error:
            self.log.warning("EVSE %d did not list its transactions: %s", evse_id, error)
            records = []
        for record in records:
            if record.transaction_finished is None:  # running: the EVSE is busy
                evse.session = evse.transaction = record.session_uuid
        return evse

    def _first_start(self, model: DeviceModel, profiles: NetworkProfiles) -> None:
        """The config's CSMS, security profile and password, before the CSMS sets its own."""
        c = self.config
        urls = c.csms_url.split()
        timeout = model.get_int(MESSAGE_TIMEOUT)
        for slot, url in enumerate(urls, start=1):
            profiles.put(slot, NetworkProfiles.first(url, c.security_profile, timeout))
        model.set(PRIORITY, ",".join(str(slot) for slot in range(1, len(urls) + 1)))
        model.set(SECURITY_PROFILE, c.security_profile)
        if c.basic_auth_password:
            model.set(PASSWORD, c.basic_auth_password)

    async def ready(self) -> None:
        station = self.station
        for block in self.blocks:
            await block.start()
        station.keep_running(self._sender.run())
        assert station.boot is not None
        assert station.link is not None
        station.boot.start()
        station.link.start()

    async def shutdown(self) -> None:
        for block in reversed(self.blocks):
            try:
                await block.stop()
            except Exception:
                self.log.exception("%s did not stop cleanly", type(block).__name__)
        await self.station.close(FLUSH_S)
        self._state.close()  # the one connection every store of the station used

    # -- the EVSEs' news, to the blocks --------------------------------------------------------

    async def _on_session_event(self, evse_id: int, event: SessionEvent) -> None:
        self.station.evses[evse_id - 1].track(event)
        await in_task(self.station.session_events.emit(evse_id, event))

    async def _on_powermeter(self, evse_id: int, reading: Powermeter) -> None:
        await in_task(self.station.readings.emit(evse_id, reading))

    async def _on_evse_ready(self, evse_id: int, ready: bool) -> None:
        await in_task(self.station.evse_readiness.emit(evse_id, ready))

    def _on_evse_id(self, evse: Evse, name: str) -> None:
        evse.evse_id = name
