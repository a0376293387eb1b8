"""Type validation benchmark: generated msgspec structs against json.loads + jsonschema.

Every object type of the project's type files gets a full sample payload (every property
set, arrays of three), synthesised from its schema and checked valid by both sides. Then
the same payloads are decoded and validated repeatedly, alternating the two contenders
so both see the same machine. The baseline is what a Python stack without generated types
does: `json.loads` then a pre-compiled Draft 7 validator with the `$ref`s resolved.
"""

from __future__ import annotations

import importlib
import json
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema
import msgspec

from evstack.codegen.naming import identifier
from evstack.manifest import ManifestTree, load_project_tree
from evstack.manifest.model import parse_type_ref

ROUNDS = 7
REPEATS = 100


def local_refs(schema: Any) -> Any:
    """`/file#/Name` -> `#/definitions/file/Name`, so one validator sees every type."""
    if isinstance(schema, dict):
        out = {k: local_refs(v) for k, v in schema.items()}
        if isinstance(schema.get("$ref"), str):
            file_name, type_name = parse_type_ref(schema["$ref"])
            out = {"$ref": f"#/definitions/{file_name}/{type_name}"}
        return out
    if isinstance(schema, list):
        return [local_refs(v) for v in schema]
    return schema


def sample(schema: Mapping[str, Any], tree: ManifestTree, depth: int = 0) -> Any:
    """A valid value of `schema` with every optional part present."""
    if "$ref" in schema:
        return sample(tree.resolve_ref(schema["$ref"])[2], tree, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-11-23T21:00:00Z"
        return "x" * min(max(schema.get("minLength", 8), 8), schema.get("maxLength", 8))
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 1000)
        middle = (low + high) / 2
        return int(middle) if kind == "integer" else middle + 0.25
    if kind == "boolean":
        return True
    if kind == "array":
        count = min(max(schema.get("minItems", 3), 3), schema.get("maxItems", 3))
        items = schema.get("items", {"type": "integer"})
        return [sample(items, tree, depth + 1) for _ in range(count)] if depth < 6 else []
    if kind == "object":
        properties = schema.get("properties", {})
        if depth >= 6:
            return {k: sample(properties[k], tree, depth + 1) for k in schema.get("required", [])}
        return {name: sample(sub, tree, depth + 1) for name, sub in properties.items()}
    return None


def cases(tree: ManifestTree) -> list[tuple[str, bytes, Any, jsonschema.Draft7Validator]]:
    definitions = {
        name: {type_name: local_refs(s) for type_name, s in type_file.types.items()}
        for name, type_file in tree.types.items()
    }
    found = []
    for file_name, type_file in tree.types.items():
        module = importlib.import_module(f"evstack.generated.types.{identifier(file_name)}")
        for type_name, schema in type_file.types.items():
            if schema.get("type") != "object" or "properties" not in schema:
                continue
            payload = json.dumps(sample(schema, tree)).encode()
            validator = jsonschema.Draft7Validator(
                {"definitions": definitions, "$ref": f"#/definitions/{file_name}/{type_name}"}
            )
            struct = getattr(module, type_name)
            try:
                validator.validate(json.loads(payload))
                msgspec.json.decode(payload, type=struct)
            except (jsonschema.ValidationError, msgspec.ValidationError) as exc:
                print(f"skipped {file_name}/{type_name}: no valid sample ({exc})")
                continue
            found.append((f"{file_name}/{type_name}", payload, struct, validator))
    return found


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    tree = load_project_tree()
    chosen = cases(tree)
    decoders = [(payload, msgspec.json.Decoder(struct).decode) for _, payload, struct, _ in chosen]
    checkers = [(payload, validator.validate) for _, payload, _, validator in chosen]
    messages = len(chosen) * REPEATS

    def generated() -> None:
        for _ in range(REPEATS):
            for payload, decode in decoders:
                decode(payload)

    def baseline() -> None:
        for _ in range(REPEATS):
            for payload, validate in checkers:
                validate(json.loads(payload))

    ours, theirs = [], []
    for _ in range(ROUNDS):
        ours.append(timed(generated))
        theirs.append(timed(baseline))
    us_ours = statistics.median(ours) / messages * 1e6
    us_theirs = statistics.median(theirs) / messages * 1e6
    mean_bytes = statistics.mean(len(payload) for _, payload, _, _ in chosen)
    print(f"{len(chosen)} object types, mean payload {mean_bytes:.0f} bytes, {messages} per round")
    print(f"msgspec decode+validate:          {us_ours:8.2f} us/message")
    print(f"json.loads + jsonschema validate: {us_theirs:8.2f} us/message")
    print(
        f"BENCH types types={len(chosen)} payload_bytes={mean_bytes:.0f} "
        f"msgspec_us={us_ours:.2f} jsonschema_us={us_theirs:.2f} "
        f"ratio={us_theirs / us_ours:.1f}"
    )


if __name__ == "__main__":
    main()
