"""`ev-codegen new-module`: a working skeleton for a new module.

It writes the manifest, a module class whose handlers raise NotImplementedError with a
clear message, and a test; it never overwrites a file, and it regenerates the bindings
so the skeleton imports at once.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evstack.codegen.naming import camel, identifier, module_file_name
from evstack.codegen.pysource import ImportBlock
from evstack.codegen.render import (
    InterfaceApi,
    interface_api,
    module_class_names,
    template_environment,
)
from evstack.manifest import ManifestTree
from evstack.manifest.problems import did_you_mean

__all__ = [
    "Provide",
    "Require",
    "ScaffoldError",
    "check_request",
    "module_code",
    "module_manifest",
    "parse_provide",
    "parse_require",
    "scaffold",
]

GENERATED_PACKAGE = "evstack.generated"
_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_ID = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class ScaffoldError(Exception):
    """The request cannot be fulfilled; nothing was written."""


@dataclass(frozen=True, slots=True)
class Provide:
    impl_id: str
    interface: str


@dataclass(frozen=True, slots=True)
class Require:
    req_id: str
    interface: str
    min_connections: int = 1
    max_connections: int = 1


def parse_provide(text: str) -> Provide:
    """`impl:interface`."""
    impl_id, sep, interface = text.partition(":")
    if not sep or not _ID.match(impl_id) or not interface:
        raise ScaffoldError(f"--provides takes impl_id:interface, not {text!r}")
    return Provide(impl_id, interface)


def parse_require(text: str) -> Require:
    """`req:interface[:min[:max]]`; max defaults to min when min is at least 1."""
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 4 or not _ID.match(parts[0]) or not parts[1]:
        raise ScaffoldError(f"--requires takes req_id:interface[:min[:max]], not {text!r}")
    try:
        low = int(parts[2]) if len(parts) > 2 else 1
        high = int(parts[3]) if len(parts) > 3 else max(low, 1)
    except ValueError:
        raise ScaffoldError(f"min and max in {text!r} must be whole numbers") from None
    if low < 0 or high < 1 or low > high:
        raise ScaffoldError(f"{text!r}: need 0 <= min <= max and max >= 1")
    return Require(parts[0], parts[1], low, high)


@dataclass(frozen=True, slots=True)
class _ProvideView:
    impl_id: str
    interface: str
    impl_class: str
    config_class: str
    factory: str
    api: InterfaceApi


def check_request(
    tree: ManifestTree, name: str, provides: list[Provide], requires: list[Require]
) -> None:
    """Raise ScaffoldError unless a module `name` with these interfaces can be written."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"module name {name!r}: use CamelCase letters and digits, like EvseManager"
        )
    if name in tree.modules:
        raise ScaffoldError(f"module {name!r} exists already ({tree.modules[name].path})")
    for interface in [p.interface for p in provides] + [r.interface for r in requires]:
        if interface not in tree.interfaces:
            hint = did_you_mean(interface, tree.interfaces)
            raise ScaffoldError(f"unknown interface {interface!r} ({hint})")
    ids = [p.impl_id for p in provides] + [r.req_id for r in requires]
    if len(set(ids)) != len(ids):
        raise ScaffoldError("implementation and requirement ids must all differ")


def scaffold(
    tree: ManifestTree,
    name: str,
    provides: list[Provide],
    requires: list[Require],
    *,
    tests_dir: Path,
) -> list[Path]:
    """Write the skeleton of module `name` into `tree.root`; returns the files written."""
    check_request(tree, name, provides, requires)
    folder = tree.root / "modules" / name
    file_name = module_file_name(name)
    targets = {
        "manifest": folder / "manifest.yaml",
        "init": folder / "__init__.py",
        "module": folder / "module.py",
        "test": tests_dir / f"test_{file_name}.py",
    }
    existing = [path for path in targets.values() if path.exists()]
    if existing:
        listed = ", ".join(str(p) for p in existing)
        raise ScaffoldError(f"will not overwrite existing files: {listed}")
    texts = {
        "manifest": module_manifest(name, provides, requires),
        "init": f'"""The {name} module; the class lives in `module.py`."""\n',
        **module_code(
            tree,
            name,
            provides,
            requires,
            bindings=f"{GENERATED_PACKAGE}.modules.{file_name}",
            class_module=f"evstack.modules.{name}.module",
        ),
    }
    for key, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[key])
    return list(targets.values())


def module_manifest(name: str, provides: list[Provide], requires: list[Require]) -> str:
    lines = [f"description: The {name} module (describe what it does and why)."]
    if provides:
        lines.append("provides:")
        for p in provides:
            lines += [
                f"  {p.impl_id}:",
                f"    description: Implements {p.interface} (say how).",
                f"    interface: {p.interface}",
            ]
    if requires:
        lines.append("requires:")
        for r in requires:
            lines += [f"  {r.req_id}:", f"    interface: {r.interface}"]
            if (r.min_connections, r.max_connections) != (1, 1):
                lines += [
                    f"    min_connections: {r.min_connections}",
                    f"    max_connections: {r.max_connections}",
                ]
    lines += [
        "metadata:",
        "  license: https://opensource.org/licenses/Apache-2.0",
        "  authors:",
        "    - evstack contributors",
    ]
    return "\n".join(lines) + "\n"


def module_code(
    tree: ManifestTree,
    name: str,
    provides: list[Provide],
    requires: list[Require],
    *,
    bindings: str,
    class_module: str,
) -> dict[str, str]:
    """module.py and its test; `bindings` is the generated module base's Python module,
    `class_module` the one the skeleton becomes."""
    base_class, _ = module_class_names(name)
    module_path = bindings
    imports = ImportBlock()
    imports.names("future", "__future__", "annotations")
    imports.names("first", module_path, base_class)
    views = []
    for p in provides:
        api = interface_api(
            tree,
            tree.interfaces[p.interface],
            f"{GENERATED_PACKAGE}.types",
            constraints=False,
        )
        config_class = f"{camel(name)}{camel(p.impl_id)}Config"
        imports.names("first", module_path, config_class)
        interface_module = f"{GENERATED_PACKAGE}.interfaces.{identifier(p.interface)}"
        imports.names("first", interface_module, api.impl_class)
        used = " ".join(" ".join(_params(c)) + f" {c.result}" for c in api.commands)
        used += " " + " ".join(c.result for c in api.commands)
        for struct in api.scope.structs:
            if re.search(rf"\b{struct}\b", used):
                imports.names("first", interface_module, struct)
        for type_file in sorted(api.scope.imported_type_files):
            if not re.search(rf"\b{api.scope.type_file_alias(type_file)}\.", used):
                continue  # named by the interface's vars only
            imports.aliased(
                f"{GENERATED_PACKAGE}.types",
                identifier(type_file),
                api.scope.type_file_alias(type_file),
            )
        if "Any" in used:
            imports.names("stdlib", "typing", "Any")
        if "Literal" in used:
            imports.names("stdlib", "typing", "Literal")
        views.append(
            _ProvideView(
                impl_id=p.impl_id,
                interface=p.interface,
                impl_class=f"{camel(p.impl_id)}Impl",
                config_class=config_class,
                factory=f"create_{identifier(p.impl_id)}",
                api=api,
            )
        )
    description = (
        f"Written by `ev-codegen new-module`: {len(provides)} implementation(s), "
        f"{len(requires)} requirement(s). Say here what it does and why."
    )
    environment = template_environment()
    environment.filters["ident"] = identifier
    environment.globals["stub"] = _stub
    environment.globals["signature"] = _signature
    environment.globals["params"] = _params
    module_text = environment.get_template("module_skeleton.py.j2").render(
        name=name,
        description=description,
        imports=imports.render(),
        base_class=base_class,
        provides=views,
    )
    test_imports = ImportBlock()
    test_imports.names("future", "__future__", "annotations")
    test_imports.names("first", module_path, base_class)
    for v in views:
        test_imports.names(
            "first", f"{GENERATED_PACKAGE}.interfaces.{identifier(v.interface)}", v.api.impl_class
        )
    test_imports.names("first", class_module, name, *(v.impl_class for v in views))
    test_text = environment.get_template("module_test.py.j2").render(
        name=name,
        imports=test_imports.render(),
        base_class=base_class,
        provides=views,
    )
    return {"module": _tidy(module_text), "test": _tidy(test_text)}


# The project's line length (pyproject.toml's ruff line-length): a skeleton must pass `make lint`.
LINE_LENGTH = 100


def _signature(head: str, params: list[str], result: str) -> str:
    """`head(self, params) -> result:` at indent 4, laid out as `ruff format` lays it out.

    Names from EVerest manifests need not be snake_case (`handle_setMode`, `SoC`): such
    lines carry the noqa the project's own modules carry, one parameter a line.
    """
    name = head.split()[-1]
    def_noqa = "" if name == name.lower() else "  # noqa: N802 - the interface's name"
    mixed = any(p.split(":")[0] != p.split(":")[0].lower() for p in params)
    arguments = ", ".join(["self", *params])
    tail = f") -> {result}:"
    if not mixed and len(f"    {head}({arguments}{tail}") <= LINE_LENGTH:
        return f"    {head}({arguments}{tail}{def_noqa}"
    if not mixed and 8 + len(arguments) <= LINE_LENGTH:
        return f"    {head}({def_noqa}\n        {arguments}\n    {tail}"
    lines = [f"    {head}({def_noqa}"]
    for param in ["self", *params]:
        noqa = "  # noqa: N803" if param.split(":")[0] != param.split(":")[0].lower() else ""
        lines.append(f"        {param},{noqa}")
    return "\n".join([*lines, f"    {tail}"])


def _params(command: Any) -> list[str]:
    """The handler's parameters; an annotation too long for any layout (a Literal of many
    names) becomes Any, which the generated base's own annotation still checks callers by."""
    params = []
    for param in command.params:
        text = f"{param.attr}: {param.annotation}"
        if len(f"        {text},") > LINE_LENGTH:
            text = f"{param.attr}: Any"
        params.append(text)
    return params


def _stub(module: str, impl_id: str, handler: str, params: list[str], result: str) -> str:
    """A handler that raises until it is written."""
    body = ""
    for message in (f"{module}.{impl_id}: {handler} is not written yet", f"{handler}: to write"):
        body = f'        raise NotImplementedError("{message}")'
        if len(body) > LINE_LENGTH:
            body = f'        raise NotImplementedError(\n            "{message}"\n        )'
        if all(len(line) <= LINE_LENGTH for line in body.splitlines()):
            break
    return f"{_signature(f'async def {handler}', params, result)}\n{body}"


def _tidy(text: str) -> str:
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return textwrap.dedent(text).rstrip("\n") + "\n"
