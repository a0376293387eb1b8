"""The device model on its own: the seed, SQLite, typed accessors, watchers and vetoes."""

from __future__ import annotations

from pathlib import Path

import pytest

from evstack.generated.ocpp.v201.enums import AttributeEnumType
from evstack.modules.Ocpp201.device_model import (
    DEFAULT_SEED,
    DeviceModel,
    InvalidValueError,
    SeedError,
    VariableKey,
    load_seed,
    ref,
)
from evstack.runtime.state import open_database

pytestmark = pytest.mark.timeout(10)

HEARTBEAT = ref("OCPPCommCtrlr", "HeartbeatInterval")
PRIORITY = ref("OCPPCommCtrlr", "NetworkConfigurationPriority")


def model(folder: Path, connectors: list[int] | None = None) -> DeviceModel:
    return DeviceModel(
        open_database(folder / "dm.db"), load_seed(DEFAULT_SEED, connectors or [1, 1])
    )


def test_the_seed_gives_every_evse_and_connector_its_components(tmp_path: Path) -> None:
    dm = model(tmp_path, [1, 2])
    assert dm.get(ref("EVSE", "AvailabilityState", evse=2)) == "Available"
    assert dm.get(ref("Connector", "ConnectorType", evse=2, connector=2)) == "cType2"
    with pytest.raises(KeyError):
        dm.get(ref("Connector", "ConnectorType", evse=1, connector=2))


def test_what_was_set_survives_a_restart_and_the_seed_only_starts_values(tmp_path: Path) -> None:
    db = open_database(tmp_path / "dm.db")
    dm = DeviceModel(db, load_seed(DEFAULT_SEED, [1, 1]))
    assert dm.get_int(HEARTBEAT) == 300
    assert dm.set(HEARTBEAT, 20)
    assert not dm.set(HEARTBEAT, "20")  # unchanged
    db.close()
    again = model(tmp_path)
    assert again.get_int(HEARTBEAT) == 20


def test_values_are_checked_against_their_characteristics(tmp_path: Path) -> None:
    dm = model(tmp_path)
    for bad in ("abc", "0", "1.5"):
        with pytest.raises(InvalidValueError):
            dm.set(HEARTBEAT, bad)
    with pytest.raises(InvalidValueError):
        dm.check_by_csms(PRIORITY, "1,7")
    dm.check_by_csms(PRIORITY, "2,1")
    with pytest.raises(InvalidValueError):
        dm.check_by_csms(ref("SampledDataCtrlr", "TxUpdatedMeasurands"), "Voltage,Voltage")


def test_watchers_hear_changes_and_vetoes_refuse_values(tmp_path: Path) -> None:
    dm = model(tmp_path)
    heard: list[tuple[VariableKey, AttributeEnumType, str]] = []
    dm.watch(HEARTBEAT, lambda *change: heard.append(change))

    def only_slot_one(value: str) -> None:
        if value != "1":
            raise InvalidValueError("only slot 1 has a profile")

    dm.veto(PRIORITY, only_slot_one)
    dm.set(HEARTBEAT, 42)
    assert heard == [(HEARTBEAT, AttributeEnumType.Actual, "42")]
    with pytest.raises(InvalidValueError):
        dm.check_by_csms(PRIORITY, "2")


def test_a_live_value_is_read_when_asked(tmp_path: Path) -> None:
    dm = model(tmp_path)
    clock = ref("ClockCtrlr", "DateTime")
    assert dm.get(clock) is None
    dm.live(clock, lambda: "2026-01-01T00:00:00Z")
    assert dm.get(clock) == "2026-01-01T00:00:00Z"


def test_a_broken_seed_names_its_file_and_entry(tmp_path: Path) -> None:
    seed = tmp_path / "bad.yaml"
    seed.write_text(
        "- component: OCPPCommCtrlr\n  variables:\n"
        "    HeartbeatInterval: {dataType: integer, minLimit: 1, value: 0}\n"
    )
    with pytest.raises(SeedError, match="HeartbeatInterval"):
        load_seed(seed, [1])
    seed.write_text("- component: X\n  variables:\n    Y: {dataType: integer, colour: red}\n")
    with pytest.raises(SeedError, match="colour"):
        load_seed(seed, [1])
