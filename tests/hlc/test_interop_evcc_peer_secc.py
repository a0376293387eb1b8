"""Interop: our EVCC against the `iso15118` package's SECC, on a veth pair (slow).

Each cell ends with a complete session (SessionStopRes) in which energy flowed, counted on
both sides: by our EV at its inlet, and by the peer's supply (peer_runner.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evstack.hlc.evcc import Battery, EvccConfig, EvccSession, Timing
from evstack.hlc.evcc import events as ev
from evstack.hlc.evcc.driver import connect_and_run
from evstack.hlc.evcc.security import iso20_context

from .netns import veth_pair
from .peer import (
    DEFAULT_TIMEOUT_SCALE,
    SECC_LISTENING,
    SECC_SESSION_ENDED,
    Cell,
    PeerPkiFiles,
    run_peer,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CELLS = {
    Cell.DIN_DC: EvccConfig(protocols=("din",), energy="DC"),
    Cell.ISO2_DC: EvccConfig(protocols=("iso2",), energy="DC"),
    Cell.ISO2_AC: EvccConfig(protocols=("iso2",), energy="AC"),
    Cell.ISO20_DC: EvccConfig(protocols=("iso20",), energy="DC"),  # TLS 1.3, mutual
    Cell.ISO20_AC: EvccConfig(protocols=("iso20",), energy="AC"),  # TLS 1.3, mutual
    # Charges for LOOPS loops, then is asked to give energy back for LOOPS more.
    Cell.ISO20_DC_BPT: EvccConfig(protocols=("iso20",), energy="DC", bidirectional=True),
    Cell.ISO20_AC_BPT: EvccConfig(protocols=("iso20",), energy="AC", bidirectional=True),
}
LOOP_REQUESTS = {
    ("din", "DC"): "CurrentDemandReq",
    ("iso2", "DC"): "CurrentDemandReq",
    ("iso2", "AC"): "ChargingStatusReq",
    ("iso20", "DC"): "DC_ChargeLoopReq",
    ("iso20", "AC"): "AC_ChargeLoopReq",
}
LOOPS = 5  # charge-loop cycles before the EV stops


@pytest.mark.parametrize("cell", list(CELLS), ids=lambda cell: cell.name)
async def test_our_evcc_against_peer_secc(cell: Cell, tmp_path: Path, peer_pki: Path) -> None:
    # The peer's codec needs 100s of ms per message here: our timers stretch as its do.
    base = CELLS[cell]
    config = EvccConfig(
        protocols=base.protocols,
        energy=base.energy,
        bidirectional=base.bidirectional,
        loop_interval=0.2,
        timing=Timing(scale=DEFAULT_TIMEOUT_SCALE),
    )
    session = EvccSession(config, Battery(soc=0.5))
    steps: list[ev.Progress] = []

    def on_event(output: ev.Output) -> None:
        if isinstance(output, ev.Progress):
            steps.append(output)
            loops = sum(step.step == "ChargeLoop" for step in steps)
            if base.bidirectional and loops >= LOOPS:
                session.discharge(True)
            if loops >= (2 * LOOPS if base.bidirectional else LOOPS):
                session.stop_charging()

    with (
        veth_pair() as (ev_space, cs_space),
        run_peer("secc", cell, cs_space, tmp_path / "secc", peer_pki) as secc,
    ):
        await asyncio.to_thread(secc.wait_for, SECC_LISTENING, 60)
        context = None
        if cell.value.tls:
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

    assert ended.protocol == base.protocols[0]
    dc_steps = ["DcPowerOn"] if base.energy == "DC" else []
    back = ["Discharging"] if base.bidirectional else []
    expected = ["PowerReady", *dc_steps, "Charging", *back, "Stopping"]
    assert [s.step for s in steps if s.step != "ChargeLoop"] == expected
    assert session.battery.energy_in_wh > 0  # (net energy_wh may be negative with BPT)
    assert peer_end["state"] == "SessionStop"
    # The peer's own account: it took every loop request and ended on our SessionStop.
    log = secc.text()
    loop = LOOP_REQUESTS[base.protocols[0], base.energy]
    assert log.count(f"{loop} received") >= LOOPS
    assert "SessionStopReq received" in log
    if base.energy == "DC":
        assert float(peer_end["energy"]) > 0
    if base.bidirectional:
        # Energy flowed back: out of our EV's battery, into the peer's supply.
        assert session.battery.energy_out_wh > 0
        assert session.battery.energy_in_wh > 0
        assert "Discharge" in log
    if base.bidirectional and base.energy == "DC":
        assert float(peer_end["energy_out"]) > 0  # its AC side has no power path to count
