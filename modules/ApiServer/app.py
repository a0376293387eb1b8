"""The HTTP and WebSocket API as a Litestar app, over whatever `Charger` it is given.

Every request and response body is a msgspec Struct generated from types/charger_api.yaml and
the other manifests' types; Litestar validates with msgspec and writes the OpenAPI spec from
the same Structs, so neither can drift from the manifests. Handlers read the live views
without a round trip and turn actions into one command on the bus.

Scopes: `read` for the GETs and the event stream, `operate` for actions, `admin` for
enabling and disabling EVSEs; operate and admin requests also pass the rate limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
from litestar import Litestar, Request, Router, get, post, put, websocket
from litestar.connection import ASGIConnection, WebSocket
from litestar.enums import ScopeType
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
    WebSocketDisconnect,
)
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import JSONBody, Parameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from evstack.generated.types import authorization, charger_api, evse_manager, session_history
from evstack.generated.types.charger_api import (
    ActionResult,
    CurrentLimitRequest,
    EnableRequest,
    EvseStatus,
    LiveEvent,
    SimEvCommand,
    SimEvStatus,
    StartSessionRequest,
)
from evstack.generated.types.session_history import SessionPage
from evstack.modules.ApiServer.live import Live
from evstack.modules.ApiServer.tokens import Scope, TokenStore

API = "/api/v1"
STATIC = Path(__file__).parent / "static"
# WebSocket close codes (4000-4999 are the application's): like HTTP's 401 and 403.
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4401, 4403
# A listener dropped for falling behind: "try again later".
CLOSE_TOO_SLOW = 1013

MAX_OFFSET = 1_000_000_000  # as session_history's get_sessions takes it
EvseNumber = Annotated[int, Parameter(ge=1, le=128, description="The EVSE, from 1.")]
EvNumber = Annotated[int, Parameter(ge=1, le=128, description="The simulated EV, from 1.")]


class Charger(Protocol):
    """What the API acts on: the module on the bus, or a stand-in in benchmarks."""

    live: Live

    async def start_session(self, evse: int, request: StartSessionRequest) -> ActionResult: ...
    async def stop_session(self, evse: int) -> ActionResult: ...
    async def pause(self, evse: int) -> ActionResult: ...
    async def resume(self, evse: int) -> ActionResult: ...
    async def set_current_limit(self, evse: int, request: CurrentLimitRequest) -> ActionResult: ...
    async def enable(self, evse: int, request: EnableRequest) -> ActionResult: ...
    async def history(self, offset: int, limit: int) -> SessionPage: ...
    async def sim_ev(self, ev: int, command: SimEvCommand) -> ActionResult: ...


class CommandFailedError(Exception):
    """The module behind an action did not answer (down, busy, timed out)."""


class RateLimiter:
    """A token bucket per client: `burst` requests at once, then `rate` a second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)

    def wait_s(self, client: str) -> float:
        """0 if `client` may go now (and counts the request), else seconds until it may."""
        now = time.monotonic()
        tokens, then = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0


class Access:
    """Who may do what: API tokens, or nobody checked (auth off), and the rate limit."""

    def __init__(self, tokens: TokenStore | None, limiter: RateLimiter) -> None:
        self.tokens = tokens
        self.limiter = limiter

    def guard(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        # Strict as the bodies are: a misspelt parameter is an error, not a default.
        unknown = set(connection.query_params) - handler.opt.get("query", set())
        if unknown:
            raise ValidationException(f"unknown query parameters: {', '.join(sorted(unknown))}")
        needed: Scope = handler.opt["scope"]
        client = connection.client.host if connection.client else "?"
        if self.tokens is not None:
            name, scope = self._identify(connection)
            if scope < needed:
                raise PermissionDeniedException(f"this needs the {needed.name} scope")
            client = f"token:{name}"
        if needed >= Scope.operate:
            wait_s = self.limiter.wait_s(client)
            if wait_s:
                retry = str(max(1, math.ceil(wait_s)))
                raise TooManyRequestsException("rate limit", headers={"Retry-After": retry})

    def _identify(self, connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, Scope]:
        assert self.tokens is not None
        header = connection.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token:
            # Browsers cannot give a WebSocket a header: the stream takes ?token= instead.
            token = (
                connection.query_params.get("token", "")
                if connection.scope["type"] == ScopeType.WEBSOCKET
                else ""
            )
        found = self.tokens.check(token.strip()) if token else None
        if found is None:
            raise NotAuthorizedException(
                "an API token is needed", headers={"WWW-Authenticate": "Bearer"}
            )
        return found


# Every type the API's bodies may name, by its name in the spec.
_STRUCTS: dict[str, type[Any]] = {
    cls.__name__: cls
    for module in (charger_api, session_history, authorization, evse_manager)
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == module.__name__
}

_REFUSALS = [
    ValidationException,
    NotAuthorizedException,
    PermissionDeniedException,
    NotFoundException,
]
_ACTION_REFUSALS = [*_REFUSALS, TooManyRequestsException, ServiceUnavailableException]


def reads(
    path: str, summary: str, *, bus: bool = False, query: frozenset[str] = frozenset()
) -> HTTPRouteHandler:
    """A GET for the read scope, with these `query` parameters; `bus`: it asks another module
    (which may not answer)."""
    refusals = [*_REFUSALS, ServiceUnavailableException] if bus else _REFUSALS
    return get(path, opt={"scope": Scope.read, "query": query}, raises=refusals, summary=summary)


def acts(
    method: Callable[..., HTTPRouteHandler],
    path: str,
    summary: str,
    *,
    scope: Scope = Scope.operate,
) -> HTTPRouteHandler:
    """An action: `scope` (operate or admin), rate-limited, carried out by another module."""
    return method(
        path, opt={"scope": scope}, raises=_ACTION_REFUSALS, status_code=200, summary=summary
    )


class _ModelsFromTypes(JsonRenderPlugin):
    """The spec as Litestar writes it, its models as msgspec writes them from the types.

    Litestar drops the bounds of optional fields (`Annotated[float, Meta(ge=0)] | None`) and
    `additionalProperties: false`; msgspec's own schemas of the same Structs keep all of it.
    The live event stream's LiveEvent joins them, though no HTTP operation returns it.
    """

    _rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            models = [_STRUCTS[name] for name in openapi_schema["components"]["schemas"]]
            _, schemas = msgspec.json.schema_components(
                [*models, LiveEvent], ref_template="#/components/schemas/{name}"
            )
            document = {**openapi_schema}
            document["components"] = {**document["components"], "schemas": schemas}
            self._rendered = msgspec.json.encode(document)
        return self._rendered


def create_app(charger: Charger, access: Access) -> Litestar:
    live = charger.live

    def known_evse(evse: int) -> int:
        if evse > len(live.evses):
            raise NotFoundException(f"there is no EVSE {evse}")
        return evse

    async def act(action: Any) -> ActionResult:
        try:
            result: ActionResult = await action
        except CommandFailedError as error:
            raise ServiceUnavailableException(str(error)) from None
        return result

    @reads("/evses", "All EVSEs, as they are now")
    async def list_evses() -> list[EvseStatus]:
        return live.evse_statuses()

    @reads("/evses/{evse:int}", "One EVSE")
    async def get_evse(evse: EvseNumber) -> EvseStatus:
        return live.evses[known_evse(evse) - 1].status()

    @acts(post, "/evses/{evse:int}/start", "Start a session for a token (Auth validates it)")
    async def start(evse: EvseNumber, data: JSONBody[StartSessionRequest]) -> ActionResult:
        return await act(charger.start_session(known_evse(evse), data))

    @acts(post, "/evses/{evse:int}/stop", "Stop the running transaction")
    async def stop(evse: EvseNumber) -> ActionResult:
        return await act(charger.stop_session(known_evse(evse)))

    @acts(post, "/evses/{evse:int}/pause", "Pause charging from the EVSE's side")
    async def pause(evse: EvseNumber) -> ActionResult:
        return await act(charger.pause(known_evse(evse)))

    @acts(post, "/evses/{evse:int}/resume", "Undo a pause")
    async def resume(evse: EvseNumber) -> ActionResult:
        return await act(charger.resume(known_evse(evse)))

    @acts(put, "/evses/{evse:int}/current-limit", "Limit the EVSE's current, or clear the limit")
    async def current_limit(evse: EvseNumber, data: JSONBody[CurrentLimitRequest]) -> ActionResult:
        return await act(charger.set_current_limit(known_evse(evse), data))

    @acts(put, "/evses/{evse:int}/enabled", "Enable or disable the EVSE", scope=Scope.admin)
    async def enabled(evse: EvseNumber, data: JSONBody[EnableRequest]) -> ActionResult:
        return await act(charger.enable(known_evse(evse), data))

    @reads(
        "/sessions",
        "The session history, newest first, a page at a time",
        bus=True,
        query=frozenset({"offset", "limit"}),
    )
    async def sessions(
        offset: Annotated[
            int, Parameter(ge=0, le=MAX_OFFSET, description="Skip this many newer sessions.")
        ] = 0,
        limit: Annotated[int, Parameter(ge=1, le=100, description="The page size.")] = 20,
    ) -> SessionPage:
        try:
            return await charger.history(offset, limit)
        except CommandFailedError as error:
            raise ServiceUnavailableException(str(error)) from None

    @reads("/sim/evs", "The simulated EVs (software in the loop)")
    async def list_evs() -> list[SimEvStatus]:
        return live.ev_statuses()

    @acts(post, "/sim/evs/{ev:int}", "Make a simulated EV plug, unplug, pause, resume or fault")
    async def ev_action(ev: EvNumber, data: JSONBody[SimEvCommand]) -> ActionResult:
        if ev > len(live.evs):
            raise NotFoundException(f"there is no simulated EV {ev}")
        return await act(charger.sim_ev(ev, data))

    @websocket("/events", opt={"scope": Scope.read, "query": {"token"}})
    async def events(socket: WebSocket[Any, Any, Any]) -> None:
        """The live events (LiveEvent as JSON text), from the moment of connecting."""
        await socket.accept()
        listener = live.listen()
        try:
            for status in live.snapshot():  # where things stand, then the changes
                await socket.send_data(status, mode="text")
            while (payload := await listener.queue.get()) is not None:
                await socket.send_data(payload, mode="text")
            await socket.close(CLOSE_TOO_SLOW, "fell behind")
        except (WebSocketDisconnect, OSError):
            pass  # the client went away
        finally:
            live.forget(listener)

    @get("/", include_in_schema=False)
    async def home() -> Redirect:
        return Redirect("/dashboard/")

    api = Router(
        API,
        route_handlers=[
            list_evses,
            get_evse,
            start,
            stop,
            pause,
            resume,
            current_limit,
            enabled,
            sessions,
            list_evs,
            ev_action,
            events,
        ],
        guards=[access.guard],
    )
    dashboard = create_static_files_router(
        "/dashboard", [STATIC], html_mode=True, include_in_schema=False
    )
    openapi = OpenAPIConfig(
        title="evstack charger API",
        version="1",
        description=(
            "The EVSEs, sessions and live events of one charger. Authorization: Bearer <API "
            "token>; the event stream (WebSocket) is at /api/v1/events, with ?token= there."
        ),
        path=f"{API}/schema",
        render_plugins=[_ModelsFromTypes(path="/openapi.json")],
        operation_id_creator=lambda handler, method, path: handler.handler_name,
        components=Components(
            security_schemes={"token": SecurityScheme(type="http", scheme="bearer")}
        ),
        security=[{"token": []}] if access.tokens is not None else None,
    )
    # logging_config=None: the module host configures logging; Litestar would add its own
    # handlers (INFO and up, its own format) to the root logger.
    return Litestar(
        [api, dashboard, home], openapi_config=openapi, debug=False, logging_config=None
    )
