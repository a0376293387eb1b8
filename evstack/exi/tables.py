"""The derived grammar tables (generated/exi/<set>.json), loaded once per schema set."""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
from typing import Any, Literal

from evstack.exi.errors import ExiError, ExiErrorCode

SchemaSet = Literal[
    "app",
    "din",
    "iso2",
    "iso20",
    "iso20_ac",
    "iso20_dc",
    "iso20_acdp",
    "iso20_wpt",
    "iso2_fragment",
    "xmldsig_fragment",
    "iso20_fragment",
]
"""A schema set id: what `decode` and `encode` are typed by (see api.py)."""

SCHEMA_SETS: tuple[SchemaSet, ...] = (
    "app",
    "din",
    "iso2",
    "iso20",
    "iso20_ac",
    "iso20_dc",
    "iso20_acdp",
    "iso20_wpt",
    "iso2_fragment",
    "xmldsig_fragment",
    "iso20_fragment",
)


# JSON keys with a fixed meaning: character data next to attributes, ordered children.
TEXT_KEY = "$"
ITEMS_KEY = "$items"

# Production kinds as small ints: cheap to dispatch on, and identical in the C tables.
SE, AT, CH, EE, ANY, TEXT = range(6)
_KINDS = {"SE": SE, "AT": AT, "CH": CH, "EE": EE, "ANY": ANY, "TEXT": TEXT}


@dataclasses.dataclass(frozen=True, slots=True)
class Production:
    kind: int
    name: str  # JSON key: local name for SE, "@" + local name for AT, "" otherwise
    ref: int  # grammar for SE, datatype for AT and CH, -1 otherwise
    next: int  # next state, -1 for EE


@dataclasses.dataclass(frozen=True, slots=True)
class Grammar:
    label: str
    states: tuple[tuple[Production, ...], ...]
    lists: frozenset[str]  # child names that always map to JSON arrays
    simple: bool  # only character data: the JSON value is a bare scalar
    # JSON key -> (name index, grammar or datatype): one meaning per key within a type
    # (XSD's "element declarations consistent"), which lets a flat event stream be built
    # without walking the states
    keys: dict[str, tuple[int, int]]
    text: int  # datatype of the character data, -1 without
    # children of different names may alternate (xmldsig's repeated choices): they go,
    # in document order, to an ITEMS list of one-key objects instead of keyed fields
    ordered: bool
    # counted loops (a bounded array of one element): state -> how many times its
    # self-looping SE may be taken in a row; once reached, `exhausted` holds the state
    # without that production (the event codes after it shift down by one)
    limits: dict[int, int]
    exhausted: dict[int, tuple[Production, ...]]

    def offered(self, state: int, count: int) -> tuple[Production, ...]:
        """The productions of `state` after `count` turns of its counted loop."""
        limit = self.limits.get(state)
        if limit is not None and count >= limit:
            return self.exhausted[state]
        return self.states[state]

    def count_after(self, state: int, count: int, target: int) -> int:
        """The loop counter once a production from `state` to `target` is taken: only a
        counted loop's own SE enters it, so entering from elsewhere is the first turn."""
        if target in self.limits:
            return count + 1 if target == state else 1
        return 0


@dataclasses.dataclass(frozen=True, slots=True)
class Tables:
    schema_set: str
    fragment: bool
    # (JSON key, grammar) in event-code order; the key is the local name, or
    # "{namespace}local" where fragment roots share a local name across namespaces
    roots: tuple[tuple[str, int], ...]
    datatypes: tuple[dict[str, Any], ...]
    grammars: tuple[Grammar, ...]
    names: tuple[str, ...]  # local name per name index
    root_names: dict[str, tuple[int, int]]  # root key -> (name index, grammar)
    root_keys: dict[int, str]  # name index of a root -> its key

    def root_index(self, name: str) -> int:
        for index, (root, _) in enumerate(self.roots):
            if root == name:
                return index
        raise ExiError(ExiErrorCode.INVALID_MESSAGE, f"{name!r} is not a root of {self.schema_set}")


@functools.cache
def load(schema_set: str) -> Tables:
    """The tables of one schema set; raises ExiError(UNKNOWN_SCHEMA) for an unknown id."""
    if schema_set not in SCHEMA_SETS:
        raise ExiError(
            ExiErrorCode.UNKNOWN_SCHEMA, f"{schema_set!r}; known: {', '.join(SCHEMA_SETS)}"
        )
    resource = importlib.resources.files("evstack.generated.exi") / f"{schema_set}.json"
    return from_json(json.loads(resource.read_text(encoding="utf-8")))


def from_json(raw: dict[str, Any]) -> Tables:
    """Tables from a derived JSON table (as the importer writes them)."""
    schema_set = raw["schema_set"]
    names = [local for local, _ in raw["names"]]
    root_locals = [names[n] for n, _ in raw["roots"]]
    root_key = {
        n: names[n] if root_locals.count(names[n]) == 1 else f"{{{raw['names'][n][1]}}}{names[n]}"
        for n, _ in raw["roots"]
    }
    grammars = []
    for entry in raw["grammars"]:
        states = tuple(tuple(_production(p, names) for p in state) for state in entry["states"])
        kinds = {p.kind for state in states for p in state}
        simple = CH in kinds and kinds <= {CH, EE}
        lists = frozenset(names[i] for i in entry.get("lists", ()))
        keys: dict[str, tuple[int, int]] = {}
        text = -1
        for state in entry["states"]:
            for item in state:
                if item[0] in ("SE", "AT"):
                    keys[("@" if item[0] == "AT" else "") + names[item[1]]] = (item[1], item[2])
                elif item[0] == "CH":
                    text = item[1]
        ordered = bool(entry.get("ordered"))
        limits = {int(k): v for k, v in entry.get("limits", {}).items()}
        exhausted = {i: tuple(p for p in states[i] if p.next != i) for i in limits}
        grammars.append(
            Grammar(entry["name"], states, lists, simple, keys, text, ordered, limits, exhausted)
        )
    return Tables(
        schema_set=schema_set,
        fragment=raw["fragment"],
        roots=tuple((root_key[n], g) for n, g in raw["roots"]),
        datatypes=tuple(raw["datatypes"]),
        grammars=tuple(grammars),
        names=tuple(names),
        root_names={root_key[n]: (n, g) for n, g in raw["roots"]},
        root_keys=root_key,
    )


def _production(item: list[Any], names: list[str]) -> Production:
    kind = _KINDS[item[0]]
    if kind == SE:
        return Production(SE, names[item[1]], item[2], item[3])
    if kind == AT:
        return Production(AT, "@" + names[item[1]], item[2], item[3])
    if kind == CH:
        return Production(CH, "", item[1], item[2])
    if kind in (ANY, TEXT):
        return Production(kind, "", -1, item[1])
    return Production(EE, "", -1, -1)
