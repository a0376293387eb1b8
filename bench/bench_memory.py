"""Memory of the AC SIL (config/sil-ac.yaml): one process per module against all in one.

ev-manager runs the SIL on its embedded broker; once every module is ready (plus a settling
pause) each process of the run is read from /proc/<pid>/smaps_rollup: RSS per process, and
PSS summed over all of them, which counts pages shared between the forked module processes
once. The baseline, measured in the same run, is `--inprocess`: every module in ev-manager's
one event loop. `ratio` is process mode's total PSS over the in-process one's. Start-up to
global ready is ev-manager's own figure ("N modules ready in S s").

    python bench/bench_memory.py [--config FILE] [--settle S]
"""

from __future__ import annotations

import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY = re.compile(r"(\d+) modules ready in ([0-9.]+) s")
EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]
TARGET_PSS_MB = 250.0  # the budget, against EVerest's 512 MB minimum board


@dataclass(frozen=True)
class Footprint:
    startup_s: float
    rss_mb: list[float]  # per process, the manager's first
    pss_mb: float  # all processes together


def _smaps(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) / 1024
    return fields


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parent = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def measure(config: Path, inprocess: bool, settle_s: float) -> Footprint:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as run_dir:
        mode = ["--inprocess"] if inprocess else []
        args = [*EV_MANAGER, "run", str(config), "--log-level", "INFO", *mode]
        manager = subprocess.Popen(
            args, cwd=run_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert manager.stderr is not None
        startup_s = None
        for line in manager.stderr:
            if match := READY.search(line):
                startup_s = float(match.group(2))
                break
        assert startup_s is not None, "ev-manager ended before global ready"
        time.sleep(settle_s)
        rss, pss = [], 0.0
        for pid in _descendants(manager.pid):
            try:
                fields = _smaps(pid)
            except OSError:
                continue  # gone meanwhile
            rss.append(fields["Rss"])
            pss += fields["Pss"]
        manager.send_signal(signal.SIGTERM)
        manager.communicate(timeout=60)
        return Footprint(startup_s, rss, pss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=REPO / "config" / "sil-ac.yaml")
    parser.add_argument("--settle", type=float, default=3.0)
    options = parser.parse_args()
    processes = measure(options.config, inprocess=False, settle_s=options.settle)
    grouped = measure(options.config, inprocess=True, settle_s=options.settle)
    modules = processes.rss_mb[1:]
    print(
        f"BENCH memory_sil_ac mode=process processes={len(processes.rss_mb)} "
        f"pss_total_mb={processes.pss_mb:.1f} rss_manager_mb={processes.rss_mb[0]:.1f} "
        f"rss_module_median_mb={statistics.median(modules or [0.0]):.1f} "
        f"rss_module_max_mb={max(modules or [0.0]):.1f} startup_s={processes.startup_s:.3f} "
        f"target_pss_mb={TARGET_PSS_MB:.0f}"
    )
    print(
        f"BENCH memory_sil_ac mode=inprocess processes={len(grouped.rss_mb)} "
        f"pss_total_mb={grouped.pss_mb:.1f} startup_s={grouped.startup_s:.3f} "
        f"ratio={processes.pss_mb / grouped.pss_mb:.2f}"
    )


if __name__ == "__main__":
    main()
