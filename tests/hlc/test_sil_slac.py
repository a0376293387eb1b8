"""SLAC and the V2G session in the DC SIL (config/sil-dc-din.yaml, in this process, its
namespaces swapped for a test-made veth pair). Real time (V2G timers, SLAC's).

- A lost match: once the EV charges, its SLAC module is reset (the EV's modem leaves the
  logical network). The charger's modem stops hearing it, EvseSlac reports D-LINK_READY
  false, EvseManager passes it to the SECC, and the SECC closes the V2G connection: the
  session ends, not clean, saying why.
- No match yet: an EV that starts its V2G session without matching gets no answer to its
  authorization until SLAC has matched it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from pathlib import Path
from typing import Any, ClassVar, cast

import msgspec
import pytest
import yaml

from evstack.generated.interfaces.ev_slac import EvSlacClient
from evstack.generated.interfaces.evse_manager import EvseManagerClient
from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.interfaces.slac import SlacClient
from evstack.generated.types.iso15118 import V2gSessionFinished
from evstack.runtime import ModuleBase, RequirementSpec
from evstack.runtime.manager import running
from evstack.runtime.plan import ModulePlan, RunPlan, from_runtime_config

from .netns import veth_pair

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

REPO = Path(__file__).resolve().parents[2]
INSTANCES: dict[str, LinkProbe] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class LinkProbe(ModuleBase):
    MODULE = "LinkProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "hlc": RequirementSpec("hlc", ISO15118ChargerClient, 1, 1),
        "slac": RequirementSpec("slac", SlacClient, 1, 1),
        "ev_slac": RequirementSpec("ev_slac", EvSlacClient, 1, 1),
        "evse": RequirementSpec("evse", EvseManagerClient, 1, 1),
    }

    async def init(self) -> None:
        self.charging = asyncio.Event()
        self.authorized = asyncio.Event()
        self.auth_asked = asyncio.Event()
        self.ev_limits: list[object] = []
        self.finished: list[V2gSessionFinished] = []
        self.dlink: list[bool] = []
        self._changed = asyncio.Event()
        hlc = cast(ISO15118ChargerClient, self._requirement("hlc")[0])
        hlc.subscribe_current_demand_started(lambda _: self.charging.set())
        hlc.subscribe_session_finished(self._record(self.finished))
        hlc.subscribe_require_auth_eim(lambda _: self.auth_asked.set())
        cast(EvseManagerClient, self._requirement("evse")[0]).subscribe_session_event(
            lambda e: self.authorized.set() if str(e.event) == "Authorized" else None
        )
        # Sent at ChargeParameterDiscovery, the first step after authorization.
        hlc.subscribe_dc_ev_maximum_limits(self._record(self.ev_limits))
        cast(SlacClient, self._requirement("slac")[0]).subscribe_dlink_ready(
            self._record(self.dlink)
        )
        INSTANCES[self.module_id] = self

    @property
    def ev_slac(self) -> EvSlacClient:
        return cast(EvSlacClient, self._requirement("ev_slac")[0])

    def _record(self, into: list[Any]) -> Any:
        def record(value: object) -> None:
            into.append(value)
            self._changed.set()

        return record

    async def until_finished(self, within_s: float) -> None:
        async with asyncio.timeout(within_s):
            while not self.finished:
                self._changed.clear()
                await self._changed.wait()


def sil_dc_din(tmp_path: Path, ev_space: str, cs_space: str, *, ev_matches: bool) -> RunPlan:
    """The SIL config on the test's namespaces, without its dashboard, with the probe; with
    `ev_matches` false the EV simulator neither waits for SLAC nor drives it."""
    raw: dict[str, Any] = yaml.safe_load((REPO / "config" / "sil-dc-din.yaml").read_text())
    spaces = {"evs-sil-cs": cs_space, "evs-sil-ev": ev_space}
    modules = raw["active_modules"]
    for module in modules.values():
        settings = module.get("config_module", {})
        if "netns" in settings:
            settings["netns"] = spaces[settings["netns"]]
    del modules["dashboard"]  # its live view and its end of the run are not wanted here
    raw["settings"].pop("finish_run_by")
    if not ev_matches:
        ev = modules["ev_1"]
        del ev["connections"]["slac"]
        script = ev["config_module"]["auto_exec_commands"]
        ev["config_module"]["auto_exec_commands"] = script.replace("iso_wait_slac_matched;", "")
    config = tmp_path / "sil-dc-din.yaml"
    config.write_text(yaml.safe_dump(raw))
    plan = from_runtime_config(config)
    probe = ModulePlan(
        "link_probe",
        f"{__name__}:LinkProbe",
        connections={
            "hlc": [("secc_1", "charger")],
            "slac": [("slac_1", "main")],
            "ev_slac": [("ev_slac_1", "main")],
            "evse": [("evse_1", "evse")],
        },
    )
    prefix = f"test-{secrets.token_hex(4)}"
    return dataclasses.replace(plan, modules=[*plan.modules, probe], prefix=prefix)


async def test_a_lost_match_ends_the_v2g_session(tmp_path: Path) -> None:
    with veth_pair() as (ev_space, cs_space):
        plan = sil_dc_din(tmp_path, ev_space.name, cs_space.name, ev_matches=True)
        async with running(plan):
            probe = INSTANCES["link_probe"]
            await asyncio.wait_for(probe.charging.wait(), 90)
            assert probe.dlink[-1] is True
            await probe.ev_slac.call_reset()  # the EV's modem leaves the network
            await probe.until_finished(30)

    (finished,) = probe.finished
    assert not finished.clean
    assert "D-LINK_READY false" in finished.reason
    assert probe.dlink[-1] is False


async def test_the_session_is_not_authorized_before_the_match(tmp_path: Path) -> None:
    with veth_pair() as (ev_space, cs_space):
        plan = sil_dc_din(tmp_path, ev_space.name, cs_space.name, ev_matches=False)
        async with running(plan):
            probe = INSTANCES["link_probe"]
            # Auth accepts the RFID card swiped 3 s into the run; the EV asks for
            # authorization again and again meanwhile (EVSEProcessing Ongoing). Without
            # the link, a window of several of its requests goes by unanswered.
            await asyncio.wait_for(probe.authorized.wait(), 60)
            await asyncio.wait_for(probe.auth_asked.wait(), 60)
            await asyncio.sleep(3.0)
            assert probe.ev_limits == []
            assert True not in probe.dlink
            assert await probe.ev_slac.call_trigger_matching()
            await asyncio.wait_for(probe.charging.wait(), 60)

    assert probe.ev_limits
    assert probe.dlink[-1] is True
