"""One time step of the DC output's circuit, solved exactly rather than integrated.

Within a step the output node is a linear first-order circuit: its capacitance C is fed
by a constant current S (the converter, and the battery's open-circuit voltage behind its
internal resistance) and drained by a conductance G (bleeder, discharge resistor, the
battery's resistance):

    C dv/dt = S - G v

With the EV's contactor closed the time constant C/G is tens of microseconds, without it
minutes; a numerical integrator would need microsecond steps for the first and lose the
second to rounding. The closed-form solution is exact for any step length, and so are the
integrals of v and v^2 over the step, from which every energy follows: what the converter
delivers (S_conv * int v), what the resistors burn (g * int v^2), what reaches the battery.
That exactness is what lets the tests demand that energy balance to the milliwatt-hour.

With x = G h / C the solution is v(t) = v0 + k t f1(x t / h) where k = (S - G v0) / C is the
initial slope; f1, f2 and f3 below are the dimensionless shapes of v and of its two
integrals, with series near x = 0 where the closed forms would cancel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SERIES_BELOW = 1e-3  # below this x the closed forms lose digits to cancellation


def _f1(x: float) -> float:
    """(1 - e^-x) / x: how far the voltage gets, relative to its initial slope."""
    if x < _SERIES_BELOW:
        return 1.0 - x / 2.0 + x * x / 6.0 - x**3 / 24.0
    return -math.expm1(-x) / x


def _f2(x: float) -> float:
    """(x - 1 + e^-x) / x^2: the integral of the voltage's rise."""
    if x < _SERIES_BELOW:
        return 0.5 - x / 6.0 + x * x / 24.0 - x**3 / 120.0
    return (x + math.expm1(-x)) / (x * x)


def _f3(x: float) -> float:
    """(x - 2 (1 - e^-x) + (1 - e^-2x) / 2) / x^3: the integral of the rise squared."""
    if x < _SERIES_BELOW:
        return 1.0 / 3.0 - x / 4.0 + 7.0 * x * x / 60.0 - x**3 / 24.0
    return (x + 2.0 * math.expm1(-x) - math.expm1(-2.0 * x) / 2.0) / x**3


@dataclass(frozen=True, slots=True)
class RcStep:
    """The node after one step, and the integrals the energies are made of."""

    v_end: float
    integral_v: float  # of v over the step, V s
    integral_v2: float  # of v^2 over the step, V^2 s


def gain(conductance_s: float, capacitance_f: float, h: float) -> float:
    """How much the end voltage moves per ampere of source: d v_end / d S, in V/A."""
    return h * _f1(conductance_s * h / capacitance_f) / capacitance_f


def rc_step(
    v0: float, source_a: float, conductance_s: float, capacitance_f: float, h: float
) -> RcStep:
    """Solve C dv/dt = source - G v from v0 over h seconds."""
    x = conductance_s * h / capacitance_f
    k = (source_a - conductance_s * v0) / capacitance_f
    rise = k * h * _f1(x)
    area = k * h * h * _f2(x)
    return RcStep(
        v_end=v0 + rise,
        integral_v=v0 * h + area,
        integral_v2=v0 * v0 * h + 2.0 * v0 * area + k * k * h**3 * _f3(x),
    )
