"""The station's core: the connection, the boot state, the handler table, the outbox's sender,
and the seam every functional block is written against.

A block is a class that takes the `Station` in its constructor and wires itself there (see
`blocks.Block`); it never sends on its own, never opens a socket, never reads the clock of
the host. What a block may do, all through the `Station`:

Handle the CSMS's requests
    `station.route("GetVariables", handler)`: `async handler(request) -> response`, typed
    messages of `evstack.ocpp.v201`. Raise `OcppError` for a CALLERROR. Each action has one
    handler (a second `route` raises). While the CSMS has not accepted the station, the core
    answers SecurityError for it (B02/B03); in Pending the request is served, except
    RequestStartTransaction, which the core Rejects (no transaction before Accepted).

Read and watch settings
    `station.model` is the device model: `get_int(ref("OCPPCommCtrlr", "HeartbeatInterval"))`,
    `watch(key, listener)` (told after every change, by the CSMS or the station), `veto(key,
    check)` (refuse a value the CSMS sets), `set(key, value)` (the station's own writes).
    Components a block needs go in a seed file of its own (`device_model/seed/<block>.yaml`).

Call the CSMS now
    `await station.call(request) -> response`. Raises `NotConnectedError` when offline,
    `NotAcceptedError` (a NotConnectedError) when the boot state forbids it (before Accepted
    only BootNotification goes; in Pending also what the CSMS asked for: anything called while
    serving one of its requests, or in a task started from there, such as NotifyReport or a
    triggered message), `CallTimeoutError` after the message timeout, `OcppError` for the
    CSMS's CALLERROR.

Owe the CSMS a message
    `station.enqueue(request, transaction_id=...)` writes it to the durable outbox (fsync)
    before anything else happens; the core sends it once the station is Accepted and online,
    in order, with the retry rules of E13 (OCPPCommCtrlr.MessageAttempts and
    MessageAttemptInterval of "TransactionEvent", for every owed kind). The block hears of the
    answer with `station.on_delivered(action, listener)` and of a message given up with
    `station.on_given_up(action, listener)`. `station.outbox.pending(transaction_id)` counts
    what is still owed (GetTransactionStatus).

Hear the EVSEs and the link
    `station.evses` (id, connectors, the `evse_manager` client to command it),
    `station.on_session_event(listener(evse_id, event))`, `on_powermeter(listener(evse_id,
    reading))`, `on_evse_ready(listener(evse_id, ready))`, `on_registered(listener())` (each
    BootNotification Accepted), `on_connection(listener(up))`. Listeners may be plain functions
    or coroutines; they run in the order they were added, one event at a time.

Triggers, time, tokens, tasks
    `station.register_trigger(MessageTriggerEnumType.X, trigger)`: the core serves
    TriggerMessage; `trigger(evse, connector)` returns None to refuse, or a coroutine that sends
    the message once the response is out. `station.now()` is the station's UTC time (set by the
    CSMS's clock); `station.clock` the module's monotonic clock (`sleep` with it, simulated
    time included). `station.validate_token` is set by the authorization block (Auth asks it);
    `await station.provide_token(token)` hands Auth a token (RequestStartTransaction).
    `station.start_task(coroutine)` runs background work for the module's life.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.ocpp.v201.datatypes import NetworkConnectionProfileType, StatusInfoType
from evstack.generated.ocpp.v201.enums import (
    BootReasonEnumType,
    MessageTriggerEnumType,
    RegistrationStatusEnumType,
    RequestStartStopStatusEnumType,
    TriggerMessageStatusEnumType,
)
from evstack.generated.ocpp.v201.messages import (
    RequestStartTransactionResponse,
    TriggerMessageRequest,
    TriggerMessageResponse,
)
from evstack.generated.types.authorization import ProvidedIdToken, ValidationResult
from evstack.generated.types.evse_manager import SessionEvent, SessionEventEnum
from evstack.generated.types.powermeter import Powermeter
from evstack.ocpp import v201
from evstack.ocpp.errors import ErrorCode, OcppError
from evstack.ocpp.j import ConnectError, NetworkProfile, NotConnectedError, RpcEndpoint
from evstack.ocpp.outbox import Outbox, QueuedMessage
from evstack.ocpp.v201 import ACTIONS, DateTime, Record
from evstack.runtime.clock import ScaledClock
from evstack.runtime.state import ModuleState

from .device_model import DeviceModel

if TYPE_CHECKING:
    from .boot import Boot
    from .link import Link

__all__ = [
    "Evse",
    "NotAcceptedError",
    "Station",
    "Trigger",
    "action_of",
]

log = logging.getLogger(__name__)

Request = TypeVar("Request", bound=Record)
Handler = Callable[[Any], Awaitable[Record]]
Trigger = Callable[[int | None, int | None], Coroutine[Any, Any, None] | None]
"""`trigger(evse, connector)`: None refuses; a coroutine sends the message after the response."""
Listener = Callable[..., Awaitable[None] | None]

_ACTION_OF_REQUEST = {request: action for action, (request, _) in ACTIONS.items()}
# Whether the current task serves a CSMS request (or was started while serving one): what it
# sends was asked for, and may go while the station is Pending.
_REQUESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("requested", default=False)
# What the station answers while Pending, whichever block serves the action (B02.FR.05).
_NOT_PENDING: dict[str, Record] = {
    "RequestStartTransaction": RequestStartTransactionResponse(
        status=RequestStartStopStatusEnumType.Rejected,
        statusInfo=StatusInfoType(reasonCode="NotAccepted", additionalInfo="boot is Pending"),
    ),
}


def action_of(request: Record) -> str:
    """The action whose request `request` is."""
    try:
        return _ACTION_OF_REQUEST[type(request)]
    except KeyError:
        raise TypeError(f"{type(request).__name__} is not an OCPP 2.0.1 request") from None


class NotAcceptedError(NotConnectedError):
    """The CSMS has not accepted the station (yet): this message may not go now."""


@dataclass
class Evse:
    """One EVSE, as the CSMS numbers it: its position among the `evse_manager` connections."""

    id: int
    client: EvseManagerClient
    connectors: int = 1  # connector ids 1..connectors
    evse_id: str = ""  # the EVSE's own name (its `evse_id` var), once known
    # What the EVSE's session events said last, kept by the core before blocks hear them:
    session: str | None = None  # the uuid of the session (EV plugged in, or authorized first)
    transaction: str | None = None  # the session uuid while EvseManager's transaction runs

    def track(self, event: SessionEvent) -> None:
        """Follow the EVSE's session and transaction through its session events."""
        kind = event.event
        if kind == SessionEventEnum.SessionStarted:
            self.session = event.uuid
        elif kind == SessionEventEnum.TransactionStarted:
            self.session = self.transaction = event.uuid
        elif kind == SessionEventEnum.TransactionFinished:
            self.transaction = None
        elif kind == SessionEventEnum.SessionFinished:
            self.session = self.transaction = None


class _Listeners:
    """Listeners of one kind of event, called in order, one event at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def emit(self, *args: Any) -> None:
        async with self._lock:
            for listener in self._listeners:
                try:
                    result = listener(*args)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("a %s listener failed", self.name)


class Station:
    """The seam between the core and the blocks (see the module's doc)."""

    def __init__(
        self,
        *,
        station_id: str,
        model: DeviceModel,
        evses: Sequence[Evse],
        clock: ScaledClock,
        outbox: Outbox,
        state: ModuleState,
        state_dir: Path,
        start_task: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
    ) -> None:
        self.station_id = station_id
        self.model = model
        self.evses = list(evses)
        self.clock = clock
        self.outbox = outbox
        self.state = state  # small durable values; keys start with the block's name
        # The station's one SQLite connection: every store keeps its own tables in it, since
        # each connection costs ~150 KiB and many stations may share a process.
        self.db = state.share()
        self.state_dir = state_dir
        self.start_task = start_task
        self.endpoint = RpcEndpoint(v201)
        self.registration: RegistrationStatusEnumType | None = None  # None: no answer yet
        self.validate_token: Callable[[ProvidedIdToken], Awaitable[ValidationResult]] | None = None
        self.publish_token: Callable[[ProvidedIdToken], Awaitable[None]] | None = None
        self._clock_offset = datetime.timedelta(0)
        self._handlers: dict[str, Handler] = {}
        self._triggers: dict[MessageTriggerEnumType, Trigger] = {}
        self._delivered: dict[str, _Listeners] = {}
        self._given_up: dict[str, _Listeners] = {}
        self.session_events = _Listeners("session event")
        self.readings = _Listeners("powermeter")
        self.evse_readiness = _Listeners("EVSE ready")
        self.registered = _Listeners("registered")
        self.connection = _Listeners("connection")
        self.link_failures = _Listeners("connection attempt failed")
        self.rebooting = _Listeners("rebooting")
        # SetNetworkProfile's further checks: `check(slot, profile)` returns why it is refused.
        self.network_checks: list[Callable[[int, NetworkConnectionProfileType], str | None]] = []
        self.link: Link | None = None  # the module sets it: the connection, see link.py
        self.boot: Boot | None = None  # the module sets it: the boot state, see boot.py
        self.online = asyncio.Event()  # connected
        self._lasting: set[asyncio.Task[None]] = set()  # the link and the sender: see `close`
        self.outbox_changed = asyncio.Event()  # the sender looks again
        self.route("TriggerMessage", self._trigger_message)

    # -- handlers -------------------------------------------------------------------------

    def route(self, action: str, handler: Handler) -> None:
        """Serve the CSMS's `action` with `handler`; one handler per action."""
        if action not in ACTIONS:
            raise ValueError(f"{action} is not an OCPP 2.0.1 action")
        if action in self._handlers:
            raise ValueError(f"{action} has a handler already")
        self._handlers[action] = handler

        async def serve(request: Any) -> Record:
            if self.registration not in (
                RegistrationStatusEnumType.Accepted,
                RegistrationStatusEnumType.Pending,
            ):
                raise OcppError(ErrorCode.SECURITY_ERROR, "the CSMS has not accepted the station")
            if self.registration is RegistrationStatusEnumType.Pending and action in _NOT_PENDING:
                return _NOT_PENDING[action]  # B02: no transaction before Accepted
            token = _REQUESTED.set(True)
            try:
                return await handler(request)
            finally:
                _REQUESTED.reset(token)

        self.endpoint.route(action, serve)

    def handles(self, action: str) -> bool:
        return action in self._handlers

    def register_trigger(self, message: MessageTriggerEnumType, trigger: Trigger) -> None:
        """Let the CSMS trigger `message` (TriggerMessage); one trigger per message."""
        if message in self._triggers:
            raise ValueError(f"{message} has a trigger already")
        self._triggers[message] = trigger

    async def _trigger_message(self, request: TriggerMessageRequest) -> TriggerMessageResponse:
        """TriggerMessage (F06): the block that registered the message sends it, after this
        response (its task starts when the response is written: see `RpcEndpoint`)."""
        trigger = self._triggers.get(request.requestedMessage)
        if trigger is None:
            return TriggerMessageResponse(status=TriggerMessageStatusEnumType.NotImplemented)
        evse_id = connector = None
        if not isinstance(request.evse, msgspec.UnsetType):
            evse = self.evse(request.evse.id)
            connector_id = request.evse.connectorId
            if evse is None or (
                isinstance(connector_id, int) and not 0 < connector_id <= evse.connectors
            ):
                return TriggerMessageResponse(status=TriggerMessageStatusEnumType.Rejected)
            evse_id = evse.id
            connector = connector_id if isinstance(connector_id, int) else None
        send = trigger(evse_id, connector)
        if send is None:
            return TriggerMessageResponse(status=TriggerMessageStatusEnumType.Rejected)
        self.start_task(send)
        return TriggerMessageResponse(status=TriggerMessageStatusEnumType.Accepted)

    # -- messages to the CSMS ------------------------------------------------------------

    def may_send(self, action: str) -> bool:
        """Whether the boot state lets `action` go now (B01-B03)."""
        if action == "BootNotification" or self.registration is RegistrationStatusEnumType.Accepted:
            return True
        return self.registration is RegistrationStatusEnumType.Pending and _REQUESTED.get()

    async def call(self, request: Request) -> Any:
        """Send `request` now and return the CSMS's response (see the module's doc)."""
        action = action_of(request)
        if not self.may_send(action):
            raise NotAcceptedError(f"{action}: the CSMS has not accepted the station")
        return await self.endpoint.call(action, request)

    def enqueue(self, request: Record, *, transaction_id: str | None = None) -> int:
        """Owe the CSMS `request`: durable in the outbox before this returns."""
        action = action_of(request)
        seq = self.outbox.put(action, v201.encode(request), transaction_id=transaction_id)
        self.outbox_changed.set()
        return seq

    def on_delivered(self, action: str, listener: Callable[[QueuedMessage, Any], Any]) -> None:
        """`listener(message, response)` after the CSMS answered an owed `action`."""
        self._delivered.setdefault(action, _Listeners(f"{action} delivered")).add(listener)

    def on_given_up(self, action: str, listener: Callable[[QueuedMessage], Any]) -> None:
        """`listener(message)` when an owed `action` ran out of attempts."""
        self._given_up.setdefault(action, _Listeners(f"{action} given up")).add(listener)

    async def delivered(self, message: QueuedMessage, response: Any) -> None:
        listeners = self._delivered.get(message.action)
        if listeners is not None:
            await listeners.emit(message, response)

    async def given_up(self, message: QueuedMessage) -> None:
        log.warning("%s #%d given up after its attempts", message.action, message.seq)
        listeners = self._given_up.get(message.action)
        if listeners is not None:
            await listeners.emit(message)

    # -- events ---------------------------------------------------------------------------

    def on_session_event(self, listener: Callable[[int, SessionEvent], Any]) -> None:
        self.session_events.add(listener)

    def on_powermeter(self, listener: Callable[[int, Powermeter], Any]) -> None:
        self.readings.add(listener)

    def on_evse_ready(self, listener: Callable[[int, bool], Any]) -> None:
        self.evse_readiness.add(listener)

    def on_registered(self, listener: Callable[[], Any]) -> None:
        """After each BootNotification the CSMS Accepted (at start, after every reboot)."""
        self.registered.add(listener)

    def on_connection(self, listener: Callable[[bool], Any]) -> None:
        """The link to the CSMS came up (True) or went down (False)."""
        self.connection.add(listener)

    def on_connect_failed(self, listener: Callable[[NetworkProfile, ConnectError], Any]) -> None:
        """A connection attempt failed (a security event for a bad certificate, say)."""
        self.link_failures.add(listener)

    def evse(self, evse_id: int) -> Evse | None:
        return self.evses[evse_id - 1] if 0 < evse_id <= len(self.evses) else None

    # -- time and tokens ------------------------------------------------------------------

    def now(self) -> DateTime:
        """The station's UTC time: the host's, corrected by the CSMS's clock."""
        return DateTime.from_datetime(datetime.datetime.now(datetime.UTC) + self._clock_offset)

    def set_time(self, csms_time: datetime.datetime) -> None:
        """Take the CSMS's time (BootNotification and Heartbeat responses, B01/G02)."""
        self._clock_offset = csms_time - datetime.datetime.now(datetime.UTC)

    async def provide_token(self, token: ProvidedIdToken) -> None:
        """Hand Auth a token, as a reader would (`auth_token_provider`)."""
        if self.publish_token is None:
            raise RuntimeError("the module has not wired the token provider")
        await self.publish_token(token)

    # -- reboot ---------------------------------------------------------------------------

    def on_rebooting(self, listener: Callable[[BootReasonEnumType], Any]) -> None:
        """The station is about to reboot (Reset, a firmware update): finish what must be."""
        self.rebooting.add(listener)

    async def reboot(self, reason: BootReasonEnumType) -> None:
        """Reboot the OCPP side: the blocks are told, what is owed goes out (within a message
        timeout while online), the connection is dropped, and the boot starts over with
        `reason`. The EVSEs and the rest of the charger carry on; a real charger whose reset
        must restart its hardware does that in a `rebooting` listener."""
        log.warning("rebooting (%s)", reason)
        await self.rebooting.emit(reason)
        timeout = self.outbox.message_timeout_s / self.clock.speedup
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self.outbox) and self.online.is_set() and self.may_send("Heartbeat"):
                    self.outbox_changed.clear()
                    await self.outbox_changed.wait()
        assert self.boot is not None
        assert self.link is not None
        await self.boot.stop()
        await self.link.stop()
        self.boot.set_reason(reason)
        self.registration = None
        self.boot.start()
        self.link.start()

    # -- the core's own tasks -------------------------------------------------------------

    def keep_running(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run the link or the sender until `close`: unlike `start_task`'s, which the runtime
        cancels before the module's `shutdown()`, these still send what is owed then."""
        task = asyncio.create_task(work)
        self._lasting.add(task)
        task.add_done_callback(self._lasting_done)
        return task

    def _lasting_done(self, task: asyncio.Task[None]) -> None:
        self._lasting.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("the station's %s failed", task.get_coro(), exc_info=error)

    async def close(self, flush_s: float) -> None:
        """Stop: what is owed goes out first while the station is online and Accepted (for at
        most `flush_s` wall seconds: the Ended event of a transaction the charger's own stop
        finished, say), then the link and the sender stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_s):
                while len(self.outbox) and self.online.is_set() and self.may_send("Heartbeat"):
                    self.outbox_changed.clear()
                    await self.outbox_changed.wait()
        tasks = list(self._lasting)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- what the core does with the link ------------------------------------------------

    async def set_online(self, up: bool) -> None:
        if up == self.online.is_set():
            return
        if up:
            self.online.set()
        else:
            self.online.clear()
        self.outbox_changed.set()
        await self.connection.emit(up)
