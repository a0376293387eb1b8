"""One V2G session on one TCP connection, EV side: SupportedAppProtocol, then the chosen
protocol's flow, with the EVCC's timers.

Sans-IO: the driver calls `start`, `receive`, `poll` (at `deadline()`) and
`connection_lost`, each with the time, and carries out what they return. How a session ends:
- SessionStopRes: clean;
- a response code starting with FAILED, a response other than the awaited one, a session id
  other than the charger's, bytes that are no document of the negotiated schema: close;
- a response not in within its message timeout, or a phase (authorisation and parameters
  while Ongoing, cable check, precharge, communication setup) not done in its time: close;
- the connection breaking.
Each way gives one SessionEnded with the reason and the energy through the inlet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from evstack.hlc.evcc import codec, timing
from evstack.hlc.evcc import events as ev
from evstack.hlc.evcc.battery import Battery
from evstack.hlc.evcc.codec import Doc
from evstack.hlc.evcc.config import EvccConfig
from evstack.hlc.evcc.din import DinFlow
from evstack.hlc.evcc.iso2 import Iso2Flow
from evstack.hlc.evcc.iso20 import Iso20Flow
from evstack.hlc.evcc.protocol import ProtocolFlow

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppProtocol:
    namespace: str
    major: int
    minor: int
    flow: type[ProtocolFlow]
    ac_namespace: str | None = None  # ISO-20 names AC and DC sessions apart

    def namespace_for(self, energy: str) -> str:
        return self.ac_namespace if energy == "AC" and self.ac_namespace else self.namespace


PROTOCOLS = {
    "din": AppProtocol("urn:din:70121:2012:MsgDef", 2, 0, DinFlow),
    "iso2": AppProtocol("urn:iso:15118:2:2013:MsgDef", 2, 0, Iso2Flow),
    "iso20": AppProtocol(
        "urn:iso:std:iso:15118:-20:DC", 1, 0, Iso20Flow, "urn:iso:std:iso:15118:-20:AC"
    ),
}
DC_ONLY = frozenset({"din"})


class EvccSession:
    def __init__(self, config: EvccConfig, battery: Battery, *, resume: str | None = None):
        """`resume`: the id of an ISO 15118-2 or -20 session this EV paused with this charger;
        its SessionSetupReq asks to join it again."""
        self.config = config
        self.resume = resume
        self.battery = battery
        self.timing = config.timing
        self.offered = tuple(
            p for p in config.protocols if config.energy == "DC" or p not in DC_ONLY
        )
        self.protocol: str | None = None
        self.flow: ProtocolFlow | None = None
        self.session_id = "00"
        self.ended = False
        self.energy_wh = 0.0
        self.outputs: list[ev.Output] = []
        self.awaiting: str | None = None  # the response due
        self.last_response: str | None = None
        self.response_deadline: float | None = None
        self.phase_name: str | None = None
        self.phase_deadline: float | None = None
        self.queued: tuple[float, str, Doc] | None = None  # a request paced by a loop
        self.last_energy_time: float | None = None
        self._stop_requested = False
        self._pause_requested = False
        self._discharge_requested = False
        # What the EV's own inlet measures, when its simulator or hardware tells (precharge).
        self.inlet_voltage: float | None = None

    # -- the driver's side ----------------------------------------------------------------
    def start(self, now: float) -> list[ev.Output]:
        offers = [
            {
                "ProtocolNamespace": PROTOCOLS[name].namespace_for(self.config.energy),
                "VersionNumberMajor": PROTOCOLS[name].major,
                "VersionNumberMinor": PROTOCOLS[name].minor,
                "SchemaID": index + 1,
                "Priority": index + 1,
            }
            for index, name in enumerate(self.offered)
        ]
        self.phase("communication setup", timing.COMMUNICATION_SETUP, now)
        request = {"supportedAppProtocolReq": {"AppProtocol": offers}}
        self._send("app", "supportedAppProtocolReq", request, now)
        return self._take()

    def receive(self, payload_type: int, payload: bytes, now: float) -> list[ev.Output]:
        if self.ended:
            return []
        if self.flow is None:
            schema: str | None = "app" if payload_type == codec.payload_type("app") else None
        else:
            schema = self.flow.schema_for(payload_type)
        if schema is None:
            due = self.protocol or "app"
            self.finish(f"payload type {payload_type:#06x} where {due} was due", clean=False)
            return self._take()
        try:
            document = codec.decode(schema, payload)
        except codec.CodecError as exc:
            self.finish(f"undecodable {schema} message: {exc}", clean=False)
            return self._take()
        self.response_deadline = None
        if self.protocol is None:
            self._on_app_protocol(document, now)
        else:
            self._on_message(document, now)
        return self._take()

    def poll(self, now: float) -> list[ev.Output]:
        if self.ended:
            return []
        if self.response_deadline is not None and now >= self.response_deadline:
            self.finish(f"timeout: no response to {self.awaiting_request()}", clean=False)
        elif self.phase_deadline is not None and now >= self.phase_deadline:
            self.finish(f"timeout: {self.phase_name} not done in time", clean=False)
        elif self.queued is not None and now >= self.queued[0]:
            _, name, body = self.queued
            self.queued = None
            self.request(name, body, now)
        return self._take()

    def deadline(self) -> float | None:
        times = [self.response_deadline, self.phase_deadline]
        if self.queued is not None:
            times.append(self.queued[0])
        pending = [t for t in times if t is not None]
        return min(pending) if pending and not self.ended else None

    def connection_lost(self, reason: str) -> list[ev.Output]:
        if not self.ended:
            self.ended = True
            self.outputs.append(self._ended(f"connection lost: {reason}", clean=False))
        return self._take()

    def not_connected(self, reason: str) -> ev.SessionEnded:
        """The connection never came up (a TLS handshake that failed): the session ends
        before its first request."""
        self.ended = True
        _log.warning("EVCC session ended before it began: %s", reason)
        return self._ended(reason, clean=False)

    # -- commands from the EV -------------------------------------------------------------
    def stop_charging(self) -> None:
        """End the charge loop at its next response, as a driver pressing stop would."""
        self._stop_requested = True

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    def pause_charging(self) -> bool:
        """End the charge loop as `stop_charging` does, but with SessionStop(Pause): the EV
        may come back to this session later. ISO 15118-2 and -20; False for DIN 70121."""
        if self.protocol == "din":
            return False
        self._stop_requested = self._pause_requested = True
        return True

    @property
    def pause_requested(self) -> bool:
        return self._pause_requested

    @property
    def paused_session(self) -> str | None:
        """The id of the session if it ended paused (SessionStopRes to a Pause)."""
        done = self.ended and self.last_response == "SessionStopRes"
        return self.session_id if done and self._pause_requested else None

    def discharge(self, on: bool) -> None:
        """A bidirectional EV (ISO-20 DC_BPT) gives energy back (on) or takes it again, from
        the next charge-loop response on: the grid operator's or the driver's request."""
        self._discharge_requested = on

    @property
    def discharge_requested(self) -> bool:
        return self._discharge_requested

    # -- the flow's side (flow.Context) ---------------------------------------------------
    def request(self, name: str, body: Doc, now: float, *, delay: float = 0.0) -> None:
        assert self.flow is not None
        if delay > 0.0:
            self.queued = (now + delay, name, body)
        else:
            document = self.flow.wrap(name, body, self.session_id)
            self._send(self.flow.request_schema(name), name, document, now)

    def phase(self, what: str, seconds: float, now: float) -> None:
        self.phase_name, self.phase_deadline = what, now + self.timing.phase(seconds)

    def clear_phase(self) -> None:
        self.phase_name, self.phase_deadline = None, None

    def finish(self, reason: str, *, clean: bool) -> None:
        if self.ended:
            return
        self.ended = True
        self.queued = None
        log = _log.info if clean else _log.warning
        log("EVCC session ended (%s): %s", self.protocol, reason)
        self.outputs += [self._ended(reason, clean=clean), ev.Close(reason)]

    def progress(
        self, step: str, voltage: float | None = None, current: float | None = None
    ) -> None:
        self.outputs.append(ev.Progress(step, voltage, current, self.battery.soc_percent))

    def count_energy(self, voltage: float, current: float, now: float) -> None:
        """The inlet's voltage and current as reported at `now`, held since the last report
        (the charge loop samples them)."""
        if self.last_energy_time is not None:
            seconds = now - self.last_energy_time
            self.energy_wh += self.battery.exchange(voltage, current, seconds)
        self.last_energy_time = now

    # -- inside ---------------------------------------------------------------------------
    def awaiting_request(self) -> str:
        return (self.awaiting or "?").removesuffix("Res") + "Req"

    def _on_app_protocol(self, document: Doc, now: float) -> None:
        response = document.get("supportedAppProtocolRes")
        if response is None:
            self.finish(f"expected supportedAppProtocolRes, got {list(document)}", clean=False)
            return
        code = response.get("ResponseCode", "")
        if not code.startswith("OK") or "SchemaID" not in response:
            self.finish(f"no protocol agreed: {code}", clean=False)
            return
        index = int(response["SchemaID"]) - 1
        if not 0 <= index < len(self.offered):
            self.finish(
                f"charger chose SchemaID {response['SchemaID']}, never offered", clean=False
            )
            return
        self.protocol = self.offered[index]
        self.last_response = "supportedAppProtocolRes"
        self.flow = PROTOCOLS[self.protocol].flow(self)
        joining = self.resume is not None and self.protocol != "din"
        self.session_id = self.resume if joining and self.resume else self.flow.first_session_id
        self.flow.start(now)

    def _on_message(self, document: Doc, now: float) -> None:
        assert self.flow is not None
        try:
            name, body, session_id = self.flow.unwrap(document)
        except (KeyError, ValueError, AttributeError):
            self.finish(f"not a V2G_Message with one body: {list(document)}", clean=False)
            return
        if name != self.awaiting:
            self.finish(f"{name} where {self.awaiting} was due", clean=False)
            return
        self.last_response = name
        if name == "SessionSetupRes":
            self.session_id = session_id
            self.clear_phase()
            if body.get("ResponseCode") == "OK_OldSessionJoined":
                _log.info("EVCC joined the paused session %s again", session_id)
        elif session_id.lower() != self.session_id.lower():
            self.finish(f"session id {session_id} in {name}, not {self.session_id}", clean=False)
            return
        code = str(body.get("ResponseCode", ""))
        if code.startswith("FAILED"):
            self.finish(f"{name}: {code}", clean=False)
            return
        self.flow.handle(name, body, now)

    def _send(self, schema: str, name: str, document: Doc, now: float) -> None:
        try:
            payload = codec.encode(schema, document)
        except (codec.CodecError, ValueError, KeyError, TypeError) as exc:
            self.finish(f"cannot encode {name}: {exc}", clean=False)
            return
        self.awaiting = name.removesuffix("Req") + "Res"
        table = timing.MESSAGE if self.flow is None else self.flow.timeouts
        self.response_deadline = now + self.timing.message(name, table)
        self.outputs.append(ev.Send(codec.payload_type(schema), payload, name))

    def _ended(self, reason: str, *, clean: bool) -> ev.SessionEnded:
        return ev.SessionEnded(reason, clean, self.protocol, self.energy_wh, self.last_response)

    def _take(self) -> list[ev.Output]:
        outputs, self.outputs = self.outputs, []
        return outputs
