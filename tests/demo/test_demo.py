"""`make demo` end to end: ev-manager runs config/sil-ac.yaml as a user would, to its end.

Real module processes on the embedded broker, as `make demo` runs them; the dashboard ends
the run and `--summary-json` hands us its summary.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

REPO = Path(__file__).resolve().parents[2]
SIL_AC = REPO / "config" / "sil-ac.yaml"
EV_MANAGER = [sys.executable, "-c", "from evstack.runtime.cli import main; main()"]
FUSE_A = 32.0
VOLTS = 230.0  # the board simulator's nominal voltage
PHASES = 3
# The simulated meters add a little noise to what the EVs draw.
METER_TOLERANCE = 1.05


def run_ev_manager(config: Path, cwd: Path, timeout_s: float) -> tuple[int, str, Any]:
    summary = cwd / "summary.json"
    done = subprocess.run(
        [*EV_MANAGER, "run", str(config), "--summary-json", str(summary)],
        cwd=cwd,  # the modules' state folder (var/state) lands here, not in the repository
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    result = msgspec.json.decode(summary.read_bytes()) if summary.exists() else None
    return done.returncode, done.stdout + done.stderr, result


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_the_demo_charges_two_evs_behind_one_fuse_and_exits_0(tmp_path: Path) -> None:
    code, output, summary = run_ev_manager(SIL_AC, tmp_path, timeout_s=120)

    assert code == 0, output
    assert summary["complete"] is True
    sessions = {s["evse"]: s for s in summary["sessions"]}
    assert sorted(sessions) == ["evse_1", "evse_2"]
    assert sessions["evse_1"]["id_token"] == "AABBCCDD"
    assert sessions["evse_2"]["id_token"] == "11223344"
    for session in sessions.values():
        assert session["energy_kWh"] > 0
        assert session["duration_s"] > 0
        assert session["stop_reason"] == "EVDisconnected"
        # Each EV had the whole fuse at some point (EV 1 before EV 2 came, EV 2 after EV 1
        # left), never more.
        assert session["peak_current_A"] > FUSE_A / 2 * METER_TOLERANCE
        assert session["peak_current_A"] <= FUSE_A * METER_TOLERANCE
    # Together they drew no more energy than the fuse lets through while either charged:
    # the energy manager shared it. (Not the site's peak current: ramps overshoot briefly.)
    span_s = sessions["evse_2"]["stopped_s"] - sessions["evse_1"]["started_s"]
    fuse_kwh = FUSE_A * VOLTS * PHASES * span_s / 3.6e6
    delivered_kwh = sum(s["energy_kWh"] for s in sessions.values())
    assert delivered_kwh <= fuse_kwh * METER_TOLERANCE
    # EV 1 unplugged first and, sharing half the time, charged less.
    assert sessions["evse_1"]["stopped_at"] < sessions["evse_2"]["stopped_at"]
    assert sessions["evse_1"]["energy_kWh"] < sessions["evse_2"]["energy_kWh"]
    # Not a terminal here: one plain line per session event, then the summary table.
    assert "DE*EVS*E0001*1: TransactionFinished (reason EVDisconnected)" in output
    assert "Charging sessions" in output
    assert summary["sessions_without_transaction"] == []
    # The embedded broker's shutdown is quiet (amqtt used to print "1 messages not
    # broadcasted" twice), and the API module prints where its dashboard is.
    assert "not broadcasted" not in output
    assert "Dashboard: http://127.0.0.1:" in output
    assert (tmp_path / "var" / "state" / "session_store" / "sessions.db").exists()


LONELY_EVSE = """\
active_modules:
  evse:
    module: EvseManager
    config_module: {energy_management: false}
    connections:
      bsp: [{module_id: board, implementation_id: board_support}]
  board:
    module: BoardSimulator
  dashboard:
    module: ChargerDashboard
    config_module: {finish_after_sessions: 1, deadline_s: 1}
    connections:
      evse_manager: [{module_id: evse, implementation_id: evse}]
settings:
  finish_run_by: [dashboard]
"""


@pytest.mark.timeout(90)
def test_a_run_whose_sessions_do_not_end_in_time_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "no-ev.yaml"
    config.write_text(LONELY_EVSE)  # no EV ever plugs in

    code, output, summary = run_ev_manager(config, tmp_path, timeout_s=60)

    assert code == 1, output
    assert summary == {
        "complete": False,
        "expected_sessions": 1,
        "sessions_ended": 0,
        "peak_site_current_A": 0.0,
        "sessions": [],
        "sessions_without_transaction": [],
    }
    assert "0 of 1 sessions ended within the 1 s deadline" in output


@pytest.mark.timeout(90)
def test_a_summary_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "no-ev.yaml"
    config.write_text(LONELY_EVSE)
    summary = tmp_path / "no-such-dir" / "summary.json"

    done = subprocess.run(
        [*EV_MANAGER, "run", str(config), "--summary-json", str(summary)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 4, done.stderr
    assert "cannot write the summary" in done.stderr
