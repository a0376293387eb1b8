"""Just enough of XML Schema to generate valid V2G documents: globals, types, facets.

Written for the corpora, independently of evstack's own XSD reader (codegen/exi/xsd.py), so
a misreading there cannot hide itself by shaping the corpus the same way.
"""

from __future__ import annotations

import dataclasses
import pathlib
import xml.etree.ElementTree as ET

XS = "http://www.w3.org/2001/XMLSchema"
QName = tuple[str, str]  # (namespace, local name); namespace "" when unqualified


def xs(local: str) -> str:
    """ElementTree's spelling of an XML Schema element name."""
    return f"{{{XS}}}{local}"


@dataclasses.dataclass(frozen=True)
class SchemaFile:
    """One XSD file: what resolving its prefixed names and local element names needs."""

    path: pathlib.Path
    target_namespace: str
    elements_qualified: bool
    attributes_qualified: bool
    prefixes: dict[str, str]

    def resolve(self, name: str) -> QName:
        """The namespace and local name of a `prefix:name` reference made in this file."""
        prefix, _, local = name.rpartition(":")
        return (self.prefixes.get(prefix, ""), local)


@dataclasses.dataclass(frozen=True)
class Node:
    """An XSD element together with the file it was written in."""

    file: SchemaFile
    element: ET.Element

    def child(self, element: ET.Element) -> Node:
        return Node(self.file, element)

    def children(self, *locals_: str) -> list[Node]:
        wanted = {xs(local) for local in locals_}
        return [Node(self.file, e) for e in self.element if e.tag in wanted]

    def first(self, *locals_: str) -> Node | None:
        found = self.children(*locals_)
        return found[0] if found else None

    def get(self, attribute: str, default: str = "") -> str:
        return self.element.get(attribute, default)

    def optional(self, attribute: str) -> str | None:
        return self.element.get(attribute)

    def ref(self, attribute: str) -> QName | None:
        value = self.element.get(attribute)
        return self.file.resolve(value) if value is not None else None


class SchemaSetModel:
    """Every global definition reachable from one root XSD, by qualified name."""

    def __init__(self, root_xsd: pathlib.Path, schema_root: pathlib.Path) -> None:
        self.root_xsd = root_xsd.resolve()
        self._schema_root = schema_root.resolve()
        self.elements: dict[QName, Node] = {}
        self.types: dict[QName, Node] = {}
        self.groups: dict[QName, Node] = {}
        self.attribute_groups: dict[QName, Node] = {}
        self.attributes: dict[QName, Node] = {}
        self.files: dict[pathlib.Path, SchemaFile] = {}
        # Locally declared elements by name; a name declared with different types is absent,
        # since a fragment grammar cannot give it one type either.
        self.local_elements: dict[QName, Node] = {}
        self._ambiguous: set[QName] = set()
        self._load(self.root_xsd)

    def _locate(self, importer: pathlib.Path, location: str) -> pathlib.Path:
        """An imported file; ISO-20 and DIN import xmldsig from their own folder, where the
        package does not ship it, so fall back to the schema root as EXIficient's shim does."""
        beside = (importer.parent / location).resolve()
        return beside if beside.exists() else self._schema_root / pathlib.Path(location).name

    def _load(self, path: pathlib.Path) -> None:
        if path in self.files:
            return
        prefixes: dict[str, str] = {}
        for _event, (prefix, uri) in ET.iterparse(path, events=["start-ns"]):
            prefixes.setdefault(prefix, uri)
        root = ET.parse(path).getroot()
        file = SchemaFile(
            path=path,
            target_namespace=root.get("targetNamespace", ""),
            elements_qualified=root.get("elementFormDefault") == "qualified",
            # ISO-2 and ISO-20 qualify even their local attributes (Id is `ns:Id`).
            attributes_qualified=root.get("attributeFormDefault") == "qualified",
            prefixes=prefixes,
        )
        self.files[path] = file
        tables = {
            xs("element"): self.elements,
            xs("complexType"): self.types,
            xs("simpleType"): self.types,
            xs("group"): self.groups,
            xs("attributeGroup"): self.attribute_groups,
            xs("attribute"): self.attributes,
        }
        self._collect_locals(file, root)
        for definition in root:
            table = tables.get(definition.tag)
            if table is not None:
                table[(file.target_namespace, definition.get("name", ""))] = Node(file, definition)
            elif definition.tag in (xs("import"), xs("include")):
                location = definition.get("schemaLocation")
                if location:
                    self._load(self._locate(path, location))

    def _collect_locals(self, file: SchemaFile, root: ET.Element) -> None:
        for definition in root:
            for element in definition.iter(xs("element")):
                name, type_name = element.get("name"), element.get("type")
                if name is None or element is definition:
                    continue
                namespace = file.target_namespace if file.elements_qualified else ""
                if element.get("form"):
                    namespace = file.target_namespace if element.get("form") == "qualified" else ""
                qname = (namespace, name)
                known = self.local_elements.get(qname)
                if type_name is None or qname in self._ambiguous:
                    self._ambiguous.add(qname)
                    self.local_elements.pop(qname, None)
                elif known is None:
                    self.local_elements[qname] = Node(file, element)
                elif known.ref("type") != file.resolve(type_name):
                    self._ambiguous.add(qname)
                    del self.local_elements[qname]

    def local_elements_of(self, path: pathlib.Path) -> list[QName]:
        """Unambiguous local elements declared in one file and not also declared globally."""
        resolved = path.resolve()
        return [
            name
            for name, node in self.local_elements.items()
            if node.file.path == resolved and name not in self.elements
        ]

    def global_elements_of(self, path: pathlib.Path) -> list[QName]:
        """Non-abstract global elements declared in one file, in file order."""
        resolved = path.resolve()
        return [
            name
            for name, node in self.elements.items()
            if node.file.path == resolved and not self.is_abstract(name)
        ]

    def is_abstract(self, element: QName) -> bool:
        """Whether `element` can never appear itself: DIN marks only its type abstract."""
        node = self.elements[element]
        type_name = node.ref("type")
        type_node = self.types.get(type_name) if type_name else None
        return node.get("abstract") == "true" or (
            type_node is not None and type_node.get("abstract") == "true"
        )

    def substitutes(self, head: QName) -> list[QName]:
        """Non-abstract members of `head`'s substitution group, transitively, in file order."""
        found: list[QName] = []
        for name, node in self.elements.items():
            if node.ref("substitutionGroup") == head:
                if not self.is_abstract(name):
                    found.append(name)
                found.extend(self.substitutes(name))
        return found
