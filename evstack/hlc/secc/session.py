"""One V2G session on one TCP connection, SECC side: SupportedAppProtocol, then the
negotiated protocol's state machine, with the session-wide timers and error handling.

What ends a session, and how:
- a request the state does not expect, an unknown session id, a refused parameter: the
  protocol's FAILED response, then close;
- bytes that are not one EXI document of the expected schema, a wrong payload type, a
  message that is no request: close without a response (none can be addressed);
- no request within V2G_SECC_Sequence_Timeout of the last response, or no SessionSetup
  within the communication setup time: close;
- the connection breaking: nothing to send.
Each way emits one SessionEnded with the reason; the charger then goes to its safe state.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

from evstack.hlc.secc import codec, sap, timing
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.din import DinSecc
from evstack.hlc.secc.events import EvseState, Output
from evstack.hlc.secc.iso2 import Iso2Secc
from evstack.hlc.secc.iso20 import Iso20DcSecc
from evstack.hlc.secc.iso20.dynamic import Offer
from evstack.hlc.secc.machine import Machine

_log = logging.getLogger(__name__)

# Protocols with a state machine here; a configured protocol outside this set is not offered.
IMPLEMENTED = frozenset({"din", "iso2", "iso20"})
NEEDS_TLS = frozenset({"iso20"})  # ISO 15118-20 [V2G20-2356]: TLS is mandatory


@dataclasses.dataclass(frozen=True)
class SeccConfig:
    # In the SECC's order of preference; it decides only with `secc_priority`.
    protocols: tuple[sap.AppProtocol, ...] = (sap.ISO20_DC, sap.ISO20_AC, sap.ISO2, sap.DIN)
    secc_priority: bool = False
    dc_transfer_type: str = "DC_extended"
    # ISO 15118-20: the control modes offered (the EV picks), and MobilityNeedsMode for the
    # dynamic one (2: the charger may state departure time and SoC targets too).
    iso20: Offer = dataclasses.field(default_factory=Offer)


@dataclasses.dataclass
class SessionRecord:
    """What happened, for the log and the charger's session record."""

    protocol: str | None = None
    session_id: str | None = None
    evcc_id: str | None = None
    requests: int = 0
    last_request: str | None = None
    end_reason: str | None = None
    clean: bool | None = None
    response_code: str | None = None
    paused: bool = False  # ISO 15118-2: the EV paused; it may join again with session_id


class SeccSession:
    def __init__(
        self,
        evse: EvseState,
        now: float,
        config: SeccConfig | None = None,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        paused_session: str | None = None,
        tls: bool = False,
    ):
        """`paused_session`: the id of a session the EV paused on this outlet (ISO 15118-2),
        which a SessionSetupReq carrying it joins. `tls`: the connection is TLS (ISO 15118-20
        is offered only then)."""
        self._tls = tls
        self.evse = evse
        self.config = config or SeccConfig()
        self.record = SessionRecord()
        self._random = random_bytes
        self._paused_session = paused_session
        self._protocol: Machine | None = None
        self._ended = False
        self._setup_deadline: float | None = now + timing.COMMUNICATION_SETUP_TIMEOUT
        self._sequence_deadline = now + timing.SEQUENCE_TIMEOUT

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def state(self) -> str:
        if self._ended:
            return "Ended"
        return "SupportedAppProtocol" if self._protocol is None else self._protocol.state.value

    def deadline(self) -> float | None:
        """When `poll` must run next, or None once the session is over."""
        if self._ended:
            return None
        if self._setup_deadline is None:
            return self._sequence_deadline
        return min(self._setup_deadline, self._sequence_deadline)

    def poll(self, now: float) -> list[Output]:
        if self._ended:
            return []
        if self._setup_deadline is not None and now >= self._setup_deadline:
            return self._end("no SessionSetup within the communication setup time", close=True)
        if now >= self._sequence_deadline:
            return self._end(
                f"V2G_SECC_Sequence_Timeout: no request within {timing.SEQUENCE_TIMEOUT:g} s "
                f"after {self.record.last_request or 'connecting'}",
                close=True,
            )
        return []

    def connection_lost(self, reason: str) -> list[Output]:
        """The transport ended (peer closed, reset, bad V2GTP framing)."""
        return [] if self._ended else self._end(f"connection lost: {reason}", close=False)

    def receive(self, payload_type: int, payload: bytes, now: float) -> list[Output]:
        if self._ended:
            return []
        if self._protocol is None:
            schema: str | None = "app" if payload_type == codec.payload_type("app") else None
        else:
            schema = self._protocol.schema_for(payload_type)
        if schema is None:
            return self._end(
                f"payload type {payload_type:#06x} not due in {self.state}", close=True
            )
        try:
            document = codec.decode(schema, payload)
        except codec.CodecError as exc:
            return self._end(f"malformed EXI for {schema}: {exc}", close=True)
        self.record.requests += 1
        if self._protocol is None:
            return self._app_protocol(document, now)
        return self._v2g_message(document, now)

    def _app_protocol(self, document: dict[str, Any], now: float) -> list[Output]:
        request = document.get("supportedAppProtocolReq")
        if request is None:
            return self._end(f"{next(iter(document))} before SupportedAppProtocol", close=True)
        self.record.last_request = "supportedAppProtocolReq"
        offered = tuple(
            p
            for p in self.config.protocols
            if p.name in IMPLEMENTED and (self._tls or p.name not in NEEDS_TLS)
        )
        result = sap.negotiate(request, offered, secc_priority=self.config.secc_priority)
        out: list[Output] = [self._send("app", sap.response(result), "supportedAppProtocolRes")]
        if result is None:
            names = [p.get("ProtocolNamespace") for p in request.get("AppProtocol", [])]
            reason = f"no common protocol in {names}"
            return out + self._end(reason, close=True, code="Failed_NoNegotiation")
        self.record.protocol = result.protocol.name
        out.append(ev.ProtocolNegotiated(result.protocol.name, result.protocol.namespace))
        session_id = self._random(8).hex()
        if result.protocol.name == "din":
            self._protocol = DinSecc(
                self.evse, session_id, transfer_type=self.config.dc_transfer_type
            )
        elif result.protocol.name == "iso2":
            self._protocol = Iso2Secc(self.evse, session_id, paused_session=self._paused_session)
        else:
            self._protocol = Iso20DcSecc(
                self.evse, session_id, offer=self.config.iso20, paused_session=self._paused_session
            )
        self._sequence_deadline = now + timing.SEQUENCE_TIMEOUT
        return out

    def _v2g_message(self, document: dict[str, Any], now: float) -> list[Output]:
        assert self._protocol is not None
        request = self._protocol.unwrap(document)
        if request is None:
            return self._end(f"not one V2G request: {sorted(document)}", close=True)
        name, content, header = request
        self.record.last_request = name
        out: list[Output] = []
        reply = self._protocol.handle(name, content, header, now, out)
        if reply.session_id is not None and self.record.session_id is None:
            self.record.session_id = reply.session_id
            self._setup_deadline = None
        for event in out:
            if isinstance(event, ev.SessionStarted):
                self.record.evcc_id = event.evcc_id
        if reply.body is not None:
            schema, response = self._protocol.wrap(reply.name, reply.body, now)
            try:
                out.append(self._send(schema, response, reply.name))
            except codec.CodecError as exc:
                _log.error("could not encode %s: %s", reply.name, exc)
                return out + self._end(f"internal error encoding {reply.name}: {exc}", close=True)
        self._sequence_deadline = now + timing.SEQUENCE_TIMEOUT
        if reply.end is not None:
            end = reply.end
            self.record.paused = end.paused
            return out + self._end(
                end.reason, close=True, clean=end.clean, code=end.response_code, paused=end.paused
            )
        return out

    def _send(self, schema: str, document: dict[str, Any], name: str) -> ev.Send:
        return ev.Send(codec.payload_type(schema), codec.encode(schema, document), name)

    def _end(
        self,
        reason: str,
        *,
        close: bool,
        clean: bool = False,
        code: str | None = None,
        paused: bool = False,
    ) -> list[Output]:
        self._ended = True
        self.record.end_reason, self.record.clean, self.record.response_code = reason, clean, code
        log = _log.info if clean else _log.warning
        log("V2G session ended (%s): %s", "clean" if clean else "not clean", reason)
        out: list[Output] = [ev.SessionEnded(reason, clean, code, paused)]
        if close:
            out.append(ev.Close(reason))
        return out
