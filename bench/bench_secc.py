"""SECC response time per message type: our SECC against the `iso15118` package's SECC,
in the same run, over TCP on a veth pair between two network namespaces.

A scripted DIN 70121 EV (the requests of tests/hlc/din_ev.py) runs whole DC sessions
against each SECC and times every request from its last byte sent to the response's last
byte received. Ours: the SECC alone in its event loop with the charger's answers ready
(as in its module, where the power path runs in other processes); also with EvseManager's
DcHlc core and the DcSupplySimulator's power path stepped in the same loop (the interop
tests' station: with_power_path_*); and the SeccSession alone (decode, state machine,
encode; no network: inproc_*). The peer's is its DIN SECC with its simulated EVSE
(tests/hlc/peer_runner.py).

Needs root (namespaces), Java 17 and `make interop-peer`.

    python bench/bench_secc.py [--loops N] [--peer-loops N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the interop harness lives with the tests

from evstack.exi.sdp import Security  # noqa: E402
from evstack.hlc.secc import Authorization, EvseState, SeccSession, Send, driver  # noqa: E402
from evstack.hlc.transport import sdp, stream  # noqa: E402
from evstack.hlc.transport.netif import link_local_address  # noqa: E402
from tests.hlc.din_ev import (  # noqa: E402
    DIN_NS,
    EXI,
    din_request,
    din_response,
    ev_status,
    sap_request,
)
from tests.hlc.netns import Namespace, veth_pair  # noqa: E402
from tests.hlc.peer import SECC_LISTENING, Cell, run_peer  # noqa: E402
from tests.hlc.secc_station import Station  # noqa: E402

Timings = dict[str, list[float]]
IFACE = "v2g0"
STOP: dict[str, object] = {
    "ReadyToChargeState": False,
    "DC_EVPowerDeliveryParameter": {"DC_EVStatus": ev_status(), "ChargingComplete": True},
}
LOOPING = ("ContractAuthenticationReq", "ChargeParameterDiscoveryReq", "CableCheckReq")


async def ev_session(space: Namespace, loops: int, timings: Timings) -> None:
    """One DIN DC session as a scripted EV, timing each request."""
    found = await sdp.discover(IFACE, Security.NONE, socket_factory=space.socket)
    conn = await stream.connect(found.address, found.port, IFACE, socket_factory=space.socket)
    sid = "00"

    async def ask(name: str, payload: bytes) -> bytes:
        start = time.perf_counter()
        await conn.send(EXI, payload)
        _, answer = await conn.receive()
        timings[name].append((time.perf_counter() - start) * 1000.0)
        return answer

    async def din(name: str, content: dict[str, object] | None = None) -> dict[str, object]:
        nonlocal sid
        got_sid, _, body = din_response(await ask(name, din_request(name, sid, content)))
        sid = got_sid
        if not str(body["ResponseCode"]).startswith("OK"):
            raise RuntimeError(f"{name}: {body}")
        return body

    try:
        await ask("supportedAppProtocolReq", sap_request((DIN_NS, 2, 0, 1)))
        for name in ("SessionSetupReq", "ServiceDiscoveryReq", "ServicePaymentSelectionReq"):
            await din(name)
        for name in LOOPING:
            for _ in range(200):
                if (await din(name)).get("EVSEProcessing") == "Finished":
                    break
                await asyncio.sleep(0.1)
        for _ in range(5):
            await din("PreChargeReq")
            await asyncio.sleep(0.2)
        await din("PowerDeliveryReq")
        for _ in range(loops):
            await din("CurrentDemandReq")
        await din("PowerDeliveryReq", STOP)
        await din("WeldingDetectionReq")
        await din("SessionStopReq")
    finally:
        await conn.close()


async def against_ours(loops: int, sessions: int) -> Timings:
    """Our SECC with EvseManager's DC core and the simulated power path in its event loop."""
    timings: Timings = defaultdict(list)
    with veth_pair() as (ev_space, cs_space):
        station = Station(cs_space)
        await station.start()
        try:
            for _ in range(sessions):
                await ev_session(ev_space, loops, timings)
        finally:
            await station.close()
    return timings


async def against_ours_alone(loops: int, sessions: int) -> Timings:
    """Our SECC alone in its event loop, the charger's answers all ready (as in its module,
    where the power path runs in other processes)."""
    timings: Timings = defaultdict(list)
    evse = EvseState(power_allowed=True, auth=Authorization.ACCEPTED, cable_check=True)
    loop = asyncio.get_running_loop()

    async def serve(conn: stream.V2gtpStream) -> None:
        await driver.serve(conn, SeccSession(evse, loop.time()), lambda _: None)

    with veth_pair() as (ev_space, cs_space):
        address = link_local_address(IFACE, cs_space.socket)
        server = await stream.start_server(serve, IFACE, address, socket_factory=cs_space.socket)
        responder = await sdp.SdpResponder.start(
            IFACE,
            tcp_port=server.port,
            offered={Security.NONE},
            address=address,
            socket_factory=cs_space.socket,
        )
        try:
            for _ in range(sessions):
                await ev_session(ev_space, loops, timings)
        finally:
            await responder.close()
            await server.close()
    return timings


async def against_peer(loops: int, workdir: Path) -> Timings:
    timings: Timings = defaultdict(list)
    with (
        veth_pair() as (ev_space, cs_space),
        run_peer("secc", Cell.DIN_DC, cs_space, workdir, timeout_scale=10.0) as peer,
    ):
        await asyncio.to_thread(peer.wait_for, SECC_LISTENING, 60)
        await ev_session(ev_space, loops, timings)
    return timings


def step(session: SeccSession, timings: Timings, name: str, payload: bytes) -> bytes:
    start = time.perf_counter()
    outputs = session.receive(EXI, payload, 1.0)
    timings[name].append((time.perf_counter() - start) * 1000.0)
    (sent,) = [o for o in outputs if isinstance(o, Send)]
    return sent.payload


def in_process(loops: int) -> Timings:
    """Our SeccSession alone: receive() per request, on a hand clock."""
    timings: Timings = defaultdict(list)
    for _ in range(loops // 50 or 1):
        evse = EvseState(power_allowed=True, auth=Authorization.ACCEPTED, cable_check=True)
        session = SeccSession(evse, 0.0)
        sid = "00"

        step(session, timings, "supportedAppProtocolReq", sap_request((DIN_NS, 2, 0, 1)))
        for name in (
            "SessionSetupReq",
            "ServiceDiscoveryReq",
            "ServicePaymentSelectionReq",
            "ContractAuthenticationReq",
            "ChargeParameterDiscoveryReq",
            "CableCheckReq",
            "PreChargeReq",
            "PowerDeliveryReq",
            *(["CurrentDemandReq"] * 50),
            "SessionStopReq",
        ):
            sid = din_response(step(session, timings, name, din_request(name, sid)))[0]
    return timings


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=500, help="CurrentDemand per session, ours")
    parser.add_argument("--sessions", type=int, default=2, help="sessions against ours")
    parser.add_argument("--peer-loops", type=int, default=60, help="CurrentDemand, the peer")
    args = parser.parse_args()
    alone = in_process(args.loops)
    ours = asyncio.run(against_ours_alone(args.loops, args.sessions))
    station = asyncio.run(against_ours(args.loops, args.sessions))
    with tempfile.TemporaryDirectory(prefix="bench-secc-") as scratch:
        peer = asyncio.run(against_peer(args.peer_loops, Path(scratch)))
    for name in ours:
        o50, o99 = quantiles(ours[name])
        p50, p99 = quantiles(peer[name]) if peer.get(name) else (float("nan"), float("nan"))
        a50, a99 = quantiles(alone[name]) if alone.get(name) else (float("nan"), float("nan"))
        s50, s99 = quantiles(station[name]) if station.get(name) else (float("nan"), float("nan"))
        print(
            f"BENCH secc_{name[:-3] if name.endswith('Req') else name} p50_ms={o50:.3f} "
            f"p99_ms={o99:.3f} n={len(ours[name])} peer_p50_ms={p50:.3f} peer_p99_ms={p99:.3f} "
            f"peer_n={len(peer.get(name, []))} inproc_p50_ms={a50:.3f} inproc_p99_ms={a99:.3f} "
            f"with_power_path_p50_ms={s50:.3f} with_power_path_p99_ms={s99:.3f} "
            f"ratio={o99 / p99:.4f}"
        )


if __name__ == "__main__":
    main()
