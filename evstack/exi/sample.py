"""Random valid messages drawn from the grammar tables: for fuzzing and cross-checks.

Each draw walks the grammar from a root, choosing productions and values at random,
with a bias towards the edges (bounds of integer types, empty and longest strings) and
towards ending elements as nesting grows so messages stay small.
"""

from __future__ import annotations

import random
from typing import Any

from evstack.exi.tables import AT, CH, EE, ITEMS_KEY, SE, Tables

Json = Any
_TEXT = "abcXYZ019:-_ /"
_NO_TEXT = object()  # no characters event drawn (None is a drawn empty value)


def message(
    tables: Tables, rnd: random.Random, root: str | None = None, *, nulls: bool = False
) -> dict[str, Json]:
    """A random message; `root` picks the root element (default: any). With `nulls`, some
    empty values take the no-characters form (JSON null) that EXIficient writes."""
    usable = [i for i, (_, grammar) in enumerate(tables.roots) if grammar >= 0]
    index = tables.root_index(root) if root else rnd.choice(usable)
    name, grammar = tables.roots[index]
    return {name: _element(tables, grammar, rnd, 1, nulls)}


def _element(tables: Tables, index: int, rnd: random.Random, depth: int, nulls: bool) -> Json:
    grammar = tables.grammars[index]
    fields: dict[str, Json] = {}
    text: Json = _NO_TEXT
    at, turns = 0, 0
    while True:
        state = grammar.offered(at, turns)
        usable = [p for p in state if p.kind in (SE, AT, CH, EE)]
        ends = [p for p in usable if p.kind == EE]
        others = [p for p in usable if p.kind != EE]
        if ends and (not others or rnd.random() < 0.3 + 0.1 * depth):
            break
        if not others:
            # only wildcard or mixed-content events here: not generated
            raise ValueError(f"{grammar.label}: no usable production")
        prod = rnd.choice(others)
        if prod.kind == SE:
            child = _element(tables, prod.ref, rnd, depth + 1, nulls)
            if grammar.ordered:
                fields.setdefault(ITEMS_KEY, []).append({prod.name: child})
            elif prod.name in grammar.lists:
                fields.setdefault(prod.name, []).append(child)
            else:
                fields[prod.name] = child
        elif prod.kind == AT:
            fields[prod.name] = value(tables.datatypes[prod.ref], rnd)
        else:
            spec = tables.datatypes[prod.ref]
            empty_allowed = nulls and spec["kind"] in ("string", "binary")
            empty_allowed = empty_allowed and not spec.get("min_length")
            # sometimes the other empty form: no characters at all (JSON null)
            text = None if empty_allowed and rnd.random() < 0.1 else value(spec, rnd)
        turns = grammar.count_after(at, turns, prod.next)
        at = prod.next
    if grammar.simple:
        return text
    if text is not _NO_TEXT:
        fields["$"] = text
    return fields


def value(spec: dict[str, Any], rnd: random.Random) -> Json:
    kind = spec["kind"]
    if kind in ("nbit", "uint", "int"):
        low = spec.get("min", -(2**40))
        high = spec.get("max", 2**40)
        return rnd.choice([low, high, max(low, min(high, 0)), rnd.randint(low, high)])
    if kind == "bool":
        return rnd.random() < 0.5
    if kind == "enum":
        return rnd.choice(spec["values"])
    low = spec.get("min_length", 0)
    high = max(low, min(spec.get("max_length", 24), 24))
    size = rnd.choice([low, high, rnd.randint(low, high)])
    if kind == "string":
        return "".join(rnd.choice(_TEXT) for _ in range(size))
    return rnd.randbytes(size).hex()
