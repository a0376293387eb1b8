"""Load and check a whole manifest tree: interfaces, types, errors and module manifests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evstack.manifest.locate import ModuleSource, TreeSources, find_sources
from evstack.manifest.model import (
    Command,
    ConfigItem,
    ErrorDefinition,
    ErrorFile,
    ErrorRef,
    Interface,
    ManifestTree,
    ModuleManifest,
    Provided,
    Requirement,
    TypeFile,
    Var,
    parse_type_ref,
)
from evstack.manifest.problems import ManifestError, Problem, YamlPath, did_you_mean
from evstack.manifest.schema_check import check_against_schema, check_json_schema, check_value
from evstack.manifest.source import Document, load_document

__all__ = ["load_project_tree", "load_tree", "sources_under"]


def load_project_tree(module_dirs: Sequence[Path] = ()) -> ManifestTree:
    """evstack's own tree, installed modules' and those under `module_dirs` (locate.py)."""
    return load_tree(find_sources(module_dirs))


def load_tree(root: Path | TreeSources) -> ManifestTree:
    """Load a tree: the folders `sources` name, or `interfaces/`, `types/`, `errors/` and
    `modules/**/manifest.yaml` under one folder `root`.

    Raises ManifestError listing every problem found in any file. A folder that does not
    exist counts as empty, so a tree may hold only modules, or only interfaces.
    """
    return _TreeLoader(sources_under(root) if isinstance(root, Path) else root).load()


def sources_under(root: Path) -> TreeSources:
    """A tree laid out as evstack's checkout (or EVerest's): modules nested at any depth.

    Their classes are looked for in `evstack.modules`, as evstack's own are.
    """
    modules_dir = root / "modules"
    manifests = sorted(modules_dir.rglob("manifest.yaml")) if modules_dir.is_dir() else []
    return TreeSources(
        (root,),
        tuple(
            ModuleSource(
                p.parent.name, p, f"evstack.modules.{p.parent.name}.module:{p.parent.name}"
            )
            for p in manifests
        ),
    )


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _value_schemas(data: Mapping[str, Any], kind: str) -> Iterator[tuple[YamlPath, Any]]:
    """The JSON schemas of values that a manifest of `kind` declares, with their paths."""
    if kind == "types":
        for name, schema in data.get("types", {}).items():
            yield ("types", name), schema
    elif kind == "interface":
        for cmd_name, cmd in data.get("cmds", {}).items():
            for arg_name, schema in cmd.get("arguments", {}).items():
                yield ("cmds", cmd_name, "arguments", arg_name), schema
            if "result" in cmd:
                yield ("cmds", cmd_name, "result"), cmd["result"]
        for var_name, schema in data.get("vars", {}).items():
            yield ("vars", var_name), schema
    elif kind == "module":
        yield from _config_items(data)


def _walk_schema(schema: Any, path: YamlPath) -> Iterator[tuple[YamlPath, dict[str, Any]]]:
    """Every sub-schema (mapping) inside a JSON schema, with its YAML path."""
    if isinstance(schema, dict):
        yield path, schema
        for key, value in schema.items():
            if key in ("enum", "const", "default", "examples", "description"):
                continue
            yield from _walk_schema(value, (*path, str(key)))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _walk_schema(item, (*path, index))


class _TreeLoader:
    def __init__(self, sources: TreeSources) -> None:
        self.sources = sources
        self.problems: list[Problem] = []
        self.types: dict[str, TypeFile] = {}
        self.errors: dict[str, ErrorFile] = {}
        self.interfaces: dict[str, Interface] = {}
        self.modules: dict[str, ModuleManifest] = {}
        # Kept for locating problems found after parsing (refs, cycles, wiring).
        self.documents: dict[Path, Document] = {}

    def load(self) -> ManifestTree:
        roots = self.sources.roots
        for path in (p for root in roots for p in _yaml_files(root / "errors")):
            self._load_error_file(path)
        for path in (p for root in roots for p in _yaml_files(root / "types")):
            self._load_type_file(path)
        for path in (p for root in roots for p in _yaml_files(root / "interfaces")):
            self._load_interface(path)
        for module in self.sources.modules:
            self._load_module(module)
        self._check_type_refs()
        self._check_type_cycles()
        self._check_module_interfaces()
        if self.problems:
            raise ManifestError(self.problems)
        return ManifestTree(
            root=roots[0],
            roots=roots,
            interfaces=dict(sorted(self.interfaces.items())),
            types=dict(sorted(self.types.items())),
            errors=dict(sorted(self.errors.items())),
            modules=dict(sorted(self.modules.items())),
        )

    def _duplicate(self, loaded: Mapping[str, Any], kind: str, path: Path) -> bool:
        """Two roots (evstack's and a module's own) may not define the same name."""
        if path.stem not in loaded:
            return False
        other = loaded[path.stem].path
        self.problems.append(
            Problem(
                path,
                None,
                None,
                "<document>",
                f"duplicate {kind} {path.stem!r}",
                f"also defined by {other}",
            )
        )
        return True

    def _parse(self, path: Path, schema_name: str) -> Document | None:
        document = load_document(path, self.problems)
        if document is None:
            return None
        self.documents[path] = document
        faults = check_against_schema(document, schema_name)
        if not faults:
            for where, schema in _value_schemas(document.data, schema_name):
                faults.extend(check_json_schema(document, where, schema))
        if faults:
            self.problems.extend(faults)
            return None
        return document

    def _load_error_file(self, path: Path) -> None:
        if self._duplicate(self.errors, "error file", path):
            return
        document = self._parse(path, "errors")
        if document is None:
            return
        seen: dict[str, int] = {}
        definitions = []
        for index, entry in enumerate(document.data.get("errors", [])):
            name = entry["name"]
            if name in seen:
                self.problems.append(
                    document.problem(
                        ("errors", index, "name"),
                        f"duplicate error name {name!r}",
                        f"already declared at errors[{seen[name]}]",
                    )
                )
                continue
            seen[name] = index
            definitions.append(ErrorDefinition(name, entry["description"]))
        self.errors[path.stem] = ErrorFile(
            path.stem, path, document.data["description"], tuple(definitions)
        )

    def _load_type_file(self, path: Path) -> None:
        if self._duplicate(self.types, "type file", path):
            return
        document = self._parse(path, "types")
        if document is None:
            return
        self.types[path.stem] = TypeFile(
            path.stem, path, document.data["description"], document.data.get("types", {})
        )

    def _load_interface(self, path: Path) -> None:
        if self._duplicate(self.interfaces, "interface", path):
            return
        document = self._parse(path, "interface")
        if document is None:
            return
        data = document.data
        cmds = {
            name: Command(
                name=name,
                description=cmd["description"],
                arguments=cmd.get("arguments", {}),
                result=None if _is_null(cmd.get("result")) else cmd["result"],
            )
            for name, cmd in data.get("cmds", {}).items()
        }
        variables = {
            name: Var(name, var["description"], var, var.get("qos"))
            for name, var in data.get("vars", {}).items()
        }
        errors: dict[str, ErrorRef] = {}
        references = []
        for index, entry in enumerate(data.get("errors", [])):
            reference = entry["reference"]
            references.append(reference)
            for ref in self._resolve_error_reference(
                document, ("errors", index, "reference"), reference
            ):
                errors.setdefault(ref.type, ref)
        self.interfaces[path.stem] = Interface(
            name=path.stem,
            path=path,
            description=data["description"],
            cmds=cmds,
            vars=variables,
            errors=tuple(errors.values()),
            error_references=tuple(references),
        )

    def _resolve_error_reference(
        self, document: Document, where: YamlPath, reference: str
    ) -> list[ErrorRef]:
        file_name, _, error_name = reference.removeprefix("/errors/").partition("#/")
        error_file = self.errors.get(file_name)
        if error_file is None:
            self.problems.append(
                document.problem(
                    where, f"unknown error file {file_name!r}", did_you_mean(file_name, self.errors)
                )
            )
            return []
        declared = {d.name: d for d in error_file.errors}
        if not error_name:
            return [ErrorRef(file_name, d.name, d.description) for d in error_file.errors]
        if error_name not in declared:
            self.problems.append(
                document.problem(
                    where,
                    f"error file {file_name!r} declares no error {error_name!r}",
                    did_you_mean(error_name, declared),
                )
            )
            return []
        return [ErrorRef(file_name, error_name, declared[error_name].description)]

    def _load_module(self, source: ModuleSource) -> None:
        path = source.manifest
        if not path.is_file():
            self.problems.append(
                Problem(path, None, None, "<document>", f"module {source.name!r} has no manifest")
            )
            return
        document = self._parse(path, "module")
        if document is None:
            return
        name = source.name
        if name in self.modules:
            self.problems.append(
                document.problem(
                    (),
                    f"duplicate module name {name!r}",
                    f"also defined by {self.modules[name].path}",
                )
            )
            return
        data = document.data
        provides = {
            impl_id: Provided(
                impl_id=impl_id,
                interface=impl["interface"],
                description=impl["description"],
                config=_config_set(impl.get("config", {})),
            )
            for impl_id, impl in data.get("provides", {}).items()
        }
        requires = {}
        for req_id, req in data.get("requires", {}).items():
            requirement = Requirement(
                req_id=req_id,
                interface=req["interface"],
                min_connections=req.get("min_connections", 1),
                max_connections=req.get("max_connections", 1),
            )
            if requirement.min_connections > requirement.max_connections:
                self.problems.append(
                    document.problem(
                        ("requires", req_id),
                        f"min_connections ({requirement.min_connections}) is greater than "
                        f"max_connections ({requirement.max_connections})",
                    )
                )
            requires[req_id] = requirement
        for item_path, item in _config_items(data):
            if "default" in item:
                self._check_config_default(document, item_path, item)
        self.modules[name] = ModuleManifest(
            name=name,
            path=path,
            description=data["description"],
            config=_config_set(data.get("config", {})),
            provides=provides,
            requires=requires,
            metadata=data["metadata"],
            enable_global_errors=bool(data.get("enable_global_errors", False)),
            class_path=source.class_path,
        )

    def _check_config_default(
        self, document: Document, path: YamlPath, item: Mapping[str, Any]
    ) -> None:
        schema = {k: v for k, v in item.items() if k not in ("default", "description")}
        for fault in check_value(document, (*path, "default"), item["default"], schema):
            self.problems.append(fault)

    def _check_type_refs(self) -> None:
        """Every `$ref` in a type file or interface must name an existing type."""
        for path, document in self.documents.items():
            for where, schema in _walk_schema(document.data, ()):
                ref = schema.get("$ref")
                if not isinstance(ref, str) or path.parent.name not in ("types", "interfaces"):
                    continue
                self._check_one_ref(document, (*where, "$ref"), ref)

    def _check_one_ref(self, document: Document, where: YamlPath, ref: str) -> None:
        try:
            file_name, type_name = parse_type_ref(ref)
        except ValueError as exc:
            self.problems.append(document.problem(where, str(exc)))
            return
        type_file = self.types.get(file_name)
        if type_file is None:
            self.problems.append(
                document.problem(
                    where,
                    f"unknown type file {file_name!r} in $ref {ref!r}",
                    did_you_mean(file_name, self.types),
                )
            )
        elif type_name not in type_file.types:
            self.problems.append(
                document.problem(
                    where,
                    f"type file {file_name!r} has no type {type_name!r} ($ref {ref!r})",
                    did_you_mean(type_name, type_file.types),
                )
            )

    def _check_type_cycles(self) -> None:
        """A type that must contain itself, directly or through others, can have no value.

        Recursion through an array or an optional property is fine (a tree of energy
        nodes ends in nodes without children); a chain of plain `$ref`s or required
        properties that comes back to its start is a mistake.
        """
        edges: dict[tuple[str, str], list[tuple[tuple[str, str], YamlPath]]] = {}
        for file_name, type_file in self.types.items():
            for type_name, schema in type_file.types.items():
                targets = []
                for where, ref in _unavoidable_refs(schema, ("types", type_name)):
                    try:
                        target = parse_type_ref(ref)
                    except ValueError:
                        continue  # reported by _check_type_refs
                    if target[0] in self.types and target[1] in self.types[target[0]].types:
                        targets.append((target, where))
                edges[(file_name, type_name)] = targets
        state: dict[tuple[str, str], int] = {}  # 1: on the current path, 2: done
        stack: list[tuple[str, str]] = []

        def visit(node: tuple[str, str]) -> None:
            state[node] = 1
            stack.append(node)
            for target, where in edges.get(node, []):
                if state.get(target) == 1:
                    cycle = [*stack[stack.index(target) :], target]
                    chain = " -> ".join(f"/{f}#/{n}" for f, n in cycle)
                    document = self.documents[self.types[node[0]].path]
                    self.problems.append(
                        document.problem(
                            where,
                            f"type reference cycle: {chain}",
                            "a type cannot contain itself; break the cycle with a plain object",
                        )
                    )
                elif target not in state:
                    visit(target)
            stack.pop()
            state[node] = 2

        for node in sorted(edges):
            if node not in state:
                visit(node)

    def _check_module_interfaces(self) -> None:
        for module in self.modules.values():
            document = self.documents[module.path]
            for section, entries in (("provides", module.provides), ("requires", module.requires)):
                for entry_id, entry in entries.items():
                    if entry.interface not in self.interfaces:
                        self.problems.append(
                            document.problem(
                                (section, entry_id, "interface"),
                                f"unknown interface {entry.interface!r}",
                                did_you_mean(entry.interface, self.interfaces),
                            )
                        )


def _unavoidable_refs(schema: Any, path: YamlPath) -> Iterator[tuple[YamlPath, str]]:
    """The `$ref`s every value of `schema` must contain: not behind arrays or optional keys."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        yield (*path, "$ref"), ref
    required = schema.get("required", [])
    for name, sub in (schema.get("properties") or {}).items():
        if name in required:
            yield from _unavoidable_refs(sub, (*path, "properties", name))


def _is_null(schema: Any) -> bool:
    return schema is None or (isinstance(schema, dict) and schema.get("type") == "null")


def _config_set(items: Mapping[str, Mapping[str, Any]]) -> dict[str, ConfigItem]:
    return {name: ConfigItem(name, item["description"], dict(item)) for name, item in items.items()}


def _config_items(data: Mapping[str, Any]) -> Iterator[tuple[YamlPath, Mapping[str, Any]]]:
    for name, item in data.get("config", {}).items():
        yield ("config", name), item
    for impl_id, impl in data.get("provides", {}).items():
        for name, item in impl.get("config", {}).items():
            yield ("provides", impl_id, "config", name), item
