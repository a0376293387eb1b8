"""Typed message classes from the derived tables: TypedDicts that describe the JSON form.

The JSON form is plain dicts, so the classes are TypedDicts: a message built as a literal
is checked by mypy and passed to `evstack.exi.encode` unchanged.

Every XSD type is defined once, in the module of the schema that defines it
(`xsd_<schema>.py`, one per namespace family: see MODULES), and each schema set's module
(`types_<set>.py`) holds only what is its own: a `Document_<root>` class per root element,
`Message`, their union, and the classes of relaxed fragment grammars (ISO-2 `eMAID`),
which no XSD type describes. So ISO-2 and its fragment set, the ISO-20 sets, and every
set that carries a signature share one definition of each type; a type that two sets
would describe differently is an error, not a second class.

- one TypedDict per complex type, named like the XSD type; an anonymous type takes the
  path of its element (`V2G_Message`, `RelativeTimeIntervalType_Start`);
- one `Literal` alias per enumeration, named like the XSD's simple type (an anonymous
  one by its path, `SignatureMethodType_Algorithm` for an attribute's);
- a key is `Required` when every path through the grammar passes it;
- children of different names that may alternate are `"$items"`, a list of one-key
  classes `<Type>_<Child>Item` (docs/exi.md).

Keys that are not identifiers ("@Id", "$") need the functional syntax. The output is laid
out the way ruff's checks keep it (isort, the line length).
"""

from __future__ import annotations

import dataclasses
import json
import keyword
import re
import textwrap
from collections.abc import Iterable
from typing import Any

PACKAGE = "evstack.generated.exi"
ITEMS_KEY = "$items"
LINE_LENGTH = 100
_ANONYMOUS = " (anonymous type)"
_V2G_PARTS = ("MsgDef", "MsgHeader", "MsgBody", "MsgDataTypes")

# namespace -> the module that defines its types; a namespace missing here is an error
MODULES: dict[str, str] = {
    "http://www.w3.org/2000/09/xmldsig#": "xsd_xmldsig",
    "urn:iso:15118:2:2010:AppProtocol": "xsd_app",
    **{f"urn:din:70121:2012:{part}": "xsd_din" for part in _V2G_PARTS},
    **{f"urn:iso:15118:2:2013:{part}": "xsd_iso2" for part in _V2G_PARTS},
    "urn:iso:std:iso:15118:-20:CommonTypes": "xsd_iso20_common_types",
    "urn:iso:std:iso:15118:-20:CommonMessages": "xsd_iso20_common_messages",
    "urn:iso:std:iso:15118:-20:AC": "xsd_iso20_ac",
    "urn:iso:std:iso:15118:-20:DC": "xsd_iso20_dc",
    "urn:iso:std:iso:15118:-20:ACDP": "xsd_iso20_acdp",
    "urn:iso:std:iso:15118:-20:WPT": "xsd_iso20_wpt",
}


class TypesError(ValueError):
    """Two definitions would take one name, or a namespace has no module."""


def python_name(label: str) -> str:
    """A type's Python name: the XSD name, or an anonymous type's path joined by `_`,
    each step capitalised (`RelativeTimeIntervalType/start` -> `..._Start`)."""
    steps = label.removesuffix(_ANONYMOUS).split("/")
    parts = [re.sub(r"\W", "", step) for step in steps]
    name = "_".join(part[:1].upper() + part[1:] for part in parts if part)
    if not name.isidentifier() or keyword.iskeyword(name):
        raise TypesError(f"no Python name for the type {label!r}")
    return name


@dataclasses.dataclass
class _Module:
    blocks: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> source
    imports: set[str] = dataclasses.field(default_factory=set)  # sibling modules used


def python_modules(tables: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Module name -> source, for every module the tables (all schema sets) need."""
    modules: dict[str, _Module] = {}
    for table in tables:
        _SetTypes(table, modules).emit()
    return {name: _render(name, module) for name, module in sorted(modules.items())}


class _SetTypes:
    """The classes and aliases one schema set's table needs, put where they belong."""

    def __init__(self, table: dict[str, Any], modules: dict[str, _Module]) -> None:
        self.table = table
        self.names = [local for local, _ in table["names"]]
        self.grammars: list[dict[str, Any]] = table["grammars"]
        self.datatypes: list[dict[str, Any]] = table["datatypes"]
        self.modules = modules
        self.own = f"types_{table['schema_set']}"
        self.classes = [self._place(grammar) for grammar in self.grammars]

    def _place(self, grammar: dict[str, Any]) -> tuple[str, str] | None:
        """(module, class name) of a complex grammar; None for simple content."""
        if _is_simple(grammar):
            return None
        if "ns" not in grammar:  # a relaxed fragment grammar: this set's own
            return self.own, python_name(grammar["name"])
        if grammar["ns"] not in MODULES:
            raise TypesError(f"{grammar['name']}: no module for namespace {grammar['ns']!r}")
        return MODULES[grammar["ns"]], python_name(grammar["name"])

    # -- definitions and references --------------------------------------------------

    def define(self, module: str, name: str, source: str) -> None:
        blocks = self.modules.setdefault(module, _Module()).blocks
        if blocks.setdefault(name, source) != source:
            raise TypesError(
                f"{module}.{name} has two definitions (two XSD types of one name, or one "
                f"type that {self.table['schema_set']} describes differently)"
            )

    def ref(self, module: str, name: str, here: str) -> str:
        if module == here:
            return name
        self.modules.setdefault(here, _Module()).imports.add(module)
        return f"{module}.{name}"

    def value(self, datatype: int, here: str) -> str:
        spec = self.datatypes[datatype]
        kind = spec["kind"]
        if kind in ("nbit", "uint", "int"):
            return "int"
        if kind == "bool":
            return "bool"
        if kind != "enum":
            return "str"
        namespace, named = spec["type"]
        if namespace not in MODULES:
            raise TypesError(f"{named}: no module for namespace {namespace!r}")
        module, name = MODULES[namespace], python_name(named)
        values = "".join(f"    {json.dumps(value)},\n" for value in spec["values"])
        self.define(module, name, f"{name} = Literal[\n{values}]\n")
        return self.ref(module, name, here)

    def text(self, grammar: dict[str, Any], datatype: int, here: str) -> str:
        """Character data: also null (no characters at all, as EXIficient writes an empty
        value; see docs/exi.md) exactly where the codec accepts that form: a state that
        expects only attributes or the value, of a string or binary that may be empty."""
        value = self.value(datatype, here)
        for state in grammar["states"]:
            kinds = {prod[0] for prod in state}
            texts = [self.datatypes[prod[1]] for prod in state if prod[0] == "CH"]
            if texts and kinds <= {"AT", "CH", "EE"}:
                spec = texts[0]
                if spec["kind"] in ("string", "binary") and spec.get("min_length", 0) == 0:
                    return f"{value} | None"
        return value

    def type_of(self, index: int, here: str) -> str:
        """The JSON value of an element read with grammar `index`, seen from `here`."""
        place = self.classes[index]
        if place is None:
            grammar = self.grammars[index]
            datatype = next(p[1] for state in grammar["states"] for p in state if p[0] == "CH")
            return self.text(grammar, datatype, here)
        return f'"{self.ref(*place, here)}"'

    # -- the set's classes -----------------------------------------------------------

    def reachable(self) -> list[int]:
        """The grammars this set's documents can use, in index order (a document table
        also holds its fragment set's grammars, for the C tables to share)."""
        seen = {g for _, g in self.table["roots"] if g >= 0}
        pending = list(seen)
        while pending:
            for state in self.grammars[pending.pop()]["states"]:
                for prod in state:
                    if prod[0] == "SE" and prod[2] not in seen:
                        seen.add(prod[2])
                        pending.append(prod[2])
        return sorted(seen)

    def emit(self) -> None:
        for index in self.reachable():
            place = self.classes[index]
            if place is not None:
                module, name = place
                fields = self._fields(self.grammars[index], name, module)
                self.define(module, name, _typed_dict(name, fields))
        wrappers = [self._document(n, g) for n, g in self.table["roots"] if g >= 0]
        line = "Message = " + " | ".join(wrappers)
        if len(line) > LINE_LENGTH:
            line = "Message = (\n    " + "\n    | ".join(wrappers) + "\n)"
        doc = '"""Any document of this schema set: a dict with one root element."""\n'
        self.define(self.own, "Message", line + "\n" + doc)

    def _document(self, name_index: int, grammar_index: int) -> str:
        """The class of documents rooted at one element, as `Message` names it.

        The JSON key is the root's local name, or `{namespace}local` where two roots of
        the set share a local name (tables.py). A plain key on an XSD type is the same
        in every set that has that root, so its class goes with the element's namespace;
        the others are this set's own.
        """
        local, namespace = self.table["names"][name_index]
        shared = sum(self.names[n] == local for n, _ in self.table["roots"]) == 1
        place = self.classes[grammar_index]
        module = MODULES.get(namespace, self.own)
        if not shared or (place is not None and place[0] == self.own):
            module = self.own
        if shared:
            key, name = local, "Document_" + re.sub(r"\W", "_", local)
        else:
            key = f"{{{namespace}}}{local}"
            tag = re.split("[:/]", namespace.rstrip("#/"))[-1]  # MsgBody, xmldsig
            name = f"Document_{local}_{python_name(tag)}"
        field = (key, self.type_of(grammar_index, module), True)
        self.define(module, name, _typed_dict(name, [field], total=True, final=True))
        return self.ref(module, name, self.own)

    def _fields(
        self, grammar: dict[str, Any], owner: str, here: str
    ) -> list[tuple[str, str, bool]]:
        """(key, value type, required) for each key of a complex type, in schema order."""
        fields: dict[str, str] = {}
        key_of: dict[tuple[str, int], str] = {}
        lists = {self.names[i] for i in grammar.get("lists", [])}
        items: list[str] = []
        for state in grammar["states"]:
            for prod in state:
                kind = prod[0]
                if kind == "SE":
                    child = self.names[prod[1]]
                    if grammar.get("ordered"):
                        key = ITEMS_KEY
                        item = f"{owner}_{python_name(child)}Item"
                        if item not in items:
                            items.append(item)
                            value = self.type_of(prod[2], here)
                            self.define(here, item, _typed_dict(item, [(child, value, True)], True))
                        fields[key] = f'list["{" | ".join(items)}"]'
                    else:
                        key = child
                        value = self.type_of(prod[2], here)
                        fields[key] = f"list[{value}]" if key in lists else value
                    key_of[("SE", prod[1])] = key
                elif kind == "AT":
                    key = "@" + self.names[prod[1]]
                    key_of[("AT", prod[1])] = key
                    fields[key] = self.value(prod[2], here)
                elif kind == "CH":
                    key_of[("CH", -1)] = "$"
                    fields["$"] = self.text(grammar, prod[1], here)
        required = _required(grammar["states"], key_of)
        return [(key, value, key in required) for key, value in fields.items()]


def _is_simple(grammar: dict[str, Any]) -> bool:
    kinds = {p[0] for state in grammar["states"] for p in state}
    return "CH" in kinds and kinds <= {"CH", "EE"}


def _required(states: list[list[list[Any]]], key_of: dict[tuple[str, int], str]) -> set[str]:
    """Keys without which no path from the first state reaches EE."""
    keys = set(key_of.values())
    required = set()
    for key in keys:
        seen, pending, ends = {0}, [0], False
        while pending and not ends:
            for prod in states[pending.pop()]:
                if prod[0] == "EE":
                    ends = True
                elif key_of.get((prod[0], prod[1] if prod[0] in ("SE", "AT") else -1)) != key:
                    target = prod[-1]
                    if target not in seen:
                        seen.add(target)
                        pending.append(target)
        if not ends:
            required.add(key)
    return required


def _typed_dict(
    name: str, fields: list[tuple[str, str, bool]], total: bool = False, final: bool = False
) -> str:
    """A TypedDict's source; `final` where a decoded document is told apart by its root key
    (mypy narrows a union only of final TypedDicts with `"key" in document`)."""

    def shown(value: str, required: bool) -> str:
        return f"Required[{value}]" if required and not total else value

    total_arg = "" if total else ", total=False"
    if all(key.isidentifier() and not keyword.iskeyword(key) for key, _, _ in fields):
        lines = [*(["@final"] if final else []), f"class {name}(TypedDict{total_arg}):"]
        for key, value, required in fields:
            lines.append(f"    {key}: {shown(value, required)}")
        return "\n".join(lines or ["    pass"]) + ("\n" if fields else "\n    pass\n")
    lines = [f"{name} = TypedDict(", f'    "{name}",', "    {"]
    for key, value, required in fields:
        line = f"        {json.dumps(key)}: {shown(value, required)},"
        if len(line) > LINE_LENGTH and required and not total:
            line = f"        {json.dumps(key)}: Required[\n            {value}\n        ],"
        lines.append(line)
    lines += ["    },", "    total=False," if not total else "", ")"]
    return "\n".join(line for line in lines if line) + "\n"


def _render(module: str, content: _Module) -> str:
    """A module's source: aliases first (they are referred to unquoted), then classes in
    name order; a set's module keeps its documents in root order, `Message` last."""
    if module.startswith("types_"):
        # stable: the relaxed grammars' classes, then the documents as defined
        order = sorted(content.blocks, key=lambda n: n == "Message" or n.startswith("Document_"))
        title = f"Documents of the `{module.removeprefix('types_')}` schema set"
    else:
        aliases = sorted(n for n, text in content.blocks.items() if " = Literal[" in text)
        order = aliases + sorted(n for n in content.blocks if n not in aliases)
        namespaces = ", ".join(sorted(ns for ns, m in MODULES.items() if m == module))
        title = textwrap.fill(
            f"Types shared by the schema sets that use them, from {namespaces}", LINE_LENGTH
        )
    body = "\n\n".join(content.blocks[name] for name in order)
    typing = [
        n for n in ("Literal", "Required", "TypedDict", "final") if re.search(rf"\b{n}\b", body)
    ]
    header = (
        f'"""{title}.\n\n'
        "Generated by `python -m evstack.codegen.exi` from the derived tables (see docs/exi.md).\n"
        "Do not edit.\n"
        '"""\n'
    )
    sections = [f"from typing import {', '.join(typing)}\n"] if typing else []
    if content.imports:
        # isort's natural order: xsd_iso2 before xsd_iso20_ac
        names = sorted(
            content.imports,
            key=lambda n: [
                (t.isdigit(), int(t) if t.isdigit() else t) for t in re.split(r"(\d+)", n)
            ],
        )
        line = f"from {PACKAGE} import {', '.join(names)}\n"
        if len(line) > LINE_LENGTH + 1:
            line = f"from {PACKAGE} import (\n" + "".join(f"    {n},\n" for n in names) + ")\n"
        sections.append(line)
    header += "".join("\n" + section for section in sections)
    # isort wants one blank line before an assignment, ruff two before a class
    return header + ("\n\n" if body.startswith("class ") else "\n") + body
