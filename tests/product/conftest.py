"""A wheel built from this checkout, installed into a fresh virtualenv outside it.

Built once per session (sdist, then the wheel from the sdist, as `make wheel` does) from a
copy of the checkout, so the build leaves nothing in the checkout. The fresh venv gets
evstack from the wheel alone; its third-party dependencies come from the test's own
environment through a `.pth` line (the machine may have no index to install them from),
which adds that site folder's files but runs none of its `.pth` hooks, so the checkout's
editable install stays out of sight.
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Not part of a source tree: caches, builds, the developer's venv and run state.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "var", "site", "*.egg-info", "__pycache__", "*.so",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Installed:
    """A venv with evstack installed from `wheel`; `bin` holds python, ev-manager, pip."""

    venv: Path
    wheel: Path
    sdist: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def run(
        self, *args: str | Path, cwd: Path, timeout_s: float
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv's with only the venv on PATH's front, in `cwd`."""
        return subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"},
        )


def build_distributions(out: Path, scratch: Path) -> tuple[Path, Path]:
    """sdist and wheel of the checkout, built from a copy of it; (sdist, wheel)."""
    source = scratch / "evstack-src"
    shutil.copytree(REPO, source, symlinks=True, ignore=_NOT_SOURCE)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (sdist,) = out.glob("evstack-*.tar.gz")
    (wheel,) = out.glob("evstack-*.whl")
    return sdist, wheel


def fresh_venv(folder: Path) -> Path:
    """A venv whose imports see the test environment's third-party packages, not evstack."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    ask = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = Path(
        subprocess.run(
            [str(folder / "bin" / "python"), "-c", ask], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    ours = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    (purelib / "zz_test_dependencies.pth").write_text("\n".join(dict.fromkeys(ours)) + "\n")
    return folder


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    scratch = tmp_path_factory.mktemp("wheel")
    sdist, wheel = build_distributions(scratch / "dist", scratch)
    venv = fresh_venv(scratch / "venv")
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    return Installed(venv, wheel, sdist)
