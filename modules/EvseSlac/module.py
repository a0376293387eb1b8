"""EvseSlac on the bus: the EVSE's SLAC core (evstack.hlc.slac) behind EVerest's slac
interface, on a packet socket on `device`, with an emulated Green PHY modem.

EvseManager calls enter_bcd when the pilot enters B, C or D and leave_bcd and reset when
it leaves; the state, D-LINK_READY and the EV's MAC go out as they change, in order.
"""

from __future__ import annotations

import asyncio

from evstack.generated.interfaces.slac import SlacImplBase
from evstack.generated.modules.evse_slac import EvseSlacMainConfig, EvseSlacModuleBase
from evstack.hlc.slac import EmulatedModem, LinkLost, Matched, MatchFailed, SlacEvent, messages
from evstack.hlc.slac import EvseSlac as EvseCore
from evstack.hlc.slac.core import SlacInitTimeout
from evstack.hlc.slac.service import SlacService, Status, evse_status
from evstack.runtime import CommandError


class Slac(SlacImplBase):
    def __init__(self, module: EvseSlac) -> None:
        self.module = module

    async def handle_reset(self, enable: bool) -> None:
        self.module.service.call(EvseCore.start if enable else EvseCore.stop)

    async def handle_enter_bcd(self) -> bool:
        self.module.service.call(EvseCore.start)
        return True

    async def handle_leave_bcd(self) -> bool:
        self.module.service.call(EvseCore.stop)
        return True

    async def handle_dlink_terminate(self) -> bool:
        # Leaving is giving the modem a key nobody else holds; no new matching follows.
        self.module.service.call(EvseCore.stop)
        return True

    async def handle_dlink_error(self) -> bool:
        self.module.service.call(EvseCore.start)  # a new key, and listen again
        return True

    async def handle_dlink_pause(self) -> bool:
        self.module.log.warning("dlink_pause: the emulated modem has no low-power mode")
        return False


class EvseSlac(EvseSlacModuleBase):
    main: Slac

    def create_main(self, config: EvseSlacMainConfig) -> Slac:
        self.main = Slac(self)
        return self.main

    async def init(self) -> None:
        c = self.config
        self.by_ev = parse_attenuations(c.attenuation_by_ev)
        self.outbox: asyncio.Queue[Status | None] = asyncio.Queue()  # None: error routine
        self.service = SlacService(
            c.device,
            c.netns,
            self._build,
            evse_status,
            on_status=self.outbox.put_nowait,
            on_event=self._on_event,
            log=self.log,
        )

    def _build(self, mac: bytes) -> tuple[EvseCore, EmulatedModem]:
        core = EvseCore(mac, slac_init_timeout=self.config.slac_init_timeout_s)
        return core, EmulatedModem(mac, attenuation=self._attenuation)

    def _attenuation(self, ev: bytes) -> tuple[int, ...]:
        return (self.by_ev.get(ev, self.config.attenuation_dB),) * messages.GROUPS

    async def ready(self) -> None:
        await self.main.publish_state("UNMATCHED")
        await self.main.publish_dlink_ready(False)
        self.start_task(self._publish_forever())
        self.start_task(self.service.run())

    def _on_event(self, event: SlacEvent) -> None:
        match event:
            case Matched(peer=peer):
                self.log.info("matched EV %s", peer.hex(":"))
            case LinkLost(peer=peer):
                self.log.warning("the link to EV %s is lost", peer.hex(":"))
            case MatchFailed(reason=reason):
                self.log.warning("matching failed: %s", reason)
            case SlacInitTimeout():
                self.log.warning("no EV asked to match within TT_EVSE_SLAC_init")
                self.outbox.put_nowait(None)

    async def _publish_forever(self) -> None:
        published = Status("UNMATCHED", False, None)
        while True:
            status = await self.outbox.get()
            try:
                if status is None:
                    await self.main.publish_request_error_routine(None)
                    continue
                if status.peer is not None and status.peer != published.peer:
                    await self.main.publish_ev_mac_address(status.peer)
                if status.state != published.state:
                    await self.main.publish_state(status.state)
                if status.dlink_ready != published.dlink_ready:
                    await self.main.publish_dlink_ready(status.dlink_ready)
                published = status
            except (CommandError, OSError, ValueError) as error:
                self.log.warning("could not publish the SLAC state: %s", error)


def parse_attenuations(text: str) -> dict[bytes, int]:
    """'02:00:00:00:00:01=10,...' -> {MAC: dB}; a bad entry fails the module's start."""
    table: dict[bytes, int] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        mac, sep, db = entry.partition("=")
        try:
            raw = bytes.fromhex(mac.strip().replace(":", ""))
            value = int(db)
        except ValueError:
            raw, value = b"", -1
        if not sep or len(raw) != 6 or not 0 <= value <= 255:
            raise ValueError(f"attenuation_by_ev: {entry!r} is not MAC=dB (0-255)")
        table[raw] = value
    return table
