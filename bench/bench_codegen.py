"""Code generation benchmark: everest-core's whole manifest tree through ev-codegen.

Measures a full `generate` (load and check every manifest, render, write) into an empty
folder, and a no-op `check` (load, render, compare) against that output. The baseline,
timed in the same run, is the least any tool must do: parse the same YAML files with
PyYAML's C loader and nothing else. Needs the everest-core mirror; falls back to the
project's own tree (and says so) when it is absent.
"""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from evstack.codegen.output import compare, write
from evstack.codegen.render import render_tree
from evstack.manifest import load_tree

PROJECT = Path(__file__).resolve().parent.parent
# everest-core's git directory: $EVEREST_CORE_GIT, or the workplace's mirror beside the checkout.
MIRROR = Path(
    os.environ.get("EVEREST_CORE_GIT", PROJECT / ".." / ".mirror" / "EVerest+everest-core" / "repo")
)
ROUNDS = 5


def tree_root(workdir: Path) -> tuple[Path, str]:
    if not MIRROR.is_dir():
        return PROJECT, "evstack"
    archive = subprocess.run(
        ["git", "-C", str(MIRROR), "archive", "HEAD", "interfaces", "types", "errors", "modules"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir / "tree", filter="data")
    return workdir / "tree", "everest-core"


def median_time(run: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        root, label = tree_root(workdir)
        patterns = (
            "interfaces/*.yaml",
            "types/*.yaml",
            "errors/*.yaml",
            "modules/**/manifest.yaml",
        )
        files = sorted(path for pattern in patterns for path in root.glob(pattern))
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        texts = [path.read_text() for path in files]
        count = 0

        def parse_only() -> None:
            for text in texts:
                yaml.load(text, Loader=loader)

        def generate() -> None:
            nonlocal count
            out = workdir / f"out{count}"
            count += 1
            write(render_tree(load_tree(root)), out)

        def check() -> None:
            assert compare(render_tree(load_tree(root)), workdir / "out0").up_to_date

        baseline_s = median_time(parse_only)
        generate_s = median_time(generate)
        check_s = median_time(check)
        generated = len(render_tree(load_tree(root)))
    print(f"{label}: {len(files)} manifest files -> {generated} generated files")
    print(f"parse YAML only (baseline): {baseline_s * 1000:8.1f} ms")
    print(f"ev-codegen generate:        {generate_s * 1000:8.1f} ms")
    print(f"ev-codegen check (no-op):   {check_s * 1000:8.1f} ms")
    print(
        f"BENCH codegen tree={label} manifests={len(files)} files={generated} "
        f"generate_ms={generate_s * 1000:.0f} check_ms={check_s * 1000:.0f} "
        f"yaml_parse_ms={baseline_s * 1000:.0f} ratio={generate_s / baseline_s:.2f}"
    )


if __name__ == "__main__":
    main()
