"""The API's OpenAPI spec against the manifests, and the API against its own spec.

The drift test needs no charger: it builds the app and compares every model of its spec with
the type of the same name in types/*.yaml, field by field (names, required, types, enums,
references, bounds). A model written by hand, or a generated type gone stale, fails it.
Schemathesis then sends generated requests to a running charger: no 5xx, every response as
documented.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from litestar.testing import TestClient
from schemathesis.generation.modes import GenerationMode

from evstack.manifest import load_project_tree
from evstack.modules.ApiServer.app import Access, RateLimiter, create_app
from evstack.modules.ApiServer.live import Live
from evstack.modules.ApiServer.tokens import Scope

from .conftest import LockedCharger

BOUNDS = ("minimum", "maximum", "minLength", "maxLength", "pattern", "minItems", "maxItems")


class _NoCharger:
    """Enough of a charger to build the app; nothing is called."""

    live = Live(evse_count=1, ev_count=1)


def served_spec() -> dict[str, Any]:
    app = create_app(_NoCharger(), Access(None, RateLimiter(1.0, 1)))  # type: ignore[arg-type]
    with TestClient(app) as client:
        spec: dict[str, Any] = client.get("/api/v1/schema/openapi.json").json()
    return spec


def manifest_types() -> dict[str, dict[str, Any]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for file in load_project_tree().types.values():
        for name, definition in file.types.items():
            found[name].append(dict(definition))
    return {name: defs[0] for name, defs in found.items() if len(defs) == 1}


def from_manifest(schema: dict[str, Any]) -> dict[str, Any]:
    """The parts of a manifest schema a model must carry, in one comparable form."""
    if "$ref" in schema:
        return {"ref": schema["$ref"].rpartition("#/")[2]}
    shape: dict[str, Any] = {"type": schema["type"]}
    shape |= {key: float(schema[key]) if key in ("minimum", "maximum") else schema[key]
              for key in BOUNDS if key in schema}  # fmt: skip
    if "enum" in schema:
        shape["enum"] = sorted(schema["enum"])
    if schema["type"] == "array":
        shape["items"] = from_manifest(schema["items"])
    if schema["type"] == "object":
        shape["required"] = sorted(schema.get("required", []))
        shape["properties"] = {k: from_manifest(v) for k, v in schema["properties"].items()}
    return shape


def from_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """The same parts of an OpenAPI schema; an optional field's `null` alternative dropped.

    Generated types are frozen Structs that omit absent fields, so `null` is never sent; it
    is accepted on input, as msgspec does.
    """
    alternatives = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    assert len(alternatives) == 1, schema
    schema = alternatives[0]
    if "$ref" in schema:
        return {"ref": schema["$ref"].rpartition("/")[2]}
    # msgspec leaves out an enum's type, and sorts its values.
    shape: dict[str, Any] = {"type": schema.get("type", "string")}
    shape |= {key: float(schema[key]) if key in ("minimum", "maximum") else schema[key]
              for key in BOUNDS if key in schema}  # fmt: skip
    if "enum" in schema:
        shape["enum"] = sorted(schema["enum"])
    if schema.get("type") == "array":
        shape["items"] = from_openapi(schema["items"])
    if schema.get("type") == "object":
        shape["required"] = sorted(schema.get("required", []))
        shape["properties"] = {k: from_openapi(v) for k, v in schema["properties"].items()}
    return shape


@pytest.mark.timeout(60)
def test_every_model_of_the_spec_is_a_manifest_type_field_for_field() -> None:
    spec = served_spec()
    types = manifest_types()
    models = spec["components"]["schemas"]
    assert {"EvseStatus", "SessionPage", "StartSessionRequest", "LiveEvent"} <= set(models)
    for name, model in models.items():
        assert name in types, f"{name} is in the API's spec but in no manifest"
        assert from_openapi(model) == from_manifest(types[name]), name
        if model.get("type") == "object":
            assert model["additionalProperties"] is False, name


@pytest.mark.timeout(60)
def test_every_body_of_the_api_is_one_of_those_models() -> None:
    spec = served_spec()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            bodies = [operation["responses"]["200"]["content"]["application/json"]["schema"]]
            if "requestBody" in operation:
                bodies.append(operation["requestBody"]["content"]["application/json"]["schema"])
            for body in bodies:
                target = body.get("items", body)  # a list of models, or one
                assert "$ref" in target, f"{method} {path}: {body}"


def test_the_drift_test_sees_a_changed_field() -> None:
    spec = served_spec()
    model = spec["components"]["schemas"]["EvseStatus"]
    model["properties"]["evse"]["minimum"] = 0
    assert from_openapi(model) != from_manifest(manifest_types()["EvseStatus"])


# Every operation with valid requests; those that take input with invalid ones too.
CASES = sorted(
    (method.upper(), path, mode)
    for path, item in served_spec()["paths"].items()
    for method, operation in item.items()
    for mode in GenerationMode
    if mode.is_positive or operation.get("parameters") or operation.get("requestBody")
)


@pytest.mark.mosquitto
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_api_keeps_to_its_own_spec(
    fuzzed_charger: LockedCharger, method: str, path: str, mode: GenerationMode
) -> None:
    """Valid and invalid requests alike, with an admin's token: no 5xx, and every answer
    as the spec says (schemathesis also checks that made-up tokens are refused)."""
    url = f"{fuzzed_charger.url}/api/v1/schema/openapi.json"
    admin = {"Authorization": f"Bearer {fuzzed_charger.tokens[Scope.admin]}"}
    operation = schemathesis.openapi.from_url(url, headers=admin)[path][method]

    @given(case=operation.as_strategy(generation_mode=mode, headers=admin))
    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def keeps_to_the_spec(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate()

    keeps_to_the_spec()
