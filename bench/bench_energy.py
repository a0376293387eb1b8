"""Energy allocation: exact progressive filling against slice-by-slice round robin.

The baseline hands out current the way EVerest's energy manager describes it: everyone's
minimum first, then small slices (0.5 A) round robin until no slice fits anywhere. Both run
in the same process on the same trees, so the ratio compares algorithms, not machines. The
run also prints the smallest share each gives a charging EVSE, the number max-min fairness
maximises.

    python bench/bench_energy.py
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from evstack.modules.EnergyManager.allocation import (
    PHASES,
    EvseDemand,
    Node,
    allocate,
    constraints_of,
    walk_evses,
)

SLICE_A = 0.5


def sliced(root: Node) -> dict[str, float]:
    """The baseline: minimum first, then 0.5 A slices round robin."""
    evses = list(walk_evses(root))
    constraints = constraints_of(root)
    current = {e.uuid: 0.0 for e in evses}

    def fits(uuid: str, amps: float) -> bool:
        return all(
            sum(w * current[u] for u, w in c.weights.items()) + c.weights.get(uuid, 0.0) * amps
            <= c.capacity + 1e-9
            for c in constraints
        )

    growing = []
    for e in evses:
        if e.active and e.max_amps >= e.min_amps and fits(e.uuid, e.min_amps):
            current[e.uuid] = e.min_amps
            growing.append(e)
    while growing:
        still = []
        for e in growing:
            step = min(SLICE_A, e.max_amps - current[e.uuid])
            if step > 1e-9 and fits(e.uuid, step):
                current[e.uuid] += step
                still.append(e)
        growing = still
    return current


def site(n_evses: int) -> Node:
    """A car park: a 250 A grid connection, fuses of 63 A feeding up to 8 EVSEs each."""
    fuses = []
    for f in range(math.ceil(n_evses / 8)):
        evses = [
            EvseDemand(
                f"evse{f}-{i}",
                max_amps=32.0 if i % 3 else 16.0,
                phases=frozenset(PHASES) if i % 4 else frozenset({1 + (i + f) % 3}),
            )
            for i in range(min(8, n_evses - 8 * f))
        ]
        fuses.append(Node.fuse(f"fuse{f}", 63.0, *evses))
    return Node.fuse("grid", 250.0, *fuses)


def per_call_us(fn: Callable[[Node], dict[str, float]], tree: Node) -> float:
    rounds, elapsed = 0, 0.0
    start = time.perf_counter()
    while elapsed < 0.5:
        fn(tree)
        rounds += 1
        elapsed = time.perf_counter() - start
    return elapsed / rounds * 1e6


def _smallest(grants: dict[str, float]) -> float:
    return min((a for a in grants.values() if a > 0), default=0.0)


def main() -> None:
    results = []
    for n in (8, 32, 64):
        tree = site(n)
        exact_us, slices_us = per_call_us(allocate, tree), per_call_us(sliced, tree)
        exact, slices = allocate(tree), sliced(tree)
        print(
            f"{n:3d} EVSEs: exact {exact_us:8.1f} us (smallest share {_smallest(exact):4.1f} A), "
            f"0.5 A slices {slices_us:8.1f} us (smallest share {_smallest(slices):4.1f} A)"
        )
        results.append((n, exact_us, slices_us))
    n, exact_us, slices_us = results[-1]
    print(
        f"BENCH energy_allocation evses={n} exact_us={exact_us:.1f} slices_us={slices_us:.1f} "
        f"ratio={slices_us / exact_us:.1f}"
    )


if __name__ == "__main__":
    main()
