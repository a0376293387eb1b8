"""The C code under AddressSanitizer and UBSan, and free of compiler warnings.

cffi gives no bounds checks inside C, so this is where out-of-bounds writes, reads past a
ring and undefined arithmetic get caught: a harness drives the API with hostile inputs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "ext" / "pilot" / "pilot.c"
HARNESS = Path(__file__).with_name("sanitize_harness.c")
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror"]

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the extension")


@needs_gcc
def test_the_c_code_compiles_without_a_single_warning(tmp_path: Path) -> None:
    command = ["gcc", "-O2", "-std=c99", *WARNINGS, "-c", str(SOURCE), "-o", str(tmp_path / "p.o")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@needs_gcc
@pytest.mark.timeout(180)
def test_hostile_inputs_under_address_and_undefined_behaviour_sanitizers(tmp_path: Path) -> None:
    binary = tmp_path / "harness"
    sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1"]
    sources = [f"-I{SOURCE.parent}", str(SOURCE), str(HARNESS)]
    build = subprocess.run(
        ["gcc", "-std=c99", *sanitize, *sources, "-o", str(binary), "-lm"],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0 and "asan" in build.stderr.lower():
        pytest.skip(f"this gcc cannot build with sanitizers: {build.stderr[:200]}")
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(binary)], capture_output=True, text=True, timeout=170, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "ok"
