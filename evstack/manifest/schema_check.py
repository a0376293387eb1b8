"""Validate a document against one of our JSON schemas and explain each fault in plain words."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import jsonschema
import yaml

from evstack.manifest.problems import Problem, YamlPath, did_you_mean
from evstack.manifest.source import Document

__all__ = ["check_against_schema", "check_json_schema", "check_value", "describe_type"]

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def describe_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


@functools.cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    text = resources.files("evstack.manifest.schemas").joinpath(f"{name}.yaml").read_text()
    schema = yaml.safe_load(text)
    return jsonschema.Draft7Validator(_inline_definitions(schema, schema.get("definitions", {})))


def _inline_definitions(schema: Any, definitions: dict[str, Any]) -> Any:
    """Replace `#/definitions/x` references by their targets (our schemas do not recurse).

    Resolving references on every use is most of jsonschema's time on a large tree.
    """
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            target = definitions[ref.removeprefix("#/definitions/")]
            return _inline_definitions(target, definitions)
        return {
            key: _inline_definitions(value, definitions)
            for key, value in schema.items()
            if key != "definitions"
        }
    if isinstance(schema, list):
        return [_inline_definitions(item, definitions) for item in schema]
    return schema


def check_against_schema(document: Document, schema_name: str) -> list[Problem]:
    """Every fault of `document` against `schemas/<schema_name>.yaml`, in document order."""
    found = [
        problem
        for error in _validator(schema_name).iter_errors(document.data)
        for problem in _explain(document, (), error)
    ]
    return _unique(found)


_JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
_NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_COUNT_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties",
                   "maxProperties")  # fmt: skip


def check_json_schema(document: Document, path: YamlPath, schema: Any) -> list[Problem]:
    """Check the parts of a value schema that code is generated from.

    Caught here, `minimum: high` or a pattern Python cannot compile is a located error;
    uncaught, it would be generated code that fails when imported. (Checking against the
    full draft-07 meta-schema instead costs more than all the rest of loading.)
    """
    problems: list[Problem] = []
    if not isinstance(schema, dict):
        return [
            document.problem(
                path, f"expected a JSON schema (an object), got {describe_type(schema)}"
            )
        ]
    kind = schema.get("type")
    for name in kind if isinstance(kind, list) else [] if kind is None else [kind]:
        if name not in _JSON_TYPES:
            problems.append(
                document.problem(
                    (*path, "type"),
                    f"unknown JSON type {name!r}",
                    did_you_mean(str(name), _JSON_TYPES),
                )
            )
    for key in _NUMBER_KEYWORDS:
        value = schema.get(key)
        draft4_flag = key.startswith("exclusive") and isinstance(value, bool)
        if key in schema and not draft4_flag and not _is_number(value):
            problems.append(
                document.problem((*path, key), f"expected a number, got {describe_type(value)}")
            )
    for key in _COUNT_KEYWORDS:
        value = schema.get(key)
        if key in schema and not (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0
        ):
            problems.append(
                document.problem((*path, key), f"expected a whole number >= 0, got {value!r}")
            )
    pattern: Any = schema.get("pattern")
    if "pattern" in schema:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            problems.append(
                document.problem(
                    (*path, "pattern"), f"not a regular expression Python accepts: {exc}"
                )
            )
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        problems.append(document.problem((*path, "enum"), "expected a non-empty list of values"))
    required = schema.get("required", [])
    if not (isinstance(required, list) and all(isinstance(r, str) for r in required)):
        problems.append(document.problem((*path, "required"), "expected a list of property names"))
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        problems.append(
            document.problem(
                (*path, "properties"), f"expected an object, got {describe_type(properties)}"
            )
        )
    else:
        for name, sub in properties.items():
            problems.extend(check_json_schema(document, (*path, "properties", str(name)), sub))
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            problems.extend(check_json_schema(document, (*path, key), sub))
        elif key in schema and not (key == "additionalProperties" and isinstance(sub, bool)):
            expected = "a JSON schema" if key == "items" else "a JSON schema or a boolean"
            problems.append(
                document.problem((*path, key), f"expected {expected}, got {describe_type(sub)}")
            )
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_value(
    document: Document, path: YamlPath, value: Any, schema: dict[str, Any]
) -> list[Problem]:
    """Check one value (a config entry, say) against a schema taken from a manifest."""
    validator = jsonschema.Draft7Validator(schema)
    return _unique(
        [
            problem
            for error in validator.iter_errors(value)
            for problem in _explain(document, path, error)
        ]
    )


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    kept = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            kept.append(problem)
    return sorted(kept, key=lambda p: (p.line or 0, p.column or 0))


def _explain(
    document: Document, base: YamlPath, error: jsonschema.ValidationError
) -> Iterator[Problem]:
    path: YamlPath = (*base, *error.absolute_path)
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance
    if keyword in ("anyOf", "oneOf", "allOf") and error.context:
        # The most specific sub-fault explains more than "is not valid under any schema".
        yield from _explain(document, base, jsonschema.exceptions.best_match(error.context))
        return
    if keyword == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        for key in instance:
            if key in allowed or any(re.search(p, str(key)) for p in patterns):
                continue
            yield document.problem(
                (*path, str(key)), f"unknown key {key!r}", did_you_mean(str(key), allowed)
            )
        return
    if keyword == "propertyNames":
        # jsonschema reports the offending name as the instance, at the parent's path.
        yield document.problem(
            (*path, str(instance)),
            f"name {instance!r} is not allowed here",
            "names start with a letter or '_' and go on with letters, digits, '_', '.' or '-'",
        )
        return
    if keyword == "required":
        missing = re.findall(r"^'([^']*)' is a required property", error.message)
        name = missing[0] if missing else error.message
        yield document.problem(path, f"missing key {name!r}", "this key is required here")
        return
    if keyword == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        yield document.problem(
            path, f"expected {' or '.join(map(str, names))}, got {describe_type(instance)}"
        )
        return
    if keyword == "enum":
        enum_values: Any = error.validator_value
        choices = [str(choice) for choice in enum_values]
        yield document.problem(
            path,
            f"{instance!r} is not one of the allowed values",
            did_you_mean(str(instance), choices),
        )
        return
    if keyword == "pattern":
        yield document.problem(
            path, f"{instance!r} does not match the pattern {error.validator_value!r}"
        )
        return
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        relation = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than",
        }[str(keyword)]
        yield document.problem(
            path, f"{instance!r} is out of range: must be {relation} {error.validator_value}"
        )
        return
    if error.schema is False:
        yield document.problem(path, "this key is not allowed here")
        return
    yield document.problem(path, error.message)
