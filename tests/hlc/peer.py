"""The interop harness: the PyPI `iso15118` package's EVCC or SECC as an independent peer.

The peer lives in its own virtualenv (`make interop-peer`, at .venv/iso15118-peer) and runs as a
subprocess inside one namespace of a test-made veth pair (`netns.veth_pair`); evstack never
imports it. `peer_runner.py` is what that subprocess executes. Use:

    pki = make_peer_pki(tmp_path)                       # its create_certs.sh, once per test run
    with veth_pair() as (ev_space, cs_space):
        with run_peer("secc", Cell.DIN_DC, cs_space, tmp_path / "secc", pki) as secc:
            ...                                          # our EVCC in ev_space
            ended = secc.wait_for(SECC_SESSION_ENDED, 60)
            assert float(ended["energy"]) > 0
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from .netns import Namespace

ROOT = Path(__file__).resolve().parents[2]
PEER_VENV = ROOT / ".venv" / "iso15118-peer"
RUNNER = Path(__file__).with_name("peer_runner.py")
# The peer's codec is slow on a loaded machine (peer_runner.py says why): its timeouts stretched.
DEFAULT_TIMEOUT_SCALE = 10.0

# What the peer's logs say at the points the tests wait for.
SECC_SESSION_ENDED = (
    r"EVSTACK-PEER session_ended state=(?P<state>\S+) energy_wh=(?P<energy>\S+)"
    r" energy_out_wh=(?P<energy_out>\S+)"
)
EVCC_SESSION_STOPPED = r"SessionStopRes received"
SECC_LISTENING = r"UDP server started at address"


@dataclass(frozen=True)
class CellSpec:
    protocol: str  # the peer's `Protocol` member name
    service: str  # its energy service (ServiceV20 name)
    transfer_mode: str | None  # ISO-2/DIN EnergyTransferMode, as its config names it
    tls: bool  # TLS 1.3 with its test PKI (ISO-20 only; it stalls without, see the issue)


class Cell(enum.Enum):
    """One protocol and energy service of the interop matrix."""

    DIN_DC = CellSpec("DIN_SPEC_70121", "DC", "DC_extended", tls=False)
    ISO2_AC = CellSpec("ISO_15118_2", "AC", "AC_three_phase_core", tls=False)
    ISO2_DC = CellSpec("ISO_15118_2", "DC", "DC_extended", tls=False)
    ISO20_AC = CellSpec("ISO_15118_20_AC", "AC", None, tls=True)
    ISO20_DC = CellSpec("ISO_15118_20_DC", "DC", None, tls=True)
    ISO20_AC_BPT = CellSpec("ISO_15118_20_AC", "AC_BPT", None, tls=True)
    ISO20_DC_BPT = CellSpec("ISO_15118_20_DC", "DC_BPT", None, tls=True)


def peer_python() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no iso15118 peer at {PEER_VENV}: run `make interop-peer`")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: the iso15118 peer's codec needs Java 17")
    return python


def make_peer_pki(dest: Path) -> Path:
    """The peer's own test PKI, made by its create_certs.sh in a copy of its pki folder."""
    found = subprocess.run(
        [
            str(peer_python()),
            "-c",
            "import iso15118, os; print(os.path.dirname(iso15118.__file__))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    pki = dest / "pki"
    shutil.copytree(Path(found.stdout.strip()) / "shared" / "pki", pki)
    for version in ("iso-2", "iso-20"):
        subprocess.run(
            ["bash", "create_certs.sh", "-v", version], cwd=pki, check=True, capture_output=True
        )
    return pki


@dataclass(frozen=True)
class PeerPkiFiles:
    """The peer PKI's files an EV needs for TLS 1.3 with its SECC (which asks for the EV's
    chain: mutual TLS). Its code reads only the iso15118_2 folder, for ISO-20 too."""

    v2g_root: Path
    oem_chain: Path
    oem_key: Path
    oem_key_password: str

    @classmethod
    def of(cls, pki: Path) -> PeerPkiFiles:
        base = pki / "iso15118_2"
        return cls(
            base / "certs" / "v2gRootCACert.pem",
            base / "certs" / "oemCertChain.pem",
            base / "private_keys" / "oemLeaf.key",
            (base / "private_keys" / "oemLeafPassword.txt").read_text().strip(),
        )


class PeerProcess:
    """A running peer whose log (stdout and stderr together) the test reads."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path):
        self.process = process
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of `pattern` in the log; fails with the log's tail if the peer exits
        or `timeout` passes first (wall-clock: the peer is a real process)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            match = re.search(pattern, text)
            if match:
                return match
            if self.process.poll() is not None:
                code = self.process.returncode
                pytest.fail(f"peer exited ({code}) before /{pattern}/:\n{text[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no /{pattern}/ from the peer within {timeout} s:\n{text[-4000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """End the peer and its JVM: its own process group, which it leads."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _evcc_config(cell: Cell, charge_loop_cycles: int) -> dict[str, object]:
    spec = cell.value
    config: dict[str, object] = {
        "supportedProtocols": [spec.protocol],
        "supportedEnergyServices": [spec.service],
        "isCertInstallNeeded": False,
        "useTls": spec.tls,
        "enforceTls": spec.tls,
        "chargeLoopCycle": charge_loop_cycles,
        "sdpRetryCycles": 1,
    }
    if spec.transfer_mode is not None:
        config["energyTransferMode"] = spec.transfer_mode
    return config


@contextlib.contextmanager
def run_peer(
    role: Literal["evcc", "secc"],
    cell: Cell,
    space: Namespace,
    workdir: Path,
    pki: Path | None = None,
    *,
    timeout_scale: float = DEFAULT_TIMEOUT_SCALE,
    charge_loop_cycles: int = 10,
    interface: str = "v2g0",
    battery_v: float | None = None,
) -> Iterator[PeerProcess]:
    """The peer's EVCC or SECC for `cell` on `interface` inside `space`, stopped on the way out.

    `pki` (from make_peer_pki) is needed for the TLS cells. The working directory is the peer's
    cwd (it reads a `.env` there; none is written) and holds its log and config. `battery_v`
    (EVCC only): the voltage of the EV's pack in the station's power path; the peer's EV then
    ends its precharge only once the charger's output has reached it (see peer_runner.py)."""
    python = peer_python()
    spec = cell.value
    if spec.tls and pki is None:
        raise ValueError(f"{cell.name} runs over TLS: pass pki=make_peer_pki(...)")
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        NETWORK_INTERFACE=interface,
        LOG_LEVEL="INFO",
        MESSAGE_LOG_JSON="true",  # its decoded messages on the log: the evidence when a cell fails
        MESSAGE_LOG_EXI="false",
        ENABLE_TLS_1_3="true" if spec.tls else "false",
        PKI_PATH=f"{pki if pki is not None else workdir}/",
        EVSTACK_PEER_TIMEOUT_SCALE=str(timeout_scale),
    )
    if role == "secc":
        env.update(
            PROTOCOLS=spec.protocol,
            AUTH_MODES="EIM",
            SECC_ENFORCE_TLS="true" if spec.tls else "false",
            FREE_CHARGING_SERVICE="false",
        )
    else:
        config = workdir / "evcc_config.json"
        config.write_text(json.dumps(_evcc_config(cell, charge_loop_cycles)))
        env["EVCC_CONFIG_PATH"] = str(config)
        if battery_v is not None:
            env["EVSTACK_PEER_EV_BATTERY_V"] = str(battery_v)
    log = workdir / f"{role}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["ip", "netns", "exec", space.name, str(python), "-u", str(RUNNER), role],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    peer = PeerProcess(process, log)
    try:
        yield peer
    finally:
        peer.stop()
