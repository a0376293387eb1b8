"""config/sil-ac.yaml: valid, and one simulated clock for every module."""

from __future__ import annotations

from pathlib import Path

from evstack.manifest import load_project_tree, load_runtime_config

SIL_AC = Path(__file__).parents[2] / "config" / "sil-ac.yaml"


def test_demo_config_is_valid_and_runs_every_module_on_the_same_time() -> None:
    config = load_runtime_config(SIL_AC, load_project_tree())
    kinds = sorted(m.module for m in config.modules.values())
    assert kinds.count("EvseManager") == kinds.count("BoardSimulator") == 2
    assert kinds.count("EvSimulator") == 2
    # One clock for the run, set once: no module has a speed-up of its own to disagree.
    assert config.settings.speedup == 10
    assert all("sim_speedup" not in m.config_module for m in config.modules.values())
