"""A charging park with one controller: how many concurrent DIN DC sessions one SECC
process serves before the p99 response time passes 25 ms (the standard's CurrentDemandRes
performance time), and its CPU and resident memory per session.

The SECC runs alone in a process of its own (`--serve`, inside one namespace of a veth
pair; the charger's answers ready, as in its module). This process runs N scripted EVs
(tests/hlc/din_ev.py) in the other namespace, each through SessionSetup to PowerDelivery
and then CurrentDemand every `--interval` seconds, as cars pace their loop; N grows until
the p99 of the CurrentDemand round trips passes 25 ms or `--max` is reached. The EVs share
this process, so on a small machine they compete with the SECC for the CPU.

    python bench/bench_secc_park.py [--steps 10,25,50,100,200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the scripted EV and the namespaces live with the tests

from evstack.hlc.secc import Authorization, EvseState, SeccSession, driver  # noqa: E402
from evstack.hlc.transport import stream  # noqa: E402
from evstack.hlc.transport.netif import link_local_address  # noqa: E402
from tests.hlc.din_ev import DIN_NS, EXI, din_request, din_response, sap_request  # noqa: E402
from tests.hlc.netns import Namespace, veth_pair  # noqa: E402

IFACE = "v2g0"
LIMIT_MS = 25.0
SETUP = (
    "SessionSetupReq",
    "ServiceDiscoveryReq",
    "ServicePaymentSelectionReq",
    "ContractAuthenticationReq",
    "ChargeParameterDiscoveryReq",
    "CableCheckReq",
    "PreChargeReq",
    "PowerDeliveryReq",
)


async def serve() -> None:
    """The SECC process: print where it listens, then serve until killed."""
    evse = EvseState(power_allowed=True, auth=Authorization.ACCEPTED, cable_check=True)
    loop = asyncio.get_running_loop()

    async def handle(conn: stream.V2gtpStream) -> None:
        await driver.serve(conn, SeccSession(evse, loop.time()), lambda _: None)

    address = link_local_address(IFACE)
    server = await stream.start_server(handle, IFACE, address)
    print(f"{address} {server.port}", flush=True)
    await asyncio.Event().wait()


async def ev(
    space: Namespace, address: str, port: int, until: float, interval: float, out: list[float]
) -> None:
    import ipaddress

    conn = await stream.connect(
        ipaddress.IPv6Address(address), port, IFACE, socket_factory=space.socket
    )
    sid = "00"
    try:
        await conn.send(EXI, sap_request((DIN_NS, 2, 0, 1)))
        await conn.receive()
        for name in SETUP:
            await conn.send(EXI, din_request(name, sid))
            sid = din_response((await conn.receive())[1])[0]
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            start = time.perf_counter()
            await conn.send(EXI, din_request("CurrentDemandReq", sid))
            await conn.receive()
            out.append((time.perf_counter() - start) * 1000.0)
            await asyncio.sleep(interval)
        await conn.send(EXI, din_request("SessionStopReq", sid))
        await conn.receive()
    finally:
        await conn.close()


def cpu_and_rss(pid: int) -> tuple[float, float]:
    """(CPU seconds, resident MiB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return cpu, int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


async def park(
    ev_space: Namespace,
    server: subprocess.Popen[str],
    where: tuple[str, int],
    steps: list[int],
    seconds: float,
    interval: float,
) -> None:
    address, port = where
    _, idle_rss = cpu_and_rss(server.pid)
    passed = None
    for count in steps:
        times: list[float] = []
        cpu0, _ = cpu_and_rss(server.pid)
        wall0 = time.perf_counter()
        until = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(
            *(ev(ev_space, address, port, until, interval, times) for _ in range(count))
        )
        cpu1, rss = cpu_and_rss(server.pid)
        cpu_share = (cpu1 - cpu0) / (time.perf_counter() - wall0)
        cuts = statistics.quantiles(times, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
        print(
            f"sessions={count} p50_ms={p50:.2f} p99_ms={p99:.2f} requests={len(times)} "
            f"secc_cpu={cpu_share:.2f} cpu_per_session_pct={100 * cpu_share / count:.3f} "
            f"rss_mb={rss:.1f}",
            flush=True,
        )
        if p99 > LIMIT_MS:
            passed = count
            break
    last_ok = max((s for s in steps if passed is None or s < passed), default=0)
    rss_per_kb = (rss - idle_rss) * 1024.0 / count
    print(
        f"BENCH secc_park sessions_within_25ms={last_ok} "
        f"first_over={passed if passed is not None else 'none'} "
        f"cpu_per_session_pct={100 * cpu_share / count:.3f} "
        f"rss_per_session_kb={rss_per_kb:.0f} interval_s={interval} ratio={p99 / LIMIT_MS:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", default="10,25,50,100,200,400")
    parser.add_argument("--seconds", type=float, default=10.0, help="per step")
    parser.add_argument("--interval", type=float, default=0.1, help="between two requests")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    steps = [int(s) for s in args.steps.split(",")]
    with veth_pair() as (ev_space, cs_space):
        server = subprocess.Popen(
            ["ip", "netns", "exec", cs_space.name, sys.executable, __file__, "--serve"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            address, port = server.stdout.readline().split()
            time.sleep(0.5)  # settled, for its resident size at rest
            where = (address, int(port))
            asyncio.run(park(ev_space, server, where, steps, args.seconds, args.interval))
        finally:
            server.terminate()
            server.wait(5)


if __name__ == "__main__":
    main()
