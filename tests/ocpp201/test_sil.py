"""config/sil-ac-ocpp.yaml against the demo's CSMS (tools/ocpp_demo_csms.py), as `make demo
CONFIG=sil-ac-ocpp` runs them but in this event loop: the real EvseManagers, boards and EVs at
the config's 10x, two RFID sessions, and the summary the CSMS gives of what it received.
(At 20x a loaded machine starves the energy manager's 5 s limits, 0.25 s of wall time, and
the scripted sessions go astray: this is the charger's pace, not the station's.)"""

from __future__ import annotations

import dataclasses
import importlib.util
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, from_runtime_config

from .tx_rig import until

ROOT = Path(__file__).parents[2]
SIL_AC_OCPP = ROOT / "config" / "sil-ac-ocpp.yaml"


def demo_csms() -> ModuleType:
    """tools/ocpp_demo_csms.py (a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "ocpp_demo_csms", ROOT / "tools" / "ocpp_demo_csms.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def for_test(module: ModulePlan, port: int) -> ModulePlan:
    config: dict[str, Any] = dict(module.config_module)
    if module.module_class.endswith(":Ocpp201"):
        config.update(csms_url=f"ws://127.0.0.1:{port}/ocpp")
    if module.module_class.endswith(":ChargerDashboard"):
        config.update(finish_after_sessions=0, deadline_s=0)  # the test says when it is over
    return dataclasses.replace(module, config_module=config)


@pytest.mark.slow
@pytest.mark.mosquitto
@pytest.mark.timeout(240)
async def test_sil_ac_ocpp_reports_both_sessions(mosquitto: BrokerSettings, tmp_path: Path) -> None:
    tool = demo_csms()
    record = tool.Record()
    async with tool.serving(record) as port:
        plan = from_runtime_config(SIL_AC_OCPP)
        plan = dataclasses.replace(
            plan,
            modules=[for_test(module, port) for module in plan.modules],
            broker=mosquitto,
            # Unique: two runs with one prefix share MQTT client ids, and the broker drops one
            # for the other over and over.
            prefix=f"test-sil-ocpp-{secrets.token_hex(6)}",
            state_dir=tmp_path / "state",
        )
        async with running(plan):

            def both_over() -> bool:
                transactions = record.transactions.values()
                idle = record.connectors == {"1/1": "Available", "2/1": "Available"}
                return len(transactions) == 2 and all(tx.ended for tx in transactions) and idle

            try:
                await until(both_over, timeout=180)
            except TimeoutError:
                pytest.fail(f"the sessions did not both end:\n{tool.render(record)}")
    summary = tool.render(record)
    assert record.stations == ["EVSTACK-SIL-AC"], summary
    assert not record.invalid, summary  # every message passed the strict schemas
    assert {tx.token for tx in record.transactions.values()} == {"AABBCCDD", "11223344"}, summary
    for tx in record.transactions.values():
        assert tx.seq_nos == list(range(len(tx.seq_nos))), summary  # in order, no gap
        assert tx.events[0] == "Started", summary
        assert tx.events[-1] == "Ended", summary
        assert tx.energy_wh is not None, summary
        assert tx.energy_wh > 0, summary  # energy was delivered and metered
    assert "seqNo gaps: none" in summary
    assert record.counts["BootNotification"] == 1, summary
