"""What the station keeps of its transactions, and the names OCPP gives EvseManager's.

`OpenTransaction` is one OCPP transaction that has not ended, as `TxStore` keeps it in the
station's state folder (fsync at every write: a seqNo that went out is never handed out
again); `TxSettings` is what the device model says about transactions and meter values now;
`EvseTx` is what the transactions core knows of one EVSE, shared by `tx_core` and the modules
it delegates to (`tx_meter`, `tx_journal`).
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from evstack.generated.ocpp.v201.datatypes import IdTokenType
from evstack.generated.ocpp.v201.enums import (
    ChargingStateEnumType,
    IdTokenEnumType,
    MeasurandEnumType,
    ReadingContextEnumType,
    ReasonEnumType,
    TriggerReasonEnumType,
)
from evstack.generated.ocpp.v201.messages import MeterValuesRequest, TransactionEventRequest
from evstack.generated.ocpp.values import dec_hook, enc_hook
from evstack.generated.types.authorization import ProvidedIdToken
from evstack.generated.types.evse_manager import SessionEventEnum
from evstack.generated.types.powermeter import Powermeter
from evstack.ocpp.v201 import DateTime
from evstack.runtime.state import transaction

from .sampling import Reading, SampleSeries

__all__ = [
    "CHARGING_STATES",
    "PAUSE_REASONS",
    "RECONCILED",
    "TRIGGERS",
    "Effect",
    "EvseTx",
    "HeldAuth",
    "OpenTransaction",
    "PendingAuth",
    "Sink",
    "StopTransaction",
    "TxSettings",
    "TxStore",
    "ocpp_id_token",
    "stop_reason",
    "timestamp",
    "unix",
]

Trigger = TriggerReasonEnumType
State = ChargingStateEnumType
Reason = ReasonEnumType
Event = SessionEventEnum
Context = ReadingContextEnumType

# EvseManager's StopTransactionReason as OCPP 2.0.1 names it, and what triggered it.
_REASONS = {"HardReset": Reason.ImmediateReset, "SoftReset": Reason.Reboot}
TRIGGERS = {
    Reason.Local: Trigger.StopAuthorized,
    Reason.MasterPass: Trigger.StopAuthorized,
    Reason.Remote: Trigger.RemoteStop,
    Reason.DeAuthorized: Trigger.Deauthorized,
    Reason.LocalOutOfCredit: Trigger.Deauthorized,
    Reason.EVDisconnected: Trigger.EVCommunicationLost,
    Reason.Timeout: Trigger.EVConnectTimeout,
    Reason.EnergyLimitReached: Trigger.EnergyLimitReached,
    Reason.TimeLimitReached: Trigger.TimeLimitReached,
    Reason.StoppedByEV: Trigger.ChargingStateChanged,
    Reason.SOCLimitReached: Trigger.ChargingStateChanged,
    Reason.Reboot: Trigger.ResetCommand,
    Reason.ImmediateReset: Trigger.ResetCommand,
}
CHARGING_STATES = {
    Event.PrepareCharging: State.SuspendedEV,  # offered, the EV does not take it (yet)
    Event.ChargingStarted: State.Charging,
    Event.ChargingResumed: State.Charging,
    Event.ChargingPausedEV: State.SuspendedEV,
    Event.ChargingPausedEVSE: State.SuspendedEVSE,
}
# What an end of energy transfer is called when TxStopPoint has EnergyTransfer.
PAUSE_REASONS = {State.SuspendedEV: Reason.StoppedByEV, State.SuspendedEVSE: Reason.Other}
_HEX = re.compile(r"[0-9A-Fa-f]*")
_HEX_LENGTHS = {IdTokenEnumType.ISO14443: (8, 14), IdTokenEnumType.ISO15693: (16,)}
_SEEN_KEPT = 64  # EVSE sessions remembered as reported, per EVSE (the journal keeps 32)
RECONCILED = ""  # among the sessions seen once an EVSE was reconciled for the first time


def stop_reason(evse_reason: str) -> ReasonEnumType:
    """EvseManager's StopTransactionReason as OCPP's ReasonEnumType."""
    if evse_reason in _REASONS:
        return _REASONS[evse_reason]
    try:
        return Reason(evse_reason)
    except ValueError:
        return Reason.Other


def ocpp_id_token(provided: ProvidedIdToken) -> IdTokenType:
    """The token as the EVSE got it, typed as its format allows: an ISO14443 UID is 8 or 14 hex
    digits and an ISO15693 one 16, so any other value of those types goes as Local."""
    value, kind = provided.id_token.value, IdTokenEnumType(str(provided.id_token.type))
    lengths = _HEX_LENGTHS.get(kind)
    if lengths is not None and not (len(value) in lengths and _HEX.fullmatch(value)):
        kind = IdTokenEnumType.Local
    return IdTokenType(idToken=value, type=kind)


def timestamp(seconds: float) -> DateTime:
    return DateTime.fromtimestamp(seconds, datetime.UTC)


def unix(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339).timestamp()


@dataclass(frozen=True)
class TxSettings:
    """TxCtrlr, SampledDataCtrlr and AlignedDataCtrlr as the device model has them now."""

    start_points: frozenset[str] = frozenset({"EVConnected", "Authorized"})
    stop_points: frozenset[str] = frozenset({"EVConnected", "Authorized"})
    ev_connection_timeout_s: float = 60.0
    stop_tx_on_invalid_id: bool = True
    max_energy_on_invalid_id_wh: float = 0.0
    started_measurands: tuple[MeasurandEnumType, ...] = (
        MeasurandEnumType.Energy_Active_Import_Register,
    )
    updated_measurands: tuple[MeasurandEnumType, ...] = (
        MeasurandEnumType.Energy_Active_Import_Register,
    )
    updated_interval_s: float = 0.0
    ended_measurands: tuple[MeasurandEnumType, ...] = (
        MeasurandEnumType.Energy_Active_Import_Register,
    )
    ended_interval_s: float = 0.0
    aligned_measurands: tuple[MeasurandEnumType, ...] = (
        MeasurandEnumType.Energy_Active_Import_Register,
    )
    aligned_interval_s: float = 0.0
    aligned_ended_measurands: tuple[MeasurandEnumType, ...] = ()
    aligned_ended_interval_s: float = 0.0
    aligned_only_when_idle: bool = False  # AlignedDataCtrlr.SendDuringIdle


class OpenTransaction(msgspec.Struct):
    """An OCPP transaction that has not ended, as kept in the state folder."""

    transaction_id: str
    evse_id: int
    connector_id: int
    started_at: float
    seq_no: int = 0  # the next event's
    session_uuid: str | None = None  # EvseManager's session it belongs to
    journaled: bool = False  # EvseManager's transaction started: its journal knows it
    charging_state: ChargingStateEnumType | None = None  # as last reported
    id_token: IdTokenType | None = None  # reported once, in the first event after authorization
    remote_start_id: int | None = None
    remote_start_reported: bool = False
    stopped_reason: ReasonEnumType | None = None  # once authorization ended, for the Ended event
    updated_due: float | None = None  # the next TxUpdatedInterval sample
    ended_sampled: SampleSeries | None = None
    ended_aligned: SampleSeries | None = None
    charging_since: float | None = None
    charged_s: float = 0.0
    last_meter: Powermeter | None = None  # the newest reading, should the EVSE forget it
    energy_cap_wh: float | None = None  # MaxEnergyOnInvalidId: the register to stop at


@dataclass
class PendingAuth:
    """An authorization for this EVSE before its EV was plugged in."""

    id_token: IdTokenType
    remote_start_id: int | None
    deadline: float


@dataclass
class HeldAuth:
    """EvseManager's transaction began (the EV is authorized) before TxStartPoint's: what the
    station's transaction, once started, reports as its token (E01: the first event after the
    token was presented carries it)."""

    id_token: IdTokenType
    remote_start_id: int | None
    session_uuid: str


@dataclass
class EvseTx:
    """What the transactions core knows of one EVSE now. Only `tx` outlives the station (in
    `TxStore`); the rest EvseManager's events and journal tell it again after a restart."""

    evse_id: int
    connector_id: int
    plugged: bool = False
    energy: bool = False
    state: ChargingStateEnumType = State.Idle
    reading: Reading | None = None
    pending: PendingAuth | None = None
    authorized: HeldAuth | None = None
    tx: OpenTransaction | None = None
    soc: float | None = None


class Sink(Protocol):
    """Where owed messages go: durably, before this returns (the station's outbox)."""

    def owe(self, request: TransactionEventRequest, transaction_id: str) -> None: ...


@dataclass(frozen=True)
class StopTransaction:
    """The CSMS refused the token of a running transaction (StopTxOnInvalidId,
    MaxEnergyOnInvalidId): EvseManager must stop it, DeAuthorized."""

    evse_id: int


Effect = MeterValuesRequest | StopTransaction


class TxStore:
    """Open transactions and the EVSE sessions already reported, in the state folder.

    Each write is committed with fsync: a seqNo that went out must never be handed out again.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db  # the station's database: its tables are `open_tx` and `seen`
        self._db.execute("CREATE TABLE IF NOT EXISTS open_tx (id TEXT PRIMARY KEY, value BLOB)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (n INTEGER PRIMARY KEY AUTOINCREMENT,"
            " evse_id INTEGER, session_uuid TEXT)"
        )
        self._encode = msgspec.json.Encoder(enc_hook=enc_hook).encode
        self._decode = msgspec.json.Decoder(OpenTransaction, dec_hook=dec_hook).decode

    def load(self) -> list[OpenTransaction]:
        rows = self._db.execute("SELECT value FROM open_tx").fetchall()
        return [self._decode(value) for (value,) in rows]

    def save(self, tx: OpenTransaction) -> None:
        with transaction(self._db) as db:
            db.execute(
                "INSERT OR REPLACE INTO open_tx (id, value) VALUES (?, ?)",
                (tx.transaction_id, self._encode(tx)),
            )

    def end(self, tx: OpenTransaction) -> None:
        with transaction(self._db) as db:
            db.execute("DELETE FROM open_tx WHERE id = ?", (tx.transaction_id,))

    def seen(self, evse_id: int) -> set[str]:
        rows = self._db.execute("SELECT session_uuid FROM seen WHERE evse_id = ?", (evse_id,))
        return {session for (session,) in rows}

    def mark_seen(self, evse_id: int, sessions: Iterable[str]) -> None:
        fresh = set(sessions) - self.seen(evse_id)
        if not fresh:
            return
        with transaction(self._db) as db:
            db.executemany(
                "INSERT INTO seen (evse_id, session_uuid) VALUES (?, ?)",
                [(evse_id, s) for s in sorted(fresh)],
            )
            db.execute(
                "DELETE FROM seen WHERE evse_id = ? AND n NOT IN (SELECT n FROM seen"
                " WHERE evse_id = ? ORDER BY n DESC LIMIT ?)",
                (evse_id, evse_id, _SEEN_KEPT),
            )
