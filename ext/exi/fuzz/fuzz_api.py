"""Fuzz the EXI Python API (`evstack.exi`) with atheris, coverage-guided over our Python.

    python ext/exi/fuzz/fuzz_api.py SET MODE [libFuzzer options]
        MODE bytes:   fuzzer bytes are an EXI stream
        MODE message: fuzzer bytes pick a seed message and mutate its JSON form

What must hold, on any input:
- `decode` raises ExiError or returns a message, and nothing else (no TypeError,
  KeyError, RecursionError, MemoryError...); `encode` likewise;
- a decoded message encodes back to the same bytes, also after a trip through JSON text;
- the C-backed API and the pure-Python codec agree: the same message or bytes, or both
  refuse (with the same code when decoding);
- whatever `encode` accepts, decoding its bytes and encoding again gives the same bytes.
A violation raises, and libFuzzer saves the input as a crash artifact.

Seeds: the public vectors of SET (from $EXI_VECTORS when that file exists) and random
messages drawn from the grammar tables (evstack.exi.sample).
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import random
import sys
from typing import Any

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports():
    from evstack.exi import api, codec, native, sample, tables
    from evstack.exi.errors import ExiError

# The public vectors sit beside the checkout (../shared), never inside it.
ROOT = pathlib.Path(__file__).resolve().parents[3]
VECTORS = pathlib.Path(
    os.environ.get(
        "EXI_VECTORS", ROOT.parent / "shared" / "reference" / "exi" / "vectors-public.tsv"
    )
)
SEED_MESSAGES = 64


def _seeds(schema: str) -> list[bytes]:
    found: list[bytes] = []
    if VECTORS.exists():
        with VECTORS.open(newline="") as handle:
            rows = csv.DictReader(handle, delimiter="\t")
            found += [bytes.fromhex(r["exi_hex"]) for r in rows if r["schema"] == schema]
    grammar = tables.load(schema)
    rnd = random.Random(0)
    while len(found) < SEED_MESSAGES:
        try:
            found.append(codec.encode(grammar, sample.message(grammar, rnd, nulls=True)))
        except ValueError:
            continue  # drew into a wildcard-only corner (xmldsig)
    return found


def _verdict(run: Any, *args: Any) -> object:
    try:
        return run(*args)
    except ExiError as exc:
        return exc.code


def check_bytes(schema: str, data: bytes) -> None:
    grammar = tables.load(schema)
    message = _verdict(api.decode_any, schema, data)
    assert _verdict(codec.decode, grammar, data) == message, "C and Python decode differ"
    if isinstance(message, dict):
        assert api.encode_any(schema, message) == data, "decode then encode changed the bytes"
        again = json.loads(json.dumps(message))
        assert api.encode_any(schema, again) == data, "the JSON text form lost something"


# Replacement values: each JSON type, and the edges of the value encodings.
_VALUES: list[object] = [
    None, True, False, 0, -1, 1, 127, 128, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63),
    2**64 - 1, 2**64, -(2**63) - 1, 1.5, "", "a", "00", "0A", "0a0", "zz", "é😀",
    "x" * 300, [], [1], {}, {"$": "x"}, {"@Id": "x"}, {"$items": []}, b"\x00",
]  # fmt: skip


def _mutate(node: Any, fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    """A copy of `node` with one change at a place the fuzzer picks."""
    if isinstance(node, dict) and node and (depth == 0 or fdp.ConsumeBool()):
        keys = list(node)
        key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
        action = fdp.ConsumeIntInRange(0, 4)
        copy = dict(node)
        if action == 0:
            del copy[key]
        elif action == 1:  # the same entries in another order
            keys.reverse()
            copy = {k: node[k] for k in keys}
        elif action == 2:
            copy[key] = _VALUES[fdp.ConsumeIntInRange(0, len(_VALUES) - 1)]
        elif action == 3:
            copy[key] = [node[key], node[key]]
        else:
            copy[key] = _mutate(node[key], fdp, depth + 1)
        return copy
    if isinstance(node, list) and node:
        index = fdp.ConsumeIntInRange(0, len(node) - 1)
        items = list(node)
        if fdp.ConsumeBool():
            items.insert(index, node[index])
        else:
            items[index] = _mutate(node[index], fdp, depth + 1)
        return items
    return _VALUES[fdp.ConsumeIntInRange(0, len(_VALUES) - 1)]


def check_message(schema: str, seeds: list[dict[str, Any]], data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    message = seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)]
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        message = _mutate(message, fdp)
    grammar = tables.load(schema)
    encoded = _verdict(api.encode_any, schema, message)
    python = _verdict(codec.encode, grammar, message)
    assert encoded == python, f"C and Python encode differ: {encoded!r} {python!r}"
    if isinstance(encoded, bytes):
        assert api.encode_any(schema, api.decode_any(schema, encoded)) == encoded, "not idempotent"


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[2] not in ("bytes", "message"):
        sys.exit(__doc__)
    schema, mode = sys.argv[1], sys.argv[2]
    if not native.available():
        sys.exit("evstack.ext._exi is not built: there is no C path to compare")
    seeds = _seeds(schema)
    corpus = pathlib.Path(os.environ.get("EXI_FUZZ_DIR", "/tmp/evstack-exi-fuzz")) / (
        f"api-{mode}-{schema}"
    )
    corpus.mkdir(parents=True, exist_ok=True)
    if mode == "bytes":
        for index, seed in enumerate(seeds):
            (corpus / f"seed-{index}").write_bytes(seed)

        def one(data: bytes) -> None:
            check_bytes(schema, data)
    else:
        messages = [api.decode_any(schema, seed) for seed in seeds]

        def one(data: bytes) -> None:
            check_message(schema, messages, data)

    artifacts = f"-artifact_prefix={corpus.parent}/"
    atheris.Setup([sys.argv[0], artifacts, *sys.argv[3:], str(corpus)], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
