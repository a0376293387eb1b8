"""The EV simulator's script language and its behaviour as a car."""

from __future__ import annotations

import pytest

from evstack.modules.EvSimulator.ev import (
    RETRY_INTERVAL_S,
    Battery,
    CommandDone,
    DrawCurrent,
    DutySeen,
    Ev,
    EvAction,
    EvCpState,
    PowerSeen,
    SetCpState,
    SetDiodeFail,
    SetRcdCurrent,
)
from evstack.modules.EvSimulator.script import Command, ScriptError, parse_script


def test_parse_typical_ac_script() -> None:
    script = parse_script("sleep 1;iec_wait_pwr_ready;sleep 1;draw_power_regulated 16,3;unplug")
    assert [str(c) for c in script] == [
        "sleep 1",
        "iec_wait_pwr_ready",
        "sleep 1",
        "draw_power_regulated 16,3",
        "unplug",
    ]
    assert script[3].args == (16.0, 3.0)


def test_parse_accepts_newlines_spaces_and_blank_commands() -> None:
    script = parse_script("plugin\n\n draw_power_fixed 10 1 ;;rcd_current 31.5\n")
    assert [(c.name, c.args) for c in script] == [
        ("plugin", ()),
        ("draw_power_fixed", (10.0, 1.0)),
        ("rcd_current", (31.5,)),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sleep 1;fly_away", r"command 2 \('fly_away'\): unknown command"),
        ("sleep", "sleep takes 1 argument"),
        ("unplug 3", "unplug takes 0 argument"),
        ("sleep soon", "'soon' is not a number"),
        ("sleep nan", "not a finite number"),
        ("draw_power_regulated 16,2", "phases must be 1 or 3"),
        ("draw_power_fixed -1,3", "must not be negative"),
        ("set_soc 101", "0-100"),
        ("Sleep 1", "unknown command 'Sleep'"),
    ],
)
def test_parse_errors_name_the_command(text: str, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        parse_script(text)


class Drive:
    """An EV with a simulated EVSE that answers promptly: PWM once B, power once C."""

    def __init__(self, text: str, **ev_args: object) -> None:
        self.ev = Ev(parse_script(text), **ev_args)  # type: ignore[arg-type]
        self.now = 0.0
        self.actions: list[EvAction] = list(self.ev.tick(0.0))

    def send(self, *events: DutySeen | PowerSeen) -> None:
        for event in events:
            self.actions += self.ev.handle(event, self.now)

    def run_until(self, end: float) -> None:
        while (deadline := self.ev.next_deadline) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.actions += self.ev.tick(self.now)
        self.now = end
        self.actions += self.ev.tick(end)

    def cp(self) -> EvCpState | None:
        """The EV's pilot state, read through a call so that mypy does not keep it narrowed."""
        return self.ev.cp

    def done(self) -> list[str]:
        return [str(a.command) for a in self.actions if isinstance(a, CommandDone)]


def test_iec_wait_pwr_ready_blocks_until_power_and_is_retried() -> None:
    drive = Drive("iec_wait_pwr_ready;unplug")
    assert drive.actions == [SetCpState(EvCpState.B)]  # plugged, but no PWM yet
    drive.run_until(1.0)
    assert drive.done() == []
    assert drive.ev.next_deadline == pytest.approx(1.0 + RETRY_INTERVAL_S)
    drive.send(DutySeen(26.7))  # 16 A
    assert drive.actions[-1] == SetCpState(EvCpState.C)
    drive.send(PowerSeen(True))
    assert drive.done() == ["iec_wait_pwr_ready", "unplug"]
    # Unplugging under load: the current goes to zero before the pilot drops to A.
    assert drive.actions[-4:] == [
        DrawCurrent(pytest.approx(16.0, abs=0.05), 3),  # type: ignore[arg-type]
        CommandDone(Command("unplug", (), 1)),
        DrawCurrent(0.0, 3),
        SetCpState(EvCpState.A),
    ]


def test_regulated_draw_follows_the_pwm_and_battery() -> None:
    drive = Drive(
        "draw_power_regulated 20,1;iec_wait_pwr_ready",
        battery=Battery(max_current_a=16, phases=3),
    )
    drive.send(DutySeen(50.0), PowerSeen(True))  # 30 A offered
    assert drive.ev.drawing == DrawCurrent(16.0, 1)
    drive.send(DutySeen(16.7))  # ~10 A offered
    assert drive.ev.drawing.amps == pytest.approx(10.0, abs=0.1)


def test_fixed_draw_ignores_the_pwm() -> None:
    drive = Drive("draw_power_fixed 32,3;iec_wait_pwr_ready")
    drive.send(DutySeen(16.7), PowerSeen(True))
    assert drive.ev.drawing == DrawCurrent(32.0, 3)


def test_pwm_stop_sends_the_ev_back_to_b_and_back_to_c() -> None:
    drive = Drive("iec_wait_pwr_ready")
    drive.send(DutySeen(26.7), PowerSeen(True))
    drive.send(DutySeen(None))
    assert drive.cp() is EvCpState.B
    assert drive.ev.drawing.amps == 0
    drive.send(PowerSeen(False), DutySeen(26.7))
    assert drive.cp() is EvCpState.C


def test_sleep_is_exact_and_pause_returns_to_b() -> None:
    drive = Drive("iec_wait_pwr_ready;sleep 10;pause")
    drive.send(DutySeen(26.7), PowerSeen(True))
    drive.run_until(9.99)
    assert drive.cp() is EvCpState.C
    drive.run_until(10.0)
    assert drive.cp() is EvCpState.B
    assert drive.done()[-1] == "pause"


def test_battery_fills_and_the_ev_stops_at_full() -> None:
    drive = Drive(
        "set_soc 99;iec_wait_pwr_ready",
        battery=Battery(capacity_kwh=10, max_current_a=16, phases=3),
    )
    drive.send(DutySeen(26.7), PowerSeen(True))
    # 1 % of 10 kWh at 3 * 16 A * 230 V takes about 33 s.
    drive.run_until(20)
    assert drive.cp() is EvCpState.C
    drive.run_until(40)
    assert drive.ev.battery.full
    assert drive.cp() is EvCpState.B
    assert drive.ev.energy_wh == pytest.approx(100, rel=0.05)


def test_fault_commands() -> None:
    drive = Drive("diode_fail;rcd_current 40;error_e;plugin")
    assert SetDiodeFail(True) in drive.actions
    assert SetRcdCurrent(40.0) in drive.actions
    assert SetCpState(EvCpState.E) in drive.actions
    assert drive.cp() is EvCpState.B  # plugin clears the short


def test_plugin_after_unplugged_start() -> None:
    drive = Drive("sleep 2;plugin", plugged=False)
    assert drive.actions == [SetCpState(EvCpState.A)]
    drive.run_until(2)
    assert drive.cp() is EvCpState.B


def test_battery_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="phases"):
        Battery(phases=2)
    with pytest.raises(ValueError, match="capacity"):
        Battery(capacity_kwh=0)
