"""The transactions core by hand: start and stop points, seqNo, meter values, restarts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from evstack.generated.ocpp.v201.enums import MeasurandEnumType as M
from evstack.generated.ocpp.v201.messages import MeterValuesRequest, TransactionEventRequest
from evstack.generated.types.authorization import IdTokenType
from evstack.generated.types.evse_manager import SessionEventEnum as E
from evstack.generated.types.evse_manager import StopTransactionReason as R
from evstack.modules.Ocpp201.tx_core import Transactions
from evstack.modules.Ocpp201.tx_state import (
    StopTransaction,
    TxSettings,
    TxStore,
    ocpp_id_token,
)
from evstack.ocpp import v201
from evstack.runtime.state import open_database

from .evse_events import T0, energy, event, meter, record, token

pytestmark = pytest.mark.timeout(10)


@dataclass
class Owed:
    """The outbox as the core sees it: every event, in order, checked against the schema."""

    events: list[TransactionEventRequest] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def owe(self, request: TransactionEventRequest, transaction_id: str) -> None:
        v201.encode(request)  # what a strict CSMS would refuse fails here
        self.events.append(request)
        self.ids.append(transaction_id)

    def take(self) -> list[TransactionEventRequest]:
        taken, self.events = self.events, []
        return taken


def make(
    tmp_path: Path, settings: TxSettings | None = None, owed: Owed | None = None
) -> tuple[Transactions, Owed]:
    owed = owed or Owed()
    counter = itertools.count(1)
    core = Transactions(
        evses={1: 1, 2: 1},
        sink=owed,
        store=TxStore(open_database(tmp_path / "tx.db")),
        settings=lambda: settings or TxSettings(),
        new_id=lambda: f"tx-{next(counter)}",
    )
    return core, owed


def summary(events: list[TransactionEventRequest]) -> list[tuple[str, str, int, str | None]]:
    return [
        (
            str(e.eventType),
            str(e.triggerReason),
            e.seqNo,
            None
            if e.transactionInfo.chargingState is msgspec.UNSET
            else str(e.transactionInfo.chargingState),
        )
        for e in events
    ]


def test_plug_in_first_then_card_then_local_stop(tmp_path: Path) -> None:
    core, owed = make(tmp_path)
    core.on_session_event(1, event(E.SessionStarted, wh=100.0), T0)
    core.on_session_event(1, event(E.TransactionStarted, wh=100.0), T0 + 5)
    core.on_session_event(1, event(E.PrepareCharging), T0 + 5)
    core.on_session_event(1, event(E.ChargingStarted), T0 + 6)
    core.on_session_event(1, event(E.StoppingCharging), T0 + 60)
    core.on_session_event(1, event(E.ChargingFinished), T0 + 61)
    core.on_session_event(1, event(E.TransactionFinished, wh=600.0, reason=R.Local), T0 + 61)
    core.on_session_event(1, event(E.SessionFinished, wh=600.0), T0 + 70)
    events = owed.take()
    assert summary(events) == [
        ("Started", "CablePluggedIn", 0, "EVConnected"),
        ("Updated", "Authorized", 1, None),
        ("Updated", "ChargingStateChanged", 2, "SuspendedEV"),
        ("Updated", "ChargingStateChanged", 3, "Charging"),
        ("Ended", "StopAuthorized", 4, "EVConnected"),
    ]
    started, authorized, *_, ended = events
    assert started.evse is not msgspec.UNSET
    assert started.evse.connectorId == 1
    assert energy(started, "Transaction.Begin") == [100.0]
    assert authorized.idToken is not msgspec.UNSET
    assert authorized.idToken.idToken == "AABBCCDD"
    assert str(authorized.idToken.type) == "ISO14443"
    assert ended.transactionInfo.stoppedReason == "Local"
    assert energy(ended, "Transaction.End") == [600.0]
    assert ended.transactionInfo.timeSpentCharging == 55
    assert len(set(owed.ids)) == 1
    assert core.open_transaction(1) is None


def test_power_path_start_and_ev_connected_stop_keep_the_stop_reason(tmp_path: Path) -> None:
    settings = TxSettings(
        start_points=frozenset({"PowerPathClosed"}), stop_points=frozenset({"EVConnected"})
    )
    core, owed = make(tmp_path, settings)
    core.on_session_event(1, event(E.SessionStarted), T0)
    assert owed.take() == []
    core.on_session_event(1, event(E.TransactionStarted, id_tag=token(remote_start_id=7)), T0 + 1)
    core.on_session_event(1, event(E.ChargingStarted), T0 + 2)
    core.on_session_event(1, event(E.TransactionFinished, reason=R.Remote), T0 + 30)
    core.on_session_event(1, event(E.SessionFinished), T0 + 40)
    events = owed.take()
    assert summary(events) == [
        ("Started", "RemoteStart", 0, "EVConnected"),
        ("Updated", "ChargingStateChanged", 1, "Charging"),
        ("Updated", "RemoteStop", 2, "EVConnected"),
        ("Ended", "EVCommunicationLost", 3, "Idle"),
    ]
    assert events[0].transactionInfo.remoteStartId == 7
    assert events[1].transactionInfo.remoteStartId is msgspec.UNSET
    assert events[-1].transactionInfo.stoppedReason == "Remote"


def test_unplugged_during_the_transaction_ends_it_as_ev_disconnected(tmp_path: Path) -> None:
    core, owed = make(tmp_path)
    core.on_session_event(1, event(E.SessionStarted), T0)
    core.on_session_event(1, event(E.TransactionStarted), T0)
    owed.take()
    core.on_session_event(1, event(E.TransactionFinished, reason=R.EVDisconnected), T0 + 9)
    core.on_session_event(1, event(E.SessionFinished), T0 + 9)
    (ended,) = owed.take()
    assert (ended.eventType, ended.triggerReason) == ("Ended", "EVCommunicationLost")
    assert ended.transactionInfo.chargingState == "Idle"
    assert ended.transactionInfo.stoppedReason == "EVDisconnected"


def test_energy_transfer_stop_point_ends_when_the_ev_suspends(tmp_path: Path) -> None:
    settings = TxSettings(stop_points=frozenset({"EnergyTransfer"}))
    core, owed = make(tmp_path, settings)
    for kind in (E.SessionStarted, E.TransactionStarted, E.ChargingStarted):
        core.on_session_event(1, event(kind), T0)
    owed.take()
    core.on_session_event(1, event(E.ChargingPausedEV), T0 + 20)
    (ended,) = owed.take()
    assert (ended.eventType, ended.transactionInfo.chargingState) == ("Ended", "SuspendedEV")
    assert ended.transactionInfo.stoppedReason == "StoppedByEV"


def test_remote_start_first_lapses_after_the_connection_timeout(tmp_path: Path) -> None:
    settings = TxSettings(start_points=frozenset({"Authorized"}), ev_connection_timeout_s=30.0)
    core, owed = make(tmp_path, settings)
    remote = ocpp_id_token(token("AABBCCDD", remote_start_id=3))
    core.on_authorized_before_plugin(1, remote, 3, T0)
    (started,) = owed.take()
    assert (started.eventType, started.triggerReason) == ("Started", "RemoteStart")
    assert started.transactionInfo.remoteStartId == 3
    assert started.transactionInfo.chargingState == "Idle"
    assert started.idToken == remote
    assert core.next_deadline() == T0 + 30.0
    assert core.tick(T0 + 29.9) == []
    assert core.tick(T0 + 30.0) == []
    (ended,) = owed.take()
    assert (ended.eventType, ended.triggerReason) == ("Ended", "EVConnectTimeout")
    assert ended.transactionInfo.stoppedReason == "Timeout"
    assert core.open_transaction(1) is None


def test_remote_start_first_then_the_ev_comes(tmp_path: Path) -> None:
    core, owed = make(tmp_path, TxSettings(start_points=frozenset({"Authorized"})))
    core.on_authorized_before_plugin(1, ocpp_id_token(token(remote_start_id=3)), 3, T0)
    core.on_session_event(1, event(E.SessionStarted), T0 + 10)
    core.on_session_event(1, event(E.TransactionStarted, id_tag=token(remote_start_id=3)), T0 + 10)
    assert core.tick(T0 + 100) == []  # plugged in: nothing lapses
    assert summary(owed.take()) == [
        ("Started", "RemoteStart", 0, "Idle"),
        ("Updated", "CablePluggedIn", 1, "EVConnected"),
    ]


def test_authorization_first_without_authorized_start_point_only_lapses(
    tmp_path: Path,
) -> None:
    settings = TxSettings(start_points=frozenset({"EVConnected"}), ev_connection_timeout_s=10.0)
    core, owed = make(tmp_path, settings)
    core.on_authorized_before_plugin(2, ocpp_id_token(token()), None, T0)
    assert owed.take() == []
    assert core.next_deadline() == T0 + 10
    core.tick(T0 + 10)
    assert owed.take() == []
    assert core.next_deadline() is None


def test_tokens_keep_their_type_only_in_their_format() -> None:
    assert str(ocpp_id_token(token("aabbccdd")).type) == "ISO14443"
    assert str(ocpp_id_token(token("04A2B3C4D5E6F7")).type) == "ISO14443"
    assert str(ocpp_id_token(token("CARD-1")).type) == "Local"
    assert str(ocpp_id_token(token("AABBCCDDEE")).type) == "Local"
    assert ocpp_id_token(token("CARD-1")).idToken == "CARD-1"
    central = ocpp_id_token(token("anything goes", kind=IdTokenType.Central))
    assert str(central.type) == "Central"


def test_sampled_values_every_interval_and_for_the_ended_event(tmp_path: Path) -> None:
    settings = TxSettings(
        updated_interval_s=10.0,
        updated_measurands=(M.Energy_Active_Import_Register, M.Current_Import),
        ended_interval_s=20.0,
        started_measurands=(M.Energy_Active_Import_Register, M.Power_Active_Import),
    )
    core, owed = make(tmp_path, settings)
    core.on_session_event(1, event(E.SessionStarted, wh=10.0), T0)
    core.on_session_event(1, event(E.TransactionStarted, wh=10.0), T0)
    core.on_session_event(1, event(E.ChargingStarted, wh=10.0), T0)
    owed.take()
    for second in range(1, 46):
        core.on_reading(1, meter(10.0 + second, T0 + second, amps=16.0), T0 + second)
        if (deadline := core.next_deadline()) is not None and deadline <= T0 + second:
            core.tick(T0 + second)
    periodic = owed.take()
    assert [e.triggerReason for e in periodic] == ["MeterValuePeriodic"] * 4
    assert [energy(e, "Sample.Periodic") for e in periodic] == [[20.0], [30.0], [40.0], [50.0]]
    first = periodic[0]
    assert first.numberOfPhasesUsed == 3
    assert first.meterValue is not msgspec.UNSET
    phases = [str(s.phase) for s in first.meterValue[0].sampledValue if s.phase]
    assert phases == ["L1", "L2", "L3"]
    core.on_session_event(1, event(E.TransactionFinished, wh=55.0, at=T0 + 55), T0 + 55)
    (ended,) = owed.take()
    assert energy(ended, "Sample.Periodic") == [30.0, 50.0]
    assert energy(ended, "Transaction.End") == [55.0]
    assert ended.meterValue is not msgspec.UNSET
    assert str(ended.meterValue[0].sampledValue[0].context) == "Sample.Periodic"


def test_clock_aligned_values_go_in_meter_values_when_idle_and_in_events_when_not(
    tmp_path: Path,
) -> None:
    settings = TxSettings(aligned_interval_s=900.0)
    core, owed = make(tmp_path, settings)
    start = 1_780_000_200.0  # 20:30:00 UTC: a quarter hour boundary
    core.on_reading(1, meter(5.0), start - 100)
    core.on_reading(2, meter(7.0), start - 100)
    assert core.tick(start - 100) == []  # the first boundary is scheduled
    assert core.next_deadline() == start
    core.on_session_event(2, event(E.SessionStarted, "s2", wh=7.0), start - 50)
    owed.take()
    effects = core.tick(start + 0.2)
    assert len(effects) == 1
    idle = effects[0]
    assert isinstance(idle, MeterValuesRequest)
    assert idle.evseId == 1
    assert str(idle.meterValue[0].sampledValue[0].context) == "Sample.Clock"
    assert idle.meterValue[0].timestamp.timestamp() == start
    (clock,) = owed.take()
    assert clock.triggerReason == "MeterValueClock"
    assert core.next_deadline() == start + 900


def test_clock_aligned_values_only_when_idle(tmp_path: Path) -> None:
    settings = TxSettings(aligned_interval_s=60.0, aligned_only_when_idle=True)
    core, owed = make(tmp_path, settings)
    core.on_reading(1, meter(5.0), T0)
    core.tick(T0)
    core.on_session_event(2, event(E.SessionStarted, "s2"), T0)
    owed.take()
    assert core.tick(T0 + 60) == []
    assert owed.take() == []


def test_clock_aligned_values_for_the_ended_event(tmp_path: Path) -> None:
    settings = TxSettings(
        aligned_ended_interval_s=60.0,
        aligned_ended_measurands=(M.Energy_Active_Import_Register,),
    )
    core, owed = make(tmp_path, settings)
    core.on_session_event(1, event(E.SessionStarted, wh=0.0), T0)
    for minute in range(1, 4):
        core.on_reading(1, meter(minute * 100.0), T0 + minute * 60)
        core.tick(T0 + minute * 60)
    core.on_session_event(1, event(E.SessionFinished, wh=300.0), T0 + 200)
    ended = owed.take()[-1]
    assert energy(ended, "Sample.Clock") == [100.0, 200.0, 300.0]
    assert ended.meterValue is not msgspec.UNSET
    assert [v.timestamp.timestamp() % 60 for v in ended.meterValue[:3]] == [0.0, 0.0, 0.0]


def test_a_restarted_station_goes_on_with_the_next_seq_no(tmp_path: Path) -> None:
    core, owed = make(tmp_path)
    core.on_session_event(1, event(E.SessionStarted), T0)
    core.on_session_event(1, event(E.TransactionStarted), T0)
    again, owed_again = make(tmp_path)  # a connection of its own sees only what was committed
    again.reconcile(1, [record("s1", T0, 0.0, 50.0)], T0 + 100)
    again.on_session_event(1, event(E.ChargingStarted), T0 + 101)
    (charging,) = owed_again.take()
    assert charging.seqNo == 2
    assert charging.transactionInfo.transactionId == owed.ids[0]


def test_an_event_the_outbox_got_but_the_store_did_not_is_not_numbered_twice(
    tmp_path: Path,
) -> None:
    core, owed = make(tmp_path)
    core.on_session_event(1, event(E.SessionStarted), T0)
    core.recover_seq_no(owed.ids[0], 5)
    core.on_session_event(1, event(E.TransactionStarted), T0)
    assert owed.take()[-1].seqNo == 5


def test_a_transaction_that_ended_while_the_station_was_down(tmp_path: Path) -> None:
    core, _owed = make(tmp_path)
    core.reconcile(1, [], T0 - 1)  # the station's first start
    core.on_session_event(1, event(E.SessionStarted, wh=100.0), T0)
    core.on_session_event(1, event(E.TransactionStarted, wh=100.0), T0)
    again, owed_again = make(tmp_path)  # a connection of its own sees only what was committed
    journal = [record("s1", T0, 100.0, 900.0, finished=T0 + 50, reason=R.PowerLoss)]
    again.reconcile(1, journal, T0 + 100)
    (ended,) = owed_again.take()
    assert (ended.eventType, ended.seqNo, ended.offline) == ("Ended", 2, True)
    assert ended.transactionInfo.stoppedReason == "PowerLoss"
    assert ended.timestamp.timestamp() == T0 + 50
    assert energy(ended, "Transaction.End") == [900.0]
    again.reconcile(1, journal, T0 + 200)  # an EVSE restart asks again: nothing twice
    assert owed_again.take() == []


def test_transactions_the_station_never_saw_are_reported_in_order(tmp_path: Path) -> None:
    core, owed = make(tmp_path)
    core.reconcile(1, [record("old", T0 - 999, 0.0, 5.0, finished=T0 - 900)], T0 - 1)
    assert owed.take() == []  # the first start: the past is not ours
    journal = [
        record("old", T0 - 999, 0.0, 5.0, finished=T0 - 900),
        record("a", T0, 5.0, 105.0, finished=T0 + 60),
        record("b", T0 + 100, 105.0, 150.0),
    ]
    core.reconcile(1, journal, T0 + 200)
    events = owed.take()
    assert [(str(e.eventType), e.seqNo, e.offline) for e in events] == [
        ("Started", 0, True),
        ("Ended", 1, True),
        ("Started", 0, True),
    ]
    assert energy(events[0], "Transaction.Begin") == [5.0]
    assert energy(events[1], "Transaction.End") == [105.0]
    assert events[1].transactionInfo.stoppedReason == "EVDisconnected"
    running = core.open_transaction(1)
    assert running is not None
    assert running.session_uuid == "b"
    core.on_session_event(1, event(E.TransactionFinished, "b", wh=170.0, reason=R.Local), T0 + 300)
    assert energy(owed.take()[-1], "Transaction.End") == [170.0]


def test_a_transaction_the_journal_forgot_ended_with_the_charger(tmp_path: Path) -> None:
    core, owed = make(tmp_path)
    core.reconcile(1, [], T0 - 1)
    core.on_session_event(1, event(E.SessionStarted, wh=1.0), T0)
    core.on_session_event(1, event(E.TransactionStarted, wh=1.0), T0)
    core.on_reading(1, meter(42.0), T0 + 5)
    owed.take()
    core.reconcile(1, [], T0 + 100)
    (ended,) = owed.take()
    assert ended.transactionInfo.stoppedReason == "PowerLoss"
    assert energy(ended, "Transaction.End") == [42.0]


def test_trigger_message_and_refused_tokens(tmp_path: Path) -> None:
    core, owed = make(tmp_path, TxSettings(stop_tx_on_invalid_id=True))
    assert not core.trigger(None, T0)
    core.on_session_event(1, event(E.SessionStarted, wh=3.0), T0)
    core.on_session_event(1, event(E.ChargingStarted, wh=3.0), T0)
    owed.take()
    assert core.trigger(1, T0 + 1)
    assert not core.trigger(2, T0 + 1)
    (triggered,) = owed.take()
    assert triggered.triggerReason == "Trigger"
    assert triggered.transactionInfo.chargingState == "Charging"
    assert energy(triggered, "Trigger") == [3.0]
    tx = core.open_transaction(1)
    assert tx is not None
    assert core.on_id_token_refused(tx.transaction_id) == [StopTransaction(1)]


def test_max_energy_on_invalid_id(tmp_path: Path) -> None:
    settings = TxSettings(stop_tx_on_invalid_id=False, max_energy_on_invalid_id_wh=100.0)
    core, _ = make(tmp_path, settings)
    core.on_session_event(1, event(E.SessionStarted, wh=50.0), T0)
    tx = core.open_transaction(1)
    assert tx is not None
    assert core.on_id_token_refused(tx.transaction_id) == []
    assert core.on_reading(1, meter(149.0), T0 + 1) == []
    assert core.on_reading(1, meter(150.0), T0 + 2) == [StopTransaction(1)]
    assert core.on_reading(1, meter(160.0), T0 + 3) == []
