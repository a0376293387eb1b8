"""ISO 15118-20 DC_BPT between our SECC and our EVCC, over TLS 1.3 on a veth pair, with the
DcSupplySimulator's power path behind the SECC: the EV charges, then gives energy back when
asked, then stops. (The `iso15118` package's EVCC never discharges in its DC_BPT session,
see the README, so this direction is proven against our own EVCC.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

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


async def test_energy_flows_to_the_ev_and_back(tmp_path: Path) -> None:
    files = pki.generate(pki.Profile.ISO20).write(tmp_path / "pki")
    session = EvccSession(
        EvccConfig(protocols=("iso20",), bidirectional=True, loop_interval=0.05),
        Battery(soc=0.5),
    )
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
        station = Station(cs_space, tls=context, bidirectional=True)
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
    targets = [e for e in station.events if isinstance(e, ev.EvTarget)]
    assert any(t.current < 0 for t in targets)
    assert station.path.meter.import_wh > 0.0  # to the EV
    assert station.path.meter.export_wh > 0.0  # back from it
    meter = station.path.meter
    print(f"DC_BPT: {meter.import_wh:.3f} Wh to the EV, {meter.export_wh:.3f} Wh back")
