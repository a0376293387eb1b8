"""The EV simulator's command language, as newcomers to EVerest's SIL know it.

A script is commands separated by ``;`` or newlines, lower case, each a name followed
by arguments split by spaces or commas: ``sleep 1;iec_wait_pwr_ready;draw_power_regulated
16,3;sleep 30;unplug``. Parsing is strict and complete before anything runs, so a typo
in the last command is reported with its position instead of surfacing minutes into a
simulated session.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

ARITY: dict[str, int] = {
    "sleep": 1,  # seconds
    "iec_wait_pwr_ready": 0,  # ask for C once PWM runs; done when the contactor is closed
    "draw_power_regulated": 2,  # amps, phases: follow the PWM limit up to amps
    "draw_power_fixed": 2,  # amps, phases: draw amps whatever the PWM says
    "pause": 0,  # back to B: stop asking for power
    "unplug": 0,
    "plugin": 0,
    "set_soc": 1,  # percent
    "error_e": 0,  # short the pilot to PE
    "diode_fail": 0,  # the pilot diode goes missing
    "rcd_current": 1,  # residual current in mA
    # High-level communication, through the ISO15118_ev module wired as `ev`:
    "iso_wait_slac_matched": 0,  # B; done when the ev_slac wired matched (or plugged, if none)
    "iso_wait_pwm_is_running": 0,  # B; done when the PWM runs (5 % for HLC)
    "iso_wait_pwr_ready": 0,  # done when the EVCC asks for power; then C
    "iso_dc_power_on": 0,  # done when precharge is over; the board may close the EV's side
    "iso_draw_power_regulated": 2,  # amps, phases (AC): follow the charger's ISO limit
    "iso_stop_charging": 0,
    "iso_wait_for_stop": 1,  # seconds: stop then, or earlier when the charger stops
    "iso_wait_v2g_session_stopped": 0,
    "iso_pause_charging": 0,  # PowerDelivery(stop) and SessionStop(Pause) (ISO 15118-2); B
    "iso_wait_for_resume": 0,  # done when the charger wakes the EV (5 % after X1 or F)
    "iso_start_bcb_toggle": 1,  # toggles (1-3): B-C-B pulses that wake the charger
    # evstack addition: give energy back (ISO 15118-20 BPT; the EVCC must be bidirectional)
    "iso_discharge": 0,
}
"""Every command the simulator understands and how many numbers it takes."""

START_V2G = "iso_start_v2g_session"
"""`iso_start_v2g_session AC|DC[,payment][,departure,eamount]`: the only command with words;
payment is auto or externalpayment (contract needs Plug & Charge, not yet here)."""

_SEPARATORS = re.compile(r"[;\n]")
_ARG_SPLIT = re.compile(r"[\s,]+")


class ScriptError(ValueError):
    """A script that cannot run; the message says which command and why."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[float, ...] = ()
    index: int = 0  # position in the script, for messages
    words: tuple[str, ...] = ()  # iso_start_v2g_session's energy mode and payment

    def __str__(self) -> str:
        args = [*self.words, *(f"{a:g}" for a in self.args)]
        return " ".join([self.name, ",".join(args)]).strip()


def parse_script(text: str) -> list[Command]:
    """Parse a whole script, or raise :class:`ScriptError` naming the first bad command."""
    commands: list[Command] = []
    for raw in _SEPARATORS.split(text):
        words = [w for w in _ARG_SPLIT.split(raw.strip()) if w]
        if not words:
            continue
        name, *arg_words = words
        where = f"command {len(commands) + 1} ({raw.strip()!r})"
        if name == START_V2G:
            commands.append(_start_v2g(arg_words, where, len(commands)))
            continue
        if name not in ARITY:
            raise ScriptError(f"{where}: unknown command {name!r}")
        if len(arg_words) != ARITY[name]:
            raise ScriptError(f"{where}: {name} takes {ARITY[name]} argument(s)")
        args = tuple(_number(word, where) for word in arg_words)
        _check_ranges(name, args, where)
        commands.append(Command(name, args, len(commands)))
    return commands


def _number(word: str, where: str) -> float:
    try:
        value = float(word)
    except ValueError:
        raise ScriptError(f"{where}: {word!r} is not a number") from None
    if not math.isfinite(value):
        raise ScriptError(f"{where}: {word!r} is not a finite number")
    return value


def _check_ranges(name: str, args: tuple[float, ...], where: str) -> None:
    if name in ("draw_power_regulated", "draw_power_fixed"):
        amps, phases = args
        if amps < 0:
            raise ScriptError(f"{where}: current must not be negative")
        if phases not in (1, 3):
            raise ScriptError(f"{where}: phases must be 1 or 3")
    elif name == "set_soc" and not 0 <= args[0] <= 100:
        raise ScriptError(f"{where}: state of charge must be 0-100 %")
    elif name == "iso_draw_power_regulated" and (args[0] < 0 or args[1] not in (1, 3)):
        raise ScriptError(f"{where}: current must not be negative, phases 1 or 3")
    elif name == "iso_start_bcb_toggle" and args[0] not in (1, 2, 3):
        raise ScriptError(f"{where}: ISO 15118-3 allows 1 to 3 toggles")
    elif name in ("sleep", "rcd_current", "iso_wait_for_stop") and args[0] < 0:
        raise ScriptError(f"{where}: {name} must not be negative")


def _start_v2g(words: list[str], where: str, index: int) -> Command:
    if not 1 <= len(words) <= 4:
        raise ScriptError(f"{where}: {START_V2G} takes AC|DC[,payment][,departure,eamount]")
    mode = words[0].upper()
    if mode not in ("AC", "DC"):
        raise ScriptError(f"{where}: energy mode must be AC or DC, not {words[0]!r}")
    payment = words[1].lower() if len(words) in (2, 4) else "auto"
    if payment == "contract":
        raise ScriptError(f"{where}: payment contract needs Plug & Charge, not supported yet")
    if payment not in ("auto", "externalpayment"):
        raise ScriptError(f"{where}: payment must be auto or externalpayment, not {payment!r}")
    numbers = words[2:] if len(words) == 4 else words[1:] if len(words) == 3 else []
    departure, eamount = (_number(w, where) for w in numbers) if numbers else (0.0, 0.0)
    if departure < 0 or eamount < 0:
        raise ScriptError(f"{where}: departure and eamount must not be negative")
    return Command(START_V2G, (departure, eamount), index, (mode, payment))
