"""The wheel is the product: installed in a fresh venv, it runs the SIL from a config alone."""

from __future__ import annotations

import zipfile
from pathlib import Path

import msgspec
import pytest

from .conftest import Installed

SHIPPED = "import importlib.resources as r; print(r.files('evstack') / 'data' / 'config')"


def test_the_wheel_holds_the_product_and_no_sources_or_tests(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    for needed in (
        "evstack/data/interfaces/evse_manager.yaml",
        "evstack/data/types/evse_manager.yaml",
        "evstack/data/errors/evse_manager.yaml",
        "evstack/data/config/sil-ac.yaml",
        "evstack/data/config/mosquitto/local.conf",
        "evstack/modules/EvseManager/manifest.yaml",
        "evstack/modules/ApiServer/static/index.html",
        "evstack/modules/ApiServer/static/dashboard.js",
        "evstack/manifest/schemas/module.yaml",
        "evstack/generated/exi/iso2.json",
    ):
        assert needed in names
    assert any(n.startswith("evstack/ext/_exi.") and n.endswith(".so") for n in names)
    unwanted = [
        n for n in names
        if n.endswith((".c", ".h")) or "/fuzz/" in n or n.startswith("tests/") or "/tests/" in n
    ]  # fmt: skip
    assert unwanted == []


def test_ev_codegen_checks_the_installed_tree(installed: Installed, tmp_path: Path) -> None:
    """The same resolver as ev-manager's: the packaged manifests load and match the
    packaged bindings."""
    done = installed.run("ev-codegen", "check", cwd=tmp_path, timeout_s=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is up to date" in done.stdout
    assert str(installed.venv) in done.stdout  # the installed package, not a checkout


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ev_manager_runs_the_sil_from_a_folder_with_only_its_config(
    installed: Installed, tmp_path: Path
) -> None:
    shipped = Path(
        installed.run("python", "-c", SHIPPED, cwd=tmp_path, timeout_s=30).stdout.strip()
    )
    assert shipped.is_relative_to(installed.venv)
    config = tmp_path / "sil-ac.yaml"
    config.write_bytes((shipped / "sil-ac.yaml").read_bytes())
    assert [p.name for p in tmp_path.iterdir()] == ["sil-ac.yaml"]

    done = installed.run(
        "ev-manager", "run", config, "--log-level", "WARNING", "--summary-json", "summary.json",
        cwd=tmp_path, timeout_s=240,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Dashboard: http://127.0.0.1:" in done.stdout
    summary = msgspec.json.decode((tmp_path / "summary.json").read_bytes())
    assert summary["complete"] is True
    assert sorted(s["evse"] for s in summary["sessions"]) == ["evse_1", "evse_2"]
    assert all(s["energy_kWh"] > 0 for s in summary["sessions"])
