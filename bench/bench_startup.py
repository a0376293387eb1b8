"""Start-up: from `ev-manager run` to global ready, ten modules, one process each.

The modules are ten Example instances chained through their key-value stores; the broker is
a private Mosquitto. The baseline, measured in the same run, starts every module in a fresh
interpreter (multiprocessing "spawn"), as one would without the forkserver. The forkserver runs
again on a second private Mosquitto locked down as in the field, ev-manager reading the
modules' passwords from `ev-codegen broker-acl`'s credentials file, open and locked starts
taking turns: `acl_ratio`, the median of the runs' locked-to-open ratios, is what the
credentials and the ACL add to start-up.

    python bench/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from evstack.codegen.broker_acl import write_mosquitto_files
from evstack.runtime.acl import Grant, bus_acl
from evstack.runtime.credentials import Credentials
from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.plan import ModulePlan, from_runtime_config
from evstack.runtime.wire import Topics

MODULES = 10
TARGET_S = 1.0
MANAGER = "bench"
# An account for the client that watches for the global ready: a module that never runs.
WATCH = ModulePlan("watch", "none:Watch")


def write_config(folder: Path) -> Path:
    lines = ["active_modules:"]
    for i in range(MODULES):
        lines += [f"  m{i}:", "    module: Example"]
        if i:
            lines += [
                "    connections:",
                "      kvs:",
                f"        - module_id: m{i - 1}",
                "          implementation_id: store",
            ]
    config = folder / "ten.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def lock_down(config: Path, runs: int) -> tuple[PrivateMosquitto, dict[str, Path]]:
    """A Mosquitto with the accounts and ACL of every run's prefix; each prefix's credentials."""
    plan = from_runtime_config(config)
    plan = dataclasses.replace(plan, modules=[*plan.modules, WATCH])
    grants: dict[str, Grant] = {}
    passwords: dict[str, str] = {}
    files: dict[str, Path] = {}
    for run in range(runs):
        prefix = acl_prefix(run)
        grants |= bus_acl(dataclasses.replace(plan, prefix=prefix), [MANAGER])
        credentials = Credentials.generate(prefix, MANAGER, (m.module_id for m in plan.modules))
        passwords |= credentials.passwords
        files[prefix] = config.parent / f"credentials-{run}.json"
        credentials.save(files[prefix])
    passwd, acl = write_mosquitto_files(grants, passwords, config.parent, "bench_startup")
    return PrivateMosquitto(password_file=passwd, acl_file=acl), files


def acl_prefix(run: int) -> str:
    return f"bench-startup-acl-{run}"


async def one_start(
    broker: BrokerSettings,
    config: Path,
    prefix: str,
    start_method: str,
    credentials: Path | None = None,
) -> float:
    ready_topic = Topics(prefix).global_ready(MANAGER)
    arrived: asyncio.Queue[bytes] = asyncio.Queue()
    if credentials is not None:
        broker = Credentials.load(credentials).for_module(broker, "watch")
    watch = MqttConnection(
        broker,
        broker.username or f"{prefix}-watch",
        lambda t, p: arrived.put_nowait(p) if t == ready_topic else None,
    )
    await watch.connect()
    await watch.subscribe(ready_topic, 1)
    env = {**os.environ, "EVSTACK_START_METHOD": start_method}
    locked = [] if credentials is None else ["--credentials", str(credentials)]
    started = time.perf_counter()
    # At ERROR: on the open broker, each run would warn that the bus is not locked down.
    manager = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from evstack.runtime.cli import main; main()",
        "run", str(config), "--broker", broker.url, "--prefix", prefix, "--name", MANAGER,
        "--log-level", "ERROR", *locked, env=env,
    )  # fmt: skip
    while not await asyncio.wait_for(arrived.get(), 60):
        pass  # an empty payload is a withdrawn ready from an earlier run
    elapsed = time.perf_counter() - started
    manager.terminate()
    await manager.wait()
    await watch.disconnect()
    return elapsed


async def measure(broker: BrokerSettings, config: Path, runs: int, method: str) -> float:
    starts = [await one_start(broker, config, f"bench-startup-{i}", method) for i in range(runs)]
    return statistics.median(starts)


async def measure_with_and_without_acl(
    broker: BrokerSettings, locked: BrokerSettings, config: Path, files: dict[str, Path]
) -> tuple[float, float, float]:
    """Median start-ups on the open and on the locked broker, and the median of each run's
    locked-to-open ratio (both starts of a run meet about the same load: that is steadier)."""
    starts: tuple[list[float], list[float]] = ([], [])
    for run, (prefix, credentials) in enumerate(files.items()):
        # Each goes first every other run: neither always meets a warmer machine.
        for locked_now in (False, True) if run % 2 else (True, False):
            if locked_now:
                starts[1].append(await one_start(locked, config, prefix, "forkserver", credentials))
            else:
                open_prefix = f"bench-startup-{run}"
                starts[0].append(await one_start(broker, config, open_prefix, "forkserver"))
    ratios = [acl / ours for ours, acl in zip(*starts, strict=True)]
    return statistics.median(starts[0]), statistics.median(starts[1]), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder, PrivateMosquitto() as broker:
        config = write_config(Path(folder))
        locked_mosquitto, files = lock_down(config, runs)
        with locked_mosquitto as locked:
            ours, acl, acl_ratio = asyncio.run(
                measure_with_and_without_acl(broker, locked, config, files)
            )
        spawned = asyncio.run(measure(broker, config, runs, "spawn"))
    print(
        f"forkserver: {ours:.3f} s   with accounts and ACL: {acl:.3f} s   "
        f"fresh interpreter per module: {spawned:.3f} s"
    )
    print(
        f"BENCH startup modules={MODULES} mode=process qos=1 runs={runs} startup_s={ours:.3f} "
        f"spawn_startup_s={spawned:.3f} ratio={ours / spawned:.2f} target_s={TARGET_S} "
        f"acl_startup_s={acl:.3f} acl_ratio={acl_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
