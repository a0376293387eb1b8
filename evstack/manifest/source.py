"""YAML documents that remember where every value came from.

PyYAML's loaders throw the positions away and keep the last of two duplicate keys
without a word. We compose the node graph instead (with the C parser when present), build
plain Python values ourselves, and keep the start mark of every value under its YAML
path, so any later check can point at file, line and column.

Scalars follow the YAML 1.2 core schema, as EVerest's C++ parsers do: `ON`, `off`, `yes`
stay strings (PyYAML's YAML 1.1 rules would turn an enum of `ON`/`OFF` into booleans),
`010` is ten and there are no implicit timestamps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evstack.manifest.problems import Problem, YamlPath, format_yaml_path

__all__ = ["Document", "load_document"]

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12Loader(_BaseLoader):  # type: ignore[misc]
    """The fast loader with the YAML 1.2 core schema's implicit types."""

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        list("-+0123456789"),
    ),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _core_scalar(node: yaml.ScalarNode) -> Any:
    """Construct a plain scalar by the YAML 1.2 core rules; `_NOT_CORE` for other tags."""
    value: str = node.value
    tag = node.tag.removeprefix("tag:yaml.org,2002:")
    if tag == "str":
        return value
    if tag == "null":
        return None
    if tag == "bool":
        return value.lower() == "true"
    if tag == "int":
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value, 10)
    if tag == "float":
        lowered = value.lower()
        if lowered.endswith(".inf"):
            return float("-inf") if lowered.startswith("-") else float("inf")
        if lowered == ".nan":
            return float("nan")
        return float(value)
    return _NOT_CORE


_NOT_CORE = object()


@dataclass(slots=True)
class Document:
    """One parsed YAML file: its plain data and the position of every value in it."""

    path: Path
    data: Any
    marks: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)

    def problem(self, yaml_path: YamlPath, message: str, hint: str = "") -> Problem:
        """A problem located at `yaml_path`, or at its nearest ancestor that has a mark."""
        probe = yaml_path
        while probe and probe not in self.marks:
            probe = probe[:-1]
        line, column = self.marks.get(probe, (1, 1))
        return Problem(self.path, line, column, format_yaml_path(yaml_path), message, hint)


class _Builder:
    """Turns a composed node graph into plain values, recording marks and duplicates."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._constructor = yaml.constructor.SafeConstructor()
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        self._document.marks.setdefault(path, _position(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            # Merge keys (`<<: *anchor`) are folded in first, the way PyYAML does it.
            self._constructor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = _core_scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if key is _NOT_CORE or key is None:
                    key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    key = str(key)
                child = (*path, str(key))
                if key in result:
                    first_line = self._document.marks[child][0]
                    line, column = _position(key_node.start_mark)
                    self.problems.append(
                        Problem(
                            self._document.path,
                            line,
                            column,
                            format_yaml_path(child),
                            f"duplicate key {key!r}",
                            f"first defined on line {first_line}; "
                            "YAML would silently keep only the last one",
                        )
                    )
                    continue
                # A mapping entry is located at its key: that is where a person looks.
                self._document.marks[child] = _position(key_node.start_mark)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode):
            value = _core_scalar(node)
            if value is not _NOT_CORE:
                return value
        return self._constructor.construct_object(node, deep=True)


def _position(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1)


def load_document(path: Path, problems: list[Problem]) -> Document | None:
    """Parse `path`; on failure add a located problem to `problems` and return None."""
    document = Document(path=path, data=None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, None, None, "<document>", f"cannot read the file: {exc}"))
        return None
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"not valid YAML: {exc.problem or exc.context}"
        problems.append(Problem(path, line, column, "<document>", message))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(path, None, None, "<document>", f"not valid YAML: {exc}"))
        return None
    if node is None:
        document.data = {}
        document.marks[()] = (1, 1)
        return document
    builder = _Builder(document)
    try:
        document.data = builder.build(node, ())
    except yaml.YAMLError as exc:
        problems.append(Problem(path, None, None, "<document>", f"not valid YAML: {exc}"))
        return None
    problems.extend(builder.problems)
    return document
