"""Typed message classes: one TypedDict per complex type of a schema set, from its table.

The JSON form is plain dicts, so the classes are TypedDicts: a message built as a
literal is checked by mypy and passed to `evstack.exi.encode` unchanged. Keys that are
not identifiers ("@Id", "$") need the functional syntax, used throughout for
uniformity. A key is `Required` when every path through the grammar passes it.
"""

from __future__ import annotations

import json
import keyword
import re
from typing import Any

_ITEMS_KEY = "$items"
LINE_LENGTH = 100  # the project's; the output is laid out the way `ruff format` keeps it


def _class_names(grammars: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    taken: set[str] = set()
    for grammar in grammars:
        label = grammar["name"]
        base = re.sub(r"\W", "", label.replace(" (anonymous type)", "_Element"))
        base = base[0].upper() + base[1:] if base else "Type"
        name, suffix = base, 2
        while name in taken or keyword.iskeyword(name):
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names.append(name)
    return names


def _value_type(spec: dict[str, Any], index: int) -> str:
    kind = spec["kind"]
    if kind in ("nbit", "uint", "int"):
        return "int"
    if kind == "bool":
        return "bool"
    if kind == "enum":
        return f"Enum{index}"  # an alias emitted once per enumeration (see python_types)
    return "str"


def _text_type(grammar: dict[str, Any], datatypes: list[dict[str, Any]], index: int) -> str:
    """Character data: may also be null (no characters at all, as EXIficient writes an
    empty value; see docs/exi.md) exactly where the codec accepts that form: a state
    that expects only attributes or the value, of a string or binary type that may be empty."""
    value = _value_type(datatypes[index], index)
    for state in grammar["states"]:
        kinds = {prod[0] for prod in state}
        texts = [datatypes[prod[1]] for prod in state if prod[0] == "CH"]
        if texts and kinds <= {"AT", "CH", "EE"}:
            spec = texts[0]
            if spec["kind"] in ("string", "binary") and spec.get("min_length", 0) == 0:
                return f"{value} | None"
    return value


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


def python_types(table: dict[str, Any]) -> str:
    """The source of generated/exi/types_<set>.py, laid out the way `ruff format` keeps it."""
    names = [local for local, _ in table["names"]]
    grammars = table["grammars"]
    datatypes = table["datatypes"]
    classes = _class_names(grammars)

    def is_simple(grammar: dict[str, Any]) -> bool:
        kinds = {p[0] for state in grammar["states"] for p in state}
        return "CH" in kinds and kinds <= {"CH", "EE"}

    def text_type(grammar: dict[str, Any]) -> str:
        for state in grammar["states"]:
            for prod in state:
                if prod[0] == "CH":
                    return _text_type(grammar, datatypes, prod[1])
        return "str"

    def type_of(index: int) -> str:
        grammar = grammars[index]
        return text_type(grammar) if is_simple(grammar) else f'"{classes[index]}"'

    blocks: list[str] = []
    for index, spec in enumerate(datatypes):
        if spec["kind"] == "enum":
            values = "".join(f"    {json.dumps(value)},\n" for value in spec["values"])
            blocks.append(f"Enum{index} = Literal[\n{values}]\n")
    for index, grammar in enumerate(grammars):
        if not is_simple(grammar):
            blocks.append(_typed_dict(classes[index], _fields(grammar, names, datatypes, type_of)))
    wrappers: list[str] = []
    for name_index, grammar_index in table["roots"]:
        if grammar_index < 0:
            continue
        root = names[name_index]
        wrapper = base = "Document_" + re.sub(r"\W", "_", root)
        suffix = 2
        while wrapper in wrappers:  # one local name in two namespaces (fragments)
            wrapper, suffix = f"{base}_{suffix}", suffix + 1
        wrappers.append(wrapper)
        blocks.append(_typed_dict(wrapper, [(root, type_of(grammar_index), True)], total=True))
    line = "Message = " + " | ".join(wrappers)
    if len(line) > LINE_LENGTH:
        line = "Message = (\n    " + "\n    | ".join(wrappers) + "\n)"
    blocks.append(line + '\n"""Any document of this schema set: a dict with one root element."""\n')
    body = "\n\n".join(blocks)
    imports = [n for n in ("Literal", "Required", "TypedDict") if n in body]
    header = (
        f'"""Message classes of the `{table["schema_set"]}` schema set (see docs/exi.md).\n\n'
        "Generated by `python -m evstack.codegen.exi` from the derived table. Do not edit.\n"
        '"""\n\n'
        f"from typing import {', '.join(imports)}\n"
    )
    # isort wants one blank line before an assignment, ruff format two before a class
    return header + ("\n\n" if body.startswith("class ") else "\n") + body


def _fields(
    grammar: dict[str, Any],
    names: list[str],
    datatypes: list[dict[str, Any]],
    type_of: Any,
) -> list[tuple[str, str, bool]]:
    """(key, value type, required) for each key of a complex type, in schema order."""
    fields: dict[str, str] = {}
    key_of: dict[tuple[str, int], str] = {}
    lists = {names[i] for i in grammar.get("lists", [])}
    for state in grammar["states"]:
        for prod in state:
            kind = prod[0]
            if kind == "SE":
                key = _ITEMS_KEY if grammar.get("ordered") else names[prod[1]]
                key_of[("SE", prod[1])] = key
                if grammar.get("ordered"):
                    # children in document order, each a one-key object (docs/exi.md)
                    fields[key] = "list[dict[str, object]]"
                else:
                    value = type_of(prod[2])
                    fields[key] = f"list[{value}]" if key in lists else value
            elif kind == "AT":
                key = "@" + names[prod[1]]
                key_of[("AT", prod[1])] = key
                fields[key] = _value_type(datatypes[prod[2]], prod[2])
            elif kind == "CH":
                key_of[("CH", -1)] = "$"
                fields["$"] = _text_type(grammar, datatypes, prod[1])
    required = _required(grammar["states"], key_of)
    return [(key, value, key in required) for key, value in fields.items()]


def _typed_dict(name: str, fields: list[tuple[str, str, bool]], total: bool = False) -> str:
    def shown(value: str, required: bool) -> str:
        return f"Required[{value}]" if required and not total else value

    total_arg = "" if total else ", total=False"
    if all(key.isidentifier() and not keyword.iskeyword(key) for key, _, _ in fields):
        lines = [f"class {name}(TypedDict{total_arg}):"]
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
