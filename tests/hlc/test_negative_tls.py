"""A TLS handshake that fails, both ways, on a veth pair: our EVCC refusing an SECC whose
chain does not lead to its V2G root (ISO 15118-2 over TLS 1.2, ISO 15118-20 over TLS 1.3),
and our SECC facing a client whose handshake fails. Each side's session record says why,
the EV's alert reaches the charger, and nothing is powered."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from evstack.hlc.evcc import Battery, EvccConfig, EvccSession
from evstack.hlc.evcc import events as evcc_ev
from evstack.hlc.evcc.driver import connect_and_run
from evstack.hlc.evcc.security import iso20_context
from evstack.hlc.secc import events as ev
from evstack.hlc.transport import pki, stream, tls
from evstack.hlc.transport.netif import link_local_address

from .netns import veth_pair
from .secc_station import Station

pytestmark = pytest.mark.timeout(60)

IF = "v2g0"
SAP_REQ = bytes.fromhex("8000dbab9371d3234b71d1b981899189d191818991d26b9b3a232b30020000040040")


async def session_over(station: Station) -> None:
    while not (station.sessions and station.sessions[-1].ended):  # noqa: ASYNC110 - no event
        await asyncio.sleep(0.01)


def assert_nothing_powered(station: Station) -> None:
    powered = [e for e in station.events if isinstance(e, ev.PowerDelivery | ev.EvTarget)]
    assert powered == []
    assert not any(isinstance(e, ev.StartCableCheck | ev.StartPreCharge) for e in station.events)
    assert station.path.meter.import_wh == 0.0
    (end,) = [e for e in station.events if isinstance(e, ev.SessionEnded)]
    assert not end.clean  # the charger goes to its safe state on it


@pytest.mark.parametrize(
    ("profile", "protocol"), [(pki.Profile.ISO2, "iso2"), (pki.Profile.ISO20, "iso20")]
)
async def test_our_evcc_refuses_a_chain_that_does_not_lead_to_its_root(
    profile: pki.Profile, protocol: str, tmp_path: Path
) -> None:
    ours = pki.generate(profile).write(tmp_path / "ours")  # the EV's V2G root
    stranger = pki.generate(profile).write(tmp_path / "stranger")  # the charger's chain
    if profile is pki.Profile.ISO2:
        context = tls.evcc_context(profile, ours.root)
    else:
        context = iso20_context(ours.root)
    session = EvccSession(EvccConfig(protocols=(protocol,)), Battery())
    events: list[evcc_ev.Output] = []
    with veth_pair() as (ev_space, cs_space):
        station = Station(cs_space, tls=tls.secc_context(profile, stranger.chain, stranger.key))
        await station.start()
        try:
            run = connect_and_run(
                session, IF, events.append, ssl_context=context, socket_factory=ev_space.socket
            )
            ended = await asyncio.wait_for(run, 30)
            await asyncio.wait_for(session_over(station), 10)
        finally:
            await station.close()
    # The EV: ended before its first request, saying why.
    assert not ended.clean
    assert "TLS handshake with the charger failed" in ended.reason
    assert "certificate verify failed: unable to get local issuer certificate" in ended.reason
    assert events == [ended]
    assert ended.energy_wh == 0.0
    # The charger: the EV's alert (unknown CA), a clean close, the reason on record.
    record = station.sessions[-1].record
    assert record.end_reason is not None
    assert "TLS handshake failed" in record.end_reason
    assert "unknown ca" in record.end_reason
    assert record.clean is False
    assert record.requests == 0
    assert record.protocol is None
    assert_nothing_powered(station)


async def test_our_secc_facing_a_client_that_speaks_no_tls(tmp_path: Path) -> None:
    files = pki.generate(pki.Profile.ISO20).write(tmp_path)
    with veth_pair() as (ev_space, cs_space):
        station = Station(cs_space, tls=tls.secc_context(pki.Profile.ISO20, files.chain, files.key))
        await station.start()
        try:
            assert station._server is not None
            address = link_local_address(IF, cs_space.socket)
            plain = await stream.connect(
                address, station._server.port, IF, socket_factory=ev_space.socket
            )
            await plain.send(0x8001, SAP_REQ)  # V2GTP where a ClientHello belongs
            with pytest.raises(stream.StreamClosedError):
                await asyncio.wait_for(plain.receive(), 10)
            await asyncio.wait_for(session_over(station), 10)
        finally:
            await station.close()
    record = station.sessions[-1].record
    assert record.end_reason is not None
    assert "TLS handshake failed" in record.end_reason
    assert record.requests == 0
    assert_nothing_powered(station)


def test_the_reason_of_a_failed_handshake_is_readable() -> None:
    refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
    refused.verify_message = "unable to get local issuer certificate"
    assert stream.tls_reason(refused) == (
        "certificate verify failed: unable to get local issuer certificate"
    )
    assert stream.tls_reason(TimeoutError()) == "TimeoutError"
