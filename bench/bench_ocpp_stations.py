"""How many OCPP 2.0.1 stations one process holds against the demo CSMS, and their memory.

A child process runs stations (modules/Ocpp201 as its module builds it, one EVSE each, their
SQLite files in a temporary folder, security profile 1 over loopback); each boots, starts a
transaction and reads its meter every 10 s, and with SampledDataCtrlr.TxUpdatedInterval 10
sends a TransactionEvent with its meter values every 10 s. This process runs the demo CSMS
(tools/ocpp_demo_csms.py, the `ocpp` package with strict validation) and, at each step of
station count, once the new stations' transactions have started (spread over one meter
interval, as real chargers' would be), sends CALLs (GetVariables of one variable) to
stations chosen at random, a few per second, and times them from the CSMS: p50 and p99. The
steps go on until that p99 passes 1 s (or --max). RSS per station is the child's growth from
the first step (one station: the code and caches every station shares are loaded by then)
divided by the stations added since. Targets: at least 500 stations, under 1 MB each.

The baseline, in the same run, is the CALL's round trip with a single station connected.
The CSMS and the stations share this machine's cores: `csms_cpu_s` and `stations_cpu_s` say
how much of the probe window each used, `load1` how loaded the machine was.

    python bench/bench_ocpp_stations.py [--steps 100,250,500,750] [--max 1000] [--probe-s 30]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ocpp.v201 import call
from ocpp_station_kit import BuiltStation, build_station

HERE = Path(__file__).resolve().parent
METER_EVERY_S = 10.0
LIMIT_S = 1.0  # the p99 at which the steps stop
PROBES_PER_S = 5.0


def demo_csms() -> ModuleType:
    path = HERE.parent / "tools" / "ocpp_demo_csms.py"
    spec = importlib.util.spec_from_file_location("ocpp_demo_csms", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_s(pid: int) -> float:
    """The CPU seconds process `pid` has used (user and system)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the child: the stations ----------------------------------------------------------------


async def _metered(built: BuiltStation, offset_s: float) -> None:
    """After `offset_s`, a transaction, then a reading every METER_EVERY_S."""
    await asyncio.sleep(offset_s)
    await built.charge(token=f"{random.getrandbits(32):08X}")
    while True:
        await built.read(30.0)
        await asyncio.sleep(METER_EVERY_S)


async def child(url: str) -> None:
    """Grows to the station counts the parent asks for on stdin ("grow N"), answering
    "ready N RSS_KB" on stdout each time, until stdin closes."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    base = rss_kb()
    print(f"base {base}", flush=True)
    stations: list[BuiltStation] = []
    tasks: list[asyncio.Task[None]] = []
    settings: dict[str, str | int | float | bool] = {
        "SampledDataCtrlr.TxUpdatedInterval": int(METER_EVERY_S)
    }
    with tempfile.TemporaryDirectory(prefix="bench-ocpp-stations-") as folder:
        while line := (await reader.readline()).decode().split():
            wanted = int(line[1])
            fresh, accepted = [], []
            while len(stations) < wanted:
                n = len(stations)
                built = build_station(Path(folder) / f"s{n}", f"BENCH{n:05d}", url, settings)
                registered = asyncio.Event()
                built.station.on_registered(registered.set)  # BootNotification Accepted
                accepted.append(registered.wait())
                await built.start()
                stations.append(built)
                fresh.append(built)
            await asyncio.wait_for(asyncio.gather(*accepted), 600)
            for built in fresh:
                offset = random.uniform(0, METER_EVERY_S)
                tasks.append(asyncio.ensure_future(_metered(built, offset)))
            print(f"ready {len(stations)} {rss_kb()}", flush=True)
        for task in tasks:
            task.cancel()
        for built in stations:
            await built.stop()


# -- this process: the CSMS and its probes ------------------------------------------------------


async def probe(peers: dict[str, Any], ids: list[str], seconds: float) -> list[float]:
    """Round trips of GetVariables to stations chosen at random, PROBES_PER_S a second."""
    request = call.GetVariables(
        get_variable_data=[
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        ]
    )
    samples: list[float] = []

    async def one(peer: Any) -> None:
        started = time.perf_counter()
        await peer.call(request, suppress=False)
        samples.append(time.perf_counter() - started)

    pending = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peer = peers.get(random.choice(ids))
        if peer is not None:
            task = asyncio.ensure_future(one(peer))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(1 / PROBES_PER_S)
    if pending:
        await asyncio.wait(pending, timeout=30)
    return samples


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e3, cuts[98] * 1e3


async def parent(steps: list[int], probe_s: float) -> list[dict[str, float]]:
    tool = demo_csms()
    record = tool.Record()
    peers: dict[str, Any] = {}
    rows: list[dict[str, float]] = []
    async with tool.serving(record, 0, peers) as port:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--child",
            f"ws://127.0.0.1:{port}/ocpp",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        base = int((await process.stdout.readline()).split()[1])
        first: tuple[int, int] | None = None  # the first step's (stations, RSS)
        try:
            for count in steps:
                process.stdin.write(f"grow {count}\n".encode())
                await process.stdin.drain()
                _, n, rss = (await process.stdout.readline()).split()
                ids = [f"BENCH{i:05d}" for i in range(int(n))]
                # The new stations' transactions start over one meter interval: let them.
                await asyncio.sleep(METER_EVERY_S + 5.0)
                cpu, child_cpu = time.process_time(), cpu_s(process.pid)
                samples = await probe(peers, ids, probe_s)
                p50, p99 = percentiles(samples)
                # Per station: the growth since the first step (the first station also
                # pulls in code and the CSMS's schemas once), or since the start.
                grown = (int(rss) - first[1]) / (int(n) - first[0]) if first else 0.0
                first = first or (int(n), int(rss))
                row = {
                    "stations": float(n),
                    "p50_ms": p50,
                    "p99_ms": p99,
                    "rss_per_station_kb": grown or (int(rss) - base) / int(n),
                    "csms_cpu_s": time.process_time() - cpu,
                    "stations_cpu_s": cpu_s(process.pid) - child_cpu,
                    "probes": float(len(samples)),
                }
                rows.append(row)
                print(" ".join(f"{k}={v:.1f}" for k, v in row.items()), flush=True)
                if p99 > LIMIT_S * 1e3:
                    break
        finally:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 120)
            except TimeoutError:
                process.kill()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1,100,250,500,750")
    parser.add_argument("--max", type=int, default=1000)
    parser.add_argument("--probe-s", type=float, default=30.0)
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child))
        return
    steps = sorted({int(s) for s in args.steps.split(",") if int(s) <= args.max})
    rows = asyncio.run(parent(steps, args.probe_s))
    baseline, last = rows[0], rows[-1]
    held = [r for r in rows if r["p99_ms"] <= LIMIT_S * 1e3]
    most = int(max(r["stations"] for r in held)) if held else 0
    print(
        f"BENCH ocpp_stations stations_max_tested={int(last['stations'])} "
        f"stations_held_p99_under_1s={most} "
        f"p50_ms={last['p50_ms']:.1f} p99_ms={last['p99_ms']:.1f} "
        f"rss_per_station_kb={last['rss_per_station_kb']:.0f} "
        f"baseline_stations={int(baseline['stations'])} "
        f"baseline_p50_ms={baseline['p50_ms']:.1f} baseline_p99_ms={baseline['p99_ms']:.1f} "
        f"ratio={last['p99_ms'] / baseline['p99_ms']:.1f} "
        f"load1={os.getloadavg()[0]:.1f} "
        f"target_stations=500 target_rss_kb=1024"
    )


if __name__ == "__main__":
    main()
