"""A module in a project of its own: `ev-codegen new-module NAME --out DIR`.

The project installs next to evstack and declares its module in the entry-point group
`evstack.modules`; its folder `DIR/NAME/` is also a module search path entry as it is
(`ev-manager run --modules DIR`), so the same layout serves both:

    DIR/pyproject.toml         the distribution and its entry point
    DIR/NAME/manifest.yaml     the module's manifest
    DIR/NAME/generated.py      its base class, written by ev-codegen (never edit)
    DIR/NAME/module.py         the hand-written class
    DIR/tests/test_<name>.py   a first test

Its generated base imports evstack's interfaces and types from `evstack.generated`.
Bindings for interfaces a project defines itself are not generated yet: such a module's
manifest loads and its config is checked, but ev-codegen refuses to write its base and
says so (GenerationError).
"""

from __future__ import annotations

from pathlib import Path

from evstack.codegen.naming import module_file_name
from evstack.codegen.render import GenerationError, render_module
from evstack.codegen.scaffold import (
    Provide,
    Require,
    ScaffoldError,
    check_request,
    module_code,
    module_manifest,
)
from evstack.manifest import ManifestTree, load_tree
from evstack.manifest.locate import evstack_sources, search_path_modules

__all__ = ["BINDINGS", "project_bindings", "write_project"]

BINDINGS = "generated.py"

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "The {name} module for evstack."
requires-python = ">=3.11"
dependencies = ["evstack"]

# How ev-manager finds the module once this project is installed.
[project.entry-points."evstack.modules"]
{name} = "{name}.module:{name}"

[tool.setuptools]
packages = ["{name}"]

[tool.setuptools.package-data]
{name} = ["manifest.yaml", "interfaces/*.yaml", "types/*.yaml", "errors/*.yaml", "py.typed"]

[tool.pytest.ini_options]
pythonpath = ["."]
asyncio_mode = "auto"
"""


def load_with_project(folder: Path) -> ManifestTree:
    """evstack's tree plus the modules (and their own definitions) under `folder`."""
    return load_tree(evstack_sources() + search_path_modules([folder]))


def project_bindings(tree: ManifestTree, folder: Path) -> dict[Path, str]:
    """`<Name>/generated.py` for each module of `tree` under `folder`, with its text."""
    folder = folder.resolve()
    evstack_interfaces = load_tree(evstack_sources()).interfaces
    files = {}
    for module in tree.modules.values():
        if not module.path.is_relative_to(folder):
            continue
        used = [p.interface for p in module.provides.values()]
        used += [r.interface for r in module.requires.values()]
        own = sorted({name for name in used if name not in evstack_interfaces})
        if own:
            raise GenerationError(
                f"{module.path}: bindings for the project's own interfaces ({', '.join(own)}) "
                "are not generated yet; only evstack's interfaces can be used from a project"
            )
        text = render_module(tree, module, package="evstack.generated")
        files[module.path.parent / BINDINGS] = text
    return files


def write_project(
    tree: ManifestTree, name: str, provides: list[Provide], requires: list[Require], out: Path
) -> list[Path]:
    """Write the project for module `name` into `out`; returns the files written.

    Never overwrites a file: if any exists, nothing is written.
    """
    check_request(tree, name, provides, requires)
    file_name = module_file_name(name)
    package = out / name
    targets = {
        "pyproject": out / "pyproject.toml",
        "manifest": package / "manifest.yaml",
        "init": package / "__init__.py",
        "typed": package / "py.typed",
        "module": package / "module.py",
        "test": out / "tests" / f"test_{file_name}.py",
    }
    existing = [path for path in [*targets.values(), package / BINDINGS] if path.exists()]
    if existing:
        listed = ", ".join(str(p) for p in existing)
        raise ScaffoldError(f"will not overwrite existing files: {listed}")
    texts = {
        "pyproject": _PYPROJECT.format(
            name=name, distribution="evstack-" + file_name.replace("_", "-")
        ),
        "manifest": module_manifest(name, provides, requires),
        "init": f'"""The {name} module for evstack; the class lives in `module.py`."""\n',
        "typed": "",
        **module_code(
            tree,
            name,
            provides,
            requires,
            bindings=f"{name}.generated",
            class_module=f"{name}.module",
        ),
    }
    for key, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[key])
    bindings = project_bindings(load_with_project(out), out)
    for path, text in bindings.items():
        path.write_text(text)
    return [*targets.values(), *bindings]
