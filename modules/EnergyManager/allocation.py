"""Share the current of an energy tree among its EVSEs: minimum first, then a max-min fair share.

The tree runs from the grid connection through fuses (``Node``) to EVSEs (``EvseDemand``).
Every node limits the current on each of the three phases and, optionally, its total power; an
EVSE draws the same current on each phase it is wired to, so a single-phase EVSE on L2 only
loads L2 of every fuse above it. Each such limit becomes one linear constraint
``sum(weight * current) <= capacity`` over the EVSEs below it, and the whole allocation is two
passes over those constraints:

1. **Minimum first.** In tree order, each active EVSE gets its minimum (6 A for IEC 61851) if
   every constraint still has room for it, else nothing: below its minimum an EV does not
   charge, so a share smaller than that would be wasted current.
2. **Fair share.** Progressive filling: the EVSEs with the lowest current rise together until one
   reaches its own maximum or a constraint it shares is full; those freeze, the rest go on. The
   result is max-min fair: an EVSE below its maximum is stopped by a full fuse on which no EVSE
   that could give way has more than it.

The exact answer is rounded *down* to 0.1 A (finer than the PWM can signal), so rounding can
never push a fuse over its limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

PHASES = (1, 2, 3)
STEPS_PER_A = 10  # grants are multiples of 0.1 A
_EPS = 1e-9


@dataclass(frozen=True)
class EvseDemand:
    """What one EVSE asks of the tree.

    ``active`` is false while nobody can draw current (unplugged, waiting for authorization,
    finished, disabled); an inactive EVSE gets 0 A. Its request is still carried so that it gets
    current again the moment it becomes active: an EVSE that was granted 0 A is never stuck there.
    """

    uuid: str
    max_amps: float
    min_amps: float = 6.0
    phases: frozenset[int] = frozenset(PHASES)
    max_watts: float = math.inf
    active: bool = True


@dataclass(frozen=True)
class Node:
    """A fuse, a grid connection or any other point that limits what flows below it."""

    uuid: str
    children: tuple[Node | EvseDemand, ...]
    max_amps: Mapping[int, float] = field(default_factory=dict)  # per phase; missing: none
    max_watts: float = math.inf

    @classmethod
    def fuse(cls, uuid: str, limit_amps: float, *children: Node | EvseDemand) -> Node:
        """A fuse with the same limit on all three phases."""
        return cls(uuid, children, dict.fromkeys(PHASES, limit_amps))


@dataclass(frozen=True)
class Constraint:
    """``sum(weights[evse] * current[evse]) <= capacity``; named after the limit it stands for."""

    name: str
    capacity: float
    weights: Mapping[str, float]


def walk_evses(tree: Node | EvseDemand) -> Iterator[EvseDemand]:
    """The EVSEs of ``tree`` in depth-first order, which is also their priority for the minimum."""
    if isinstance(tree, EvseDemand):
        yield tree
        return
    for child in tree.children:
        yield from walk_evses(child)


def constraints_of(root: Node, nominal_volts: float = 230.0) -> list[Constraint]:
    """Every finite limit of every node, as a constraint over the EVSEs below that node."""
    found: list[Constraint] = []
    nodes = [root]
    while nodes:
        node = nodes.pop()
        nodes += [c for c in node.children if isinstance(c, Node)]
        evses = list(walk_evses(node))
        for phase, limit in node.max_amps.items():
            if math.isfinite(limit):
                weights = {e.uuid: 1.0 for e in evses if phase in e.phases}
                found.append(Constraint(f"{node.uuid}/L{phase}", max(limit, 0.0), weights))
        if math.isfinite(node.max_watts):
            weights = {e.uuid: nominal_volts * len(e.phases) for e in evses}
            found.append(Constraint(f"{node.uuid}/power", max(node.max_watts, 0.0), weights))
    return found


def allocate(root: Node, nominal_volts: float = 230.0) -> dict[str, float]:
    """The current per phase, in A, that each EVSE of ``root`` may draw."""
    evses = list(walk_evses(root))
    if len({e.uuid for e in evses}) != len(evses):
        raise ValueError("every EVSE in the energy tree needs its own uuid")
    filling = _Filling(constraints_of(root, nominal_volts))
    ceiling = {e.uuid: _ceiling(e, nominal_volts) for e in evses}
    current = dict.fromkeys(ceiling, 0.0)

    granted: list[str] = []
    for evse in evses:
        minimum = max(evse.min_amps, 0.0)
        if not evse.active or not evse.phases or ceiling[evse.uuid] < max(minimum, _EPS):
            continue
        if filling.fits(evse.uuid, minimum):
            filling.raise_by(evse.uuid, minimum)
            current[evse.uuid] = minimum
            granted.append(evse.uuid)

    filling.fill(granted, current, ceiling)
    return {uuid: round_down(value) for uuid, value in current.items()}


def _ceiling(evse: EvseDemand, nominal_volts: float) -> float:
    by_power = evse.max_watts / (nominal_volts * max(len(evse.phases), 1))
    return max(min(evse.max_amps, by_power), 0.0)


class _Filling:
    """The room left in every constraint, kept up to date as currents rise."""

    def __init__(self, constraints: list[Constraint]) -> None:
        self._room = [c.capacity for c in constraints]
        self._members = [c.weights for c in constraints]
        self._of: dict[str, list[tuple[int, float]]] = {}
        for index, c in enumerate(constraints):
            for uuid, weight in c.weights.items():
                if weight > 0:
                    self._of.setdefault(uuid, []).append((index, weight))

    def fits(self, uuid: str, amps: float) -> bool:
        return all(w * amps <= self._room[i] + _EPS for i, w in self._of.get(uuid, ()))

    def raise_by(self, uuid: str, amps: float) -> None:
        for index, weight in self._of.get(uuid, ()):
            self._room[index] -= weight * amps

    def fill(
        self, rising: list[str], current: dict[str, float], ceiling: Mapping[str, float]
    ) -> None:
        """Progressive filling from the current levels; mutates ``current``."""
        unfrozen = [u for u in rising if current[u] < ceiling[u] - _EPS]
        # Each round freezes an EVSE, fills a constraint or merges two levels: it terminates.
        for _ in range(4 * (len(rising) + len(self._room)) + 4):
            if not unfrozen:
                return
            level = min(current[u] for u in unfrozen)
            lowest = [u for u in unfrozen if current[u] <= level + _EPS]
            higher = [current[u] for u in unfrozen if current[u] > level + _EPS]
            step = min([*higher, *(ceiling[u] for u in lowest)]) - level
            load: dict[int, float] = {}
            for u in lowest:
                for index, weight in self._of.get(u, ()):
                    load[index] = load.get(index, 0.0) + weight
            for index, weight in load.items():
                step = min(step, max(self._room[index], 0.0) / weight)
            for u in lowest:
                current[u] += step
                self.raise_by(u, step)
            full = [i for i in load if self._room[i] <= _EPS]
            blocked = {u for i in full for u, w in self._members[i].items() if w > 0}
            unfrozen = [u for u in unfrozen if u not in blocked and current[u] < ceiling[u] - _EPS]
        raise AssertionError("progressive filling did not converge")  # pragma: no cover


def round_down(value: float) -> float:
    """``value`` in A rounded down to a multiple of 0.1 A, the resolution of grants."""
    # The tiny tolerance keeps an exact 6.0 from becoming 5.9 through float noise.
    return math.floor(value * STEPS_PER_A + 1e-6) / STEPS_PER_A
