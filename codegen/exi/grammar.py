"""Schema-informed EXI grammars (EXI 1.0, section 8.5.4) derived from a loaded schema.

The output is a plain table that both runtimes (Python and C) interpret: one grammar per
type, each a list of states, each state a list of productions already in event-code order.
With strict=false every state also owns an escape to second-level events, so a runtime
derives a state's event-code width as bit_length(len(productions)); the table never
stores widths, which keeps the one rule in one place.

Production encodings (JSON arrays, first item the kind):
  ["SE", name, grammar, next]   start element `name`, its content read with `grammar`
  ["AT", name, datatype, next]  attribute
  ["CH", datatype, next]        typed character data
  ["EE"]                        end element
  ["ANY", next]                 SE(*) from an xs:any wildcard (no schema grammar); in a
                                relaxed fragment grammar also AT(*) and the events that
                                grammar offers but evstack refuses (see `_relaxed`)
  ["TEXT", next]                untyped character data in mixed content
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from evstack.codegen.exi.xsd import (
    UNBOUNDED,
    AttributeUse,
    ComplexType,
    ElementDecl,
    Group,
    Particle,
    QName,
    Schema,
    SchemaError,
    SimpleType,
    Wildcard,
)

# Bounded repetitions with at least this many optional copies become counted loops.
COUNTED_LOOP_MIN = 3

# N-bit integers are used when the value range fits in 4096 values (EXI 7.1.9).
NBIT_MAX_VALUES = 4096

# Event classes in event-code order (EXI 8.5.4.4.2); SE keeps schema order inside its class.
_CLASS_ORDER = {"AT": 0, "SE": 1, "ANY": 2, "EE": 3, "CH": 4, "TEXT": 4}


@dataclasses.dataclass(frozen=True)
class _Prod:
    kind: str  # SE, ANY, AT, CH, TEXT, EE, EPS
    item: Any = None  # ElementDecl | AttributeUse | SimpleType | Wildcard
    target: int = -1
    limit: int = 0  # a counted self-loop: see GrammarBuilder._particle


class _Proto:
    """A grammar under construction: states of productions, start state 0, EPS allowed."""

    def __init__(self, states: list[list[_Prod]]) -> None:
        self.states = states

    @classmethod
    def single(cls, prod_kind: str, item: Any) -> _Proto:
        return cls([[_Prod(prod_kind, item, 1)], [_Prod("EE")]])

    @classmethod
    def empty(cls) -> _Proto:
        return cls([[_Prod("EE")]])

    def copy_shifted(self, offset: int) -> list[list[_Prod]]:
        return [
            [dataclasses.replace(p, target=p.target + offset) if p.target >= 0 else p for p in s]
            for s in self.states
        ]

    def then(self, other: _Proto) -> _Proto:
        """Concatenation: every EE of self continues with other's start."""
        offset = len(self.states)
        first = [
            [_Prod("EPS", None, offset) if p.kind == "EE" else p for p in state]
            for state in self.states
        ]
        return _Proto(first + other.copy_shifted(offset))

    def optional(self) -> _Proto:
        states = [list(s) for s in self.states]
        if not any(p.kind == "EE" for p in states[0]):
            states[0].append(_Prod("EE"))
        return _Proto(states)

    def looped(self) -> _Proto:
        """Zero or more repetitions: the start may end, every other end loops back."""
        states = [
            [_Prod("EPS", None, 0) if p.kind == "EE" else p for p in state] for state in self.states
        ]
        states[0] = [p for p in states[0] if p.kind != "EPS" or p.target != 0]
        states[0].append(_Prod("EE"))
        return _Proto(states)


class GrammarBuilder:
    """Turns a `Schema` into the JSON-ready table described in the module docstring."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.names: list[QName] = []
        self._name_index: dict[QName, int] = {}
        self.datatypes: list[dict[str, Any]] = []
        self._datatype_index: dict[str, int] = {}
        self.grammars: list[dict[str, Any]] = []
        self._grammar_index: dict[object, int] = {}

    # -- public --------------------------------------------------------------------------

    def document(self) -> list[list[int]]:
        """Global elements in EXI order (local name, then namespace): [name, grammar]."""
        decls = sorted(self.schema.elements.values(), key=lambda d: d.name)
        return [[self.name(d.name), self.grammar_for(d)] for d in decls]

    def fragment(self) -> list[list[int]]:
        """Every element name of the schema, for fragment grammars: [name, grammar].

        A name declared several times with one type (ISO-2's EVSETimeStamp is an xs:long
        wherever it appears) takes that type's grammar; a name declared with different
        types (ISO-2's eMAID) takes the relaxed element-fragment grammar.
        """
        by_name: dict[QName, list[ElementDecl]] = {}
        for decl in self._all_elements():
            by_name.setdefault(decl.name, []).append(decl)
        names = sorted(by_name)
        roots = []
        for name in names:
            decls = by_name[name]
            if all(_same_type(decls[0], other) for other in decls[1:]):
                roots.append([self.name(name), self.grammar_for(decls[0])])
            else:
                roots.append([self.name(name), self._relaxed(name, decls, len(names))])
        return roots

    def _relaxed(self, name: QName, decls: list[ElementDecl], children: int) -> int:
        """EXI's relaxed element-fragment grammar (EXI 1.0, 8.5.3) for `name`.

        Its event codes cover every attribute name of the schema (sorted), AT(*), every
        element name (in fragment order), SE(*), EE and untyped characters; after the
        characters or a child, the element names, SE(*), EE and characters again.
        EXIficient writes exactly these codes. evstack reads and writes the attributes
        that the name's own declarations carry, typed, and the characters as a string;
        it refuses the other attributes, children and mixed text (ANY and TEXT), as it
        refuses xs:any, since no signed ISO-2 element holds them.
        """
        if all(isinstance(d.type, ComplexType) and _is_empty(d.type) for d in decls):
            raise SchemaError(f"{name}: the relaxed grammar of empty types is not supported")
        own: dict[QName, AttributeUse] = {
            use.name: use
            for d in decls
            if isinstance(d.type, ComplexType)
            for use in d.type.attributes
        }
        uses = self._attribute_uses()
        first: list[list[Any]] = []
        for qname in sorted(uses):
            if qname in own:
                types = {self.datatype(u.type) for u in uses[qname] if u.type is not None}
                datatype = types.pop() if len(types) == 1 else self.datatype(_UNTYPED)
                first.append(["AT", self.name(qname), datatype, 0])
            else:
                first.append(["ANY", 0])
        first.append(["ANY", 0])  # AT(*)
        first += [["ANY", 1] for _ in range(children + 1)]  # SE(F0..Fm-1), SE(*)
        first += [["EE"], ["CH", self.datatype(_UNTYPED), 1]]
        second = [["ANY", 1] for _ in range(children + 1)] + [["EE"], ["TEXT", 1]]
        index = len(self.grammars)
        self.grammars.append({"name": f"{name.local}Relaxed", "states": [first, second]})
        return index

    def _attribute_uses(self) -> dict[QName, list[AttributeUse]]:
        """Every attribute declaration of the schema, global or local, by name."""
        uses: dict[QName, list[AttributeUse]] = {}
        for use in self.schema.attributes.values():
            uses.setdefault(use.name, []).append(use)
        types = [t for t in self.schema.types.values() if isinstance(t, ComplexType)]
        types += [d.type for d in self._all_elements() if isinstance(d.type, ComplexType)]
        seen: set[int] = set()
        for ctype in types:
            if id(ctype) not in seen:
                seen.add(id(ctype))
                for use in ctype.attributes:
                    uses.setdefault(use.name, []).append(use)
        return uses

    def table(
        self, schema_set: str, sources: list[str], fragment: bool, *, with_fragment: bool = False
    ) -> dict[str, Any]:
        """The table of one schema set. `with_fragment`: a document set whose schema also
        has a fragment set derives the fragment's grammars too (unused by its documents),
        so both tables hold identical arrays and share them in C."""
        # the document grammars first, so a fragment table numbers its names and grammars
        # exactly like the document table of the same schema
        roots = self.document()
        if fragment:
            roots = self.fragment()
        elif with_fragment:
            self.fragment()
        return {
            "format": 1,
            "schema_set": schema_set,
            "fragment": fragment,
            "sources": sources,
            "roots": roots,
            "names": [[q.local, q.ns] for q in self.names],
            "datatypes": self.datatypes,
            "grammars": self.grammars,
        }

    # -- names and datatypes -------------------------------------------------------------

    def name(self, qname: QName) -> int:
        if qname not in self._name_index:
            self._name_index[qname] = len(self.names)
            self.names.append(qname)
        return self._name_index[qname]

    def datatype(self, stype: SimpleType) -> int:
        spec = _datatype_spec(stype)
        key = repr(sorted(spec.items()))
        if key not in self._datatype_index:
            self._datatype_index[key] = len(self.datatypes)
            self.datatypes.append(spec)
        return self._datatype_index[key]

    # -- grammars ------------------------------------------------------------------------

    def grammar_for(self, decl: ElementDecl) -> int:
        if decl.type is None:
            raise SchemaError(f"element {decl.name} has no resolved type")
        return self._type_grammar(decl.type)

    def _type_grammar(self, stype: ComplexType | SimpleType) -> int:
        # simple types share one grammar per encoding; complex types are unique objects
        key: object = ("CH", self.datatype(stype)) if isinstance(stype, SimpleType) else id(stype)
        if key in self._grammar_index:
            return self._grammar_index[key]
        index = len(self.grammars)
        self._grammar_index[key] = index
        label = str(stype.name.local) if stype.name else f"{stype.path} (anonymous type)"
        entry: dict[str, Any] = {"name": label}
        if isinstance(stype, ComplexType):
            # where the type is defined: its typed class is shared by every schema set
            # that uses it (see pytypes.py)
            entry["ns"] = stype.namespace
        entry["states"] = []
        self.grammars.append(entry)  # reserve the slot: types may be recursive
        if isinstance(stype, SimpleType):
            proto = _Proto.single("CH", stype)
            lists: list[int] = []
        else:
            proto = self._complex(stype)
            lists = [self.name(q) for q in sorted(_repeatable_names(stype.content))]
            if _interleaves(stype.content):
                entry["ordered"] = True
        states = _normalize(proto)
        entry["states"] = self._emit(states)
        limits = {
            str(i): p.limit
            for i, state in enumerate(states)
            for p in state
            if p.limit and p.target == i
        }
        if limits:
            entry["limits"] = limits
        if lists:
            entry["lists"] = lists
        return index

    def _complex(self, ctype: ComplexType) -> _Proto:
        attributes = _Proto.empty()
        for use in sorted(ctype.attributes, key=lambda u: u.name):
            step = _Proto.single("AT", use)
            attributes = attributes.then(step if use.required else step.optional())
        content = ctype.content
        if isinstance(content, SimpleType):
            body = _Proto.single("CH", content)
        elif isinstance(content, Particle):
            body = self._particle(content)
        else:
            body = _Proto.empty()
        if ctype.mixed and not isinstance(content, SimpleType):
            body = _Proto([[*state, _Prod("TEXT", None, i)] for i, state in enumerate(body.states)])
        return attributes.then(body)

    def _particle(self, particle: Particle) -> _Proto:
        term = self._term(particle.term)
        proto = _Proto.empty()
        for _ in range(particle.min_occurs):
            proto = proto.then(term)
        if particle.max_occurs == UNBOUNDED:
            proto = proto.then(term.looped())
        elif (optional := particle.max_occurs - particle.min_occurs) >= COUNTED_LOOP_MIN and (
            self._single_element(particle.term)
        ):
            # up to `optional` more of one element: EXI unrolls this into one state per
            # copy, each [SE(A), exit...] and the last [exit...]. One state that loops on
            # SE(A) with a counter gives the same event codes (the runtimes drop SE(A)
            # once the counter reaches the limit) in a fraction of the table.
            loop = _Proto([[_Prod("SE", particle.term, 0, optional), _Prod("EE")]])
            proto = proto.then(loop)
        else:
            # A? A? A? written as (A (A (A)?)?)?: the same language and event codes, but
            # deterministic by construction, so the copies stay linear in size
            tail = _Proto.empty()
            for _ in range(particle.max_occurs - particle.min_occurs):
                tail = term.then(tail).optional()
            proto = proto.then(tail)
        return proto

    def _single_element(self, term: ElementDecl | Group | Wildcard) -> bool:
        """An element term that yields exactly one SE production (no substitutes)."""
        if not isinstance(term, ElementDecl):
            return False
        return not term.is_global or len(self.schema.substitutes(term.name)) == 1

    def _term(self, term: ElementDecl | Group | Wildcard) -> _Proto:
        if isinstance(term, Wildcard):
            return _Proto.single("ANY", term)
        if isinstance(term, ElementDecl):
            members = self.schema.substitutes(term.name) if term.is_global else [term]
            start = [_Prod("SE", member, 1) for member in members]
            return _Proto([start, [_Prod("EE")]])
        parts = [self._particle(p) for p in term.particles]
        if term.kind == "sequence":
            proto = _Proto.empty()
            for part in parts:
                proto = proto.then(part)
            return proto
        # choice: a fresh start state that may take any branch, in schema order
        states: list[list[_Prod]] = [[]]
        for part in parts:
            offset = len(states)
            states[0].append(_Prod("EPS", None, offset))
            states.extend(part.copy_shifted(offset))
        if not parts:
            states[0].append(_Prod("EE"))
        return _Proto(states)

    def _emit(self, states: list[list[_Prod]]) -> list[list[list[Any]]]:
        out: list[list[list[Any]]] = []
        for state in states:
            row: list[list[Any]] = []
            for p in state:
                if p.kind == "SE":
                    row.append(["SE", self.name(p.item.name), self.grammar_for(p.item), p.target])
                elif p.kind == "AT":
                    assert isinstance(p.item, AttributeUse)
                    assert p.item.type is not None
                    row.append(["AT", self.name(p.item.name), self.datatype(p.item.type), p.target])
                elif p.kind == "CH":
                    row.append(["CH", self.datatype(p.item), p.target])
                elif p.kind in ("ANY", "TEXT"):
                    row.append([p.kind, p.target])
                else:
                    row.append(["EE"])
            out.append(row)
        return out

    def _all_elements(self) -> list[ElementDecl]:
        seen: dict[int, ElementDecl] = {}

        def visit_type(stype: ComplexType | SimpleType | None) -> None:
            if isinstance(stype, ComplexType) and isinstance(stype.content, Particle):
                visit_particle(stype.content)

        def visit_particle(particle: Particle) -> None:
            term = particle.term
            if isinstance(term, Group):
                for part in term.particles:
                    visit_particle(part)
            elif isinstance(term, ElementDecl) and id(term) not in seen:
                seen[id(term)] = term
                visit_type(term.type)

        for decl in self.schema.elements.values():
            if id(decl) not in seen:
                seen[id(decl)] = decl
                visit_type(decl.type)
        # A named type no element uses still declares its local elements, and EXIficient
        # (through Xerces' schema model) counts them among the fragment's names: ISO-20's
        # CommonTypes defines types only the AC, DC and WPT schemas use.
        for stype in self.schema.types.values():
            visit_type(stype)
        return list(seen.values())


# Untyped character data and attribute values of a relaxed grammar: strings (EXI 1.0, 7.1.10).
_UNTYPED = SimpleType(name=None, builtin="string")


def _is_empty(ctype: ComplexType) -> bool:
    return ctype.content is None and not ctype.mixed


def _same_type(a: ElementDecl, b: ElementDecl) -> bool:
    """One type definition: the same object, or the same named (possibly built-in) type."""
    if a.type is b.type:
        return True
    return (
        a.type is not None
        and b.type is not None
        and a.type.name is not None
        and (a.type.name == b.type.name)
    )


def _normalize(proto: _Proto) -> list[list[_Prod]]:
    """Remove EPS productions, merge same-event productions, order by event code.

    Bounded repetition (maxOccurs="20") leaves one state with several SE(x) productions
    leading to different copies; EXI merges their targets into one new state (8.5.4.2),
    which is a subset construction over the epsilon-free grammar.
    """

    def closure(index: int) -> list[_Prod]:
        result: list[_Prod] = []
        visiting = {index}
        stack = [iter(proto.states[index])]
        while stack:
            prod = next(stack[-1], None)
            if prod is None:
                stack.pop()
            elif prod.kind != "EPS":
                result.append(prod)
            elif prod.target not in visiting:
                visiting.add(prod.target)
                stack.append(iter(proto.states[prod.target]))
        return result

    expanded = [closure(i) for i in range(len(proto.states))]
    numbering: dict[frozenset[int], int] = {frozenset({0}): 0}
    pending: list[tuple[int, ...]] = [(0,)]
    states: list[list[_Prod]] = []
    while pending:
        members = pending.pop(0)
        groups: dict[tuple[str, Any], tuple[_Prod, dict[int, None]]] = {}
        for index in members:
            for prod in expanded[index]:
                key = _event_key(prod)
                _, targets = groups.setdefault(key, (prod, {}))
                if prod.target >= 0:
                    targets[prod.target] = None
        prods: list[_Prod] = []
        for first, targets in groups.values():
            if not targets:
                prods.append(first)
                continue
            subset = frozenset(targets)
            if first.limit and len(subset) > 1:
                raise SchemaError(f"counted loop of {first.item.name} merges with other states")
            if subset not in numbering:
                numbering[subset] = len(numbering)
                pending.append(tuple(targets))
            prods.append(dataclasses.replace(first, target=numbering[subset]))
        attrs = sorted((p for p in prods if p.kind == "AT"), key=lambda p: p.item.name)
        rest = sorted((p for p in prods if p.kind != "AT"), key=lambda p: _CLASS_ORDER[p.kind])
        states.append(attrs + rest)
    return states


def _event_key(prod: _Prod) -> tuple[str, Any]:
    if prod.kind in ("SE", "AT"):
        return (prod.kind, prod.item.name)
    return (prod.kind, None)


def _repeatable_names(content: Particle | SimpleType | None) -> set[QName]:
    """Names that may occur more than once in one element: they map to JSON arrays."""
    seen: dict[QName, int] = {}
    repeat: set[QName] = set()

    def walk(particle: Particle, repeated: bool) -> None:
        repeated = repeated or particle.max_occurs == UNBOUNDED or particle.max_occurs > 1
        term = particle.term
        if isinstance(term, Group):
            for part in term.particles:
                walk(part, repeated)
        elif isinstance(term, ElementDecl):
            seen[term.name] = seen.get(term.name, 0) + 1
            if repeated or seen[term.name] > 1:
                repeat.add(term.name)

    if isinstance(content, Particle):
        walk(content, False)
    return repeat


def _interleaves(content: Particle | SimpleType | None) -> bool:
    """Whether children of different names can alternate (a repeated choice, or one name
    in two places): then only an ordered list of children is lossless in JSON."""
    names: list[QName] = []

    def walk(particle: Particle, repeated: bool) -> bool:
        repeated = repeated or particle.max_occurs == UNBOUNDED or particle.max_occurs > 1
        term = particle.term
        if isinstance(term, Group):
            before = len(names)
            if any(walk(part, repeated) for part in term.particles):
                return True
            distinct = len(set(names[before:])) + sum(
                isinstance(p.term, Wildcard) for p in term.particles
            )
            return repeated and distinct > 1
        if isinstance(term, ElementDecl):
            if term.name in names:
                return True
            names.append(term.name)
        return False

    return isinstance(content, Particle) and walk(content, False)


def _datatype_spec(stype: SimpleType) -> dict[str, Any]:
    """How EXI encodes values of this type (EXI 7.1), with the facets a decoder enforces."""
    builtin = stype.builtin
    if stype.enumeration is not None:
        # named like the XSD names it (an anonymous one by its path): the typed alias of its
        # values takes that name, and two enumerations with the same values stay apart
        named = stype.name.local if stype.name else stype.path
        namespace = stype.name.ns if stype.name else stype.namespace
        return {"kind": "enum", "values": stype.enumeration, "type": [namespace, named]}
    if builtin == "boolean":
        return {"kind": "bool"}
    if builtin in ("hexBinary", "base64Binary"):
        return _with_lengths({"kind": "binary", "encoding": builtin}, stype)
    if builtin == "decimal":
        return {"kind": "decimal"}
    if builtin in ("float", "double"):
        return {"kind": "float"}
    from evstack.codegen.exi.xsd import BUILTIN_INTEGER_BOUNDS, BUILTIN_STRINGS

    if builtin in BUILTIN_INTEGER_BOUNDS:
        low, high = BUILTIN_INTEGER_BOUNDS[builtin]
        if stype.min_inclusive is not None:
            low = stype.min_inclusive if low is None else max(low, stype.min_inclusive)
        if stype.max_inclusive is not None:
            high = stype.max_inclusive if high is None else min(high, stype.max_inclusive)
        if low is not None and high is not None and high - low + 1 <= NBIT_MAX_VALUES:
            bits = math.ceil(math.log2(high - low + 1)) if high > low else 0
            return {"kind": "nbit", "bits": bits, "min": low, "max": high}
        spec: dict[str, Any] = {"kind": "uint" if low is not None and low >= 0 else "int"}
        if low is not None:
            spec["min"] = low
        if high is not None:
            spec["max"] = high
        return spec
    if builtin in BUILTIN_STRINGS:
        return _with_lengths({"kind": "string"}, stype)
    raise SchemaError(f"no EXI encoding for built-in xs:{builtin}")


def _with_lengths(spec: dict[str, Any], stype: SimpleType) -> dict[str, Any]:
    if stype.min_length is not None:
        spec["min_length"] = stype.min_length
    if stype.max_length is not None:
        spec["max_length"] = stype.max_length
    return spec
