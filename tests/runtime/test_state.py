"""ModuleState, and the state folder every module gets: per module, kept across its restarts."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import msgspec
import pytest

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RestartPolicy, RunPlan
from evstack.runtime.state import ModuleState

from . import watchful_modules
from .sample_modules import instance
from .watchful_modules import BOOTS, StatefulProvider


class Session(msgspec.Struct, frozen=True):
    id: str
    energy_wh: float
    tags: list[str] = []


@pytest.mark.timeout(10)
def test_values_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    state = ModuleState(tmp_path / "module")
    assert state.get("session", Session) is None
    state.put("session", Session("s1", 12.5, ["rfid"]))
    state.put("register_wh", 1234.5, durable=False)
    state.put("limits", {"a": 16, "b": 32})
    state.put("register_wh", 1250.0, durable=False)  # overwrites
    assert state.get("session", Session) == Session("s1", 12.5, ["rfid"])
    state.close()

    state = ModuleState(tmp_path / "module")
    assert state.path == tmp_path / "module" / "state.db"
    assert state.get("session", Session) == Session("s1", 12.5, ["rfid"])
    assert state.get("register_wh", float) == 1250.0
    assert state.get("limits", dict[str, int]) == {"a": 16, "b": 32}
    state.delete("limits")
    state.delete("no such key", durable=False)
    assert state.get("limits", dict[str, int]) is None
    state.close()
    # Another name in the same folder is another store.
    other = ModuleState(tmp_path / "module", "other")
    assert other.get("session", Session) is None
    other.close()


@pytest.mark.timeout(10)
def test_durable_writes_fsync_at_commit_and_the_journal_is_a_wal(tmp_path: Path) -> None:
    state = ModuleState(tmp_path)
    synchronous = "PRAGMA synchronous"
    state.put("a", 1)
    assert state._db.execute(synchronous).fetchone() == (2,)  # FULL
    state.put("b", 2, durable=False)
    assert state._db.execute(synchronous).fetchone() == (1,)  # NORMAL
    state.delete("b")
    assert state._db.execute(synchronous).fetchone() == (2,)
    state.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def _write_and_die(folder: Path) -> None:
    state = ModuleState(folder)
    state.put("durable", "kept")
    state.put("cheap", "kept too", durable=False)
    os._exit(1)  # no close(), no clean-up: a crash


@pytest.mark.timeout(30)
def test_every_write_survives_a_crash_of_the_process(tmp_path: Path) -> None:
    process = multiprocessing.get_context("fork").Process(target=_write_and_die, args=(tmp_path,))
    process.start()
    process.join(20)
    assert process.exitcode == 1
    state = ModuleState(tmp_path)
    assert state.get("durable", str) == "kept"
    assert state.get("cheap", str) == "kept too"
    state.close()


@pytest.mark.timeout(10)
def test_items_by_prefix_in_key_order(tmp_path: Path) -> None:
    state = ModuleState(tmp_path)
    for key, value in [
        ("session/2", 2),
        ("session/1", 1),
        ("session", 0),
        ("sessions", 9),
        ("session/\uffff", 3),
        ("session/\U0001f50c", 4),  # beyond the Basic Multilingual Plane
        ("session0", 8),
        ("rfid/1", 5),
    ]:
        state.put(key, value)
    assert list(state.items("session/", int)) == [
        ("session/1", 1),
        ("session/2", 2),
        ("session/\uffff", 3),
        ("session/\U0001f50c", 4),
    ]
    assert [key for key, _ in state.items("", int)] == sorted(
        ["session/2", "session/1", "session", "sessions", "session/\uffff", "session/\U0001f50c",
         "session0", "rfid/1"],
        key=str.encode,
    )  # fmt: skip
    assert list(state.items("\U0001f50c", int)) == []
    state.put("\U0010ffff\U0010ffff", 7)
    state.put("\U0010ffff\U0010ffffx", 6)
    assert list(state.items("\U0010ffff", int)) == [
        ("\U0010ffff\U0010ffff", 7),
        ("\U0010ffff\U0010ffffx", 6),
    ]
    state.close()


@pytest.mark.timeout(10)
def test_a_value_that_no_longer_decodes_reads_as_absent(tmp_path: Path) -> None:
    state = ModuleState(tmp_path)
    state.put("session/1", {"id": "s1", "energy_wh": 1.0})
    state.put("session/2", {"id": "s2"})  # written by an older version: no energy_wh
    state.put("session/3", "not a session at all")
    assert state.get("session/1", Session) == Session("s1", 1.0)
    assert state.get("session/2", Session) is None
    assert state.get("session/3", Session) is None
    assert list(state.items("session/", Session)) == [("session/1", Session("s1", 1.0))]
    state.close()


def stateful(module_id: str, *, crash_first: bool = False) -> ModulePlan:
    config = {"crash_first": crash_first}
    return ModulePlan(
        module_id, f"{watchful_modules.__name__}:StatefulProvider", config_module=config
    )


@pytest.mark.mosquitto
@pytest.mark.timeout(30)
async def test_a_module_finds_its_own_state_again_after_a_crash(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    keeper, other = f"{prefix}-keeper", f"{prefix}-other"
    plan = RunPlan(
        modules=[stateful(keeper, crash_first=True), stateful(other)],
        broker=mosquitto,
        prefix=prefix,
        state_dir=tmp_path,
        restart=RestartPolicy(max_restarts=1, initial_s=0.05),
    )
    async with running(plan):
        assert isinstance(await instance(keeper), StatefulProvider)
    # The first incarnation counted its start, crashed; the second found the count.
    assert BOOTS[keeper] == [(str(tmp_path / keeper), 0), (str(tmp_path / keeper), 1)]
    assert BOOTS[other] == [(str(tmp_path / other), 0)]
    # A folder the plan names outlives the run.
    state = ModuleState(tmp_path / keeper)
    assert state.get("boots", int) == 2
    state.close()


@pytest.mark.mosquitto
@pytest.mark.timeout(30)
async def test_without_a_state_folder_in_the_plan_each_module_gets_a_temporary_one(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    one, two = f"{prefix}-one", f"{prefix}-two"
    plan = RunPlan(modules=[stateful(one), stateful(two)], broker=mosquitto, prefix=prefix)
    async with running(plan):
        folders = [Path(BOOTS[m][0][0]) for m in (one, two)]
        assert folders[0] != folders[1]
        assert all(folder.is_dir() for folder in folders)
        assert [BOOTS[m][0][1] for m in (one, two)] == [0, 0]
