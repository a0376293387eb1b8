"""`ev-codegen new-module`: the skeleton imports, passes mypy --strict and its own test,
and nothing is ever overwritten."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from evstack.codegen.cli import main
from evstack.codegen.naming import camel, module_file_name
from evstack.codegen.scaffold import Provide, module_code
from evstack.manifest import load_tree
from evstack.manifest.locate import evstack_sources

PROJECT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's layout whose `evstack` package sees the copy's modules."""
    root = tmp_path / "proj"
    for folder in ("interfaces", "types", "errors"):
        shutil.copytree(PROJECT / folder, root / folder)
    (root / "modules").mkdir()
    shutil.copy(PROJECT / "modules/__init__.py", root / "modules/__init__.py")
    package = root / "evstack"
    package.mkdir()
    shutil.copy(PROJECT / "evstack/__init__.py", package / "__init__.py")
    (package / "py.typed").touch()
    for sub in ("runtime", "manifest", "codegen"):
        (package / sub).symlink_to(PROJECT / "evstack" / sub)
    (package / "modules").symlink_to(root / "modules")
    (package / "generated").symlink_to(root / "generated")
    return root


def new_module(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["new-module", *args, "--root", str(root), "--generated", str(root / "generated")]
    )
    return result.exit_code, result.output


@pytest.mark.timeout(180)
def test_skeleton_imports_type_checks_and_passes_its_test(project: Path) -> None:
    code, output = new_module(
        project, "Door", "--provides", "main:example", "--provides", "store:kvs",
        "--requires", "others:kvs:0:2", "--requires", "ex:example",
    )  # fmt: skip
    assert code == 0, output
    module = (project / "modules/Door/module.py").read_text()
    assert "class Door(DoorModuleBase):" in module
    assert 'raise NotImplementedError("Door.main: handle_measure is not written yet")' in module
    assert "NotImplementedError" not in (project / "tests/modules/test_door.py").read_text()
    env = {**os.environ, "PYTHONPATH": str(project), "MYPYPATH": str(project)}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", "tests/modules/test_door.py"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    mypy = subprocess.run(
        [VENV_BIN / "mypy", "--strict", "--no-incremental", "--explicit-package-bases",
         "modules/Door/module.py", "tests/modules/test_door.py"],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert mypy.returncode == 0, mypy.stdout
    assert_lint_clean(project, "modules/Door", "tests/modules")


def assert_lint_clean(folder: Path, *paths: str) -> None:
    """`make lint` on these paths: ruff check and ruff format --check, the project's rules."""
    config = ["--no-cache", "--config", str(PROJECT / "pyproject.toml")]
    for command in (["check"], ["format", "--check", "--diff"]):
        lint = subprocess.run(
            [VENV_BIN / "ruff", *command, *config, *paths],
            cwd=folder, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.timeout(120)
def test_skeletons_of_every_interface_pass_the_projects_lint(tmp_path: Path) -> None:
    """Long handler signatures and messages are wrapped as ruff format wraps them."""
    tree = load_tree(evstack_sources())
    for interface in sorted(tree.interfaces):
        name = f"SkeletonFor{camel(interface)}"
        texts = module_code(
            tree, name, [Provide("main_implementation", interface)], [],
            bindings=f"evstack.generated.modules.{module_file_name(name)}",
            class_module=f"evstack.modules.{name}.module",
        )  # fmt: skip
        (tmp_path / f"{module_file_name(name)}.py").write_text(texts["module"])
        (tmp_path / f"test_{module_file_name(name)}.py").write_text(texts["test"])
    assert_lint_clean(tmp_path, ".")


def test_never_overwrites(project: Path) -> None:
    test_file = project / "tests/modules/test_door.py"
    test_file.parent.mkdir(parents=True)
    test_file.write_text("# mine\n")
    code, output = new_module(project, "Door", "--provides", "main:example")
    assert code != 0
    assert "will not overwrite" in output
    assert test_file.read_text() == "# mine\n"
    assert not (project / "modules/Door").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Door", "--provides", "main:exampel"], "did you mean 'example'?"),
        (["door"], "use CamelCase"),
        (["Door", "--requires", "x:kvs:3:1"], "need 0 <= min <= max"),
        (["Door", "--provides", "main"], "impl_id:interface"),
    ],
)
def test_bad_requests_write_nothing(project: Path, args: list[str], message: str) -> None:
    code, output = new_module(project, *args)
    assert code != 0
    assert message in output
    assert not (project / "modules/Door").exists()
