"""EvSlac on the bus: the EV's SLAC core (evstack.hlc.slac) behind EVerest's ev_slac
interface, on a packet socket on `device`, standing in for the EV's Green PHY modem.

An EV simulator calls trigger_matching once plugged in and reset when unplugged; the
state, D-LINK_READY and the charger's MAC go out as they change, in order.
"""

from __future__ import annotations

import asyncio

from evstack.generated.interfaces.ev_slac import EvSlacImplBase
from evstack.generated.modules.ev_slac import EvSlacMainConfig, EvSlacModuleBase
from evstack.hlc.slac import EmulatedModem, EvState, LinkLost, Matched, MatchFailed, SlacEvent
from evstack.hlc.slac import EvSlac as EvCore
from evstack.hlc.slac.service import SlacService, Status, ev_status
from evstack.runtime import CommandError


class Slac(EvSlacImplBase):
    def __init__(self, module: EvSlac) -> None:
        self.module = module

    async def handle_reset(self) -> None:
        self.module.service.call(EvCore.stop)

    async def handle_trigger_matching(self) -> bool:
        service = self.module.service
        core = service.core
        if core is not None and core.state not in (EvState.IDLE, EvState.FAILED):
            return False  # a matching process runs, or a match stands
        service.call(EvCore.start)
        return True


class EvSlac(EvSlacModuleBase):
    main: Slac

    def create_main(self, config: EvSlacMainConfig) -> Slac:
        self.main = Slac(self)
        return self.main

    async def init(self) -> None:
        c = self.config
        self.outbox: asyncio.Queue[Status] = asyncio.Queue()
        self.service = SlacService(
            c.device,
            c.netns,
            self._build,
            ev_status,
            on_status=self.outbox.put_nowait,
            on_event=self._on_event,
            log=self.log,
        )

    def _build(self, mac: bytes) -> tuple[EvCore, EmulatedModem]:
        limit = self.config.max_attenuation_dB or None
        return EvCore(mac, max_attenuation_db=limit), EmulatedModem(mac)

    async def ready(self) -> None:
        await self.main.publish_state("UNMATCHED")
        await self.main.publish_dlink_ready(False)
        self.start_task(self._publish_forever())
        self.start_task(self.service.run())

    def _on_event(self, event: SlacEvent) -> None:
        match event:
            case Matched(peer=peer):
                self.log.info("matched charger %s", peer.hex(":"))
            case LinkLost(peer=peer):
                self.log.warning("the link to charger %s is lost", peer.hex(":"))
            case MatchFailed(reason=reason, final=final):
                self.log.warning("matching failed%s: %s", "" if final else " (retrying)", reason)

    async def _publish_forever(self) -> None:
        published = Status("UNMATCHED", False, None)
        while True:
            status = await self.outbox.get()
            try:
                if status.peer is not None and status.peer != published.peer:
                    await self.main.publish_ev_mac_address(status.peer)
                if status.state != published.state:
                    await self.main.publish_state(status.state)
                if status.dlink_ready != published.dlink_ready:
                    await self.main.publish_dlink_ready(status.dlink_ready)
                published = status
            except (CommandError, OSError, ValueError) as error:
                self.log.warning("could not publish the SLAC state: %s", error)
