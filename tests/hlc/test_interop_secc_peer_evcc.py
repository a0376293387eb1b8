"""Our SECC against the `iso15118` package's EVCC, on a veth pair: DIN 70121 DC, ISO
15118-2 DC, ISO 15118-20 DC and DC_BPT (TLS 1.3) with the DC power path simulated behind
our SECC (the session must end with the EV's SessionStop and energy in the battery), and
ISO 15118-2 AC, ISO 15118-20 AC and AC_BPT (TLS 1.3) with an AC power path behind it
(`ac_path.py` says what it models): the session must end with SessionStop and energy
metered into the EV. The peer's EVCC never asks for energy back (README), so the BPT cells
only charge; the back-flow is proven against our EVCC in test_secc_bpt.py."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from evstack.hlc.secc import events as ev
from evstack.modules.DcSupplySimulator.battery import BatteryConfig

from .netns import veth_pair
from .peer import EVCC_SESSION_STOPPED, Cell, run_peer
from .secc_station import Station

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def peer_trusted_tls(peer_pki: Path) -> ssl.SSLContext:
    """TLS 1.3 with the SECC chain of the peer's own PKI, which its EVCC trusts (it reads
    its certificates from the iso15118_2 folder whatever the protocol)."""
    folder = peer_pki / "iso15118_2"
    password = (folder / "private_keys" / "seccLeafPassword.txt").read_text().strip()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(
        folder / "certs" / "cpoCertChain.pem",
        folder / "private_keys" / "seccLeaf.key",
        password=password,
    )
    return context


# The peer logs each message it encodes as JSON (MESSAGE_LOG_JSON): its choice of service.
SELECTED = '"SelectedEnergyTransferService": {{"ServiceID": {service}, '

# The peer's ISO-20 EV simulator asks for 200 V in its charge loop (and a 20 kV precharge,
# which the charger caps at its maximum) whatever its battery: it gets a pack that 200 V
# charges (its log shows the targets; DIN and ISO-2 ask for sensible ones). In every DC cell
# it would end its precharge after five cycles whatever the voltage (on a slow run, with the
# supply still below the pack, which then discharged into the charger: DIN and ISO-2 in CI
# ended a hair below their starting SoC), so it is told the pack's voltage and waits for
# it, as a real EV does before it closes its contactor (peer_runner.py).
LOW_VOLTAGE_PACK = BatteryConfig(empty_voltage_v=150.0, full_voltage_v=195.0, max_voltage_v=1000.0)


async def run_cell(
    cell: Cell,
    tmp_path: Path,
    peer_pki: Path,
    *,
    ac: bool = False,
    tls: bool = False,
    bidirectional: bool = False,
) -> tuple[Station, str]:
    """One session of the peer's EVCC against the station; the station and the peer's log."""
    pack = LOW_VOLTAGE_PACK if cell in (Cell.ISO20_DC, Cell.ISO20_DC_BPT) else None
    with veth_pair() as (ev_space, cs_space):
        context = peer_trusted_tls(peer_pki) if tls else None
        station = Station(cs_space, ac=ac, tls=context, battery=pack, bidirectional=bidirectional)
        await station.start()
        try:
            ev_battery_v = None if ac else station.path.battery.open_circuit_voltage_v
            with run_peer(
                "evcc", cell, ev_space, tmp_path / "evcc", peer_pki, battery_v=ev_battery_v
            ) as evcc:
                await asyncio.to_thread(evcc.wait_for, EVCC_SESSION_STOPPED, 200)
                log = evcc.text()
        finally:
            await station.close()
    assert station.sessions, log[-3000:]
    record = station.sessions[-1].record
    assert record.clean, f"{record.end_reason}\n{log[-3000:]}"
    assert record.last_request == "SessionStopReq"
    assert ev.PowerDelivery(True) in station.events
    assert ev.PowerDelivery(False) in station.events
    print(f"{cell.name}: {record.protocol}, {record.requests} requests, {record.end_reason}")
    return station, log


@pytest.mark.parametrize(
    ("cell", "protocol"), [(Cell.DIN_DC, "din"), (Cell.ISO2_DC, "iso2"), (Cell.ISO20_DC, "iso20")]
)
async def test_our_secc_against_the_peer_evcc_dc(
    cell: Cell, protocol: str, tmp_path: Path, peer_pki: Path
) -> None:
    station, _ = await run_cell(cell, tmp_path, peer_pki, tls=cell.value.tls)
    assert station.sessions[-1].record.protocol == protocol
    targets = [e for e in station.events if isinstance(e, ev.EvTarget | ev.PowerDelivery)]
    assert station.path.meter.import_wh > 0.0, targets
    assert station.path.battery.soc_percent > 30.0
    print(f"{cell.name}: {station.path.meter.import_wh:.2f} Wh metered")


@pytest.mark.parametrize(("cell", "protocol"), [(Cell.ISO2_AC, "iso2"), (Cell.ISO20_AC, "iso20")])
async def test_our_secc_against_the_peer_evcc_ac(
    cell: Cell, protocol: str, tmp_path: Path, peer_pki: Path
) -> None:
    station, _ = await run_cell(cell, tmp_path, peer_pki, ac=True, tls=cell.value.tls)
    record = station.sessions[-1].record
    assert record.protocol == protocol
    params = [e for e in station.events if isinstance(e, ev.EvChargeParameters)]
    assert params[0].energy_transfer_mode.startswith("AC")
    assert station.ac_path is not None
    assert station.ac_path.import_wh > 0.0, params
    print(f"{cell.name}: {station.ac_path.import_wh:.2f} Wh metered")


async def test_our_secc_against_the_peer_evcc_dc_bpt(tmp_path: Path, peer_pki: Path) -> None:
    """A bidirectional charger: the peer's EVCC selects DC_BPT and charges. It never asks
    for energy back (its simulator's BPT loop targets are its DC ones, all positive: see the
    README), so the back-flow is proven against our own EVCC (test_secc_bpt.py)."""
    cell = Cell.ISO20_DC_BPT
    station, log = await run_cell(cell, tmp_path, peer_pki, tls=True, bidirectional=True)
    assert station.sessions[-1].record.protocol == "iso20"
    assert SELECTED.format(service=6) in log  # DC_BPT
    assert '"BPT_Scheduled_DC_CLReqControlMode"' in log
    meter = station.path.meter
    assert meter.import_wh > 0.0
    print(f"{cell.name}: {meter.import_wh:.2f} Wh to the EV, {meter.export_wh:.3f} Wh back")


async def test_our_secc_against_the_peer_evcc_ac_bpt(tmp_path: Path, peer_pki: Path) -> None:
    """A bidirectional AC charger: the peer's EVCC selects AC_BPT and charges (never giving
    power back, as in DC_BPT); energy is metered into the EV."""
    cell = Cell.ISO20_AC_BPT
    station, log = await run_cell(cell, tmp_path, peer_pki, ac=True, tls=True, bidirectional=True)
    assert station.sessions[-1].record.protocol == "iso20"
    assert SELECTED.format(service=5) in log  # AC_BPT
    assert '"BPT_Scheduled_AC_CLReqControlMode"' in log
    assert station.ac_path is not None
    assert station.ac_path.import_wh > 0.0
    print(f"{cell.name}: {station.ac_path.import_wh:.2f} Wh metered")
