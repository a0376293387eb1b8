"""Where the manifests are: the one answer `ev-manager` and `ev-codegen` both use.

evstack's own interfaces, types and errors are package data (`evstack/data/` in a wheel,
the checkout's top-level folders in a source tree), its modules are the `evstack.modules`
package, and modules from elsewhere come from two places, as in EVerest:

- an installed distribution that names its module classes in the entry-point group
  `evstack.modules` (`MyMeter = "acme_meter.module:MyMeter"`): the manifest is the
  `manifest.yaml` beside the file that defines the class;
- a module search path (`ev-manager run --modules DIR`): `DIR/<Name>/manifest.yaml` and
  `DIR/<Name>/module.py`, imported as the top-level package `<Name>`.

Either may bring its own `interfaces/`, `types/` and `errors/` folders beside its
manifest; they join evstack's.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

__all__ = [
    "ENTRY_POINT_GROUP",
    "ModuleSource",
    "TreeSources",
    "entry_point_modules",
    "evstack_sources",
    "find_sources",
    "search_path_modules",
]

ENTRY_POINT_GROUP = "evstack.modules"
_DEFINITION_FOLDERS = ("interfaces", "types", "errors")


@dataclass(frozen=True, slots=True)
class ModuleSource:
    """One module: its manifest and the import path of its class (`package.module:Class`)."""

    name: str
    manifest: Path
    class_path: str


@dataclass(frozen=True, slots=True)
class TreeSources:
    """Everything a manifest tree is loaded from.

    `roots` are folders holding any of interfaces/, types/ and errors/ (the first is the
    tree's root, which paths in messages and docs are relative to); `modules` are the
    module manifests, each with its class.
    """

    roots: tuple[Path, ...]
    modules: tuple[ModuleSource, ...]

    def __add__(self, other: TreeSources) -> TreeSources:
        return TreeSources((*self.roots, *other.roots), (*self.modules, *other.modules))


def _evstack_root() -> Path:
    """evstack's definitions: packaged in a wheel, beside the package in a checkout.

    A wheel carries them as `evstack/data/` (setup.py's build step copies them there);
    a source tree or an editable install keeps them where developers edit them.
    """
    packaged = resources.files("evstack") / "data"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(str(resources.files("evstack"))).resolve().parent


def evstack_sources() -> TreeSources:
    """evstack's own tree: its interfaces, types, errors and the `evstack.modules` package."""
    modules_dir = Path(str(resources.files("evstack.modules"))).resolve()
    modules = tuple(
        ModuleSource(
            path.parent.name, path, f"evstack.modules.{path.parent.name}.module:{path.parent.name}"
        )
        for path in sorted(modules_dir.glob("*/manifest.yaml"))
    )
    return TreeSources((_evstack_root(),), modules)


def search_path_modules(folders: Iterable[Path]) -> TreeSources:
    """Modules under `folders` (`<Name>/manifest.yaml`), each folder an import root."""
    roots: list[Path] = []
    modules: list[ModuleSource] = []
    for folder in folders:
        for manifest in sorted(folder.resolve().glob("*/manifest.yaml")):
            name = manifest.parent.name
            modules.append(ModuleSource(name, manifest, f"{name}.module:{name}"))
            roots.extend(_own_definitions(manifest.parent))
    return TreeSources(tuple(roots), tuple(modules))


def entry_point_modules() -> TreeSources:
    """Modules that installed distributions declare in the `evstack.modules` group.

    Finding a class's file imports its package's `__init__` but not the class's module,
    so a broken module cannot stop the others from being listed.
    """
    roots: list[Path] = []
    modules: list[ModuleSource] = []
    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        spec = importlib.util.find_spec(entry.module)
        if spec is None or spec.origin is None:
            continue  # reported as an unknown module if a config uses it
        folder = Path(spec.origin).parent
        modules.append(ModuleSource(entry.name, folder / "manifest.yaml", entry.value))
        roots.extend(_own_definitions(folder))
    return TreeSources(tuple(roots), tuple(modules))


def _own_definitions(folder: Path) -> list[Path]:
    """`folder` as a root when it brings interfaces, types or errors of its own."""
    return [folder] if any((folder / name).is_dir() for name in _DEFINITION_FOLDERS) else []


def find_sources(module_dirs: Sequence[Path] = ()) -> TreeSources:
    """evstack's tree, then installed modules, then the search path's."""
    return evstack_sources() + entry_point_modules() + search_path_modules(module_dirs)
