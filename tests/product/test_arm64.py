"""The aarch64 wheel on an aarch64 Python: built from the sdist in a Debian arm64 root under
qemu-user-static (tools/arm64.sh, as `make wheel` does), installed there into a venv, it
passes the pilot and EXI suites and runs a short SIL session.

The root is made once per machine by `make wheel` (EVSTACK_ARM64_ROOT, default
/var/tmp/evstack-arm64-root; debootstrap, 10 to 20 minutes), with root privileges for chroot
and mounts; without it the tests skip and say so, rather than spend CI's time budget making
one. Left out
under emulation, because they test the source tree rather than the wheel: the C sanitizer
and fuzz builds, the Java EXI oracle and the check of generated tables against the XSDs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, Installed

ROOT = Path(os.environ.get("EVSTACK_ARM64_ROOT", "/var/tmp/evstack-arm64-root"))
ARM64 = REPO / "tools" / "arm64.sh"
SHARED = REPO / ".." / "shared" / "reference" / "exi" / "vectors-public.tsv"
SOURCE_TREE_TESTS = (
    "test_c_sanitized or test_c_safety or test_fuzz_smoke or oracle or test_generated"
)
PYTEST_INI = """\
[pytest]
timeout = 600
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
markers =
    slow: long interop suites
    mosquitto: needs the Mosquitto broker
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mounts need root"),
    pytest.mark.skipif(
        not (ROOT / "opt" / "build" / ".ready").exists(),
        reason=f"no Debian arm64 root at {ROOT}: `make wheel` makes it (tools/arm64.sh root)",
    ),
]


def arm64(*args: str | Path, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ARM64), *map(str, args)], capture_output=True, text=True, timeout=timeout_s
    )


def inside(command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return arm64("run", ROOT, command, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def arm64_venv(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> str:
    """/opt/evstack-test in the root: the aarch64 wheel and the suites' test tools."""
    done = arm64("root", ROOT, timeout_s=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path_factory.mktemp("arm64-dist")
    done = arm64("wheel", ROOT, installed.sdist, out, timeout_s=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = out.glob("evstack-*_aarch64.whl")
    shutil.rmtree(ROOT / "tmp" / "suite", ignore_errors=True)
    (ROOT / "tmp" / "suite").mkdir(parents=True)
    shutil.copy(wheel, ROOT / "tmp" / "suite" / wheel.name)
    done = inside(
        "rm -rf /opt/evstack-test && python3 -m venv /opt/evstack-test && "
        f"/opt/evstack-test/bin/pip install -q /tmp/suite/{wheel.name} pytest pytest-asyncio "
        "pytest-timeout hypothesis",
        timeout_s=3600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return "/opt/evstack-test/bin"


@pytest.mark.timeout(7200)
def test_the_pilot_and_exi_suites_pass_on_aarch64(arm64_venv: str) -> None:
    suite = ROOT / "tmp" / "suite"
    shutil.rmtree(suite / "tests", ignore_errors=True)
    for folder in ("pilot", "exi"):
        shutil.copytree(REPO / "tests" / folder, suite / "tests" / folder)
    (suite / "pytest.ini").write_text(PYTEST_INI)
    if SHARED.is_file():  # the public vectors, where tests/exi/conftest.py looks for them
        (ROOT / "tmp" / "shared" / "reference" / "exi").mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED, ROOT / "tmp" / "shared" / "reference" / "exi")
    done = inside(
        f"cd /tmp/suite && {arm64_venv}/python -c 'import platform; print(platform.machine())' "
        f"&& nice -n 15 {arm64_venv}/python -m pytest -q -p no:cacheprovider tests "
        f"-k 'not ({SOURCE_TREE_TESTS})'",
        timeout_s=7000,
    )
    output = done.stdout[-5000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    assert done.stdout.startswith("aarch64"), output
    assert " passed" in done.stdout, output


@pytest.mark.timeout(3600)
def test_a_short_sil_session_runs_on_aarch64(arm64_venv: str) -> None:
    """One EVSE, one EV, one card: sil-ac.yaml cut down, at 5x (emulation is slow)."""
    config = yaml.safe_load((REPO / "config" / "sil-ac.yaml").read_text())
    modules = config["active_modules"]
    for module_id in ("evse_2", "board_2", "ev_2"):
        del modules[module_id]
    for entry in modules.values():
        for connections in entry.get("connections", {}).values():
            connections[:] = [c for c in connections if not c["module_id"].endswith("_2")]
    modules["ev_1"]["config_module"]["auto_exec_commands"] = (
        "sleep 2;plugin;iec_wait_pwr_ready;draw_power_regulated 16,3;sleep 30;unplug"
    )
    modules["rfid_reader"]["config_module"]["script"] = "sleep 4; swipe AABBCCDD"
    modules["dashboard"]["config_module"].update(finish_after_sessions=1, deadline_s=1800)
    config["settings"]["speedup"] = 5
    run = ROOT / "tmp" / "sil"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    (run / "sil-short.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    done = inside(
        f"cd /tmp/sil && {arm64_venv}/ev-manager run sil-short.yaml --log-level INFO "
        "--summary-json summary.json 2>&1 | grep -E 'modules ready in|ERROR|Traceback'",
        timeout_s=3500,
    )

    assert (run / "summary.json").is_file(), done.stdout[-4000:] + done.stderr[-4000:]
    print(done.stdout)  # start-up to global ready under emulation, for the README's figure
    summary = yaml.safe_load((run / "summary.json").read_text())  # JSON is YAML
    assert summary["complete"] is True
    assert [s["id_token"] for s in summary["sessions"]] == ["AABBCCDD"]
    assert summary["sessions"][0]["energy_kWh"] > 0
