"""The station's device model (Part 2 appendices): components, variables, their attributes and
characteristics in SQLite, seeded from YAML; and the CSMS's requests that read and write it."""

from .keys import ComponentKey, VariableKey, component_key, ref, variable_key
from .model import AttributeSpec, DeviceModel, Listener, VariableSpec, Veto
from .seed import DEFAULT_SEED, SeedError, load_seed
from .values import Characteristics, InvalidValueError, parse_bool, split_list

__all__ = [
    "DEFAULT_SEED",
    "AttributeSpec",
    "Characteristics",
    "ComponentKey",
    "DeviceModel",
    "InvalidValueError",
    "Listener",
    "SeedError",
    "VariableKey",
    "VariableSpec",
    "Veto",
    "component_key",
    "load_seed",
    "parse_bool",
    "ref",
    "split_list",
    "variable_key",
]
