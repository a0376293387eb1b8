"""EvseManager's wiring for AC high-level charging (ISO 15118-2 AC, ISO 15118-20 AC): the
SECC (hlc) on the bus around the `AcHlc` core, which decides the board's contactor.

The Charger core signals 5 % PWM and decides whether power may flow; its AllowPower comes
here instead of going to the board, and the contactor closes once the EV has also asked
for power. Contactor commands go to the board at once (the Charger's own board commands
do the same), SECC commands through `SeccLink`'s ordered worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evstack.generated.interfaces.ISO15118_charger import ISO15118ChargerClient
from evstack.generated.types import iso15118 as types
from evstack.modules.EvseManager.ac_hlc import AcHlc, Command, Contactor, ToSecc
from evstack.modules.EvseManager.secc_link import CALL_S, SeccLink, Send

if TYPE_CHECKING:
    from evstack.modules.EvseManager.module import EvseManager


class AcLink(SeccLink):
    drives_contactor = True

    def __init__(self, module: EvseManager, hlc: ISO15118ChargerClient):
        super().__init__(module, hlc)
        three = module.config.phases == 3
        self.modes = (
            types.EnergyTransferMode.AC_three_phase_core
            if three
            else types.EnergyTransferMode.AC_single_phase_core,
        )
        self.ac = AcHlc(module.config.max_current_A)

    def subscribe(self) -> None:
        super().subscribe()
        self.hlc.subscribe_ac_close_contactor(
            lambda _: self._perform(self.ac.ev_power_delivery(True))
        )
        self.hlc.subscribe_ac_open_contactor(
            lambda _: self._perform(self.ac.ev_power_delivery(False))
        )

    def power_allowed(self, allowed: bool) -> None:
        self._perform(self.ac.set_charger_allows(allowed))

    def energy_limit(self, amps: float | None) -> None:
        self._perform(self.ac.set_grant(amps))

    def cable_ampacity(self, amps: float | None) -> None:
        self._perform(self.ac.set_cable(amps))

    def inoperative(self, inoperative: bool) -> None:
        self._perform(self.ac.set_inoperative(inoperative))

    def pause(self, paused: bool) -> None:
        super().pause(paused)
        self._perform(self.ac.set_paused(paused))

    def session_ended(self, finished: types.V2gSessionFinished) -> None:
        self._perform(self.ac.session_ended())

    def _perform(self, commands: list[Command]) -> None:
        for command in commands:
            match command:
                case Contactor(closed=closed):
                    self.module.switch_contactor(closed)
                case ToSecc(fields=fields):
                    allowed = fields.get("power_allowed")
                    if allowed is not None:
                        self._queue(self._allowed_sender(allowed))
                    amps = fields.get("ac_max_current")
                    if amps is not None:
                        self._queue(self._current_sender(amps))

    def _allowed_sender(self, allowed: bool) -> Send:
        return lambda: self.hlc.call_set_power_allowed(value=allowed, timeout=CALL_S)

    def _current_sender(self, amps: float) -> Send:
        async def send() -> None:
            await self.hlc.call_update_ac_max_current(max_current=amps, timeout=CALL_S)
            await self.module.publish_limits(amps)

        return send
