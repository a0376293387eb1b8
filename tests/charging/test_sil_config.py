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
    # A module left at real time would see the others' seconds go by 10x too fast.
    speedups = {
        m.module_id: m.config_module["sim_speedup"]
        for m in config.modules.values()
        if "sim_speedup" in m.config_module
    }
    assert len(set(speedups.values())) == 1, speedups
    clocked = {"EnergyManager", "EvseManager", "BoardSimulator", "EvSimulator", "Auth"}
    assert {m.module_id for m in config.modules.values() if m.module in clocked} <= set(speedups)
