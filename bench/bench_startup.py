"""Start-up: from `ev-manager run` to global ready, ten modules, one process each.

The modules are ten Example instances chained through their key-value stores; the broker is
a private Mosquitto. The baseline, measured in the same run, starts every module in a fresh
interpreter (multiprocessing "spawn"), as one would without the forkserver.

    python bench/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from evstack.runtime.mosquitto import PrivateMosquitto
from evstack.runtime.mqtt import BrokerSettings, MqttConnection
from evstack.runtime.wire import Topics

MODULES = 10
TARGET_S = 1.0


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


async def one_start(broker: BrokerSettings, config: Path, run: int, start_method: str) -> float:
    prefix = f"bench-startup-{run}"
    ready_topic = Topics(prefix).global_ready("bench")
    arrived: asyncio.Queue[bytes] = asyncio.Queue()
    watch = MqttConnection(
        broker, f"{prefix}-watch", lambda t, p: arrived.put_nowait(p) if t == ready_topic else None
    )
    await watch.connect()
    await watch.subscribe(ready_topic, 1)
    env = {**os.environ, "EVSTACK_START_METHOD": start_method}
    started = time.perf_counter()
    manager = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from evstack.runtime.cli import main; main()",
        "run", str(config), "--broker", broker.url, "--prefix", prefix, "--name", "bench",
        "--log-level", "WARNING", env=env,
    )  # fmt: skip
    while not await asyncio.wait_for(arrived.get(), 60):
        pass  # an empty payload is a withdrawn ready from an earlier run
    elapsed = time.perf_counter() - started
    manager.terminate()
    await manager.wait()
    await watch.disconnect()
    return elapsed


async def measure(broker: BrokerSettings, config: Path, runs: int, method: str) -> float:
    return statistics.median([await one_start(broker, config, i, method) for i in range(runs)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder, PrivateMosquitto() as broker:
        config = write_config(Path(folder))
        ours = asyncio.run(measure(broker, config, runs, "forkserver"))
        spawned = asyncio.run(measure(broker, config, runs, "spawn"))
    print(f"forkserver: {ours:.3f} s   fresh interpreter per module: {spawned:.3f} s")
    print(
        f"BENCH startup modules={MODULES} mode=process qos=1 runs={runs} startup_s={ours:.3f} "
        f"spawn_startup_s={spawned:.3f} ratio={ours / spawned:.2f} target_s={TARGET_S}"
    )


if __name__ == "__main__":
    main()
