"""Short fuzz runs under ASan and UBSan: libFuzzer on the C decoder, atheris on the Python API
(the long runs are manual: ext/exi/fuzz/run.sh and run_api.sh)."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

RUN = pathlib.Path(__file__).resolve().parents[2] / "ext" / "exi" / "fuzz" / "run.sh"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(shutil.which("clang") is None, reason="libFuzzer needs clang")
def test_fuzz_smoke(tmp_path: pathlib.Path) -> None:
    env = dict(os.environ, EXI_FUZZ_DIR=str(tmp_path))
    run = subprocess.run(
        ["bash", str(RUN), "iso2", "10"], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Done" in run.stderr


RUN_API = RUN.parent / "run_api.sh"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(shutil.which("clang") is None, reason="the instrumented build needs clang")
@pytest.mark.parametrize("mode", ["bytes", "message"])
def test_python_api_fuzz_smoke(tmp_path: pathlib.Path, mode: str) -> None:
    """atheris over the Python API, the C extension under ASan and UBSan (run_api.sh)."""
    if importlib.util.find_spec("atheris") is None:
        if os.environ.get("CI"):
            pytest.fail("atheris (a dev dependency) is not installed: run `make install`")
        pytest.skip("atheris is not installed")
    env = dict(os.environ, EXI_FUZZ_DIR=str(tmp_path), PYTHON=sys.executable)
    run = subprocess.run(
        ["bash", str(RUN_API), "iso2", mode, "10"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done" in run.stderr
