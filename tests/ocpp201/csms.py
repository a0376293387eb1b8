"""The scripted CSMS of the station's conformance tests: the PyPI `ocpp` package's v201
ChargePoint (strict schema validation of every message, both ways) behind a websocket server
on an ephemeral loopback port.

The test reads what the station sent, in order (`expect`), answers with defaults or its own
responders (`respond`), calls the station (`call`), drops the connection (`drop`) and refuses
new ones (`accepting`). A message of the station that fails the schema is answered with the
package's CALLERROR and kept in `invalid`, which the fixture checks after every test. Only
tests import `ocpp`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import ChargePoint, call_result
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

STATION = "CS001"
WAIT = 10.0  # wall seconds a test waits for the station before it fails

# Every request a station sends its CSMS (OCPP 2.0.1 Part 2, by message).
FROM_STATION = (
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
)

Responder = Callable[[dict[str, Any]], Any]
"""Takes a request's payload (camelCase, as sent) and returns the `call_result` to answer."""


def now() -> str:
    """The CSMS's time, with milliseconds, as strict CSMSs write it."""
    moment = datetime.datetime.now(datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_response(action: str, payload: dict[str, Any]) -> Any:
    """What the CSMS answers when the test gave no responder: accepted and unremarkable."""
    result = getattr(call_result, action)
    if action == "BootNotification":
        return result(current_time=now(), interval=300, status="Accepted")
    if action == "Heartbeat":
        return result(current_time=now())
    if action == "Authorize":
        return result(id_token_info={"status": "Accepted"})
    if action == "TransactionEvent" and "idToken" in payload:
        return result(id_token_info={"status": "Accepted"})
    if action in ("SignCertificate", "DataTransfer"):
        return result(status="Accepted")
    if action in ("Get15118EVCertificate", "GetCertificateStatus"):
        return result(status="Failed")
    return result()


@dataclass(frozen=True)
class Received:
    action: str
    payload: dict[str, Any]
    connection: int  # which connection of the station it came on, from 1


class _Peer(ChargePoint):  # type: ignore[misc]  # the ocpp package has no type hints
    """One connection of the station, served by the ocpp package."""

    def __init__(self, csms: Csms, number: int, connection: ServerConnection) -> None:
        super().__init__(STATION, connection, response_timeout=WAIT)
        self.csms = csms
        self.number = number
        for action in FROM_STATION:
            self.route_map[action] = {
                "_on_action": self._handler(action),
                "_skip_schema_validation": False,
            }

    def _handler(self, action: str) -> Callable[..., Any]:
        def handle(**_: Any) -> Any:
            payload = self._current
            responder = self.csms.responders.get(action)
            return responder(payload) if responder else default_response(action, payload)

        return handle

    async def _handle_call(self, msg: Any) -> Any:
        self._current: dict[str, Any] = msg.payload
        received = Received(msg.action, msg.payload, self.number)
        try:
            return await super()._handle_call(msg)
        except OCPPError as error:
            self.csms.invalid.append((received, error))
            raise
        finally:
            self.csms.history.append(received)
            self.csms.received.put_nowait(received)
            self.csms.arrived.set()


@dataclass
class Csms:
    """A CSMS on 127.0.0.1:<ephemeral port>/ocpp; see the module's doc."""

    tls: ssl.SSLContext | None = None
    password: str | None = None  # basic auth checked when set
    accepting: bool = True  # False: websocket upgrades are refused (HTTP 503)
    responders: dict[str, Responder] = field(default_factory=dict)
    history: list[Received] = field(default_factory=list)
    received: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    invalid: list[tuple[Received, OCPPError]] = field(default_factory=list)
    connections: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    attempts: int = 0  # websocket upgrades asked for, refused ones included
    attempted: asyncio.Queue[float] = field(default_factory=asyncio.Queue)  # their loop times
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set at every message
    peer: _Peer | None = None
    _server: Server | None = None
    _count: int = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{port}/ocpp"

    async def __aenter__(self) -> Csms:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol("ocpp2.0.1")],
            ssl=self.tls,
            process_request=self._check,
            ping_interval=None,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts += 1
        self.attempted.put_nowait(asyncio.get_running_loop().time())
        if not self.accepting:
            return connection.respond(503, "not now")
        if request.path != f"/ocpp/{STATION}":
            return connection.respond(404, "unknown station")
        if self.password is not None:
            expected = base64.b64encode(f"{STATION}:{self.password}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return connection.respond(401, "wrong credentials")
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        self._count += 1
        peer = self.peer = _Peer(self, self._count, connection)
        self.connections.put_nowait(self._count)
        with contextlib.suppress(Exception):
            await peer.start()

    # -- what the test does ----------------------------------------------------------------

    def respond(self, action: str, responder: Responder) -> None:
        """Answer the station's `action` with `responder(payload)` from now on."""
        self.responders[action] = responder

    async def connected(self, wait: float = WAIT) -> int:
        """The number of the station's next connection, once it is up."""
        return await asyncio.wait_for(self.connections.get(), wait)

    async def expect(
        self,
        action: str,
        where: Callable[[dict[str, Any]], bool] = lambda payload: True,
        *,
        wait: float = WAIT,
    ) -> dict[str, Any]:
        """The payload of the station's next `action` that `where` accepts; what comes before
        it is passed over (it stays in `history`)."""
        async with asyncio.timeout(wait):
            while True:
                received = await self.received.get()
                if received.action == action and where(received.payload):
                    return received.payload

    async def seen(
        self,
        action: str,
        since: int,
        where: Callable[[dict[str, Any]], bool] = lambda payload: True,
    ) -> dict[str, Any]:
        """The payload of the first `action` in `history` from index `since` on that `where`
        accepts, waiting for it if need be (whatever `expect` took meanwhile)."""
        async with asyncio.timeout(WAIT):
            while True:
                self.arrived.clear()
                for received in self.history[since:]:
                    if received.action == action and where(received.payload):
                        return received.payload
                await self.arrived.wait()

    async def messages(self, until: str) -> AsyncIterator[Received]:
        """Every message of the station up to and including the next `until`."""
        async with asyncio.timeout(WAIT):
            while True:
                received = await self.received.get()
                yield received
                if received.action == until:
                    return

    async def call(self, payload: Any) -> Any:
        """Send the station a request (an `ocpp.v201.call` dataclass) and return its answer;
        a CALLERROR raises the ocpp package's OCPPError for its code."""
        assert self.peer is not None, "the station is not connected"
        return await self.peer.call(payload, suppress=False)

    async def drop(self) -> None:
        """Close the station's connection, as a CSMS going away would."""
        assert self.peer is not None
        await self.peer._connection.close()
