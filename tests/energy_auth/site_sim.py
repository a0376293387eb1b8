"""A site in simulated time: EVSE cores, EVs that take their time, and a slow, loaded scheduler.

The pieces that decide the site current are the real ones: each EVSE's `Charger` core and grant
window (`LimitWindow`), the request it sends up (`flow_request`), and the energy manager's
allocation and sequencing, through the wire types. Around them, models: EVs that follow a lower
PWM only after a random delay up to the standard's 5 s (and raise their draw only to what the
PWM offers at the time), contactors with switching times and the board's power watchdog, a
meter read every second, and messages (requests up, grants down, limits into the core's queue)
delivered late and out of order. Nothing sleeps: all events run off one heap on a simulated
clock, and the site current is checked after every one of them.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from evstack.generated.types.energy import (
    EnergyFlowRequest,
    EnforcedLimits,
    IntegerWithSource,
    LimitsReq,
    NodeType,
    NumberWithSource,
    ScheduleReqEntry,
)
from evstack.modules.EnergyManager.allocation import allocate
from evstack.modules.EnergyManager.sequencing import Grant, Report, Sequencer
from evstack.modules.EnergyManager.tree import enforced_limits, tree_from_request
from evstack.modules.EnergyManager.validity import LimitWindow
from evstack.modules.EvseManager.charger import Charger, ChargerConfig
from evstack.modules.EvseManager.energy import flow_request, grant_amps
from evstack.modules.EvseManager.signals import (
    Action,
    AllowPower,
    Authorize,
    CpChanged,
    CpState,
    CurrentLimit,
    Input,
    MeasuredCurrent,
    Publish,
    RelayChanged,
    SessionEvent,
    SetCpF,
    SetCpX1,
    SetPwm,
    StopReason,
)

FUSE_A = 32.0
EV_RESPONSE_S = 5.0  # IEC 61851-1: an EV follows a lower PWM within 5 s
EV_RAMP_UP_S = 1.0  # and takes up to this long to use a higher one
RELAY_CLOSE_S = 0.08
RELAY_OPEN_S = 0.03
POWER_WATCHDOG_S = 3.0  # the board drops a permission not repeated for this long
METER_INTERVAL_S = 1.0
REQUEST_INTERVAL_S = 1.0
UPDATE_INTERVAL_S = 1.0
CONSUMER_TIMEOUT_S = 5.0  # the fuse's node leaves out an EVSE silent for this long
EVSE_VALID_FOR_S = 5.0  # EvseManager's own cap on a grant's validity
_ISSUED = "2026-01-01T00:00:00.000+00:00"  # issue times travel beside the grants, in sim time


@dataclass(frozen=True)
class Visit:
    """One EV at one EVSE: when it plugs in, is authorized, leaves, and what it wants."""

    arrive_s: float
    authorize_after_s: float
    stay_s: float
    demand_a: float  # what its battery takes, per phase
    demand_changes: tuple[tuple[float, float], ...] = ()  # (seconds after arrival, amps)


@dataclass(frozen=True)
class EvseSpec:
    phases: int = 3  # a one-phase EVSE loads L1
    max_amps: float = 32.0
    visit: Visit | None = None
    crash_at_s: float | None = None  # the EvseManager dies here; the board and EV go on


@dataclass(frozen=True)
class Delays:
    """The most each message may be held up: a loaded scheduler, on top of the network."""

    request_s: float = 0.0  # EVSE -> energy manager
    grant_s: float = 0.0  # energy manager -> EVSE
    queue_s: float = 0.0  # a taken grant waiting in the EVSE's input queue for the core
    round_s: float = 0.0  # a round of the energy manager starting late


class Slowest(random.Random):
    """Every delay as long as allowed: the worst case, and deterministic."""

    def uniform(self, a: float, b: float) -> float:
        return max(a, b)


@dataclass
class Loop:
    now: float = 0.0
    _heap: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(when, self.now), next(self._order), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        self.at(self.now + delay, action)

    def run(self, until: float, check: Callable[[], None]) -> None:
        while self._heap and self._heap[0][0] <= until:
            self.now, _, action = heapq.heappop(self._heap)
            action()
            check()
        self.now = until


class Ev:
    """A car: draws min(demand, what it obeys); follows a lower PWM late, a higher one soon."""

    def __init__(self, evse: SimEvse, visit: Visit) -> None:
        self.evse, self.visit = evse, visit
        self.cp = "A"
        self.wire = 0.0  # the limit the PWM offers now (0 without PWM)
        self.obeyed = 0.0  # the limit the car still goes by
        self.demand = visit.demand_a
        self.drawing = 0.0
        self.powered = False

    def plug_in(self) -> None:
        self._set_cp("B")

    def leave(self) -> None:
        self.drawing = 0.0
        self._set_cp("A")

    def set_demand(self, amps: float) -> None:
        self.demand = amps
        self._behave()

    def see_wire(self, amps: float) -> None:
        self.wire = amps
        rng, loop = self.evse.site.rng, self.evse.site.loop
        if amps < self.obeyed:
            loop.after(rng.uniform(0.0, EV_RESPONSE_S), lambda: self._follow(amps))
        else:
            loop.after(rng.uniform(0.0, EV_RAMP_UP_S), self._catch_up)
        self._behave()

    def see_power(self, on: bool) -> None:
        self.powered = on
        self._behave()

    def _follow(self, lowered: float) -> None:
        self.obeyed = min(self.obeyed, max(lowered, self.wire))
        self._behave()

    def _catch_up(self) -> None:
        self.obeyed = max(self.obeyed, self.wire)
        self._behave()

    def _behave(self) -> None:
        if self.cp == "A":
            return
        charging = self.obeyed >= 6.0
        if charging and self.powered:
            # A car raises its draw only to what it reads now, never to an older, higher PWM.
            self.drawing = min(self.demand, self.obeyed, max(self.drawing, self.wire))
        else:
            self.drawing = 0.0
        self._set_cp("C" if charging else "B")

    def _set_cp(self, cp: str) -> None:
        if cp != self.cp:
            self.cp = cp
            self.evse.handle(CpChanged(CpState(cp)))
            self.evse.steer_relay()


class SimEvse:
    """One EvseManager (its core and grant window), its board, and the EV plugged into it."""

    def __init__(self, site: Site, uuid: str, spec: EvseSpec) -> None:
        self.site, self.uuid, self.spec = site, uuid, spec
        self.charger = Charger(ChargerConfig(max_current_a=spec.max_amps))
        self.charger.current_limit_a = 0.0  # nothing until the energy manager grants it
        self.window = LimitWindow(lambda: site.loop.now)
        self.alive = True
        self.ev: Ev | None = None
        self.relay_on = False
        self.allowed = False
        self.allowed_until = 0.0
        self._switching: bool | None = None
        self._ticks: set[float] = set()
        self.charged = False
        self.overcurrent_trips = 0
        loop, rng = site.loop, site.rng
        self._apply(self.charger.start(loop.now))
        loop.after(rng.uniform(0.0, REQUEST_INTERVAL_S), self._request_tick)
        loop.after(rng.uniform(0.0, METER_INTERVAL_S), self._meter_tick)
        if spec.visit is not None:
            self._schedule(spec.visit)
        if spec.crash_at_s is not None:
            loop.at(spec.crash_at_s, self._crash)

    @property
    def drawn(self) -> float:
        return self.ev.drawing if self.ev is not None and self.relay_on else 0.0

    # --- the EvseManager ----------------------------------------------------------------

    def handle(self, event: Input) -> None:
        if self.alive:
            self._apply(self.charger.handle(event, self.site.loop.now))

    def _tick(self, when: float) -> None:
        self._ticks.discard(when)
        if self.alive:
            self._apply(self.charger.tick(self.site.loop.now))

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case SetPwm(duty_percent=duty):
                    self._pwm(round(duty * 0.6 if duty <= 85.0 else (duty - 64.0) * 2.5, 3))
                case SetCpX1() | SetCpF():
                    self._pwm(0.0)
                case AllowPower(allow=allow):
                    self.allowed = allow
                    if allow:
                        self.allowed_until = self.site.loop.now + POWER_WATCHDOG_S
                        self.site.loop.at(self.allowed_until, self.steer_relay)
                    self.steer_relay()
                case Publish(event=event, stop_reason=reason):
                    if event in (SessionEvent.SESSION_STARTED, SessionEvent.TRANSACTION_STARTED):
                        self._send_request(priority=True)
                    if reason is StopReason.OVERCURRENT_FAULT:
                        self.overcurrent_trips += 1
        deadline = self.charger.next_deadline
        if deadline is not None and deadline not in self._ticks:
            self._ticks.add(deadline)
            self.site.loop.at(deadline, lambda: self._tick(deadline))

    def _pwm(self, amps: float) -> None:
        if self.ev is not None:
            self.ev.see_wire(amps)

    def _request_tick(self) -> None:
        if not self.alive:
            return
        self._send_request(priority=False)
        self.site.loop.after(REQUEST_INTERVAL_S, self._request_tick)

    def _send_request(self, *, priority: bool) -> None:
        now = self.site.loop.now
        request = flow_request(
            self.uuid, self.charger, self.window, self.spec.phases, now, priority=priority
        )
        delay = self.site.rng.uniform(0.0, self.site.delays.request_s)
        self.site.loop.after(delay, lambda: self.site.manager.receive(request, made_at=now))

    def receive(self, limits: EnforcedLimits, issued_at: float) -> None:
        """What `EnergyLeaf.obey` does, with the issue time on the simulated clock."""
        if not self.alive:
            return
        loop = self.site.loop
        valid_for = min(float(limits.valid_for), EVSE_VALID_FOR_S)
        age = 0.0 if limits.grant is None else loop.now - issued_at
        amps = grant_amps(limits, self.spec.phases)
        if not self.window.apply(amps, valid_for, limits.grant, age):
            return
        taken = self.window.amps
        queued = self.site.rng.uniform(0.0, self.site.delays.queue_s)
        loop.after(queued, lambda: self.handle(CurrentLimit(taken)))
        expiry = self.window.expires_at
        loop.at(expiry, lambda: self._lapse_if(expiry))

    def _lapse_if(self, expiry: float) -> None:
        if self.window.expires_at == expiry:  # not renewed since
            self.handle(CurrentLimit(0.0))

    def _meter_tick(self) -> None:
        self.handle(MeasuredCurrent(self.drawn))
        self.charged = self.charged or self.drawn > 0
        self.site.loop.after(METER_INTERVAL_S, self._meter_tick)

    def _crash(self) -> None:
        self.alive = False  # nobody repeats the permission now: the watchdog opens the relay

    # --- the board and the EV ----------------------------------------------------------

    def steer_relay(self) -> None:
        now = self.site.loop.now
        ev_ready = self.ev is not None and self.ev.cp == "C"
        target = self.allowed and now < self.allowed_until and ev_ready
        if target == self.relay_on:
            self._switching = None
        elif self._switching is not target:
            self._switching = target
            delay = RELAY_CLOSE_S if target else RELAY_OPEN_S
            self.site.loop.after(delay, lambda: self._switch(target))

    def _switch(self, target: bool) -> None:
        if self._switching is not target:
            return  # called off meanwhile
        self._switching = None
        self.relay_on = target
        self.handle(RelayChanged(target))
        if self.ev is not None:
            self.ev.see_power(target)
        self.steer_relay()

    def _schedule(self, visit: Visit) -> None:
        loop = self.site.loop
        loop.at(visit.arrive_s, lambda: self._arrive(visit))
        loop.at(visit.arrive_s + visit.authorize_after_s, lambda: self.handle(Authorize("tag")))
        loop.at(visit.arrive_s + visit.stay_s, self._leave)
        for offset, amps in visit.demand_changes:
            loop.at(visit.arrive_s + offset, functools.partial(self._demand, amps))

    def _arrive(self, visit: Visit) -> None:
        self.ev = Ev(self, visit)
        self.ev.plug_in()

    def _demand(self, amps: float) -> None:
        if self.ev is not None and self.ev.cp != "A":
            self.ev.set_demand(amps)

    def _leave(self) -> None:
        if self.ev is not None:
            self.ev.leave()


class SimManager:
    """The EnergyNode (the fuse) and the EnergyManager above it, as their modules do it."""

    def __init__(self, site: Site, *, sequenced: bool, valid_for_s: int) -> None:
        self.site = site
        self.sequenced = sequenced
        self.valid_for_s = valid_for_s
        self.sequencer = Sequencer(valid_for_s, first_seq=1)
        self._children: dict[str, tuple[EnergyFlowRequest, float]] = {}
        self._latest: EnergyFlowRequest | None = None
        site.loop.after(UPDATE_INTERVAL_S, self._periodic)

    def receive(self, request: EnergyFlowRequest, made_at: float) -> None:
        now = self.site.loop.now
        self._children[request.uuid] = (request, now)
        self.sequencer.observe(
            request.uuid,
            Report(request.ac_committed_current_A, request.applied_grant, made_at),
        )
        self._latest = self._node_request()
        if request.priority_request:
            self.site.loop.after(self.site.rng.uniform(0.0, self.site.delays.round_s), self.round)

    def _node_request(self) -> EnergyFlowRequest:
        oldest = self.site.loop.now - CONSUMER_TIMEOUT_S
        limits = LimitsReq(
            ac_max_current_A=NumberWithSource(value=FUSE_A, source="fuse"),
            ac_max_phase_count=IntegerWithSource(value=3, source="fuse"),
        )
        return EnergyFlowRequest(
            uuid="fuse",
            node_type=NodeType.Generic,
            children=[r for r, at in self._children.values() if at >= oldest],
            schedule_import=[
                ScheduleReqEntry(timestamp=_ISSUED, limits_to_root=limits, limits_to_leaves=limits)
            ],
            schedule_export=[],
        )

    def _periodic(self) -> None:
        self.round()
        delay = UPDATE_INTERVAL_S + self.site.rng.uniform(0.0, self.site.delays.round_s)
        self.site.loop.after(delay, self._periodic)

    def round(self) -> None:
        if self._latest is None:
            return
        now = self.site.loop.now
        tree = tree_from_request(self._latest)
        targets = allocate(tree)
        if self.sequenced:
            grants = self.sequencer.grants(tree, targets, now)
        else:  # the old way: everyone gets the target at once, unnumbered
            grants = {uuid: Grant(0, amps) for uuid, amps in targets.items()}
        for limits in enforced_limits(grants, self.valid_for_s, _ISSUED, source="em"):
            if not self.sequenced:
                limits = msgspec.structs.replace(limits, grant=None)
            evse = self.site.evses[limits.uuid]
            delay = self.site.rng.uniform(0.0, self.site.delays.grant_s)
            self.site.loop.after(delay, functools.partial(evse.receive, limits, issued_at=now))


class Site:
    """Two or more EVSEs behind one 32 A three-phase fuse, run for ``seconds``."""

    def __init__(
        self,
        specs: list[EvseSpec],
        delays: Delays,
        rng: random.Random,
        *,
        sequenced: bool = True,
        valid_for_s: int = 3,
    ) -> None:
        self.loop = Loop()
        self.rng = rng
        self.delays = delays
        self.evses = {f"evse_{i}": SimEvse(self, f"evse_{i}", s) for i, s in enumerate(specs)}
        self.manager = SimManager(self, sequenced=sequenced, valid_for_s=valid_for_s)
        self.peak_a = 0.0
        self.first_overload: str | None = None

    def run(self, seconds: float) -> None:
        self.loop.run(seconds, self._check)

    def phase_currents(self) -> list[float]:
        """What the EVs draw through the fuse now, per phase (L1, L2, L3)."""
        loads = [0.0, 0.0, 0.0]
        for evse in self.evses.values():
            for phase in range(evse.spec.phases):
                loads[phase] += evse.drawn
        return loads

    def _check(self) -> None:
        loads = self.phase_currents()
        self.peak_a = max(self.peak_a, *loads)
        if self.first_overload is None and max(loads) > FUSE_A + 1e-6:
            drawn = {uuid: e.drawn for uuid, e in self.evses.items()}
            self.first_overload = f"t={self.loop.now:.3f} s: {loads} A per phase ({drawn})"
