"""The RFID simulator's script: when to present which card.

The language follows the EV simulator's: commands separated by ``;`` or newlines, words by
spaces or commas, lower-case command names. ``sleep 3.5`` waits on the module's clock (so a
sped-up demo stays in step with the EVs); ``swipe AABBCCDD`` presents a card to any EVSE and
``swipe AABBCCDD 2`` (or ``swipe AABBCCDD 1,2``) to the listed EVSE ids only. Parsing is done
up front so that a typo fails at start-up with its position, not minutes into a demo.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Swipe:
    token: str
    connectors: tuple[int, ...] = ()


Step = Sleep | Swipe

MAX_TOKEN_LENGTH = 36  # IdToken.value's limit


class ScriptError(ValueError):
    """The script cannot be run; the message names the command and what is wrong with it."""


def parse_script(text: str) -> list[Step]:
    steps: list[Step] = []
    for number, command in enumerate(re.split(r"[;\n]", text), start=1):
        words = re.split(r"[\s,]+", command.strip())
        if words == [""]:
            continue
        try:
            steps.append(_parse_command(words[0], words[1:]))
        except ScriptError as error:
            raise ScriptError(f"command {number} ({command.strip()!r}): {error}") from None
    return steps


def _parse_command(name: str, args: list[str]) -> Step:
    if name == "sleep":
        if len(args) != 1:
            raise ScriptError("sleep takes one argument, the seconds to wait")
        try:
            seconds = float(args[0])
        except ValueError:
            raise ScriptError(f"{args[0]!r} is not a number of seconds") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise ScriptError("seconds must be finite and not negative")
        return Sleep(seconds)
    if name == "swipe":
        if not args:
            raise ScriptError("swipe needs the card's id")
        token, *evse_ids = args
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
            raise ScriptError(f"a card id is up to {MAX_TOKEN_LENGTH} printable ASCII characters")
        if not all(e.isdigit() and int(e) >= 1 for e in evse_ids):
            raise ScriptError("EVSE ids are whole numbers from 1")
        return Swipe(token, tuple(int(e) for e in evse_ids))
    raise ScriptError(f"unknown command {name!r}; known: sleep, swipe")
