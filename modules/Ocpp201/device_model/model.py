"""The device model: every component and variable of the station, their attributes and values,
in SQLite in the station's state folder.

What exists, and how (characteristics, each attribute's mutability), comes from the seed at
every start: the seed describes the station's make-up. Values are different: the seed's value
is written only when the attribute has none yet, so what the CSMS set, or the station itself
(an availability, a raised security profile), survives a restart. Variables the seed no longer
lists leave the database.

Reads come from memory; every write goes to SQLite first (fsync) and then to memory, and then
to whoever watches the variable. Values are text, as on the wire; the typed accessors read
them as their dataType says.

    model.get_int(ref("OCPPCommCtrlr", "HeartbeatInterval"))
    model.watch(ref("OCPPCommCtrlr", "HeartbeatInterval"), on_change)  # (key, attribute, value)
    model.set(ref("ChargingStation", "AvailabilityState"), "Unavailable")
    model.veto(ref("OCPPCommCtrlr", "NetworkConfigurationPriority"), check)  # InvalidValueError
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from evstack.generated.ocpp.v201.enums import AttributeEnumType, MutabilityEnumType
from evstack.runtime.state import transaction

from .keys import ComponentKey, VariableKey
from .values import Characteristics, InvalidValueError, parse_bool, split_list

__all__ = [
    "AttributeSpec",
    "DeviceModel",
    "InvalidValueError",
    "Listener",
    "VariableSpec",
    "Veto",
]

log = logging.getLogger(__name__)

ACTUAL = AttributeEnumType.Actual

Listener = Callable[[VariableKey, AttributeEnumType, str], None]
"""Told after a value changed: the variable, the attribute, the new value."""
Veto = Callable[[str], None]
"""Raises `InvalidValueError` for a value the CSMS may not set, beyond the characteristics."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS variables (
    id                 INTEGER PRIMARY KEY,
    component          TEXT NOT NULL,
    component_instance TEXT NOT NULL,  -- '' for none
    evse               INTEGER NOT NULL,  -- -1 for none
    connector          INTEGER NOT NULL,  -- -1 for none
    variable           TEXT NOT NULL,
    variable_instance  TEXT NOT NULL,
    characteristics    TEXT NOT NULL,  -- JSON, from the seed
    UNIQUE (component, component_instance, evse, connector, variable, variable_instance)
);
CREATE TABLE IF NOT EXISTS attributes (
    variable   INTEGER NOT NULL REFERENCES variables (id) ON DELETE CASCADE,
    type       TEXT NOT NULL,
    mutability TEXT NOT NULL,
    persistent INTEGER NOT NULL,
    constant   INTEGER NOT NULL,
    value      TEXT,  -- NULL: no value yet
    PRIMARY KEY (variable, type)
);
"""


@dataclass(frozen=True)
class AttributeSpec:
    type: AttributeEnumType = ACTUAL
    mutability: MutabilityEnumType = MutabilityEnumType.ReadWrite
    persistent: bool = True
    constant: bool = False
    initial: str | None = None  # the seed's value, used only while there is none


@dataclass(frozen=True)
class VariableSpec:
    key: VariableKey
    characteristics: Characteristics
    attributes: tuple[AttributeSpec, ...]
    reboot_required: bool = False  # a new value applies after a reboot (SetVariables says so)

    def attribute(self, kind: AttributeEnumType) -> AttributeSpec | None:
        return next((a for a in self.attributes if a.type == kind), None)


def _row_key(key: VariableKey) -> tuple[str, str, int, int, str, str]:
    c = key.component
    return (
        c.name,
        c.instance or "",
        -1 if c.evse is None else c.evse,
        -1 if c.connector is None else c.connector,
        key.name,
        key.instance or "",
    )


class DeviceModel:
    """The station's components and variables; see the module's doc."""

    def __init__(self, db: sqlite3.Connection, specs: Iterable[VariableSpec]) -> None:
        self._db = db  # the station's database (`ModuleState.share`): its tables live there
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)
        self._specs: dict[VariableKey, VariableSpec] = {}
        for spec in specs:
            if spec.key in self._specs:
                raise ValueError(f"{spec.key} is declared twice")
            self._specs[spec.key] = spec
        self._values: dict[tuple[VariableKey, AttributeEnumType], str] = {}
        self._listeners: dict[VariableKey, list[Listener]] = {}
        self._everyone: list[Listener] = []
        self._vetoes: dict[VariableKey, list[Veto]] = {}
        self._live: dict[VariableKey, Callable[[], str]] = {}
        self._components = {key.component for key in self._specs}
        self._names = {key.component.name for key in self._specs}
        self._ids: dict[VariableKey, int] = {}
        self._sync()

    def _sync(self) -> None:
        """Bring the database in line with the seed; load the values."""
        encode = msgspec.json.encode
        with transaction(self._db) as db:
            known = {
                tuple(row[1:]): row[0]
                for row in db.execute(
                    "SELECT id, component, component_instance, evse, connector, variable,"
                    " variable_instance FROM variables"
                )
            }
            wanted = {_row_key(key): key for key in self._specs}
            for row, row_id in known.items():
                if row not in wanted:
                    db.execute("DELETE FROM variables WHERE id = ?", (row_id,))
            for row, key in wanted.items():
                spec = self._specs[key]
                characteristics = encode(spec.characteristics).decode()
                if row in known:
                    row_id = known[row]
                    db.execute(
                        "UPDATE variables SET characteristics = ? WHERE id = ?",
                        (characteristics, row_id),
                    )
                else:
                    cursor = db.execute(
                        "INSERT INTO variables (component, component_instance, evse, connector,"
                        " variable, variable_instance, characteristics) VALUES (?,?,?,?,?,?,?)",
                        (*row, characteristics),
                    )
                    assert cursor.lastrowid is not None
                    row_id = cursor.lastrowid
                self._ids[key] = row_id
                kinds = [str(a.type) for a in spec.attributes]
                db.execute(
                    f"DELETE FROM attributes WHERE variable = ? AND type NOT IN"
                    f" ({','.join('?' * len(kinds))})",
                    (row_id, *kinds),
                )
                for attribute in spec.attributes:
                    db.execute(
                        "INSERT INTO attributes (variable, type, mutability, persistent, constant,"
                        " value) VALUES (?,?,?,?,?,?) ON CONFLICT (variable, type) DO UPDATE SET"
                        " mutability = excluded.mutability, persistent = excluded.persistent,"
                        " constant = excluded.constant,"
                        " value = coalesce(attributes.value, excluded.value)",
                        (
                            row_id,
                            str(attribute.type),
                            str(attribute.mutability),
                            attribute.persistent,
                            attribute.constant,
                            attribute.initial,
                        ),
                    )
        by_id = {row_id: key for key, row_id in self._ids.items()}
        for row_id, kind, value in self._db.execute(
            "SELECT variable, type, value FROM attributes WHERE value IS NOT NULL"
        ):
            self._values[(by_id[row_id], AttributeEnumType(kind))] = value

    # -- what exists ------------------------------------------------------------------------

    def spec(self, key: VariableKey) -> VariableSpec | None:
        return self._specs.get(key)

    def has_component(self, component: ComponentKey) -> bool:
        return component in self._components

    def knows_component_name(self, name: str) -> bool:
        return name in self._names

    def variables(self) -> list[VariableSpec]:
        """Every variable, in a stable order (component, then variable)."""
        return [self._specs[key] for key in sorted(self._specs, key=_order)]

    # -- reading ----------------------------------------------------------------------------

    def get(self, key: VariableKey, attribute: AttributeEnumType = ACTUAL) -> str | None:
        """The value as text; None when the attribute has no value. KeyError if the model has
        no such variable or attribute (a block asking for what its seed file does not declare)."""
        spec = self._specs.get(key)
        if spec is None:
            raise KeyError(f"the device model has no variable {key}")
        if spec.attribute(attribute) is None:
            raise KeyError(f"{key} has no {attribute} attribute")
        live = self._live.get(key) if attribute is ACTUAL else None
        return live() if live is not None else self._values.get((key, attribute))

    def _required(self, key: VariableKey, attribute: AttributeEnumType) -> str:
        value = self.get(key, attribute)
        if value is None:
            raise KeyError(f"{key} has no {attribute} value")
        return value

    def get_str(self, key: VariableKey, attribute: AttributeEnumType = ACTUAL) -> str:
        return self._required(key, attribute)

    def get_int(self, key: VariableKey, attribute: AttributeEnumType = ACTUAL) -> int:
        return int(self._required(key, attribute))

    def get_float(self, key: VariableKey, attribute: AttributeEnumType = ACTUAL) -> float:
        return float(self._required(key, attribute))

    def get_bool(self, key: VariableKey, attribute: AttributeEnumType = ACTUAL) -> bool:
        return parse_bool(self._required(key, attribute))

    def get_list(self, key: VariableKey, attribute: AttributeEnumType = ACTUAL) -> list[str]:
        """A SequenceList or MemberList (or any comma-separated value) as its members."""
        return split_list(self._required(key, attribute))

    # -- writing ----------------------------------------------------------------------------

    def set(
        self,
        key: VariableKey,
        value: str | int | float | bool,
        attribute: AttributeEnumType = ACTUAL,
    ) -> bool:
        """The station's own write (no mutability check: a ReadOnly value is the station's to
        keep). Checked against the characteristics; durable; watchers are told. Returns
        whether the value changed."""
        text = _text(value)
        spec = self._specs.get(key)
        if spec is None or spec.attribute(attribute) is None:
            raise KeyError(f"the device model has no {attribute} attribute of {key}")
        spec.characteristics.check(text)
        return self._write(key, attribute, text)

    def check_by_csms(self, key: VariableKey, value: str) -> None:
        """Raise `InvalidValueError` unless the CSMS may set `key` to `value` (its
        characteristics, and whatever the blocks that use it veto)."""
        spec = self._specs[key]
        spec.characteristics.check(value)
        for veto in self._vetoes.get(key, ()):
            veto(value)

    def write(self, key: VariableKey, attribute: AttributeEnumType, value: str) -> bool:
        """Store a value already checked (`check_by_csms`); watchers are told."""
        return self._write(key, attribute, value)

    def _write(self, key: VariableKey, attribute: AttributeEnumType, text: str) -> bool:
        if self._values.get((key, attribute)) == text:
            return False
        with transaction(self._db) as db:
            db.execute(
                "UPDATE attributes SET value = ? WHERE variable = ? AND type = ?",
                (text, self._ids[key], str(attribute)),
            )
        self._values[(key, attribute)] = text
        for listener in (*self._listeners.get(key, ()), *self._everyone):
            try:
                listener(key, attribute, text)
            except Exception:
                log.exception("a listener of %s failed", key)
        return True

    # -- seams for the blocks ---------------------------------------------------------------

    def watch(self, key: VariableKey | None, listener: Listener) -> None:
        """Call `listener` after every change of `key`'s values (None: of any variable)."""
        if key is None:
            self._everyone.append(listener)
            return
        if key not in self._specs:
            raise KeyError(f"the device model has no variable {key}")
        self._listeners.setdefault(key, []).append(listener)

    def live(self, key: VariableKey, read: Callable[[], str]) -> None:
        """Have `read()` give `key`'s Actual value whenever it is read (ClockCtrlr.DateTime)."""
        if key not in self._specs:
            raise KeyError(f"the device model has no variable {key}")
        self._live[key] = read

    def veto(self, key: VariableKey, veto: Veto) -> None:
        """Have `veto` judge every value the CSMS sets for `key` (SetVariables: Rejected)."""
        if key not in self._specs:
            raise KeyError(f"the device model has no variable {key}")
        self._vetoes.setdefault(key, []).append(veto)


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _order(key: VariableKey) -> tuple[object, ...]:
    c = key.component
    return (
        c.name,
        c.instance or "",
        -1 if c.evse is None else c.evse,
        -1 if c.connector is None else c.connector,
        key.name,
        key.instance or "",
    )
