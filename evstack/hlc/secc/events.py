"""What the SECC session layer gives back to its driver, and what it reads from the charger.

A session never reads a clock and never touches a socket. Its driver calls

    receive(payload_type, payload, now)   one V2GTP message from the EVCC
    poll(now)                             time passed: runs every timer due by `now`

and carries out what comes back: `Send` (one V2GTP message to the EVCC), `Close` (end the
TCP connection) and events for the charger (EvseManager, the DC supply). The charger's side
of the conversation is `EvseState`, which the driver keeps current; the session reads it
when it answers, so a limit the charger lowers goes out in the very next response.
"""

from __future__ import annotations

import dataclasses
import enum


@dataclasses.dataclass(frozen=True)
class Send:
    payload_type: int
    payload: bytes
    name: str  # the response's element name, for logs and benchmarks


@dataclasses.dataclass(frozen=True)
class Close:
    """Close the TCP connection (after sending what came before)."""

    reason: str


# Events for the charger. Their names follow the vars of EVerest's ISO15118_charger.


@dataclasses.dataclass(frozen=True)
class ProtocolNegotiated:
    protocol: str  # "din", "iso2", ...
    namespace: str


@dataclasses.dataclass(frozen=True)
class SessionStarted:
    evcc_id: str  # hex, as the EV sent it (its MAC for DIN and ISO-2)
    session_id: str  # hex


@dataclasses.dataclass(frozen=True)
class RequireAuthEim:
    """The EV chose external identification; the charger answers with EvseState.auth."""


@dataclasses.dataclass(frozen=True)
class EvChargeParameters:
    energy_transfer_mode: str
    max_voltage: float
    max_current: float
    max_power: float | None
    energy_capacity: float | None
    energy_request: float | None
    full_soc: int | None
    bulk_soc: int | None
    soc: int | None  # None for AC: the EV does not report it there


@dataclasses.dataclass(frozen=True)
class StartCableCheck:
    """The charger runs the isolation test and reports EvseState.cable_check."""


@dataclasses.dataclass(frozen=True)
class StartPreCharge:
    """The supply goes to the EV's voltage with a small current limit."""


@dataclasses.dataclass(frozen=True)
class EvTarget:
    """The EV's target for the supply (PreCharge, CurrentDemand)."""

    voltage: float
    current: float


@dataclasses.dataclass(frozen=True)
class AcEvPower:
    """ISO 15118-20 AC_ChargeLoopReq: the active power the EV says it takes now, all phases
    (W; negative in an AC_BPT session when it gives power back). ISO 15118-2 AC has no such
    figure: the EV takes what the EVSE's maximum current allows."""

    present_active_power: float


@dataclasses.dataclass(frozen=True)
class PowerDelivery:
    """PowerDeliveryReq: `start` closes the path (if allowed), not `start` opens it."""

    start: bool


@dataclasses.dataclass(frozen=True)
class EvStatus:
    ready: bool
    error_code: str
    soc: int
    charging_complete: bool | None = None


@dataclasses.dataclass(frozen=True)
class SessionEnded:
    """The session is over. `clean`: a SessionStop from the EV; else the reason why not.

    In any case the charger goes to its safe state: no current, contactors open.
    """

    reason: str
    clean: bool
    response_code: str | None = None  # the FAILED code sent, if any
    paused: bool = False  # ISO 15118-2 SessionStop(Pause): the EV may come back to it


Event = (
    ProtocolNegotiated
    | SessionStarted
    | RequireAuthEim
    | EvChargeParameters
    | StartCableCheck
    | StartPreCharge
    | EvTarget
    | AcEvPower
    | PowerDelivery
    | EvStatus
    | SessionEnded
)
Output = Send | Close | Event


class Authorization(enum.Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class IsolationStatus(enum.Enum):
    """DIN/ISO-2 isolationLevelType."""

    INVALID = "Invalid"
    VALID = "Valid"
    WARNING = "Warning"
    FAULT = "Fault"


@dataclasses.dataclass
class EvseState:
    """The charger as the SECC reports it; the driver updates it, the session only reads it.

    `power_allowed` is EvseManager's word: without it PowerDeliveryReq(start) is refused
    and nothing is powered.
    """

    evse_id: str = "00"  # DIN: hexBinary
    evse_id_iso: str = "ZZ00000"  # ISO 15118-2: "ZZ00000" when the EVSE has no ID
    # The energy transfer modes offered (ISO 15118-2 names), DC or AC or both.
    energy_modes: tuple[str, ...] = ("DC_extended",)
    auth: Authorization = Authorization.PENDING
    cable_check: bool | None = None  # None while running (or not started)
    isolation: IsolationStatus = IsolationStatus.INVALID
    power_allowed: bool = False
    stop_requested: bool = False  # the charger wants the EV to stop (EVSENotification)
    malfunction: bool = False  # the power path failed: EVSE_Malfunction, session ends
    present_voltage: float = 0.0
    present_current: float = 0.0
    max_voltage: float = 500.0
    max_current: float = 200.0
    max_power: float = 100_000.0
    min_voltage: float = 50.0
    min_current: float = 0.0
    peak_current_ripple: float = 2.0
    current_regulation_tolerance: float | None = 5.0
    energy_to_be_delivered: float | None = None
    payment_options: tuple[str, ...] = ("ExternalPayment",)  # EIM; Contract comes with PnC
    # ISO 15118-20 DC_BPT: whether the power path can take energy back, and how much.
    bidirectional: bool = False
    max_discharge_current: float = 0.0
    max_discharge_power: float = 0.0
    # ISO 15118-20 dynamic control mode: the power the charger wants now (W; negative takes
    # energy back, DC_BPT or AC_BPT), None for as much as every limit allows; and its own mobility
    # needs, sent where it offered MobilityNeedsMode 2 (departure in s from now, SoC in %).
    dynamic_power: float | None = None
    mobility_departure_time: int | None = None
    mobility_minimum_soc: int | None = None
    mobility_target_soc: int | None = None
    ac_nominal_voltage: float = 230.0
    ac_max_current: float = 32.0  # per phase, what the EVSE offers now
    rcd: bool = False  # the residual current device tripped
