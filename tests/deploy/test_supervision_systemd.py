"""ev-manager under systemd: READY once the charger is ready, the watchdog from its event
loop, STOPPING on SIGTERM; the shipped unit and production config are sound."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evstack.manifest import load_project_tree, load_runtime_config
from evstack.runtime.systemd import supervise

REPO = Path(__file__).resolve().parents[2]
EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]


def receive(sock: socket.socket, until_s: float) -> list[str]:
    """Every datagram until `until_s` (monotonic) passes."""
    messages = []
    while (left := until_s - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return messages


def wait_for(sock: socket.socket, wanted: str, within_s: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + within_s
    while not any(wanted in m for m in seen):
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} from ev-manager; got {seen}"
        sock.settimeout(left)
        seen.append(sock.recv(4096).decode())
    return seen


@pytest.mark.timeout(120)
def test_ev_manager_reports_ready_pings_the_watchdog_and_says_it_stops(tmp_path: Path) -> None:
    address = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        env = {**os.environ, "NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "300000"}
        manager = subprocess.Popen(
            [*EV_MANAGER, "run", str(REPO / "config" / "demo.yaml"), "--log-level", "WARNING"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            seen = wait_for(sock, "READY=1", within_s=90)
            # Pings keep coming at half of WatchdogSec while the charger runs.
            pings = [m for m in receive(sock, time.monotonic() + 1.0) if m == "WATCHDOG=1"]
            assert len(pings) >= 2, seen
            manager.send_signal(signal.SIGTERM)
            wait_for(sock, "STOPPING=1", within_s=30)
            assert manager.wait(60) == 0
        finally:
            manager.kill()
            output = manager.communicate()[0].decode(errors="replace")
    assert "READY=1\nSTATUS=2 modules ready" in seen, output


async def test_nothing_is_sent_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    ready, stop = asyncio.Event(), asyncio.Event()
    ready.set()
    stop.set()
    await asyncio.wait_for(supervise(ready, stop, 1), 5)  # returns: no watchdog to keep


def test_the_production_example_config_is_valid() -> None:
    config = load_runtime_config(REPO / "config" / "production-example.yaml", load_project_tree())
    assert config.settings.broker_url == "mqtts://localhost:8883"
    assert config.settings.state_dir == Path("/var/lib/evstack/state")
    assert config.settings.speedup == 1


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_unit_verifies(tmp_path: Path) -> None:
    unit = (REPO / "config" / "systemd" / "evstack.service").read_text()
    # systemd-analyze checks that ExecStart's program exists: point it at this venv's.
    ev_manager = Path(sys.executable).parent / "ev-manager"
    local = tmp_path / "evstack.service"
    local.write_text(unit.replace("/opt/evstack/bin/ev-manager", str(ev_manager)))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(local)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    problems = [
        line for line in done.stderr.splitlines()
        if "evstack.service" in line and "mosquitto.service" not in line
    ]  # fmt: skip
    assert problems == [], done.stderr
    for setting in ("Type=notify", "WatchdogSec=", "StartLimitBurst=", "After=mosquitto.service",
                    "KillMode=mixed", "StateDirectory=evstack"):  # fmt: skip
        assert setting in unit
