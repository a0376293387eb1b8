"""The EXI C runtime: free of compiler warnings, and under AddressSanitizer and UBSan on
hostile events.

The decoder is fuzzed (ext/exi/fuzz); the encoder's inputs come from the Python API, where
any value a caller writes reaches C. Here every value of many valid messages is replaced
by extremes (int64 and uint64 edges, either sign, lengths past the arena) and encoded by
a sanitized build: it must answer with a code, never overflow or read out of bounds.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from evstack.exi import codec, sample, tables

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("sanitize_encode.c")
MESSAGES_PER_SET = 40
SOURCES = [
    ROOT / "ext" / "exi" / "exi.c",
    ROOT / "ext" / "exi" / "exi_msgpack.c",
    ROOT / "generated" / "exi" / "exi_tables.c",
]
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror"]
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc builds the C code")


def _streams() -> str:
    """'SCHEMA HEX' lines: random valid messages of every set, the same on every run."""
    rnd = random.Random(61851)
    lines = []
    for schema in tables.SCHEMA_SETS:
        grammar = tables.load(schema)
        for _ in range(MESSAGES_PER_SET):
            try:
                message = sample.message(grammar, rnd)
            except ValueError:
                continue  # a wildcard-only corner (xmldsig): nothing to encode
            lines.append(f"{schema} {codec.encode(grammar, message).hex()}\n")
    return "".join(lines)


@needs_gcc
@pytest.mark.timeout(120)
@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_compiles_without_a_single_warning(tmp_path: Path, source: Path) -> None:
    command = ["gcc", "-O2", "-std=c11", *WARNINGS, f"-I{ROOT / 'ext' / 'exi'}", "-c", str(source)]
    result = subprocess.run(
        [*command, "-o", str(tmp_path / "out.o")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@needs_gcc
@pytest.mark.timeout(300)
def test_encoder_answers_extreme_values_with_a_code(tmp_path: Path) -> None:
    binary = tmp_path / "harness"
    exi = ROOT / "ext" / "exi"
    build = subprocess.run(
        [
            "gcc", "-std=gnu11", "-g", "-O1", "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all", f"-I{exi}", str(HARNESS), str(exi / "exi.c"),
            str(ROOT / "generated" / "exi" / "exi_tables.c"), "-o", str(binary),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    run = subprocess.run(
        [str(binary)], input=_streams(), capture_output=True, text=True, timeout=280, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    verdict, tried = run.stdout.split()
    assert verdict == "ok"
    assert int(tried) > 10000  # the extremes were really tried
