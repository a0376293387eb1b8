"""Plug-in to the first V2GTP message on one veth: SLAC, then SDP, then TCP with TLS 1.3."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from evstack.exi import v2gtp
from evstack.exi.sdp import Security
from evstack.hlc.slac import EmulatedModem, EvseSlac, EvSlac, Matched, messages
from evstack.hlc.slac.rawsocket import SlacRunner, interface_mac, open_raw_socket
from evstack.hlc.transport import pki, sdp, stream, tls
from evstack.hlc.transport.netif import link_local_address

from .netns import veth_pair

pytestmark = pytest.mark.timeout(30)

IF = "v2g0"


async def echo(connection: stream.V2gtpStream) -> None:
    payload_type, payload = await connection.receive()
    await connection.send(payload_type, payload)


async def test_slac_sdp_and_tls_on_one_link(tmp_path: pathlib.Path) -> None:
    files = pki.generate(pki.Profile.ISO20).write(tmp_path)
    with veth_pair() as (ev_space, cs_space):
        ev_sock = open_raw_socket(IF, ev_space.socket)
        cs_sock = open_raw_socket(IF, cs_space.socket)
        with ev_sock, cs_sock:
            car, charger = EvSlac(interface_mac(ev_sock)), EvseSlac(interface_mac(cs_sock))
            profile = (15,) * messages.GROUPS
            cs_modem = EmulatedModem(charger.mac, attenuation=lambda source: profile)
            async with (
                SlacRunner(car, ev_sock, modem=EmulatedModem(car.mac)) as ev_run,
                SlacRunner(charger, cs_sock, modem=cs_modem) as cs_run,
            ):
                cs_run.call(charger.start)
                ev_run.call(car.start)
                matched = await asyncio.wait_for(
                    asyncio.gather(ev_run.next_event(), cs_run.next_event()), 10
                )
                assert all(isinstance(event, Matched) for event in matched)

                # The SECC, once matched: its V2G server, announced by SDP.
                address = link_local_address(IF, cs_space.socket)
                server = await stream.start_server(
                    echo,
                    IF,
                    address,
                    ssl_context=tls.secc_context(pki.Profile.ISO20, files.chain, files.key),
                    socket_factory=cs_space.socket,
                )
                responder = await sdp.SdpResponder.start(
                    IF, tcp_port=server.port, offered={Security.TLS}, socket_factory=cs_space.socket
                )
                try:
                    # The EVCC, once matched: SDP, then TLS to what it found.
                    found = await sdp.discover(IF, Security.TLS, socket_factory=ev_space.socket)
                    assert (found.address, found.port) == (address, server.port)
                    connection = await stream.connect(
                        found.address,
                        found.port,
                        IF,
                        ssl_context=tls.evcc_context(pki.Profile.ISO20, files.root),
                        socket_factory=ev_space.socket,
                    )
                    assert connection.tls_version == "TLSv1.3"
                    await connection.send(v2gtp.PayloadType.EXI, b"\x80\x00")
                    assert await connection.receive() == (v2gtp.PayloadType.EXI, b"\x80\x00")
                    await connection.close()
                finally:
                    await responder.close()
                    await server.close()
