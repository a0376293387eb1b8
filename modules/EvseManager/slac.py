"""EvseManager's wiring for SLAC (ISO 15118-3): the optional `slac` requirement, driven as
EVerest's EvseManager drives it.

The control pilot decides: entering B, C or D (an EV plugged in, or back from E/F) starts
matching (enter_bcd); leaving them ends it (leave_bcd), and unplugging (A) also resets
SLAC. At start-up SLAC is reset, idle until an EV is there. D-LINK_READY is what the V2G
session stands on: EvseManager answers the session's authorization only while the link
is up (HlcLink.link_changed), so a session over an unmatched link never starts charging.
The commands go out one after the other, in the order the pilot changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from evstack.generated.interfaces.slac import SlacClient
from evstack.modules.EvseManager.signals import CpState

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager

CALL_S = 2.0  # wall seconds a SLAC command may take before it is given up (and logged)
_BCD = (CpState.B, CpState.C, CpState.D)
Call = Callable[[], Awaitable[object]]


class SlacLink:
    def __init__(self, module: EvseManager, slac: SlacClient):
        self.module = module
        self.slac = slac
        self.dlink_ready = False
        self._in_bcd: bool | None = None  # unknown until the board's first pilot report
        self._outbox: asyncio.Queue[tuple[str, Call]] = asyncio.Queue()
        self._queue("reset", lambda: slac.call_reset(enable=False, timeout=CALL_S))

    def subscribe(self) -> None:
        self.slac.subscribe_state(self._on_state)
        self.slac.subscribe_dlink_ready(self._on_dlink_ready)
        self.slac.subscribe_request_error_routine(lambda _: self._on_error_routine())

    async def run(self) -> None:
        """Send the commands, in order."""
        while True:
            name, call = await self._outbox.get()
            try:
                await call()
            except Exception as exc:
                self.module.log.warning("SLAC %s failed: %s", name, exc)

    def pilot(self, cp: CpState) -> None:
        """The pilot state the board read."""
        in_bcd = cp in _BCD
        if in_bcd == self._in_bcd:
            return
        self._in_bcd = in_bcd
        slac = self.slac
        if in_bcd:
            self._queue("enter_bcd", lambda: slac.call_enter_bcd(timeout=CALL_S))
            return
        self._queue("leave_bcd", lambda: slac.call_leave_bcd(timeout=CALL_S))
        if cp is CpState.A:
            self._queue("reset", lambda: slac.call_reset(enable=False, timeout=CALL_S))

    def _queue(self, name: str, call: Call) -> None:
        self._outbox.put_nowait((name, call))

    def _on_state(self, state: str) -> None:
        self.module.log.info("SLAC %s", state)

    def _on_dlink_ready(self, ready: bool) -> None:
        self.module.log.info("D-LINK_READY (%s)", "true" if ready else "false")
        self.dlink_ready = ready
        if self.module.hlc is not None:
            self.module.hlc.link_changed(ready)

    def _on_error_routine(self) -> None:
        # EVerest's answer is a short E/F on the pilot, which makes the EV start over; the
        # Charger core has no such sequence yet, so matching just goes on listening.
        self.module.log.warning("SLAC asks for the error routine (no EV matched in time)")
