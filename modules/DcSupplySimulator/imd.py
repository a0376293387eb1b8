"""The isolation monitor on the DC output: what it measures and when it says so.

It sits on the cable side of the charger's output contactor, as IEC 61851-23 monitors
the DC output, so it sees the cable's insulation (and a leak injected into it) at all
times and the EV's high-voltage system while the EV's contactor is closed; its voltage is
the cable's, the one the EV sees at its inlet. It measures with a signal of its own, so a
measurement needs no voltage on the lines. While running it reports once per interval;
a self test takes its time and then passes or fails as configured.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImdConfig:
    resistance_ohm: float = 900_000.0  # the charger's output and cable, to earth
    interval_s: float = 1.0
    self_test_s: float = 5.0
    self_test_passes: bool = True


@dataclass(frozen=True, slots=True)
class IsolationMeasured:
    resistance_ohm: float
    voltage_v: float
    at: float


@dataclass(frozen=True, slots=True)
class SelfTestDone:
    passed: bool
    at: float


ImdEvent = IsolationMeasured | SelfTestDone


def parallel(*resistances_ohm: float) -> float:
    """Resistances side by side."""
    return 1.0 / sum(1.0 / r for r in resistances_ohm)


class IsolationMonitor:
    def __init__(self, config: ImdConfig) -> None:
        self.config = config
        self.leak_ohm: float | None = None  # an injected insulation fault in the cable
        self._next_measurement: float | None = None
        self._self_test_ends: float | None = None

    @property
    def running(self) -> bool:
        return self._next_measurement is not None

    def start(self, now: float) -> None:
        """Measure from now on; the first result comes one interval later."""
        if self._next_measurement is None:
            self._next_measurement = now + self.config.interval_s

    def stop(self) -> None:
        self._next_measurement = None

    def start_self_test(self, now: float) -> None:
        """A self test asked for while one runs starts over."""
        self._self_test_ends = now + self.config.self_test_s

    def resistance_ohm(self, ev_connected: bool, ev_insulation_ohm: float) -> float:
        paths = [self.config.resistance_ohm]
        if self.leak_ohm is not None:
            paths.append(self.leak_ohm)
        if ev_connected:
            paths.append(ev_insulation_ohm)
        return parallel(*paths)

    @property
    def next_deadline(self) -> float | None:
        due = [t for t in (self._next_measurement, self._self_test_ends) if t is not None]
        return min(due) if due else None

    def due(self, now: float, resistance_ohm: float, voltage_v: float) -> list[ImdEvent]:
        """What the monitor reports at `now` (the caller stops time at each deadline)."""
        events: list[ImdEvent] = []
        if self._self_test_ends is not None and now >= self._self_test_ends:
            self._self_test_ends = None
            events.append(SelfTestDone(self.config.self_test_passes, now))
        if self._next_measurement is not None and now >= self._next_measurement:
            self._next_measurement = now + self.config.interval_s
            events.append(IsolationMeasured(resistance_ohm, voltage_v, now))
        return events
