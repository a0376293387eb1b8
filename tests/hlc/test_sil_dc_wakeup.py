"""The charger wakes a paused EV in the DC SIL (config/sil-dc-din.yaml over ISO 15118-2, in
this process, its namespaces swapped for a test-made veth pair; real time): the EV pauses its
V2G session and waits for the charger (`iso_wait_for_resume`); the pilot keeps 5 % meanwhile
(`hlc_pause_pilot: 5%`). The user resumes: EvseManager makes the X1 step (X1 for T_step_X1,
then 5 %), the EV takes the 5 % after X1 as its wake-up, joins its paused session and charges
again, in the same transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from pathlib import Path
from typing import Any, ClassVar, cast

import msgspec
import pytest
import yaml

from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.interfaces.ISO15118_ev import ISO15118EvClient, ISO15118EvSessionState
from evstack.generated.types.evse_manager import SessionEvent
from evstack.generated.types.iso15118 import V2gSessionFinished
from evstack.runtime import ModuleBase, RequirementSpec
from evstack.runtime.manager import running
from evstack.runtime.plan import ModulePlan, RunPlan, from_runtime_config

from .netns import veth_pair

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = (
    "sleep 1;iso_wait_slac_matched;iso_start_v2g_session DC;iso_wait_pwr_ready;"
    "iso_dc_power_on;sleep 8;iso_pause_charging;iso_wait_v2g_session_stopped;"
    "iso_wait_for_resume;iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;"
    "iso_wait_for_stop 8;iso_wait_v2g_session_stopped;unplug"
)
INSTANCES: dict[str, WakeProbe] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class WakeProbe(ModuleBase):
    """The user's hand on the EVSE (resume_charging) and eyes on the SECC, EVSE and EV."""

    MODULE = "WakeProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "hlc": RequirementSpec("hlc", ISO15118ChargerClient, 1, 1),
        "evse": RequirementSpec("evse", EvseManagerClient, 1, 1),
        "ev": RequirementSpec("ev", ISO15118EvClient, 1, 1),
    }

    async def init(self) -> None:
        self.finished: list[V2gSessionFinished] = []
        self.events: list[str] = []
        self.ev_ended: list[ISO15118EvSessionState] = []
        self._changed = asyncio.Event()
        cast(ISO15118ChargerClient, self._requirement("hlc")[0]).subscribe_session_finished(
            self._record(self.finished)
        )
        cast(EvseManagerClient, self._requirement("evse")[0]).subscribe_session_event(
            self._on_event
        )
        cast(ISO15118EvClient, self._requirement("ev")[0]).subscribe_session_state(
            lambda s: self._record(self.ev_ended)(s) if s.step == "Ended" else None
        )
        INSTANCES[self.module_id] = self

    @property
    def evse(self) -> EvseManagerClient:
        return cast(EvseManagerClient, self._requirement("evse")[0])

    def _on_event(self, event: SessionEvent) -> None:
        self._record(self.events)(str(event.event))

    def _record(self, into: list[Any]) -> Any:
        def record(value: object) -> None:
            into.append(value)
            self._changed.set()

        return record

    async def until(self, done: Any, within_s: float) -> None:
        async with asyncio.timeout(within_s):
            while not done():
                self._changed.clear()
                await self._changed.wait()


def sil_dc_iso2(tmp_path: Path, ev_space: str, cs_space: str) -> RunPlan:
    raw: dict[str, Any] = yaml.safe_load((REPO / "config" / "sil-dc-din.yaml").read_text())
    spaces = {"evs-sil-cs": cs_space, "evs-sil-ev": ev_space}
    modules = raw["active_modules"]
    for module in modules.values():
        settings = module.get("config_module", {})
        if "netns" in settings:
            settings["netns"] = spaces[settings["netns"]]
    del modules["dashboard"]  # its live view and its end of the run are not wanted here
    raw["settings"].pop("finish_run_by")
    modules["secc_1"]["config_module"]["supported_protocols"] = "iso2"
    modules["ev_hlc_1"]["config_module"]["supported_protocols"] = "iso2"
    modules["ev_1"]["config_module"]["auto_exec_commands"] = SCRIPT
    modules["evse_1"]["config_module"].update(hlc_pause_pilot="5%", hlc_wake_up="X1")
    config = tmp_path / "sil-dc-iso2-wakeup.yaml"
    config.write_text(yaml.safe_dump(raw))
    plan = from_runtime_config(config)
    probe = ModulePlan(
        "wake_probe",
        f"{__name__}:WakeProbe",
        connections={
            "hlc": [("secc_1", "charger")],
            "evse": [("evse_1", "evse")],
            "ev": [("ev_hlc_1", "ev")],
        },
    )
    prefix = f"test-{secrets.token_hex(4)}"
    return dataclasses.replace(plan, modules=[*plan.modules, probe], prefix=prefix)


async def test_the_charger_wakes_a_paused_ev_with_the_x1_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evstack.modules.EvseManager.wakeup")
    with veth_pair() as (ev_space, cs_space):
        plan = sil_dc_iso2(tmp_path, ev_space.name, cs_space.name)
        async with running(plan):
            probe = INSTANCES["wake_probe"]
            await probe.until(lambda: any(f.paused for f in probe.finished), 90)
            await asyncio.sleep(5.0)  # the EV sleeps; nobody wakes it but the charger
            assert len(probe.ev_ended) == 1
            assert not await probe.evse.call_resume_charging()  # no user pause to undo
            await probe.until(lambda: "TransactionFinished" in probe.events, 90)

    assert "the EV paused its V2G session: 5% until its BCB toggle" in caplog.text
    assert "waking the EV (X1 step)" in caplog.text
    first, second = probe.finished
    assert first.paused
    assert first.protocol == second.protocol == "iso2"
    assert second.clean
    assert not second.paused
    assert len(probe.ev_ended) == 2
    assert all(state.energy_Wh > 5.0 for state in probe.ev_ended), probe.ev_ended
    assert probe.events.count("TransactionStarted") == 1
    paused = probe.events.index("ChargingPausedEV")
    assert probe.events[paused + 1] == "ChargingResumed", probe.events
