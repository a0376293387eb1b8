"""Ordering a re-allocation so the fuse holds at every instant, not only before and after it.

`allocate` says where the current should end up; sending every EVSE its new share at once is
not safe. IEC 61851-1 gives an EV up to 5 s to follow a lower PWM, the EVSE may change its
duty only every 5 s, and on a loaded machine the lowering grant itself may arrive late, while
the EVSE that was raised lets its EV draw the new share at once: the fuse then carries both
(48 A on the demo's 32 A fuse). So every round is sent in order, lower first:

- an EVSE whose target is at or below what it may draw now (its *possible* draw) gets the
  target at once: a lowering or a renewal adds no load;
- an EVSE whose target is above its possible draw is raised only as far as every constraint
  allows with every other EVSE counted at the larger of its possible draw and what it is sent
  in this round.

An EVSE's possible draw is the larger of the current it reports as *committed* (what its EV
may still draw without a new grant: the highest limit signalled within the EV's follow time,
until its meter shows the EV has followed) and every grant sent to it that it has not yet
confirmed. Grants carry a sequence number; the EVSE echoes the newest one it applied and
ignores older ones, so a grant at or below the echo has been applied (and is in the committed
current) or never will be. The EVSE also ignores a grant older than its validity, so one that a
report made after that time does not confirm will never be applied either (an EVSE that hangs
in the command does not block the others for good). Since the targets fit every constraint,
each raise completes once the lowered EVSEs report that they came down, or their follow time
has run out: the fuse holds by construction, whatever the timing of messages and EVs.

An EVSE that drops out of the tree (its node heard nothing from it for a while) is still
counted at its last possible draw until its last grant has lapsed and its EV has had the
follow time: twice the validity (a grant is taken until it is that old, and then holds that
long) plus the follow time after the grant was sent. A peer that reports no committed current
(an EVerest EVSE) can only be judged by the clock: each grant sent to it counts that long.

Sans-IO: the caller passes the time (the module clock) and sends the grants.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from evstack.modules.EnergyManager.allocation import (
    EvseDemand,
    Node,
    constraints_of,
    round_down,
    walk_evses,
)

EV_FOLLOW_S = 6.0  # IEC 61851-1's 5 s for an EV to follow a lower PWM, and 1 s of margin
_EPS = 1e-9


@dataclass(frozen=True)
class Grant:
    """One enforced limit: its sequence number and the current it allows, A per phase."""

    seq: int
    amps: float


@dataclass(frozen=True)
class Report:
    """What an EVSE said of itself in a request, and when it said it (on our clock); None
    where it said nothing."""

    committed_amps: float | None
    applied_grant: int | None
    made_at: float | None = None


@dataclass(frozen=True)
class _Sent:
    seq: int
    amps: float
    at: float


@dataclass
class _Evse:
    committed: float | None = None  # None: a peer that reports none
    applied: int | None = None
    # Unconfirmed grants, oldest first, amps falling: an older grant no larger than a newer
    # one adds nothing, since it is confirmed (or expires) no later than that one.
    sent: list[_Sent] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # by constraint name
    last_sent_at: float | None = None


class Sequencer:
    """Turns each round's fair targets into grants that never overload a constraint."""

    def __init__(
        self,
        valid_for_s: float,
        first_seq: int,
        nominal_volts: float = 230.0,
        follow_s: float = EV_FOLLOW_S,
    ) -> None:
        self._valid_for_s = valid_for_s
        # How long after it was sent a grant may still let an EV draw: taken until it is
        # valid_for old, it then holds for valid_for, and the EV follows its lapse late.
        self._in_force_s = 2 * valid_for_s + follow_s
        self._volts = nominal_volts
        self._next_seq = first_seq
        self._evses: dict[str, _Evse] = {}

    def observe(self, uuid: str, report: Report) -> None:
        """Take an EVSE's report, unless one that knew of a newer grant came before it."""
        evse = self._evses.setdefault(uuid, _Evse())
        if report.applied_grant is not None:
            # A predecessor of ours may have numbered further: ours must count as newer.
            self._next_seq = max(self._next_seq, report.applied_grant + 1)
        if evse.applied is not None and (
            report.applied_grant is None or report.applied_grant < evse.applied
        ):
            return  # overtaken on the way, or from an EVSE that restarted: keep what we know
        evse.committed, evse.applied = report.committed_amps, report.applied_grant
        # Drop what was applied (it is in the committed current) or overtaken, and what is too
        # old to be applied: only an EVSE that reports its committed current refuses those.
        too_old = -math.inf
        if report.made_at is not None and evse.committed is not None:
            too_old = report.made_at - self._valid_for_s
        evse.sent = [
            g
            for g in evse.sent
            if (evse.applied is None or g.seq > evse.applied) and g.at > too_old
        ]

    def possible(self, uuid: str, now: float) -> float:
        """The most the EVSE may draw, as far as we know, A per phase."""
        evse = self._evses.get(uuid)
        if evse is None:
            return 0.0
        if evse.committed is None:
            horizon = now - self._in_force_s
            return max((g.amps for g in evse.sent if g.at > horizon), default=0.0)
        return max([evse.committed, *(g.amps for g in evse.sent)])

    def grants(self, tree: Node, targets: Mapping[str, float], now: float) -> dict[str, Grant]:
        """This round's grant for every EVSE of ``tree``: lowerings whole, raises as far as safe."""
        demands = list(walk_evses(tree))
        constraints = constraints_of(tree, self._volts)
        weights: dict[str, dict[str, float]] = {d.uuid: {} for d in demands}
        for c in constraints:
            for uuid, weight in c.weights.items():
                if weight > 0:
                    weights[uuid][c.name] = weight
        for demand in demands:
            self._evses.setdefault(demand.uuid, _Evse()).weights = weights[demand.uuid]
        self._forget_departed(set(weights), now)

        # Everyone counts at the larger of its possible draw and what it is sent this round.
        counted = {uuid: self.possible(uuid, now) for uuid in self._evses}
        capacity = {c.name: c.capacity for c in constraints}
        load = dict.fromkeys(capacity, 0.0)
        for uuid, evse in self._evses.items():
            for name, weight in evse.weights.items():
                if name in load:  # a departed EVSE's fuse may be gone too
                    load[name] += weight * counted[uuid]
        amps: dict[str, float] = {}
        rising: list[EvseDemand] = []
        for demand in demands:
            target = targets.get(demand.uuid, 0.0)
            if target <= counted[demand.uuid] + _EPS:
                amps[demand.uuid] = target
            else:
                rising.append(demand)
        for demand in rising:
            uuid, own = demand.uuid, weights[demand.uuid]
            room = min(
                (
                    (capacity[name] - load[name]) / weight + counted[uuid]
                    for name, weight in own.items()
                ),
                default=targets[uuid],
            )
            granted = round_down(max(min(targets[uuid], room), 0.0))
            # Below its minimum an EV does not charge: such a share would be wasted.
            amps[uuid] = granted if granted >= demand.min_amps else 0.0
            raised = max(counted[uuid], amps[uuid])
            for name, weight in own.items():
                load[name] += weight * (raised - counted[uuid])
            counted[uuid] = raised

        issued: dict[str, Grant] = {}
        for demand in demands:
            grant = issued[demand.uuid] = Grant(self._next_seq, amps[demand.uuid])
            self._next_seq += 1
            self._remember(self._evses[demand.uuid], grant, now)
        return issued

    def _remember(self, evse: _Evse, grant: Grant, now: float) -> None:
        while evse.sent and evse.sent[-1].amps <= grant.amps:
            evse.sent.pop()
        evse.sent.append(_Sent(grant.seq, grant.amps, now))
        evse.last_sent_at = now
        if evse.committed is None:
            horizon = now - self._in_force_s
            evse.sent = [g for g in evse.sent if g.at > horizon]

    def _forget_departed(self, present: set[str], now: float) -> None:
        """Drop EVSEs gone from the tree once their last grant lapsed and their EV followed."""
        for uuid, evse in list(self._evses.items()):
            if uuid in present:
                continue
            sent_at = evse.last_sent_at
            if sent_at is None or now >= sent_at + self._in_force_s:
                del self._evses[uuid]
