"""JSON schema -> Python annotations: the mapping rules, one by one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evstack.codegen.naming import camel, identifier, module_file_name
from evstack.codegen.pytypes import TypeScope
from evstack.manifest import ManifestTree


@pytest.fixture
def scope() -> TypeScope:
    tree = ManifestTree(root=Path("."), interfaces={}, types={}, errors={}, modules={})
    return TypeScope(tree, "..types")


@pytest.mark.parametrize(
    ("schema", "annotation"),
    [
        ({"type": "string"}, "str"),
        ({"type": "number", "minimum": 0, "maximum": 10},
         "Annotated[float, msgspec.Meta(ge=0, le=10)]"),
        ({"type": "integer", "exclusiveMinimum": 0}, "Annotated[int, msgspec.Meta(gt=0)]"),
        ({"type": "integer", "minimum": 0.5, "maximum": 9.5},
         "Annotated[int, msgspec.Meta(ge=1, le=9)]"),
        ({"type": "string", "minLength": 1, "pattern": "^a"},
         'Annotated[str, msgspec.Meta(min_length=1, pattern="^a")]'),
        ({"type": "string", "pattern": "(?<!x"}, "str"),  # not a Python regex: left unchecked
        ({"type": "string", "enum": ["a", "b"]}, 'Literal["a", "b"]'),
        ({"type": "array", "items": {"type": "integer"}, "maxItems": 3},
         "Annotated[list[int], msgspec.Meta(max_length=3)]"),
        ({"type": "array"}, "list[Any]"),
        ({"type": "object"}, "dict[str, Any]"),
        ({"type": "object", "additionalProperties": {"type": "number"}}, "dict[str, float]"),
        ({"type": ["string", "null"]}, "str | None"),
        ({"type": ["integer", "string"]}, "int | str"),
        ({"type": ["null", "string", "number", "integer", "boolean", "array", "object"]}, "Any"),
        ({"type": "null"}, "None"),
        ({"type": "boolean"}, "bool"),
        ({"type": "object", "$ref": "/powermeter#/Powermeter"}, "_powermeter.Powermeter"),
    ],
)  # fmt: skip
def test_annotations(scope: TypeScope, schema: dict[str, Any], annotation: str) -> None:
    assert scope.annotation(schema, "Hint") == annotation


def test_inline_object_becomes_a_named_struct(scope: TypeScope) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["from"],
        "properties": {
            "from": {"type": "string"},
            "max-current": {"type": "number"},
            "inner": {"type": "object", "properties": {"x": {"type": "integer"}}},
        },
    }
    assert scope.annotation(schema, "Limits") == "Limits"
    struct = scope.structs["Limits"]
    assert struct.forbid_unknown
    declarations = [f.declaration for f in struct.fields]
    assert declarations == [
        'from_: str = msgspec.field(name="from")',
        'max_current: float | None = msgspec.field(default=None, name="max-current")',
        "inner: LimitsInner | None = None",
    ]
    assert "LimitsInner" in scope.structs
    # A second inline object wanting the same name gets another one.
    assert scope.annotation(schema, "Limits") == "Limits2"


def test_string_enum_type_becomes_strenum_with_safe_member_names(scope: TypeScope) -> None:
    scope.define("Mode", {"type": "string", "enum": ["On", "None", "3phase", "name", "x-y"]})
    members = scope.enums["Mode"].members
    assert members == [("On", "On"), ("None_", "None"), ("V_3phase", "3phase"),
                       ("V_name", "name"), ("x_y", "x-y")]  # fmt: skip


def test_names() -> None:
    assert identifier("class") == "class_"
    assert identifier("1st") == "_1st"
    assert camel("set_max-current") == "SetMaxCurrent"
    assert module_file_name("EvseManager") == "evse_manager"
    assert module_file_name("OCPP201") == "ocpp201"
    assert module_file_name("DummyV2G") == "dummy_v2g"
    assert module_file_name("PyEvJosev") == "py_ev_josev"
