"""ISO 15118-20 DC_BPT and AC_BPT between our SECC and our EVCC, over TLS 1.3 on a veth
pair, with a power path behind the SECC (DC: the DcSupplySimulator's; AC: the board
simulator's, `ac_path.py`): the EV charges, then gives energy back when asked, then stops,
and both flows are metered. (The `iso15118` package's EVCC never discharges in its BPT
sessions, see the README, so this direction is proven against our own EVCC.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import pytest

from evstack.hlc.evcc import Battery, EvccConfig, EvccSession
from evstack.hlc.evcc import events as evcc_events
from evstack.hlc.evcc.driver import connect_and_run
from evstack.hlc.evcc.security import iso20_context
from evstack.hlc.secc import events as ev
from evstack.hlc.transport import pki, tls

from .netns import veth_pair
from .secc_station import Station

pytestmark = [pytest.mark.timeout(120)]
LOOPS_EACH_WAY = 15


@pytest.mark.parametrize("energy", ["DC", "AC"])
async def test_energy_flows_to_the_ev_and_back(energy: Literal["DC", "AC"], tmp_path: Path) -> None:
    files = pki.generate(pki.Profile.ISO20).write(tmp_path / "pki")
    config = EvccConfig(protocols=("iso20",), energy=energy, bidirectional=True, loop_interval=0.05)
    session = EvccSession(config, Battery(soc=0.5))
    loops = 0

    def on_event(event: object) -> None:
        nonlocal loops
        if isinstance(event, evcc_events.Progress) and event.step == "ChargeLoop":
            loops += 1
            if loops == LOOPS_EACH_WAY:
                session.discharge(True)
            elif loops == 3 * LOOPS_EACH_WAY:
                session.stop_charging()

    with veth_pair() as (ev_space, cs_space):
        context = tls.secc_context(pki.Profile.ISO20, files.chain, files.key)
        station = Station(cs_space, ac=energy == "AC", tls=context, bidirectional=True)
        await station.start()
        try:
            end = await asyncio.wait_for(
                connect_and_run(
                    session,
                    "v2g0",
                    on_event,
                    ssl_context=iso20_context(files.root),
                    socket_factory=ev_space.socket,
                ),
                90,
            )
        finally:
            await station.close()
    record = station.sessions[-1].record
    assert end.clean, end.reason
    assert record.clean, record.end_reason
    assert record.protocol == "iso20"
    if station.ac_path is not None:
        powers = [e.present_active_power for e in station.events if isinstance(e, ev.AcEvPower)]
        assert min(powers) < 0 < max(powers)
        to_ev, back = station.ac_path.import_wh, station.ac_path.export_wh
    else:
        targets = [e for e in station.events if isinstance(e, ev.EvTarget)]
        assert any(t.current < 0 for t in targets)
        to_ev, back = station.path.meter.import_wh, station.path.meter.export_wh
    assert to_ev > 0.0
    assert back > 0.0
    print(f"{energy}_BPT: {to_ev:.3f} Wh to the EV, {back:.3f} Wh back")
