"""JSON schema -> Python type annotations, msgspec structs and enums.

One `TypeScope` collects what one generated Python file needs: the structs, enums and
aliases it defines, and the type files it imports. Schemas map as follows:

- object with `properties` -> a frozen, keyword-only `msgspec.Struct` (optional fields
  default to None and are left out on encode; `additionalProperties: false` forbids
  unknown fields); object without -> `dict[str, Any]` (or `dict[str, X]`)
- string enum at the top of a type file -> `enum.StrEnum`; inline enum -> `Literal[...]`
- constraints (minimum, maxLength, pattern, minItems, ...) -> `Annotated[T, msgspec.Meta(...)]`
- `$ref: /file#/Name` -> the generated class of that type file
- a list of types -> a union (or `Any` when it allows every JSON type)

`format: date-time` stays `str`: EVerest sends RFC 3339 text, and a module should see
exactly what was sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evstack.codegen.naming import camel, identifier
from evstack.manifest import ManifestTree
from evstack.manifest.model import parse_type_ref

__all__ = ["AliasDef", "EnumDef", "FieldDef", "StructDef", "TypeScope", "literal"]

_SIMPLE = {
    "null": "None",
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool",
    "array": "list[Any]",
    "object": "dict[str, Any]",
}
_EVERY_TYPE = set(_SIMPLE) - {"null"}


def literal(value: Any) -> str:
    """Python source for a JSON value (strings double-quoted, as ruff writes them)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


@dataclass(frozen=True, slots=True)
class FieldDef:
    attr: str
    wire: str
    annotation: str
    description: str
    required: bool
    default: str = "None"

    @property
    def declaration(self) -> str:
        """`name: T`, `name: T | None = None`, with the wire name when it differs."""
        annotation = self.annotation
        if not self.required and self.default == "None" and not _allows_none(annotation):
            annotation += " | None"
        if self.attr != self.wire:
            if self.required:
                return f"{self.attr}: {annotation} = msgspec.field(name={literal(self.wire)})"
            return (
                f"{self.attr}: {annotation} = "
                f"msgspec.field(default={self.default}, name={literal(self.wire)})"
            )
        if self.required:
            return f"{self.attr}: {annotation}"
        return f"{self.attr}: {annotation} = {self.default}"


def _allows_none(annotation: str) -> bool:
    return annotation in ("Any", "None") or annotation.endswith(" | None")


@dataclass(slots=True)
class StructDef:
    name: str
    description: str
    fields: list[FieldDef]
    forbid_unknown: bool

    @property
    def bases(self) -> list[str]:
        """The class's bases and options, as written between its parentheses."""
        bases = ["msgspec.Struct", "kw_only=True", "frozen=True"]
        if any(not f.required for f in self.fields):
            bases.append("omit_defaults=True")
        if self.forbid_unknown:
            bases.append("forbid_unknown_fields=True")
        return bases


@dataclass(slots=True)
class EnumDef:
    name: str
    description: str
    # (member name, value)
    members: list[tuple[str, str]]


@dataclass(slots=True)
class AliasDef:
    name: str
    description: str
    annotation: str
    # Local names the alias uses: it must come after them in the file.
    uses: set[str] = field(default_factory=set)


class TypeScope:
    """The definitions and imports of one generated file.

    `types_package` is how this file imports a type file: `.` from inside `types/`,
    `..types` from `interfaces/` or `modules/`. `own_file` is the type file this file
    is, if any: references into it need no import.
    """

    def __init__(
        self,
        tree: ManifestTree,
        types_package: str,
        own_file: str | None = None,
        *,
        constraints: bool = True,
    ) -> None:
        self.tree = tree
        # Off for hand-written skeletons: a handler's signature reads better without them,
        # and the generated args struct checks them anyway.
        self.constraints = constraints
        self.types_package = types_package
        self.own_file = own_file
        self.structs: dict[str, StructDef] = {}
        self.enums: dict[str, EnumDef] = {}
        self.aliases: dict[str, AliasDef] = {}
        self.imported_type_files: set[str] = set()
        self.typing_names: set[str] = set()
        self.reserved: set[str] = set()
        self._local_uses: set[str] | None = None

    # -- names -------------------------------------------------------------------------

    def unique_name(self, wanted: str) -> str:
        name, number = wanted, 2
        while name in self.reserved:
            name, number = f"{wanted}{number}", number + 1
        self.reserved.add(name)
        return name

    @staticmethod
    def type_file_alias(file_name: str) -> str:
        return f"_{identifier(file_name)}"

    # -- top-level definitions ---------------------------------------------------------

    def define(self, name: str, schema: Mapping[str, Any]) -> None:
        """Define a named type (from a type file) under exactly `name`."""
        description = str(schema.get("description", ""))
        if schema.get("type") == "string" and "enum" in schema and "$ref" not in schema:
            self.enums[name] = EnumDef(name, description, _enum_members(schema["enum"]))
            return
        if _is_struct(schema):
            self._define_struct(name, schema)
            return
        self._local_uses = set()
        annotation = self.annotation(schema, name)
        self.aliases[name] = AliasDef(name, description, annotation, self._local_uses)
        self._local_uses = None

    # -- annotations -------------------------------------------------------------------

    def annotation(self, schema: Mapping[str, Any], hint: str) -> str:
        """The Python annotation for `schema`; `hint` names any struct it needs."""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self._ref(ref)
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._union(schema, [str(k) for k in kind], hint)
        if kind is None:
            self.typing_names.add("Any")
            return "Any"
        if "enum" in schema and kind in ("string", "integer", "number"):
            self.typing_names.add("Literal")
            return "Literal[" + ", ".join(literal(v) for v in schema["enum"]) + "]"
        if kind == "null":
            return "None"
        if kind == "boolean":
            return "bool"
        if kind == "string":
            return self._constrained("str", _string_meta(schema))
        if kind == "integer":
            return self._constrained("int", _number_meta(schema))
        if kind == "number":
            return self._constrained("float", _number_meta(schema))
        if kind == "array":
            items = schema.get("items")
            if isinstance(items, Mapping):
                inner = self.annotation(items, hint if hint.endswith("Item") else hint + "Item")
            else:
                self.typing_names.add("Any")
                inner = "Any"
            return self._constrained(f"list[{inner}]", _array_meta(schema))
        if kind == "object":
            if _is_struct(schema):
                name = self.unique_name(hint)
                self._define_struct(name, schema)
                self._use(name)
                return name
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and extra:
                return f"dict[str, {self.annotation(extra, hint + 'Value')}]"
            self.typing_names.add("Any")
            return "dict[str, Any]"
        raise ValueError(f"unsupported JSON schema type {kind!r}")

    def _use(self, name: str) -> None:
        if self._local_uses is not None:
            self._local_uses.add(name)

    def _ref(self, ref: str) -> str:
        file_name, type_name = parse_type_ref(ref)
        if file_name == self.own_file:
            self._use(type_name)
            return type_name
        self.imported_type_files.add(file_name)
        return f"{self.type_file_alias(file_name)}.{type_name}"

    def _union(self, schema: Mapping[str, Any], kinds: list[str], hint: str) -> str:
        concrete = [k for k in kinds if k != "null"]
        if set(concrete) >= _EVERY_TYPE or not concrete:
            self.typing_names.add("Any")
            return "Any"
        if len(concrete) == 1:
            single = self.annotation({**schema, "type": concrete[0]}, hint)
            return single + " | None" if "null" in kinds and not _allows_none(single) else single
        parts = []
        for kind in concrete:
            if kind in ("array", "object"):
                self.typing_names.add("Any")
            parts.append(_SIMPLE[kind])
        if "null" in kinds:
            parts.append("None")
        return " | ".join(parts)

    def _constrained(self, base: str, meta: dict[str, Any]) -> str:
        if not meta or not self.constraints:
            return base
        self.typing_names.add("Annotated")
        arguments = ", ".join(f"{key}={literal(value)}" for key, value in meta.items())
        return f"Annotated[{base}, msgspec.Meta({arguments})]"

    def _define_struct(self, name: str, schema: Mapping[str, Any]) -> None:
        self.reserved.add(name)
        required = set(schema.get("required", []))
        fields = []
        used_attrs: set[str] = set()
        saved_uses, self._local_uses = self._local_uses, None  # struct fields are lazy
        for wire, sub in schema["properties"].items():
            attr = identifier(wire)
            while attr in used_attrs:
                attr += "_"
            used_attrs.add(attr)
            sub = sub if isinstance(sub, Mapping) else {}
            fields.append(
                FieldDef(
                    attr=attr,
                    wire=wire,
                    annotation=self.annotation(sub, name + camel(wire)),
                    description=str(sub.get("description", "")),
                    required=wire in required,
                )
            )
        self._local_uses = saved_uses
        self.structs[name] = StructDef(
            name=name,
            description=str(schema.get("description", "")),
            fields=fields,
            forbid_unknown=schema.get("additionalProperties") is False,
        )

    def ordered_aliases(self) -> list[AliasDef]:
        """Aliases after the local aliases they use (they are evaluated at import)."""
        done: list[AliasDef] = []
        placed: set[str] = set()

        def place(alias: AliasDef, path: tuple[str, ...]) -> None:
            if alias.name in placed or alias.name in path:
                return
            for used in sorted(alias.uses):
                if used in self.aliases:
                    place(self.aliases[used], (*path, alias.name))
            placed.add(alias.name)
            done.append(alias)

        for alias in self.aliases.values():
            place(alias, ())
        return done


def _is_struct(schema: Mapping[str, Any]) -> bool:
    return (
        schema.get("type") == "object"
        and "$ref" not in schema
        and isinstance(schema.get("properties"), Mapping)
        and bool(schema["properties"])
    )


def _enum_members(values: list[Any]) -> list[tuple[str, str]]:
    members: list[tuple[str, str]] = []
    taken: set[str] = set()
    for value in values:
        name = identifier(str(value))
        # Names the enum machinery or str itself uses would shadow them.
        if name.startswith("_") or name in ("name", "value") or hasattr(str, name):
            name = "V_" + name.lstrip("_")
        while name in taken:
            name += "_"
        taken.add(name)
        members.append((name, str(value)))
    return members


def _string_meta(schema: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if "minLength" in schema:
        meta["min_length"] = schema["minLength"]
    if "maxLength" in schema:
        meta["max_length"] = schema["maxLength"]
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and _python_can_compile(pattern):
        meta["pattern"] = pattern
    return meta


def _python_can_compile(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _number_meta(schema: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    low, high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    # draft-04 spells exclusivity as a boolean beside minimum/maximum.
    if low is True and minimum is not None:
        meta["gt"] = minimum
    elif minimum is not None:
        meta["ge"] = minimum
    if isinstance(low, int | float) and not isinstance(low, bool):
        meta["gt"] = low
    if high is True and maximum is not None:
        meta["lt"] = maximum
    elif maximum is not None:
        meta["le"] = maximum
    if isinstance(high, int | float) and not isinstance(high, bool):
        meta["lt"] = high
    if "multipleOf" in schema:
        meta["multiple_of"] = schema["multipleOf"]
    if schema.get("type") == "integer":
        meta = _whole_bounds(meta)
    return meta


def _whole_bounds(meta: dict[str, Any]) -> dict[str, Any]:
    """msgspec wants whole bounds on an int; find the whole ones that admit the same ints."""
    whole: dict[str, Any] = {}
    for key, value in meta.items():
        if not isinstance(value, float):
            whole[key] = value
        elif value.is_integer():
            whole[key] = int(value)
        elif key in ("ge", "gt"):
            whole["ge"] = math.ceil(value)
        elif key in ("le", "lt"):
            whole["le"] = math.floor(value)
        else:
            whole[key] = value
    return whole


def _array_meta(schema: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if "minItems" in schema:
        meta["min_length"] = schema["minItems"]
    if "maxItems" in schema:
        meta["max_length"] = schema["maxItems"]
    return meta
