"""A short libFuzzer run of the C decoder under ASan and UBSan (the long runs are manual)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

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
