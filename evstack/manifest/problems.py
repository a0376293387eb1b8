"""What goes wrong in a manifest or config, said so that a person can fix it at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ManifestError", "Problem", "YamlPath", "did_you_mean", "format_yaml_path"]

YamlPath = tuple[str | int, ...]


def format_yaml_path(path: YamlPath) -> str:
    """Render a path the way people write it: `active_modules.evse.connections.bsp[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "<document>"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest valid choice, or listing the few valid ones, or nothing."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not options:
        return "nothing is declared here"
    if len(options) <= 12:
        return "valid choices: " + ", ".join(options)
    return f"valid choices: {', '.join(options[:12])}, ... ({len(options)} in all)"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, located as precisely as the source allows.

    `line` and `column` are 1-based; they are None only when the problem concerns a whole
    file (say, one that cannot be read).
    """

    file: Path
    line: int | None
    column: int | None
    yaml_path: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = str(self.file)
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        text = f"{where}: {self.yaml_path}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ManifestError(Exception):
    """A manifest tree or runtime config is wrong; `problems` holds every fault found.

    Loading goes on after the first fault so that one run shows everything to fix.
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        return head + ":\n" + "\n".join(f"  {problem}" for problem in self.problems)

    def __str__(self) -> str:
        return self._render()
