"""Whole sessions through the real broker: BoardSimulator, EvseManager and EvSimulator as
modules, wired by ev-manager's engine, with a probe standing in for Auth and an operator.

Simulated time runs 20x faster than real time, so a 30 s charge takes 1.5 s here.
Nothing asserts wall-clock timing; the deadlines on simulated time are the lock-step
tests' business (test_sessions_lockstep.py).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from evstack.generated.types.evse_manager import StopTransactionReason, StopTransactionRequest
from evstack.runtime import CommandError, CommandEvent
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RestartPolicy, RunPlan, module_class_path

from . import probe as probe_module
from .probe import Probe, instance

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(90)]

SPEEDUP = 20.0
# A new script replaces the EV's whole plan: it has to ask for power again.
CHARGE_5_S_THEN_LEAVE = "iec_wait_pwr_ready;draw_power_regulated 16,3;sleep 5;unplug"
MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


def charge_point(
    tag: str,
    script: str,
    *,
    ev: dict[str, Any] | None = None,
    evse: dict[str, Any] | None = None,
    board_config: dict[str, Any] | None = None,
) -> list[ModulePlan]:
    board, manager, car, probe = (f"{tag}_{n}" for n in ("board", "evse", "ev", "probe"))
    return [
        ModulePlan(
            board,
            module_class_path("BoardSimulator"),
            {**(board_config or {})},
        ),
        ModulePlan(
            manager,
            module_class_path("EvseManager"),
            {"energy_management": False, **(evse or {})},
            connections={
                "bsp": [(board, "board_support")],
                "powermeter_grid_side": [(board, "powermeter")],
            },
        ),
        ModulePlan(
            car,
            module_class_path("EvSimulator"),
            {"auto_exec_commands": script, **(ev or {})},
            connections={"ev_board": [(board, "ev_board_support")]},
        ),
        ModulePlan(
            probe,
            f"{probe_module.__name__}:Probe",
            connections={
                "evse": [(manager, "evse")],
                "bsp": [(board, "board_support")],
                "ev": [(car, "control")],
            },
        ),
    ]


@asynccontextmanager
async def session(
    broker: BrokerSettings, script: str, **options: dict[str, Any]
) -> AsyncIterator[Probe]:
    tag = f"cp{secrets.token_hex(3)}"
    plan = RunPlan(
        charge_point(tag, script, **options), speedup=SPEEDUP, broker=broker, prefix=f"test-{tag}"
    )
    async with running(plan):
        yield await instance(f"{tag}_probe")


def finished(probe: Probe) -> bool:
    return "SessionFinished" in probe.events()


def relay(probe: Probe) -> str:
    """The contactor's state by the board's last report."""
    reports = [e for e in probe.board if e in ("PowerOn", "PowerOff")]
    return reports[-1] if reports else "PowerOff"


async def test_happy_path(mosquitto: BrokerSettings) -> None:
    script = "sleep 1;iec_wait_pwr_ready;draw_power_regulated 16,3;sleep 30;unplug"
    async with session(mosquitto, script) as probe:
        await probe.until(lambda: "AuthRequired" in probe.events())
        await probe.authorize()
        await probe.until(lambda: finished(probe))
    assert probe.events()[1:] == [
        "SessionStarted",
        "AuthRequired",
        "Authorized",
        "TransactionStarted",
        "PrepareCharging",
        "ChargingStarted",
        "ChargingFinished",
        "TransactionFinished",
        "SessionFinished",
    ]
    assert probe.stop_reasons() == ["EVDisconnected"]
    assert "PowerOn" in probe.board
    assert probe.board.index("PowerOff", probe.board.index("PowerOn")) > 0
    (done,) = [e for e in probe.session if e.transaction_finished is not None]
    (began,) = [e for e in probe.session if e.transaction_started is not None]
    energy = (
        done.transaction_finished.meter_value.energy_Wh_import.total  # type: ignore[union-attr]
        - began.transaction_started.meter_value.energy_Wh_import.total  # type: ignore[union-attr]
    )
    # 16 A on 3 phases for about 30 s of simulated time: 110 Wh, give or take a meter tick.
    assert 80 < energy < 140


async def test_ev_pause_and_resume(mosquitto: BrokerSettings) -> None:
    script = "iec_wait_pwr_ready;sleep 5;pause;sleep 5;iec_wait_pwr_ready;sleep 5;unplug"
    async with session(mosquitto, script) as probe:
        await probe.authorize()
        await probe.until(lambda: finished(probe))
    events = probe.events()
    assert events.index("ChargingPausedEV") < events.index("ChargingResumed")
    assert probe.board.count("PowerOn") == 2


async def test_operator_pause_resume_and_stop(mosquitto: BrokerSettings) -> None:
    async with session(mosquitto, "iec_wait_pwr_ready;sleep 600") as probe:
        await probe.authorize()
        await probe.until(lambda: "ChargingStarted" in probe.events())
        assert await probe.r_evse.call_pause_charging()
        await probe.until(lambda: "ChargingPausedEVSE" in probe.events())
        await probe.until(lambda: probe.board[-1] == "PowerOff")
        assert await probe.r_evse.call_resume_charging()
        await probe.until(lambda: "ChargingResumed" in probe.events())
        request = StopTransactionRequest(reason=StopTransactionReason.Remote)
        assert await probe.r_evse.call_stop_transaction(request=request)
        await probe.until(lambda: "TransactionFinished" in probe.events())
    assert probe.stop_reasons() == ["Remote"]


async def test_diode_fault_ends_safely(mosquitto: BrokerSettings) -> None:
    script = "iec_wait_pwr_ready;sleep 2;diode_fail;sleep 3;unplug"
    async with session(mosquitto, script) as probe:
        await probe.authorize()
        await probe.until(lambda: finished(probe))
    assert ("evse_board_support/DiodeFault", "Active") in probe.errors
    assert ("evse_manager/Inoperative", "Active") in probe.errors
    assert relay(probe) == "PowerOff"
    assert probe.stop_reasons() == ["Other"]


async def test_state_e_stops_charging(mosquitto: BrokerSettings) -> None:
    script = "iec_wait_pwr_ready;sleep 2;error_e;sleep 3;unplug"
    async with session(mosquitto, script) as probe:
        await probe.authorize()
        await probe.until(lambda: finished(probe))
    assert "E" in probe.board
    assert "PowerOn" in probe.board
    assert relay(probe) == "PowerOff"


async def test_rcd_trip(mosquitto: BrokerSettings) -> None:
    script = "iec_wait_pwr_ready;sleep 2;rcd_current 40;sleep 3;unplug"
    async with session(mosquitto, script) as probe:
        await probe.authorize()
        await probe.until(lambda: finished(probe))
    assert ("ac_rcd/AC", "Active") in probe.errors
    assert probe.stop_reasons() == ["GroundFault"]


async def test_c1_timeout_with_an_ev_that_ignores_the_pilot(mosquitto: BrokerSettings) -> None:
    async with session(
        mosquitto, "iec_wait_pwr_ready;sleep 600", ev={"follows_pilot": False}
    ) as probe:
        await probe.authorize()
        await probe.until(lambda: "ChargingStarted" in probe.events())
        request = StopTransactionRequest(reason=StopTransactionReason.Local)
        await probe.r_evse.call_stop_transaction(request=request)
        await probe.until(lambda: "TransactionFinished" in probe.events())
        await probe.until(lambda: relay(probe) == "PowerOff")
    assert probe.board[-2:] == ["PowerOn", "PowerOff"]  # opened under load, the EV still in C
    assert probe.stop_reasons() == ["Local"]


async def test_bad_script_is_refused_and_the_ev_goes_on(mosquitto: BrokerSettings) -> None:
    async with session(mosquitto, "iec_wait_pwr_ready;sleep 600") as probe:
        await probe.authorize()
        await probe.until(lambda: "ChargingStarted" in probe.events())
        reason = await probe.r_ev.call_execute(commands="sleep 1;teleport")
        assert "unknown command 'teleport'" in reason
        assert await probe.r_ev.call_execute(commands="unplug") == ""
        await probe.until(lambda: finished(probe))


@pytest.mark.timeout(120)
async def test_finding_3_evse_manager_crash_carries_on_its_transaction(
    mosquitto: BrokerSettings,
) -> None:
    """Kill EvseManager's process mid-charge: the contactor opens, the manager restarts the
    module, and the restarted module carries on the same transaction (no new session, no new
    authorization) until the EV leaves; then it is finished exactly once, with its energy."""
    tag = f"cp{secrets.token_hex(3)}"
    modules = charge_point(tag, "iec_wait_pwr_ready;sleep 6000")
    hardware = [m for m in modules if not m.module_id.endswith("_probe")]
    probe_plan = [m for m in modules if m.module_id.endswith("_probe")]
    prefix = f"test-{tag}"
    restart = RestartPolicy(max_restarts=2, initial_s=0.5)
    charger_side = RunPlan(
        hardware, speedup=SPEEDUP, broker=mosquitto, prefix=prefix, restart=restart
    )
    probe_side = RunPlan(probe_plan, speedup=SPEEDUP, broker=mosquitto, prefix=prefix)
    async with (
        running(probe_side, name="probe", wait_ready=False),
        running(charger_side, inprocess=False, name="charger") as charger,
    ):
        probe = await instance(f"{tag}_probe")
        await probe.until(lambda: "AuthRequired" in probe.events())
        await probe.authorize()
        await probe.until(lambda: relay(probe) == "PowerOn")
        started = len(probe.session)
        (session,) = {e.uuid for e in probe.session if e.transaction_started is not None}

        os.kill(charger._modules[f"{tag}_evse"].process.pid, signal.SIGKILL)
        await probe.until(lambda: relay(probe) == "PowerOff")  # nobody repeats the permission

        await probe.until(lambda: "ChargingResumed" in probe.events()[started:])
        await probe.until(lambda: relay(probe) == "PowerOn")
        after = probe.session[started:]
        assert {e.uuid for e in after} == {session}
        restarted = set(probe.events()[started:])
        assert not {"SessionStarted", "TransactionStarted", "AuthRequired"} & restarted

        # Charge a while (simulated seconds) in the carried-on transaction, then leave.
        assert await probe.r_ev.call_execute(commands=CHARGE_5_S_THEN_LEAVE) == ""
        await probe.until(lambda: finished(probe))
        records = await probe.r_evse.call_get_transactions()
    finishes = [e for e in probe.session if e.transaction_finished is not None]
    assert [e.uuid for e in finishes] == [session]
    assert probe.stop_reasons() == ["EVDisconnected"]
    (record,) = [r for r in records if r.session_uuid == session]
    assert record.transaction_finished is not None
    energy = (
        record.transaction_finished.meter_value.energy_Wh_import.total
        - record.transaction_started.meter_value.energy_Wh_import.total
    )
    assert energy > 0


@pytest.mark.timeout(120)
async def test_finding_4_a_meter_that_forgets_its_count_is_a_fault_not_lost_energy(
    mosquitto: BrokerSettings,
) -> None:
    """The board restarts mid-charge with a meter that starts again from 0 Wh: the EVSE is
    not stuck, raises MeterFault, and counts the transaction's energy on from where the meter
    was, never negative and never lost."""
    tag = f"cp{secrets.token_hex(3)}"
    script = "iec_wait_pwr_ready;draw_power_regulated 16,3;sleep 6000"
    modules = charge_point(tag, script, board_config={"meter_memory": False})
    hardware = [m for m in modules if not m.module_id.endswith("_probe")]
    probe_plan = [m for m in modules if m.module_id.endswith("_probe")]
    prefix = f"test-{tag}"
    charger_side = RunPlan(hardware, speedup=SPEEDUP, broker=mosquitto, prefix=prefix)
    async with (
        running(
            RunPlan(probe_plan, speedup=SPEEDUP, broker=mosquitto, prefix=prefix),
            name="p",
            wait_ready=False,
        ),
        running(charger_side, inprocess=False, name="charger") as charger,
    ):
        probe = await instance(f"{tag}_probe")
        await probe.authorize()
        await probe.until(lambda: probe.counted_wh() >= 10.0)
        before_crash = probe.counted_wh()
        os.kill(charger._modules[f"{tag}_board"].process.pid, signal.SIGKILL)
        await probe.until(lambda: ("evse_manager/MeterFault", "Active") in probe.errors)
        await probe.until(lambda: probe.counted_wh() >= before_crash + 10.0)
        assert await probe.r_ev.call_execute(commands="unplug") == ""
        await probe.until(lambda: finished(probe))
    assert probe.meter_wh == sorted(probe.meter_wh)  # never backwards
    (done,) = [e for e in probe.session if e.transaction_finished is not None]
    (began,) = [e for e in probe.session if e.transaction_started is not None]
    energy = (
        done.transaction_finished.meter_value.energy_Wh_import.total  # type: ignore[union-attr]
        - began.transaction_started.meter_value.energy_Wh_import.total  # type: ignore[union-attr]
    )
    # Both stretches count: read naively, the second would replace the first, or go negative.
    assert energy >= 20.0


@pytest.mark.timeout(120)
async def test_two_evses_share_a_fuse_and_a_silent_energy_manager_stops_both(
    mosquitto: BrokerSettings,
) -> None:
    tag = f"site{secrets.token_hex(3)}"
    prefix = f"test-{tag}"
    first = charge_point(f"{tag}a", "iec_wait_pwr_ready;sleep 20;unplug", evse={})
    second = charge_point(f"{tag}b", "sleep 2;iec_wait_pwr_ready;sleep 6000", evse={})
    for plan in (first, second):
        evse = next(m for m in plan if m.module_id.endswith("_evse"))
        plan[plan.index(evse)] = ModulePlan(
            evse.module_id,
            evse.module_class,
            {**evse.config_module, "energy_management": True},
            connections=evse.connections,
        )
    grid = [
        ModulePlan(
            f"{tag}_em",
            module_class_path("EnergyManager"),
            {"limits_valid_for": 5},
            connections={"energy_trunk": [(f"{tag}_fuse", "energy_grid")]},
        ),
        ModulePlan(
            f"{tag}_fuse",
            module_class_path("EnergyNode"),
            {"fuse_limit_A": 32, "phase_count": 3},
            connections={
                "energy_consumer": [
                    (f"{tag}a_evse", "energy_grid"),
                    (f"{tag}b_evse", "energy_grid"),
                ]
            },
        ),
    ]
    no_restart = RestartPolicy(max_restarts=0)
    async with (
        running(
            RunPlan(first + second, speedup=SPEEDUP, broker=mosquitto, prefix=prefix),
            wait_ready=False,
        ),
        running(
            RunPlan(grid, speedup=SPEEDUP, broker=mosquitto, prefix=prefix, restart=no_restart),
            inprocess=False,
            name="grid",
        ) as grid_manager,
    ):
        a, b = await instance(f"{tag}a_probe"), await instance(f"{tag}b_probe")
        await a.authorize()
        await b.authorize()
        await b.until(lambda: b.limits[-1:] == [16.0] and relay(b) == "PowerOn")
        await a.until(lambda: a.limits[-1:] == [16.0] and relay(a) == "PowerOn")
        await a.until(lambda: finished(a))  # the first EV leaves ...
        await b.until(lambda: b.limits[-1:] == [32.0])  # ... the second takes the fuse

        em = grid_manager._modules[f"{tag}_em"].process
        os.kill(em.pid, signal.SIGKILL)
        await b.until(lambda: b.limits[-1:] == [0.0])  # the grant ran out
        await b.until(lambda: relay(b) == "PowerOff")
        assert b.events()[-1] == "ChargingPausedEVSE"


async def test_ev_drawing_more_than_offered_is_stopped(mosquitto: BrokerSettings) -> None:
    script = "draw_power_fixed 32,3;iec_wait_pwr_ready;sleep 600"
    async with session(mosquitto, script, evse={"max_current_A": 16}) as probe:
        await probe.authorize()
        await probe.until(lambda: "TransactionFinished" in probe.events())
        await probe.until(lambda: relay(probe) == "PowerOff")
    assert probe.stop_reasons() == ["OvercurrentFault"]


async def test_bad_board_commands_are_refused_and_charging_goes_on(
    mosquitto: BrokerSettings,
) -> None:
    async with session(mosquitto, "iec_wait_pwr_ready;sleep 600") as probe:
        await probe.authorize()
        await probe.until(lambda: relay(probe) == "PowerOn")
        with pytest.raises(CommandError) as refused:
            await probe.r_bsp.call_pwm_on(value=100.0)  # 100 % is X1, not a PWM duty
        assert refused.value.event is CommandEvent.HANDLER_EXCEPTION
        assert "duty" in refused.value.message
        with pytest.raises(CommandError) as invalid:
            await probe.r_bsp.call_pwm_on(value=250.0)  # outside the interface's schema
        assert invalid.value.event is CommandEvent.SCHEMA_VALIDATION_FAILED
        request = StopTransactionRequest(reason=StopTransactionReason.Local)
        assert await probe.r_evse.call_stop_transaction(request=request)
        await probe.until(lambda: "TransactionFinished" in probe.events())
    assert probe.stop_reasons() == ["Local"]
