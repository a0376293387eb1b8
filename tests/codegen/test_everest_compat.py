"""Compatibility with EVerest: everest-core's whole manifest tree loads and generates
unchanged, the generated code imports, type-checks and builds its decoders, and its SIL
configs validate against its manifests.

The tree is read at run time from the everest-core mirror; nothing of it is committed.
"""

from __future__ import annotations

import importlib
import inspect
import io
import os
import pkgutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from evstack.codegen.output import write
from evstack.codegen.render import render_tree
from evstack.manifest import ManifestTree, load_runtime_config, load_tree

# A git directory of everest-core: $EVEREST_CORE_GIT, or the workplace's mirror beside the checkout.
MIRROR = Path(
    os.environ.get(
        "EVEREST_CORE_GIT",
        Path(__file__).resolve().parents[2] / ".." / ".mirror" / "EVerest+everest-core" / "repo",
    )
)
FOLDERS = ("interfaces", "types", "errors", "modules", "config")

pytestmark = pytest.mark.skipif(
    not MIRROR.is_dir(),
    reason=(
        f"needs a git directory of everest-core (not in the repository: its manifests are"
        f" EVerest's), none at {MIRROR}; set EVEREST_CORE_GIT to run the compatibility suite"
    ),
)


@pytest.fixture(scope="module")
def everest_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("everest-core")
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(MIRROR),
            "archive",
            "HEAD",
            "interfaces",
            "types",
            "errors",
            "modules",
            "config",
        ],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root


@pytest.fixture(scope="module")
def everest_tree(everest_root: Path) -> ManifestTree:
    return load_tree(everest_root)


@pytest.fixture(scope="module")
def generated(everest_root: Path, everest_tree: ManifestTree) -> Iterator[str]:
    package = "everest_generated"
    write(render_tree(everest_tree), everest_root / "py" / package)
    sys.path.insert(0, str(everest_root / "py"))
    try:
        yield package
    finally:
        sys.path.remove(str(everest_root / "py"))
        for name in [n for n in sys.modules if n.startswith(package)]:
            del sys.modules[name]


def test_every_manifest_loads(everest_root: Path, everest_tree: ManifestTree) -> None:
    on_disk = {
        "interfaces": len(list((everest_root / "interfaces").glob("*.yaml"))),
        "types": len(list((everest_root / "types").glob("*.yaml"))),
        "errors": len(list((everest_root / "errors").glob("*.yaml"))),
        "modules": len(list((everest_root / "modules").rglob("manifest.yaml"))),
    }
    loaded = {
        "interfaces": len(everest_tree.interfaces),
        "types": len(everest_tree.types),
        "errors": len(everest_tree.errors),
        "modules": len(everest_tree.modules),
    }
    assert loaded == on_disk
    # The corpus as of the reference notes; more files later must load too.
    assert loaded["interfaces"] >= 50
    assert loaded["types"] >= 30
    assert loaded["errors"] >= 11
    assert loaded["modules"] >= 112


def test_every_generated_module_imports_and_builds_decoders(
    everest_tree: ManifestTree, generated: str
) -> None:
    imported = 0
    decoders = 0
    for sub in ("types", "errors", "interfaces", "modules"):
        package = importlib.import_module(f"{generated}.{sub}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{generated}.{sub}.{info.name}")
            imported += 1
            for value in vars(module).values():
                if not (inspect.isclass(value) and value.__module__ == module.__name__):
                    continue
                types: list[object] = []
                if issubclass(value, msgspec.Struct):
                    types.append(value)
                for spec in getattr(value, "COMMANDS", {}).values():
                    types += [spec.args, spec.result]
                types += [spec.type for spec in getattr(value, "VARS", {}).values()]
                for kind in types:
                    msgspec.json.Decoder(kind)  # resolves every annotation
                    decoders += 1
    expected = sum(len(m) for m in (everest_tree.types, everest_tree.errors))
    expected += len(everest_tree.interfaces) + len(everest_tree.modules)
    assert imported == expected
    assert decoders > 1000


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_generated_code_passes_mypy_strict(everest_root: Path, generated: str) -> None:
    mypy = Path(sys.executable).parent / "mypy"
    project = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [mypy, "--strict", "--no-incremental", "-p", generated],
        cwd=everest_root / "py",
        env={"MYPYPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_sil_configs_validate(everest_root: Path, everest_tree: ManifestTree) -> None:
    configs = sorted((everest_root / "config").glob("config-sil*.yaml"))
    assert configs
    for path in configs:
        config = load_runtime_config(path, everest_tree)
        assert config.modules
