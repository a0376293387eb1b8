"""What a protocol's flow is to the EVCC session: its framing (schema sets, header) and its
sequence of requests. DIN 70121 and ISO 15118-2 share one flow (`flow.Flow`); ISO 15118-20
has its own (`iso20.Iso20DcFlow`)."""

from __future__ import annotations

import abc
from typing import Protocol

from evstack.hlc.evcc import codec, timing
from evstack.hlc.evcc.battery import Battery
from evstack.hlc.evcc.codec import Doc
from evstack.hlc.evcc.config import EvccConfig


class Context(Protocol):
    """What a flow may do; the session implements it."""

    config: EvccConfig
    battery: Battery
    inlet_voltage: float | None

    def request(self, name: str, body: Doc, now: float, *, delay: float = 0.0) -> None: ...
    def phase(self, what: str, seconds: float, now: float) -> None: ...
    def clear_phase(self) -> None: ...
    def finish(self, reason: str, *, clean: bool) -> None: ...
    def progress(
        self, step: str, voltage: float | None = None, current: float | None = None
    ) -> None: ...
    def count_energy(self, voltage: float, current: float, now: float) -> None: ...
    @property
    def stop_requested(self) -> bool: ...
    @property
    def pause_requested(self) -> bool: ...
    @property
    def discharge_requested(self) -> bool: ...


class ProtocolFlow(abc.ABC):
    schema = ""  # the schema set of the negotiated protocol's messages
    timeouts: dict[str, float] = timing.MESSAGE

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config
        self.battery = ctx.battery
        # The charger's limits as last announced (for the charge loop and displays).
        self.evse_max_current: float | None = None
        self.evse_max_power: float | None = None
        self.evse_max_voltage: float | None = None

    @abc.abstractmethod
    def start(self, now: float) -> None:
        """Send the first request after SupportedAppProtocol."""

    @abc.abstractmethod
    def handle(self, name: str, body: Doc, now: float) -> None:
        """One response, already checked to be the awaited one with a non-FAILED code."""

    def request_schema(self, name: str) -> str:
        return self.schema

    def schema_for(self, payload_type: int) -> str | None:
        """The schema set a response of this V2GTP payload type is in, or None if none."""
        return self.schema if payload_type == codec.payload_type(self.schema) else None

    def wrap(self, name: str, body: Doc, session_id: str) -> Doc:
        header = {"SessionID": session_id}
        return {"V2G_Message": {"Header": header, "Body": {name: body}}}

    def unwrap(self, document: Doc) -> tuple[str, Doc, str]:
        """(name, body, session id); KeyError or ValueError for anything else."""
        message = document["V2G_Message"]
        ((name, body),) = message["Body"].items()
        return name, body, str(message["Header"]["SessionID"])

    @property
    def first_session_id(self) -> str:
        return "00"
