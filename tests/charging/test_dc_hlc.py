"""EvseManager's DC core for high-level charging: nothing powered without the Charger's
permission, the cable check judged on the monitor's reading at the test voltage, the energy
manager's limit passed to the EV and the supply in the same step."""

from __future__ import annotations

from evstack.hlc.secc import events as ev
from evstack.modules.EvseManager.charger import (
    C1_TIMEOUT_S,
    HLC_DUTY_PERCENT,
    Charger,
    ChargerConfig,
)
from evstack.modules.EvseManager.dc_hlc import (
    Command,
    DcHlc,
    Imd,
    SupplyExport,
    SupplyImport,
    SupplyLimits,
    SupplyMode,
    ToSecc,
)
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    Authorize,
    CpChanged,
    CpState,
    CurrentLimit,
    Input,
    Pause,
    Resume,
    SetCpX1,
    SetPwm,
)


def secc_fields(commands: list[Command]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for command in commands:
        if isinstance(command, ToSecc):
            merged.update(command.fields)
    return merged


def supply(commands: list[Command]) -> list[Command]:
    return [c for c in commands if isinstance(c, SupplyMode | SupplyExport | SupplyImport)]


def params(max_voltage: float = 420.0) -> ev.EvChargeParameters:
    return ev.EvChargeParameters(
        energy_transfer_mode="DC_extended",
        max_voltage=max_voltage,
        max_current=150.0,
        max_power=None,
        energy_capacity=None,
        energy_request=None,
        full_soc=None,
        bulk_soc=None,
        soc=40,
    )


def through_cable_check(dc: DcHlc) -> None:
    dc.on_hlc(params())
    dc.on_hlc(ev.StartCableCheck())
    dc.on_isolation(900_000.0, 420.0)
    assert secc_fields(dc.on_supply(30.0, 0.0))["cable_check"] is True


def test_nothing_is_powered_before_the_charger_allows_it() -> None:
    dc = DcHlc(SupplyLimits())
    dc.on_hlc(params())
    assert supply(dc.on_hlc(ev.StartCableCheck())) == []
    assert supply(dc.on_hlc(ev.EvTarget(400.0, 10.0))) == []
    out = dc.set_power_allowed(True)  # the cable check waited for it
    assert SupplyExport(420.0, 2.0) in out
    assert SupplyMode("Export", "CableCheck") in out
    assert Imd(True) in out


def test_the_cable_check_is_judged_at_the_test_voltage_and_reported_when_safe() -> None:
    dc = DcHlc(SupplyLimits(max_voltage=500.0))
    dc.set_power_allowed(True)
    dc.on_hlc(params(420.0))
    dc.on_hlc(ev.StartCableCheck())
    assert dc.on_isolation(900_000.0, 200.0) == []  # still ramping: proves nothing
    out = dc.on_isolation(900_000.0, 419.0)
    assert secc_fields(out) == {"isolation": ev.IsolationStatus.VALID}
    assert SupplyMode("Off", "CableCheck") in out
    assert "cable_check" not in secc_fields(dc.on_supply(100.0, 0.0))
    assert secc_fields(dc.on_supply(59.0, 0.0))["cable_check"] is True


def test_an_insulation_fault_fails_the_cable_check() -> None:
    dc = DcHlc(SupplyLimits(max_voltage=500.0))
    dc.set_power_allowed(True)
    dc.on_hlc(params())
    dc.on_hlc(ev.StartCableCheck())
    out = dc.on_isolation(40_000.0, 420.0)
    assert secc_fields(out) == {"isolation": ev.IsolationStatus.FAULT, "cable_check": False}
    assert SupplyMode("Off", "Other") in out


def test_a_fault_while_charging_stops_the_supply() -> None:
    dc = DcHlc(SupplyLimits(max_voltage=500.0))
    dc.set_power_allowed(True)
    through_cable_check(dc)
    dc.on_hlc(ev.StartPreCharge())
    dc.on_hlc(ev.PowerDelivery(True))
    out = dc.on_isolation(10_000.0, 400.0)
    assert secc_fields(out)["malfunction"] is True
    assert SupplyMode("Off", "Other") in out


def test_precharge_current_is_capped() -> None:
    dc = DcHlc(SupplyLimits())
    dc.set_power_allowed(True)
    through_cable_check(dc)
    dc.on_hlc(ev.StartPreCharge())
    out = dc.on_hlc(ev.EvTarget(380.0, 10.0))
    assert supply(out) == [SupplyExport(380.0, 2.0), SupplyMode("Export", "PreCharge")]


def test_a_target_above_the_supplys_or_the_evs_maximum_is_capped() -> None:
    dc = DcHlc(SupplyLimits(max_voltage=500.0))
    dc.set_power_allowed(True)
    through_cable_check(dc)  # the EV said 420 V at most
    dc.on_hlc(ev.StartPreCharge())
    out = dc.on_hlc(ev.EvTarget(20_000.0, 2.0))
    assert supply(out)[0] == SupplyExport(420.0, 2.0)


def test_an_energy_limit_reaches_the_ev_and_the_supply_in_the_same_step() -> None:
    dc = DcHlc(SupplyLimits(max_current=200.0, max_power=100e3))
    dc.set_power_allowed(True)
    through_cable_check(dc)
    dc.on_hlc(ev.StartPreCharge())
    dc.on_hlc(ev.PowerDelivery(True))
    dc.on_supply(400.0, 0.0)
    assert supply(dc.on_hlc(ev.EvTarget(400.0, 150.0))) == [SupplyExport(400.0, 150.0)]
    out = dc.set_energy_limit(20_000.0)
    assert secc_fields(out) == {"max_voltage": 500.0, "max_current": 50.0, "max_power": 20_000.0}
    assert supply(out) == [SupplyExport(400.0, 50.0)]


def test_a_negative_target_imports_within_the_supplys_import_limits() -> None:
    limits = SupplyLimits(min_voltage=200.0, max_discharge_current=100.0, max_discharge_power=20e3)
    dc = DcHlc(limits)
    dc.set_power_allowed(True)
    through_cable_check(dc)
    dc.on_hlc(ev.StartPreCharge())
    dc.on_hlc(ev.PowerDelivery(True))
    dc.on_supply(400.0, 0.0)
    out = dc.on_hlc(ev.EvTarget(400.0, -80.0))
    assert supply(out) == [SupplyImport(200.0, 50.0), SupplyMode("Import", "Charging")]
    out = dc.on_hlc(ev.EvTarget(400.0, 30.0))  # and back to charging
    assert supply(out) == [SupplyExport(400.0, 30.0), SupplyMode("Export", "Charging")]


def test_losing_the_permission_switches_the_supply_off() -> None:
    dc = DcHlc(SupplyLimits())
    dc.set_power_allowed(True)
    through_cable_check(dc)
    dc.on_hlc(ev.StartPreCharge())
    dc.on_hlc(ev.PowerDelivery(True))
    out = dc.set_power_allowed(False)
    assert secc_fields(out)["power_allowed"] is False
    assert SupplyMode("Off", "Other") in out
    assert supply(dc.on_hlc(ev.EvTarget(400.0, 100.0))) == []


def test_the_session_ending_switches_everything_off() -> None:
    dc = DcHlc(SupplyLimits())
    dc.set_power_allowed(True)
    through_cable_check(dc)
    dc.on_hlc(ev.StartPreCharge())
    dc.on_hlc(ev.PowerDelivery(True))
    out = dc.on_hlc(ev.SessionEnded("connection lost", False))
    assert SupplyMode("Off", "Other") in out
    assert Imd(False) in out


# -- the Charger core in HLC mode ----------------------------------------------------------


class Run:
    """A Charger in HLC mode on a hand clock, and everything it did."""

    def __init__(self) -> None:
        self.charger = Charger(ChargerConfig(hlc=True))
        self.now = 0.0
        self.actions: list[Action] = self.charger.start(self.now)

    def send(self, event: Input) -> list[Action]:
        fresh = self.charger.handle(event, self.now)
        self.actions += fresh
        return fresh

    def cp(self, state: str) -> list[Action]:
        return self.send(CpChanged(CpState(state)))

    def wait(self, seconds: float) -> list[Action]:
        end, fresh = self.now + seconds, []
        while (deadline := self.charger.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            fresh += self.charger.tick(self.now)
        self.now = end
        fresh += self.charger.tick(self.now)
        self.actions += fresh
        return fresh


def hlc_run() -> Run:
    return Run()


def test_hlc_signals_5_percent_from_plug_in_before_authorization() -> None:
    run = hlc_run()
    fresh = run.cp("B")
    assert SetPwm(HLC_DUTY_PERCENT) in fresh
    run.cp("C")  # the EV goes to C for the cable check, but is not authorized yet
    assert not run.charger.power_allowed
    fresh = run.send(Authorize("eim"))
    assert AllowPower(True) in fresh
    assert run.charger.power_allowed


def test_hlc_energy_limits_do_not_change_the_duty() -> None:
    run = hlc_run()
    run.cp("B")
    run.send(Authorize("eim"))
    run.cp("C")
    run.send(CurrentLimit(0.0))
    run.wait(10.0)
    assert [a for a in run.actions if isinstance(a, SetPwm)] == [SetPwm(HLC_DUTY_PERCENT)]
    assert run.charger.power_allowed  # the limit goes to the EV over the session instead


def test_hlc_pause_stops_the_pwm_and_power_after_the_grace() -> None:
    run = hlc_run()
    run.cp("B")
    run.send(Authorize("eim"))
    run.cp("C")
    assert SetCpX1() in run.send(Pause())
    assert run.charger.power_allowed  # the EV gets the C1 grace to stop its current
    assert run.wait(C1_TIMEOUT_S)[-1] == AllowPower(False)
    assert SetPwm(HLC_DUTY_PERCENT) in run.send(Resume())
