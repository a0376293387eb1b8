"""SLAC cores on a real interface: raw sockets on a veth pair between two namespaces."""

from __future__ import annotations

import asyncio

import pytest

from evstack.hlc.slac import EmulatedModem, EvseSlac, EvSlac, Matched, messages
from evstack.hlc.slac.rawsocket import SlacRunner, interface_mac, open_raw_socket

from .netns import veth_pair

pytestmark = pytest.mark.timeout(30)


async def test_ev_and_evse_match_over_raw_sockets_on_a_veth() -> None:
    with veth_pair() as (ev_space, evse_space):
        ev_sock = open_raw_socket("v2g0", ev_space.socket)
        evse_sock = open_raw_socket("v2g0", evse_space.socket)
        with ev_sock, evse_sock:
            ev_mac, evse_mac = interface_mac(ev_sock), interface_mac(evse_sock)
            assert (ev_mac.hex(":"), evse_mac.hex(":")) == (
                "02:00:00:00:00:01",
                "0a:00:00:00:00:01",
            )
            car, charger = EvSlac(ev_mac), EvseSlac(evse_mac)
            profile = (18,) * messages.GROUPS
            evse_modem = EmulatedModem(evse_mac, attenuation=lambda source: profile)
            async with (
                SlacRunner(car, ev_sock, modem=EmulatedModem(ev_mac)) as ev_run,
                SlacRunner(charger, evse_sock, modem=evse_modem) as evse_run,
            ):
                evse_run.call(charger.start)
                ev_run.call(car.start)
                mine, theirs = await asyncio.wait_for(
                    asyncio.gather(ev_run.next_event(), evse_run.next_event()), 10
                )
    assert isinstance(mine, Matched)
    assert isinstance(theirs, Matched)
    assert (mine.peer, theirs.peer) == (evse_mac, ev_mac)
    assert mine.nmk == theirs.nmk == charger.nmk
    assert car.attenuations == {evse_mac: 18.0}
