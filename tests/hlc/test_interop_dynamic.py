"""Interop in the ISO 15118-20 dynamic control mode (DC, TLS 1.3), on a veth pair (slow):
our EVCC against the `iso15118` package's SECC (DC and DC_BPT), and our SECC against its
EVCC (DC). Each ends with a complete session in which energy flowed, the power set by the
charger, and for DC_BPT flowed back.

The peer's SECC offers the dynamic mode (parameter sets 2 and 3) but leaves the power to
its controller, whose simulator does nothing with it; the harness's supply decides as a
charger would (peer_runner.py), and for DC_BPT takes energy back after a few loops, as a
charger told so by its grid would. Its EVCC selects the charger's first parameter set, so
our SECC offers only the dynamic one here. Our SECC's DC_BPT dynamic is proven against our
own EVCC (test_evcc_against_secc.py): the peer's EVCC never gives energy back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evstack.hlc.evcc import Battery, EvccConfig, EvccSession, Timing
from evstack.hlc.evcc import events as evcc_ev
from evstack.hlc.evcc.driver import connect_and_run
from evstack.hlc.evcc.iso20.flow import Iso20Flow
from evstack.hlc.evcc.security import iso20_context
from evstack.hlc.secc import SeccConfig
from evstack.hlc.secc import events as ev
from evstack.hlc.secc.iso20.dynamic import Offer

from .netns import veth_pair
from .peer import (
    DEFAULT_TIMEOUT_SCALE,
    EVCC_SESSION_STOPPED,
    SECC_LISTENING,
    SECC_SESSION_ENDED,
    Cell,
    PeerPkiFiles,
    run_peer,
)
from .secc_station import Station
from .test_interop_secc_peer_evcc import LOW_VOLTAGE_PACK, peer_trusted_tls

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LOOPS = 5


@pytest.mark.parametrize("cell", [Cell.ISO20_DC, Cell.ISO20_DC_BPT], ids=lambda c: c.name)
async def test_our_evcc_dynamic_against_the_peer_secc(
    cell: Cell, tmp_path: Path, peer_pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bpt = cell is Cell.ISO20_DC_BPT
    config = EvccConfig(
        protocols=("iso20",),
        control_mode="dynamic",
        bidirectional=bpt,
        loop_interval=0.2,
        timing=Timing(scale=DEFAULT_TIMEOUT_SCALE),
    )
    session = EvccSession(config, Battery(soc=0.5))
    loops = 0
    energy_in = 0.0
    if bpt:  # the harness's charger takes energy back after LOOPS loops (peer_runner.py)
        monkeypatch.setenv("EVSTACK_PEER_DYNAMIC_DISCHARGE_AFTER", str(LOOPS))

    def on_event(output: evcc_ev.Output) -> None:
        nonlocal loops, energy_in
        if isinstance(output, evcc_ev.Progress) and output.step == "ChargeLoop":
            loops += 1
            if loops == LOOPS:
                energy_in = session.battery.energy_in_wh
            if loops >= (2 * LOOPS + 2 if bpt else LOOPS):
                session.stop_charging()

    with (
        veth_pair() as (ev_space, cs_space),
        run_peer("secc", cell, cs_space, tmp_path / "secc", peer_pki) as secc,
    ):
        await asyncio.to_thread(secc.wait_for, SECC_LISTENING, 60)
        files = PeerPkiFiles.of(peer_pki)
        context = iso20_context(
            files.v2g_root, files.oem_chain, files.oem_key, files.oem_key_password
        )
        run = connect_and_run(
            session, "v2g0", on_event, ssl_context=context, socket_factory=ev_space.socket
        )
        ended = await asyncio.wait_for(run, 240)
        assert ended.clean, f"{ended.reason}\n{secc.text()[-4000:]}"
        peer_end = await asyncio.to_thread(secc.wait_for, SECC_SESSION_ENDED, 30)
    assert isinstance(session.flow, Iso20Flow)
    assert session.flow.dynamic  # the peer offered it; our EV selected it
    assert session.battery.energy_in_wh > 0
    assert peer_end["state"] == "SessionStop"
    assert float(peer_end["energy"]) > 0
    log = secc.text()
    assert log.count("DC_ChargeLoopReq received") >= LOOPS
    if bpt:
        # Charged first, then gave energy back at the charger's word: counted on both sides.
        assert energy_in > 0
        assert session.battery.energy_out_wh > 0
        assert float(peer_end["energy_out"]) > 0


async def test_our_secc_dynamic_against_the_peer_evcc(tmp_path: Path, peer_pki: Path) -> None:
    with veth_pair() as (ev_space, cs_space):
        station = Station(cs_space, tls=peer_trusted_tls(peer_pki), battery=LOW_VOLTAGE_PACK)
        station.config = SeccConfig(iso20=Offer(("dynamic",)))
        await station.start()
        try:
            battery_v = station.path.battery.open_circuit_voltage_v
            with run_peer(
                "evcc", Cell.ISO20_DC, ev_space, tmp_path / "evcc", peer_pki, battery_v=battery_v
            ) as evcc:
                await asyncio.to_thread(evcc.wait_for, EVCC_SESSION_STOPPED, 200)
                log = evcc.text()
        finally:
            await station.close()
    assert station.sessions, log[-3000:]
    record = station.sessions[-1].record
    assert record.clean, f"{record.end_reason}\n{log[-3000:]}"
    assert record.protocol == "iso20"
    assert "Selected Control Mode: 2" in log  # the peer's EV says which mode it selected
    # Our SECC set the current: the peer's EV asks 4 kW at most, 40 A at most.
    currents = [e.current for e in station.events if isinstance(e, ev.EvTarget)]
    assert max(currents) <= 40.0
    assert station.path.meter.import_wh > 0.0
    print(f"dynamic: {station.path.meter.import_wh:.2f} Wh metered, currents {currents}")
