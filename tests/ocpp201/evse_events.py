"""EvseManager's session events and journal records, built by hand for the station's cores."""

from __future__ import annotations

import datetime

from evstack.generated.ocpp.v201.messages import TransactionEventRequest
from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)
from evstack.generated.types.evse_manager import (
    SessionEvent,
    SessionEventEnum,
    SessionFinished,
    SessionStarted,
    StartSessionReason,
    StopTransactionReason,
    TransactionFinished,
    TransactionRecord,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.generated.types.units import Current, Energy, Power

T0 = 1_780_000_000.0  # a Unix time well clear of midnight, 2026-05-28 20:26:40 UTC


def rfc3339(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(timespec="milliseconds")


def meter(wh: float, at: float = T0, amps: float = 0.0) -> Powermeter:
    return Powermeter(
        timestamp=rfc3339(at),
        energy_Wh_import=Energy(total=wh),
        power_W=Power(total=amps * 230.0 * 3),
        current_A=Current(L1=amps, L2=amps, L3=amps),
    )


def token(
    value: str = "AABBCCDD",
    remote_start_id: int | None = None,
    kind: IdTokenType = IdTokenType.ISO14443,
) -> ProvidedIdToken:
    return ProvidedIdToken(
        id_token=IdToken(value=value, type=kind),
        authorization_type=AuthorizationType.OCPP
        if remote_start_id is not None
        else AuthorizationType.RFID,
        request_id=remote_start_id,
    )


def event(
    kind: SessionEventEnum,
    session: str = "s1",
    wh: float = 0.0,
    *,
    at: float = T0,
    id_tag: ProvidedIdToken | None = None,
    reason: StopTransactionReason | None = None,
) -> SessionEvent:
    reading = meter(wh, at)
    fields: dict[str, object] = {}
    if kind is SessionEventEnum.SessionStarted:
        fields["session_started"] = SessionStarted(
            reason=StartSessionReason.EVConnected, meter_value=reading
        )
    elif kind is SessionEventEnum.TransactionStarted:
        fields["transaction_started"] = TransactionStarted(
            id_tag=id_tag or token(), meter_value=reading
        )
    elif kind is SessionEventEnum.TransactionFinished:
        fields["transaction_finished"] = TransactionFinished(
            meter_value=reading, reason=reason or StopTransactionReason.Local, id_tag=id_tag
        )
    elif kind is SessionEventEnum.SessionFinished:
        fields["session_finished"] = SessionFinished(meter_value=reading)
    return SessionEvent(
        uuid=session,
        timestamp=rfc3339(at),
        event=kind,
        connector_id=1,
        **fields,  # type: ignore[arg-type]
    )


def record(
    session: str,
    started: float,
    start_wh: float,
    now_wh: float,
    *,
    finished: float | None = None,
    reason: StopTransactionReason = StopTransactionReason.EVDisconnected,
    id_tag: ProvidedIdToken | None = None,
) -> TransactionRecord:
    """A journal record: running when `finished` is None."""
    tag = id_tag or token()
    return TransactionRecord(
        session_uuid=session,
        started_at=rfc3339(started),
        transaction_started=TransactionStarted(id_tag=tag, meter_value=meter(start_wh, started)),
        meter_value=meter(now_wh, finished or started),
        finished_at=None if finished is None else rfc3339(finished),
        transaction_finished=None
        if finished is None
        else TransactionFinished(meter_value=meter(now_wh, finished), reason=reason, id_tag=tag),
    )


def energy(request: TransactionEventRequest, context: str) -> list[float]:
    """The Energy.Active.Import.Register values of `context` in an event, in order."""
    values = []
    for value in request.meterValue or []:
        for sample in value.sampledValue:
            measurand = sample.measurand or "Energy.Active.Import.Register"
            if str(sample.context) == context and measurand == "Energy.Active.Import.Register":
                values.append(sample.value)
    return values
