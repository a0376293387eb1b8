"""What the protocols' state machines share: states, the request table, the checks made
before any handler runs, and how a refusal becomes a FAILED response that ends the session.

A protocol lists, per state, the requests it accepts (`EXPECTED`) and gives one handler per
request. A request the table does not list for the present state is a sequence error: the
SECC answers FAILED_SequenceError and ends the session (DIN 70121 [V2G-DC-391], ISO 15118-2
[V2G2-538]). After SessionSetup every request must carry the session's id, else
FAILED_UnknownSession. A failed response always ends the session; the session layer closes
the connection and the charger goes to its safe state.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from evstack.exi.v2gtp import PayloadType
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.events import EvseState, Output

Body = dict[str, Any]


class State(enum.Enum):
    SESSION_SETUP = "SessionSetup"
    AUTHORIZATION_SETUP = "AuthorizationSetup"  # ISO 15118-20
    SERVICE_DISCOVERY = "ServiceDiscovery"
    PAYMENT_SELECTION = "PaymentSelection"
    SERVICE_SELECTION = "ServiceSelection"  # ISO 15118-20: ServiceDetail, ServiceSelection
    AUTHORIZATION = "Authorization"
    CHARGE_PARAMETERS = "ChargeParameterDiscovery"
    SCHEDULE_EXCHANGE = "ScheduleExchange"  # ISO 15118-20
    CABLE_CHECK = "CableCheck"
    PRE_CHARGE = "PreCharge"
    READY = "ReadyToCharge"  # AC: parameters agreed, waiting for PowerDelivery(Start)
    CHARGING = "Charging"  # DC CurrentDemand or AC ChargingStatus loop
    WELDING = "WeldingDetection"
    STOPPED = "Stopped"  # AC: after PowerDelivery(Stop), waiting for SessionStop
    ENDED = "Ended"


@dataclasses.dataclass(frozen=True)
class Reply:
    name: str  # response element, e.g. "SessionSetupRes"
    body: Body | None  # None: no response can be given, only a close
    end: ev.SessionEnded | None = None
    session_id: str | None = None  # set once SessionSetup succeeded


class Refused(Exception):  # noqa: N818 (a refusal of the EV's request, not an error here)
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


Handler = Callable[[Any, Body, float, list[Output]], Body]


def response_name(request: str) -> str:
    return request[:-3] + "Res" if request.endswith("Req") else request


class Machine:
    """One session of one protocol, from SessionSetup to its end."""

    EXPECTED: ClassVar[Mapping[State, frozenset[str]]]
    HANDLERS: ClassVar[Mapping[str, Handler]]
    protocol: ClassVar[str]

    def __init__(self, evse: EvseState, new_session_id: str):
        self.evse = evse
        self.state = State.SESSION_SETUP
        self.session_id = "00"
        self._new_session_id = new_session_id
        self._started: dict[State, float] = {}  # when a looping state was entered
        self.stop_reason = "the EV stopped the session"
        self.paused = False  # the EV paused the session (ISO 15118-2 SessionStop(Pause))
        self.header: Body = {}  # the header of the request being handled

    def failure(self, request: str, code: str) -> Body | None:
        """The response to `request` carrying `code`, or None where none can be given."""
        raise NotImplementedError

    # -- framing: DIN and ISO-2 wrap every message in V2G_Message, one schema set ----------

    def schema_for(self, payload_type: int) -> str | None:
        """The schema set of a request arriving with `payload_type`, None if none fits."""
        return self.protocol if payload_type == PayloadType.EXI else None

    def unwrap(self, document: Body) -> tuple[str, Body, Body] | None:
        """(request name, body, header) of one request; None if it is not one."""
        message = document.get("V2G_Message") or {}
        body = message.get("Body") or {}
        if len(body) != 1:
            return None
        ((name, content),) = body.items()
        return name, content or {}, message.get("Header") or {}

    def wrap(self, name: str, body: Body, now: float) -> tuple[str, Body]:
        """(schema set, document) of a response."""
        header = {"SessionID": self.session_id}
        return self.protocol, {"V2G_Message": {"Header": header, "Body": {name: body}}}

    def handle(
        self, request: str, body: Body, header: Body, now: float, out: list[Output]
    ) -> Reply:
        if request not in self.EXPECTED.get(self.state, frozenset()):
            known = self.failure(request, "FAILED") is not None
            what = "unexpected" if known else "unknown"
            reason = f"{what} {request} in state {self.state.value}"
            return self._fail(request, "FAILED_SequenceError", reason)
        if self.state is not State.SESSION_SETUP and header.get("SessionID") != self.session_id:
            reason = f"{request} with session id {header.get('SessionID')}, not {self.session_id}"
            return self._fail(request, "FAILED_UnknownSession", reason)
        self.header = header
        try:
            body_out = self.HANDLERS[request](self, body, now, out)
        except Refused as refused:
            return self._fail(request, refused.code, refused.reason)
        if request == "SessionStopReq":
            self.state = State.ENDED
            end = ev.SessionEnded(self.stop_reason, True, paused=self.paused)
            return Reply(response_name(request), body_out, end)
        return Reply(response_name(request), body_out, session_id=self.session_id)

    def _fail(self, request: str, code: str, reason: str) -> Reply:
        self.state = State.ENDED
        body = self.failure(request, code)
        return Reply(response_name(request), body, ev.SessionEnded(reason, False, code))

    def _enter(self, state: State, now: float) -> None:
        if state is not self.state:
            self.state = state
            self._started[state] = now

    def _elapsed(self, state: State, now: float) -> float:
        return now - self._started.setdefault(state, now)
