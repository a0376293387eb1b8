"""The SLAC modules on the bus: EvseSlac (EVerest's slac) and EvSlac (ev_slac), each on its
own interface in its own namespace, exchanging the real frames over packet sockets: a veth
pair, or two chargers and an EV on one bridge. A probe module stands where EvseManager and
the EV simulator would be, and records what the modules publish. Real time: the modules
run the standard's timers on the wall clock.
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

from .netns import bridged, veth_pair

pytestmark = pytest.mark.timeout(90)

EV_MAC, EVSE_MAC = "02:00:00:00:00:01", "0A:00:00:00:00:01"
INSTANCES: dict[str, SlacProbe] = {}


class _Empty(msgspec.Struct, frozen=True):
    pass


class SlacProbe(ModuleBase):
    MODULE = "SlacProbe"
    CONFIG = _Empty
    REQUIRES: ClassVar = {
        "evse": RequirementSpec("evse", SlacClient, 1, 2),
        "ev": RequirementSpec("ev", EvSlacClient, 1, 1),
    }

    async def init(self) -> None:
        self.seen: list[tuple[str, str, object]] = []  # (side, var, value), in arrival order
        self._changed = asyncio.Event()
        sides = [(f"evse{i}", c) for i, c in enumerate(self.evses)] + [("ev", self.ev)]
        for side, client in sides:
            for var in ("state", "dlink_ready", "ev_mac_address"):
                getattr(client, f"subscribe_{var}")(self._record(side, var))
        INSTANCES[self.module_id] = self

    @property
    def evses(self) -> list[SlacClient]:
        return cast(list[SlacClient], self._requirement("evse"))

    @property
    def evse(self) -> SlacClient:
        return self.evses[0]

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


def plan(tag: str, ev_ns: str, chargers: list[tuple[str, dict[str, object]]]) -> RunPlan:
    """An EV's SLAC module and one charger's per (namespace, config), and the probe."""
    ev, probe = f"{tag}_ev_slac", f"{tag}_probe"
    evses = [f"{tag}_evse_slac{i}" for i in range(len(chargers))]
    return RunPlan(
        [
            *(
                ModulePlan(
                    evse, module_class_path("EvseSlac"), {"device": "v2g0", "netns": ns, **more}
                )
                for evse, (ns, more) in zip(evses, chargers, strict=True)
            ),
            ModulePlan(ev, module_class_path("EvSlac"), {"device": "v2g0", "netns": ev_ns}),
            ModulePlan(
                probe,
                f"{__name__}:SlacProbe",
                connections={"evse": [(e, "main") for e in evses], "ev": [(ev, "main")]},
            ),
        ],
        prefix=f"test-{tag}",
    )


async def test_the_ev_matches_the_charger_and_both_notice_when_the_charger_leaves() -> None:
    tag = f"slac{secrets.token_hex(3)}"
    with veth_pair() as (ev_space, cs_space):
        chargers: list[tuple[str, dict[str, object]]] = [(cs_space.name, {"attenuation_dB": 14})]
        async with running(plan(tag, ev_space.name, chargers)):
            probe = INSTANCES[f"{tag}_probe"]
            assert await probe.evse.call_enter_bcd()  # plugged in: the charger listens
            assert await probe.ev.call_trigger_matching()
            await probe.until("evse0", "dlink_ready", True)
            await probe.until("ev", "dlink_ready", True)
            assert not await probe.ev.call_trigger_matching()  # a match stands
            matched = list(probe.seen)

            # The charger leaves the network (unplugged on its side): the EV's modem stops
            # hearing its beacons and the EV reports the link gone (TP_match_leave, 1 s).
            await probe.evse.call_reset(enable=False)
            await probe.until("evse0", "dlink_ready", False)
            await probe.until("ev", "dlink_ready", False)
            await probe.ev.call_reset()
            await probe.until("ev", "state", "UNMATCHED")

    assert ("evse0", "state", "MATCHING") in matched
    assert ("ev", "state", "MATCHING") in matched
    assert ("evse0", "ev_mac_address", EV_MAC) in matched
    assert ("ev", "ev_mac_address", EVSE_MAC) in matched
    for side in ("evse0", "ev"):
        order = [(var, value) for s, var, value in matched if s == side and var != "ev_mac_address"]
        assert order.index(("state", "MATCHED")) < order.index(("dlink_ready", True))
    assert probe.last("evse0", "state") == "UNMATCHED"


async def test_two_chargers_side_by_side_the_ev_matches_the_one_it_is_plugged_into() -> None:
    """One segment carries the EV and two chargers, as a power line shared by neighbouring
    outlets does: both chargers hear the EV's sounds, the one it is plugged into (the
    second, whose MAC is the higher, so no tie-break helps) with 12 dB, its neighbour
    through crosstalk with 35 dB. The EV matches the second; the first's session with it
    runs out and it never reports a link."""
    neighbour, own = "0A:00:00:00:00:01", "0A:00:00:00:00:02"
    tag = f"slac{secrets.token_hex(3)}"
    with bridged([EV_MAC, neighbour, own]) as (ev_space, cs1, cs2):
        chargers: list[tuple[str, dict[str, object]]] = [
            (cs1.name, {"attenuation_dB": 20, "attenuation_by_ev": f"{EV_MAC}=35"}),
            (cs2.name, {"attenuation_dB": 20, "attenuation_by_ev": f"{EV_MAC}=12"}),
        ]
        async with running(plan(tag, ev_space.name, chargers)):
            probe = INSTANCES[f"{tag}_probe"]
            for evse in probe.evses:  # an EV at each outlet, as far as the pilots tell
                assert await evse.call_enter_bcd()
            assert await probe.ev.call_trigger_matching()
            await probe.until("ev", "dlink_ready", True)
            await probe.until("evse1", "dlink_ready", True)
            # The neighbour heard the EV too, and let its session run out.
            await probe.until("evse0", "state", "UNMATCHED", within_s=30.0)

    assert probe.last("ev", "ev_mac_address") == own
    assert probe.last("evse1", "ev_mac_address") == EV_MAC
    assert ("evse0", "state", "MATCHING") in probe.seen
    assert ("evse0", "dlink_ready", True) not in probe.seen
