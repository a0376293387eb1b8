"""`ev-manager` as a user runs it: a real config, real processes, signals."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from evstack.runtime.mqtt import BrokerSettings
from evstack.runtime.wire import GlobalReady, Topics

from .conftest import Probe

REPO = Path(__file__).resolve().parents[2]
EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]


def test_a_wrong_config_starts_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("active_modules:\n  a:\n    module: NoSuchModule\n")
    done = subprocess.run(
        [*EV_MANAGER, "run", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "NoSuchModule" in done.stderr
    assert "ready" not in done.stderr


@pytest.mark.timeout(90)
async def test_run_the_demo_in_processes_and_stop_on_sigterm(
    mosquitto: BrokerSettings, prefix: str, tmp_path: Path
) -> None:
    topics = Topics(prefix)
    async with Probe(mosquitto, f"{prefix}-watch") as watch:
        await watch.subscribe(topics.global_ready("cli"))
        await watch.subscribe(topics.var("front", "example", "max_current"))
        manager = await asyncio.create_subprocess_exec(
            *EV_MANAGER, "run", str(REPO / "config/demo.yaml"),
            "--broker", mosquitto.url, "--prefix", prefix, "--name", "cli",
            "--state-dir", str(tmp_path / "state"),
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            seen: dict[str, bytes] = {}
            while len(seen) < 2:
                topic, payload = await watch.next(timeout=30)
                if payload:
                    seen[topic] = payload
            ready = msgspec.json.decode(seen[topics.global_ready("cli")], type=GlobalReady)
            assert ready.modules == ["back", "front"]
            # Published by front during init, held back until global ready, then delivered.
            assert msgspec.json.decode(seen[topics.var("front", "example", "max_current")]) == 32
        finally:
            manager.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(manager.communicate(), 30)
        assert manager.returncode == 0, stderr.decode()
        assert b"crashed" not in stderr
        # The global ready is withdrawn on the way out.
        topic, payload = await watch.next()
        assert (topic, payload) == (topics.global_ready("cli"), b"")
