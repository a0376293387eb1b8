"""The SLAC modules on the bus: EvseSlac (EVerest's slac) and EvSlac (ev_slac), each on its
end of a veth pair in its own namespace, exchanging the real frames over packet sockets.
A probe module stands where EvseManager and the EV simulator would be, and records what
the modules publish. Real time: the modules run the standard's timers on the wall clock.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import ClassVar, cast

import msgspec
import pytest

from evstack.generated.interfaces.ev_slac import EvSlacClient
from evstack.generated.interfaces.slac import SlacClient
from evstack.runtime import ModuleBase, RequirementSpec
from evstack.runtime.manager import running
from evstack.runtime.plan import ModulePlan, RunPlan, module_class_path

from .netns import veth_pair

pytestmark = pytest.mark.timeout(90)

EV_MAC, EVSE_MAC = "02:00:00:00:00:01", "0A:00:00:00:00:01"
INSTANCES: dict[str, SlacProbe] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class SlacProbe(ModuleBase):
    MODULE = "SlacProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "evse": RequirementSpec("evse", SlacClient, 1, 1),
        "ev": RequirementSpec("ev", EvSlacClient, 1, 1),
    }

    async def init(self) -> None:
        self.seen: list[tuple[str, str, object]] = []  # (side, var, value), in arrival order
        self._changed = asyncio.Event()
        for side, client in (("evse", self.evse), ("ev", self.ev)):
            for var in ("state", "dlink_ready", "ev_mac_address"):
                getattr(client, f"subscribe_{var}")(self._record(side, var))
        INSTANCES[self.module_id] = self

    @property
    def evse(self) -> SlacClient:
        return cast(SlacClient, self._requirement("evse")[0])

    @property
    def ev(self) -> EvSlacClient:
        return cast(EvSlacClient, self._requirement("ev")[0])

    def _record(self, side: str, var: str) -> object:
        def record(value: object) -> None:
            self.seen.append((side, var, value))
            self._changed.set()

        return record

    def last(self, side: str, var: str) -> object:
        values = [value for s, v, value in self.seen if (s, v) == (side, var)]
        return values[-1] if values else None

    async def until(self, side: str, var: str, value: object, within_s: float = 20.0) -> None:
        async with asyncio.timeout(within_s):
            while self.last(side, var) != value:
                self._changed.clear()
                await self._changed.wait()


def plan(tag: str, ev_ns: str, cs_ns: str) -> RunPlan:
    evse, ev, probe = f"{tag}_evse_slac", f"{tag}_ev_slac", f"{tag}_probe"
    return RunPlan(
        [
            ModulePlan(
                evse,
                module_class_path("EvseSlac"),
                {"device": "v2g0", "netns": cs_ns, "attenuation_dB": 14},
            ),
            ModulePlan(ev, module_class_path("EvSlac"), {"device": "v2g0", "netns": ev_ns}),
            ModulePlan(
                probe,
                f"{__name__}:SlacProbe",
                connections={"evse": [(evse, "main")], "ev": [(ev, "main")]},
            ),
        ],
        prefix=f"test-{tag}",
    )


async def test_the_ev_matches_the_charger_and_both_notice_when_the_charger_leaves() -> None:
    tag = f"slac{secrets.token_hex(3)}"
    with veth_pair() as (ev_space, cs_space):
        async with running(plan(tag, ev_space.name, cs_space.name)):
            probe = INSTANCES[f"{tag}_probe"]
            assert await probe.evse.call_enter_bcd()  # plugged in: the charger listens
            assert await probe.ev.call_trigger_matching()
            await probe.until("evse", "dlink_ready", True)
            await probe.until("ev", "dlink_ready", True)
            assert not await probe.ev.call_trigger_matching()  # a match stands
            matched = list(probe.seen)

            # The charger leaves the network (unplugged on its side): the EV's modem stops
            # hearing its beacons and the EV reports the link gone (TP_match_leave, 1 s).
            await probe.evse.call_reset(enable=False)
            await probe.until("evse", "dlink_ready", False)
            await probe.until("ev", "dlink_ready", False)
            await probe.ev.call_reset()
            await probe.until("ev", "state", "UNMATCHED")

    assert ("evse", "state", "MATCHING") in matched
    assert ("ev", "state", "MATCHING") in matched
    assert ("evse", "ev_mac_address", EV_MAC) in matched
    assert ("ev", "ev_mac_address", EVSE_MAC) in matched
    for side in ("evse", "ev"):
        order = [(var, value) for s, var, value in matched if s == side and var != "ev_mac_address"]
        assert order.index(("state", "MATCHED")) < order.index(("dlink_ready", True))
    assert probe.last("evse", "state") == "UNMATCHED"
