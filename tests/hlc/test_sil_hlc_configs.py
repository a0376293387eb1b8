"""The high-level charging SIL configs end to end, as `ev-manager run` runs them (a process
per module, uvloop): the EV simulator's iso_* script, its EVCC and our SECC over DIN 70121,
ISO 15118-2 (AC; DC over TLS 1.2) or ISO 15118-20 (DC and DC_BPT, TLS 1.3), with the test
PKI the SECC makes; EvseManager in DC mode with the DcSupplySimulator or in AC mode with the
board's contactor and meter, Auth and the energy manager, after SLAC (EvseSlac and EvSlac)
matched the EV with the charger over the same link. The configs' network namespaces are
swapped for a test-made veth pair; each run must end with energy metered in its summary
(and, for DC_BPT, energy given back)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from evstack.manifest import load_project_tree, load_runtime_config

from .netns import veth_pair

REPO = Path(__file__).resolve().parents[2]
# config name: its charge mode
MODES = {
    "sil-dc-din": "DC",
    "sil-dc-iso2": "DC",
    "sil-dc-iso20": "DC",
    "sil-dc-iso20-bpt": "DC",
    "sil-ac-iso2": "AC",
}
BIDIRECTIONAL = {"sil-dc-iso20-bpt"}
CONFIGS = [REPO / "config" / f"{name}.yaml" for name in MODES]
EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_the_config_is_valid(path: Path) -> None:
    config = load_runtime_config(path, load_project_tree())
    kinds = {m.module for m in config.modules.values()}
    assert {"EvseManager", "Iso15118Charger", "Iso15118Ev"} <= kinds
    assert {"EvseSlac", "EvSlac"} <= kinds
    (evse,) = [m for m in config.modules.values() if m.module == "EvseManager"]
    mode = MODES[path.stem]
    assert evse.config_module["charge_mode"] == mode
    assert ("DcSupplySimulator" in kinds) == (mode == "DC")


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_the_hlc_sil_charges_and_exits_0(path: Path, tmp_path: Path) -> None:
    raw: dict[str, Any] = yaml.safe_load(path.read_text())
    with veth_pair() as (ev_space, cs_space):
        spaces = {"evs-sil-cs": cs_space.name, "evs-sil-ev": ev_space.name}
        for module in raw["active_modules"].values():
            settings = module.get("config_module", {})
            if "netns" in settings:
                settings["netns"] = spaces[settings["netns"]]
        config = tmp_path / path.name
        config.write_text(yaml.safe_dump(raw))
        summary = tmp_path / "summary.json"
        done = subprocess.run(
            [*EV_MANAGER, "run", str(config), "--summary-json", str(summary)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=200,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    result = msgspec.json.decode(summary.read_bytes())
    assert result["complete"] is True
    (session,) = result["sessions"]
    assert session["id_token"] == "AABBCCDD"
    assert session["energy_kWh"] > 0.05, output[-4000:]
    assert session["stop_reason"] == "EVDisconnected"
    if path.stem in BIDIRECTIONAL:
        assert session["energy_export_kWh"] > 0.02, output[-4000:]  # given back on request
    # The live view's lines name the protocol and the exchanges the session went through.
    loops = ("CurrentDemand", "ChargingStatus", "DC_ChargeLoop")  # DIN/ISO-2 DC, AC, ISO-20
    lines = done.stdout.splitlines()
    assert any(any(loop in line for loop in loops) and "present" in line for line in lines)
    # SLAC matched the EV with the charger before the V2G session, and the match ended with
    # the unplug: in the logs of the modules (INFO), by their time stamps.
    seen = log_times(output)
    start = seen["ev_1: done: iso_start_v2g_session"][0]
    assert seen["evse_1: D-LINK_READY (true)"][0] < start
    assert seen["ev_slac_1: matched charger"][0] < start
    finished = seen["evse_1: V2G session finished"][0]
    assert start < finished < seen["evse_1: D-LINK_READY (false)"][-1]


_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\S+) \w+ \S+: (.*)$")
_WATCHED = (
    "evse_1: D-LINK_READY (true)",
    "evse_1: D-LINK_READY (false)",
    "ev_slac_1: matched charger",
    "ev_1: done: iso_start_v2g_session",
    "evse_1: V2G session finished",
)


def log_times(output: str) -> dict[str, list[str]]:
    """When each watched log line appeared (time stamps, which sort as text), in order."""
    seen: dict[str, list[str]] = {}
    for line in output.splitlines():
        match = _LOG_LINE.match(line)
        if match is None:
            continue
        stamp, module, text = match.groups()
        for watched in _WATCHED:
            if f"{module}: {text}".startswith(watched):
                seen.setdefault(watched, []).append(stamp)
    missing = [w for w in _WATCHED if w not in seen]
    assert not missing, f"not in the log: {missing}\n{output[-4000:]}"
    return {watched: sorted(stamps) for watched, stamps in seen.items()}
