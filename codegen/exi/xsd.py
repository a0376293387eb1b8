"""A small reader for the XML Schema subset that the V2G schemas use.

It is not a general XSD processor: it resolves exactly what schema-informed EXI needs
(element declarations, complex types as particle trees, attribute uses, simple types
reduced to a built-in base plus facets, substitution groups) and refuses anything else
with a clear error, so a schema change cannot silently produce a wrong grammar.
"""

from __future__ import annotations

import dataclasses
import pathlib
import xml.etree.ElementTree as ET

XS = "http://www.w3.org/2001/XMLSchema"
UNBOUNDED = -1


class SchemaError(Exception):
    """The schema uses a construct this reader does not support, or is inconsistent."""


@dataclasses.dataclass(frozen=True, order=True)
class QName:
    """A namespace-qualified name; EXI sorts by local name first, then namespace."""

    local: str
    ns: str

    def __str__(self) -> str:
        return f"{{{self.ns}}}{self.local}" if self.ns else self.local


@dataclasses.dataclass
class SimpleType:
    """A simple type reduced to its built-in primitive and the facets EXI looks at."""

    name: QName | None
    builtin: str  # local name of the XSD built-in at the root of the derivation chain
    enumeration: list[str] | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    namespace: str = ""  # target namespace of the schema document that defines it
    path: str = ""  # an anonymous type's place: see `Schema` (named types: "")


@dataclasses.dataclass
class ElementDecl:
    name: QName
    type: ComplexType | SimpleType | None = None  # resolved after loading
    type_ref: QName | None = None
    abstract: bool = False
    substitution_group: QName | None = None
    is_global: bool = False


@dataclasses.dataclass
class Wildcard:
    """An `xs:any`: which namespaces it admits (`##any`, `##other` or a list)."""

    namespace: str


@dataclasses.dataclass
class Group:
    kind: str  # "sequence" | "choice"
    particles: list[Particle]


@dataclasses.dataclass
class Particle:
    min_occurs: int
    max_occurs: int  # UNBOUNDED for "unbounded"
    term: ElementDecl | Group | Wildcard


@dataclasses.dataclass
class AttributeUse:
    name: QName
    type: SimpleType | None
    type_ref: QName | None
    required: bool


@dataclasses.dataclass
class ComplexType:
    name: QName | None
    attributes: list[AttributeUse]
    content: Particle | SimpleType | None  # None = empty content
    mixed: bool = False
    base_ref: QName | None = None  # complexContent/simpleContent derivation, resolved later
    derivation: str | None = None  # "extension" | "restriction"
    simple_content: bool = False
    resolved: bool = False
    namespace: str = ""  # target namespace of the schema document that defines it
    path: str = ""  # an anonymous type's place: see `Schema` (named types: "")


BUILTIN_INTEGER_BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "integer": (None, None),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}
BUILTIN_STRINGS = {
    "string",
    "normalizedString",
    "token",
    "anyURI",
    "ID",
    "IDREF",
    "NCName",
    "Name",
    "NMTOKEN",
    "language",
}
BUILTIN_OTHER = {"boolean", "hexBinary", "base64Binary", "decimal", "float", "double"}
BUILTINS = set(BUILTIN_INTEGER_BOUNDS) | BUILTIN_STRINGS | BUILTIN_OTHER


def _tag(node: ET.Element) -> str:
    # ElementTree drops comments by default, so every child here is a real element
    ns, _, local = node.tag[1:].partition("}")
    if ns != XS:
        raise SchemaError(f"unexpected element {node.tag}")
    return local


def _occurs(node: ET.Element) -> tuple[int, int]:
    low = int(node.get("minOccurs", "1"))
    high_text = node.get("maxOccurs", "1")
    return low, UNBOUNDED if high_text == "unbounded" else int(high_text)


class Schema:
    """Every declaration reachable from one or more root XSD files (imports followed).

    An anonymous type is known by its place, the path of the element or attribute that
    declares it: `V2G_Message` for a global element, `RelativeTimeIntervalType/start` for
    a local element of a named type, `SignatureMethodType/@Algorithm` for an attribute,
    nested anonymous types adding a step each. The paths are stable and readable, so the
    generated Python names of such types are too.
    """

    def __init__(self, roots: list[pathlib.Path]) -> None:
        self.elements: dict[QName, ElementDecl] = {}
        self.types: dict[QName, ComplexType | SimpleType] = {}
        self.attributes: dict[QName, AttributeUse] = {}
        self.loaded_files: list[pathlib.Path] = []
        self._loaded: set[pathlib.Path] = set()
        self._simple_refs: list[tuple[SimpleType, QName, ET.Element]] = []
        for root in roots:
            self._load(root.resolve())
        self._resolve()

    # -- loading -------------------------------------------------------------------------

    def _load(self, path: pathlib.Path) -> None:
        if path in self._loaded:
            return
        self._loaded.add(path)
        self.loaded_files.append(path)
        try:
            doc = ET.parse(path).getroot()
        except ET.ParseError as exc:
            raise SchemaError(f"{path}: {exc}") from exc
        ctx = _FileContext(
            path,
            doc.get("targetNamespace", ""),
            doc.get("elementFormDefault") == "qualified",
            doc.get("attributeFormDefault") == "qualified",
            _namespace_map(path),
        )
        for child in doc:
            kind = _tag(child)
            if kind in ("import", "include"):
                location = child.get("schemaLocation")
                if location:
                    self._load(_locate(path.parent, location))
            elif kind == "element":
                decl = self._element(child, ctx, "", is_global=True)
                self.elements[decl.name] = decl
            elif kind == "complexType":
                ctype = self._complex_type(child, ctx, "")
                assert ctype.name is not None
                self.types[ctype.name] = ctype
            elif kind == "simpleType":
                stype = self._simple_type(child, ctx, "")
                assert stype.name is not None
                self.types[stype.name] = stype
            elif kind == "attribute":
                use = self._attribute(child, ctx, "", is_global=True)
                self.attributes[use.name] = use
            elif kind == "annotation":
                continue
            else:
                raise SchemaError(f"{path}: unsupported top-level xs:{kind}")

    def _element(
        self, node: ET.Element, ctx: _FileContext, owner: str, *, is_global: bool
    ) -> ElementDecl:
        """An element declaration; `owner` is the path of the type that declares it."""
        ref = node.get("ref")
        if ref is not None:
            # a reference: resolved by name later, when every file is loaded
            return ElementDecl(name=ctx.qname(ref), type_ref=None, is_global=True)
        qualified = (
            is_global
            or node.get("form", "") == "qualified"
            or (node.get("form") is None and ctx.element_qualified)
        )
        name = QName(node.get("name", ""), ctx.target if qualified else "")
        decl = ElementDecl(
            name=name,
            abstract=node.get("abstract") == "true",
            substitution_group=ctx.qname(node.get("substitutionGroup"))
            if node.get("substitutionGroup")
            else None,
            is_global=is_global,
        )
        type_attr = node.get("type")
        if type_attr is not None:
            decl.type_ref = ctx.qname(type_attr)
        path = f"{owner}/{name.local}" if owner else name.local
        for child in node:
            kind = _tag(child)
            if kind == "complexType":
                decl.type = self._complex_type(child, ctx, path)
            elif kind == "simpleType":
                decl.type = self._simple_type(child, ctx, path)
            elif kind != "annotation":
                raise SchemaError(f"{ctx.path}: unsupported xs:{kind} in element {name}")
        if decl.type is None and decl.type_ref is None:
            # xs:anyType; the V2G schemas never do this, so refuse rather than guess
            raise SchemaError(f"{ctx.path}: element {name} has no type")
        return decl

    def _complex_type(self, node: ET.Element, ctx: _FileContext, path: str) -> ComplexType:
        """A complex type: named, or anonymous at `path`."""
        name = QName(node.get("name", ""), ctx.target) if node.get("name") else None
        ctype = ComplexType(name=name, attributes=[], content=None)
        ctype.namespace, ctype.path = ctx.target, "" if name else path
        owner = name.local if name else path
        ctype.mixed = node.get("mixed") == "true"
        for child in node:
            kind = _tag(child)
            if kind in ("sequence", "choice"):
                ctype.content = self._particle(child, ctx, owner)
            elif kind == "attribute":
                ctype.attributes.append(self._attribute(child, ctx, owner, is_global=False))
            elif kind in ("complexContent", "simpleContent"):
                ctype.simple_content = kind == "simpleContent"
                if child.get("mixed") == "true":
                    ctype.mixed = True
                self._derivation(ctype, child, ctx, owner)
            elif kind != "annotation":
                raise SchemaError(f"{ctx.path}: unsupported xs:{kind} in complexType {name}")
        return ctype

    def _derivation(
        self, ctype: ComplexType, node: ET.Element, ctx: _FileContext, owner: str
    ) -> None:
        for child in node:
            if _tag(child) == "annotation":
                continue
            kind = _tag(child)
            if kind not in ("extension", "restriction"):
                raise SchemaError(f"{ctx.path}: unsupported xs:{kind} in {ctype.name}")
            ctype.derivation = kind
            ctype.base_ref = ctx.qname(child.get("base", ""))
            for part in child:
                part_kind = _tag(part)
                if part_kind in ("sequence", "choice"):
                    ctype.content = self._particle(part, ctx, owner)
                elif part_kind == "attribute":
                    ctype.attributes.append(self._attribute(part, ctx, owner, is_global=False))
                elif part_kind != "annotation":
                    raise SchemaError(f"{ctx.path}: unsupported xs:{part_kind} in {ctype.name}")

    def _particle(self, node: ET.Element, ctx: _FileContext, owner: str) -> Particle:
        low, high = _occurs(node)
        kind = _tag(node)
        if kind == "element":
            return Particle(low, high, self._element(node, ctx, owner, is_global=False))
        if kind == "any":
            return Particle(low, high, Wildcard(node.get("namespace", "##any")))
        if kind in ("sequence", "choice"):
            parts = [
                self._particle(child, ctx, owner) for child in node if _tag(child) != "annotation"
            ]
            return Particle(low, high, Group(kind, parts))
        raise SchemaError(f"{ctx.path}: unsupported particle xs:{kind}")

    def _attribute(
        self, node: ET.Element, ctx: _FileContext, owner: str, *, is_global: bool
    ) -> AttributeUse:
        if node.get("ref"):
            raise SchemaError(f"{ctx.path}: attribute references are not supported")
        qualified = (
            is_global
            or node.get("form", "") == "qualified"
            or (node.get("form") is None and ctx.attribute_qualified)
        )
        name = QName(node.get("name", ""), ctx.target if qualified else "")
        use = AttributeUse(name, None, None, node.get("use") == "required")
        if node.get("type"):
            use.type_ref = ctx.qname(node.get("type", ""))
        for child in node:
            if _tag(child) == "simpleType":
                path = f"{owner}/@{name.local}" if owner else f"@{name.local}"
                use.type = self._simple_type(child, ctx, path)
        return use

    def _simple_type(self, node: ET.Element, ctx: _FileContext, path: str) -> SimpleType:
        """A simple type: named, or anonymous at `path`."""
        name = QName(node.get("name", ""), ctx.target) if node.get("name") else None
        stype = SimpleType(name=name, builtin="", namespace=ctx.target, path="" if name else path)
        for child in node:
            if _tag(child) == "annotation":
                continue
            if _tag(child) != "restriction":
                raise SchemaError(
                    f"{ctx.path}: simpleType {name}: only xs:restriction is supported"
                )
            self._simple_refs.append((stype, ctx.qname(child.get("base", "")), child))
        return stype

    # -- resolution ----------------------------------------------------------------------

    def _resolve(self) -> None:
        for stype, base, restriction in self._simple_refs:
            self._resolve_simple(stype, base, restriction)
        for qname, decl in list(self.elements.items()):
            self._resolve_element(decl)
            self.elements[qname] = decl
        for item in list(self.types.values()):
            if isinstance(item, ComplexType):
                self._resolve_complex(item)

    def simple_type(self, qname: QName) -> SimpleType:
        """The named simple type, or a built-in one."""
        if qname.ns == XS:
            if qname.local not in BUILTINS:
                raise SchemaError(f"unsupported built-in type xs:{qname.local}")
            return SimpleType(name=qname, builtin=qname.local)
        found = self.types.get(qname)
        if not isinstance(found, SimpleType):
            raise SchemaError(f"{qname} is not a simple type")
        return found

    def _resolve_simple(self, stype: SimpleType, base_name: QName, node: ET.Element) -> None:
        base = self.simple_type(base_name)
        if not base.builtin:
            # base declared later in the same run: resolve it first
            for other, other_base, other_node in self._simple_refs:
                if other is base:
                    self._resolve_simple(other, other_base, other_node)
        stype.builtin = base.builtin
        stype.min_inclusive, stype.max_inclusive = base.min_inclusive, base.max_inclusive
        stype.min_length, stype.max_length = base.min_length, base.max_length
        stype.enumeration = list(base.enumeration) if base.enumeration else None
        values: list[str] = []
        for facet in node:
            kind, value = _tag(facet), facet.get("value", "")
            if kind == "enumeration":
                values.append(value)
            elif kind == "minInclusive":
                stype.min_inclusive = int(value)
            elif kind == "maxInclusive":
                stype.max_inclusive = int(value)
            elif kind == "minExclusive":
                stype.min_inclusive = int(value) + 1
            elif kind == "maxExclusive":
                stype.max_inclusive = int(value) - 1
            elif kind == "length":
                stype.min_length = stype.max_length = int(value)
            elif kind == "minLength":
                stype.min_length = int(value)
            elif kind == "maxLength":
                stype.max_length = int(value)
            elif kind in ("annotation", "totalDigits", "fractionDigits", "whiteSpace"):
                continue
            else:
                # xs:pattern would change the string encoding (restricted character sets)
                raise SchemaError(f"unsupported facet xs:{kind} on {stype.name}")
        if values:
            stype.enumeration = values

    def _resolve_element(self, decl: ElementDecl) -> None:
        if decl.type is None and decl.type_ref is not None:
            decl.type = self.type_of(decl.type_ref)
        if isinstance(decl.type, ComplexType):
            self._resolve_complex(decl.type)

    def type_of(self, qname: QName) -> ComplexType | SimpleType:
        if qname.ns == XS:
            return self.simple_type(qname)
        found = self.types.get(qname)
        if found is None:
            raise SchemaError(f"unknown type {qname}")
        return found

    def _resolve_complex(self, ctype: ComplexType) -> None:
        if ctype.resolved:
            return
        ctype.resolved = True
        for use in ctype.attributes:
            if use.type is None:
                use.type = (
                    self.simple_type(use.type_ref)
                    if use.type_ref
                    else self.simple_type(QName("string", XS))
                )
        if ctype.base_ref is not None:
            base = self.type_of(ctype.base_ref)
            if isinstance(base, SimpleType):
                if not ctype.simple_content:
                    raise SchemaError(f"{ctype.name}: complexContent over a simple type")
                ctype.content = base
            else:
                self._resolve_complex(base)
                if ctype.derivation == "extension":
                    ctype.attributes = base.attributes + ctype.attributes
                    ctype.content = _concat(base.content, ctype.content)
                    ctype.mixed = ctype.mixed or base.mixed
                elif ctype.simple_content:
                    ctype.content = base.content
        if isinstance(ctype.content, Particle):
            self._resolve_particle(ctype.content)

    def _resolve_particle(self, particle: Particle) -> None:
        term = particle.term
        if isinstance(term, Group):
            for part in term.particles:
                self._resolve_particle(part)
        elif isinstance(term, ElementDecl):
            if term.is_global and term.type is None and term.type_ref is None:
                # an element reference: share the global declaration
                target = self.elements.get(term.name)
                if target is None:
                    raise SchemaError(f"unknown element {term.name}")
                particle.term = target
                self._resolve_element(target)
            else:
                self._resolve_element(term)

    def substitutes(self, head: QName) -> list[ElementDecl]:
        """Every element that may appear where `head` is referenced, in EXI order."""
        members: list[ElementDecl] = []
        for decl in self.elements.values():
            group, seen = decl.substitution_group, {decl.name}
            while group is not None and group not in seen:
                if group == head:
                    members.append(decl)
                    break
                seen.add(group)
                group = self.elements[group].substitution_group if group in self.elements else None
        # the head is listed even when abstract: EXIficient (the interoperability reference
        # for V2G) gives ISO-2's abstract BodyElement an event code of its own
        members.append(self.elements[head])
        return sorted(members, key=lambda d: d.name)


def _concat(
    first: Particle | SimpleType | None, second: Particle | SimpleType | None
) -> Particle | SimpleType | None:
    if first is None:
        return second
    if second is None:
        return first
    if isinstance(first, SimpleType) or isinstance(second, SimpleType):
        raise SchemaError("cannot extend simple content with element content")
    return Particle(1, 1, Group("sequence", [first, second]))


@dataclasses.dataclass
class _FileContext:
    path: pathlib.Path
    target: str
    element_qualified: bool
    attribute_qualified: bool
    prefixes: dict[str, str]

    def qname(self, text: str | None) -> QName:
        if not text:
            raise SchemaError(f"{self.path}: missing QName")
        prefix, _, local = text.rpartition(":")
        if prefix not in self.prefixes:
            raise SchemaError(f"{self.path}: unknown prefix in {text!r}")
        return QName(local, self.prefixes[prefix])


def _locate(folder: pathlib.Path, location: str) -> pathlib.Path:
    """Resolve a schemaLocation; the packaged DIN schemas name xmldsig as a sibling
    although it ships one folder up, so parent folders are tried too."""
    for base in (folder, *folder.parents[:2]):
        candidate = (base / location).resolve()
        if candidate.exists():
            return candidate
    raise SchemaError(f"{folder}: cannot find imported schema {location}")


def _namespace_map(path: pathlib.Path) -> dict[str, str]:
    """Prefix bindings of the file's root element (the V2G schemas declare them all there)."""
    prefixes: dict[str, str] = {}
    for event, item in ET.iterparse(path, events=("start-ns",)):
        if event == "start-ns":
            prefix, uri = item
            prefixes.setdefault(prefix, uri)
    return prefixes
