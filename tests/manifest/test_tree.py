"""Manifest trees: what loads, and how each kind of fault is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from evstack.manifest import ManifestError, Problem, load_project_tree, load_tree

from .conftest import WriteFile


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        load_tree(root)
    return caught.value.problems


def test_valid_tree_loads_with_resolved_errors(tree_root: Path) -> None:
    tree = load_tree(tree_root)
    example = tree.interfaces["example"]
    assert [e.type for e in example.errors] == ["example/ExampleErrorA", "example/ExampleErrorB"]
    assert example.cmds["read"].result is not None
    assert tree.modules["Consumer"].requires["extra"].max_connections == 2
    assert tree.modules["Provider"].provides["main"].config["channels"].default == 2


def test_recursion_through_an_array_is_allowed(tree_root: Path) -> None:
    # types/example.yaml's Reading holds a list of Readings: a tree, not a cycle.
    assert "Reading" in load_tree(tree_root).types["example"].types


def test_unknown_ref_names_file_line_path_and_hint(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "interfaces/broken.yaml",
        """
        description: Broken.
        vars:
          reading:
            description: A reading.
            type: object
            $ref: /example#/Readin
        """,
    )
    [problem] = problems_of(tree_root)
    assert problem.file == tree_root / "interfaces/broken.yaml"
    assert (problem.line, problem.column) == (6, 5)
    assert problem.yaml_path == "vars.reading.$ref"
    assert "no type 'Readin'" in problem.message
    assert problem.hint == "did you mean 'Reading'?"


def test_unknown_type_file_in_ref(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "interfaces/broken.yaml",
        """
        description: Broken.
        vars:
          reading: {description: A reading., type: object, $ref: /exampel#/Reading}
        """,
    )
    [problem] = problems_of(tree_root)
    assert "unknown type file 'exampel'" in problem.message
    assert problem.hint == "did you mean 'example'?"


def test_cycle_of_required_references(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "types/loop.yaml",
        """
        description: Two types that must contain each other.
        types:
          Egg:
            description: An egg.
            type: object
            required: [hen]
            properties:
              hen: {description: Its hen., type: object, $ref: /loop#/Hen}
          Hen:
            description: A hen.
            type: object
            $ref: /loop#/Egg
        """,
    )
    [problem] = problems_of(tree_root)
    assert "type reference cycle: /loop#/Egg -> /loop#/Hen -> /loop#/Egg" in problem.message
    assert problem.yaml_path == "types.Hen.$ref"


def test_duplicate_yaml_key_is_an_error(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "interfaces/twice.yaml",
        """
        description: Twice.
        cmds:
          go:
            description: Go.
          go:
            description: Go again.
        """,
    )
    [problem] = problems_of(tree_root)
    assert (problem.line, problem.yaml_path) == (5, "cmds.go")
    assert "duplicate key 'go'" in problem.message
    assert "line 3" in problem.hint


def test_duplicate_error_name(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "errors/twice.yaml",
        """
        description: Twice.
        errors:
          - {name: Same, description: First.}
          - {name: Same, description: Second.}
        """,
    )
    [problem] = problems_of(tree_root)
    assert problem.yaml_path == "errors[1].name"
    assert "duplicate error name 'Same'" in problem.message


def test_duplicate_module_name_in_two_folders(tree_root: Path, write_file: WriteFile) -> None:
    text = (tree_root / "modules/Consumer/manifest.yaml").read_text()
    write_file("modules/Vendor/Consumer/manifest.yaml", text)
    [problem] = problems_of(tree_root)
    assert "duplicate module name 'Consumer'" in problem.message


def test_schema_faults_are_all_reported_with_hints(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "interfaces/bad.yaml",
        """
        description: 5
        cmds:
          go:
            descripton: Go.
        vars:
          level:
            description: Level.
        """,
    )
    problems = problems_of(tree_root)
    rendered = [(p.yaml_path, p.message, p.hint) for p in problems]
    assert ("description", "expected string, got an integer", "") in rendered
    assert ("cmds.go.descripton", "unknown key 'descripton'", "did you mean 'description'?") in [
        (path, message, hint) for path, message, hint in rendered
    ]
    assert ("cmds.go", "missing key 'description'", "this key is required here") in rendered
    assert ("vars.level", "missing key 'type'", "this key is required here") in rendered
    assert all(str(p).startswith(f"{tree_root / 'interfaces/bad.yaml'}:") for p in problems)


def test_unknown_error_reference(tree_root: Path, write_file: WriteFile) -> None:
    write_file(
        "interfaces/bad.yaml",
        """
        description: Bad.
        errors:
          - reference: /errors/example#/ExampleErrorC
        """,
    )
    [problem] = problems_of(tree_root)
    assert "declares no error 'ExampleErrorC'" in problem.message
    assert problem.hint.startswith("did you mean 'ExampleError")


def test_module_with_unknown_interface(tree_root: Path, write_file: WriteFile) -> None:
    path = tree_root / "modules/Consumer/manifest.yaml"
    path.write_text(
        path.read_text().replace("interface: example\n  extra", "interface: exampel\n  extra")
    )
    [problem] = problems_of(tree_root)
    assert problem.yaml_path == "requires.source.interface"
    assert problem.hint == "did you mean 'example'?"


def test_default_of_the_wrong_type_in_a_manifest(tree_root: Path) -> None:
    path = tree_root / "modules/Provider/manifest.yaml"
    path.write_text(path.read_text().replace("default: fast", "default: 3"))
    found = problems_of(tree_root)
    assert {p.yaml_path for p in found} == {"config.mode.default"}
    assert "expected string, got an integer" in [p.message for p in found]


def test_yaml_12_scalars_keep_on_and_off_as_strings(tree_root: Path) -> None:
    # EVerest's parsers read YAML 1.2: an enum of ON/OFF is strings, not booleans.
    path = tree_root / "modules/Provider/manifest.yaml"
    path.write_text(
        path.read_text().replace(
            "enum: [fast, slow]\n    default: fast", "enum: [ON, OFF]\n    default: ON"
        )
    )
    assert load_tree(tree_root).modules["Provider"].config["mode"].default == "ON"


def test_syntax_error_is_located(tree_root: Path, write_file: WriteFile) -> None:
    write_file("interfaces/bad.yaml", "description: [unclosed\n")
    [problem] = problems_of(tree_root)
    assert problem.line is not None
    assert problem.message.startswith("not valid YAML")


def test_project_tree_loads() -> None:
    tree = load_project_tree()
    assert "example" in tree.interfaces
    assert "Example" in tree.modules


def test_value_schemas_are_checked_where_code_is_generated_from_them(
    tree_root: Path, write_file: WriteFile
) -> None:
    write_file(
        "types/odd.yaml",
        """
        description: Types with faults in their schemas.
        types:
          Odd:
            description: An odd one.
            type: object
            properties:
              level:
                description: A level.
                type: integr
              limit:
                description: A limit.
                type: number
                minimum: high
              code:
                description: A code.
                type: string
                pattern: "(unclosed"
                maxLength: -1
        """,
    )
    found = [(p.yaml_path, p.message, p.hint) for p in problems_of(tree_root)]
    assert found == [
        (
            "types.Odd.properties.level.type",
            "unknown JSON type 'integr'",
            "did you mean 'integer'?",
        ),
        ("types.Odd.properties.limit.minimum", "expected a number, got a string", ""),
        ("types.Odd.properties.code.maxLength", "expected a whole number >= 0, got -1", ""),
        (
            "types.Odd.properties.code.pattern",
            "not a regular expression Python accepts: missing ), unterminated subpattern "
            "at position 0",
            "",
        ),
    ]
