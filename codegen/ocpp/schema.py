"""Reading one OCPP version's JSON schemas into a model the renderers share.

The OCA publishes one schema per message, each repeating the definitions it uses. `load`
reads them all and keeps each definition once: two definitions with one name must have one
structure (the schema with its descriptions left out), or the import fails and says where.
Every keyword is either turned into a type or a constraint, or known to be an annotation;
a keyword the importer does not know fails the import, so nothing a schema says is dropped
silently when a new version's schemas come along.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "EnumDef",
    "FieldDef",
    "MessageDef",
    "Model",
    "SchemaImportError",
    "StructDef",
    "TypeRef",
    "VersionSpec",
    "load",
]

# Keywords that say nothing a payload is checked against (`default` is documented; the
# value is left absent, as it came: OCPP says what an absent field means).
_ANNOTATIONS = {"description", "javaType", "default", "comment", "$schema", "$id", "title", "id"}
_KEYWORDS: dict[str, set[str]] = {
    "string": {"type", "maxLength", "minLength", "pattern", "format", "enum"},
    "integer": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "number": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "boolean": {"type"},
    # additionalItems only constrains the tuple form of items, which no schema uses.
    "array": {"type", "items", "minItems", "maxItems", "additionalItems"},
    "object": {"type", "properties", "required", "additionalProperties"},
}
# additionalProperties means nothing on a non-object, yet the OCA's enums carry it.
_IGNORED_OFF_OBJECT = {"additionalProperties"}


class SchemaImportError(Exception):
    """The schemas cannot be imported as they are; the message names the file and place."""


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """Where one OCPP version's schemas are and how their files are named.

    `folder` is the version's folder in the `ocpp` package and in the output; a file is a
    response when its name ends with `Response`, a request when it ends with
    `request_suffix` (OCPP 1.6's request files have no suffix). With a suffix, a file with
    neither ending is a message that has no response (OCPP 2.1's SEND).
    """

    folder: str
    title: str
    request_suffix: str = "Request"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A field's type: a JSON type with its constraints, or a named definition."""

    kind: Literal["str", "int", "float", "bool", "any", "datetime", "list", "named"]
    # msgspec.Meta keyword arguments, in a fixed order
    meta: tuple[tuple[str, Any], ...] = ()
    items: TypeRef | None = None
    name: str = ""


@dataclass(slots=True)
class FieldDef:
    wire: str
    type: TypeRef
    required: bool
    description: str
    default: Any = None


@dataclass(slots=True)
class StructDef:
    """An object type: a closed struct, or an open object that keeps unknown properties."""

    name: str
    description: str
    fields: list[FieldDef]
    open: bool


@dataclass(slots=True)
class EnumDef:
    name: str
    description: str
    values: list[str]
    # field descriptions of the schemas that describe the enum per use
    per_use: bool = False


@dataclass(slots=True)
class MessageDef:
    """An action's payloads; OCPP 2.1's SEND messages have no response."""

    action: str
    request: StructDef
    response: StructDef | None
    sources: tuple[str, ...]


@dataclass(slots=True)
class Model:
    version: VersionSpec
    schema_comment: str
    messages: list[MessageDef]
    structs: dict[str, StructDef]
    enums: dict[str, EnumDef]
    # definition name -> the message classes that use it, directly or through others
    used_by: dict[str, list[str]] = field(default_factory=dict)


def clean_description(text: object) -> str:
    """The prose of an OCA description: its data-dictionary name and urn lines left out,
    HTML entities decoded, and AsciiDoc cross-references (`<<anchor,Text>>`) as their text."""
    prose = html.unescape(str(text or "")).replace("\r\n", "\n")
    prose = re.sub(r"<<[^,<>]*,([^<>]*)>>", r"\1", prose)
    prose = re.sub(r"<<([^,<>]*)>>", r"\1", prose)
    lines = [line.strip() for line in prose.split("\n")]
    kept: list[str] = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("urn:") or following.startswith("urn:"):
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _structure(schema: Any) -> Any:
    """The schema without its annotations: what two same-named definitions must share."""
    if isinstance(schema, dict):
        out = {}
        for key, value in schema.items():
            if key in _ANNOTATIONS:
                continue
            if key in ("properties", "definitions") and isinstance(value, dict):
                out[key] = {name: _structure(sub) for name, sub in value.items()}
            else:
                out[key] = _structure(value)
        return out
    if isinstance(schema, list):
        return [_structure(item) for item in schema]
    return schema


def _canonical(schema: Any) -> str:
    return json.dumps(_structure(schema), sort_keys=True)


def _whole(key: str, value: float) -> tuple[str, int]:
    """msgspec wants whole bounds on an int: the whole bound that admits the same ints."""
    if float(value).is_integer():
        return key, int(value)
    if key in ("ge", "gt"):
        return "ge", math.ceil(value)
    return "le", math.floor(value)


class _Loader:
    def __init__(self, version: VersionSpec) -> None:
        self.version = version
        self.definitions: dict[str, tuple[str, Any]] = {}  # name -> (first file, schema)
        self.descriptions: dict[str, list[str]] = defaultdict(list)
        self.structs: dict[str, StructDef] = {}
        self.enums: dict[str, EnumDef] = {}
        self.file = ""
        self.file_definitions: Mapping[str, Any] = {}
        self.file_schemas: dict[str, Mapping[str, Any]] = {}  # file -> its definitions
        self.uses: dict[str, set[str]] = defaultdict(set)  # class -> names it refers to
        self.current: str = ""

    # -- definitions ------------------------------------------------------------------

    def register_definitions(self, file: str, definitions: Mapping[str, Any]) -> None:
        self.file_schemas[file] = definitions
        for name, schema in definitions.items():
            seen = self.definitions.get(name)
            if seen is None:
                self.definitions[name] = (file, schema)
            elif _canonical(seen[1]) != _canonical(schema):
                raise SchemaImportError(
                    f"{file}: definition {name!r} differs in structure from the one in "
                    f"{seen[0]}; one name must mean one type"
                )
            self.descriptions[name].append(clean_description(schema.get("description")))

    def define(self, name: str) -> None:
        """Turn the definition `name` into an enum or a struct, once."""
        if name in self.structs or name in self.enums:
            return
        file, schema = self.definitions[name]
        saved = self.file, self.file_definitions, self.current
        # Read it in the file it was first seen in, so its fields' descriptions do not depend
        # on which message happened to refer to it first.
        self.file, self.file_definitions = file, self.file_schemas[file]
        self.current = name
        descriptions = Counter(d for d in self.descriptions[name] if d)
        # Several descriptions: the OCA describes the type per use, and each field says it.
        description = next(iter(descriptions)) if len(descriptions) == 1 else ""
        if "enum" in schema:
            self.enums[name] = self.enum(name, schema, description)
            self.enums[name].per_use = len(descriptions) > 1
        else:
            self.structs[name] = self.struct(name, schema, description)
        self.file, self.file_definitions, self.current = saved

    # -- schemas ----------------------------------------------------------------------

    def where(self, path: str) -> str:
        return f"{self.file}: {path}"

    def check_keywords(self, schema: Mapping[str, Any], kind: str, path: str) -> None:
        allowed = _KEYWORDS[kind] | _ANNOTATIONS
        if kind != "object":
            allowed = allowed | _IGNORED_OFF_OBJECT
        unknown = sorted(set(schema) - allowed)
        if unknown:
            raise SchemaImportError(
                f"{self.where(path)}: keyword(s) {unknown} on a {kind} are not supported"
            )

    def enum(self, name: str, schema: Mapping[str, Any], description: str) -> EnumDef:
        self.check_keywords(schema, "string", name)
        values = schema["enum"]
        if schema.get("type") != "string" or not all(isinstance(v, str) for v in values):
            raise SchemaImportError(f"{self.where(name)}: only string enums are supported")
        if len(set(values)) != len(values):
            raise SchemaImportError(f"{self.where(name)}: an enum value is listed twice")
        return EnumDef(name, description, list(values))

    def struct(self, name: str, schema: Mapping[str, Any], description: str) -> StructDef:
        if schema.get("type") != "object":
            raise SchemaImportError(f"{self.where(name)}: expected an object schema")
        self.check_keywords(schema, "object", name)
        extra = schema.get("additionalProperties", True)
        if extra not in (True, False):
            raise SchemaImportError(
                f"{self.where(name)}: additionalProperties must be true or false, not a schema"
            )
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        missing = [r for r in required if r not in properties]
        if missing:
            raise SchemaImportError(f"{self.where(name)}: required {missing} are not properties")
        saved = self.current
        self.current = name
        fields = []
        for wire, sub in properties.items():
            fields.append(
                FieldDef(
                    wire=wire,
                    type=self.type_of(sub, f"{name}.{wire}", name + wire[:1].upper() + wire[1:]),
                    required=wire in required,
                    description=self.field_description(sub),
                    default=self.field_default(sub),
                )
            )
        self.current = saved
        return StructDef(name, description, fields, open=extra is not False)

    def field_description(self, schema: Mapping[str, Any]) -> str:
        own = clean_description(schema.get("description"))
        ref = schema.get("$ref")
        if own or not isinstance(ref, str):
            return own
        # The OCA writes a field's description on the enum it refers to, file by file.
        target = self.file_definitions.get(ref.rsplit("/", 1)[-1], {})
        return clean_description(target.get("description")) if "enum" in target else ""

    def field_default(self, schema: Mapping[str, Any]) -> Any:
        """The documented default: the field's, else the one on the enum it refers to."""
        ref = schema.get("$ref")
        if "default" in schema or not isinstance(ref, str):
            return schema.get("default")
        return self.file_definitions.get(ref.rsplit("/", 1)[-1], {}).get("default")

    def ref_name(self, ref: str, path: str) -> str:
        prefix = "#/definitions/"
        name = ref[len(prefix) :] if ref.startswith(prefix) else ""
        if not name or name not in self.file_definitions:
            raise SchemaImportError(f"{self.where(path)}: cannot resolve $ref {ref!r}")
        return name

    def type_of(self, schema: Mapping[str, Any], path: str, inline_name: str) -> TypeRef:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            extra = set(schema) - {"$ref"} - _ANNOTATIONS
            if extra:
                raise SchemaImportError(f"{self.where(path)}: keywords beside $ref: {extra}")
            name = self.ref_name(ref, path)
            self.define(name)
            self.uses[self.current].add(name)
            return TypeRef("named", name=name)
        kind = schema.get("type")
        if kind is None:
            if set(schema) - _ANNOTATIONS:
                raise SchemaImportError(f"{self.where(path)}: constraints without a type")
            return TypeRef("any")
        if not isinstance(kind, str) or kind not in _KEYWORDS:
            raise SchemaImportError(f"{self.where(path)}: type {kind!r} is not supported")
        self.check_keywords(schema, kind, path)
        if kind == "string":
            return self.string(schema, path, inline_name)
        if kind in ("integer", "number"):
            return self.number(schema, kind)
        if kind == "boolean":
            return TypeRef("bool")
        if kind == "array":
            items = schema.get("items")
            if not isinstance(items, Mapping):
                raise SchemaImportError(f"{self.where(path)}: items must be one schema")
            meta = []
            if "minItems" in schema:
                meta.append(("min_length", schema["minItems"]))
            if "maxItems" in schema:
                meta.append(("max_length", schema["maxItems"]))
            return TypeRef("list", tuple(meta), self.type_of(items, f"{path}[]", inline_name))
        description = clean_description(schema.get("description"))
        return self.inline(inline_name, path, lambda: self.struct(inline_name, schema, description))

    def string(self, schema: Mapping[str, Any], path: str, inline_name: str) -> TypeRef:
        if "enum" in schema:
            description = clean_description(schema.get("description"))
            return self.inline(
                inline_name, path, lambda: self.enum(inline_name, schema, description)
            )
        fmt = schema.get("format")
        if fmt is not None:
            if fmt != "date-time" or set(schema) & {"maxLength", "minLength", "pattern"}:
                raise SchemaImportError(
                    f"{self.where(path)}: format {fmt!r} with these keywords is not supported"
                )
            return TypeRef("datetime")
        meta = []
        if "minLength" in schema:
            meta.append(("min_length", schema["minLength"]))
        if "maxLength" in schema:
            meta.append(("max_length", schema["maxLength"]))
        if "pattern" in schema:
            try:
                re.compile(schema["pattern"])
            except re.error as exc:
                raise SchemaImportError(f"{self.where(path)}: pattern: {exc}") from exc
            meta.append(("pattern", schema["pattern"]))
        return TypeRef("str", tuple(meta))

    def number(self, schema: Mapping[str, Any], kind: str) -> TypeRef:
        meta: list[tuple[str, Any]] = []
        # draft 4 spells an exclusive bound as a boolean beside minimum or maximum;
        # later drafts as a number of its own.
        for bound, exclusive, inclusive_key, exclusive_key in (
            ("minimum", "exclusiveMinimum", "ge", "gt"),
            ("maximum", "exclusiveMaximum", "le", "lt"),
        ):
            flag = schema.get(exclusive)
            if bound in schema:
                meta.append((exclusive_key if flag is True else inclusive_key, schema[bound]))
            if isinstance(flag, int | float) and not isinstance(flag, bool):
                meta.append((exclusive_key, flag))
        if "multipleOf" in schema:
            meta.append(("multiple_of", schema["multipleOf"]))
        if kind == "integer":
            meta = [_whole(k, v) if k != "multiple_of" else (k, v) for k, v in meta]
            return TypeRef("int", tuple(meta))
        return TypeRef("float", tuple(meta))

    def inline(self, name: str, path: str, make: Any) -> TypeRef:
        """A type the schema spells out in place (OCPP 1.6 does): named after its field."""
        if name in self.definitions or name in self.structs or name in self.enums:
            raise SchemaImportError(f"{self.where(path)}: inline type name {name!r} is taken")
        made = make()
        if isinstance(made, EnumDef):
            self.enums[name] = made
        else:
            self.structs[name] = made
        self.uses[self.current].add(name)
        return TypeRef("named", name=name)


def _message_files(schema_dir: Path, version: VersionSpec) -> dict[str, dict[str, Path]]:
    actions: dict[str, dict[str, Path]] = defaultdict(dict)
    for path in sorted(schema_dir.glob("*.json")):
        stem = path.stem
        if stem.endswith("Response"):
            actions[stem.removesuffix("Response")]["response"] = path
        elif stem.endswith(version.request_suffix):
            actions[stem.removesuffix(version.request_suffix) or stem]["request"] = path
        else:
            actions[stem]["send"] = path
    for action, pair in actions.items():
        if set(pair) not in ({"request", "response"}, {"send"}):
            raise SchemaImportError(f"{action}: needs a request and a response schema")
    if not actions:
        raise SchemaImportError(f"{schema_dir}: no *.json schemas")
    return dict(sorted(actions.items()))


def _read(path: Path) -> dict[str, Any]:
    try:
        # The OCA's files start with a byte order mark.
        schema = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise SchemaImportError(f"{path.name}: {exc}") from exc
    if not isinstance(schema, dict):
        raise SchemaImportError(f"{path.name}: not a JSON schema object")
    return schema


def _transitive_users(loader: _Loader, messages: list[MessageDef]) -> dict[str, list[str]]:
    used_by: dict[str, set[str]] = defaultdict(set)
    for message in messages:
        for struct in (message.request, message.response):
            if struct is None:
                continue
            stack, seen = [struct.name], set()
            while stack:
                name = stack.pop()
                for used in loader.uses.get(name, ()):
                    if used not in seen:
                        seen.add(used)
                        used_by[used].add(struct.name)
                        stack.append(used)
    return {name: sorted(users) for name, users in sorted(used_by.items())}


def load(schema_dir: Path, version: VersionSpec) -> Model:
    """Read every message schema of `schema_dir` into one model of `version`."""
    loader = _Loader(version)
    files = _message_files(schema_dir, version)
    schemas = {path: _read(path) for pair in files.values() for path in pair.values()}
    for path, schema in schemas.items():
        loader.register_definitions(path.name, schema.get("definitions", {}))
    comments = {str(schema.get("comment", "")) for schema in schemas.values()}
    messages = []
    names: dict[str, str] = {}
    for action, pair in files.items():
        structs = {}
        for kind, path in pair.items():
            schema = schemas[path]
            class_name = action + ("Request" if kind == "send" else kind.capitalize())
            if class_name in loader.definitions or class_name in names:
                raise SchemaImportError(f"{path.name}: class name {class_name!r} is taken")
            names[class_name] = path.name
            loader.file, loader.file_definitions = path.name, schema.get("definitions", {})
            loader.current = class_name
            body = {k: v for k, v in schema.items() if k != "definitions"}
            struct = loader.struct(class_name, body, clean_description(body.get("description")))
            if struct.open:
                raise SchemaImportError(f"{path.name}: a message must not allow unknown properties")
            structs["response" if kind == "response" else "request"] = struct
        messages.append(
            MessageDef(
                action,
                structs["request"],
                structs.get("response"),
                tuple(path.name for path in pair.values()),
            )
        )
    taken = set(names) & (set(loader.structs) | set(loader.enums))
    if taken:
        raise SchemaImportError(f"names of messages and types clash: {sorted(taken)}")
    return Model(
        version=version,
        schema_comment="; ".join(sorted(c for c in comments if c)),
        messages=messages,
        structs=dict(sorted(loader.structs.items())),
        enums=dict(sorted(loader.enums.items())),
        used_by=_transitive_users(loader, messages),
    )
