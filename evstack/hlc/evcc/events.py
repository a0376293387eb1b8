"""What the EVCC session hands its driver: bytes to send, a close, and notices for the EV."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Send:
    payload_type: int
    payload: bytes
    name: str  # the request's element name, for logs


@dataclasses.dataclass(frozen=True)
class Close:
    reason: str


@dataclasses.dataclass(frozen=True)
class Progress:
    """A step the EV simulator waits on (EVerest's iso_* commands): `PowerReady` once the
    charge parameters are agreed (the EV asks for power: CP state C), `DcPowerOn` when
    precharge has brought the inlet to the battery's voltage (the EV closes its contactor),
    `Charging` from PowerDelivery(start) on, `ChargeLoop` at every loop response,
    `StopFromCharger` when the charger asks to stop, `Stopping` at the PowerDelivery that
    ends the loop."""

    step: str
    voltage: float | None = None
    current: float | None = None
    soc: int | None = None


@dataclasses.dataclass(frozen=True)
class SessionEnded:
    reason: str
    clean: bool  # ended by SessionStopRes, as the standard's normal end
    protocol: str | None
    energy_wh: float  # through the inlet this session (negative: the EV gave energy back)
    last_response: str | None = None


Output = Send | Close | Progress | SessionEnded
