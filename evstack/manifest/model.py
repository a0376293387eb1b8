"""The manifest tree as typed, read-only data: what the generator and the runtime work from.

JSON schemas of values (arguments, results, vars, types, config items) stay as the plain
mappings the files hold: they are data for the generator, not structure for us.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Command",
    "ConfigItem",
    "ErrorDefinition",
    "ErrorFile",
    "ErrorRef",
    "Interface",
    "ManifestTree",
    "ModuleManifest",
    "Provided",
    "Requirement",
    "TypeFile",
    "Var",
]

Schema = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorDefinition:
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class ErrorFile:
    """`errors/<name>.yaml`; at run time its errors are typed `<name>/<ErrorName>`."""

    name: str
    path: Path
    description: str
    errors: tuple[ErrorDefinition, ...]


@dataclass(frozen=True, slots=True)
class TypeFile:
    """`types/<name>.yaml`: named schemas, referred to as `/<name>#/<TypeName>`."""

    name: str
    path: Path
    description: str
    types: Mapping[str, Schema]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    description: str
    arguments: Mapping[str, Schema]
    # None: the command returns nothing.
    result: Schema | None


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    description: str
    schema: Schema
    qos: int | None


@dataclass(frozen=True, slots=True)
class ErrorRef:
    """One error an interface may raise, resolved from its `reference`."""

    file: str
    name: str
    description: str

    @property
    def type(self) -> str:
        return f"{self.file}/{self.name}"


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    path: Path
    description: str
    cmds: Mapping[str, Command]
    vars: Mapping[str, Var]
    errors: tuple[ErrorRef, ...]
    # As written in the file, for documentation: `/errors/<file>` or `/errors/<file>#/<Name>`.
    error_references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfigItem:
    """One config entry of a module or implementation; `schema` is its JSON schema."""

    name: str
    description: str
    schema: Schema

    @property
    def has_default(self) -> bool:
        return "default" in self.schema

    @property
    def default(self) -> Any:
        return self.schema.get("default")

    @property
    def type(self) -> str:
        return str(self.schema["type"])


@dataclass(frozen=True, slots=True)
class Provided:
    impl_id: str
    interface: str
    description: str
    config: Mapping[str, ConfigItem]


@dataclass(frozen=True, slots=True)
class Requirement:
    req_id: str
    interface: str
    min_connections: int
    max_connections: int


@dataclass(frozen=True, slots=True)
class ModuleManifest:
    """`modules/**/<Name>/manifest.yaml`; the module's name is its folder's name."""

    name: str
    path: Path
    description: str
    config: Mapping[str, ConfigItem]
    provides: Mapping[str, Provided]
    requires: Mapping[str, Requirement]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # May see every module's errors (the runtime's ACL grants it).
    enable_global_errors: bool = False
    # Where its class is: `package.module:Class` (evstack.manifest.locate finds it).
    class_path: str = ""


@dataclass(frozen=True, slots=True)
class ManifestTree:
    """Every interface, type file, error file and module manifest of a tree, checked."""

    root: Path
    interfaces: Mapping[str, Interface]
    types: Mapping[str, TypeFile]
    errors: Mapping[str, ErrorFile]
    modules: Mapping[str, ModuleManifest]
    # Every folder the tree was loaded from; `root` is the first.
    roots: tuple[Path, ...] = ()

    def relative(self, path: Path) -> str:
        """`path` as written in messages, docs and generated headers: relative to the root
        that holds it, and a module's manifest as `modules/<Name>/manifest.yaml` wherever it
        lies, so that an installed wheel names its files as the checkout does."""
        for root in (self.root, *self.roots):
            if path.is_relative_to(root):
                return path.relative_to(root).as_posix()
        if path.name == "manifest.yaml":
            return f"modules/{path.parent.name}/manifest.yaml"
        return path.as_posix()

    def resolve_ref(self, ref: str) -> tuple[TypeFile, str, Schema]:
        """`/file#/Name` -> (type file, type name, schema); KeyError when it does not exist."""
        file_name, type_name = parse_type_ref(ref)
        type_file = self.types[file_name]
        return type_file, type_name, type_file.types[type_name]


def parse_type_ref(ref: str) -> tuple[str, str]:
    """`/powermeter#/Powermeter` -> `("powermeter", "Powermeter")`; ValueError if malformed."""
    file_part, sep, name_part = ref.partition("#/")
    if not sep or not file_part.startswith("/") or not name_part or "/" in name_part:
        raise ValueError(f"a type reference looks like '/<type file>#/<TypeName>', not {ref!r}")
    return file_part.removeprefix("/").removeprefix("types/"), name_part
