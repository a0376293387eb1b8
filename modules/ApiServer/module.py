"""The ApiServer module: the charger's HTTP and WebSocket API, and the SIL dashboard page.

EVSE numbers are the positions of the `evse_manager` connections, counted from 1, as in Auth:
wire both to the EVSEs in the same order, since a start request's token is limited to its
EVSE by that number. The optional connections (energy nodes for current limits, the simulated
boards and EVs) are matched to the EVSEs by position too.

The server listens from `init()` on (so the URL is known, printed and written to `url` in the
state folder before the charger is ready) and serves from `ready()` on.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import msgspec

from evstack.generated.interfaces.auth_token_provider import AuthTokenProviderImplBase
from evstack.generated.modules.api_server import ApiServerModuleBase
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)
from evstack.generated.types.charger_api import (
    ActionResult,
    CurrentLimitRequest,
    EnableRequest,
    SimEvAction,
    SimEvCommand,
    StartSessionRequest,
)
from evstack.generated.types.energy import (
    ExternalLimits,
    LimitsReq,
    NumberWithSource,
    ScheduleReqEntry,
)
from evstack.generated.types.evse_manager import (
    EnableDisableSource,
    StopTransactionReason,
    StopTransactionRequest,
)
from evstack.generated.types.session_history import SessionPage
from evstack.modules.ApiServer.app import Access, CommandFailedError, RateLimiter, create_app
from evstack.modules.ApiServer.live import Live
from evstack.modules.ApiServer.server import HttpServer, bind, is_loopback, url_of
from evstack.modules.ApiServer.tokens import TokenError, TokenStore
from evstack.runtime import CommandError
from evstack.runtime.errors import ConfigurationError

T = TypeVar("T")

# Wall seconds an action waits for the module that carries it out.
COMMAND_TIMEOUT_S = 5.0
# The simulated EV's scripts behind the dashboard's buttons (EvSimulator's language).
_SCRIPTS: dict[SimEvAction, str] = {
    SimEvAction.plug: "plugin;iec_wait_pwr_ready;draw_power_regulated 32,3",
    SimEvAction.unplug: "unplug",
    SimEvAction.pause: "pause",
    SimEvAction.resume: "iec_wait_pwr_ready;draw_power_regulated 32,3",
    SimEvAction.fault: "error_e",
}
# IEC 61851 / OCPP token kinds by where a token came from.
_TOKEN_TYPES = {AuthorizationType.RFID: IdTokenType.ISO14443}


class _TokenProvider(AuthTokenProviderImplBase):
    """Only publishes: the start requests' tokens."""


class ApiServer(ApiServerModuleBase):
    def create_token_provider(self, config: object) -> AuthTokenProviderImplBase:
        self._provider = _TokenProvider()
        return self._provider

    async def init(self) -> None:
        c = self.config
        evses = self.r_evse_manager
        for name, clients in (
            ("external_limits", self.r_external_limits),
            ("ev_board", self.r_ev_board),
            ("ev_control", self.r_ev_control),
            ("ev", self.r_ev),
        ):
            if len(clients) > len(evses):
                raise ConfigurationError(
                    f"{self.module_id}: {len(clients)} {name} connections for {len(evses)} "
                    "EVSEs; they are matched to the EVSEs by position"
                )
        tokens = None
        if c.auth == "off":
            if not is_loopback(c.host):
                raise ConfigurationError(
                    f"{self.module_id}: auth off on {c.host}: without tokens the API may only "
                    "listen on a loopback address (software-in-the-loop configs)"
                )
        else:
            tokens = TokenStore(
                Path(c.tokens_file) if c.tokens_file else self.state_dir / "tokens.json"
            )
            try:
                tokens.load()  # a broken file stops the start, with the reason
            except TokenError as error:
                raise ConfigurationError(f"{self.module_id}: {error}") from None

        self.live = Live(len(evses), max(len(self.r_ev_control), len(self.r_ev)))
        self._subscribe()
        listener = bind(c.host, c.port)
        self.url = url_of(listener)
        (self.state_dir / "url").write_text(f"{self.url}\n")
        access = Access(tokens, RateLimiter(c.operate_rate_per_s, c.operate_burst))
        self._server = HttpServer(create_app(self, access), listener)
        if tokens is None:
            self.log.warning(
                "API TOKENS ARE OFF: anyone who can reach %s may read and operate this "
                "charger. Only for software-in-the-loop configs.",
                self.url,
            )
        # On stdout, for `make demo`: its log level shows warnings only.
        print(f"Dashboard: {self.url}/dashboard/  API: {self.url}/api/v1/", flush=True)

    def _subscribe(self) -> None:
        live = self.live
        for n, evse in enumerate(self.r_evse_manager, start=1):
            evse.subscribe_session_event(functools.partial(live.on_session_event, n))
            evse.subscribe_limits(functools.partial(live.on_limits, n))
            evse.subscribe_powermeter(functools.partial(live.on_reading, n))
            evse.subscribe_evse_id(functools.partial(live.on_evse_id, n))
            evse.subscribe_ready(functools.partial(live.on_ready, n))
        for n, board in enumerate(self.r_ev_board, start=1):
            board.subscribe_bsp_event(functools.partial(live.on_line_event, n))
            board.subscribe_bsp_measurement(functools.partial(live.on_line_measurement, n))
        for n, control in enumerate(self.r_ev_control, start=1):
            control.subscribe_energy_Wh(functools.partial(live.on_ev_energy, n))
            control.subscribe_script_state(functools.partial(live.on_ev_script_state, n))
        for n, ev in enumerate(self.r_ev, start=1):
            ev.subscribe_ev_info(functools.partial(live.on_ev_info, n))

    async def ready(self) -> None:
        self._server.start()
        for n in range(1, len(self.r_evse_manager) + 1):
            self.start_task(self._learn_evse(n))

    async def shutdown(self) -> None:
        await self._server.stop()

    async def _learn_evse(self, n: int) -> None:
        """What the vars do not say: the connector, and a transaction already running."""
        evse = self.r_evse_manager[n - 1]
        try:
            description = await evse.call_get_evse(timeout=COMMAND_TIMEOUT_S)
            records = await evse.call_get_transactions(timeout=COMMAND_TIMEOUT_S)
        except CommandError as error:
            self.log.warning("EVSE %d: %s", n, error)
            return
        self.live.on_connector(n, description.connectors[0].id)
        for record in records:
            if record.transaction_finished is None:
                self.live.on_running_transaction(n, record)

    # --- the actions (app.Charger) --------------------------------------------------------

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except CommandError as error:
            raise CommandFailedError(str(error)) from None

    async def start_session(self, evse: int, request: StartSessionRequest) -> ActionResult:
        kind = request.authorization_type or AuthorizationType.RFID
        token = ProvidedIdToken(
            id_token=IdToken(
                value=request.id_token, type=_TOKEN_TYPES.get(kind, IdTokenType.Local)
            ),
            authorization_type=kind,
            connectors=[evse],
        )
        await self._provider.publish_provided_token(token)
        return ActionResult(done=True, detail="presented to Auth")

    async def stop_session(self, evse: int) -> ActionResult:
        request = StopTransactionRequest(reason=StopTransactionReason.Remote)
        client = self.r_evse_manager[evse - 1]
        stopped = await self._call(
            client.call_stop_transaction(request=request, timeout=COMMAND_TIMEOUT_S)
        )
        return ActionResult(done=stopped, detail=None if stopped else "no transaction is running")

    async def pause(self, evse: int) -> ActionResult:
        client = self.r_evse_manager[evse - 1]
        return ActionResult(
            done=await self._call(client.call_pause_charging(timeout=COMMAND_TIMEOUT_S))
        )

    async def resume(self, evse: int) -> ActionResult:
        client = self.r_evse_manager[evse - 1]
        resumed = await self._call(client.call_resume_charging(timeout=COMMAND_TIMEOUT_S))
        return ActionResult(done=resumed, detail=None if resumed else "there was no pause to undo")

    async def set_current_limit(self, evse: int, request: CurrentLimitRequest) -> ActionResult:
        if evse > len(self.r_external_limits):
            return ActionResult(done=False, detail="no energy node is wired for this EVSE's limit")
        schedule = []
        if request.max_current_A is not None:
            amps = LimitsReq(
                ac_max_current_A=NumberWithSource(
                    value=request.max_current_A, source=self.module_id
                )
            )
            now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            schedule = [ScheduleReqEntry(timestamp=now, limits_to_root=amps, limits_to_leaves=amps)]
        limits = ExternalLimits(schedule_import=schedule, schedule_export=[])
        client = self.r_external_limits[evse - 1]
        await self._call(client.call_set_external_limits(value=limits, timeout=COMMAND_TIMEOUT_S))
        self.live.on_current_limit(evse, request.max_current_A)
        return ActionResult(done=True)

    async def enable(self, evse: int, request: EnableRequest) -> ActionResult:
        source = EnableDisableSource(
            enable_source="LocalAPI",
            enable_state="Enable" if request.enabled else "Disable",
            enable_priority=5000,  # below a technician's or the CSMS's word, above nobody's
        )
        client = self.r_evse_manager[evse - 1]
        enabled = await self._call(
            client.call_enable_disable(connector_id=0, cmd_source=source, timeout=COMMAND_TIMEOUT_S)
        )
        return ActionResult(done=enabled == request.enabled)

    async def history(self, offset: int, limit: int) -> SessionPage:
        call = self.r_session_history.call_get_sessions(
            offset=offset, limit=limit, timeout=COMMAND_TIMEOUT_S
        )
        page = await self._call(call)
        # A running session's energy as its EVSE's meter has it now: the store writes
        # readings in batches (meter_interval), so its figure lags by up to one.
        now = {v.session_id: v.status().energy_Wh for v in self.live.evses if v.session_id}
        sessions = [
            msgspec.structs.replace(record, energy_Wh=live_wh)
            if not record.finished and (live_wh := now.get(record.session_id)) is not None
            else record
            for record in page.sessions
        ]
        return msgspec.structs.replace(page, sessions=sessions)

    async def sim_ev(self, ev: int, command: SimEvCommand) -> ActionResult:
        if ev > len(self.r_ev_control):
            return ActionResult(done=False, detail="no simulator control is wired for this EV")
        client = self.r_ev_control[ev - 1]
        refusal = await self._call(
            client.call_execute(commands=_SCRIPTS[command.action], timeout=COMMAND_TIMEOUT_S)
        )
        return ActionResult(done=not refusal, detail=refusal or None)
