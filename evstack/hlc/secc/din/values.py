"""DIN 70121 PhysicalValueType: a 16-bit value times ten to a multiplier of -3..3."""

from __future__ import annotations

from typing import Any

_INT16 = 32767


def physical(value: float, unit: str) -> dict[str, Any]:
    """`value` in the finest multiplier whose mantissa fits 16 bits."""
    for multiplier in range(-3, 4):
        mantissa = round(value / 10**multiplier)
        if -_INT16 - 1 <= mantissa <= _INT16:
            return {"Multiplier": multiplier, "Unit": unit, "Value": mantissa}
    raise ValueError(f"{value} {unit} does not fit a DIN physical value")


def number(value: dict[str, Any]) -> float:
    return float(value["Value"]) * 10.0 ** int(value["Multiplier"])


def optional(container: dict[str, Any], key: str) -> float | None:
    return number(container[key]) if key in container else None
