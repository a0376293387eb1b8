"""Peers and harness for the OCPP-J tests: a raw websocket CSMS on loopback whose frames the
test writes by hand, a station (the client under test) run in a task, and a recorder of what
happens to its link."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from evstack.ocpp import v201
from evstack.ocpp.j import (
    ConnectError,
    ConnectionPolicy,
    Ended,
    LinkObserver,
    NetworkProfile,
    OcppJClient,
    RetryBackOff,
    RpcEndpoint,
    SecurityProfile,
    StationCredentials,
    TransportSettings,
    Upgrade,
)
from evstack.ocpp.v201 import enums, messages

STATION = "CS001"
PASSWORD = "0123456789abcdef0123"  # a passwordString: 16 to 40 characters
WAIT = 5.0  # seconds: what a test waits for anything on loopback before it fails


@dataclass(frozen=True)
class Event:
    kind: str  # "failed", "connected", "disconnected"
    slot: int
    failure: ConnectError | None = None
    upgrade: Upgrade | None = None
    ended: Ended | None = None


class Recorder(LinkObserver):
    """Every event of the link, in order, to wait on."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.history: list[Event] = []

    def _put(self, event: Event) -> None:
        self.history.append(event)
        self.events.put_nowait(event)

    def connect_failed(self, profile: NetworkProfile, failure: ConnectError) -> None:
        self._put(Event("failed", profile.slot, failure=failure))

    def connected(self, profile: NetworkProfile, upgrade: Upgrade | None) -> None:
        self._put(Event("connected", profile.slot, upgrade=upgrade))

    def disconnected(self, profile: NetworkProfile, ended: Ended) -> None:
        self._put(Event("disconnected", profile.slot, ended=ended))

    async def next(self) -> Event:
        return await asyncio.wait_for(self.events.get(), WAIT)

    async def expect(self, kind: str, slot: int | None = None) -> Event:
        event = await self.next()
        assert (event.kind, event.slot if slot is not None else None) == (kind, slot), event
        return event


@dataclass
class RawCsms:
    """A websocket server on an ephemeral loopback port; the test speaks for the CSMS."""

    subprotocols: Sequence[str] | None = ("ocpp2.0.1",)
    tls: ssl.SSLContext | None = None
    password: str | None = None  # checked as basic auth when set
    connections: asyncio.Queue[ServerConnection] = field(default_factory=asyncio.Queue)
    requests: list[Request] = field(default_factory=list)
    _server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{port}/ocpp"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request)
        if self.password is not None:
            expected = base64.b64encode(f"{STATION}:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return connection.respond(401, "wrong credentials")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        self.connections.put_nowait(connection)
        await connection.wait_closed()

    async def __aenter__(self) -> RawCsms:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol(p) for p in self.subprotocols or ()] or None,
            ssl=self.tls,
            process_request=self._check,
            ping_interval=None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def accept(self) -> ServerConnection:
        return await asyncio.wait_for(self.connections.get(), WAIT)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def clear_cache(request: Any) -> messages.ClearCacheResponse:
    return messages.ClearCacheResponse(status=enums.ClearCacheStatusEnumType.Accepted)


async def change_availability(request: Any) -> messages.ChangeAvailabilityResponse:
    return messages.ChangeAvailabilityResponse(
        status=enums.ChangeAvailabilityStatusEnumType.Accepted
    )


def station_endpoint(**options: Any) -> RpcEndpoint:
    """The station's endpoint on the OCPP 2.0.1 codec; ClearCache and ChangeAvailability
    served, the other actions known but not."""
    endpoint = RpcEndpoint(v201, **options)
    endpoint.route("ClearCache", clear_cache)
    endpoint.route("ChangeAvailability", change_availability)
    return endpoint


class StepSleep:
    """The back-off's clock, driven by the test: records every wait; with `auto` each wait
    returns at once, else when the test says `go()`."""

    def __init__(self, *, auto: bool = False) -> None:
        self.auto = auto
        self.waits: list[float] = []
        self._waited: asyncio.Queue[float] = asyncio.Queue()
        self._go: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        self.waits.append(delay)
        self._waited.put_nowait(delay)
        if self.auto:
            await asyncio.sleep(0)  # a real sleep would yield too
        else:
            await self._go.get()

    async def waited(self) -> float:
        """The next wait the link began."""
        return await asyncio.wait_for(self._waited.get(), WAIT)

    def go(self) -> None:
        """The wait the link is in (or the next) is over."""
        self._go.put_nowait(None)


@contextlib.asynccontextmanager
async def running(client: OcppJClient) -> AsyncIterator[OcppJClient]:
    """`client` running in a task for the duration."""
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def one_slot_policy(
    url: str,
    security: SecurityProfile = SecurityProfile.BASIC_AUTH,
    *,
    message_timeout: float = 30.0,
    backoff: RetryBackOff | None = None,
) -> ConnectionPolicy:
    return ConnectionPolicy(
        [NetworkProfile(1, url, security, message_timeout)],
        [1],
        security_profile=security,
        backoff=backoff or RetryBackOff(1, 0, 0),
    )


def station(
    policy: ConnectionPolicy,
    credentials: StationCredentials | None = None,
    *,
    endpoint: RpcEndpoint | None = None,
    settings: TransportSettings | None = None,
    sleep: StepSleep | None = None,
) -> tuple[OcppJClient, Recorder]:
    recorder = Recorder()
    client = OcppJClient(
        STATION,
        endpoint or station_endpoint(),
        policy,
        credentials or StationCredentials(basic_auth_password=PASSWORD),
        settings,
        observer=recorder,
        sleep=sleep or StepSleep(auto=True),
    )
    return client, recorder
