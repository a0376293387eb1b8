"""EvseManager's journal and energy register: what a restart finds, and a meter that goes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from evstack.generated.types.authorization import (
    AuthorizationType,
    IdToken,
    IdTokenType,
    ProvidedIdToken,
)
from evstack.generated.types.evse_manager import (
    StopTransactionReason,
    TransactionFinished,
    TransactionRecord,
    TransactionStarted,
)
from evstack.generated.types.powermeter import Powermeter
from evstack.generated.types.units import Energy
from evstack.modules.EvseManager.journal import (
    FINISHED_KEPT,
    RunningTransaction,
    TransactionJournal,
    with_reading,
)
from evstack.modules.EvseManager.metering import EnergyRegister
from evstack.runtime.state import ModuleState

pytestmark = pytest.mark.timeout(10)


def meter(wh: float) -> Powermeter:
    return Powermeter(timestamp="2026-12-06T12:00:00Z", energy_Wh_import=Energy(total=wh))


def running(session: str, wh: float = 100.0) -> RunningTransaction:
    token = ProvidedIdToken(
        id_token=IdToken(value="AABBCCDD", type=IdTokenType.ISO14443),
        authorization_type=AuthorizationType.RFID,
    )
    started = TransactionStarted(id_tag=token, meter_value=meter(wh))
    record = TransactionRecord(
        session_uuid=session,
        started_at="2026-12-06T12:00:00Z",
        transaction_started=started,
        meter_value=meter(wh),
    )
    return RunningTransaction(record=record, run_id="run-1")


def finished(wh: float) -> TransactionFinished:
    return TransactionFinished(meter_value=meter(wh), reason=StopTransactionReason.EVDisconnected)


def test_the_energy_register_never_goes_back() -> None:
    register = EnergyRegister()
    assert not register.read(100.0)
    assert not register.read(132.5)
    assert register.read(0.0)  # the meter forgot its count: a fault, not -132.5 Wh
    assert register.total_wh == 132.5
    assert not register.read(10.0)
    assert register.total_wh == 142.5
    assert register.faults == 1


def test_a_running_transaction_and_its_readings_survive_reopening(tmp_path: Path) -> None:
    journal = TransactionJournal(ModuleState(tmp_path))
    journal.start(running("s1"))
    journal.update(with_reading(running("s1"), meter(150.0)))
    register = EnergyRegister()
    register.read(150.0)
    journal.save_register(register)

    reopened = TransactionJournal(ModuleState(tmp_path))
    found = reopened.running()
    assert found is not None
    assert found.record.session_uuid == "s1"
    assert found.record.meter_value.energy_Wh_import.total == 150.0
    assert reopened.register().total_wh == 150.0
    assert [r.session_uuid for r in reopened.records()] == ["s1"]


def test_a_finished_transaction_is_kept_and_no_longer_running(tmp_path: Path) -> None:
    journal = TransactionJournal(ModuleState(tmp_path))
    journal.start(running("s1"))
    record = journal.finish(running("s1"), "2026-12-06T12:30:00Z", finished(180.0))
    assert record.finished_at == "2026-12-06T12:30:00Z"
    assert record.meter_value.energy_Wh_import.total == 180.0
    reopened = TransactionJournal(ModuleState(tmp_path))
    assert reopened.running() is None
    assert reopened.records() == [record]


def test_a_crash_between_recording_the_end_and_forgetting_the_start_finishes_once(
    tmp_path: Path,
) -> None:
    state = ModuleState(tmp_path)
    journal = TransactionJournal(state)
    journal.start(running("s1"))
    journal.finish(running("s1"), "2026-12-06T12:30:00Z", finished(180.0))
    state.put("running", running("s1"))  # as if the process died before deleting it
    reopened = TransactionJournal(ModuleState(tmp_path))
    assert reopened.running() is None
    assert [r.session_uuid for r in reopened.records()] == ["s1"]


def test_only_the_newest_finished_transactions_are_kept(tmp_path: Path) -> None:
    journal = TransactionJournal(ModuleState(tmp_path))
    for n in range(FINISHED_KEPT + 5):
        journal.start(running(f"s{n}"))
        journal.finish(running(f"s{n}"), "2026-12-06T12:30:00Z", finished(200.0))
    records = TransactionJournal(ModuleState(tmp_path)).records()
    assert len(records) == FINISHED_KEPT
    assert records[0].session_uuid == "s5"
    assert records[-1].session_uuid == f"s{FINISHED_KEPT + 4}"
