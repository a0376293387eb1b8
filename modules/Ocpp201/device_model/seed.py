"""The device model's seed: YAML files that say which components and variables the station has,
their characteristics and mutability, and the values they start with.

    - component: OCPPCommCtrlr
      variables:
        HeartbeatInterval: {dataType: integer, unit: s, minLimit: 1, value: 300}
        MessageAttempts[TransactionEvent]: {dataType: integer, minLimit: 1, value: 3}
    - component: Connector
      per: connector            # one per connector of each EVSE (or `per: evse`)
      variables:
        ConnectorType: {dataType: string, mutability: ReadOnly, value: cType2}
        AvailabilityState:
          dataType: OptionList
          valuesList: [Available, Occupied, Reserved, Unavailable, Faulted]
          mutability: ReadOnly
          value: Available

`Name[instance]` names an instance, of a component or a variable. `value`, `mutability`,
`persistent` and `constant` describe the Actual attribute; `attributes:` lists others
(Target, MinSet, MaxSet) with the same fields, and `attributes: [Target]` without Actual
leaves Actual out. In a `per:` component, `{evse}` and `{connector}` in a value are the ids.
A folder of seed files is read in name order; a block adds its components in a file of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import msgspec
import yaml

from evstack.generated.ocpp.v201.enums import AttributeEnumType, DataEnumType, MutabilityEnumType

from .keys import ComponentKey, VariableKey
from .model import AttributeSpec, VariableSpec
from .values import Characteristics, InvalidValueError

__all__ = ["DEFAULT_SEED", "SeedError", "load_seed"]

DEFAULT_SEED = Path(__file__).parent / "seed"
_NAME = re.compile(r"^([A-Za-z0-9_.\-*]+)(?:\[([^\]]+)\])?$")

Scalar = str | int | float | bool


class SeedError(ValueError):
    """A seed file that does not describe a device model; the text names the file and entry."""


class _Attribute(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    value: Scalar | None = None
    mutability: MutabilityEnumType = MutabilityEnumType.ReadWrite
    persistent: bool = True
    constant: bool = False


class _Variable(_Attribute, forbid_unknown_fields=True, kw_only=True):
    dataType: DataEnumType  # noqa: N815 - the device model's own spelling
    unit: str | None = None
    minLimit: float | None = None  # noqa: N815
    maxLimit: float | None = None  # noqa: N815
    valuesList: list[str] | None = None  # noqa: N815
    supportsMonitoring: bool = False  # noqa: N815
    rebootRequired: bool = False  # noqa: N815
    # Attributes other than Actual; naming Actual here replaces the shorthand fields.
    attributes: dict[AttributeEnumType, _Attribute] | None = None


class _Component(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    component: str
    per: Literal["evse", "connector"] | None = None
    variables: dict[str, _Variable]


def _split(name: str, where: str) -> tuple[str, str | None]:
    match = _NAME.match(name)
    if match is None:
        raise SeedError(f"{where}: {name!r} is not a name or Name[instance]")
    return match.group(1), match.group(2)


def _text(value: Scalar | None, evse: int | None, connector: int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if "{" in text:
        text = text.replace("{evse}", str(evse or "")).replace("{connector}", str(connector or ""))
    return text


def _places(per: str | None, connectors: Sequence[int]) -> Iterator[tuple[int | None, int | None]]:
    if per is None:
        yield None, None
    for evse, count in enumerate(connectors, start=1):
        if per == "evse":
            yield evse, None
        elif per == "connector":
            for connector in range(1, count + 1):
                yield evse, connector


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("*.yaml"))
    return [path]


def load_seed(path: Path, connectors: Sequence[int]) -> list[VariableSpec]:
    """The variables `path` (a file or folder) declares for EVSEs with `connectors[i]`
    connectors each; `SeedError` for anything amiss, with the file and entry."""
    specs: list[VariableSpec] = []
    for file in _files(path):
        try:
            raw = yaml.safe_load(file.read_text()) or []
            components = msgspec.convert(raw, list[_Component])
        except (OSError, yaml.YAMLError, msgspec.ValidationError) as error:
            raise SeedError(f"{file}: {error}") from None
        for entry in components:
            specs.extend(_component(file, entry, connectors))
    return specs


def _component(file: Path, entry: _Component, connectors: Sequence[int]) -> list[VariableSpec]:
    name, instance = _split(entry.component, str(file))
    specs = []
    for evse, connector in _places(entry.per, connectors):
        component = ComponentKey(name, instance, evse, connector)
        for variable_name, variable in entry.variables.items():
            where = f"{file}: {entry.component}.{variable_name}"
            var, var_instance = _split(variable_name, where)
            spec = _variable(VariableKey(component, var, var_instance), variable, evse, connector)
            for attribute in spec.attributes:
                if attribute.initial is None:
                    continue
                try:
                    spec.characteristics.check(attribute.initial)
                except InvalidValueError as error:
                    raise SeedError(f"{where}: {attribute.type}: {error}") from None
            specs.append(spec)
    return specs


def _variable(
    key: VariableKey, variable: _Variable, evse: int | None, connector: int | None
) -> VariableSpec:
    characteristics = Characteristics(
        data_type=variable.dataType,
        unit=variable.unit,
        min_limit=variable.minLimit,
        max_limit=variable.maxLimit,
        values_list=None if variable.valuesList is None else tuple(variable.valuesList),
        supports_monitoring=variable.supportsMonitoring,
    )
    given = dict(variable.attributes or {})
    if AttributeEnumType.Actual not in given:
        given = {AttributeEnumType.Actual: variable, **given}
    attributes = tuple(
        AttributeSpec(
            type=kind,
            mutability=attribute.mutability,
            persistent=attribute.persistent,
            constant=attribute.constant,
            initial=_text(attribute.value, evse, connector),
        )
        for kind, attribute in given.items()
    )
    return VariableSpec(key, characteristics, attributes, variable.rebootRequired)
