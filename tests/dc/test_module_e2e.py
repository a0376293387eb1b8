"""DcSupplySimulator through the real broker, with a probe standing in for EvseManager,
the SECC and the EV's charging logic: a whole DC session, the board's contactor between
supply and EV, giving power back, insulation faults and self tests, the supply switching
off when its driver crashes, and the meter keeping its count through a restart.

Simulated time runs 20x faster than real time. Nothing asserts wall-clock timing; the
figures on simulated time are test_power_path.py's business.
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

from evstack.generated.types.ev_board_support import EvCpState
from evstack.generated.types.evse_board_support import PowerOnOff
from evstack.generated.types.power_supply_DC import ChargingPhase, Mode
from evstack.generated.types.powermeter import Powermeter, TransactionReq
from evstack.runtime.manager import running
from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.plan import ModulePlan, RestartPolicy, RunPlan, module_class_path

from . import probe as probe_module
from .probe import Probe, instance

pytestmark = [pytest.mark.mosquitto, pytest.mark.timeout(90)]

SPEEDUP = 20.0
MOSQUITTO = BrokerSettings(host="127.0.0.1", port=1883)


@pytest.fixture
def mosquitto() -> BrokerSettings:
    try:
        socket.create_connection((MOSQUITTO.host, MOSQUITTO.port), timeout=1).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (run `make mosquitto`)")
    return MOSQUITTO


def power_path(
    tag: str,
    *,
    board: bool = False,
    implementation: dict[str, dict[str, Any]] | None = None,
    module: dict[str, Any] | None = None,
) -> list[ModulePlan]:
    """The DC power path, a probe on all of it, and optionally a board for its contactor."""
    dc, probe, bsp = f"{tag}_dc", f"{tag}_probe", f"{tag}_board"
    plans = [
        ModulePlan(
            dc,
            module_class_path("DcSupplySimulator"),
            {**(module or {})},
            config_implementation=implementation or {},
            connections={"bsp": [(bsp, "board_support")]} if board else {},
        ),
        ModulePlan(
            probe,
            f"{probe_module.__name__}:Probe",
            connections={
                "supply": [(dc, "main")],
                "meter": [(dc, "powermeter")],
                "imd": [(dc, "imd")],
                "ev": [(dc, "ev")],
                **(
                    {"bsp": [(bsp, "board_support")], "ev_board": [(bsp, "ev_board_support")]}
                    if board
                    else {}
                ),
            },
        ),
    ]
    if board:
        # No power watchdog: the probe does not repeat its permission as EvseManager does.
        config = {"power_watchdog_s": 0}
        plans.append(ModulePlan(bsp, module_class_path("BoardSimulator"), config))
    return plans


def dc_values(reading: Powermeter) -> tuple[float, float, float]:
    """A DC meter reading's voltage, current and power."""
    volts, amps, watts = reading.voltage_V, reading.current_A, reading.power_W
    assert volts is not None
    assert amps is not None
    assert watts is not None
    assert volts.DC is not None
    assert amps.DC is not None
    return volts.DC, amps.DC, watts.total


@asynccontextmanager
async def session(broker: BrokerSettings, **options: Any) -> AsyncIterator[Probe]:
    tag = f"dc{secrets.token_hex(3)}"
    plan = RunPlan(power_path(tag, **options), speedup=SPEEDUP, broker=broker, prefix=f"test-{tag}")
    async with running(plan):
        probe = await instance(f"{tag}_probe")
        await probe.until(lambda: bool(probe.capabilities and probe.inlet))
        yield probe


async def test_a_dc_session_from_cable_check_to_discharge(mosquitto: BrokerSettings) -> None:
    async with session(mosquitto) as probe:
        (capabilities,) = probe.capabilities
        assert (capabilities.max_export_voltage_V, capabilities.max_export_current_A) == (900, 200)
        assert capabilities.bidirectional
        assert probe.modes == ["Off"]

        # Cable check: 500 V on the cable, the monitor's self test, a measurement.
        await probe.imd.call_start()
        await probe.export(500.0, 2.0, ChargingPhase.CableCheck)
        await probe.until(lambda: probe.output_v() > 499.0)
        await probe.imd.call_start_self_test(test_voltage_V=500.0)
        await probe.until(lambda: probe.self_tests == [True])
        await probe.until(lambda: any(m.voltage_V == pytest.approx(500.0) for m in probe.isolation))
        assert probe.isolation[-1].resistance_F_Ohm == pytest.approx(900_000.0)
        await probe.supply.call_setMode(mode=Mode.Off, phase=ChargingPhase.CableCheck)
        await probe.until(lambda: probe.output_v() < 60.0)

        # Precharge to the battery, the EV closes its contactor, charge at 100 A.
        battery = await probe.precharge_and_connect()
        assert 300.0 < battery < 400.0
        await probe.meter.call_start_transaction(
            value=TransactionReq(evse_id="DE*EVS*E1", transaction_id="tx1")
        )
        await probe.export(410.0, 100.0, ChargingPhase.Charging)
        await probe.until(lambda: probe.inlet[-1].current_A > 99.0)
        await probe.until(lambda: probe.readings[-1].energy_Wh_import.total > 20.0)

        # Everyone sees the same volts: the supply, the EV's inlet, the meter.
        inlet = await probe.fresh_inlet()
        supply = probe.outputs[-1]  # published in the same tick as the inlet's reading
        volts, amps, watts = dc_values(probe.readings[-1])
        assert inlet.inlet_voltage_V == pytest.approx(supply.voltage_V, abs=1e-9)
        assert volts == pytest.approx(inlet.inlet_voltage_V, abs=0.5)
        assert amps == pytest.approx(100.0, abs=0.1)
        assert watts == pytest.approx(volts * amps)
        assert supply.current_A == pytest.approx(100.0, abs=0.1)
        assert inlet.soc_percent > 30.0

        # Stop: the supply off, the EV opens, the output discharges.
        await probe.supply.call_setMode(mode=Mode.Off, phase=ChargingPhase.Other)
        await probe.ev.call_allow_power_on(value=False)
        await probe.until(lambda: probe.output_v() < 60.0)
        stopped = await probe.meter.call_stop_transaction(transaction_id="tx1")
        assert stopped.energy_Wh is not None
        assert stopped.energy_Wh > 20.0
    assert probe.modes == ["Off", "Export", "Off", "Export", "Export", "Off"]


async def test_the_ev_sees_the_supply_only_through_the_boards_contactor(
    mosquitto: BrokerSettings,
) -> None:
    async with session(mosquitto, board=True) as probe:
        await probe.bsp.call_enable(value=True)
        await probe.ev_board.call_set_cp_state(cp_state=EvCpState.C)
        await probe.export(400.0, 2.0, ChargingPhase.CableCheck)
        await probe.until(lambda: probe.output_v() > 399.0)
        assert (await probe.fresh_inlet()).inlet_voltage_V == 0.0  # the contactor is open

        allow = PowerOnOff(allow_power_on=True, reason="DCCableCheck")
        await probe.bsp.call_allow_power_on(value=allow)
        await probe.until(lambda: "PowerOn" in probe.board)
        await probe.until(lambda: probe.inlet_v() > 399.0)

        forbid = PowerOnOff(allow_power_on=False, reason="PowerOff")
        await probe.bsp.call_allow_power_on(value=forbid)
        await probe.until(lambda: probe.board[-1] == "PowerOff")
        await probe.until(lambda: probe.inlet_v() == 0.0)
        assert probe.output_v() > 399.0  # still there, behind the open contactor


async def test_giving_power_back_counts_as_export(mosquitto: BrokerSettings) -> None:
    async with session(mosquitto) as probe:
        await probe.precharge_and_connect()
        await probe.supply.call_setImportVoltageCurrent(voltage=300.0, current=50.0)
        await probe.supply.call_setMode(mode=Mode.Import, phase=ChargingPhase.Charging)
        await probe.until(lambda: probe.inlet[-1].current_A < -49.0)
        await probe.until(lambda: len(probe.readings) > 3 and dc_values(probe.readings[-1])[2] < 0)
        imported = probe.readings[-1].energy_Wh_import.total
        soc = (await probe.fresh_inlet()).soc_percent
        await probe.until(lambda: probe.inlet[-1].soc_percent < soc - 0.01)
        assert probe.readings[-1].energy_Wh_import.total == imported  # nothing went in
        assert probe.outputs[-1].current_A == pytest.approx(-50.0, abs=0.1)


async def test_an_insulation_fault_shows_in_the_next_measurements(
    mosquitto: BrokerSettings,
) -> None:
    async with session(mosquitto) as probe:
        await probe.imd.call_start()
        await probe.until(lambda: len(probe.isolation) >= 1)
        await probe.ev.call_set_isolation_fault(resistance_Ohm=50_000.0)
        faulty = 1 / (1 / 900e3 + 1 / 50e3)
        await probe.until(lambda: probe.isolation[-1].resistance_F_Ohm == pytest.approx(faulty))
        await probe.ev.call_set_isolation_fault(resistance_Ohm=0.0)
        await probe.until(lambda: probe.isolation[-1].resistance_F_Ohm == pytest.approx(900e3))
        await probe.imd.call_stop()


async def test_a_broken_monitor_fails_its_self_test(mosquitto: BrokerSettings) -> None:
    broken = {"imd": {"selftest_success": False, "selftest_duration_s": 1.0}}
    async with session(mosquitto, implementation=broken) as probe:
        await probe.imd.call_start_self_test(test_voltage_V=500.0)
        await probe.until(lambda: probe.self_tests == [False])


async def test_the_supply_switches_off_and_discharges_when_its_driver_crashes(
    mosquitto: BrokerSettings,
) -> None:
    tag = f"dc{secrets.token_hex(3)}"
    prefix = f"test-{tag}"
    driver = ModulePlan(
        f"{tag}_driver",
        f"{probe_module.__name__}:Driver",
        connections={"supply": [(f"{tag}_dc", "main")]},
    )
    no_restart = RestartPolicy(max_restarts=0)
    async with (
        running(
            RunPlan(power_path(tag), speedup=SPEEDUP, broker=mosquitto, prefix=prefix),
            wait_ready=False,
        ),
        running(
            RunPlan([driver], speedup=SPEEDUP, broker=mosquitto, prefix=prefix, restart=no_restart),
            inprocess=False,
            name="driver",
        ) as driver_side,
    ):
        probe = await instance(f"{tag}_probe")
        await probe.until(lambda: probe.output_v() > 499.0)
        os.kill(driver_side._modules[f"{tag}_driver"].process.pid, signal.SIGKILL)
        await probe.until(lambda: probe.modes[-1:] == ["Off"])
        await probe.until(lambda: probe.output_v() < 60.0)


@pytest.mark.timeout(120)
async def test_the_meter_and_the_ev_are_still_there_after_a_restart(
    mosquitto: BrokerSettings,
) -> None:
    tag = f"dc{secrets.token_hex(3)}"
    prefix = f"test-{tag}"
    dc, probe_plan = power_path(tag)
    restart = RestartPolicy(max_restarts=2, initial_s=0.3)
    async with (
        running(
            RunPlan([probe_plan], speedup=SPEEDUP, broker=mosquitto, prefix=prefix),
            wait_ready=False,
        ),
        running(
            RunPlan([dc], speedup=SPEEDUP, broker=mosquitto, prefix=prefix, restart=restart),
            inprocess=False,
            name="charger",
        ) as charger,
    ):
        probe = await instance(f"{tag}_probe")
        await probe.until(lambda: bool(probe.inlet))
        await probe.precharge_and_connect()
        await probe.export(410.0, 100.0, ChargingPhase.Charging)
        await probe.until(lambda: probe.readings[-1].energy_Wh_import.total > 10.0)
        before = probe.readings[-1].energy_Wh_import.total
        soc = probe.inlet[-1].soc_percent
        counted = len(probe.readings)

        os.kill(charger._modules[dc.module_id].process.pid, signal.SIGKILL)
        await probe.until(lambda: probe.modes[-1:] == ["Off"] and len(probe.modes) > 3)
        await probe.until(lambda: len(probe.readings) > counted + 1)
        after = probe.readings[counted:]
        assert all(r.energy_Wh_import.total >= before for r in after)
        totals = [r.energy_Wh_import.total for r in probe.readings]
        assert totals == sorted(totals)  # never backwards
        inlet = await probe.fresh_inlet()
        assert inlet.contactor_closed  # the car did not open its contactor meanwhile
        # Not back at its configured start: it charged on until the kill, and a bleeder may
        # have taken a trickle since (well under what charging added).
        assert inlet.soc_percent >= soc - 0.001
