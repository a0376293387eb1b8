"""The energy tree over the real broker: EnergyManager -> EnergyNode (fuse) -> two EVSEs."""

from __future__ import annotations

import asyncio
import logging

import pytest

from evstack.generated.types.energy import EvseState
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RunPlan

from .conftest import ours, probe
from .e2e_modules import EnergyProbe, instance

pytestmark = pytest.mark.mosquitto


def site(
    prefix: str,
    *,
    evse2_state: str = "Charging",
    evse2_hung: bool = False,
    evse2_delay_s: float = 0.0,
) -> list[ModulePlan]:
    """Two EVSEs behind one 32 A fuse, each able to take 32 A alone."""
    return [
        ours(
            f"{prefix}-em",
            "EnergyManager",
            config_module={"update_interval": 0.2, "limits_valid_for": 1},
            connections={"energy_trunk": [(f"{prefix}-fuse", "energy_grid")]},
        ),
        ours(
            f"{prefix}-fuse",
            "EnergyNode",
            config_module={"fuse_limit_A": 32.0, "consumer_timeout": 1.0},
            connections={
                "energy_consumer": [
                    (f"{prefix}-evse1", "energy_grid"),
                    (f"{prefix}-evse2", "energy_grid"),
                ]
            },
        ),
        probe(f"{prefix}-evse1", "EnergyProbe", config_module={"max_amps": 32.0}),
        probe(
            f"{prefix}-evse2",
            "EnergyProbe",
            config_module={
                "max_amps": 32.0,
                "state": evse2_state,
                "hung": evse2_hung,
                "delay_s": evse2_delay_s,
            },
        ),
    ]


async def probes(prefix: str) -> tuple[EnergyProbe, EnergyProbe]:
    evse1, evse2 = await instance(f"{prefix}-evse1"), await instance(f"{prefix}-evse2")
    assert isinstance(evse1, EnergyProbe)
    assert isinstance(evse2, EnergyProbe)
    return evse1, evse2


async def test_two_evses_share_a_fuse_then_one_takes_it_all(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    async with running(RunPlan(site(prefix), broker=mosquitto, prefix=prefix)):
        evse1, evse2 = await probes(prefix)
        await evse1.amps_become(16.0)
        await evse2.amps_become(16.0)
        await evse2.set_state(EvseState.Unplugged)
        await evse1.amps_become(32.0)
        await evse2.amps_become(0.0)


async def test_evse_granted_nothing_while_idle_gets_current_when_it_wakes(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    # The NoEnergy deadlock of peers: 0 A while waiting must not stick.
    async with running(
        RunPlan(site(prefix, evse2_state="Unplugged"), broker=mosquitto, prefix=prefix)
    ):
        evse1, evse2 = await probes(prefix)
        await evse1.amps_become(32.0)
        await evse2.amps_become(0.0)
        await evse2.set_state(EvseState.WaitForEnergy)
        await evse2.amps_become(16.0)
        await evse1.amps_become(16.0)


@pytest.mark.timeout(90)
async def test_silent_energy_manager_drives_evses_to_zero(
    mosquitto: BrokerSettings, prefix: str
) -> None:
    manager_plan, *tree_plans = site(prefix)
    # Two managers, as two processes would be: stopping one silences the energy manager only.
    async with running(RunPlan(tree_plans, broker=mosquitto, prefix=prefix)):
        evse1, evse2 = await probes(prefix)
        async with running(RunPlan([manager_plan], broker=mosquitto, prefix=prefix)):
            await evse1.amps_become(16.0)
            await evse2.amps_become(16.0)
        # The manager is gone; within valid_for (1 s) both EVSEs must be at 0 A.
        await evse1.amps_become(0.0, timeout=5.0)
        await evse2.amps_become(0.0, timeout=5.0)
        granted_before = len(evse1.grants)
        await asyncio.sleep(0.5)
        assert len(evse1.grants) == granted_before  # and nobody is granting any more


async def test_hung_evse_does_not_starve_the_others(mosquitto: BrokerSettings, prefix: str) -> None:
    plan = RunPlan(site(prefix, evse2_hung=True), broker=mosquitto, prefix=prefix)
    async with running(plan):
        evse1, evse2 = await probes(prefix)
        await evse1.amps_become(16.0)
        # Several validity windows (1 s) later, evse1's grant is still being renewed.
        renewals = len(evse1.grants)
        await asyncio.sleep(2.5)
        assert evse1.window.amps > 0.0  # never lapsed while evse2 hung
        assert len(evse1.grants) > renewals
        assert evse2.grants == []


async def test_slow_evse_gets_one_call_at_a_time_and_one_warning(
    mosquitto: BrokerSettings, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # evse2 answers after 1.5 s, past the 1 s validity (the manager's call timeout), while
    # rounds come every 0.2 s: as on a loaded machine running a sped-up simulation.
    caplog.set_level(logging.DEBUG)
    plan = RunPlan(site(prefix, evse2_delay_s=1.5), broker=mosquitto, prefix=prefix)
    async with running(plan):
        evse1, evse2 = await probes(prefix)
        await evse1.amps_become(16.0)
        await asyncio.sleep(3.5)  # a dozen rounds, each with a limit for evse2
        assert evse1.window.amps == 16.0  # the slow EVSE holds nobody else up
    # One call from the manager at a time; the node's timed-out call may still be asleep.
    assert evse2.most_calls_in_flight <= 2
    about_evse2 = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and f"{prefix}-evse2" in r.getMessage()
    ]
    assert len(about_evse2) == 1, about_evse2
    assert "Timeout" in about_evse2[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_quiet_evse_loses_its_share(mosquitto: BrokerSettings, prefix: str) -> None:
    async with running(RunPlan(site(prefix), broker=mosquitto, prefix=prefix)):
        evse1, evse2 = await probes(prefix)
        await evse1.amps_become(16.0)
        evse2.go_quiet()  # crashed: its last request said Charging, but it says nothing more
        # Its share is free once the node left it out (1 s), its last grant surely lapsed (twice
        # its 1 s validity) and an EV behind it had the time to follow (6 s): the manager cannot
        # know that it has none.
        await evse1.amps_become(32.0, timeout=20.0)
