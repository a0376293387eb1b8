"""What the charging core of one EVSE hears and says: its inputs, its actions, its states.

`Charger` (charger.py) turns `Input`s into `Action`s; the EvseManager module turns bus messages
into inputs and carries out the actions. Everything here is plain data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CpState(enum.StrEnum):
    """Control-pilot states as the EVSE reads them off the line."""

    A = "A"  # no EV
    B = "B"  # EV connected, not ready
    C = "C"  # EV ready to charge
    D = "D"  # EV ready, ventilation required
    E = "E"  # 0 V: short circuit or no supply
    F = "F"  # -12 V: EVSE not available


class ChargerState(enum.StrEnum):
    """EvseManager's states, named as EVerest names them."""

    DISABLED = "Disabled"
    IDLE = "Idle"
    WAITING_FOR_AUTHENTICATION = "WaitingForAuthentication"
    PREPARE_CHARGING = "PrepareCharging"
    CHARGING = "Charging"
    CHARGING_PAUSED_EV = "ChargingPausedEV"
    CHARGING_PAUSED_EVSE = "ChargingPausedEVSE"
    STOPPING_CHARGING = "StoppingCharging"
    FINISHED = "Finished"


class SessionEvent(enum.StrEnum):
    """The session events EvseManager publishes (EVerest's SessionEventEnum)."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    SESSION_STARTED = "SessionStarted"
    AUTH_REQUIRED = "AuthRequired"
    AUTHORIZED = "Authorized"
    DEAUTHORIZED = "Deauthorized"
    TRANSACTION_STARTED = "TransactionStarted"
    PREPARE_CHARGING = "PrepareCharging"
    CHARGING_STARTED = "ChargingStarted"
    CHARGING_PAUSED_EV = "ChargingPausedEV"
    CHARGING_PAUSED_EVSE = "ChargingPausedEVSE"
    CHARGING_RESUMED = "ChargingResumed"
    STOPPING_CHARGING = "StoppingCharging"
    CHARGING_FINISHED = "ChargingFinished"
    TRANSACTION_FINISHED = "TransactionFinished"
    SESSION_FINISHED = "SessionFinished"


class StopReason(enum.StrEnum):
    """Why a transaction ended: the subset of EVerest's StopTransactionReason we produce."""

    EV_DISCONNECTED = "EVDisconnected"
    LOCAL = "Local"
    REMOTE = "Remote"
    DEAUTHORIZED = "DeAuthorized"
    GROUND_FAULT = "GroundFault"
    OVERCURRENT_FAULT = "OvercurrentFault"
    EMERGENCY_STOP = "EmergencyStop"
    POWER_LOSS = "PowerLoss"  # the charger went down while the transaction ran
    REBOOT = "Reboot"  # the charger was stopped while the transaction ran
    OTHER = "Other"


class Fault(enum.StrEnum):
    """Faults that force the safe state, named after EVerest's error types."""

    DIODE_FAULT = "evse_board_support/DiodeFault"
    VENTILATION_NOT_AVAILABLE = "evse_board_support/VentilationNotAvailable"
    PILOT_FAULT = "evse_board_support/MREC14PilotFault"
    GROUND_FAILURE = "evse_board_support/MREC2GroundFailure"
    OVER_CURRENT = "evse_board_support/MREC4OverCurrentFailure"
    CONTACTOR_FAULT = "evse_board_support/MREC17EVSEContactorFault"
    EMERGENCY_STOP = "evse_board_support/MREC8EmergencyStop"
    PERMANENT_FAULT = "evse_board_support/PermanentFault"


INOPERATIVE = "evse_manager/Inoperative"


# --- inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class CpChanged:
    """The pilot analyser confirmed a new state on the line."""

    state: CpState


@dataclass(frozen=True)
class RelayChanged:
    """The board reports what its contactor really did."""

    power_on: bool


@dataclass(frozen=True)
class CurrentLimit:
    """Energy management grants this much current; below 6 A the EVSE pauses."""

    amps: float


@dataclass(frozen=True)
class Authorize:
    """A token was accepted for this EVSE."""

    token: str


@dataclass(frozen=True)
class WithdrawAuthorization:
    """The authorization is taken back (e.g. the EV never plugged in within the timeout)."""


@dataclass(frozen=True)
class Pause:
    """The operator or user pauses charging from the EVSE side."""


@dataclass(frozen=True)
class Resume:
    """Undo `Pause`."""


@dataclass(frozen=True)
class StopTransaction:
    reason: StopReason = StopReason.LOCAL


@dataclass(frozen=True)
class Enable:
    enabled: bool


@dataclass(frozen=True)
class FaultChanged:
    """A fault reported by the board (or another requirement) became active or cleared."""

    fault: Fault
    active: bool


@dataclass(frozen=True)
class MeasuredCurrent:
    """The meter's highest phase current, in A."""

    amps: float


@dataclass(frozen=True)
class CableAmpacity:
    """The proximity pilot says the plugged cable carries at most this (None: unknown)."""

    amps: float | None


@dataclass(frozen=True)
class EnergyLost:
    """The energy manager or a node between it and us crashed: 0 A now, and power off at
    once instead of after the EV's grace period, since nobody coordinates the fuse now."""


@dataclass(frozen=True)
class BoardLost:
    """The board's module crashed: its contactor has dropped, it hears nothing."""


@dataclass(frozen=True)
class BoardBack:
    """The board is up again as a new incarnation: it forgot everything it was told."""


Input = (
    CpChanged
    | RelayChanged
    | CurrentLimit
    | Authorize
    | WithdrawAuthorization
    | Pause
    | Resume
    | StopTransaction
    | Enable
    | FaultChanged
    | CableAmpacity
    | MeasuredCurrent
    | EnergyLost
    | BoardLost
    | BoardBack
)


@dataclass(frozen=True)
class Recovery:
    """A transaction was running when this EvseManager restarted (see `Charger.start`)."""

    token: str
    stop_reason: StopReason | None = None  # a stop was under way: complete it, do not resume


# --- actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class SetPwm:
    """Run the pilot PWM at this duty cycle, in percent."""

    duty_percent: float


@dataclass(frozen=True)
class SetCpX1:
    """Steady +12 V pilot: no PWM."""


@dataclass(frozen=True)
class SetCpF:
    """Steady -12 V pilot: EVSE not available."""


@dataclass(frozen=True)
class AllowPower:
    """Allow (or forbid) the board to close the contactor."""

    allow: bool


@dataclass(frozen=True)
class Publish:
    """Publish a session event; `stop_reason` is set for TransactionFinished."""

    event: SessionEvent
    stop_reason: StopReason | None = None
    token: str | None = None


@dataclass(frozen=True)
class RaiseError:
    error: str


@dataclass(frozen=True)
class ClearError:
    error: str


@dataclass(frozen=True)
class EnableBoard:
    """Enable the board's port; it answers with where the pilot, contactor and cable stand."""


Action = SetPwm | SetCpX1 | SetCpF | AllowPower | Publish | RaiseError | ClearError | EnableBoard
