"""Rendering a version's model as Python modules and Markdown pages.

The Python package of a version holds `enums.py` (one StrEnum per enumeration, with the
schema's names and values), `datatypes.py` (the shared object types, each defined once) and
`messages.py` (a request and a response class per action, and `ACTIONS`). The package above
the versions holds `values.py`, the few value types every version shares. The pages are one
per action, one for the datatypes and one for the enums, and an index, cross-linked.
Everything is sorted, so the same schemas always give byte-identical files.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from evstack.codegen.naming import identifier
from evstack.codegen.pysource import LINE_LENGTH, comment, docstring, sorted_exports, wrap_call
from evstack.codegen.pytypes import literal
from evstack.codegen.render import DOCS_HEADER_PREFIX, HEADER_PREFIX

from .schema import EnumDef, FieldDef, Model, StructDef, TypeRef

__all__ = ["docs_files", "python_files", "shared_python_files"]

_UNSET = "msgspec.UnsetType"
_META_ORDER = ("min_length", "max_length", "pattern", "ge", "gt", "le", "lt", "multiple_of")
_META_WORDS = {
    "min_length": "at least {} {}",
    "max_length": "at most {} {}",
    "pattern": "matches `{}`",
    "ge": "≥ {}",
    "gt": "> {}",
    "le": "≤ {}",
    "lt": "< {}",
    "multiple_of": "a multiple of {}",
}


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    environment.filters["docstring"] = docstring
    environment.filters["comment"] = comment
    environment.filters["literal"] = literal
    environment.globals["wrap"] = wrap_call
    return environment


def _render(template: str, **context: Any) -> str:
    text = _environment().get_template(template).render(**context)
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text.rstrip("\n") + "\n"


def _header(model: Model | None, markdown: bool = False) -> str:
    source = f" from the {model.version.title} JSON schemas" if model else ""
    if markdown:
        return f"{DOCS_HEADER_PREFIX} ocpp-import{source}. Do not edit. -->"
    return f"{HEADER_PREFIX} ocpp-import{source}. Do not edit."


# -- Python --------------------------------------------------------------------------------


def _meta(ref: TypeRef) -> str:
    arguments = ", ".join(f"{key}={literal(value)}" for key, value in ref.meta)
    return f"msgspec.Meta({arguments})"


def annotation(ref: TypeRef) -> str:
    """The Python annotation of a field's type, constraints included."""
    if ref.kind == "named":
        base = ref.name
    elif ref.kind == "list":
        assert ref.items is not None
        base = f"list[{annotation(ref.items)}]"
    else:
        base = {"datetime": "DateTime", "any": "Any"}.get(ref.kind, ref.kind)
    return f"Annotated[{base}, {_meta(ref)}]" if ref.meta else base


def _declaration(field: FieldDef) -> str:
    """`name: T` or `name: T | msgspec.UnsetType = msgspec.UNSET`, wrapped as ruff would."""
    name = identifier(field.wire)
    if name != field.wire:
        raise ValueError(f"property {field.wire!r} is not a Python identifier")
    kind = annotation(field.type)
    if field.required:
        return f"    {name}: {kind}"
    line = f"    {name}: {kind} | {_UNSET} = msgspec.UNSET"
    if len(line) <= LINE_LENGTH:
        return line
    return f"    {name}: (\n        {kind}\n        | {_UNSET}\n    ) = msgspec.UNSET"


def _names_used(ref: TypeRef) -> Iterable[str]:
    if ref.kind == "named":
        yield ref.name
    elif ref.items is not None:
        yield from _names_used(ref.items)


class _Module:
    """What one generated module defines and needs."""

    def __init__(self, structs: Iterable[StructDef]) -> None:
        self.structs = list(structs)
        self.fields = [f for s in self.structs for f in s.fields]

    def uses(self, kind: str) -> bool:
        def walk(ref: TypeRef) -> bool:
            return ref.kind == kind or (ref.items is not None and walk(ref.items))

        return any(walk(f.type) for f in self.fields)

    def uses_meta(self) -> bool:
        def walk(ref: TypeRef) -> bool:
            return bool(ref.meta) or (ref.items is not None and walk(ref.items))

        return any(walk(f.type) for f in self.fields)

    def names(self) -> set[str]:
        return {name for f in self.fields for name in _names_used(f.type)}


def _import_order(name: str) -> tuple[int, str, str]:
    # ruff's isort: constants, then classes, then the rest; case-insensitive within each.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower(), name


def _import_line(module: str, names: list[str]) -> str:
    names = sorted(names, key=_import_order)
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return line
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def _imports(model: Model, structs: list[StructDef], own: set[str], values: set[str]) -> str:
    module = _Module(structs)
    typing = []
    if module.uses_meta():
        typing.append("Annotated")
    if module.uses("any"):
        typing.append("Any")
    blocks = ["from __future__ import annotations"]
    if typing:
        blocks.append(f"from typing import {', '.join(typing)}")
    blocks.append("import msgspec")
    if module.uses("datetime"):
        values = values | {"DateTime"}
    relative = [_import_line("..values", sorted_exports(sorted(values)))]
    used = module.names() - own
    for name, defined in (("datatypes", set(model.structs)), ("enums", set(model.enums))):
        wanted = sorted_exports(sorted(used & defined))
        if wanted:
            relative.append(_import_line(f".{name}", wanted))
    blocks.append("\n".join(relative))
    return "\n\n".join(blocks)


def _struct_context(struct: StructDef, fallback: str) -> dict[str, Any]:
    return {
        "name": struct.name,
        "docstring": docstring(struct.description or fallback, 4),
        "open": struct.open,
        "fields": [
            {"comment": comment(f.description, 4) if f.description else "", "line": _declaration(f)}
            for f in struct.fields
        ],
        "declared_fields": [
            {
                "comment": comment(f.description, 8) if f.description else "",
                "line": "\n".join("    " + line for line in _declaration(f).splitlines()),
            }
            for f in struct.fields
        ],
    }


def _enum_members(values: list[str]) -> list[tuple[str, str]]:
    """Member names from the values: identifiers that shadow nothing of str or Enum."""
    members: list[tuple[str, str]] = []
    taken: set[str] = set()
    for value in values:
        name = identifier(value)
        if name.startswith("_") or name in ("name", "value") or hasattr(str, name):
            name = "V_" + name.lstrip("_")
        while name in taken:
            name += "_"
        taken.add(name)
        members.append((name, value))
    return members


def _enum_context(enum: EnumDef) -> dict[str, Any]:
    text = enum.description or (
        f"The values of `{enum.name}`; the fields that use it say what it means there."
        if enum.per_use
        else f"The values of `{enum.name}`."
    )
    return {
        "name": enum.name,
        "docstring": docstring(text, 4),
        "members": [(n, literal(v)) for n, v in _enum_members(enum.values)],
    }


def shared_python_files() -> dict[str, str]:
    """The files above the version folders, the same for every version."""
    return {
        "__init__.py": _render(
            "package_init.py.j2",
            header=_header(None),
            docstring=docstring(
                "OCPP's message types, one package per version, written by `ev-codegen "
                "ocpp-import` from the OCA's JSON schemas. Never edit by hand.",
                0,
            ),
        ),
        "values.py": _render("values.py.j2", header=_header(None)),
    }


def python_files(model: Model) -> dict[str, str]:
    """The version's package, keyed by path relative to the folder above the versions."""
    folder, title = model.version.folder, model.version.title
    header = _header(model)
    structs = list(model.structs.values())
    messages = [s for m in model.messages for s in (m.request, m.response) if s is not None]
    has_open = any(s.open for s in structs)
    one_way = any(m.response is None for m in model.messages)
    files = {
        f"{folder}/__init__.py": _render(
            "package_init.py.j2",
            header=header,
            docstring=docstring(
                f"{title} ({model.schema_comment}): `messages` has a request and a response "
                "class per action and `ACTIONS`, `datatypes` the object types the messages "
                "share, `enums` the enumerations. The payload API is `evstack.ocpp."
                f"{folder}`.",
                0,
            ),
        ),
        f"{folder}/enums.py": _render(
            "enums.py.j2",
            header=header,
            docstring=docstring(f"The enumerations of {title}, named as in its schemas.", 0),
            exports=sorted_exports(list(model.enums)),
            enums=[_enum_context(e) for e in model.enums.values()],
        ),
        f"{folder}/datatypes.py": _render(
            "structs.py.j2",
            header=header,
            docstring=docstring(
                f"The object types of {title}'s messages, each defined once (its schemas "
                "repeat them per message).",
                0,
            ),
            imports=_imports(
                model,
                structs,
                set(model.structs),
                {"OpenObject", "Record"} if has_open else {"Record"},
            ),
            exports=sorted_exports(list(model.structs)),
            structs=[_struct_context(s, f"`{s.name}`.") for s in structs],
            actions=None,
        ),
        f"{folder}/messages.py": _render(
            "structs.py.j2",
            header=header,
            docstring=docstring(
                f"The payloads of {title}: a request and a response class per action, and "
                "`ACTIONS`, which maps an action to them.",
                0,
            ),
            imports=_imports(model, messages, set(), {"Record"}),
            exports=sorted_exports(["ACTIONS", *(s.name for s in messages)]),
            structs=[_struct_context(s, _message_fallback(s, model)) for s in messages],
            actions={
                "annotation": "dict[str, tuple[type[Record], type[Record] | None]]"
                if one_way
                else "dict[str, tuple[type[Record], type[Record]]]",
                "rows": [
                    (m.action, m.request.name, m.response.name if m.response else "None")
                    for m in model.messages
                ],
            },
        ),
    }
    return files


def _message_fallback(struct: StructDef, model: Model) -> str:
    for message in model.messages:
        if struct is message.request:
            kind = "request" if message.response else "message (it has no response)"
            return f"The payload of a {message.action} {kind}."
    return f"The payload of a {struct.name.removesuffix('Response')} response."


# -- Markdown -------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _para(text: str) -> str:
    """Paragraphs kept; a line break inside one becomes a Markdown hard break."""
    parts = [p for p in text.strip().split("\n\n") if p.strip()]
    return "\n\n".join(
        "\\\n".join(" ".join(line.split()) for line in part.splitlines() if line.strip())
        for part in parts
    )


class _Links:
    """Where each name is documented, relative to a page in `depth` folders below the
    version's folder."""

    def __init__(self, model: Model, depth: int) -> None:
        up = "../" * depth
        self.targets: dict[str, str] = {}
        for name in model.structs:
            self.targets[name] = f"{up}datatypes.md#{name.lower()}"
        for name in model.enums:
            self.targets[name] = f"{up}enums.md#{name.lower()}"
        for message in model.messages:
            page = f"{up}messages/{message.action}.md"
            self.targets[message.request.name] = f"{page}#{message.request.name.lower()}"
            if message.response:
                self.targets[message.response.name] = f"{page}#{message.response.name.lower()}"

    def name(self, name: str) -> str:
        return f"[{name}]({self.targets[name]})"

    def type(self, ref: TypeRef) -> str:
        if ref.kind == "named":
            return self.name(ref.name)
        if ref.kind == "list":
            assert ref.items is not None
            return f"array of {self.type(ref.items)}"
        return {
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "any": "any JSON",
            "datetime": "date-time",
        }[ref.kind]


def _constraints(ref: TypeRef) -> str:
    words = []
    unit = "items" if ref.kind == "list" else "characters"
    for key, value in sorted(ref.meta, key=lambda item: _META_ORDER.index(item[0])):
        words.append(_META_WORDS[key].format(value, unit) if "{} {}" in _META_WORDS[key]
                     else _META_WORDS[key].format(value))  # fmt: skip
    if ref.kind == "list" and ref.items is not None and ref.items.meta:
        words.append("each " + _constraints(ref.items))
    return ", ".join(words)


def _field_rows(struct: StructDef, links: _Links) -> list[dict[str, str]]:
    rows = []
    for field in struct.fields:
        constraints = _constraints(field.type)
        if field.default is not None:
            default = json.dumps(field.default)
            constraints = ", ".join(filter(None, [constraints, f"absent means {default}"]))
        rows.append(
            {
                "name": f"`{field.wire}`",
                "type": links.type(field.type),
                "required": "yes" if field.required else "",
                "constraints": _cell(constraints),
                "description": _cell(field.description),
            }
        )
    return rows


def _struct_page_context(struct: StructDef, links: _Links, model: Model) -> dict[str, Any]:
    users = [links.name(u) for u in model.used_by.get(struct.name, [])]
    return {
        "name": struct.name,
        "description": _para(struct.description),
        "open": struct.open,
        "rows": _field_rows(struct, links),
        "used_by": ", ".join(users),
    }


def docs_files(model: Model, python_package: str) -> dict[str, str]:
    """The version's pages, keyed by path relative to the docs folder above the versions."""
    folder, title = model.version.folder, model.version.title
    header = _header(model, markdown=True)
    files = {}
    message_links = _Links(model, 1)
    for message in model.messages:
        files[f"{folder}/messages/{message.action}.md"] = _render(
            "message.md.j2",
            header=header,
            title=title,
            action=message.action,
            sources=", ".join(f"`{s}`" for s in message.sources),
            python=f"{python_package}.messages",
            payloads=[
                _struct_page_context(s, message_links, model)
                for s in (message.request, message.response)
                if s is not None
            ],
        )
    links = _Links(model, 0)
    files[f"{folder}/datatypes.md"] = _render(
        "datatypes.md.j2",
        header=header,
        title=title,
        python=f"{python_package}.datatypes",
        structs=[_struct_page_context(s, links, model) for s in model.structs.values()],
    )
    files[f"{folder}/enums.md"] = _render(
        "enums.md.j2",
        header=header,
        title=title,
        python=f"{python_package}.enums",
        enums=[
            {
                "name": e.name,
                "description": _para(e.description)
                or ("Described per use: see the fields that use it." if e.per_use else ""),
                "members": ", ".join(f"`{v}`" for v in e.values),
                "used_by": ", ".join(links.name(u) for u in model.used_by.get(e.name, [])),
            }
            for e in model.enums.values()
        ],
    )
    files[f"{folder}/index.md"] = _render(
        "index.md.j2",
        header=header,
        title=title,
        comment=model.schema_comment,
        python=python_package,
        folder=folder,
        messages=[
            {
                "action": m.action,
                "request": links.name(m.request.name),
                "response": links.name(m.response.name) if m.response else "(none)",
                "page": f"messages/{m.action}.md",
            }
            for m in model.messages
        ],
        counts={"datatypes": len(model.structs), "enums": len(model.enums)},
    )
    return files
