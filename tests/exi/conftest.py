"""Shared fixtures: the public vectors are read at test time, never copied into the repo."""

from __future__ import annotations

import csv
import pathlib

import pytest

# The reference material sits beside the checkout (../shared), never inside it.
VECTORS = (
    pathlib.Path(__file__).resolve().parents[2] / ".." / "shared/reference/exi/vectors-public.tsv"
)


def _public_vectors() -> list[tuple[str, str, bytes]]:
    """(schema set, message, EXI bytes) for every public vector; empty when absent."""
    if not VECTORS.exists():
        return []
    with VECTORS.open(newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [(r["schema"], r["message"], bytes.fromhex(r["exi_hex"])) for r in rows]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise any test that takes `vector` with (schema set, message, bytes)."""
    if "vector" not in metafunc.fixturenames:
        return
    vectors = _public_vectors()
    if not vectors:
        metafunc.parametrize(
            "vector", [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS} absent"))]
        )
        return
    ids = [f"{schema}-{message}-{i}" for i, (schema, message, _) in enumerate(vectors)]
    metafunc.parametrize("vector", vectors, ids=ids)
