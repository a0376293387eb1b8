"""Small helpers for writing Python source that ruff accepts as it is: docstrings, comments
and import blocks sorted and wrapped the way ruff's isort rules want them."""

from __future__ import annotations

import textwrap
from collections import defaultdict

__all__ = ["ImportBlock", "comment", "docstring", "sorted_exports", "wrap_call"]

LINE_LENGTH = 100


def _paragraphs(text: str) -> list[str]:
    """The text's lines, whitespace-normalised; blank lines kept, one at most.

    A newline inside a manifest description is meant (YAML's folded style already joins
    the others), and EVerest uses them to list enum values one a line.
    """
    lines: list[str] = []
    for raw in text.strip().splitlines():
        line = " ".join(raw.split())
        if line or (lines and lines[-1]):
            lines.append(line)
    return lines


def docstring(text: str, indent: int) -> str:
    """A docstring literal for `text`, wrapped to the line length at this indent."""
    paragraphs = _paragraphs(text) or ["(no description in the manifest)"]
    safe = [p.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for p in paragraphs]
    if safe[-1].endswith('"'):
        safe[-1] = safe[-1][:-1] + '\\"'
    pad = " " * indent
    if len(safe) == 1 and indent + len(safe[0]) + 6 <= LINE_LENGTH:
        return f'"""{safe[0]}"""'
    width = LINE_LENGTH - indent - 3
    lines: list[str] = []
    for paragraph in safe:
        wrapped = textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False)
        lines.extend(wrapped or [""])
    body = ("\n").join((pad + line) if line and i else line for i, line in enumerate(lines))
    return f'"""{body}\n{pad}"""'


def comment(text: str, indent: int) -> str:
    """`text` as `#` comment lines at this indent."""
    pad = " " * indent
    width = max(LINE_LENGTH - indent - 2, 40)
    lines: list[str] = []
    for paragraph in _paragraphs(text):
        wrapped = textwrap.wrap(paragraph, width, break_long_words=False) or [""]
        lines.extend(f"{pad}# {line}".rstrip() for line in wrapped)
    return "\n".join(lines)


def wrap_call(head: str, items: list[str], tail: str, indent: int) -> str:
    """`head(item, item)tail` on one line if it fits, else one item a line, trailing comma.

    `head` ends with the opening bracket and `tail` starts with the closing one; this is
    the layout ruff's formatter gives such lines, so the output reads like the rest of
    the code base.
    """
    pad = " " * indent
    line = f"{pad}{head}{', '.join(items)}{tail}"
    if len(line) <= LINE_LENGTH or not items:
        return line
    inner = "".join(f"{pad}    {item},\n" for item in items)
    return f"{pad}{head}\n{inner}{pad}{tail}"


def _member_key(name: str) -> tuple[int, str]:
    # ruff's order-by-type: CONSTANTS, then Classes, then everything else.
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def sorted_exports(names: list[str]) -> list[str]:
    """`__all__` in the order ruff's RUF022 wants: constants, classes, the rest."""
    return sorted(names, key=_member_key)


class ImportBlock:
    """Collects imports and prints them in ruff's order: future, stdlib, third party,
    first party (evstack), then relative imports from the furthest to the closest."""

    def __init__(self) -> None:
        self._plain: dict[str, set[str]] = defaultdict(set)
        self._from: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._aliased: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self._absolute_aliased: set[tuple[str, str, str]] = set()

    def plain(self, section: str, module: str) -> None:
        self._plain[section].add(module)

    def names(self, section: str, module: str, *names: str) -> None:
        self._from[(section, module)].update(names)

    def aliased(self, module: str, name: str, alias: str) -> None:
        """`from <module> import <name> as <alias>`; relative modules get their own section."""
        if module.startswith("."):
            self._aliased[module].add((module, name, alias))
        else:
            self._from[("first", module)]  # keeps the section non-empty
            self._absolute_aliased.add((module, name, alias))

    def render(self) -> str:
        sections = []
        for section in ("future", "stdlib", "third", "first"):
            lines = [f"import {m}" for m in sorted(self._plain[section])]
            entries: list[tuple[str, str, str]] = []
            for (sec, module), names in self._from.items():
                if sec == section and names:
                    line = self._from_line(module, sorted(names, key=_member_key))
                    entries.append((module, "", line))
            if section == "first":
                for module, name, alias in self._absolute_aliased:
                    entries.append((module, name, f"from {module} import {name} as {alias}"))
            lines.extend(line for _, _, line in sorted(entries))
            if lines:
                sections.append("\n".join(lines))
        relative = []
        # Furthest first: `..` before `.`.
        for module in sorted(self._aliased, key=lambda m: (-len(m) + len(m.lstrip(".")), m)):
            for _, name, alias in sorted(self._aliased[module], key=lambda x: _member_key(x[1])):
                relative.append(f"from {module} import {name} as {alias}")
        if relative:
            sections.append("\n".join(relative))
        return "\n\n".join(sections)

    @staticmethod
    def _from_line(module: str, names: list[str]) -> str:
        line = f"from {module} import {', '.join(names)}"
        if len(line) <= LINE_LENGTH:
            return line
        inner = "".join(f"    {name},\n" for name in names)
        return f"from {module} import (\n{inner})"
