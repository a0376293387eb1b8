"""One SQLite database per station, and the move into it from the files of older versions.

Every store of a station (device model, authorization cache, security log, transactions,
outbox, the small values of ModuleState) keeps its tables in `<state_dir>/station.db`, over
one connection. A station updated from a version with a file per store must find in it what
those files held: the values the CSMS set, the open transactions, the queued messages.
"""

from __future__ import annotations

import datetime
import secrets
import shutil
import sqlite3
from pathlib import Path

import pytest
from ocpp.v201 import call

from evstack.generated.ocpp.v201.datatypes import IdTokenInfoType, IdTokenType
from evstack.generated.ocpp.v201.enums import AuthorizationStatusEnumType, IdTokenEnumType
from evstack.modules.Ocpp201.authorization import AuthCache
from evstack.modules.Ocpp201.device_model import DEFAULT_SEED, DeviceModel, load_seed, ref
from evstack.modules.Ocpp201.module import FORMER_FILES, STATE_NAME
from evstack.modules.Ocpp201.security import SecurityEvent, SecurityLog
from evstack.modules.Ocpp201.tx_state import OpenTransaction, TxStore
from evstack.ocpp.outbox import Outbox
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.state import ModuleState, absorb_databases, open_database, transaction

from .csms import Csms
from .tx_rig import Rig, booted

pytestmark = pytest.mark.timeout(30)

BROKER = BrokerSettings(host="127.0.0.1", port=1883)
HEARTBEAT = ref("OCPPCommCtrlr", "HeartbeatInterval")
CARD = IdTokenType(idToken="04A1B2C3", type=IdTokenEnumType.ISO14443)
ACCEPTED = IdTokenInfoType(status=AuthorizationStatusEnumType.Accepted)
T0 = 1_780_000_000.0
OPEN = OpenTransaction("tx-1", evse_id=1, connector_id=1, started_at=T0, seq_no=3)


def former_layout(running: Path, crashed: Path) -> None:
    """A station of the older layout, a file per store, copied as it was on disk while its
    connections were open (its newest commits still in the WAL files): as a killed one left it."""
    dbs = {name: open_database(running / name) for name in FORMER_FILES}
    model = DeviceModel(dbs["device_model.db"], load_seed(DEFAULT_SEED, [1]))
    model.set(HEARTBEAT, 20)  # as the CSMS set it
    AuthCache(dbs["authorization.db"]).put(CARD, ACCEPTED, T0)
    log = SecurityLog(dbs["security_log.db"])
    log.append(
        SecurityEvent.STARTUP_OF_THE_DEVICE, datetime.datetime.fromtimestamp(T0, datetime.UTC)
    )
    store = TxStore(dbs["transactions.db"])
    store.save(OPEN)
    store.mark_seen(1, ["session-1"])
    outbox = Outbox(dbs["outbox.db"], {}, 30.0)
    for seq_no in range(3):
        outbox.put("TransactionEvent", b'{"seqNo":%d}' % seq_no, transaction_id="tx-1")
    outbox.delivered(1)  # the first was answered; two are owed
    state = ModuleState(running, STATE_NAME)
    state.put("link.profile", 1)
    crashed.mkdir()
    for path in running.iterdir():
        shutil.copy(path, crashed / path.name)
    state.close()
    for db in dbs.values():
        db.close()


def test_a_station_of_the_former_layout_keeps_everything_in_its_one_database(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "crashed"
    former_layout(tmp_path / "running", folder)
    assert (folder / "outbox.db-wal").exists()  # what follows is read from the WAL too
    state = ModuleState(folder, STATE_NAME)
    db = state.share()
    moved = absorb_databases(db, [folder / name for name in FORMER_FILES])
    assert sorted(path.name for path in moved) == sorted(FORMER_FILES)
    left = sorted(path.name for path in folder.iterdir())
    assert left == ["station.db", "station.db-shm", "station.db-wal"]

    assert DeviceModel(db, load_seed(DEFAULT_SEED, [1])).get_int(HEARTBEAT) == 20
    assert AuthCache(db).get(CARD, T0 + 1, 100.0) == ACCEPTED
    assert [e.type for e in SecurityLog(db).entries()] == ["StartupOfTheDevice"]
    store = TxStore(db)
    assert store.load() == [OPEN]
    assert store.seen(1) == {"session-1"}
    outbox = Outbox(db, {}, 30.0)
    assert outbox.pending("tx-1") == 2
    head = outbox.head()
    assert head is not None
    assert (head.seq, head.payload) == (2, b'{"seqNo":1}')
    assert outbox.put("TransactionEvent", b"{}") == 4  # no seq handed out twice
    assert state.get("link.profile", int) == 1
    state.close()


def test_a_file_whose_deletion_was_lost_is_not_moved_twice(tmp_path: Path) -> None:
    folder = tmp_path / "crashed"
    former_layout(tmp_path / "running", folder)
    stale = tmp_path / "stale"
    shutil.copytree(folder, stale)
    state = ModuleState(folder, STATE_NAME)
    db = state.share()
    absorb_databases(db, [folder / name for name in FORMER_FILES])
    DeviceModel(db, load_seed(DEFAULT_SEED, [1])).set(HEARTBEAT, 30)  # the station went on
    for path in stale.iterdir():
        if path.name.startswith(("device_model.db", "outbox.db")):
            shutil.copy(path, folder / path.name)
    assert len(absorb_databases(db, [folder / name for name in FORMER_FILES])) == 2
    assert not (folder / "device_model.db").exists()
    assert DeviceModel(db, load_seed(DEFAULT_SEED, [1])).get_int(HEARTBEAT) == 30
    assert Outbox(db, {}, 30.0).pending() == 2
    state.close()


def test_an_unreadable_former_file_moves_nothing_and_deletes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "crashed"
    former_layout(tmp_path / "running", folder)
    for suffix in ("-wal", "-shm"):
        (folder / f"security_log.db{suffix}").unlink()
    (folder / "security_log.db").write_bytes(b"not a database, but what a bad disk left" * 200)
    state = ModuleState(folder, STATE_NAME)
    db = state.share()
    with pytest.raises(sqlite3.DatabaseError):
        absorb_databases(db, [folder / name for name in FORMER_FILES])
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert tables == {"state", "sqlite_autoindex_state_1"}
    assert all((folder / name).exists() for name in FORMER_FILES)
    state.close()


def test_the_stores_share_one_connection_and_stay_durable(tmp_path: Path) -> None:
    state = ModuleState(tmp_path, STATE_NAME)
    db = state.share()
    state.put("meter", 1.0, durable=False)  # may skip the fsync, but only for itself
    (synchronous,) = db.execute("PRAGMA synchronous").fetchone()
    assert synchronous == 2  # FULL: the next store's commit waits for the disk
    outbox = Outbox(db, {}, 30.0)
    with pytest.raises(sqlite3.OperationalError), transaction(db):
        outbox.put("Heartbeat", b"{}")  # no store's transaction may open inside another's
    assert outbox.pending() == 0
    state.close()


@pytest.mark.mosquitto
async def test_a_station_updated_from_the_former_layout_starts_with_what_it_held(
    tmp_path: Path,
) -> None:
    stamp = "2026-01-01T00:00:00Z"
    async with Csms() as csms:
        rig = Rig(BROKER, f"test-db-{secrets.token_hex(4)}", tmp_path, csms)
        folder = tmp_path / rig.station_id
        db = open_database(folder / "device_model.db")
        DeviceModel(db, load_seed(DEFAULT_SEED, [1])).set(
            ref("SampledDataCtrlr", "TxUpdatedInterval"), 77
        )
        db.close()
        db = open_database(folder / "outbox.db")
        owed = b'{"type":"SettingSystemTime","timestamp":"%s"}' % stamp.encode()
        Outbox(db, {}, 30.0).put("SecurityEventNotification", owed)
        db.close()
        async with rig.world(), rig.station():
            await booted(csms)
            await csms.seen("SecurityEventNotification", 0, lambda p: p["timestamp"] == stamp)
            read = await csms.call(
                call.GetVariables(
                    get_variable_data=[
                        {
                            "component": {"name": "SampledDataCtrlr"},
                            "variable": {"name": "TxUpdatedInterval"},
                        }
                    ]
                )
            )
            assert read.get_variable_result[0]["attribute_value"] == "77"
        assert not any((folder / name).exists() for name in FORMER_FILES)
