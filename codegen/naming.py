"""Turning manifest names into Python names that are valid, stable and readable."""

from __future__ import annotations

import keyword
import re

__all__ = ["camel", "identifier", "module_file_name"]

_NOT_IDENTIFIER = re.compile(r"[^0-9a-zA-Z_]")


def identifier(name: str) -> str:
    """A valid Python identifier as close to `name` as possible (`class` -> `class_`)."""
    text = _NOT_IDENTIFIER.sub("_", name) or "_"
    if text[0].isdigit():
        text = "_" + text
    if keyword.iskeyword(text) or keyword.issoftkeyword(text):
        text += "_"
    return text


def camel(name: str) -> str:
    """`set_max_current` -> `SetMaxCurrent`; `evse-board` -> `EvseBoard`; keeps inner capitals."""
    parts = [p for p in re.split(r"[^0-9a-zA-Z]+", name) if p]
    text = "".join(p[0].upper() + p[1:] for p in parts) or "_"
    return "_" + text if text[0].isdigit() else text


def module_file_name(name: str) -> str:
    """`EvseManager` -> `evse_manager`, `OCPP201` -> `ocpp201`, `PyEvJosev` -> `py_ev_josev`."""
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([0-9])([A-Z][a-z])", r"\1_\2", text)
    return identifier(text.replace("-", "_").lower())
