"""Our SECC against the `iso15118` package's EVCC: DIN 70121 DC with EIM, on a veth pair,
with the DC power path simulated behind our SECC. The session must end with the EV's
SessionStop and energy in the battery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evstack.hlc.secc import events as ev

from .netns import veth_pair
from .peer import EVCC_SESSION_STOPPED, Cell, run_peer
from .secc_station import Station

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def test_our_secc_against_the_peer_evcc_din_dc(tmp_path: Path, peer_pki: Path) -> None:
    with veth_pair() as (ev_space, cs_space):
        station = Station(cs_space)
        await station.start()
        try:
            with run_peer("evcc", Cell.DIN_DC, ev_space, tmp_path / "evcc", peer_pki) as evcc:
                await asyncio.to_thread(evcc.wait_for, EVCC_SESSION_STOPPED, 200)
                log = evcc.text()
        finally:
            await station.close()
    assert station.sessions, log[-3000:]
    record = station.sessions[-1].record
    assert record.clean, f"{record.end_reason}\n{log[-3000:]}"
    assert record.protocol == "din"
    assert record.last_request == "SessionStopReq"
    assert ev.PowerDelivery(True) in station.events
    assert ev.PowerDelivery(False) in station.events
    assert station.path.meter.import_wh > 0.0
    assert station.path.battery.soc_percent > 30.0
    print(
        f"DIN DC: {record.requests} requests, {station.path.meter.import_wh:.2f} Wh metered,"
        f" SoC {station.path.battery.soc_percent:.4f} %"
    )
