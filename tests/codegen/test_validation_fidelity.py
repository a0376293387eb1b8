"""Differential test: a generated struct accepts exactly what its JSON schema accepts.

Hypothesis draws object schemas (bounds, lengths, enums, arrays, nested objects, required
and optional keys, closed and open objects) and payloads around them; the generated
msgspec struct and a Draft 7 validator must agree on every payload. One leniency is by
design and normalised away: an optional field sent as `null` counts as absent, because
generated optional fields default to None.
"""

from __future__ import annotations

import json
import sys
import types
from itertools import count
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evstack.codegen.render import render_type_file
from evstack.manifest import ManifestTree, TypeFile

NAMES = ["a", "b", "from", "max-current", "Type"]
_modules = count()

bounds = st.tuples(st.integers(-3, 3), st.integers(0, 6)).map(lambda t: (t[0], t[0] + t[1]))


@st.composite
def leaf_schemas(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["integer", "number", "string", "boolean", "enum"]))
    schema: dict[str, Any] = {"description": "A leaf.", "type": kind}
    if kind in ("integer", "number"):
        low, high = draw(bounds)
        if draw(st.booleans()):
            schema["minimum"] = low
        if draw(st.booleans()):
            schema["maximum"] = high
    elif kind == "string":
        low, high = draw(bounds)
        if draw(st.booleans()):
            schema["minLength"] = max(low, 0)
        if draw(st.booleans()):
            schema["maxLength"] = max(high, 0)
    elif kind == "enum":
        schema["type"] = "string"
        schema["enum"] = draw(st.lists(st.sampled_from(["x", "y", "On"]), min_size=1, unique=True))
    return schema


def object_schemas(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
        schema: dict[str, Any] = {
            "description": "An object.",
            "type": "object",
            "properties": {name: draw(inner) for name in names},
        }
        required = [n for n in names if draw(st.booleans())]
        if required:
            schema["required"] = required
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    return build()


@st.composite
def array_schemas(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "description": "A list.",
        "type": "array",
        "items": draw(leaf_schemas()),
    }
    low, high = draw(bounds)
    if draw(st.booleans()):
        schema["minItems"] = max(low, 0)
    if draw(st.booleans()):
        schema["maxItems"] = max(high, 0)
    return schema


member_schemas = st.one_of(leaf_schemas(), array_schemas(), object_schemas(leaf_schemas()))
top_schemas = object_schemas(member_schemas)

# Any JSON, but never a float with an integral value: JSON schema calls 1.0 an integer and
# msgspec does not, a difference of number syntax that no manifest relies on.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 12)
    | st.integers(-5, 12).map(lambda i: i + 0.5)
    | st.text("xyOn", max_size=7),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from([*NAMES, "extra"]), children, max_size=4)
    ),
    max_leaves=8,
)


def payloads(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values near `schema`: mostly shaped like it, sometimes anything at all."""
    kind = schema.get("type")
    near: st.SearchStrategy[Any]
    if "enum" in schema:
        near = st.sampled_from([*schema["enum"], "z"])
    elif kind == "integer":
        near = st.integers(-6, 12)
    elif kind == "number":
        near = st.integers(-6, 12) | st.integers(-6, 12).map(lambda i: i + 0.5)
    elif kind == "string":
        near = st.text("xy", max_size=9)
    elif kind == "boolean":
        near = st.booleans()
    elif kind == "array":
        near = st.lists(payloads(schema["items"]), max_size=7)
    else:
        properties = schema["properties"]
        near = st.fixed_dictionaries(
            {}, optional={name: payloads(sub) for name, sub in properties.items()}
        )
        near = st.one_of(near, st.tuples(near, json_values).map(lambda p: {**p[0], "extra": p[1]}))
    return st.one_of(near, near, near, json_values)


def generated_struct(schema: dict[str, Any]) -> Any:
    tree = ManifestTree(root=Path("/t"), interfaces={}, types={}, errors={}, modules={})
    type_file = TypeFile("fuzz", Path("/t/types/fuzz.yaml"), "Fuzz.", {"Top": schema})
    source = render_type_file(tree, type_file)
    name = f"_fuzz_types_{next(_modules)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, name, "exec"), module.__dict__)
    return module.Top


def without_null_optionals(value: Any, schema: dict[str, Any]) -> Any:
    if not (isinstance(value, dict) and schema.get("type") == "object"):
        if isinstance(value, list) and schema.get("type") == "array":
            return [without_null_optionals(v, schema["items"]) for v in value]
        return value
    required = set(schema.get("required", []))
    properties = schema["properties"]
    return {
        key: without_null_optionals(item, properties.get(key, {}))
        for key, item in value.items()
        if not (item is None and key in properties and key not in required)
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), schema=top_schemas)
def test_struct_and_schema_agree(data: st.DataObject, schema: dict[str, Any]) -> None:
    struct = generated_struct(schema)
    decode = msgspec.json.Decoder(struct).decode
    validator = jsonschema.Draft7Validator(schema)
    for _ in range(10):
        value = data.draw(payloads(schema))
        payload = json.dumps(value).encode()
        try:
            decode(payload)
            ours = True
        except msgspec.ValidationError:
            ours = False
        theirs = validator.is_valid(without_null_optionals(value, schema))
        assert ours == theirs, (
            f"schema {schema}\npayload {payload!r}: msgspec {ours}, jsonschema {theirs}"
        )
