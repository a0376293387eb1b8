"""The SIL charger (config/sil-ac.yaml, process mode, the embedded broker) on a locked bus.

As `make demo` runs it: every module has its own account, and the sessions still complete.
No module is refused anything it does, and a client without an account is turned away.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from evstack.runtime.errors import BrokerError
from evstack.runtime.mqtt import BrokerSettings, MqttConnection

from .conftest import SIL_AC

EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_listening(port: int, manager: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and manager.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"ev-manager's embedded broker never listened on {port}")


async def connect_anonymously(port: int) -> None:
    await MqttConnection(BrokerSettings(port=port), "anyone", lambda t, p: None).connect()


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_the_sil_sessions_complete_on_the_locked_embedded_broker(tmp_path: Path) -> None:
    port, summary = free_port(), tmp_path / "summary.json"
    manager = subprocess.Popen(
        [*EV_MANAGER, "run", str(SIL_AC), "--embedded-port", str(port), "--summary-json",
         str(summary), "--log-level", "WARNING"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_listening(port, manager)
        with pytest.raises(BrokerError, match="refused"):
            asyncio.run(connect_anonymously(port))
        output, _ = manager.communicate(timeout=120)
    finally:
        manager.kill()

    assert manager.returncode == 0, output
    result = msgspec.json.decode(summary.read_bytes())
    assert result["complete"] is True, output
    assert sorted(s["evse"] for s in result["sessions"]) == ["evse_1", "evse_2"], output
    # The only refusal is ours; no module did anything its grant does not cover.
    refusals = [line for line in output.splitlines() if "refused" in line]
    assert len(refusals) == 1, output
    assert "no credentials" in refusals[0], output
    assert "not locked down" not in output
