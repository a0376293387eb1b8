"""What EvseManager's AC and DC high-level charging links share: the SECC's setup, its
external identification answered from the `Charger` core's authorization once the link is
up (D-LINK_READY from SLAC), the user's pause passed on as the SECC's stop request, the V2G
session's start and (paused) end for the pause and wake-up core, and one worker that sends
the SECC (and the DC supply) their commands strictly in the order decided, so a later set
point never overtakes an earlier switch-off.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.types import iso15118 as types
from evstack.generated.types.authorization import AuthorizationStatus
from evstack.modules.EvseManager.wakeup import V2gEnded, V2gStarted

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager

CALL_S = 2.0  # wall seconds a command may take before it is given up (and logged)
Send = Callable[[], Awaitable[None]]


class SeccLink(abc.ABC):
    # The energy transfer modes the power path offers, for the SECC's setup.
    modes: tuple[types.EnergyTransferMode, ...] = ()
    # Whether the link, not the Charger core directly, switches the board's contactor.
    drives_contactor = False

    def __init__(self, module: EvseManager, hlc: ISO15118ChargerClient):
        self.module = module
        self.hlc = hlc
        self._auth_pending = False
        # D-LINK_READY from SLAC; without a SLAC module the link counts as up.
        self.link_ready = True
        self._outbox: asyncio.Queue[Send] = asyncio.Queue()

    def subscribe(self) -> None:
        self.hlc.subscribe_require_auth_eim(lambda _: self._on_require_auth())
        self.hlc.subscribe_session_finished(self._on_session_finished)
        self.hlc.subscribe_evcc_id(lambda _: self.module.feed(V2gStarted()))

    async def run(self) -> None:
        """Send the commands, in order."""
        evse_id = types.EVSEID(evse_id=self.module.config.evse_id)
        modes = list(self.modes)
        await self.hlc.call_setup(
            evse_id=evse_id, supported_energy_transfer_modes=modes, timeout=CALL_S
        )
        while True:
            send = await self._outbox.get()
            try:
                await send()
            except Exception as exc:
                self.module.log.warning("HLC command failed: %s", exc)

    # -- from the Charger core, the API and the energy manager ---------------------------

    @abc.abstractmethod
    def power_allowed(self, allowed: bool) -> None:
        """The Charger core's AllowPower, each one."""

    @abc.abstractmethod
    def energy_limit(self, amps: float | None) -> None:
        """The energy manager's grant, A per phase (0 when it lapsed)."""

    def authorized(self) -> None:
        self._try_auth()

    def link_changed(self, ready: bool) -> None:
        """D-LINK_READY from SLAC: a session's authorization waits for the link."""
        self.link_ready = ready
        self._queue(lambda: self.hlc.call_dlink_ready(value=ready, timeout=CALL_S))
        self._try_auth()

    def pause(self, paused: bool) -> None:
        """The user paused: ask the EV to stop (the pilot's C1 grace gives it the time)."""
        self._queue(lambda: self.hlc.call_stop_charging(stop=paused, timeout=CALL_S))

    # -- from the SECC -------------------------------------------------------------------

    def _on_require_auth(self) -> None:
        # Answered once Auth's verdict is in (the Charger's Authorize) and the link is up.
        self._auth_pending = True
        self._try_auth()

    def _try_auth(self) -> None:
        if not self._auth_pending or not self.link_ready or self.module.charger.token is None:
            return
        self._auth_pending = False
        self._answer_auth()

    def _answer_auth(self) -> None:
        status = AuthorizationStatus.Accepted
        self._queue(
            lambda: self.hlc.call_authorization_response(
                authorization_status=status, timeout=CALL_S
            )
        )

    def _on_session_finished(self, finished: types.V2gSessionFinished) -> None:
        log = self.module.log.info if finished.clean else self.module.log.warning
        log("V2G session finished (%s): %s", finished.protocol, finished.reason)
        self._auth_pending = False
        self.session_ended(finished)
        self.module.feed(V2gEnded(bool(finished.paused)))

    @abc.abstractmethod
    def session_ended(self, finished: types.V2gSessionFinished) -> None:
        """The V2G session is over: the power path goes to its safe state."""

    def _queue(self, send: Send) -> None:
        self._outbox.put_nowait(send)
