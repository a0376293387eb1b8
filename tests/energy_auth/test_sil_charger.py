"""The whole SIL charger of `make demo` (config/sil-ac.yaml), as far as auth and energy go.

The real EvseManagers, board and EV simulators run the demo's script at 20x: EV 1 gets the
whole 32 A fuse, then shares it when EV 2 is authorized, and EV 2 takes it all once EV 1
leaves. Every session ends up in the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from evstack.modules.SessionStore.database import SessionDatabase
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import from_runtime_config

from .conftest import probe
from .e2e_modules import LimitsWatcher, instance

SIL_AC = Path(__file__).parents[2] / "config" / "sil-ac.yaml"


@pytest.mark.slow
@pytest.mark.mosquitto
@pytest.mark.timeout(120)
async def test_demo_shares_the_fuse_and_stores_the_sessions(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    plan = from_runtime_config(SIL_AC)
    database = tmp_path / "state" / "session_store" / "sessions.db"
    modules = list(plan.modules)
    evses = [(m.module_id, "evse") for m in modules if m.module_class.endswith(":EvseManager")]
    modules.append(probe(f"{prefix}-limits", "LimitsWatcher", connections={"evse": evses}))
    plan = dataclasses.replace(
        plan, modules=modules, broker=mosquitto, prefix=prefix, state_dir=tmp_path / "state"
    )

    async with running(plan):
        watcher = await instance(f"{prefix}-limits")
        assert isinstance(watcher, LimitsWatcher)
        await watcher.offers("evse_1", 32.0)  # alone on the fuse
        await watcher.offers("evse_1", 16.0)  # EV 2 authorized: shared
        await watcher.offers("evse_2", 16.0)
        await watcher.offers("evse_2", 32.0)  # EV 1 gone: all for EV 2
        for _ in range(600):
            with SessionDatabase(database) as store:
                sessions = store.sessions(finished_only=True)
            if len(sessions) == 2:
                break
            await asyncio.sleep(0.1)

    assert [(s.evse_id, s.id_token) for s in sessions] == [(1, "AABBCCDD"), (2, "11223344")]
    assert all(s.energy_wh is not None and s.energy_wh > 0 for s in sessions)
