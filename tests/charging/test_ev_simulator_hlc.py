"""The EV simulator's iso_* commands on a hand clock: what it asks of its ISO 15118
controller (ISO15118_ev) and of its board, and when each command is done."""

from __future__ import annotations

import itertools

import pytest

from evstack.modules.EvSimulator.bcb import PULSE_S
from evstack.modules.EvSimulator.ev import (
    AllowPowerOn,
    Battery,
    CommandDone,
    Discharge,
    DrawCurrent,
    DutySeen,
    Ev,
    EvAction,
    EvCpState,
    HlcSeen,
    PauseV2g,
    PowerSeen,
    ResetSlac,
    SetCpState,
    SlacSeen,
    StartV2g,
    StopV2g,
    TriggerSlac,
)
from evstack.modules.EvSimulator.script import ScriptError, parse_script

DC_SCRIPT = (
    "iso_wait_slac_matched;iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;"
    "iso_wait_for_stop 15;iso_wait_v2g_session_stopped;unplug"
)


class Drive:
    def __init__(
        self, text: str, battery: Battery | None = None, slac_state: str | None = None
    ) -> None:
        self.ev = Ev(parse_script(text), battery or Battery(), slac_state=slac_state)
        self.now = 0.0
        self.actions: list[EvAction] = list(self.ev.tick(0.0))

    def send(self, *events: DutySeen | PowerSeen | HlcSeen | SlacSeen) -> None:
        for event in events:
            self.actions += self.ev.handle(event, self.now)

    def run_until(self, end: float) -> None:
        while (deadline := self.ev.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.actions += self.ev.tick(self.now)
        self.now = end
        self.actions += self.ev.tick(end)

    def done(self) -> list[str]:
        return [a.command.name for a in self.actions if isinstance(a, CommandDone)]

    def of(self, kind: type) -> list[EvAction]:
        return [a for a in self.actions if isinstance(a, kind)]


def test_with_an_ev_slac_iso_wait_slac_matched_triggers_matching_and_waits_for_the_match() -> None:
    drive = Drive(DC_SCRIPT, slac_state="UNMATCHED")
    assert drive.of(TriggerSlac) == [TriggerSlac()]
    assert drive.done() == []
    assert drive.ev.cp is EvCpState.B  # plugged in, not asking for power
    drive.send(SlacSeen("MATCHING"))
    drive.run_until(1.0)
    assert drive.done() == []
    # The matching process failed for good: the EV triggers it again on the next try.
    drive.send(SlacSeen("UNMATCHED"))
    assert drive.of(TriggerSlac) == [TriggerSlac(), TriggerSlac()]
    drive.send(SlacSeen("MATCHING"), SlacSeen("MATCHED"))
    assert drive.done() == ["iso_wait_slac_matched", "iso_start_v2g_session"]
    assert drive.of(TriggerSlac) == [TriggerSlac(), TriggerSlac()]
    assert drive.of(ResetSlac) == []


def test_unplugging_resets_the_ev_slac() -> None:
    drive = Drive("iso_wait_slac_matched;unplug", slac_state="UNMATCHED")
    drive.send(SlacSeen("MATCHED"))
    assert drive.done() == ["iso_wait_slac_matched", "unplug"]
    assert drive.of(ResetSlac) == [ResetSlac()]


def test_the_typical_dc_script_step_by_step() -> None:
    drive = Drive(DC_SCRIPT)
    assert drive.done() == ["iso_wait_slac_matched", "iso_start_v2g_session"]
    assert drive.of(StartV2g) == [StartV2g("DC_extended", 0.0, 0.0)]
    assert drive.ev.cp is EvCpState.B
    drive.send(DutySeen(5.0))  # HLC: 5 % says nothing about current
    drive.run_until(2.0)
    assert drive.done()[-1] == "iso_start_v2g_session"
    drive.send(HlcSeen("power_ready", True))
    assert drive.done()[-1] == "iso_wait_pwr_ready"
    assert drive.actions[-1] == SetCpState(EvCpState.C)  # asks for power at 5 % duty
    drive.run_until(4.0)
    assert drive.of(AllowPowerOn) == []
    drive.send(HlcSeen("dc_power_on"))
    assert drive.done()[-1] == "iso_dc_power_on"
    assert drive.of(AllowPowerOn) == [AllowPowerOn(True)]
    drive.send(PowerSeen(True))
    # DC: no AC current drawn.
    assert all(a.amps == 0 for a in drive.actions if isinstance(a, DrawCurrent))
    # iso_wait_for_stop 15: the EV stops after 15 s of charging.
    drive.run_until(4.0 + 14.9)
    assert drive.of(StopV2g) == []
    drive.run_until(4.0 + 15.3)
    assert drive.of(StopV2g) == [StopV2g()]
    assert drive.of(AllowPowerOn)[-1] == AllowPowerOn(False)
    assert drive.done()[-1] == "iso_wait_for_stop"
    drive.run_until(25.0)
    assert drive.done()[-1] == "iso_wait_for_stop"  # until the session is over
    drive.send(HlcSeen("power_ready", False), HlcSeen("session_finished"))
    assert drive.done()[-2:] == ["iso_wait_v2g_session_stopped", "unplug"]
    assert drive.actions[-1] == SetCpState(EvCpState.A)


def test_the_charger_stopping_ends_the_wait_early() -> None:
    drive = Drive(
        "iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;iso_wait_for_stop 600"
    )
    drive.send(DutySeen(5.0), HlcSeen("power_ready", True), HlcSeen("dc_power_on"))
    drive.run_until(10.0)
    assert "iso_wait_for_stop" not in drive.done()
    drive.send(HlcSeen("stop_from_charger"))
    assert drive.done()[-1] == "iso_wait_for_stop"
    assert drive.of(StopV2g) == [StopV2g()]


def test_iso_discharge_asks_the_evcc_to_give_energy_back_while_charging_goes_on() -> None:
    drive = Drive(
        "iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;sleep 30;iso_discharge;"
        "iso_wait_for_stop 30"
    )
    drive.send(HlcSeen("power_ready", True), HlcSeen("dc_power_on"))
    drive.run_until(29.0)
    assert drive.of(Discharge) == []
    drive.run_until(31.0)
    assert drive.of(Discharge) == [Discharge()]
    assert drive.done()[-1] == "iso_discharge"
    assert drive.ev.cp is EvCpState.C  # the session goes on, the other way
    assert drive.of(StopV2g) == []


def test_ac_over_iso_draws_the_chargers_limit_not_the_pwm() -> None:
    drive = Drive(
        "iso_start_v2g_session AC,externalpayment,3600,20;iso_wait_pwr_ready;"
        "iso_draw_power_regulated 16,3;iso_wait_for_stop 60",
        Battery(max_current_a=32.0),
    )
    assert drive.of(StartV2g) == [StartV2g("AC_three_phase_core", 3600.0, 20.0)]
    drive.send(DutySeen(5.0), HlcSeen("power_ready", True), PowerSeen(True))
    drive.send(HlcSeen("ac_max_current", 10.0))
    assert drive.of(DrawCurrent)[-1] == DrawCurrent(10.0, 3)
    energy_before = drive.ev.energy_wh
    drive.run_until(30.0)
    assert drive.ev.energy_wh > energy_before
    drive.send(HlcSeen("ac_max_current", 32.0))
    assert drive.of(DrawCurrent)[-1] == DrawCurrent(16.0, 3)  # the script's 16 A cap


def test_a_single_phase_ev_asks_for_single_phase_ac() -> None:
    drive = Drive("iso_start_v2g_session AC", Battery(phases=1))
    assert drive.of(StartV2g) == [StartV2g("AC_single_phase_core", 0.0, 0.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("iso_start_v2g_session XC", "AC or DC"),
        ("iso_start_v2g_session DC,contract", "Plug & Charge"),
        ("iso_start_v2g_session DC,cash", "auto or externalpayment"),
        ("iso_start_v2g_session DC,1,2,3,4", "takes AC|DC"),
        ("iso_start_v2g_session", "takes AC|DC"),
        ("iso_start_bcb_toggle 4", "1 to 3 toggles"),
        ("iso_start_bcb_toggle 0", "1 to 3 toggles"),
        ("iso_pause_charging 1", "takes 0 argument"),
        ("iso_wait_for_stop -1", "must not be negative"),
        ("iso_draw_power_regulated 16,2", "phases 1 or 3"),
    ],
)
def test_iso_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        parse_script(text)


PAUSE_SCRIPT = (
    "iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;sleep 10;iso_pause_charging;"
    "iso_wait_v2g_session_stopped;sleep 5;iso_start_bcb_toggle 3;iso_wait_pwm_is_running;"
    "iso_start_v2g_session DC;iso_wait_pwr_ready"
)


def charging(drive: Drive) -> None:
    drive.send(DutySeen(5.0), HlcSeen("power_ready", True), HlcSeen("dc_power_on"))
    drive.send(PowerSeen(True))


def test_the_ev_pauses_then_wakes_the_charger_with_three_bcb_toggles() -> None:
    drive = Drive(PAUSE_SCRIPT)
    charging(drive)
    drive.run_until(10.5)
    assert drive.done()[-1] == "iso_pause_charging"
    assert drive.of(PauseV2g) == [PauseV2g()]
    assert drive.of(StopV2g) == []
    assert drive.of(AllowPowerOn)[-1] == AllowPowerOn(False)
    assert drive.ev.cp is EvCpState.B  # stops asking for power at once
    drive.send(PowerSeen(False), HlcSeen("power_ready", False), HlcSeen("session_finished"))
    drive.send(DutySeen(None))  # the charger went to X1
    drive.run_until(15.4)
    assert drive.done()[-1] == "iso_wait_v2g_session_stopped"  # sleep 5 from 10.5
    start = len(drive.actions)
    drive.run_until(15.6 + 6 * PULSE_S)
    pilot = [a.state for a in drive.actions[start:] if isinstance(a, SetCpState)]
    assert pilot == [EvCpState.C, EvCpState.B] * 3
    assert drive.done()[-1] == "iso_start_bcb_toggle"
    drive.send(DutySeen(5.0))  # the charger heard the toggle
    assert drive.done()[-2:] == ["iso_wait_pwm_is_running", "iso_start_v2g_session"]
    assert drive.of(StartV2g) == [StartV2g("DC_extended", 0.0, 0.0)] * 2


def test_the_bcb_pulses_last_300_ms_each() -> None:
    drive = Drive("iso_start_bcb_toggle 2")
    edges = [(0.0, a.state) for a in drive.actions if isinstance(a, SetCpState)]
    while (deadline := drive.ev.next_deadline) is not None and drive.now < 5.0:
        start = len(drive.actions)
        drive.run_until(deadline)
        edges += [(drive.now, a.state) for a in drive.actions[start:] if isinstance(a, SetCpState)]
    assert [state for _, state in edges] == [EvCpState.C, EvCpState.B] * 2
    times = [t for t, _ in edges]
    widths = [b - a for a, b in itertools.pairwise(times)]
    assert widths == pytest.approx([PULSE_S] * 3)
    assert drive.done() == ["iso_start_bcb_toggle"]


def test_iso_wait_for_resume_is_done_when_the_charger_wakes_the_ev() -> None:
    drive = Drive(
        "iso_start_v2g_session DC;iso_wait_pwr_ready;iso_dc_power_on;iso_pause_charging;"
        "iso_wait_v2g_session_stopped;iso_wait_for_resume;iso_start_v2g_session DC"
    )
    charging(drive)
    drive.send(HlcSeen("power_ready", False), HlcSeen("session_finished"))
    drive.run_until(30.0)
    drive.send(DutySeen(5.0))  # paused at 5 %: nothing new
    assert drive.done()[-1] == "iso_wait_v2g_session_stopped"
    drive.send(DutySeen(None))  # the X1 step ...
    drive.run_until(33.0)
    assert drive.done()[-1] == "iso_wait_v2g_session_stopped"
    drive.send(DutySeen(5.0))  # ... then 5 %: woken
    assert drive.done()[-2:] == ["iso_wait_for_resume", "iso_start_v2g_session"]
