"""Run a sans-IO state machine against a clock: feed it inputs, fire its timers, act.

EvseManager's charger and the EV simulator are written as pure step functions
(``handle(event, now)``, ``tick(now)``, ``next_deadline``) so that they can be tested
on a hand-stepped clock. :class:`Stepper` is the small piece that puts such a core to
work in a module: one task that serialises inputs, wakes for deadlines on the
module's (possibly sped-up) clock, and carries out the returned actions in order.
Actions are awaited one by one because their order matters: a charger that forbids
power and then stops the PWM must not have those two swapped on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from evstack.runtime.clock import Clock
from evstack.runtime.errors import CommandError, CommandEvent
from evstack.runtime.tasks import first_completed

In = TypeVar("In")
In_contra = TypeVar("In_contra", contravariant=True)
Out = TypeVar("Out")

log = logging.getLogger(__name__)


class Core(Protocol[In_contra, Out]):
    """What a sans-IO state machine offers."""

    def handle(self, event: In_contra, now: float) -> list[Out]: ...

    def tick(self, now: float) -> list[Out]: ...

    @property
    def next_deadline(self) -> float | None: ...


class Stepper(Generic[In, Out]):
    """Drive `core` from a queue of inputs and its own deadlines until cancelled.

    `perform` carries out one action. If it raises, the error is logged and the
    remaining actions still run: a lost MQTT publish must not leave the contactor
    permitted because the next action was skipped. A command answered with Shutdown
    is the one expected failure: on the way out, the calls still in flight (say,
    forbidding power as the last session ends) are answered that way by design.
    """

    def __init__(
        self,
        core: Core[In, Out],
        clock: Clock,
        perform: Callable[[Out], Awaitable[None]],
    ) -> None:
        self.core = core
        self.clock = clock
        self._perform = perform
        self._inputs: asyncio.Queue[In] = asyncio.Queue()

    def feed(self, event: In) -> None:
        """Queue an input; it is handled in order, on the stepper's task."""
        self._inputs.put_nowait(event)

    async def run(self, first: list[Out] | None = None) -> None:
        """Carry out `first` (e.g. the core's start actions), then step forever."""
        await self._act(first or [])
        while True:
            event = await self._next_input()
            now = self.clock.now()
            actions = self.core.handle(event, now) if event is not None else self.core.tick(now)
            await self._act(actions)

    async def _next_input(self) -> In | None:
        """The next input, or None when the core's deadline comes first."""
        if not self._inputs.empty():
            return self._inputs.get_nowait()
        deadline = self.core.next_deadline
        if deadline is None:
            return await self._inputs.get()
        getter = asyncio.ensure_future(self._inputs.get())
        await first_completed(getter, self.clock.sleep(max(0.0, deadline - self.clock.now())))
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    async def _act(self, actions: list[Out]) -> None:
        for action in actions:
            try:
                await self._perform(action)
            except asyncio.CancelledError:
                raise
            except CommandError as error:
                if error.event is CommandEvent.SHUTDOWN:
                    log.debug("%r not carried out: %s", action, error)
                else:
                    log.exception("carrying out %r failed", action)
            except Exception:
                log.exception("carrying out %r failed", action)
