"""The EV pauses and resumes in the DC SIL (config/sil-dc-din.yaml over ISO 15118-2), as
`ev-manager run` runs it: after charging a while the EV pauses its V2G session
(PowerDelivery(stop), SessionStop(Pause)); EvseManager keeps the transaction open with the
supply off and the pilot at X1; the EV wakes it with three BCB toggles, EvseManager signals
5 % again, and the EV finds the SECC by SDP, joins its paused session with the same id and
charges again: one transaction, energy before and after the pause."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from .netns import veth_pair

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "sil-dc-din.yaml"
EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]
SCRIPT = (
    "sleep 1;iso_wait_slac_matched;iso_start_v2g_session DC;iso_wait_pwr_ready;"
    "iso_dc_power_on;sleep 10;iso_pause_charging;iso_wait_v2g_session_stopped;sleep 5;"
    "iso_start_bcb_toggle 3;iso_wait_pwm_is_running;iso_start_v2g_session DC;"
    "iso_wait_pwr_ready;iso_dc_power_on;iso_wait_for_stop 10;iso_wait_v2g_session_stopped;"
    "unplug"
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_ev_pauses_wakes_the_charger_with_a_bcb_toggle_and_charges_on(
    tmp_path: Path,
) -> None:
    raw: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    modules = raw["active_modules"]
    modules["secc_1"]["config_module"]["supported_protocols"] = "iso2"
    modules["ev_hlc_1"]["config_module"]["supported_protocols"] = "iso2"
    modules["ev_1"]["config_module"]["auto_exec_commands"] = SCRIPT
    modules["evse_1"]["config_module"]["hlc_pause_pilot"] = "X1"
    with veth_pair() as (ev_space, cs_space):
        spaces = {"evs-sil-cs": cs_space.name, "evs-sil-ev": ev_space.name}
        for module in modules.values():
            settings = module.get("config_module", {})
            if "netns" in settings:  # the V2G link's and SLAC's ends
                settings["netns"] = spaces[settings["netns"]]
        config = tmp_path / "sil-dc-iso2-pause.yaml"
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
    (session,) = result["sessions"]  # one transaction through the pause
    assert session["id_token"] == "AABBCCDD"
    assert session["stop_reason"] == "EVDisconnected"

    assert "the EV paused its V2G session: X1 until its BCB toggle" in output, output[-4000:]
    assert "BCB toggle from the EV: 5 % PWM again" in output, output[-4000:]
    assert "EVCC joined the paused session" in output, output[-4000:]
    # The dashboard's line of session events: paused by the EV, resumed, one transaction.
    events = re.findall(r"\] DE\*EVS\*E0001\*1: (\w+)", output)
    assert events.count("TransactionStarted") == 1
    paused = events.index("ChargingPausedEV")
    assert events[paused + 1] == "ChargingResumed", events
    # The EV's two V2G sessions, the first paused, both with energy through the inlet.
    ended = re.findall(r"V2G session ended: (.+?) \((-?[\d.]+) Wh\)", output)
    assert len(ended) == 2, output[-4000:]
    assert all(float(wh) > 5.0 for _, wh in ended), ended
