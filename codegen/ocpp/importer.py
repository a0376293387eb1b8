"""`ev-codegen ocpp-import`: the OCA's JSON schemas -> `generated/ocpp/` and `docs/ocpp/`.

The schemas come from the PyPI package `ocpp`, which ships every version's under
`ocpp/<version>/schemas/`. They are read here only: the package is found without being
imported, nothing of it is committed, and evstack never imports it at run time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from evstack.codegen.output import Layout, Staleness, compare, write
from evstack.codegen.render import DOCS_HEADER_PREFIX, HEADER_PREFIX

from .render import docs_files, python_files, shared_python_files
from .schema import Model, SchemaImportError, VersionSpec, load

__all__ = [
    "DEFAULT_DOCS",
    "DEFAULT_OUT",
    "VERSIONS",
    "Derived",
    "SchemaImportError",
    "apply",
    "derive",
    "find_ocpp_dir",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = PROJECT_ROOT / "generated" / "ocpp"
DEFAULT_DOCS = PROJECT_ROOT / "docs" / "ocpp"
PYTHON_PACKAGE = "evstack.generated.ocpp"

# The versions evstack imports. OCPP 1.6J (`VersionSpec("v16", "OCPP 1.6J",
# request_suffix="")`) and 2.1 (`VersionSpec("v21", "OCPP 2.1")`) are other entries here.
VERSIONS: dict[str, VersionSpec] = {
    "v201": VersionSpec("v201", "OCPP 2.0.1"),
}


def find_ocpp_dir() -> Path | None:
    """The folder of the installed `ocpp` package, found without importing it."""
    spec = importlib.util.find_spec("ocpp")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True, slots=True)
class Derived:
    """What one import writes: Python files under --out, pages under --docs."""

    model: Model
    python: dict[str, str]
    docs: dict[str, str]


def derive(ocpp_dir: Path, version: VersionSpec) -> Derived:
    """Read `version`'s schemas from an `ocpp`-package-like folder and render its files."""
    schema_dir = ocpp_dir / version.folder / "schemas"
    if not schema_dir.is_dir():
        raise SchemaImportError(f"{schema_dir}: no such folder")
    model = load(schema_dir, version)
    python = {**shared_python_files(), **python_files(model)}
    docs = docs_files(model, f"{PYTHON_PACKAGE}.{version.folder}")
    return Derived(model, python, docs)


def _layouts(version: VersionSpec) -> tuple[Layout, Layout]:
    # The import owns the shared files and its version's folder; other versions' folders
    # and hand-written pages beside them are left alone.
    python = Layout(HEADER_PREFIX, ("__init__.py", "values.py", version.folder))
    docs = Layout(DOCS_HEADER_PREFIX, (version.folder,))
    return python, docs


def apply(derived: Derived, out: Path, docs: Path, *, check: bool) -> list[Staleness]:
    """Compare (check) or write the derived files; returns the differences found."""
    python_layout, docs_layout = _layouts(derived.model.version)
    action = compare if check else write
    return [
        action(derived.python, out, python_layout),
        action(derived.docs, docs, docs_layout),
    ]
