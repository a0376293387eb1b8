"""Writing the generated package, and telling whether it is up to date.

ev-codegen owns its parts of the output folder outright: the top `__init__.py` and the
`types/`, `errors/`, `interfaces/` and `modules/` packages. It rewrites them from scratch
and deletes what it no longer generates, so no hand-written line can be lost: every file
there must carry the generated header, and if one does not, ev-codegen refuses to touch
the folder and says which file is in the way. Other entries of the output folder (say,
another generator's `exi/` package) are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evstack.codegen.render import DOCS_HEADER_PREFIX, HEADER_PREFIX, PACKAGE_DOCS

__all__ = ["DOCS", "PACKAGE", "Layout", "OutputNotOwnedError", "Staleness", "compare", "write"]

_IGNORED_DIRS = {"__pycache__"}


@dataclass(frozen=True, slots=True)
class Layout:
    """Which part of an output folder ev-codegen owns, and how its files announce it.

    `parts` are the owned entries of the folder (files or folders); None owns it all.
    """

    header: str
    parts: tuple[str, ...] | None


PACKAGE = Layout(HEADER_PREFIX, ("__init__.py", *(package for package in PACKAGE_DOCS if package)))
DOCS = Layout(DOCS_HEADER_PREFIX, None)


class OutputNotOwnedError(Exception):
    """The output folder holds files ev-codegen did not write; it will not overwrite them."""


def _is_generated(path: Path, header: str) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(header.encode())) == header.encode()
    except OSError:
        return False


def _candidates(out: Path, layout: Layout) -> list[Path]:
    roots = [out] if layout.parts is None else [out / part for part in layout.parts]
    found = []
    for root in roots:
        if root.is_file():
            found.append(root)
        elif root.is_dir():
            found.extend(
                p
                for p in sorted(root.rglob("*"))
                if p.is_file() and not _IGNORED_DIRS.intersection(p.relative_to(out).parts)
            )
    return found


def owned_files(out: Path, layout: Layout) -> dict[str, Path]:
    """The files ev-codegen owns in `out`, keyed by POSIX path relative to it.

    Raises OutputNotOwnedError when a file in ev-codegen's part of `out` lacks the header.
    """
    found: dict[str, Path] = {}
    strangers: list[Path] = []
    for path in _candidates(out, layout):
        if _is_generated(path, layout.header):
            found[path.relative_to(out).as_posix()] = path
        else:
            strangers.append(path)
    if strangers:
        listed = "\n  ".join(str(p) for p in strangers)
        raise OutputNotOwnedError(
            f"{out} holds files that ev-codegen did not write (no '{layout.header}' "
            f"header), so it will not overwrite or delete them:\n  {listed}\n"
            "Move them out of the output folder, or choose another --out."
        )
    return found


@dataclass(slots=True)
class Staleness:
    """How the output folder differs from what the manifests generate."""

    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not (self.stale or self.missing or self.extra)

    def describe(self) -> str:
        lines: list[str] = []
        for label, paths in (
            ("stale", self.stale),
            ("missing", self.missing),
            ("extra", self.extra),
        ):
            lines.extend(f"{label}: {path}" for path in paths)
        return "\n".join(lines)


def compare(files: Mapping[str, str], out: Path, layout: Layout = PACKAGE) -> Staleness:
    """Compare generated `files` with `out` without writing anything."""
    existing = owned_files(out, layout) if out.is_dir() else {}
    result = Staleness()
    for relative, text in files.items():
        path = existing.get(relative)
        if path is None:
            result.missing.append(relative)
        elif path.read_bytes() != text.encode():
            result.stale.append(relative)
    result.extra = sorted(set(existing) - set(files))
    return result


def write(files: Mapping[str, str], out: Path, layout: Layout = PACKAGE) -> Staleness:
    """Make `out` hold exactly `files` in ev-codegen's part of it; returns what changed.

    Unchanged files are not rewritten, so their timestamps stay and tools that watch
    them see no change.
    """
    out.mkdir(parents=True, exist_ok=True)
    changes = compare(files, out, layout)
    for relative in [*changes.stale, *changes.missing]:
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(files[relative].encode())
        temporary.replace(path)
    for relative in changes.extra:
        (out / relative).unlink()
    for part in layout.parts or [child.name for child in out.iterdir()]:
        folder = out / part
        if folder.is_dir():
            _remove_empty_dirs(folder)
    return changes


def _remove_empty_dirs(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and child.name not in _IGNORED_DIRS:
            _remove_empty_dirs(child)
    if not any(p.name not in _IGNORED_DIRS for p in folder.iterdir()):
        for cache in folder.glob("__pycache__"):
            for item in cache.iterdir():
                item.unlink()
            cache.rmdir()
        folder.rmdir()
